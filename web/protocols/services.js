// The service graph's drawing (crate/src/protocols/services/): services calling each other
// with timeouts, retries, circuit breakers, rate limiters, bulkheads and fallbacks.
// - layout: layers of the call graph left to right (a service's layer is its longest call
//   path from a source), instead of the circle;
// - each node: the service's name, a load bar (requests in progress / capacity) and a queue bar
//   (queued / queue limit) coloured by health (ok, busy, overloaded), its rate limiter if any
//   (tokens left in a token bucket); a source shows its rate;
// - each call edge: an arrow to the callee, a badge with its breaker's state (closed, open,
//   half-open) and letters for the patterns on it (T timeout, R retry, B bulkhead, F fallback);
// - charts beside the graph: end-to-end success rate, latency p50/p99, the load arriving at
//   each service (retry amplification), and a timeline of every breaker's states;
// - the Patterns tab (services-panel.js): edit an edge's patterns or a service live.
// Test hooks: on each node data-service, data-health, data-in-progress, data-queued; on each
// edge badge data-edge="gateway->db" and data-breaker-state.

import { h, s, setAttr, setText } from '../js/dom.js';
import * as generic from './generic.js';
import { panel } from './services-panel.js';

export const name = 'services';
export const roles = ['source', 'ok', 'busy', 'overloaded', 'crashed', 'paused'];
// No leader and no term: a service graph.
export const leaderless = true;

export function messageStyle(m) {
  const client = generic.clientStyle(m);
  if (client) return client;
  switch (m.label) {
    case 'Call': return { kind: 'append', shape: 'circle', hollow: false };
    case 'Reply': return { kind: 'append', shape: 'circle', hollow: true };
    case 'ErrorReply': return { kind: 'append', shape: 'circle', hollow: true, denied: true };
    default: return generic.messageStyle(m);
  }
}

const params = (scenario) => scenario?.params ?? {};
const servicesOf = (scenario) => (Array.isArray(params(scenario).services) ? params(scenario).services : []);
const callsOf = (scenario) => (Array.isArray(params(scenario).calls) ? params(scenario).calls : []);
export const edgeKey = (c) => `${c.from}->${c.to}`;

/** Only the links that carry calls are drawn (and clickable): between a caller and its
 * dependency, and from a client to a source, where client requests enter. */
export function linkShown(a, b, scenario) {
  const svc = servicesOf(scenario);
  const name = (id) => svc[Number(id.slice(1)) - 1]?.name;
  if (a.startsWith('c')) return (svc[Number(b.slice(1)) - 1]?.rate ?? 0) > 0;
  const [x, y] = [name(a), name(b)];
  return callsOf(scenario).some((c) => (c.from === x && c.to === y) || (c.from === y && c.to === x));
}

/** Each service's layer: the length of its longest call path from a source (a service nobody
 * calls). A cycle (not a valid graph, but drawable) is cut where it closes. */
export function layers(services, calls) {
  const names = services.map((sv) => sv.name);
  const callers = new Map(names.map((n) => [n, []]));
  for (const c of calls) if (callers.has(c.to) && callers.has(c.from)) callers.get(c.to).push(c.from);
  const memo = new Map();
  const depth = (n, seen) => {
    if (memo.has(n)) return memo.get(n);
    if (seen.has(n)) return 0;
    seen.add(n);
    const d = Math.max(0, ...callers.get(n).map((c) => depth(c, seen) + 1));
    seen.delete(n);
    memo.set(n, d);
    return d;
  };
  return names.map((n) => depth(n, new Set()));
}

/** Positions of the nodes: one column per layer, the services of a layer spread down it. */
/** A tall, narrow stage (a phone) has its layers top to bottom instead of left to right. */
const upright = (area, columns) => area.h > area.w && area.w < columns * 110;

