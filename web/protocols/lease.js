// The lease protocol's drawing (crate/src/protocols/lease/): n1 grants one lease, n2 is the
// storage, n3.. are the holders. What a student needs to see is who believes what, and when:
// - under each holder, its belief: "holds token 3 until 5.620 s (its clock)", "token 3 ran out
//   at 5.620 s by its clock" (paused, it has not noticed yet) or "not holding";
//   under the grantor, who holds the lease and until when on the grantor's clock, or "free", or
//   "waiting out a lease" after a restart; under the storage, the last accepted value, the
//   highest token it knows and how many writes it rejected;
// - the "Lease" tab: bars in true time, one row for the grantor (what it granted, to whom) and
//   one per holder (what it believed), with each write to the storage as a tick (accepted,
//   rejected, or accepted from a holder whose lease had been given to a later one: a stale
//   writer), and two bars of different holders overlapping drawn red;
// - the figures as lines (grants, renewals, expiries, writes, overlap).
// Test hooks: data-token, data-until, data-believes (by its own clock) on holder nodes; data-holder on the grantor;
// data-highest and data-rejected on the storage; data-overlap-ms and data-stale on the panel.

import { h, s } from '../js/dom.js';
import { t as tr } from '../js/i18n.js';
import * as generic from './generic.js';

export const name = 'lease';
/** No leader: the grantor is a fixed role, and the term shown is a fencing token. */
export const leaderless = true;
export const roles = ['grantor', 'storage', 'holder', 'crashed', 'paused'];
/** Clients only read the storage. */
export const ops = ['get'];

const KIND = {
  Acquire: ['vote', 'circle', false],
  Grant: ['vote', 'circle', true],
  Busy: ['k3', 'circle', true],
  Renew: ['append', 'square', false],
  RenewOk: ['append', 'square', true],
  RenewRefused: ['k3', 'square', true],
  Release: ['k4', 'triangle', false],
  Fence: ['k5', 'triangle', false],
  FenceAck: ['k5', 'triangle', true],
  Write: ['commit-ask', 'square', false],
  WriteAck: ['commit-ask', 'square', true],
  WriteRejected: ['commit-no', 'square', true],
};

export function messageStyle(m) {
  const client = generic.clientStyle(m);
  if (client) return client;
  const k = KIND[m.label];
  if (k) return { kind: k[0], shape: k[1], hollow: k[2], denied: m.label === 'WriteRejected' || m.label === 'RenewRefused' };
  return generic.messageStyle(m);
}

/** The view's store as an object: {token, until, holder, data, highest_token, grace}. */
function fields(view) {
  return Object.fromEntries(view.store ?? []);
}

const sec = (ms) => `${(Number(ms) / 1000).toFixed(3)} s`;

/** What a node's own clock reads, in ms: its clock view, or true time if it has none. */
export function clockMs(view, nowMs) {
  return view.clock ? view.clock.reading_us / 1000 : nowMs;
}

/** The lines under a node, from its view (and, for the storage, its inspected counts). */
export function nodeLines(view, info, nowMs = 0) {
  const f = fields(view);
  const role = view.protocol_role ?? view.role;
  if (view.role === 'crashed' && role !== 'storage') return [];
  if (role === 'holder') {
    if (!f.token) return [{ text: tr('lease.node.notHolding'), cls: 'lease-line idle' }];
    // Its own clock (true time when the scenario never set it): past `until`, it no longer
    // believes, though it has not noticed yet (it is paused).
    if (clockMs(view, nowMs) >= Number(f.until)) return [{ text: tr('lease.node.ranOut', { token: f.token, until: sec(f.until) }), cls: 'lease-line warn' }];
    return [{ text: tr('lease.node.holds', { token: f.token, until: sec(f.until) }), cls: 'lease-line holds' }];
  }
  if (role === 'grantor') {
    if (f.holder) return [{ text: tr('lease.node.granted', { holder: f.holder, token: f.token, until: sec(f.until) }), cls: 'lease-line holds' }];
    if (f.grace) return [{ text: tr('lease.node.grace'), cls: 'lease-line warn' }];
    return [{ text: tr('lease.node.free'), cls: 'lease-line idle' }];
  }
  const lines = [{ text: tr('lease.node.storage', { data: f.data ?? '—', token: f.highest_token ?? 0 }), cls: 'lease-line' }];
  const rejected = info?.state?.state?.writes_rejected ?? 0;
  if (rejected) lines.push({ text: tr('lease.node.rejected', { n: rejected }), cls: 'lease-line warn' });
  return lines;
}

