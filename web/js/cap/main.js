// The CAP lab: two or three systems side by side (the scenario's `compare` sides: a CP store on
// the left and an AP store on the right, or Raft, Multi-Paxos and ZAB), the same nodes, clients,
// seed, workload and timeline, and one set of controls that acts on every side at the same
// virtual instant. Each side is a Session (the playground's time travel), kept in lockstep:
// play, seek and every action move them all. `window.caplab` is the hook browser tests drive.

import init, { Playground } from '../../pkg/caplab.js';
import { $, $$, setAttr, setText } from '../dom.js';
import { detectLang, lang, onLangChange, pick, setLang, t } from '../i18n.js';
import { Session, StepBudget } from '../session.js';
import { SPEEDS, speedLabel } from '../controls.js';
import { Tour, showNote } from '../tour.js';
import { parseSeed, randomSeed } from '../scenario.js';
import { MAX_REPLAY_STEPS, encodeRun, readLink } from '../share.js';
import { describeAction, safeDescribe } from '../describe.js';
import { SideView } from './side.js';
import { SVG_LIMIT } from '../swarm.js';
import { Controls } from './controls.js';
import { explain } from './explain.js';
import { protocolModule } from '../../protocols/index.js';

const DEFAULT = 'cap-split';
const DEFAULT_SPEED = 7;
/** How often, at most, the checker runs on one side while playing (ms of wall clock); the
 * sides take turns, so each is measured twice a second. */
const MEASURE_MS = 250;
/** The most sides a comparison has (crate/src/scenario/mod.rs, MAX_SIDES). */
const MAX_SIDES = 3;

class CapLab {
  constructor() {
    this.params = new URLSearchParams(location.search);
    this.playing = false;
    this.shared = {};
    const onJump = (ms) => { this.pause(); this.seek(ms); };
    const sides = $('.cap-sides');
    for (let i = 0; i < MAX_SIDES; i++) {
      const root = $('#side-template').content.firstElementChild.cloneNode(true);
      root.dataset.side = String(i);
      root.dataset.testid = `side-${i}`;
      $('.stats', root).dataset.testid = `stats-${i}`;
      $('.timeline', root).dataset.testid = `timeline-${i}`;
      sides.append(root);
    }
    this.allViews = $$('.cap-side').map((root, i) => new SideView(root, i, this.shared, {
      onJump, onNode: (id) => this.status(t('cap.nodeHint', { id })),
    }));
    /** The sides in use: the first `compare.length` of `allViews`. */
    this.views = this.allViews.slice(0, 2);
    this.controls = new Controls($('#cap-tools'), { act: (a, side) => this.act(a, side) });
    this.tour = new Tour($('#tour'), {
      seek: (ms) => { this.pause(); this.seek(ms); this.updateUrl(); },
      onChange: () => { this.updateUrl(); this.renderNow(); },
    });
    this.speed = $('#speed');
    this.speed.max = String(SPEEDS.length - 1);
    const saved = localStorage.getItem('caplab.capSpeed');
    this.speed.value = saved !== null && SPEEDS[Number(saved)] ? saved : String(DEFAULT_SPEED);
    this.wire();
  }

  get factor() { return SPEEDS[Number(this.speed.value)] ?? SPEEDS[DEFAULT_SPEED]; }
  get sessions() { return this.views.map((v) => v.session); }
  /** The left side's session: all sides share the clock, the script and the notes. */
  get lead() { return this.views[0].session; }