export function layout(ids, area, scenario) {
  const services = servicesOf(scenario);
  if (services.length !== ids.length || ids.length === 0) return null;
  const layer = layers(services, callsOf(scenario));
  const columns = Math.max(...layer) + 1;
  const vertical = upright(area, columns);
  // Room at either end for a node's bars (as wide as in nodeExtras' layout) and its limiter;
  // upright, room above for the health pill and below for the bars.
  const margin = Math.max(area.r, Math.max(56, area.r * 2.5) / 2, 56) + 6;
  const [from, to] = vertical ? [area.above, area.h - area.below] : [margin, area.w - margin];
  const [top, bottom] = vertical ? [margin * 0.8, area.w - margin * 0.8] : [area.above, Math.max(area.above + 1, area.h - area.below)];
  const out = {};
  for (let L = 0; L < columns; L++) {
    const members = ids.filter((_, i) => layer[i] === L);
    const along = columns === 1 ? (from + to) / 2 : from + ((to - from) * L) / (columns - 1);
    members.forEach((id, j) => {
      const across = top + ((bottom - top) * (j + 0.5)) / members.length;
      out[id] = vertical ? { x: across, y: along } : { x: along, y: across };
    });
  }
  return out;
}

/** Smaller nodes than on the circle: the columns need room between them for the badges. */
export function nodeRadius(area, scenario) {
  const services = servicesOf(scenario);
  const layer = layers(services, callsOf(scenario));
  const columns = services.length ? Math.max(...layer) + 1 : 1;
  const rows = Math.max(1, ...Array.from({ length: columns }, (_, L) => layer.filter((x) => x === L).length));
  const [length, breadth] = upright(area, columns) ? [area.h / 1.6, area.w] : [area.w, area.h];
  return Math.round(Math.max(18, Math.min(32, length / (columns * 5), breadth / (rows * 4.2))));
}

export function belowNode(r) {
  return 8 + 3 * (Math.max(11, Math.round(r * 0.3)) + 3) + 4;
}

