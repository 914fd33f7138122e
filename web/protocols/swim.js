// SWIM's own drawing (crate/src/protocols/swim/): membership and failure detection. There is
// no leader and no data; what a student needs to see is what each node believes of the others
// and what the cluster as a whole believes of each node:
// - `shades`: the colour of each node on the large-cluster canvas, by what the cluster thinks
//   of it (codes from `Protocol::shades` in crate/src/protocols/swim/figures.rs);
// - under each node of a small cluster (SVG): its incarnation and how many members it holds
//   suspect or dead ("inc 1 · 1 suspect · 0 dead");
// - the inspector: the node's membership table (member, state, incarnation) with the members
//   it does not believe alive first, its piggyback queue (update, times sent) and its probe.
// Test hooks on each node: data-incarnation, data-suspect, data-dead.

import { h, s, setAttr } from '../js/dom.js';
import { t as tr } from '../js/i18n.js';
import * as generic from './generic.js';

export const name = 'swim';
/** No leader and no term: every member is equal. */
export const leaderless = true;
export const roles = ['member', 'crashed', 'paused'];

/**
 * One colour per shade code, from the Okabe–Ito palette (told apart with every common colour
 * vision deficiency); each is mid-tone, legible on a white and a dark background.
 */
export const shades = [
  { code: 0, key: 'swim.shade.alive', color: '#009E73' },
  { code: 1, key: 'swim.shade.aliveSuspected', color: '#E69F00' },
  { code: 2, key: 'swim.shade.aliveDead', color: '#CC79A7' },
  { code: 3, crashed: true, key: 'swim.shade.crashedUnnoticed', color: '#56B4E9' },
  { code: 4, crashed: true, key: 'swim.shade.crashedSuspected', color: '#D55E00' },
  { code: 5, crashed: true, key: 'swim.shade.crashedDeadSome', color: '#0072B2' },
  { code: 6, crashed: true, key: 'swim.shade.crashedDeadAll', color: '#7F7F7F' },
];

export function messageStyle(m) {
  const client = generic.clientStyle(m);
  if (client) return client;
  const body = m.msg && typeof m.msg === 'object' ? Object.values(m.msg)[0] : null;
  // A message that carries news (piggybacked updates) is drawn solid-edged and marked.
  const news = Array.isArray(body?.updates) && body.updates.length > 0;
  switch (m.label) {
    case 'Ping': return { kind: 'vote', shape: 'circle', hollow: false, news };
    case 'PingReq': return { kind: 'append', shape: 'square', hollow: false, news };
    case 'Ack': return { kind: 'vote', shape: 'circle', hollow: true, news };
    default: return generic.messageStyle(m);
  }
}

/** A message's fields, the piggybacked updates as "n3 suspect@0" each. */
export function describeMessage(m) {
  const body = m.msg && typeof m.msg === 'object' ? Object.values(m.msg)[0] : null;
  if (!body || typeof body !== 'object') return generic.describeMessage(m);
  const rows = [];
  for (const [k, v] of Object.entries(body)) {
    if (k === 'updates') rows.push([k, v.length ? v.map(updateText).join(', ') : '—']);
    else rows.push([k, String(v)]);
  }
  return rows;
}

export function updateText(u) {
  return `${u.member} ${u.state}@${u.incarnation}`;
}

/** The view summary of a node's inspect state: {incarnation, alive, suspect, dead}. */
export function summary(info) {
  const st = info?.state ?? {};
  if (!st.view) return null;
  return { incarnation: st.incarnation ?? 0, ...st.view };
}

export function belowNode(r) {
  const font = Math.max(10, Math.min(13, Math.round(r * 0.34)));
  return 6 + 2 * (font + 3) + 8;
}

export function nodeExtras(group, ctx) {
  return generic.textPlate(group, ctx, {
    protocol: 'swim',
    prefix: 'swim',
    skipCrashed: true,
    lines(info) {
      const sum = summary(info);
      setAttr(group, 'data-incarnation', sum ? String(sum.incarnation) : '');
      setAttr(group, 'data-suspect', sum ? String(sum.suspect) : '');
      setAttr(group, 'data-dead', sum ? String(sum.dead) : '');
      return sum ? [
        { text: tr('swim.node.incarnation', { i: sum.incarnation }), cls: 'swim-line' },
        ...(sum.suspect || sum.dead ? [{ text: tr('swim.node.sees', { s: sum.suspect, d: sum.dead }), cls: 'swim-line warn' }] : []),
      ] : [];
    },
  });
}

const ORDER = { dead: 0, suspect: 1, alive: 2 };

