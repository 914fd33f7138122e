// Links and files: opening the run a link describes (replaying it under a budget), the
// address bar, share links, the library, scenario files (export, import, the editor). These
// are methods of the page's App, mixed into it in main.js like Acting.

import { $ } from './dom.js';
import { lang, t } from './i18n.js';
import { LinkError, MAX_REPLAY_STEPS, encodeRun, readLink } from './share.js';
import { StepBudget } from './session.js';
import { applyLayout, readEmbedOptions } from './embed.js';
import { parseSeed } from './scenario.js';
import { safeDescribe } from './describe.js';
import {
  download, exportScenario, fillLibrary, fillShare, readScenarioFile, showOverlay,
} from './dialogs.js';

export const DEFAULT_SCENARIO = 'raft-election';

export const Linking = {
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
  },

  /** Builds the session a run describes: the scenario, the seed, each action at its time, then
   * the clock at `t`. Throws with what went wrong; nothing on the page changes until it works. */
  replay(run) {
    if (run.a.some((entry) => entry.length === 3)) throw new LinkError(t('err.linkSided'));
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
  },

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
  },

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
  },

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
  },

  async copy(text, infoEl) {
    try {
      await navigator.clipboard.writeText(text);
      if (infoEl) infoEl.textContent = t('share.copied');
      return true;
    } catch {
      if (infoEl) infoEl.textContent = t('share.copyByHand');
      return false;
    }
  },

  openLibrary() {
    fillLibrary($('.library-body'), this.scenarios, this.name, (name) => {
      showOverlay($('#library'), false);
      this.load({ name });
    });
    showOverlay($('#library'));
  },

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
  },

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
  },

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
  },

  openEditor() {
    $('#editor-text').value = JSON.stringify(this.session.scenario, null, 2);
    $('#editor-error').textContent = '';
    showOverlay($('#editor'));
  },

  applyEdit() {
    if (this.loadText($('#editor-text').value, t('edit.origin'))) {
      showOverlay($('#editor'), false);
    } else {
      $('#editor-error').textContent = $('#alert').textContent;
    }
  },
};