/** The name, the load and queue bars (or a source's rate) of one service. */
export function nodeExtras(group, ctx) {
  group.classList.add('svc-node');
  const id = group.dataset.node;
  const spec = servicesOf(ctx?.scenario)[Number(id.slice(1)) - 1] ?? { name: id };
  setAttr(group, 'data-service', spec.name);
  const nameEl = group.querySelector('.name');
  setText(nameEl, spec.name);
  const box = s('g', { class: 'svc-bars' });
  const bar = (kind) => {
    const g = s('g', { class: `svc-bar svc-${kind}`, 'data-bar': kind });
    const bg = s('rect', { class: 'svc-bar-bg', rx: 2 });
    const fill = s('rect', { class: 'svc-bar-fill', rx: 2 });
    const text = s('text', { class: 'svc-bar-text', 'text-anchor': 'middle' });
    g.append(bg, fill, text);
    box.append(g);
    return { g, bg, fill, text };
  };
  const load = bar('load');
  const queue = bar('queue');
  const rate = s('text', { class: 'svc-rate', 'text-anchor': 'middle' });
  // The rate limiter in front of the service, if any: its kind and what it lets through.
  const limiter = s('text', { class: 'svc-limiter', 'text-anchor': 'middle', 'data-limiter': '' });
  box.append(rate, limiter);
  group.append(box);
  const cache = {};
  let r = 30;
  let bw = 60;
  let bh = 12;
  let drawn = '';
  function layout(radius) {
    r = radius;
    // A long name gets a smaller font to stay inside the circle.
    setAttr(nameEl, 'font-size', Math.round(Math.min(r * 0.5, (1.8 * r) / Math.max(3, spec.name.length * 0.7))));
    setAttr(nameEl, 'y', r * 0.12);
    bw = Math.round(Math.max(56, r * 2.5));
    bh = Math.max(11, Math.round(r * 0.3));
    [load, queue].forEach((b, k) => {
      const y = r + 6 + k * (bh + 3);
      for (const el of [b.bg, b.fill]) { setAttr(el, 'x', -bw / 2); setAttr(el, 'y', y); setAttr(el, 'height', bh); }
      setAttr(b.bg, 'width', bw);
      setAttr(b.text, 'y', y + bh - 2.5);
      setAttr(b.text, 'font-size', bh - 2);
    });
    setAttr(rate, 'y', r + 6 + bh);
    setAttr(rate, 'font-size', bh);
    setAttr(limiter, 'y', r + 6 + 3 * bh + 2);
    setAttr(limiter, 'font-size', bh - 1);
    drawn = '';
  }
  function update(view) {
    const info = generic.inspectCached(cache, ctx, id, 'services');
    const st = info?.state ?? null;
    const source = st ? st.kind === 'source' : Number(spec.rate) > 0;
    const health = view.role === 'crashed' || view.role === 'paused' ? view.role : (st?.health ?? view.role);
    const inProgress = st?.in_progress ?? 0;
    const queued = st?.queued ?? 0;
    const cap = st?.capacity ?? spec.capacity ?? 10;
    const qmax = st?.queue_limit ?? spec.queue ?? 20;
    const lim = st?.limiter ?? null;
    const limText = lim ? ctx.t(`svc.node.${lim.kind}`, { n: lim.available ?? '…', capacity: lim.capacity, rate: lim.per_second, limit: lim.limit, ms: lim.window_ms })
      + (lim.per === 'caller' ? ` ${ctx.t('svc.node.perCaller')}` : '') : '';
    const loadText = ctx.t('svc.node.load', { n: inProgress, of: cap });
    const queueText = ctx.t('svc.node.queue', { n: queued, of: qmax });
    const rateText = ctx.t('svc.node.rate', { rate: st?.rate ?? spec.rate ?? 0 });
    // The texts themselves are in the key: a change of language redraws them.
    const key = `${health}|${loadText}|${queueText}|${rateText}|${limText}|${r}`;
    if (key === drawn) return;
    drawn = key;
    setAttr(group, 'data-health', health);
    setAttr(group, 'data-in-progress', String(inProgress));
    setAttr(group, 'data-queued', String(queued));
    setAttr(load.g, 'display', source ? 'none' : 'inline');
    setAttr(queue.g, 'display', source ? 'none' : 'inline');
    setAttr(rate, 'display', source ? 'inline' : 'none');
    setAttr(limiter, 'data-limiter', lim?.kind ?? '');
    setText(limiter, source ? '' : limText);
    if (source) {
      setText(rate, rateText);
      return;
    }
    setAttr(load.fill, 'width', (bw * Math.min(1, inProgress / Math.max(1, cap))).toFixed(1));
    setAttr(queue.fill, 'width', (bw * Math.min(1, queued / Math.max(1, qmax))).toFixed(1));
    setText(load.text, loadText);
    setText(queue.text, queueText);
  }
  return { layout, update };
}

const BREAKER_TEXT = { closed: 'svc.breaker.closed', open: 'svc.breaker.open', half_open: 'svc.breaker.half_open' };

