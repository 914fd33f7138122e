// What the page draws for any protocol it has no module for, and the defaults every protocol
// module may override: message shapes by label, a tooltip from the message's fields, and an
// inspector that lists the node's state as nested key/value rows.

import { h, s, setAttr, setText } from '../js/dom.js';

const REPLY = /(Reply|Response|Ack|Promise|Accepted|Vote)$/;

function hash(text) {
  let x = 0;
  for (const ch of text) x = (x * 31 + ch.codePointAt(0)) >>> 0;
  return x;
}

/** Client traffic looks the same in every protocol. */
export function clientStyle(m) {
  if (m.label === 'Request') return { kind: 'client', shape: 'diamond', hollow: false };
  if (m.label === 'Response') {
    const reply = m.msg?.reply?.reply;
    return { kind: 'client', shape: 'diamond', hollow: true, denied: Boolean(reply) && reply !== 'done' };
  }
  return null;
}

export function messageStyle(m) {
  return clientStyle(m) ?? { kind: `k${hash(m.label) % 6}`, shape: 'circle', hollow: REPLY.test(m.label) };
}

/** Flattens a message body into [name, value] rows, nested objects as a.b. */
export function fieldRows(value, prefix = '', out = []) {
  if (value === null || typeof value !== 'object') {
    out.push([prefix || 'value', String(value)]);
  } else if (Array.isArray(value)) {
    out.push([prefix, value.length === 0 ? '[]' : value.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(', ')]);
  } else {
    for (const [k, v] of Object.entries(value)) fieldRows(v, prefix ? `${prefix}.${k}` : k, out);
  }
  return out;
}

export function describeMessage(m) {
  // A peer message is {"Label": {fields}}: show the fields, not the wrapper.
  const keys = m.msg && typeof m.msg === 'object' ? Object.keys(m.msg) : [];
  const body = keys.length === 1 && typeof m.msg[keys[0]] === 'object' ? m.msg[keys[0]] : m.msg;
  return fieldRows(body);
}

/**
 * Draws `shown` ([{text, cls}]) as centred lines of text under a node of radius `r`, on a
 * backing plate (`bg`) sized to them that keeps the text readable over links and messages.
 * `lines` is the caller's pool of text elements in `box`, grown as needed and reused.
 */
export function drawNodeLines(box, bg, lines, shown, r, font) {
  while (lines.length < shown.length) {
    const el = s('text', { 'text-anchor': 'middle' });
    box.append(el);
    lines.push(el);
  }
  const lh = font + 3;
  const y0 = r + 6 + font;
  lines.forEach((el, i) => {
    if (i >= shown.length) { setAttr(el, 'display', 'none'); return; }
    setAttr(el, 'display', 'inline');
    setAttr(el, 'class', shown[i].cls);
    setAttr(el, 'y', y0 + i * lh);
    setAttr(el, 'font-size', font);
    setText(el, shown[i].text);
  });
  let width = 0;
  for (let i = 0; i < shown.length; i++) width = Math.max(width, lines[i].getComputedTextLength());
  setAttr(bg, 'display', shown.length ? 'inline' : 'none');
  setAttr(bg, 'x', -width / 2 - 4);
  setAttr(bg, 'y', r + 5);
  setAttr(bg, 'width', width + 8);
  setAttr(bg, 'height', shown.length * lh + 4);
}

/**
 * A node's `nodeExtras` that draws a plate of text lines under the node, from the node's full
 * state (`inspect`, read once per step). `protocol` is the session's protocol name, `prefix`
 * the CSS class prefix (`<prefix>-node` on the node, `<prefix>-lines` and `<prefix>-lines-bg`
 * on the plate); `lines(info, view, nowMs)` returns the lines [{text, cls}]. `attrs(info,
 * view, nowMs)`, if given, returns the node's data-* test hooks ({'data-x': '1'}); both run
 * only when the lines may have changed. A crashed node's info is null when `skipCrashed`;
 * `inspectWhen(view, id)`, if given, says instead which nodes are inspected at all.
 */
export function textPlate(group, ctx, { protocol, prefix, lines: linesOf, skipCrashed = false, inspectWhen = null, attrs = null }) {
  group.classList.add(`${prefix}-node`);
  const box = s('g', { class: `${prefix}-lines` });
  const bg = s('rect', { class: `${prefix}-lines-bg`, rx: 4 });
  box.append(bg);
  group.append(box);
  const lines = [];
  const cache = {};
  let r = 30;
  let font = 11;
  let drawn = '';
  function layout(radius) {
    r = radius;
    font = Math.max(10, Math.min(13, Math.round(r * 0.34)));
    drawn = '';
  }
  function update(view, _timers, nowMs = 0) {
    const id = view.id ?? group.dataset.node;
    const wanted = inspectWhen ? inspectWhen(view, id) : !(skipCrashed && view.role === 'crashed');
    const info = wanted ? inspectCached(cache, ctx, id, protocol) : null;
    const shown = linesOf(info, view, nowMs);
    const key = `${JSON.stringify(shown)}|${view.role}|${r}`;
    if (key === drawn) return;
    drawn = key;
    if (attrs) for (const [name, value] of Object.entries(attrs(info, view, nowMs))) setAttr(group, name, value);
    drawNodeLines(box, bg, lines, shown, r, font);
  }
  return { layout, update };
}

