// One side of the CAP lab: its run (a Session with time travel), the cluster drawn as in the
// playground, the figures that matter for CAP (availability overall and per side of the
// partition, stale reads, the linearizability verdict, latency), the charts and the client
// timeline. Test hooks on the stats box: data-availability, data-minority-availability,
// data-majority-availability (percent, "" when unknown), data-stale-reads, data-linearizable
// ("true", "false" or ""), data-witness, data-siblings (the most concurrent versions one replica
// holds of one key now); for the atomic-commitment protocols also data-refused-reads (reads
// refused, their key locked) and data-dirty-reads (reads of a value whose transaction failed);
// when every side has a leader (the consensus comparison) also data-messages-per-write,
// data-write-p50, data-write-p99 (ms), data-leaderless-ms (the time without a leader after the
// first crash of a leader, "" before one) and data-leaderless-now (ms without a leader so far,
// "" while one leads).

import { $, h, setAttr, setText } from '../dom.js';
import { pick, t } from '../i18n.js';
import { ClusterView } from '../cluster.js';
import { protocolModule } from '../../protocols/index.js';
import { SideCharts } from './charts.js';
import { Timeline } from './timeline.js';
import { bySide, cumulative, isolation, liveHistory, partitions, pending, quietLatency, series } from './measure.js';
import { clientHomes } from './controls.js';
import { SwarmView, WIRE_LIMIT } from '../swarm.js';
import { FigureChart } from '../figure-chart.js';

const BUCKET_MS = 500;
const pct = (v) => (v === null || v === undefined ? '' : v.toFixed(1));

export class SideView {
  constructor(root, index, shared, { onJump, onNode }) {
    this.root = root;
    this.index = index;
    this.shared = shared;
    this.title = $('.side-title', root);
    this.statsBox = $('.stats', root);
    this.cluster = new ClusterView($('.cluster', root), {
      onNode: (id, e) => onNode(id, e),
      onClient: () => {},
      onLink: () => {},
      onLinkMenu: () => {},
      onMessage: () => {},
      onMessageHover: () => {},
    });
    this.swarm = new SwarmView($('.swarm', root), { onNode: (id, e) => onNode(id, e) });
    this.figure = new FigureChart($('.side-figure', root));
    this.charts = new SideCharts($('.charts', root), shared);
    this.timeline = new Timeline($('.timeline', root), { onJump });
    this.stats = null;
  }

  /** A new run for this side: `side` is the scenario's compare entry. */
  setup(session, side) {
    this.convergence?.copy?.free();
    this.convergence = null;
    this.session = session;
    this.side = side;
    this.module = protocolModule(session.protocol);
    // A large cluster is dots on a canvas, with the protocol's own chart (gossip: informed
    // nodes per round beside the theory) in place of the CAP charts.
    this.large = session.large;
    $('.cluster', this.root).toggleAttribute('hidden', this.large); // an SVG element has no .hidden
    $('.swarm', this.root).hidden = !this.large;
    $('.charts', this.root).hidden = this.large;
    this.figure.box.hidden = !this.large;
    const drawn = this.large ? { ...session, scenario: { ...session.scenario, nodes: 0, clients: 0 } } : session;
    this.cluster.setup(drawn, this.module, { t, scenario: session.scenario, session });
    if (this.large) this.swarm.setup(session.scenario.nodes, this.module.shades, (code, p) => (p ? t(p.key) : ''));
    this.root.dataset.protocol = session.protocol;
    this.root.dataset.name = side.name;
    this.timeline.reset();
    this.lastKey = null;
    this.metricsKey = null;
    // The lab relabels both sides (and builds their charts) once both are set up.
  }

  relabel() {
    if (!this.side) return;
    this.titleKey = null;
    this.drawTitle();
    this.charts.relabel();
    this.timeline.reset();
    this.lastKey = null;
    this.metricsKey = null;
  }

  /** The side's title, and the settings it runs with now once a live change made them differ
   * from what the title says. */
  drawTitle() {
    const base = pick(this.side.title) || `${this.side.name}: ${this.session.protocol}`;
    const changed = JSON.parse(this.session.pg.actions()).filter((a) => a.action === 'configure');
    let text = base;
    if (changed.length) {
      const p = { ...(this.session.scenario.params ?? {}) };
      for (const a of changed) Object.assign(p, a.params);
      text = `${base} ${t('cap.nowSettings', { n: p.n, w: p.w, r: p.r, mode: t(`cap.mode.${p.mode}`) })}`;
    }
    if (text !== this.titleKey) {
      this.titleKey = text;
      setText(this.title, text);
    }
  }