/** The call edges over the links: an arrowhead at the callee and a badge per edge. */
export function graphExtras(layer, ctx, cluster) {
  const services = servicesOf(ctx?.scenario);
  const idOf = new Map(services.map((sv, i) => [sv.name, `n${i + 1}`]));
  const edges = [];
  // A pill: a rounded rect with a text, sized to it when the text changes.
  const pill = (cls) => {
    const g = s('g', { class: cls });
    const rect = s('rect', { rx: 6, height: 15, y: -8 });
    const text = s('text', { 'text-anchor': 'middle', y: 4 });
    g.append(rect, text);
    return { g, rect, text, width: 0 };
  };
  for (const c of callsOf(ctx?.scenario)) {
    const a = idOf.get(c.from);
    const b = idOf.get(c.to);
    if (!a || !b || a === b) continue;
    const link = cluster.links.get(`${a}-${b}`) ?? cluster.links.get(`${b}-${a}`);
    link?.g.classList.add('svc-call');
    const g = s('g', { class: 'svc-edge', 'data-edge-of': edgeKey(c) });
    const arrow = s('path', { class: 'svc-arrow' });
    // The breaker's state on one side of the line, the patterns' letters on the other.
    const badge = s('g', { class: 'svc-badge', 'data-edge': edgeKey(c), 'data-breaker-state': '' });
    const state = pill('svc-state');
    const marks = pill('svc-marks');
    const title = s('title');
    badge.append(state.g, marks.g, title);
    g.append(arrow, badge);
    layer.append(g);
    edges.push({ key: edgeKey(c), a, b, arrow, badge, state, marks, title, drawn: '' });
  }
  // The links that carry no call are drawn faint: messages never travel them.
  for (const link of cluster.links.values()) if (!link.g.classList.contains('svc-call') && !link.g.classList.contains('client-link')) link.g.classList.add('svc-idle');
  const caches = new Map();
  function layout(positions) {
    for (const e of edges) {
      const pa = positions.get(e.a);
      const pb = positions.get(e.b);
      if (!pa || !pb) continue;
      const dx = pb.x - pa.x;
      const dy = pb.y - pa.y;
      const len = Math.hypot(dx, dy) || 1;
      const ux = dx / len;
      const uy = dy / len;
      // The arrowhead just outside the callee's circle.
      const tipX = pb.x - ux * (pb.r + 3);
      const tipY = pb.y - uy * (pb.r + 3);
      const k = 8;
      setAttr(e.arrow, 'd', `M${tipX.toFixed(1)},${tipY.toFixed(1)}L${(tipX - ux * k - uy * k * 0.55).toFixed(1)},${(tipY - uy * k + ux * k * 0.55).toFixed(1)}L${(tipX - ux * k + uy * k * 0.55).toFixed(1)},${(tipY - uy * k - ux * k * 0.55).toFixed(1)}Z`);
      e.upright = Math.abs(dy) > 1.5 * Math.abs(dx);
      // The normal pointing up (or left), where the state goes; the letters go opposite.
      const side = ux >= 0 ? 1 : -1;
      e.normal = { x: uy * side, y: -ux * side };
      e.mid = { x: pa.x + dx * 0.5, y: pa.y + dy * 0.5 };
      placeBadge(e);
    }
  }
  /** Halfway along the edge, either side of the line so that the calls on it stay in sight;
   * beside an upright edge (a phone), both to its left, clear of the bars under the caller. */
  function placeBadge(e) {
    if (!e.mid) return;
    setAttr(e.badge, 'transform', `translate(${e.mid.x.toFixed(1)},${e.mid.y.toFixed(1)})`);
    const put = (p, k) => {
      const at = e.upright ? { x: -Math.max(e.state.width, e.marks.width) / 2 - 34, y: k * 9 } : { x: e.normal.x * 13 * k, y: e.normal.y * 13 * k };
      setAttr(p.g, 'transform', `translate(${at.x.toFixed(1)},${at.y.toFixed(1)})`);
    };
    put(e.state, e.upright ? -1 : 1);
    put(e.marks, e.upright ? 1 : -1);
  }
  const fill = (p, text) => {
    setAttr(p.g, 'display', text ? 'inline' : 'none');
    setText(p.text, text);
    p.width = text ? Math.max(18, p.text.getComputedTextLength() + 12) : 0;
    setAttr(p.rect, 'x', -p.width / 2);
    setAttr(p.rect, 'width', p.width);
  };
  function update() {
    for (const e of edges) {
      if (!caches.has(e.a)) caches.set(e.a, {});
      const info = generic.inspectCached(caches.get(e.a), ctx, e.a, 'services');
      const edge = info?.state?.edges?.find((x) => x.edge === e.key) ?? null;
      const call = callsOf(ctx?.scenario).find((c) => edgeKey(c) === e.key) ?? {};
      const cfg = edge ?? call;
      const marks = [cfg.timeout_ms != null ? 'T' : '', cfg.retry ? 'R' : '', cfg.bulkhead ? 'B' : '', cfg.fallback ? 'F' : ''].join('');
      const state = cfg.breaker ? (edge?.breaker?.state ?? 'closed') : '';
      const key = `${state}|${marks}|${ctx.t('svc.breaker.closed')}`;
      if (key === e.drawn) continue;
      e.drawn = key;
      setAttr(e.badge, 'data-breaker-state', state);
      setAttr(e.badge, 'data-patterns', marks);
      setAttr(e.badge, 'display', state || marks ? 'inline' : 'none');
      fill(e.state, state ? ctx.t(BREAKER_TEXT[state] ?? state) : '');
      fill(e.marks, marks);
      placeBadge(e);
      setText(e.title, ctx.t('svc.edge.title', {
        edge: e.key,
        breaker: state ? ctx.t(BREAKER_TEXT[state] ?? state) : ctx.t('svc.none'),
        patterns: marks.split('').map((m) => ctx.t(`svc.mark.${m}`)).join(', ') || ctx.t('svc.none'),
      }));
    }
  }
  return { layout, update };
}

