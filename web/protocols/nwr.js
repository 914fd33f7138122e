// NWR's own drawing (a Dynamo-style quorum store, crate/src/protocols/nwr/). A leaderless
// store has no term and no log: each node shows the versions it holds per key ("x = 3", two
// siblings as "x = 2 ‖ 3", versions kept for another node as "x = 5 · for n2"); messages are shaped
// by what they do (reads circles, writes squares, hinted writes and handoff orange, read
// repair green, anti-entropy grey); the inspector lists per key the versions with their vector
// clock or timestamp, the key's preference list, the hints held and the coordinations in
// progress; the "Replicas" panel draws the consistent-hash ring and who holds what.
// The ring is computed here as ring.rs does (same hash), so keys nobody stores yet still show
// their home replicas; the inspector's "home" lists come from the simulator itself.

import { h, s, setAttr, setText } from '../js/dom.js';
import { t as tr } from '../js/i18n.js';
import * as generic from './generic.js';

export const name = 'nwr';
/** No leader, no term: the page's leader-only controls mean nothing here. */
export const leaderless = true;
/** Roles an NWR node can show (for the legend). */
export const roles = ['replica', 'crashed', 'paused'];
/** Words for the page's generic controls where NWR means something else by them: "time out
 * now" runs the anti-entropy beat; a client's request goes to any node, not to a leader. */
export const menuKeys = { timeout: 'nwr.menu.timeout', timeoutHint: 'nwr.menu.timeoutHint', requestAny: 'nwr.menu.requestAny' };
/** The inspector's hint before a node is picked. */
export const pickKey = 'nwr.pick';

const DEFAULTS = { n: 3, w: 2, r: 2, mode: 'strict', versioning: 'vector', coordinator_timeout_ms: 300, sloppy_after_ms: 50, anti_entropy_ms: 500 };

/** The scenario's params with the simulator's defaults, clamped as Nwr::start clamps them. */
export function params(scenario) {
  const p = { ...DEFAULTS, ...(scenario?.params ?? {}) };
  const nodes = scenario?.nodes ?? p.n;
  p.n = Math.max(1, Math.min(p.n, nodes));
  p.w = Math.min(p.w, p.n);
  p.r = Math.min(p.r, p.n);
  return p;
}

// ---- the ring (ring.rs) ----

const MASK = (1n << 64n) - 1n;
const POINTS_PER_NODE = 4;
const encoder = new TextEncoder();

/** FNV-1a 64 then MurmurHash3's finalizer, as ring::fnv. */
export function fnv(text) {
  let x = 0xcbf29ce484222325n;
  for (const b of encoder.encode(text)) x = ((x ^ BigInt(b)) * 0x100000001b3n) & MASK;
  x ^= x >> 33n;
  x = (x * 0xff51afd7ed558ccdn) & MASK;
  x ^= x >> 33n;
  x = (x * 0xc4ceb9fe1a85ec53n) & MASK;
  return x ^ (x >> 33n);
}

const ringCache = new Map();
/** Every node's points on the ring, sorted: [{at, node}]. */
function points(nodes) {
  if (!ringCache.has(nodes)) {
    const list = [];
    for (let n = 1; n <= nodes; n++) for (let p = 0; p < POINTS_PER_NODE; p++) list.push({ at: fnv(`n${n}#${p}`), node: `n${n}` });
    list.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : Number(a.node.slice(1)) - Number(b.node.slice(1))));
    ringCache.set(nodes, list);
  }
  return ringCache.get(nodes);
}

/** The walk round the ring from a key: every node in order, and the point where each is met. */
export function walk(key, nodes) {
  const pts = points(nodes);
  const at = fnv(key);
  let start = pts.findIndex((p) => p.at >= at);
  if (start < 0) start = 0;
  const order = [];
  for (let i = 0; i < pts.length && order.length < nodes; i++) {
    const p = pts[(start + i) % pts.length];
    if (!order.some((o) => o.node === p.node)) order.push(p);
  }
  return { at, order };
}

/** A key's N home replicas, its preference list. */
export const home = (key, nodes, n) => walk(key, nodes).order.slice(0, n).map((p) => p.node);

// ---- formatting ----