  /** The cheap part, every frame: nodes, links, clients, messages. */
  drawCluster(playing, ts) {
    const s = this.session;
    const key = `${s.steps}|${s.version}`;
    if (this.large) {
      if (key !== this.lastKey) {
        this.lastKey = key;
        this.swarm.update(s.pg.shades(), s.pg.wires(WIRE_LIMIT + 1));
      }
      return;
    }
    if (key !== this.lastKey) {
      this.lastKey = key;
      const nodes = JSON.parse(s.pg.nodes());
      if (!playing || ts - (this.lastTimers ?? 0) > 100) {
        this.lastTimers = ts;
        this.timers = JSON.parse(s.pg.timers());
      }
      this.cluster.updateNodes(nodes, this.timers, s.now, t);
      const links = s.pg.links();
      if (links !== this.lastLinks) {
        this.lastLinks = links;
        this.cluster.updateLinks(JSON.parse(links), t);
      }
      this.cluster.updateClients(JSON.parse(s.pg.clients()), t);
    }
    this.cluster.tick(s.now);
    this.cluster.messages.update(JSON.parse(s.pg.inFlight()), s.now);
  }

  /** The heavy part, a few times a second: the history through the checker and the figures.
   * Returns the chart data so the lab can share scales between both sides. */
  measure() {
    const s = this.session;
    const key = `${s.steps}|${s.version}`;
    if (key === this.metricsKey) return this.stats;
    this.metricsKey = key;
    const history = liveHistory(JSON.parse(s.pg.historyLive()));
    let checked = { linearizable: null, witness: [], stale_reads: [], siblings: null, per_client: {} };
    try {
      checked = JSON.parse(s.pg.metrics(BUCKET_MS));
    } catch (e) {
      console.error(e);
    }
    const actions = JSON.parse(s.pg.actions());
    const windows = partitions(actions, s.scenario.nodes, clientHomes(s.scenario));
    const end = Math.max(s.end, s.now);
    const sr = series(history, end, BUCKET_MS, s.now);
    const staleTimes = checked.stale_reads.map((r) => (history[r.index]?.return_us ?? r.invoke_us) / 1000);
    const witness = new Set(checked.witness ?? []);
    const witnessTimes = [...witness].map((i) => history[i]?.invoke_us / 1000).filter(Number.isFinite);
    const done = history.filter((op) => !pending(op));
    const ok = done.filter((op) => op.outcome === 'ok').length;
    const transactional = Boolean(protocolModule(s.protocol).ops?.includes('txn'));
    let consensus = null;
    if (this.shared.consensus) {
      try { consensus = JSON.parse(s.pg.consensus()); } catch (e) { console.error(e); }
    }
    this.stats = {
      consensus,
      transactional,
      isolation: transactional ? isolation(history) : null,
      history, windows, end,
      stale: new Set(checked.stale_reads.map((r) => r.index)),
      witness,
      linearizable: checked.linearizable,
      siblings: checked.siblings ?? null,
      perClient: checked.per_client ?? {},
      availability: done.length ? (100 * ok) / done.length : null,
      sides: bySide(history, windows),
      quietP50: quietLatency(history, windows),
      latency: checked.latency_ms ?? null,
      ops: history.length,
      charts: {
        ops: [sr.x, sr.okRate, sr.failRate],
        avail: [sr.x, sr.availability],
        anomalies: [sr.x, cumulative(staleTimes, sr.x), cumulative(witnessTimes, sr.x)],
        latency: [sr.x, sr.p50, sr.p99],
      },
    };
    return this.stats;
  }