export function belowNode(r) {
  const font = Math.max(10, Math.min(13, Math.round(r * 0.34)));
  return 6 + 2 * (font + 3) + 8;
}

export function nodeExtras(group, ctx) {
  return generic.textPlate(group, ctx, {
    protocol: 'lease',
    prefix: 'lease',
    // Only the storage's lines need its full state; the others come with the view.
    inspectWhen: (view, id) => (view.protocol_role ?? view.role) === 'storage' || id === 'n2',
    lines: (info, view, nowMs) => nodeLines(view, info, nowMs),
    attrs: (info, view, nowMs) => {
      const f = fields(view);
      return {
        'data-token': f.token ?? '',
        'data-until': f.until ?? '',
        'data-believes': String(Boolean(f.token) && clockMs(view, nowMs) < Number(f.until)),
        'data-holder': f.holder ?? '',
        'data-highest': f.highest_token ?? '',
        'data-rejected': String(info?.state?.state?.writes_rejected ?? ''),
      };
    },
  });
}

// ---- the "Lease" tab: bars in true time ----

/** The window of true time the bars show, in ms: the last `span` ms up to now. */
function windowOf(f, nowMs, span = 8000) {
  const first = Math.min(...[...(f.grantor_bars ?? []), ...(f.belief_bars ?? [])].map((b) => b.from_ms), nowMs);
  const end = Math.max(nowMs, 1);
  return [Math.max(first, end - span, 0), end];
}

/** Rows of bars: the grantor's grants, then each holder's beliefs. */
export function barRows(f, nowMs) {
  const rows = [{ key: 'grantor', label: 'n1', bars: (f.grantor_bars ?? []).map((b) => ({ ...b, to: b.to_ms ?? nowMs, open: b.to_ms === null || b.to_ms === undefined })) }];
  const holders = [...new Set([...(f.belief_bars ?? []).map((b) => b.holder), ...(f.writes ?? []).map((w) => w.holder)])].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
  for (const id of holders) {
    rows.push({ key: id, label: id, bars: (f.belief_bars ?? []).filter((b) => b.holder === id).map((b) => ({ ...b, to: b.to_ms ?? nowMs, open: b.to_ms === null || b.to_ms === undefined })) });
  }
  return rows;
}

/** The beliefs that overlap another holder's: [{holder, from, to}] of the overlapping parts. */
export function overlaps(beliefRows) {
  const out = [];
  const all = beliefRows.flatMap((r) => r.bars.map((b) => ({ ...b, holder: r.key })));
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const a = all[i];
      const b = all[j];
      if (a.holder === b.holder) continue;
      const from = Math.max(a.from_ms, b.from_ms);
      const to = Math.min(a.to, b.to);
      if (to > from) out.push({ from, to });
    }
  }
  return out;
}

/** Whether an accepted write came from a holder whose lease had been granted to a later one. */
function stale(w, grants) {
  return w.accepted && grants.some((g) => g.token > w.token && g.from_ms <= w.at_ms);
}