export function formatClock(clock) {
  if (!clock || typeof clock !== 'object') return String(clock ?? '—');
  if ('at_us' in clock) return `${(clock.at_us / 1000).toFixed(3)} ms · ${clock.node} #${clock.counter}`;
  const entries = Object.entries(clock);
  return entries.length ? `[${entries.map(([n, c]) => `${n}:${c}`).join(' ')}]` : '[]';
}

const values = (versions) => (versions ?? []).map((v) => v.value);
const formatVersions = (versions) => (versions?.length ? versions.map((v) => `${v.value} ${formatClock(v.clock)}`).join(' ‖ ') : '—');
const bodyOf = (m) => (m.msg && typeof m.msg === 'object' ? Object.values(m.msg)[0] ?? {} : {});

// ---- messages ----

export function messageStyle(m) {
  if (m.label === 'Response') {
    // A put answers Done, a get Done with the value; Rejected and Uncertain are failures.
    const reply = m.msg?.reply?.reply;
    return { kind: 'client', shape: 'diamond', hollow: true, denied: Boolean(reply) && reply !== 'done' };
  }
  const client = generic.clientStyle(m);
  if (client) return client;
  switch (m.label) {
    case 'Read': return { kind: 'nwr-read', shape: 'circle', hollow: false };
    case 'ReadReply': return { kind: 'nwr-read', shape: 'circle', hollow: true };
    case 'Write': return { kind: 'nwr-write', shape: 'square', hollow: false };
    case 'WriteAck': return { kind: 'nwr-write', shape: 'square', hollow: true };
    case 'HintedWrite': return { kind: 'nwr-hint', shape: 'square', hollow: false };
    case 'Handoff': return { kind: 'nwr-hint', shape: 'triangle', hollow: false };
    case 'HandoffAck': return { kind: 'nwr-hint', shape: 'triangle', hollow: true };
    case 'ReadRepair': return { kind: 'nwr-repair', shape: 'square', hollow: false, small: true };
    case 'AntiEntropy': return { kind: 'nwr-sync', shape: 'circle', hollow: bodyOf(m).reply === true, small: true };
    default: return generic.messageStyle(m);
  }
}

const MESSAGE_KEYS = {
  Read: 'nwr.msg.Read', ReadReply: 'nwr.msg.ReadReply', Write: 'nwr.msg.Write', WriteAck: 'nwr.msg.WriteAck',
  HintedWrite: 'nwr.msg.HintedWrite', Handoff: 'nwr.msg.Handoff', HandoffAck: 'nwr.msg.HandoffAck',
  ReadRepair: 'nwr.msg.ReadRepair', AntiEntropy: 'nwr.msg.AntiEntropy',
};

/** What the message is for in a sentence, then its fields in the store's terms. */
export function describeMessage(m) {
  const what = MESSAGE_KEYS[m.label];
  if (!what) return generic.describeMessage(m);
  const b = bodyOf(m);
  const rows = [[tr('nwr.field.what'), tr(what)]];
  if (b.key !== undefined) rows.push([tr('nwr.field.key'), b.key]);
  if (b.hint) rows.push([tr('nwr.field.hintFor'), b.hint]);
  if (b.versions) rows.push([tr('nwr.field.versions'), formatVersions(b.versions)]);
  if (b.entries) {
    rows.push([tr('nwr.field.entries'), b.entries.length ? b.entries.map(([k, vs]) => `${k} = ${values(vs).join(' ‖ ') || '—'}`).join('; ') : '—']);
    if (b.reply) rows.push([tr('nwr.field.answer'), tr('nwr.field.syncAnswer')]);
  }
  if (b.id !== undefined && b.id !== null) rows.push([tr('nwr.field.coordination'), `#${b.id}`]);
  return rows;
}

// ---- what a node holds ----

/** The running session, to read the hints a node keeps and what it coordinates (neither is in
 * its view), from the drawing context both pages pass. Another protocol's session (the CAP
 * lab's other side) is not ours to read. */
function sessionOf(ctx) {
  const session = ctx?.session ?? null;
  return session?.protocol === 'nwr' && session.pg ? session : null;
}

/** A node's full state, read at most once per step of the run (the clock moving without a step
 * changes nothing in it). */
