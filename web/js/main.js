// The playground page. Loads the wasm simulator, builds the views, and runs the frame loop
// that maps wall-clock frames to virtual time at the chosen speed (the simulator never sees
// frames). Every user action goes through `act`, errors land in the role="alert" element and
// leave the running simulation as it was. `window.caplab` is the hook browser tests drive.

import init, { Playground } from '../pkg/caplab.js';
import { $, $$ } from './dom.js';
import { detectLang, onLangChange, pick, setLang, lang, t } from './i18n.js';
import { Session } from './session.js';
import { ClusterView } from './cluster.js';
import { Menu, Tooltip } from './menus.js';
import { Transport, fillHelp, installKeyboard } from './controls.js';
import { PartitionTool } from './partition.js';
import { EventLog } from './panels/events.js';
import { ClientHistory, historyLegend } from './panels/history.js';
import { InvariantsPanel } from './panels/invariants.js';
import { Inspector } from './panels/inspector.js';
import { protocolModule } from '../protocols/index.js';
import { MAX_NODES, MIN_NODES, fillPicker, fillSizes, parseSeed, randomSeed, resizeScenario } from './scenario.js';
import { describeAction } from './describe.js';
import { clientMenuItems, linkMenuItems, messageMenuItems } from './node-menus.js';
import { Acting } from './acting.js';
import { buildLegend } from './legend.js';
import { LinkError, MAX_REPLAY_STEPS, encodeRun, readLink } from './share.js';
import { StepBudget } from './session.js';
import { Tour } from './tour.js';
import { HostBridge, applyLayout, readEmbedOptions } from './embed.js';
import {
  download, exportScenario, fillLibrary, fillShare, installDrop, readScenarioFile, showOverlay, wireOverlay,
} from './dialogs.js';

const DEFAULT_SCENARIO = 'raft-election';

/** An action from a link as a sentence, or its bare name when it is too malformed for that. */
function safeDescribe(a) {
  try {
    return describeAction(a);
  } catch {
    return String(a?.action ?? '?');
  }
}
const ROLES = ['leader', 'candidate', 'follower', 'crashed', 'paused'];

class App {
  constructor() {
    this.params = new URLSearchParams(location.search);
    this.playing = false;
    this.tab = 'inspector';
    this.menu = new Menu();
    this.tooltip = new Tooltip();
    this.cluster = new ClusterView($('#cluster'), {
      onNode: (id, e) => (this.partition.grouping ? this.partition.cycle(id) : this.openNodeMenu(id, e)),
      onClient: (id, e) => {
        if (this.partition.grouping) this.partition.cycle(id);
        else if (!this.opts.readonly) this.openMenu(e, id, clientMenuItems(this, id));
      },
      onLink: (a, b, e, near) => this.clickLink(a, b, e, near),
      onLinkMenu: (a, b, e) => { if (!this.opts.readonly) this.openMenu(e, `${a} — ${b}`, linkMenuItems(this, a, b)); },
      onMessage: (m, e) => { if (!this.opts.readonly) this.openMenu(e, `${m.label} ${m.from} → ${m.to}`, messageMenuItems(this, m)); },
      onMessageHover: (m, e) => this.hoverMessage(m, e),
    });
    this.transport = new Transport(this);
    this.partition = new PartitionTool($('#partition-tools'), {
      act: (a) => this.act(a), cluster: this.cluster, nodes: () => this.nodes ?? [], onMode: () => this.renderNow(),
    });
    const jump = (ms) => { this.pause(); this.seek(ms); };
    this.events = new EventLog($('[data-panel="events"]'), { onJump: jump, onChange: () => this.renderNow() });
    this.history = new ClientHistory($('[data-panel="history"]'), { onJump: jump });
    this.invariants = new InvariantsPanel($('#invariants'), $('#invariant-badge'), { onJump: jump });
    this.inspector = new Inspector($('[data-panel="inspector"]'));
    this.tour = new Tour($('#tour'), {
      seek: (ms) => { this.pause(); this.seek(ms); },
      onChange: () => { this.updateUrl(); this.renderNow(); },
    });
    this.bridge = new HostBridge(this);
    this.opts = { embed: false, controls: 'full', autoplay: false, readonly: false, speed: null };
    this.wire();
  }