export function inspector(box, info, ctx) {
  const st = info.state ?? {};
  if (!st.kind) { generic.inspector(box, info, ctx); return; }
  const { t } = ctx;
  const rows = st.kind === 'source'
    ? [[t('svc.col.rate'), st.rate]]
    : [
      [t('svc.col.health'), t(`role.${st.health}`)],
      [t('svc.col.load'), `${st.in_progress} / ${st.capacity}`],
      [t('svc.col.queue'), `${st.queued} / ${st.queue_limit}`],
      [t('svc.col.serviceMs'), (st.service_ms ?? []).join('–')],
      [t('svc.col.errorRate'), st.error_rate],
      [t('svc.col.loadPerS'), st.load_per_s],
    ];
  box.append(generic.kvTable(rows));
  if (st.edges?.length) {
    const heads = ['svc.col.edge', 'svc.col.breaker', 'svc.col.inFlight', 'svc.col.retries', 'svc.col.timeouts', 'svc.col.fallbacks'];
    box.append(h('table', { class: 'grid-table', 'data-testid': 'svc-node-edges' }, [
      h('tr', {}, heads.map((k) => h('th', { text: t(k) }))),
      ...st.edges.map((e) => h('tr', { 'data-edge-row': e.edge }, [
        h('th', { class: 'mono', text: e.edge }),
        h('td', { text: e.breaker ? `${t(BREAKER_TEXT[e.breaker.state] ?? e.breaker.state)}${e.breaker.failure_rate !== null && e.breaker.failure_rate !== undefined ? ` · ${Math.round(e.breaker.failure_rate)}%` : ''}` : '—' }),
        ...[e.in_flight, e.totals?.retries, e.totals?.timeouts, e.totals?.fallbacks].map((v) => h('td', { class: 'mono', text: String(v ?? '—') })),
      ])),
    ]));
  }
  generic.inspector(box, info, ctx);
}

// Okabe–Ito colours, one per service in the load chart.
const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];
const BAND = { closed: '#4caf50', open: '#d9534f', half_open: '#f0ad4e' };

/** Success, latency, load per service and the breaker timeline, stacked. */
export function chart(f, t) {
  const series = f?.series;
  if (!Array.isArray(series) || series.length === 0) return null;
  const bucket = f.bucket_ms ?? 500;
  const base = { xScale: bucket / 1000, legendRow: true };
  const out = [
    { ...base, id: 'success', title: t('svc.chart.success'), ymax: 100, legend: false, series: [{ label: t('svc.chart.successLine'), color: '#0072B2', values: series.map((p) => p.success) }] },
    { ...base, id: 'latency', title: t('svc.chart.latency'), series: [
      { label: 'p50', color: '#009E73', values: series.map((p) => p.p50) },
      { label: 'p99', color: '#D55E00', values: series.map((p) => p.p99) },
    ] },
  ];
  const names = (f.services ?? []).map((sv) => sv.name).filter((n) => series.some((p) => p.load?.[n] !== undefined));
  out.push({ ...base, id: 'load', title: t('svc.chart.load'), series: [
    { label: t('svc.chart.offered'), color: '#888888', dash: true, values: series.map((p) => p.offered) },
    ...names.map((n, i) => ({ label: n, color: PALETTE[i % PALETTE.length], values: series.map((p) => p.load?.[n] ?? null) })),
  ] });
  if (!f.breakers?.length) out.at(-1).xLabel = t('svc.chart.x');
  if (Array.isArray(f.breakers) && f.breakers.length) {
    const xmax = Math.max(1, series.length - 1);
    const key = ['closed', 'open', 'half_open'].map((st) => ({ label: t(BREAKER_TEXT[st]), color: BAND[st] }));
    out.push({ ...base, xLabel: t('svc.chart.x'), id: 'breakers', kind: 'bands', title: t('svc.chart.breakers'), key, xmax, rows: f.breakers.map((b) => {
      const bands = [];
      let from = 0;
      let state = 'closed';
      for (const tr of b.transitions ?? []) {
        const at = tr.at_ms / bucket;
        bands.push({ from, to: at, state, color: BAND[state] ?? '#999' });
        from = at;
        state = tr.to;
      }
      bands.push({ from, to: Math.max(from, xmax), state, color: BAND[state] ?? '#999' });
      return { label: b.edge, bands };
    }) });
  }
  return out;
}