function inspectCached(cache, ctx, id) {
  const session = sessionOf(ctx);
  if (!session?.pg) return null;
  const key = `${session.steps}|${session.version}`;
  if (cache.pg === session.pg && cache.key === key) return cache.info;
  cache.pg = session.pg;
  cache.key = key;
  try { cache.info = JSON.parse(session.pg.inspect(id)); } catch { cache.info = null; }
  return cache.info;
}

/** [{key, values, hintFor?}] from a node's view (and its hints when known). */
export function holdings(view, info) {
  const out = [];
  const counts = view.log_terms ?? [];
  (view.store ?? []).forEach(([key, joined], i) => {
    const vals = (counts[i] ?? 1) > 1 ? String(joined).split(' | ') : [String(joined)];
    out.push({ key, values: vals });
  });
  for (const hint of info?.state?.hints ?? []) out.push({ key: hint.key, values: values(hint.versions), hintFor: hint.for });
  return out;
}

/** "put x=5 · W 1/2": a coordination's operation and its quorum so far. */
function quorumText(c, scenarioParams, live) {
  const p = { ...scenarioParams, ...(live ?? {}) };
  const op = c.put === null || c.put === undefined ? `get ${c.key}` : `put ${c.key}=${c.put}`;
  const writing = c.phase === 'writing';
  const need = writing ? c.w ?? p.w : c.r ?? p.r;
  return `${op} · ${writing ? 'W' : 'R'} ${(c.answered ?? []).length}/${need}`;
}

const lineText = (x) => `${x.key} = ${x.values.join(' ‖ ')}`;

/** The stored versions under the node, as a small label. */
export function nodeExtras(group, ctx) {
  group.classList.add('nwr-node');
  const id = group.getAttribute('data-node');
  const box = s('g', { class: 'nwr-store' });
  const bg = s('rect', { class: 'nwr-store-bg', rx: 4 });
  box.append(bg);
  // Above the node: the request it is coordinating and how far its quorum has got.
  const coord = s('text', { class: 'nwr-coord-label', 'text-anchor': 'middle' });
  group.append(box, coord);
  const lines = [];
  const cache = {};
  let r = 30;
  let font = 11;
  let maxLines = 3;
  let drawn = '';

  function layout(radius, crowded) {
    r = radius;
    font = Math.max(10, Math.min(14, Math.round(r * 0.36)));
    maxLines = crowded ? 2 : 3;
    drawn = '';
  }

  function update(view) {
    const info = view.role === 'crashed' ? null : inspectCached(cache, ctx, id);
    const held = holdings(view, info);
    const own = held.filter((x) => !x.hintFor);
    const hints = held.filter((x) => x.hintFor);
    const active = (info?.state?.coordinating ?? []).filter((x) => x.coordination.phase !== 'done');
    const quorum = active.length === 1 ? quorumText(active[0].coordination, params(ctx.scenario), info.state.params)
      : active.length ? tr('nwr.node.coordinating', { n: active.length }) : '';
    const key = `${JSON.stringify(held)}|${quorum}|${view.role}|${r}|${maxLines}`;
    if (key === drawn) return;
    drawn = key;
    setAttr(group, 'data-coordinating', quorum);
    setText(coord, quorum);
    setAttr(coord, 'y', view.role === 'paused' ? -r - 27 : -r - 8);
    setAttr(coord, 'font-size', font);
    setAttr(group, 'data-keys', own.map((x) => `${x.key}=${x.values.join('|')}`).join(';'));
    setAttr(group, 'data-siblings', own.filter((x) => x.values.length > 1).map((x) => x.key).join(';'));
    setAttr(group, 'data-hints', hints.map((x) => `${x.hintFor}:${x.key}=${x.values.join('|')}`).join(';'));
    // Own keys first, then hints; past the room, a "+k" line.
    const all = [...own, ...hints];
    const room = all.length > maxLines ? maxLines - 1 : maxLines;
    const shown = all.slice(0, room).map((x) => ({
      text: x.hintFor ? tr('nwr.node.hint', { line: lineText(x), node: x.hintFor }) : lineText(x),
      cls: x.hintFor ? 'nwr-line hinted' : x.values.length > 1 ? 'nwr-line siblings' : 'nwr-line',
    }));
    if (all.length > room) shown.push({ text: tr('nwr.node.more', { n: all.length - room }), cls: 'nwr-line more' });
    if (!all.length) shown.push({ text: tr('nwr.node.empty'), cls: 'nwr-line more' });
    generic.drawNodeLines(box, bg, lines, shown, r, font);
  }

  return { layout, update };
}