  wire() {
    $('#scenario-select').addEventListener('change', (e) => this.load({ name: e.target.value }));
    $('#nodes-select').addEventListener('change', (e) => this.load({
      name: this.name, inline: this.inline ? this.source : null, seed: this.session.seed, nodes: Number(e.target.value),
    }));
    const seed = $('#seed-input');
    seed.addEventListener('change', () => this.restart(seed.value));
    seed.addEventListener('keydown', (e) => { if (e.key === 'Enter') seed.blur(); });
    $('[data-action="restart"]').addEventListener('click', () => this.restart(this.session.seed));
    $('[data-action="new-seed"]').addEventListener('click', () => this.restart(randomSeed()));
    $('#lang-select').addEventListener('change', (e) => { this.langInUrl = true; setLang(e.target.value); });
    $('[data-action="theme"]').addEventListener('click', () => this.setTheme(document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark'));
    $('[data-action="help"]').addEventListener('click', () => this.toggleHelp());
    $('[data-action="close-help"]').addEventListener('click', () => this.toggleHelp(false));
    $('#help').addEventListener('click', (e) => { if (e.target.id === 'help') this.toggleHelp(false); });
    $('[data-action="dismiss-alert"]').addEventListener('click', () => this.error(''));
    for (const tab of $$('[data-tab]')) tab.addEventListener('click', () => this.showTab(tab.dataset.tab));
    $('#scenario-desc').addEventListener('click', (e) => e.currentTarget.classList.toggle('open'));
    for (const id of ['#share', '#library', '#editor']) wireOverlay($(id));
    $('[data-action="library"]').addEventListener('click', () => this.openLibrary());
    $('[data-action="copy-link"]').addEventListener('click', () => this.share(true));
    $('[data-action="embed"]').addEventListener('click', () => this.share(false, true));
    for (const id of ['#embed-controls', '#embed-autoplay', '#embed-readonly']) $(id).addEventListener('change', () => this.share(false));
    $('[data-action="copy-embed"]').addEventListener('click', () => this.copy($('[data-testid="embed-snippet"]').value, $('#embed-info')));
    $('[data-action="file-menu"]').addEventListener('click', (e) => this.openMenu(e, null, [
      { id: 'export', label: t('file.export'), run: () => this.exportRun() },
      { id: 'import', label: t('file.import'), run: () => $('#file-input').click() },
      { id: 'edit', label: t('file.edit'), run: () => this.openEditor() },
    ]));
    $('[data-action="import"]').addEventListener('click', () => $('#file-input').click());
    $('#file-input').addEventListener('change', (e) => { const f = e.target.files[0]; e.target.value = ''; if (f) this.importFile(f); });
    installDrop((file) => this.importFile(file));
    // In an iframe: a link to the full page with this run, kept fresh when a pointer nears it.
    const full = $('#open-full');
    const refresh = async () => { full.href = await this.shareLink(); };
    full.addEventListener('pointerenter', refresh);
    full.addEventListener('focus', refresh);
    $('[data-action="edit-apply"]').addEventListener('click', () => this.applyEdit());
    installKeyboard(this);
    onLangChange(() => this.relabel());
  }

  async start() {
    const theme = localStorage.getItem('caplab.theme') ?? (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
    this.setTheme(theme);
    this.langInUrl = this.params.has('lang');
    setLang(detectLang(this.params));
    await init();
    this.scenarios = JSON.parse(Playground.scenarios());
    this.showTab('inspector');
    const problem = await this.openLink();
    if (problem) {
      // A bad link: say what was wrong and start the default scenario.
      this.load({ name: DEFAULT_SCENARIO }, true);
      this.error(t('err.link', { msg: problem.replace(/[.。]\s*$/, '') }));
    }
    if (this.opts.autoplay && !problem) this.play();
    requestAnimationFrame((ts) => this.frame(ts));
    this.bridge.post('ready', this.publicState());
  }

  /** Opens what the address asks for. Returns null, or what was wrong with the link. */
  async openLink() {
    const p = this.params;
    let run;
    try {
      this.opts = readEmbedOptions(p);
      run = await readLink(location.href, p);
    } catch (e) {
      if (!(e instanceof LinkError)) console.error(e);
      this.opts = { embed: p.has('embed'), controls: p.has('embed') ? 'minimal' : 'full', autoplay: false, readonly: false, speed: null };
      applyLayout(this.opts);
      return e.message ?? String(e);
    }
    applyLayout(this.opts);
    if (this.opts.speed !== null) this.transport.setSpeed(this.opts.speed, false);
    const tour = p.has('tour') ? !['0', 'false', 'no'].includes(p.get('tour')) : undefined;
    if (!run) {
      // The hand-written form: ?scenario=&seed=&nodes=&t=.
      let seed = null;
      const problems = [];
      if (p.has('seed')) {
        seed = parseSeed(p.get('seed'));
        if (seed === null) problems.push(t('err.seed', { seed: p.get('seed') }));
      }
      const name = p.get('scenario');
      if (name !== null && !this.scenarios.some((s) => s.name === name)) problems.push(t('err.unknownScenario', { name }));
      if (problems.length) return problems.join(' ');
      const nodes = p.has('nodes') ? Number(p.get('nodes')) : null;
      run = { s: p.get('scenario') ?? DEFAULT_SCENARIO, seed: seed ?? undefined, n: nodes ?? undefined, a: [] };
      if (p.has('t')) run.t = Number(p.get('t'));
    }
    try {
      this.install(this.replay(run), { tour });
    } catch (e) {
      return e.message ?? String(e);
    }
    return null;
  }

  /** Builds the session a run describes: the scenario, the seed, each action at its time, then
   * the clock at `t`. Throws with what went wrong; nothing on the page changes until it works. */
  replay(run) {
    const built = this.build({ name: run.s, inline: run.sc ? JSON.stringify(run.sc) : null, seed: run.seed ?? null, nodes: run.n ?? null });
    const s = built.session;
    try {
      run.a.forEach(([atUs, action], i) => {
        if (atUs > 3.6e9) throw new Error(t('err.linkAction', { i: i + 1, ms: atUs / 1000, action: safeDescribe(action), msg: t('err.tooLate') }));
        s.seek(atUs / 1000, MAX_REPLAY_STEPS);
        try {
          s.apply(JSON.stringify(action));
        } catch (e) {
          throw new Error(t('err.linkAction', { i: i + 1, ms: atUs / 1000, action: safeDescribe(action), msg: e.message ?? String(e) }));
        }
      });
      s.seek(run.t ?? 0, MAX_REPLAY_STEPS);
    } catch (e) {
      s.free();
      if (e instanceof StepBudget) throw new Error(t('err.linkBudget', { n: e.steps.toLocaleString('en') }));
      throw e;
    }
    return built;
  }

  /** Starts a run; on any error says why and keeps the current one. */
  load({ name, inline = null, seed = null, nodes = null, tour }, keepAlert = false) {
    let built;
    try {
      built = this.build({ name, inline, seed, nodes });
      built.session.seek(0);
    } catch (e) {
      return this.fail(e.message ?? String(e));
    }
    this.install(built, { tour, keepAlert });
    return true;
  }

  /** A new session for a named scenario (maybe resized) or a scenario's JSON text. Throws an
   * Error whose message is for the alert. */
  build({ name, inline = null, seed = null, nodes = null }) {
    let source = inline ?? name;
    let removed = [];
    let meta = null;
    if (inline !== null && nodes !== null) {
      let parsed;
      try { parsed = JSON.parse(inline); } catch { parsed = null; }
      if (parsed && typeof parsed === 'object' && nodes !== parsed.nodes) {
        if (!Number.isInteger(nodes) || nodes < MIN_NODES || nodes > MAX_NODES) {
          throw new Error(t('err.nodes', { nodes: String(nodes), min: MIN_NODES, max: MAX_NODES }));
        }
        ({ json: source, removed } = resizeScenario(parsed, nodes));
      }
    }
    if (inline === null) {
      meta = this.scenarios.find((s) => s.name === name);
      if (!meta) throw new Error(t('err.unknownScenario', { name: String(name) }));
      if (nodes !== null && nodes !== meta.nodes) {
        if (!Number.isInteger(nodes) || nodes < MIN_NODES || nodes > MAX_NODES) {
          throw new Error(t('err.nodes', { nodes: String(nodes), min: MIN_NODES, max: MAX_NODES }));
        }
        const probe = new Playground(name);
        ({ json: source, removed } = resizeScenario(JSON.parse(probe.scenarioJson()), nodes));
        probe.free();
      }
    }
    let session;
    try {
      session = new Session(Playground, source, seed);
    } catch (e) {
      throw new Error(t('err.load', { msg: e.message ?? String(e) }));
    }
    // An inline scenario is kept as the simulator read it: valid JSON, every default spelled out.
    if (inline !== null) source = session.pg.scenarioJson();
    return { session, name: session.scenario.name, source, removed, inline: inline !== null };
  }

  /** Makes a built session the page's run. */
  install({ session, name, source, removed, inline }, { tour, keepAlert = false } = {}) {
    this.pause();
    this.session?.free();
    this.session = session;
    this.flashFrom = null;
    this.frameNow = null;
    this.name = name;
    this.source = source;
    this.inline = inline;
    this.module = protocolModule(session.protocol);
    if (this.partition.grouping) this.partition.stopGrouping();
    this.cluster.setup(session, this.module, { t, scenario: session.scenario });
    this.events.setup(session);
    this.history.invalidate();
    this.invariants.invalidate();
    this.inspector.invalidate();
    $('#protocol-tab').hidden = !this.module.panel;
    if (!this.module.panel && this.tab === 'protocol') this.showTab('inspector');
    this.tour.setup(session.scenario, tour ?? Boolean(session.scenario.tour));
    this.bridge.reset();
    this.lastKey = null;
    this.relabel();
    if (!keepAlert) this.error('');
    this.status(removed.length ? t('resize.removed', {
      n: session.scenario.nodes, count: removed.length,
      list: removed.map(({ entry }) => `${entry.at_ms} ms ${describeAction(entry)}`).join('; '),
    }) : '');
    this.updateUrl();
    this.renderNow();
    this.bridge.post('loaded', this.publicState());
  }

  fail(message) {
    this.error(message);
    if (this.session) $('#scenario-select').value = this.name;
    return false;
  }

  restart(seedValue) {
    const seed = parseSeed(seedValue);
    if (seed === null) {
      this.error(t('err.seed', { seed: String(seedValue) }));
      $('#seed-input').value = String(this.session.seed);
      return;
    }
    const nodes = this.session.scenario.nodes;
    if (this.inline) this.load({ inline: this.source, seed, tour: this.tour.active });
    else this.load({ name: this.name, seed, nodes, tour: this.tour.active });
  }

  /** The address bar: the scenario and seed while you have not acted (a reload starts the same
   * run again), and the whole run as a share link once you have (a reload restores it). Embed
   * options and the language stay as they came. */
  updateUrl() {
    const extras = new URLSearchParams();
    if (this.langInUrl) extras.set('lang', lang());
    for (const k of ['embed', 'controls', 'autoplay', 'speed', 'readonly']) if (this.params.has(k)) extras.set(k, this.params.get(k));
    const write = (query) => {
      const all = new URLSearchParams(query);
      for (const [k, v] of extras) all.set(k, v);
      history.replaceState(null, '', `${location.pathname}?${all}`);
    };
    const version = (this.urlVersion = (this.urlVersion ?? 0) + 1);
    if (this.inline || this.session.userActions().length) {
      this.shareLink().then((link) => { if (version === this.urlVersion) write(new URL(link).search); }).catch(() => {});
      return;
    }
    const p = new URLSearchParams();
    const meta = this.scenarios.find((s) => s.name === this.name);
    p.set('scenario', this.name);
    p.set('seed', String(this.session.seed));
    if (meta && this.session.scenario.nodes !== meta.nodes) p.set('nodes', String(this.session.scenario.nodes));
    if (Boolean(this.session.scenario.tour) !== this.tour.active) p.set('tour', this.tour.active ? '1' : '0');
    write(p);
  }

  /** The run as a share link: plain parameters when it is a named scenario the user has not
   * acted on, otherwise `run=` with everything packed in. */
  async shareLink() {
    const s = this.session;
    if (s.pg.nextMs() === s.now) {
      s.settle();
      this.renderNow();
    }
    const actions = s.userActions();
    const meta = this.scenarios.find((x) => x.name === this.name);
    const resized = !this.inline && meta && s.scenario.nodes !== meta.nodes;
    const now = Math.round(s.now * 1000) / 1000;
    const base = `${location.origin}${location.pathname}`;
    const p = new URLSearchParams();
    if (!this.inline && actions.length === 0) {
      p.set('scenario', this.name);
      p.set('seed', String(s.seed));
      if (resized) p.set('nodes', String(s.scenario.nodes));
      if (now > 0) p.set('t', String(now));
    } else {
      const run = { v: 1 };
      if (this.inline) run.sc = JSON.parse(this.source);
      else run.s = this.name;
      run.seed = s.seed;
      if (resized) run.n = s.scenario.nodes;
      if (actions.length) run.a = actions.map((a) => [a.at_us, a.action]);
      run.t = now;
      p.set('run', await encodeRun(run));
    }
    if (Boolean(s.scenario.tour) !== this.tour.active) p.set('tour', this.tour.active ? '1' : '0');
    return `${base}?${p}`;
  }

  /** Makes the share link, copies it (when asked and allowed) and shows it in the dialog. */
  async share(copy, focusEmbed = false) {
    const link = await this.shareLink();
    const n = this.session.userActions().length;
    let info = t('share.info', { chars: link.length, n, ms: Math.floor(this.session.now) });
    if (copy) info += ` ${await this.copy(link) ? t('share.copied') : t('share.copyByHand')}`;
    fillShare(link, info, {
      controls: $('#embed-controls').value, autoplay: $('#embed-autoplay').checked, readonly: $('#embed-readonly').checked,
    });
    if ($('#share').hidden) showOverlay($('#share'));
    if (focusEmbed) $('#embed-title').scrollIntoView({ block: 'nearest' });
    return link;
  }

  async copy(text, infoEl) {
    try {
      await navigator.clipboard.writeText(text);
      if (infoEl) infoEl.textContent = t('share.copied');
      return true;
    } catch {
      if (infoEl) infoEl.textContent = t('share.copyByHand');
      return false;
    }
  }

  openLibrary() {
    fillLibrary($('.library-body'), this.scenarios, this.name, (name) => {
      showOverlay($('#library'), false);
      this.load({ name });
    });
    showOverlay($('#library'));
  }

  exportRun() {
    const s = this.session;
    s.settle();
    this.renderNow();
    const hash = s.pg.traceHash();
    const sc = exportScenario(s, hash);
    const file = `${sc.name}-seed${s.seed}-${Math.floor(s.now)}ms.json`;
    download(file, `${JSON.stringify(sc, null, 2)}\n`);
    this.status(t('file.exported', { file, ms: s.now, hash }));
    return sc;
  }

  async importFile(file) {
    let text;
    try {
      text = await readScenarioFile(file);
    } catch (e) {
      this.error(e.message);
      return false;
    }
    showOverlay($('#library'), false);
    return this.loadText(text, file.name);
  }

  /** Loads a scenario's JSON text (a file, the editor); on error keeps the current run. */
  loadText(text, origin) {
    let built;
    if (!String(text).trim().startsWith('{')) {
      this.error(t('err.file', { name: origin, msg: t('err.notObject') }));
      return false;
    }
    try {
      built = this.build({ inline: text });
      built.session.seek(0);
    } catch (e) {
      this.error(t('err.file', { name: origin, msg: e.message ?? String(e) }));
      return false;
    }
    this.install(built, {});
    this.status(t('file.loaded', { name: origin }));
    return true;
  }

  openEditor() {
    $('#editor-text').value = JSON.stringify(this.session.scenario, null, 2);
    $('#editor-error').textContent = '';
    showOverlay($('#editor'));
  }

  applyEdit() {
    if (this.loadText($('#editor-text').value, t('edit.origin'))) {
      showOverlay($('#editor'), false);
    } else {
      $('#editor-error').textContent = $('#alert').textContent;
    }
  }

  /** What the host page and tests can read about the run. */
  publicState() {
    const s = this.session;
    if (!s) return {};
    return {
      scenario: this.name, seed: s.seed, now: s.now, steps: s.steps, hash: s.pg.traceHash(), playing: this.playing,
      tour: this.tour.active ? { step: this.tour.index(s) + 1, steps: this.tour.steps.length } : null,
      violations: (s.violations ?? []).length,
    };
  }

  /** Everything whose words depend on the language. */
  relabel() {
    if (!this.session) return;
    const sc = this.session.scenario;
    $('#lang-select').value = lang();
    fillPicker($('#scenario-select'), this.scenarios, this.name);
    fillSizes($('#nodes-select'), sc.nodes);
    $('#seed-input').value = String(this.session.seed);
    const meta = this.scenarios.find((x) => x.name === this.name);
    const resized = meta && meta.nodes !== sc.nodes ? ` · ${t('ui.resized', { n: sc.nodes })}` : '';
    $('#scenario-title').textContent = `${pick(sc.title) || sc.name}${resized}`;
    $('#scenario-desc').textContent = pick(sc.description);
    document.title = `${pick(sc.title) || sc.name} · CAPlab`;
    if (this.module.panel) $('#protocol-tab').textContent = t(this.module.panel.titleKey);
    buildLegend($('#legend .legend-body'), this.module, ROLES);
    $('.history-legend').replaceChildren(...historyLegend());
    fillHelp();
    this.tour.renderKey = null;
    this.events.relabel();
    this.history.invalidate();
    this.invariants.invalidate();
    this.inspector.invalidate();
    this.noteKey = null;
    this.lastKey = null;
    if (this.langInUrl) this.updateUrl();
    this.renderNow();
  }

  setTheme(theme) {
    document.documentElement.dataset.theme = theme;
    try { localStorage.setItem('caplab.theme', theme); } catch { /* not remembered */ }
  }

  error(message) {
    $('#alert').textContent = message;
  }

  status(message) {
    $('#status').textContent = message;
  }

  // ---- time ----

  play() {
    if (this.playing) return;
    this.playing = true;
    this.lastTs = null;
    this.menu.close();
    this.renderNow();
  }

  pause() {
    if (!this.playing) return;
    this.playing = false;
    this.renderNow();
  }

  toggle() {
    if (this.playing) this.pause();
    else this.play();
  }

  step() {
    this.pause();
    if (!this.session.step()) this.status(t('ui.nothingLeft'));
    this.renderNow();
  }

  seek(ms) {
    if (!Number.isFinite(ms)) return;
    this.session.seek(Math.max(0, ms));
    this.renderNow();
  }

  frame(ts) {
    requestAnimationFrame((next) => this.frame(next));
    if (this.playing) {
      const dt = this.lastTs === null ? 0 : Math.min(100, ts - this.lastTs);
      const s = this.session;
      const before = s.now;
      let target = before + dt * this.transport.factor;
      if (before < s.duration && target >= s.duration) target = s.duration;
      // A tour step that asks to pause stops the playback exactly at its moment.
      const stop = this.tour.pauseBetween(before, target);
      if (stop !== null) target = stop;
      s.seek(target);
      if (stop !== null) {
        this.playing = false;
        this.status(t('tour.paused'));
      }
      // Judged after the seek: the session's clock is whole milliseconds, so a target just
      // short of the end can land on it, and the end must still stop the play.
      if (before < s.duration && s.now >= s.duration) {
        this.playing = false;
        this.status(t('ui.endReached', { ms: s.duration }));
      }
      this.dirty = true;
    }
    this.lastTs = ts;
    if (this.dirty) this.render(ts);
  }

  renderNow() {
    this.dirty = true;
    if (this.session) this.render(performance.now(), true);
  }

  /** Draws the current state: the cheap parts every frame, the rest when a step happened,
   * and the heavy panels a few times a second at most while playing. */
  render(ts, force = false) {
    this.dirty = false;
    const s = this.session;
    const key = `${s.steps}|${s.version}`;
    // How far time moved since the last frame drawn.
    const moved = s.now - (this.frameNow ?? s.now);
    this.frameNow = s.now;
    this.transport.render(s, this.playing);
    if (key !== this.lastKey) {
      this.lastKey = key;
      this.nodes = JSON.parse(s.pg.nodes());
      // Timers cost a look at every node's whole state: while playing, ten times a second.
      if (!this.playing || force || ts - (this.lastTimers ?? 0) > 100) {
        this.lastTimers = ts;
        this.timers = JSON.parse(s.pg.timers());
      }
      this.cluster.updateNodes(this.nodes, this.timers, s.now, t);
      // Links change only when someone acts; skip the parse and the DOM walk otherwise.
      const links = s.pg.links();
      if (links !== this.lastLinks || force) {
        this.lastLinks = links;
        this.cluster.updateLinks(JSON.parse(links), t);
      }
      this.clients = JSON.parse(s.pg.clients());
      this.cluster.updateClients(this.clients, t);
      this.invariants.update(s);
      this.updateNote();
      this.flashDrops(moved);
      this.slowPending = true;
    }
    this.cluster.tick(s.now);
    this.cluster.messages.update(JSON.parse(s.pg.inFlight()), s.now);
    // The log scrolls too fast to read while playing quickly: ten updates a second suffice.
    if (this.tab === 'events' && (force || !this.playing || ts - (this.lastLog ?? 0) > 250)) {
      this.lastLog = ts;
      this.events.update(s, true, this.playing);
    }
    if (this.slowPending && (force || !this.playing || ts - (this.lastSlow ?? 0) > 180)) {
      this.slowPending = false;
      this.lastSlow = ts;
      if (this.tab === 'inspector') this.inspector.update(s, this.module, s.now);
      if (this.tab === 'history') this.history.refresh(s, this.clients);
      if (this.tab === 'protocol' && this.module.panel) {
        const box = $('.protocol-body');
        box.replaceChildren();
        this.module.panel.render(box, this.nodes, { t, now: s.now, scenario: s.scenario });
      }
    }
    if (this.tab === 'history') this.history.tick(s.now);
    const step = this.tour.render(s);
    if (step !== null) this.bridge.post('tour-step', { step: step + 1, steps: this.tour.steps.length, at_ms: s.now, text: $('#note').textContent });
    this.bridge.scan(s);
    $('#start-hint').hidden = this.playing || s.now > 0 || this.tour.active;
    $('#past-banner').hidden = this.playing || !s.inPast;
    document.body.classList.toggle('playing', this.playing);
    document.body.classList.toggle('grouping', this.partition.grouping);
  }

  /** Marks the messages lost since the last frame, when time moved forwards a little. */
  flashDrops(moved) {
    const s = this.session;
    const end = s.eventsUpTo(s.steps);
    const from = this.flashFrom ?? end;
    this.flashFrom = end;
    // Only for small moves (playing slowly, stepping): after a jump, crosses for everything
    // lost in between would all show at once, as if it had happened together.
    if (from >= end || end - from > 100 || moved > 40 || this.flashVersion !== s.version) {
      this.flashVersion = s.version;
      return;
    }
    for (let i = from; i < end; i++) {
      const e = s.events[i];
      // Cut or lost at sending: the cross sits at the sender; otherwise where it arrived.
      if (e.type === 'dropped' && e.reason !== 'removed') {
        this.cluster.messages.flashDrop(e.from, e.to, !(e.reason === 'link_cut' || e.reason === 'lost'));
      }
    }
  }

  /** The caption: every note of the latest moment that had one (several notes at one time
   * read as one caption, as they make one tour step). */
  updateNote() {
    const s = this.session;
    const note = s.currentNote();
    const text = note ? s.notes.filter((e) => e.at_us === note.at_us && e.step <= s.steps).map((e) => pick(e.text)).join(' ') : '';
    const el = $('#note');
    el.textContent = text;
    el.dataset.at = note ? String(Math.round(note.at_us / 1000)) : '';
    el.hidden = !text;
  }

  showTab(name) {
    this.tab = name;
    for (const tab of $$('[data-tab]')) tab.setAttribute('aria-selected', String(tab.dataset.tab === name));
    for (const panel of $$('[data-panel]')) panel.hidden = panel.dataset.panel !== name;
    this.events.invalidate();
    this.history.invalidate();
    this.inspector.invalidate();
    this.slowPending = true;
    this.renderNow();
  }

  escape() {
    const dialog = ['#share', '#library', '#editor'].map((id) => $(id)).find((el) => !el.hidden);
    if (this.menu.isOpen) this.menu.close();
    else if (dialog) showOverlay(dialog, false);
    else if (!$('#help').hidden) this.toggleHelp(false);
    else if (this.partition.grouping) this.partition.stopGrouping();
  }

  toggleHelp(show) {
    const help = $('#help');
    help.hidden = show === undefined ? !help.hidden : !show;
    if (!help.hidden) help.querySelector('button')?.focus();
  }
}

Object.assign(App.prototype, Acting);

const app = new App();
// The hook browser tests use to drive virtual time without waiting on the wall clock.
window.caplab = {
  app,
  seek: (ms) => app.seek(ms),
  step: () => app.step(),
  act: (action) => app.act(action),
  get session() { return app.session; },
  state: () => ({
    now: app.session.now, steps: app.session.steps, hash: app.session.pg.traceHash(),
    nodes: JSON.parse(app.session.pg.nodes()).map((n) => ({ id: n.id, role: n.role, term: n.term })),
  }),
};
app.start().then(() => { window.caplab.ready = true; document.body.dataset.ready = 'true'; }).catch((e) => {
  $('#alert').textContent = `CAPlab could not start: ${e.message ?? e}`;
  console.error(e);
});