  wire() {
    $('#scenario-select').addEventListener('change', (e) => this.load({ name: e.target.value }));
    const seed = $('#seed-input');
    seed.addEventListener('change', () => this.restart(seed.value));
    seed.addEventListener('keydown', (e) => { if (e.key === 'Enter') seed.blur(); });
    $('[data-action="restart"]').addEventListener('click', () => this.restart(this.lead.seed));
    $('[data-action="new-seed"]').addEventListener('click', () => this.restart(randomSeed()));
    $('#lang-select').addEventListener('change', (e) => { this.langInUrl = true; setLang(e.target.value); this.updateUrl(); });
    $('[data-action="theme"]').addEventListener('click', () => this.setTheme(document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark'));
    $('[data-action="dismiss-alert"]').addEventListener('click', () => this.error(''));
    $('[data-action="copy-link"]').addEventListener('click', () => this.share());
    $('[data-action="play"]').addEventListener('click', () => this.play());
    $('[data-action="pause"]').addEventListener('click', () => this.pause());
    $('[data-action="step"]').addEventListener('click', () => { this.pause(); this.seek(Math.floor(this.lead.now) + 10); });
    $('#time').addEventListener('input', (e) => { this.pause(); this.seek(Number(e.target.value)); });
    this.speed.addEventListener('input', () => {
      this.speedChanged();
      try { localStorage.setItem('caplab.capSpeed', this.speed.value); } catch { /* not remembered */ }
    });
    $('#scenario-desc').addEventListener('click', (e) => e.currentTarget.classList.toggle('open'));
    document.addEventListener('keydown', (e) => {
      if (e.target.closest('input, select, textarea')) return;
      if (e.key === ' ') { e.preventDefault(); if (this.playing) this.pause(); else this.play(); }
      if (e.key === 'h') this.act({ action: 'heal' });
    });
    onLangChange(() => this.relabel());
    this.speedChanged();
  }

  speedChanged() {
    setText($('#speed-label'), speedLabel(this.factor));
  }

  async start() {
    const theme = localStorage.getItem('caplab.theme') ?? (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
    this.setTheme(theme, false);
    this.langInUrl = this.params.has('lang');
    setLang(detectLang(this.params));
    await init();
    this.scenarios = JSON.parse(Playground.scenarios()).filter((s) => s.sides.length >= 2);
    this.fillPicker();
    const problem = await this.openLink();
    if (problem) {
      this.load({ name: DEFAULT }, true);
      this.error(t('err.link', { msg: problem.replace(/[.。]\s*$/, '') }));
    }
    requestAnimationFrame((ts) => this.frame(ts));
    window.caplab.ready = true;
  }

  fillPicker() {
    const select = $('#scenario-select');
    select.replaceChildren(...this.scenarios.map((s) => {
      const o = document.createElement('option');
      o.value = s.name;
      o.textContent = pick(s.title);
      return o;
    }));
  }

  /** Opens what the address asks for; returns null or what was wrong with the link. */
  async openLink() {
    const p = this.params;
    let run;
    try {
      run = await readLink(location.href, p);
    } catch (e) {
      return e.message ?? String(e);
    }
    if (!run) {
      let seed = null;
      if (p.has('seed')) {
        seed = parseSeed(p.get('seed'));
        if (seed === null) return t('err.seed', { seed: p.get('seed') });
      }
      const name = p.get('scenario') ?? DEFAULT;
      if (!this.scenarios.some((s) => s.name === name)) return t('cap.errNotCompare', { name });
      if (p.has('nodes')) return t('cap.errNodes');
      run = { s: name, seed: seed ?? undefined, a: [] };
      if (p.has('t')) run.t = Number(p.get('t'));
    }
    if (run.n !== undefined) return t('cap.errNodes');
    try {
      this.install(this.replay(run), { tour: p.has('tour') ? !['0', 'false', 'no'].includes(p.get('tour')) : undefined });
    } catch (e) {
      return e.message ?? String(e);
    }
    return null;
  }

  /** Every side's session for a scenario; throws with a message, changing nothing. */
  build({ name, inline = null, seed = null }) {
    const source = inline ?? name;
    let scenario;
    const sessions = [];
    try {
      scenario = JSON.parse(new Playground(source).scenarioJson());
      const sides = (scenario.compare ?? []).length;
      if (sides < 2 || sides > MAX_SIDES) throw new Error(t('cap.errNotCompare', { name: scenario.name }));
      for (const side of scenario.compare) sessions.push(new Session(Playground, Playground.sideJson(source, side.name), seed, { large: (n, protocol) => n > 64 || (n > SVG_LIMIT && Boolean(protocolModule(protocol).shades)) }));
    } catch (e) {
      for (const s of sessions) s.free();
      throw new Error(t('err.load', { msg: e.message ?? String(e) }));
    }
    return { scenario, sessions, name: scenario.name, inline: inline !== null ? source : null };
  }

  /** Replays a run: each action at its time on every side, or on one (`[at_us, action, side]`). */
  replay(run) {
    const built = this.build({ name: run.s, inline: run.sc ? JSON.stringify(run.sc) : null, seed: run.seed ?? null });
    try {
      run.a.forEach(([atUs, action, side], i) => {
        const targets = side === undefined ? built.sessions : [built.sessions[side]];
        if (!targets[0]) throw new Error(t('err.linkAction', { i: i + 1, ms: atUs / 1000, action: String(action.action), msg: t('cap.errSide', { side }) }));
        for (const s of built.sessions) s.seek(atUs / 1000, MAX_REPLAY_STEPS);
        try {
          this.applyTo(targets, JSON.stringify(action));
        } catch (e) {
          throw new Error(t('err.linkAction', { i: i + 1, ms: atUs / 1000, action: safeDescribe(action), msg: e.message ?? String(e) }));
        }
      });
      for (const s of built.sessions) s.seek(run.t ?? 0, MAX_REPLAY_STEPS);
    } catch (e) {
      for (const s of built.sessions) s.free();
      if (e instanceof StepBudget) throw new Error(t('err.linkBudget', { n: e.steps.toLocaleString('en') }));
      throw e;
    }
    return built;
  }

  install({ scenario, sessions, name, inline }, { tour, keepAlert = false } = {}) {
    this.pause();
    for (const v of this.allViews) { v.session?.free(); v.session = null; }
    this.views = this.allViews.slice(0, sessions.length);
    this.allViews.forEach((v, i) => { v.root.hidden = i >= sessions.length; });
    $('.cap-sides').dataset.count = String(sessions.length);
    document.body.dataset.sides = String(sessions.length);
    $$('.meta [data-hash]').forEach((el, i) => { el.hidden = i >= sessions.length; });
    this.shared.consensus = sessions.every((s) => !protocolModule(s.protocol).leaderless);
    this.scenario = scenario;
    this.name = name;
    this.inline = inline;
    sessions.forEach((s, i) => this.views[i].setup(s, scenario.compare[i]));
    // The CAP and PACELC explanation speaks of clients and partitions; sides of thousands of
    // gossiping nodes are about rounds, which their own charts show.
    $('#explain').hidden = sessions.every((s) => s.large);
    this.controls.setup(scenario, sessions, { leaders: this.shared.consensus });
    this.controlsKey = null;
    this.explainKey = null;
    this.tour.setup(sessions[0].scenario, tour ?? Boolean(scenario.tour));
    $('#scenario-select').value = name;
    $('#seed-input').value = String(sessions[0].seed);
    if (!keepAlert) this.error('');
    this.relabel();
    this.updateUrl();
    this.renderNow(true);
  }

  load(what, keepAlert = false) {
    try {
      this.install(this.build(what), { tour: what.tour, keepAlert });
      return true;
    } catch (e) {
      this.error(e.message ?? String(e));
      if (this.name) $('#scenario-select').value = this.name;
      return false;
    }
  }

  restart(value) {
    const seed = parseSeed(value);
    if (seed === null) {
      this.error(t('err.seed', { seed: String(value) }));
      $('#seed-input').value = String(this.lead.seed);
      return;
    }
    this.load({ name: this.name, inline: this.inline, seed, tour: this.tour.active });
  }

  /** Applies an action on every side (or on `side` only) at the current instant. It is tried
   * on copies of every side first, so a refusal on one side changes none. */
  act(action, side = null) {
    if (action === null) { this.status(t('cap.nothingCrashed')); return false; }
    const json = JSON.stringify(action);
    const targets = side === null ? this.sessions : [this.sessions[side]];
    try {
      if (targets.some((s) => !s)) throw new Error(t('cap.errSide', { side }));
      for (const s of this.sessions) s.settle();
      this.applyTo(targets, json);
    } catch (e) {
      this.error(t('err.action', { action: safeDescribe(action), msg: e.message ?? String(e) }));
      this.renderNow(true);
      return false;
    }
    this.error('');
    this.status(t('ui.done', { ms: this.lead.now.toFixed(1), action: describeAction(action) }));
    this.updateUrl();
    this.renderNow(true);
    return true;
  }

  applyTo(targets, json) {
    for (const s of targets) {
      const trial = s.pg.snapshot();
      try { trial.apply(json); } finally { trial.free(); }
    }
    for (const s of targets) s.apply(json);
  }

  /** The user's actions as a link carries them: those every side took once, one side's with
   * its index. */
  userActions() {
    return mergeActions(this.sessions.map((s) => s.userActions()));
  }

  async shareLink() {
    const url = new URL(location.href.split('?')[0]);
    const actions = this.userActions();
    if (!actions.length && !this.inline) {
      url.searchParams.set('scenario', this.name);
      url.searchParams.set('seed', String(this.lead.seed));
      url.searchParams.set('t', String(Math.round(this.lead.now)));
    } else {
      const run = { v: 1, seed: this.lead.seed, a: actions, t: Math.round(this.lead.now * 1000) / 1000 };
      if (this.inline) run.sc = JSON.parse(this.inline);
      else run.s = this.name;
      url.searchParams.set('run', await encodeRun(run));
    }
    if (this.langInUrl) url.searchParams.set('lang', lang());
    return url.toString();
  }

  async updateUrl() {
    const link = await this.shareLink();
    history.replaceState(null, '', link);
  }

  async share() {
    const link = await this.shareLink();
    const a = $('[data-testid="share-url"]');
    a.href = link;
    a.textContent = link;
    a.parentElement.hidden = false;
    try {
      await navigator.clipboard.writeText(link);
      this.status(t('share.copied'));
    } catch {
      this.status(t('share.copyByHand'));
    }
  }

  setTheme(theme, rebuild = true) {
    document.documentElement.dataset.theme = theme;
    try { localStorage.setItem('caplab.theme', theme); } catch { /* not remembered */ }
    // The charts draw on canvas with colours read once: rebuild them in the new theme.
    if (rebuild) for (const v of this.views) v.relabel();
    this.renderNow(true);
  }

  relabel() {
    if (!this.scenario) return;
    setText($('#scenario-title'), pick(this.scenario.title));
    setText($('#scenario-desc'), pick(this.scenario.description));
    document.title = `CAPlab · ${pick(this.scenario.title)}`;
    this.fillPicker();
    $('#scenario-select').value = this.name;
    $('#lang-select').value = lang();
    for (const v of this.views) v.relabel();
    this.controls.relabel();
    this.renderNow(true);
  }

  error(message) {
    setText($('#alert'), message);
    $('.alert-box').classList.toggle('shown', Boolean(message));
  }

  status(message) {
    setText($('#status'), message);
  }

  play() {
    if (this.playing) return;
    if (this.lead.now >= this.lead.duration) this.status('');
    this.playing = true;
    this.lastTs = null;
    this.renderNow();
  }

  pause() {
    if (!this.playing) return;
    this.playing = false;
    this.renderNow(true);
  }

  seek(ms) {
    if (!Number.isFinite(ms)) return;
    for (const s of this.sessions) s.seek(Math.max(0, ms));
    this.renderNow(true);
  }

  frame(ts) {
    requestAnimationFrame((next) => this.frame(next));
    if (!this.lead) return;
    const began = performance.now();
    if (this.playing) {
      const dt = this.lastTs === null ? 0 : Math.min(100, ts - this.lastTs);
      const before = this.lead.now;
      const duration = this.lead.duration;
      let target = before + dt * this.factor;
      if (before < duration && target >= duration) target = duration;
      const stop = this.tour.pauseBetween(before, target);
      if (stop !== null) target = stop;
      for (const s of this.sessions) s.seek(target);
      if (stop !== null) { this.playing = false; this.status(t('tour.paused')); this.forceMeasure = true; }
      if (before < duration && this.lead.now >= duration) {
        this.playing = false;
        this.status(t('ui.endReached', { ms: duration }));
        this.forceMeasure = true;
      }
      this.dirty = true;
    }
    this.lastTs = ts;
    if (this.dirty) this.render(ts);
    this.frameMs = performance.now() - began;
  }

  renderNow(measure = false) {
    this.dirty = true;
    if (measure) this.forceMeasure = true;
    if (this.lead) this.render(performance.now());
  }

  render(ts) {
    this.dirty = false;
    const lead = this.lead;
    for (const v of this.views) v.drawCluster(this.playing, ts);
    if (this.forceMeasure || !this.playing || ts - (this.lastMeasure ?? 0) > MEASURE_MS) {
      const key = this.sessions.map((s) => `${s.steps}|${s.version}`).join('/');
      if (this.forceMeasure || key !== this.measuredKey) {
        // While playing, one side a turn: the checker's cost is spread over several frames.
        const all = this.forceMeasure || !this.playing;
        this.turn = all ? 0 : ((this.turn ?? -1) + 1) % this.views.length;
        for (const [i, v] of this.views.entries()) if (all || i === this.turn) v.measure();
        this.forceMeasure = false;
        this.measuredKey = key;
        this.lastMeasure = ts;
        const stats = this.views.map((v) => v.stats);
        // Shared y scales: the largest of the sides.
        for (const id of ['ops', 'anomalies', 'latency']) {
          this.shared[id] = Math.max(0, ...stats.flatMap((st) => st.charts[id].slice(1).flat().filter(Number.isFinite)));
        }
        for (const v of this.views) v.drawStats();
        const ex = explain(this.views, lead.now);
        if (ex.key !== this.explainKey) {
          this.explainKey = ex.key;
          $('.explain-body').replaceChildren(...ex.nodes);
        }
      }
    }
    this.renderTransport();
    this.updateNote();
    this.tour.render(lead);
    const key = this.sessions.map((s) => `${s.steps}|${s.version}`).join('/');
    if (key !== this.controlsKey) {
      this.controlsKey = key;
      this.controls.render(this.sessions);
    }
    document.body.classList.toggle('playing', this.playing);
  }

  renderTransport() {
    const s = this.lead;
    setText($('#clock'), Math.floor(s.now));
    setText($('#end-label'), Math.round(s.end));
    const slider = $('#time');
    setAttr(slider, 'max', Math.ceil(s.end));
    if (document.activeElement !== slider) slider.value = String(Math.floor(s.now));
    this.sessions.forEach((x, i) => setText($(`#trace-hash-${i}`), x.pg.traceHash()));
    setAttr($('[data-action="play"]'), 'aria-pressed', this.playing);
    setAttr($('[data-action="pause"]'), 'aria-pressed', !this.playing);
  }

  updateNote() {
    showNote($('#note'), this.lead);
  }

  /** What tests and a host page can read. */
  publicState() {
    return {
      scenario: this.name,
      seed: this.lead?.seed,
      now: this.lead?.now,
      playing: this.playing,
      sides: this.views.map((v) => ({
        name: v.side?.name, protocol: v.session?.protocol, hash: v.session?.pg.traceHash(), steps: v.session?.steps,
        stats: v.stats && {
          availability: v.stats.availability, minority: v.stats.sides.minority.pct, majority: v.stats.sides.majority.pct,
          stale: v.stats.stale.size, linearizable: v.stats.linearizable, witness: v.stats.witness.size, ops: v.stats.ops,
          consensus: v.stats.consensus ?? null,
        },
      })),
      frameMs: this.frameMs,
    };
  }
}

/**
 * Merges each side's list of user actions (`{at_us, action}`, in time order) into the form a
 * link carries: `[at_us, action]` for an action every side took at that moment, `[at_us,
 * action, side]` for one side's own. Exported for the tests.
 */
export function mergeActions(lists) {
  const key = (a) => `${a.at_us}|${JSON.stringify(a.action)}`;
  const at = lists.map(() => 0);
  const out = [];
  for (;;) {
    const heads = lists.map((l, i) => l[at[i]]);
    if (heads.every((x) => x === undefined)) return out;
    if (heads.every((x) => x !== undefined && key(x) === key(heads[0]))) {
      out.push([heads[0].at_us, heads[0].action]);
      at.forEach((_, i) => { at[i]++; });
      continue;
    }
    let first = -1;
    heads.forEach((x, i) => { if (x !== undefined && (first < 0 || x.at_us < heads[first].at_us)) first = i; });
    out.push([heads[first].at_us, heads[first].action, first]);
    at[first]++;
  }
}

const lab = new CapLab();
window.caplab = {
  ready: false,
  lab,
  state: () => lab.publicState(),
  seek: (ms) => lab.seek(ms),
  act: (action, side = null) => lab.act(action, side),
  play: () => lab.play(),
  pause: () => lab.pause(),
  shareLink: () => lab.shareLink(),
};
lab.start().catch((e) => {
  console.error(e);
  lab.error(t('cap.errStart', { msg: e.message ?? String(e) }));
});
