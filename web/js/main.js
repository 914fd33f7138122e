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
import { describeAction, setRoleAliases } from './describe.js';
import { clientMenuItems, linkMenuItems, messageMenuItems } from './node-menus.js';
import { Acting } from './acting.js';
import { DEFAULT_SCENARIO, Linking } from './linking.js';
import { buildLegend } from './legend.js';
import { Tour, showNote } from './tour.js';
import { HostBridge } from './embed.js';
import { installDrop, showOverlay, wireOverlay } from './dialogs.js';
import { SVG_LIMIT, SwarmView, WIRE_LIMIT, SHADE_CRASHED, SHADE_PAUSED } from './swarm.js';
import { FigureChart } from './figure-chart.js';
import { buildSwarmLegend } from './legend.js';


const ROLES = ['leader', 'candidate', 'follower', 'crashed', 'paused'];
/** The page's dialogs: each opens and closes through showOverlay (Esc, a click outside, ×). */
const OVERLAYS = ['#help', '#share', '#library', '#editor'];

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
    this.swarm = new SwarmView($('#swarm'), {
      onNode: (id, e) => this.openNodeMenu(id, e),
    });
    this.chart = new FigureChart($('#figure-chart'));
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
    $('#scenario-select').addEventListener('change', (e) => {
      // A comparison of two systems opens in the CAP lab, which shows both sides.
      const meta = this.scenarios.find((sc) => sc.name === e.target.value);
      if (meta?.sides?.length === 2) location.assign(`./cap.html?scenario=${encodeURIComponent(meta.name)}`);
      else this.load({ name: e.target.value });
    });
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
    $('[data-action="dismiss-alert"]').addEventListener('click', () => this.error(''));
    for (const tab of $$('[data-tab]')) tab.addEventListener('click', () => this.showTab(tab.dataset.tab));
    $('#scenario-desc').addEventListener('click', (e) => e.currentTarget.classList.toggle('open'));
    for (const id of OVERLAYS) wireOverlay($(id));
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
      session = new Session(Playground, source, seed, { large: (n, protocol) => this.isLarge(n, protocol) });
    } catch (e) {
      throw new Error(t('err.load', { msg: e.message ?? String(e) }));
    }
    // An inline scenario is kept as the simulator read it: valid JSON, every default spelled out.
    if (inline !== null) source = session.pg.scenarioJson();
    return { session, name: session.scenario.name, source, removed, inline: inline !== null };
  }

  /** Whether a cluster of n nodes is drawn on the canvas rather than node by node in SVG: past
   * SVG_LIMIT nodes for a protocol whose module colours dots (gossip, SWIM), past 64 for any. */
  isLarge(n, protocol) {
    return n > 64 || (n > SVG_LIMIT && Boolean(protocolModule(protocol).shades));
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
    setRoleAliases(this.module.roleAliases);
    if (this.partition.grouping) this.partition.stopGrouping();
    this.large = session.large;
    $('.svg-wrap').classList.toggle('swarm-mode', this.large);
    // The cluster leaves the right-hand side to the chart (HA's availability) rather than
    // drawing nodes and clients under it.
    $('.svg-wrap').classList.toggle('figures-beside', !this.large && Boolean(this.module.figuresBeside));
    $('#cluster').toggleAttribute('hidden', this.large); // an SVG element has no .hidden
    $('#swarm').hidden = !this.large;
    $('#figure-chart').hidden = true;
    this.figuresKey = null;
    $('[data-action="group"]').hidden = this.large;
    // A large cluster gets no SVG elements at all: one per node and per link is what the canvas
    // is there to avoid.
    const drawn = this.large ? { ...session, scenario: { ...session.scenario, nodes: 0, clients: 0 } } : session;
    this.cluster.setup(drawn, this.module, { t, scenario: session.scenario, session });
    if (this.large) $('#legend').open = true;
    if (this.large) this.swarm.setup(session.scenario.nodes, this.module.shades, (code, p) => this.shadeLabel(code, p));
    this.figuresAt = null;
    this.events.setup(session);
    this.history.invalidate();
    this.invariants.invalidate();
    this.inspector.invalidate();
    $('#protocol-tab').hidden = !this.module.panel || this.large;
    $('[data-action="isolate-leader"]').hidden = Boolean(this.module.leaderless);
    if ((!this.module.panel || this.large) && this.tab === 'protocol') this.showTab('inspector');
    this.tour.setup(session.scenario, tour ?? Boolean(session.scenario.tour));
    this.bridge.reset();
    this.lastKey = null;
    this.relabel();
    if (!keepAlert) this.error('');
    const compare = session.scenario.compare?.length === 2 ? t('cap.onlyOneSide', { name }) : '';
    this.status(removed.length ? t('resize.removed', {
      n: session.scenario.nodes, count: removed.length,
      list: removed.map(({ entry }) => `${entry.at_ms} ms ${describeAction(entry)}`).join('; '),
    }) : compare);
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
    // A panel's controls stay put while the panel body is redrawn (a select must not be
    // rebuilt under the pointer): HA's mode switch restarts the same scenario in another mode.
    const controls = $('.protocol-controls');
    controls.replaceChildren();
    if (!this.large && this.module.panel?.controls) {
      this.module.panel.controls(controls, { t, scenario: sc, session: this.session, act: (a) => this.act(a), restartWith: (edited) => this.load({ inline: JSON.stringify(edited), seed: this.session.seed }) });
    }
    if (this.large) buildSwarmLegend($('#legend .legend-body'), this.module, this.swarm.counts ?? {});
    else buildLegend($('#legend .legend-body'), this.module, this.module.roles ?? ROLES);
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
    if (this.large) {
      this.renderLarge(ts, force, key);
    } else if (key !== this.lastKey) {
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
    // A protocol drawn node by node may chart its figures beside the cluster too (HA's
    // availability over time).
    if (!this.large && this.module.figuresBeside) {
      this.updateFigures(ts, force, key);
      if (force) this.chart.draw();
    }
    if (!this.large) {
      this.cluster.tick(s.now);
      this.cluster.messages.update(JSON.parse(s.pg.inFlight()), s.now);
    }
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
        this.module.panel.render(box, this.nodes, { t, now: s.now, scenario: s.scenario, session: s });
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

  /** The protocol's figures and their chart, four times a second at most while playing; true
   * when they were read. */
  updateFigures(ts, force, key) {
    if (!force && this.playing && ts - (this.figuresAt ?? -1e9) <= 250) return false;
    if (this.figuresKey === key && !force) return false;
    const s = this.session;
    this.figuresKey = key;
    this.figuresAt = ts;
    const figures = JSON.parse(s.pg.figures());
    this.chart.update(figures && this.module.chart ? this.module.chart(figures, t) : null,
      figures && this.module.figureLines ? this.module.figureLines(figures, t) : []);
    return true;
  }

  /** A large cluster: the canvas from the simulator's typed arrays every step, the protocol's
   * figures and the chart four times a second while playing. */
  renderLarge(ts, force, key) {
    const s = this.session;
    if (key !== this.lastKey) {
      this.lastKey = key;
      this.swarm.update(s.pg.shades(), s.pg.wires(WIRE_LIMIT + 1));
      this.invariants.update(s);
      this.updateNote();
      this.slowPending = true;
    }
    if (force) {
      // A change of theme or size: redraw with the new colours.
      this.swarm.draw();
      this.chart.draw();
    }
    if (this.updateFigures(ts, force, key)) buildSwarmLegend($('#legend .legend-body'), this.module, this.swarm.counts ?? {});
    if (this.slowPending && (force || !this.playing || ts - (this.lastSlow ?? 0) > 180)) {
      // What the menus and the partition tool read of each node: its name and whether it runs.
      this.nodes = Array.from(this.swarm.shades, (c, i) => ({
        id: `n${i + 1}`, role: c === SHADE_CRASHED ? 'crashed' : c === SHADE_PAUSED ? 'paused' : 'follower', term: 0,
      }));
      this.clients = JSON.parse(s.pg.clients());
    }
  }

  /** The name of a shade in the large view, for the hover tag. */
  shadeLabel(code, p) {
    if (code === SHADE_CRASHED) return t('role.crashed');
    if (code === SHADE_PAUSED) return t('role.paused');
    return p ? t(p.key) : '';
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
    showNote($('#note'), this.session);
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
    const dialog = OVERLAYS.map((id) => $(id)).find((el) => !el.hidden);
    if (this.menu.isOpen) this.menu.close();
    else if (dialog) showOverlay(dialog, false);
    else if (this.partition.grouping) this.partition.stopGrouping();
  }

  toggleHelp() {
    const help = $('#help');
    showOverlay(help, help.hidden);
  }
}

Object.assign(App.prototype, Acting, Linking);

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