export function inspector(box, info, ctx) {
  const { t } = ctx;
  const st = info.state ?? {};
  if (st.crashed) {
    box.append(h('p', { class: 'hint', text: t('swim.crashedNote') }));
    box.append(h('h4', { text: t('inspector.state') }), generic.tree(st.on_disk ?? {}));
    return;
  }
  box.append(h('p', { class: 'hint', text: t('swim.roleText') }));
  box.append(generic.kvTable([
    [t('swim.col.incarnation'), st.incarnation],
    [t('swim.view'), st.view ? `${t('swim.state.alive')} ${st.view.alive} · ${t('swim.state.suspect')} ${st.view.suspect} · ${t('swim.state.dead')} ${st.view.dead}` : '—'],
    [t('swim.suspicionTimeout'), `${st.suspicion_timeout_ms} ms`],
    [t('swim.retransmitLimit'), st.retransmit_limit],
    [t('swim.probe'), st.probe ? `${st.probe.target} #${st.probe.seq} · ${st.probe.acked ? t('swim.acked') : t('swim.waiting')}${st.probe.helpers?.length ? ` · ${t('swim.helpers')} ${st.probe.helpers.join(', ')}` : ''}` : '—'],
  ]));
  box.append(h('h4', { text: t('swim.membersTitle') }));
  if (st.members_shown && st.members_shown !== 'all') box.append(h('p', { class: 'hint', text: t('swim.membersPartial') }));
  const members = [...(st.members ?? [])].sort((a, b) => (ORDER[a.state] - ORDER[b.state]));
  const table = h('table', { class: 'grid-table swim-table', 'data-testid': 'swim-members' }, [
    h('tr', {}, ['swim.col.member', 'swim.col.state', 'swim.col.incarnation'].map((k) => h('th', { text: t(k) }))),
  ]);
  for (const m of members.slice(0, 300)) {
    table.append(h('tr', { 'data-member': m.member, 'data-state': m.state, class: `swim-${m.state}` }, [
      h('th', { class: 'mono', text: m.member }),
      h('td', { text: t(`swim.state.${m.state}`) }),
      h('td', { class: 'mono', text: String(m.incarnation) }),
    ]));
  }
  box.append(h('div', { class: 'swim-scroll' }, [table]));
  box.append(h('h4', { text: t('swim.queueTitle') }));
  const queue = st.piggyback ?? [];
  if (!queue.length) {
    box.append(h('p', { class: 'hint', text: t('swim.queueEmpty') }));
  } else {
    const q = h('table', { class: 'grid-table swim-queue', 'data-testid': 'swim-queue' }, [
      h('tr', {}, ['swim.col.update', 'swim.col.sent'].map((k) => h('th', { text: t(k) }))),
    ]);
    for (const b of queue) q.append(h('tr', {}, [h('td', { class: 'mono', text: updateText(b.update) }), h('td', { class: 'mono', text: `${b.transmits} / ${st.retransmit_limit}` })]));
    box.append(q);
  }
  const rest = { counters: st.counters, milestones: st.milestones, relays: st.relays, params: st.params };
  box.append(h('h4', { text: t('inspector.state') }), generic.tree(rest));
  generic.timersSection(box, info, ctx);
}

export function legendExtras(t) {
  const dot = (color) => s('svg', { class: 'legend-icon', viewBox: '-8 -8 16 16', width: 16, height: 16, 'aria-hidden': 'true' }, [
    s('circle', { r: 6, fill: color }),
  ]);
  return shades.map((sh) => ({ icon: dot(sh.color), label: t(sh.key) }));
}

export function legend(t) {
  return [
    { kind: 'vote', shape: 'circle', hollow: false, label: 'Ping' },
    { kind: 'append', shape: 'square', hollow: false, label: 'PingReq' },
    { kind: 'vote', shape: 'circle', hollow: true, label: 'Ack' },
    ...generic.legend(t),
  ];
}

/** The figures beside a large cluster: the membership views summed over live nodes, then each
 * crash with how long the cluster took to suspect it, declare it dead, and spread that to all. */
export function figureLines(f, t) {
  if (!f || typeof f !== 'object') return [];
  const ms = (v) => (v === null || v === undefined ? '…' : `${Math.round(v)} ms`);
  const lines = [
    { name: 'members', value: f.members?.alive, text: t('swim.fig.members', { alive: f.members?.alive ?? 0, suspect: f.members?.suspect ?? 0, dead: f.members?.dead ?? 0 }) },
    { name: 'false_suspicions', value: f.false_suspicions, text: t('swim.fig.false', { suspicions: f.false_suspicions ?? 0, refutations: f.refutations ?? 0, dead: f.false_dead ?? 0 }) },
  ];
  for (const d of (f.detections ?? []).slice(-4)) {
    lines.push({ name: `detection-${d.node}`, value: d.all_dead_ms, text: t('swim.fig.detection', { node: d.node, at: Math.round(d.crashed_ms), suspect: ms(d.first_suspect_ms), dead: ms(d.first_dead_ms), all: ms(d.all_dead_ms) }) });
  }
  return lines;
}

export default { name, leaderless, roles, shades, messageStyle, describeMessage, belowNode, nodeExtras, inspector, legend, legendExtras, figureLines };