function barsSvg(f, nowMs, t) {
  const [t0, t1] = windowOf(f, nowMs);
  const rows = barRows(f, nowMs);
  const W = 520;
  const left = 34;
  const rowH = 26;
  const top = 6;
  const H = top + rows.length * rowH + 22;
  const X = (ms) => left + ((Math.min(Math.max(ms, t0), t1) - t0) / Math.max(1, t1 - t0)) * (W - left - 6);
  const svg = s('svg', { class: 'lease-bars', viewBox: `0 0 ${W} ${H}`, width: '100%', role: 'img', 'aria-label': t('lease.bars.aria') });
  rows.forEach((row, i) => {
    const y = top + i * rowH;
    svg.append(s('text', { x: 2, y: y + 16, class: 'lease-bar-label', 'font-size': 12, fill: 'var(--ink)', text: row.label }));
    for (const b of row.bars) {
      if (b.to < t0) continue;
      const x = X(b.from_ms);
      const w = Math.max(1, X(b.to) - x);
      const color = i === 0 ? 'var(--accent)' : 'var(--good)';
      const bar = s('rect', { x, y: y + 3, width: w, height: rowH - 8, rx: 2, fill: color, 'fill-opacity': b.open ? 0.55 : 0.8, 'data-token': b.token, 'data-end': b.end ?? 'open' });
      const title = s('title');
      title.textContent = t(i === 0 ? 'lease.bars.grant' : 'lease.bars.belief', { holder: b.holder, token: b.token, from: sec(b.from_ms), to: b.open ? '…' : sec(b.to), end: b.end ?? '…' });
      bar.append(title);
      svg.append(bar);
      if (w > 18) {
        svg.append(s('text', { x: x + 3, y: y + 15, 'font-size': 11, fill: 'var(--bg)', text: i === 0 ? `${b.holder}·${b.token}` : `t${b.token}` }));
      }
    }
  });
  // Two holders believing at once: the overlap in red across the holder rows.
  const ov = overlaps(rows.slice(1));
  for (const o of ov) {
    if (o.to < t0) continue;
    svg.append(s('rect', { class: 'lease-overlap', x: X(o.from), y: top + rowH, width: Math.max(1, X(o.to) - X(o.from)), height: (rows.length - 1) * rowH, fill: 'var(--bad)', 'fill-opacity': 0.3 }));
  }
  // Writes as ticks on their holder's row.
  const grants = f.grantor_bars ?? [];
  for (const w of f.writes ?? []) {
    if (w.at_ms < t0) continue;
    const i = rows.findIndex((r) => r.key === w.holder);
    if (i < 0) continue;
    const y = top + i * rowH;
    const bad = stale(w, grants);
    const color = !w.accepted ? 'var(--warn)' : bad ? 'var(--bad)' : 'var(--ink)';
    const tick = s('line', { x1: X(w.at_ms), x2: X(w.at_ms), y1: y + (w.accepted ? 1 : 8), y2: y + rowH - 3, stroke: color, 'stroke-width': bad || !w.accepted ? 3 : 1.5, 'data-write': w.accepted ? (bad ? 'stale' : 'accepted') : 'rejected' });
    const title = s('title');
    title.textContent = t(w.accepted ? (bad ? 'lease.bars.stale' : 'lease.bars.accepted') : 'lease.bars.rejected', { holder: w.holder, token: w.token, at: sec(w.at_ms) });
    tick.append(title);
    svg.append(tick);
  }
  const axis = top + rows.length * rowH + 14;
  for (const [x, text] of [[left, sec(t0)], [W - 60, sec(t1)]]) {
    svg.append(s('text', { x, y: axis, 'font-size': 11, fill: 'var(--muted)', text }));
  }
  return svg;
}

export const panel = {
  titleKey: 'lease.panelTab',
  render(box, _nodes, ctx) {
    const { t } = ctx;
    let f = null;
    try { f = JSON.parse(ctx.session?.pg?.figures() ?? 'null'); } catch { f = null; }
    if (!f) { box.append(h('p', { class: 'hint', text: t('lease.noFigures') })); return; }
    const summary = h('p', { 'data-overlap-ms': String(f.overlap_ms ?? 0), 'data-stale': String(f.stale_writes ?? 0), text: f.holder ? t('lease.now.held', { holder: f.holder, token: f.token }) : t('lease.now.free') });
    box.append(summary);
    if ((f.overlap_ms ?? 0) > 0) box.append(h('p', { class: 'lease-warning', text: t('lease.overlapWarn', { ms: Math.round(f.overlap_ms) }) }));
    if ((f.stale_writes ?? 0) > 0) box.append(h('p', { class: 'lease-warning', text: t('lease.staleWarn', { n: f.stale_writes }) }));
    box.append(barsSvg(f, ctx.now, t));
    box.append(h('p', { class: 'hint', text: t('lease.panelHint') }));
    box.append(generic.kvTable(figureLines(f, t).map((l) => [l.label, l.value])));
  },
};

/** The figures as lines: counts of the lease's life and of the storage's writes. */
export function figureLines(f, t) {
  if (!f || typeof f !== 'object') return [];
  const rows = [
    ['grants', f.grants], ['renewals', f.renewals], ['releases', f.releases], ['expiries', f.expiries],
    ['writes_accepted', f.writes_accepted], ['writes_rejected', f.writes_rejected], ['stale_writes', f.stale_writes],
    ['overlap_ms', Math.round(f.overlap_ms ?? 0)],
  ];
  return rows.map(([k, v]) => ({ name: k, value: v ?? 0, label: t(`lease.fig.${k}`), text: `${t(`lease.fig.${k}`)}: ${v ?? 0}` }));
}

export function legend(t) {
  return [
    { kind: 'vote', shape: 'circle', hollow: false, label: 'Acquire' },
    { kind: 'vote', shape: 'circle', hollow: true, label: 'Grant' },
    { kind: 'append', shape: 'square', hollow: false, label: 'Renew' },
    { kind: 'k5', shape: 'triangle', hollow: false, label: 'Fence' },
    { kind: 'commit-ask', shape: 'square', hollow: false, label: 'Write' },
    ...generic.legend(t),
  ];
}

export default { name, leaderless, roles, ops, messageStyle, belowNode, nodeExtras, panel, figureLines, legend };
