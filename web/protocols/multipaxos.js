// Multi-Paxos's own drawing (crate/src/protocols/multipaxos/): a replicated log of slots under
// one stable leader.
// - each node's log as a strip of slots coloured by the round of the ballot it accepted there
//   (chosen solid, accepted hollow, an empty slot dashed), the ring counting down its wait for
//   the leader's heartbeat, and "ballot round N" in place of Raft's term;
// - above a candidate, its recovery: the promises it has, and once it leads the slots it
//   re-proposed and the holes it filled with no-ops;
// - the "Slots" panel: slot by slot and node by node, the ballot accepted and whether chosen,
//   no-ops marked;
// - the inspector: ballot, leader, chosen prefix, recovery, the log, the leader's peers.
// Test hooks: each node's data-ballot and data-chosen (the chosen prefix); in the panel
// (data-testid "mp-slots") each cell's data-node, data-slot, data-state (chosen, accepted or
// empty) and data-noop.

import { h, s, setAttr, setText } from '../js/dom.js';
import { t as tr } from '../js/i18n.js';
import * as generic from './generic.js';
import * as raft from './raft.js';

export const name = 'multipaxos';
export const roles = ['leader', 'candidate', 'follower', 'crashed', 'paused'];
export const termKey = 'mp.round';

export function messageStyle(m) {
  const client = generic.clientStyle(m);
  if (client) return client;
  switch (m.label) {
    case 'Prepare': return { kind: 'vote', shape: 'circle', hollow: false };
    case 'Promise': return { kind: 'vote', shape: 'circle', hollow: true };
    case 'Nack': return { kind: 'vote', shape: 'circle', hollow: true, denied: true };
    case 'Accept': return { kind: 'append', shape: 'square', hollow: false };
    case 'Accepted': return { kind: 'append', shape: 'square', hollow: true };
    case 'Heartbeat': return { kind: 'append', shape: 'square', hollow: false, small: true };
    default: return { ...generic.messageStyle(m), kind: 'commit', small: true };
  }
}

const isNoop = (e) => Boolean(e?.noop) || e?.command === 'noop' || e?.command === 'Noop' || e?.command?.cmd === 'noop';

/** The words above a node: a candidate's promises; a new leader's recovery. */
export function recoveryText(st, role) {
  const rec = st?.recovery;
  if (!rec) return '';
  if (role === 'candidate') return tr('mp.node.promises', { n: (rec.promises ?? []).length });
  const re = (rec.reproposed ?? []).length;
  const noops = (rec.noops ?? []).length;
  if (role === 'leader' && noops) return tr('mp.node.recovered', { re, noops });
  if (role === 'leader' && re) return tr('mp.node.reproposed', { re });
  return '';
}

export function nodeExtras(group, ctx) {
  const log = raft.logExtras(group, ctx, { isTimer: (tm) => /Election|Leader|Timeout/i.test(JSON.stringify(tm)) && !/Heartbeat|Retry|Phase/i.test(JSON.stringify(tm)) });
  const top = s('text', { class: 'mp-note', 'text-anchor': 'middle' });
  group.append(top);
  const cache = {};
  let r = 30;
  let drawn = '';
  return {
    layout(radius, crowded) { r = radius; drawn = ''; log.layout(radius, crowded); },
    update(view, timers, now) {
      log.update(view, timers, now);
      const info = generic.inspectCached(cache, ctx, view.id ?? group.dataset.node, 'multipaxos');
      const st = info?.state ?? null;
      const text = st?.crashed ? '' : recoveryText(st, view.role);
      const key = `${text}|${view.role}|${r}|${st?.ballot}|${st?.chosen_prefix}`;
      if (key === drawn) return;
      drawn = key;
      setAttr(group, 'data-ballot', st?.ballot ?? '');
      setAttr(group, 'data-chosen', st?.chosen_prefix ?? view.commit_index ?? '');
      setText(top, text);
      setAttr(top, 'y', view.role === 'follower' ? -r - 8 : -r - 27);
      setAttr(top, 'font-size', Math.max(10, Math.min(13, Math.round(r * 0.34))));
    },
  };
}