/** Nothing protocol-specific to draw inside a node. */
export function nodeExtras() {
  return { update() {}, layout() {} };
}

/** Any JSON value as nested key/value rows. */
export function tree(value) {
  if (value === null || typeof value !== 'object') return h('span', { class: 'val', text: String(value) });
  const list = h('dl', { class: 'kv' });
  for (const [k, v] of Object.entries(value)) list.append(h('dt', { text: k }), h('dd', {}, [tree(v)]));
  return list;
}

/** A two-column table of [name, value] rows. */
export function kvTable(pairs) {
  const table = h('table', { class: 'kv-table' });
  for (const [k, v] of pairs) table.append(h('tr', {}, [h('th', { text: k }), h('td', { text: String(v ?? '—') })]));
  return table;
}

/** The inspector's list of a node's timers with the time left on each. */
export function timersSection(box, info, ctx) {
  if (!info.timers?.length) return;
  box.append(h('h4', { text: ctx.t('inspector.timers') }));
  for (const tm of info.timers) {
    const left = tm.fires_us / 1000 - ctx.now;
    // A paused node's timer that came due waits for it to resume.
    const when = left >= 0 ? ctx.t('inspector.firesIn', { ms: left.toFixed(1) }) : ctx.t('inspector.heldSince', { ms: (-left).toFixed(1) });
    box.append(h('p', { class: 'mono', text: `${JSON.stringify(tm.timer)} · ${when}` }));
  }
}

/**
 * A node's full state (`inspect`), read at most once per step of the run: the clock moving
 * without a step changes nothing in it. Only from a session of `protocol` (in the CAP lab the
 * drawing context may belong to another side). `cache` is the caller's object.
 */
export function inspectCached(cache, ctx, id, protocol) {
  const session = ctx?.session;
  if (!session?.pg || session.protocol !== protocol) return null;
  const key = `${session.steps}|${session.version}`;
  if (cache.pg === session.pg && cache.key === key) return cache.info;
  cache.pg = session.pg;
  cache.key = key;
  try { cache.info = JSON.parse(session.pg.inspect(id)); } catch { cache.info = null; }
  return cache.info;
}

export function inspector(box, info, ctx) {
  box.append(h('h4', { text: ctx.t('inspector.state') }), tree(info.state));
  timersSection(box, info, ctx);
}

export function legend(t) {
  return [
    { kind: 'client', shape: 'diamond', hollow: false, label: t('legend.clientRequest') },
    { kind: 'client', shape: 'diamond', hollow: true, label: t('legend.clientResponse') },
  ];
}

/** Extra legend rows for what a protocol draws inside its nodes: [{icon, label}]. */
export function legendExtras() {
  return [];
}

/**
 * The chart beside a large cluster (see js/figure-chart.js), from the protocol's figures: by
 * default, a `curve` of informed nodes per round beside the theory's `theory.curve`, as gossip
 * reports them; null (no chart) for figures without one.
 */
export function chart(figures, t) {
  if (!Array.isArray(figures?.curve) || figures.curve.length === 0) return null;
  const theory = Array.isArray(figures.theory?.curve) ? figures.theory.curve : [];
  const rounds = Math.max(figures.curve.length, Math.min(theory.length, figures.curve.length + 4));
  return {
    title: t('chart.informed'),
    xLabel: t('chart.round'),
    ymax: figures.live ?? undefined,
    series: [
      { label: t('chart.theory', { formula: figures.theory?.formula ?? '' }), color: '#8a94a6', values: theory.slice(0, rounds).map((v) => Math.round(v * 10) / 10), dash: true },
      { label: t('chart.measured'), color: '#d95f02', values: figures.curve },
    ],
  };
}

/** The figures as lines of text under the chart: [{name, value, text}]. By default every
 * top-level number, named by its key. */
export function figureLines(figures) {
  if (!figures || typeof figures !== 'object') return [];
  return Object.entries(figures)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => ({ name: k, value: v, text: `${k.replaceAll('_', ' ')}: ${Number.isInteger(v) ? v : v.toFixed(3)}` }));
}

export default { name: 'generic', messageStyle, describeMessage, nodeExtras, textPlate, inspector, legend, legendExtras, chart, figureLines };