  /** Draws the figures, the charts and the timeline from the last `measure`. */
  drawStats() {
    const st = this.stats;
    const s = this.session;
    if (!st) return;
    const box = this.statsBox;
    setAttr(box, 'data-availability', pct(st.availability));
    setAttr(box, 'data-minority-availability', pct(st.sides.minority.pct));
    setAttr(box, 'data-majority-availability', pct(st.sides.majority.pct));
    setAttr(box, 'data-stale-reads', st.stale.size);
    setAttr(box, 'data-linearizable', st.linearizable === null ? '' : String(st.linearizable));
    setAttr(box, 'data-witness', st.witness.size);
    setAttr(box, 'data-siblings', st.siblings ?? '');
    setAttr(box, 'data-refused-reads', st.isolation ? st.isolation.refused : '');
    setAttr(box, 'data-dirty-reads', st.isolation ? st.isolation.dirty.size : '');
    const c = st.consensus;
    const open = c?.leaderless.find((g) => g.to_ms === null) ?? null;
    const num = (v, digits) => (v === null || v === undefined ? '' : v.toFixed(digits));
    setAttr(box, 'data-messages-per-write', num(c?.messages_per_write, 1));
    setAttr(box, 'data-write-p50', num(c?.write_latency_ms?.p50, 1));
    setAttr(box, 'data-write-p99', num(c?.write_latency_ms?.p99, 1));
    setAttr(box, 'data-leaderless-ms', num(c?.leaderless_after_crash_ms, 1));
    setAttr(box, 'data-leaderless-now', open ? num(open.ms, 1) : '');
    const lin = st.linearizable === null ? '–' : st.linearizable ? t('cap.linYes') : t('cap.linNo');
    const items = [
      ['avail', t('cap.statAvail'), st.availability === null ? '–' : `${pct(st.availability)}%`, ''],
      ['minority', t('cap.statMinority'), st.sides.minority.pct === null ? '–' : `${pct(st.sides.minority.pct)}%`,
        st.sides.minority.pct !== null && st.sides.minority.pct < 50 ? 'bad' : ''],
      ['majority', t('cap.statMajority'), st.sides.majority.pct === null ? '–' : `${pct(st.sides.majority.pct)}%`, ''],
      ['stale', t('cap.statStale'), String(st.stale.size), st.stale.size ? 'warn' : ''],
      ['lin', t('cap.statLin'), lin, st.linearizable === false ? 'bad' : st.linearizable ? 'good' : ''],
      ['p50', t('cap.statP50'), st.latency ? `${st.latency.p50.toFixed(0)} ms` : '–', ''],
    ];
    if (st.isolation) {
      // Transactions: what other clients saw of them instead of the partition figures.
      items.splice(1, 2,
        ['refused', t('cap.statRefused'), String(st.isolation.refused), ''],
        ['dirty', t('cap.statDirty'), String(st.isolation.dirty.size), st.isolation.dirty.size ? 'bad' : '']);
    }
    if (this.shared.consensus) {
      // Leader-based protocols side by side: what agreement costs instead of the partition
      // figures (a crash, not a partition, is this comparison's fault).
      const msText = (v) => (v === null || v === undefined ? '–' : `${v.toFixed(0)} ms`);
      items.splice(1, 2,
        ['msgs', t('cap.statMessages'), c?.messages_per_write == null ? '–' : c.messages_per_write.toFixed(1), ''],
        ['wp50', t('cap.statWriteP50'), msText(c?.write_latency_ms?.p50), ''],
        ['wp99', t('cap.statWriteP99'), msText(c?.write_latency_ms?.p99), '']);
      items.splice(items.findIndex(([id]) => id === 'p50'), 1);
      if (open) items.push(['noleader', t('cap.statNoLeaderNow'), msText(open.ms), 'bad']);
      else items.push(['noleader', t('cap.statNoLeader'), msText(c?.leaderless_after_crash_ms), '']);
    }
    const figures = this.large ? JSON.parse(s.pg.figures()) : null;
    if (this.large) {
      // The protocol's own headline figures (gossip: informed, rounds, messages per node) in
      // place of the CAP figures, which need client operations these runs may not have.
      const lines = figures && this.module.figureLines ? this.module.figureLines(figures, t) : [];
      items.splice(0, items.length, ...lines.filter((l) => l.stat).map((l) => [l.name, l.stat, l.statValue ?? String(l.value ?? '–'), l.tone ?? '']));
    }
    if (!this.large && st.siblings !== null && !st.isolation && !this.shared.consensus && s.protocol !== 'raft') items.push(['siblings', t('cap.statSiblings'), String(st.siblings), st.siblings ? 'warn' : '']);
    const key = JSON.stringify(items);
    if (key !== this.statsKey) {
      this.statsKey = key;
      box.replaceChildren(...items.map(([id, label, value, tone]) => h('span', { class: `stat ${tone}`, 'data-stat': id }, [
        h('span', { class: 'stat-label', text: label }), h('b', { text: value }),
      ])));
    }
    this.drawTitle();
    if (this.large) {
      this.figure.update(figures && this.module.chart ? this.module.chart(figures, t) : null,
        figures && this.module.figureLines ? this.module.figureLines(figures, t) : []);
    } else {
      this.charts.update(st.charts, { now: s.now, end: st.end, windows: st.windows });
    }
    const clients = Array.from({ length: s.scenario.clients ?? 0 }, (_, i) => `c${i + 1}`);
    this.timeline.render({ history: st.history, clients, now: s.now, end: st.end, windows: st.windows, stale: st.stale, witness: st.witness });
  }
}