// ---- the inspector ----

function rows(pairs) {
  const table = h('table', { class: 'kv-table' });
  for (const [k, v] of pairs) table.append(h('tr', {}, [h('th', { text: k }), h('td', {}, [v instanceof Node ? v : h('span', { text: String(v ?? '—') })])]));
  return table;
}

function homeChips(list, self, t) {
  const box = h('span', { class: 'nwr-home', title: t('nwr.homeTitle') });
  list.forEach((n, i) => {
    if (i) box.append(h('span', { class: 'nwr-arrow', text: '→' }));
    box.append(h('span', { class: `nwr-chip${n === self ? ' self' : ''}`, text: n }));
  });
  return box;
}

function versionTable(versions, t) {
  const table = h('table', { class: 'grid-table nwr-versions' }, [
    h('tr', {}, [h('th', { text: t('nwr.value') }), h('th', { text: t('nwr.clock') }), h('th', { text: t('nwr.writer') })]),
  ]);
  for (const v of versions) table.append(h('tr', {}, [h('td', { class: 'mono nwr-value', text: v.value }), h('td', { class: 'mono', text: formatClock(v.clock) }), h('td', { text: v.writer })]));
  return table;
}

function paramsLine(p, t) {
  const overlap = p.w + p.r > p.n;
  return h('div', { class: 'nwr-params' }, [
    h('span', { class: 'nwr-param', text: `N = ${p.n}` }),
    h('span', { class: 'nwr-param', text: `W = ${p.w}` }),
    h('span', { class: 'nwr-param', text: `R = ${p.r}` }),
    h('span', { class: 'nwr-param', text: t(`nwr.mode.${p.mode}`) }),
    h('span', { class: 'nwr-param', text: t(`nwr.versioning.${p.versioning}`) }),
    h('span', { class: `nwr-verdict ${overlap ? 'ok' : 'no'}`, text: t(overlap ? 'nwr.overlap' : 'nwr.noOverlap', { sum: p.w + p.r, n: p.n }) }),
  ]);
}

function coordinationText(c, p, t) {
  const asked = (c.asked ?? []).map(([n, hint]) => (hint ? t('nwr.standIn', { node: n, home: hint }) : n)).join(', ');
  const op = c.put === null || c.put === undefined ? `get ${c.key}` : `put ${c.key} = ${c.put}`;
  // A coordination keeps the quorum it began under (a live change of W or R comes after it).
  const need = c.phase === 'writing' ? c.w ?? p.w : c.r ?? p.r;
  const got = (c.answered ?? []).length;
  return t(`nwr.phase.${c.phase}`, { op, client: c.client, got, need, asked: asked || '—' });
}