export function inspector(box, info, ctx) {
  const { t } = ctx;
  const st = info.state ?? {};
  if (st.crashed) {
    const disk = st.on_disk ?? {};
    box.append(h('p', { class: 'hint', text: t('mp.crashedNote') }));
    box.append(generic.kvTable([[t('mp.col.round'), disk.term], [t('mp.col.slots'), (disk.log_terms ?? []).length]]));
    return;
  }
  const rec = st.recovery ?? null;
  box.append(generic.kvTable([
    [t('raft.role'), t(`role.${st.role}`)], [t('mp.col.ballot'), st.ballot], [t('raft.leader'), st.leader ?? '—'],
    [t('mp.col.chosenPrefix'), st.chosen_prefix],
    ...(rec ? [[t('mp.col.promises'), (rec.promises ?? []).join(', ') || '—'], [t('mp.col.reproposed'), (rec.reproposed ?? []).join(', ') || '—'], [t('mp.col.noops'), (rec.noops ?? []).join(', ') || '—']] : []),
  ]));
  const log = st.log ?? [];
  box.append(h('h4', { text: t('mp.log', { n: log.length }) }));
  const table = h('table', { class: 'grid-table log-table' }, [h('tr', {}, [h('th', { text: t('mp.col.slot') }), h('th', { text: t('mp.col.ballot') }), h('th', { text: t('raft.command') }), h('th', { text: '' })])]);
  for (const e of log.slice(-40)) {
    table.append(h('tr', { class: e.chosen ? 'committed' : 'uncommitted' }, [
      h('td', { text: e.slot }), h('td', { class: 'mono', text: e.ballot ?? '—' }),
      h('td', { class: 'mono', text: isNoop(e) ? 'no-op' : raft.formatCommand(e.command) }),
      h('td', { text: e.chosen ? t('mp.chosen') : t('mp.accepted') }),
    ]));
  }
  box.append(table);
  const rest = Object.fromEntries(Object.entries(st).filter(([k]) => !['log', 'role', 'ballot', 'leader', 'chosen_prefix', 'recovery'].includes(k)));
  box.append(h('h4', { text: t('inspector.state') }), generic.tree(rest));
  generic.timersSection(box, info, ctx);
}

export const panel = {
  titleKey: 'mp.panelTab',
  render(box, nodes, ctx) {
    const { t } = ctx;
    const logs = nodes.map((v) => {
      let info = null;
      if (ctx.session?.pg) { try { info = JSON.parse(ctx.session.pg.inspect(v.id)); } catch { info = null; } }
      const bySlot = new Map((info?.state?.log ?? []).map((e) => [e.slot, e]));
      return { v, bySlot, crashed: Boolean(info?.state?.crashed) };
    });
    const last = Math.max(0, ...logs.flatMap((l) => [...l.bySlot.keys()]));
    const from = Math.max(1, last - 15);
    const slots = Array.from({ length: Math.max(0, last - from + 1) }, (_, i) => from + i);
    const grid = h('div', { class: 'mp-grid', 'data-testid': 'mp-slots', style: `--cols:${Math.max(1, slots.length)}` });
    grid.append(h('span', { class: 'head', text: '' }), ...slots.map((n) => h('span', { class: 'head', text: String(n) })));
    for (const { v, bySlot, crashed } of logs) {
      grid.append(h('span', { class: `head role-${v.role}`, text: v.id }));
      for (const n of slots) {
        const e = bySlot.get(n);
        const state = crashed ? 'unknown' : !e ? 'empty' : e.chosen ? 'chosen' : 'accepted';
        const noop = isNoop(e);
        const text = crashed ? '?' : e ? (noop ? 'no-op' : (e.ballot ?? '').split('.')[0]) : '';
        grid.append(h('span', {
          class: `${state}${noop ? ' noop' : ''}`, 'data-node': v.id, 'data-slot': n, 'data-state': state, 'data-noop': String(noop),
          title: e ? `${t('mp.col.slot')} ${n} · ${e.ballot} · ${noop ? 'no-op' : raft.formatCommand(e.command)}` : '', text,
        }));
      }
    }
    if (from > 1) box.append(h('p', { class: 'hint', text: t('mp.earlier', { n: from - 1 }) }));
    box.append(slots.length ? grid : h('p', { class: 'hint', text: t('mp.noSlots') }));
    box.append(h('p', { class: 'hint', text: t('mp.panelHint') }));
  },
};

export function legendExtras(t) {
  return raft.legendExtras(t).map((x, i) => (i === 1 ? { ...x, label: t('mp.legend.log') } : x));
}

export function legend(t) {
  return [
    { kind: 'vote', shape: 'circle', hollow: false, label: t('mp.legend.prepare') },
    { kind: 'vote', shape: 'circle', hollow: true, label: 'Promise' },
    { kind: 'append', shape: 'square', hollow: false, label: 'Accept' },
    { kind: 'append', shape: 'square', hollow: true, label: 'Accepted' },
    { kind: 'append', shape: 'square', hollow: false, small: true, label: t('legend.heartbeat') },
    { kind: 'vote', shape: 'circle', hollow: true, denied: true, label: 'Nack' },
    ...generic.legend(t),
  ];
}

export default { name, roles, termKey, messageStyle, nodeExtras, inspector, panel, legend, legendExtras };