export function figureLines(f, t) {
  if (!f || typeof f !== 'object' || f.requests === undefined) return [];
  const ms = (v) => (v === null || v === undefined ? '…' : `${Math.round(v)} ms`);
  const out = [
    { name: 'success_rate', value: f.success_rate, text: t('svc.fig.success', { pct: f.success_rate ?? 100, ok: (f.ok ?? 0) + (f.degraded ?? 0), all: (f.ok ?? 0) + (f.degraded ?? 0) + (f.failed ?? 0), degraded: f.degraded ?? 0, pending: f.pending ?? 0 }) },
    { name: 'latency', value: f.p99_ms, text: t('svc.fig.latency', { p50: ms(f.p50_ms), p99: ms(f.p99_ms) }) },
  ];
  if (f.recovery_from_ms !== null && f.recovery_from_ms !== undefined) {
    out.push({ name: 'recovered_ms', value: f.recovered_ms, text: f.recovered_ms === null || f.recovered_ms === undefined
      ? t('svc.fig.notRecovered', { from: (f.recovery_from_ms / 1000).toFixed(1) })
      : t('svc.fig.recovered', { ms: ms(f.recovered_ms), from: (f.recovery_from_ms / 1000).toFixed(1) }) });
  }
  for (const b of f.breakers ?? []) {
    out.push({ name: `breaker:${b.edge}`, value: b.state, text: t('svc.fig.breaker', { edge: b.edge, state: t(BREAKER_TEXT[b.state] ?? b.state), n: (b.transitions ?? []).length }) });
  }
  return out;
}

export function legend(t) {
  return [
    { kind: 'append', shape: 'circle', hollow: false, label: t('svc.legend.call') },
    { kind: 'append', shape: 'circle', hollow: true, label: t('svc.legend.reply') },
    { kind: 'append', shape: 'circle', hollow: true, denied: true, label: t('svc.legend.errorReply') },
    ...generic.legend(t),
  ];
}

export function legendExtras(t) {
  const badge = (text, cls) => s('svg', { class: 'legend-icon wide', viewBox: '0 0 40 16', width: 40, height: 16, 'aria-hidden': 'true' }, [
    s('g', { class: `svc-badge ${cls}` }, [s('rect', { x: 1, y: 1, width: 38, height: 14, rx: 6 }), s('text', { x: 20, y: 12, 'text-anchor': 'middle', text })]),
  ]);
  return [
    { icon: badge('TRBF', ''), label: t('svc.legend.marks') },
    { icon: badge('', 'legend-closed'), label: t('svc.breaker.closed') },
    { icon: badge('', 'legend-open'), label: t('svc.breaker.open') },
    { icon: badge('', 'legend-half_open'), label: t('svc.breaker.half_open') },
  ];
}

export default { name, roles, leaderless, messageStyle, layout, linkShown, nodeRadius, belowNode, nodeExtras, graphExtras, inspector, legend, legendExtras, chart, figureLines, figuresBeside: true, panel };