export function inspector(box, info, ctx) {
  const { t } = ctx;
  const self = info.id;
  if (info.state?.crashed) {
    const disk = info.state.on_disk ?? {};
    box.append(h('p', { class: 'hint', text: t('nwr.crashedNote') }));
    const held = holdings(disk, null);
    box.append(held.length ? rows(held.map((x) => [x.key, x.values.join(' ‖ ')])) : h('p', { class: 'hint', text: t('nwr.nothingStored') }));
    return;
  }
  const st = info.state ?? {};
  const p = { ...params(ctx.scenario), ...(st.params ?? {}) };
  box.append(paramsLine(p, t));
  const keys = st.keys ?? [];
  const nodes = ctx.scenario?.nodes ?? p.n;
  const homeOf = (k) => keys.find((x) => x.key === k)?.home ?? home(k, nodes, p.n);
  box.append(rows([
    [t('nwr.role'), t('nwr.roleText')],
    [t('nwr.homeFor'), keys.filter((k) => k.home?.includes(self)).map((k) => k.key).join(', ') || '—'],
    [t('nwr.writeCounter'), st.write_counter ?? 0],
  ]));

  box.append(h('h4', { text: t('nwr.stored', { n: keys.length }) }));
  if (!keys.length) box.append(h('p', { class: 'hint', text: t('nwr.nothingStored') }));
  for (const k of keys) {
    const card = h('div', { class: `nwr-key${k.versions.length > 1 ? ' has-siblings' : ''}`, 'data-key': k.key, 'data-versions': String(k.versions.length) });
    card.append(h('div', { class: 'nwr-key-head' }, [
      h('span', { class: 'nwr-key-name mono', text: k.key }),
      homeChips(k.home ?? homeOf(k.key), self, t),
      k.versions.length > 1 ? h('span', { class: 'nwr-badge siblings', text: t('nwr.siblings', { n: k.versions.length }) }) : null,
      k.home && !k.home.includes(self) ? h('span', { class: 'nwr-badge', text: t('nwr.notHome') }) : null,
    ]));
    card.append(versionTable(k.versions, t));
    if (k.versions.length > 1) card.append(h('p', { class: 'hint', text: t(p.versioning === 'lww' ? 'nwr.siblingsLww' : 'nwr.siblingsHint') }));
    box.append(card);
  }

  const hints = st.hints ?? [];
  box.append(h('h4', { text: t('nwr.hints', { n: hints.length }) }));
  if (!hints.length) box.append(h('p', { class: 'hint', text: t('nwr.noHints') }));
  for (const hint of hints) {
    const card = h('div', { class: 'nwr-key hinted', 'data-hint-for': hint.for, 'data-key': hint.key });
    card.append(h('div', { class: 'nwr-key-head' }, [
      h('span', { class: 'nwr-key-name mono', text: hint.key }),
      h('span', { class: 'nwr-badge hinted', text: t('nwr.keptFor', { node: hint.for }) }),
      homeChips(hint.home ?? homeOf(hint.key), self, t),
    ]));
    card.append(versionTable(hint.versions ?? [], t));
    box.append(card);
  }
  if (hints.length) box.append(h('p', { class: 'hint', text: t('nwr.hintsHint') }));

  const pending = st.coordinating ?? [];
  box.append(h('h4', { text: t('nwr.coordinating', { n: pending.length }) }));
  if (!pending.length) box.append(h('p', { class: 'hint', text: t('nwr.noCoordination') }));
  const list = h('ul', { class: 'nwr-coord' });
  for (const { id, coordination } of pending) list.append(h('li', { text: `#${id} · ${coordinationText(coordination, p, t)}` }));
  if (pending.length) box.append(list);

  box.append(h('h4', { text: t('inspector.timers') }));
  if (!info.timers?.length) box.append(h('p', { class: 'hint', text: t('inspector.noTimers') }));
  for (const tm of info.timers ?? []) {
    const left = tm.fires_us / 1000 - ctx.now;
    const [kind, arg] = typeof tm.timer === 'string' ? [tm.timer, null] : Object.entries(tm.timer)[0];
    const label = t(`nwr.timer.${kind}`, { id: arg?.id ?? '' });
    box.append(h('p', { class: 'mono', text: `${label} · ${t('inspector.firesIn', { ms: left.toFixed(1) })}` }));
  }
}

// ---- the panel: the ring, and who holds what ----

const NODE_COLOURS = 8;

function ringSvg(keys, nodes, p, homes, t) {
  const size = 280;
  const c = size / 2;
  const R = 92;
  const angle = (at) => (Number(at >> 32n) / 2 ** 32) * 2 * Math.PI - Math.PI / 2;
  const pos = (a, rad) => [c + rad * Math.cos(a), c + rad * Math.sin(a)];
  const svg = s('svg', { class: 'nwr-ring', viewBox: `0 0 ${size} ${size}`, width: size, height: size, role: 'img', 'aria-label': t('nwr.ringLabel') });
  svg.append(s('circle', { class: 'nwr-ring-line', cx: c, cy: c, r: R, fill: 'none' }));
  const shownKeys = keys.slice(0, 4);
  // Each key's walk clockwise to its N-th home replica, as an arc just inside the ring.
  shownKeys.forEach((key, i) => {
    const { at, order } = walk(key, nodes);
    const list = homes.get(key) ?? order.slice(0, p.n).map((o) => o.node);
    const last = order.find((o) => o.node === list[list.length - 1]) ?? order[0];
    const a0 = angle(at);
    let a1 = angle(last.at);
    if (a1 < a0) a1 += 2 * Math.PI;
    const rad = R - 9 - i * 7;
    const [x0, y0] = pos(a0, rad);
    const [x1, y1] = pos(a1, rad);
    const large = a1 - a0 > Math.PI ? 1 : 0;
    const k = `nwr-keyc${i % 4}`;
    const title = t('nwr.arcTitle', { key, list: list.join(' → ') });
    svg.append(s('path', { class: `nwr-arc ${k}`, d: `M${x0.toFixed(1)},${y0.toFixed(1)}A${rad},${rad} 0 ${large} 1 ${x1.toFixed(1)},${y1.toFixed(1)}`, fill: 'none' }, [s('title', { text: title })]));
    svg.append(s('circle', { class: `nwr-keydot ${k}`, cx: x0.toFixed(1), cy: y0.toFixed(1), r: 4 }, [s('title', { text: title })]));
    // In the middle, one line per key: its preference list.
    const y = c - ((shownKeys.length - 1) * 15) / 2 + i * 15;
    svg.append(s('text', { class: `nwr-keylabel ${k}`, x: c, y, 'text-anchor': 'middle', 'dominant-baseline': 'middle', text: `${key}: ${list.join(' → ')}` }));
  });
  // The nodes' points ("virtual nodes"); labels that would touch move outwards.
  const placed = [];
  for (const pt of points(nodes)) {
    const a = angle(pt.at);
    const [x, y] = pos(a, R);
    const idx = (Number(pt.node.slice(1)) - 1) % NODE_COLOURS;
    svg.append(s('circle', { class: `nwr-point nc${idx}`, cx: x.toFixed(1), cy: y.toFixed(1), r: 5 }, [s('title', { text: t('nwr.pointTitle', { node: pt.node }) })]));
    let level = 0;
    while (level < 3 && placed.some((q) => q.level === level && Math.abs(Math.atan2(Math.sin(q.a - a), Math.cos(q.a - a))) < 0.15)) level++;
    placed.push({ a, level });
    const [lx, ly] = pos(a, R + 14 + level * 12);
    svg.append(s('text', { class: `nwr-point-label nc${idx}`, x: lx.toFixed(1), y: ly.toFixed(1), 'text-anchor': 'middle', 'dominant-baseline': 'middle', text: pt.node }));
  }
  return svg;
}

const RANKS = '①②③④⑤⑥⑦⑧⑨';

export const panel = {
  titleKey: 'nwr.panelTab',
  render(box, nodes, ctx) {
    const { t } = ctx;
    const count = ctx.scenario?.nodes ?? nodes.length;
    const session = sessionOf(ctx);
    // The settings the nodes run with (they can change live), else the scenario's.
    let p = params(ctx.scenario);
    const homes = new Map();
    // key → node → {values, hints: [{for, values}]}
    const held = new Map();
    const cell = (k, n) => {
      if (!held.has(k)) held.set(k, new Map());
      const row = held.get(k);
      if (!row.has(n)) row.set(n, { values: null, hints: [] });
      return row.get(n);
    };
    for (const v of nodes) {
      let info = null;
      if (v.role !== 'crashed' && session?.pg) { try { info = JSON.parse(session.pg.inspect(v.id)); } catch { info = null; } }
      if (info?.state?.params) p = { ...p, ...info.state.params };
      for (const k of info?.state?.keys ?? []) if (k.home) homes.set(k.key, k.home);
      for (const k of info?.state?.hints ?? []) if (k.home) homes.set(k.key, k.home);
      for (const x of holdings(v, info)) {
        if (x.hintFor) cell(x.key, v.id).hints.push({ for: x.hintFor, values: x.values });
        else cell(x.key, v.id).values = x.values;
      }
    }
    const keys = [...held.keys()].sort();
    box.append(paramsLine(p, t));
    const wrap = h('div', { class: 'nwr-panel' });
    const table = h('table', { class: 'grid-table nwr-matrix', 'data-testid': 'nwr-matrix' });
    table.append(h('tr', {}, [h('th', { text: t('nwr.key') }), h('th', { text: '' }), ...nodes.map((v) => h('th', { class: v.role === 'crashed' ? 'crashed' : '', text: v.id }))]));
    for (const k of keys) {
      const list = homes.get(k) ?? home(k, count, p.n);
      const row = h('tr', { 'data-key': k });
      row.append(h('th', { class: 'mono', text: k }));
      const state = h('td');
      row.append(state);
      const homeValues = new Set();
      for (const v of nodes) {
        const c = held.get(k).get(v.id);
        const rank = list.indexOf(v.id);
        const vals = c?.values ?? null;
        if (rank >= 0 && v.role !== 'crashed') homeValues.add(vals ? vals.join('‖') : '');
        const td = h('td', { class: `mono${rank >= 0 ? ' home' : ''}${vals && vals.length > 1 ? ' siblings' : ''}${v.role === 'crashed' ? ' crashed' : ''}` });
        if (rank >= 0) td.append(h('span', { class: 'nwr-rank', text: RANKS[rank] ?? `#${rank + 1}`, title: t('nwr.rankTitle', { rank: rank + 1, key: k }) }));
        td.append(h('span', { text: vals ? vals.join(' ‖ ') : rank >= 0 ? '—' : '' }));
        for (const hint of c?.hints ?? []) td.append(h('span', { class: 'nwr-cell-hint', text: ` ${t('nwr.cellHint', { values: hint.values.join(' ‖ '), node: hint.for })}`, title: t('nwr.keptFor', { node: hint.for }) }));
        row.append(td);
      }
      const agree = homeValues.size <= 1;
      state.append(h('span', { class: `nwr-badge ${agree ? 'ok' : 'diverged'}`, text: t(agree ? 'nwr.agree' : 'nwr.diverged'), title: t(agree ? 'nwr.agreeTitle' : 'nwr.divergedTitle') }));
      table.append(row);
    }
    const side = h('div', { class: 'nwr-side' });
    side.append(keys.length ? table : h('p', { class: 'hint', text: t('nwr.noKeys') }));
    side.append(h('p', { class: 'hint', text: t('nwr.panelHint') }));
    wrap.append(side, ringSvg(keys, count, p, homes, t));
    box.append(wrap);
  },
};

// ---- the legend ----

export function legendExtras(t) {
  const w = 84;
  const icon = (cls, text) => s('svg', { class: 'legend-icon wide', viewBox: `0 -8 ${w} 16`, width: w, height: 16, 'aria-hidden': 'true' }, [
    s('text', { class: cls, x: w / 2, y: 4, 'text-anchor': 'middle', 'font-size': 10, text }),
  ]);
  return [
    { icon: icon('nwr-line', 'x = 3'), label: t('nwr.legend.stored') },
    { icon: icon('nwr-line siblings', 'x = 2 ‖ 3'), label: t('nwr.legend.siblings') },
    { icon: icon('nwr-line hinted', t('nwr.node.hint', { line: 'x = 5', node: 'n2' }).replace(' · ', '·')), label: t('nwr.legend.hinted') },
    { icon: icon('nwr-coord-label', 'put x=5·W 1/2'), label: t('nwr.legend.coordinating') },
  ];
}

export function legend(t) {
  return [
    { kind: 'nwr-read', shape: 'circle', hollow: false, label: t('nwr.legend.read') },
    { kind: 'nwr-read', shape: 'circle', hollow: true, label: t('nwr.legend.readReply') },
    { kind: 'nwr-write', shape: 'square', hollow: false, label: t('nwr.legend.write') },
    { kind: 'nwr-write', shape: 'square', hollow: true, label: t('nwr.legend.writeAck') },
    { kind: 'nwr-hint', shape: 'square', hollow: false, label: t('nwr.legend.hintedWrite') },
    { kind: 'nwr-hint', shape: 'triangle', hollow: false, label: t('nwr.legend.handoff') },
    { kind: 'nwr-repair', shape: 'square', hollow: false, small: true, label: t('nwr.legend.repair') },
    { kind: 'nwr-sync', shape: 'circle', hollow: false, small: true, label: t('nwr.legend.sync') },
    ...generic.legend(t),
    { kind: 'client', shape: 'diamond', hollow: true, denied: true, label: t('nwr.legend.failed') },
  ];
}

export default { name, leaderless, roles, menuKeys, pickKey, messageStyle, describeMessage, nodeExtras, inspector, panel, legend, legendExtras };
