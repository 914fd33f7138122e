// ZAB's own drawing (crate/src/protocols/zab/), in ZooKeeper's terms:
// - each node's history as a strip coloured by epoch (committed solid, proposed hollow), with
//   the node's epoch in place of Raft's term;
// - above a node, its phase while it is not broadcasting (election, discovery, synchronization),
//   and after a follower was synced with TRUNC or SNAP, how (and which proposals it dropped);
// - the "Histories" panel: every ZXID any node holds or dropped, a column each, in ZXID order,
//   and per node whether it is committed, only proposed, or discarded (a proposal only the old
//   leader had, truncated away when it rejoined);
// - the inspector: phase, epochs, last and committed ZXID, the history, the leader's sync plan.
// Test hooks: each node's data-phase, data-epoch, data-zxid (last ZXID "e.c"), data-committed
// (committed ZXID "e.c" or ""), data-sync (the mode of its last sync); in the panel
// (data-testid "zab-histories") each cell's data-node, data-zxid and data-state
// (committed, proposed, discarded or absent).

import { h, s, setAttr, setText } from '../js/dom.js';
import { t as tr } from '../js/i18n.js';
import * as generic from './generic.js';
import * as raft from './raft.js';

export const name = 'zab';
export const roles = ['leader', 'prospective', 'follower', 'looking', 'crashed', 'paused'];
export const termKey = 'zab.epoch';

/** ⟨2,3⟩ for [2, 3]. */
export const zxid = (z) => (Array.isArray(z) ? `⟨${z[0]},${z[1]}⟩` : '—');
const plain = (z) => (Array.isArray(z) ? `${z[0]}.${z[1]}` : '');

const KIND = {
  Vote: ['vote', 'circle', false],
  FollowerInfo: ['zab-disc', 'triangle', false], LeaderInfo: ['zab-disc', 'triangle', false], AckEpoch: ['zab-disc', 'triangle', true],
  Diff: ['zab-sync', 'square', false], Trunc: ['zab-sync', 'square', false], Snap: ['zab-sync', 'square', false],
  NewLeader: ['zab-sync', 'square', false], AckNewLeader: ['zab-sync', 'square', true], UpToDate: ['zab-sync', 'square', false],
  Proposal: ['append', 'square', false], Ack: ['append', 'square', true], Commit: ['commit', 'circle', false],
  Ping: ['append', 'square', false, true], PingReply: ['append', 'square', true, true],
};

export function messageStyle(m) {
  const client = generic.clientStyle(m);
  if (client) return client;
  const k = KIND[m.label];
  if (k) return { kind: k[0], shape: k[1], hollow: k[2], small: Boolean(k[3]) };
  return generic.messageStyle(m);
}

/** The words above a node: its phase when not broadcasting, else how it was last synced. */
export function phaseText(st) {
  if (!st || st.crashed) return { text: '', cls: '' };
  if (st.phase && st.phase !== 'broadcast') return { text: tr(`zab.phase.${st.phase}`), cls: st.phase };
  const sync = st.last_sync;
  if (sync && (sync.mode === 'TRUNC' || sync.mode === 'SNAP')) {
    const dropped = (sync.truncated ?? []).map(zxid).join(' ');
    return { text: dropped ? tr('zab.node.dropped', { mode: sync.mode, zxids: dropped }) : sync.mode, cls: sync.mode.toLowerCase() };
  }
  return { text: '', cls: '' };
}

export function nodeExtras(group, ctx) {
  const log = raft.logExtras(group, ctx, { isTimer: (tm) => /Timeout|Election|Leader/i.test(JSON.stringify(tm)) && !/Ping|Heartbeat|Finalize/i.test(JSON.stringify(tm)), ringless: ['leader', 'prospective'] });
  const top = s('text', { class: 'zab-phase', 'text-anchor': 'middle' });
  group.append(top);
  const cache = {};
  let r = 30;
  let drawn = '';
  return {
    layout(radius, crowded) { r = radius; drawn = ''; log.layout(radius, crowded); },
    update(view, timers, now) {
      log.update(view, timers, now);
      const info = generic.inspectCached(cache, ctx, view.id ?? group.dataset.node, 'zab');
      const st = info?.state ?? null;
      const p = phaseText(st);
      const key = `${p.text}|${p.cls}|${view.role}|${r}|${st?.last_zxid}|${st?.committed_zxid}`;
      if (key === drawn) return;
      drawn = key;
      setAttr(group, 'data-phase', st?.phase ?? (view.role === 'crashed' ? 'crashed' : ''));
      setAttr(group, 'data-epoch', String(view.term ?? ''));
      setAttr(group, 'data-zxid', plain(st?.last_zxid));
      setAttr(group, 'data-committed', plain(st?.committed_zxid));
      setAttr(group, 'data-sync', st?.last_sync?.mode ?? '');
      setText(top, p.text);
      setAttr(top, 'class', `zab-phase ${p.cls}`);
      setAttr(top, 'y', view.role === 'follower' ? -r - 8 : -r - 27);
      setAttr(top, 'font-size', Math.max(10, Math.min(13, Math.round(r * 0.34))));
    },
  };
}

// ---- inspector ----

export function inspector(box, info, ctx) {
  const { t } = ctx;
  const st = info.state ?? {};
  if (st.crashed) {
    const disk = st.on_disk ?? {};
    box.append(h('p', { class: 'hint', text: t('zab.crashedNote') }));
    box.append(generic.kvTable([[t('zab.col.epoch'), disk.term], [t('zab.historyLength'), (disk.log_terms ?? []).length]]));
    return;
  }
  box.append(generic.kvTable([
    [t('zab.col.state'), st.state], [t('zab.col.phase'), st.phase ? t(`zab.phase.${st.phase}`) : '—'],
    [t('zab.col.acceptedEpoch'), st.accepted_epoch], [t('zab.col.currentEpoch'), st.current_epoch],
    [t('zab.col.lastZxid'), zxid(st.last_zxid)], [t('zab.col.committedZxid'), zxid(st.committed_zxid)],
    [t('zab.col.leader'), st.leader ?? '—'],
    ...(st.vote ? [[t('zab.col.vote'), `${st.vote.leader} (${t('zab.epoch', { term: st.vote.epoch })}, ${zxid(st.vote.zxid)})`]] : []),
    ...(st.last_sync ? [[t('zab.col.lastSync'), `${st.last_sync.mode} ${t('zab.from', { n: st.last_sync.from })}${(st.last_sync.truncated ?? []).length ? ` · ${t('zab.dropped', { zxids: st.last_sync.truncated.map(zxid).join(' ') })}` : ''}`]] : []),
  ]));
  if (st.sync && Object.keys(st.sync).length) {
    box.append(h('h4', { text: t('zab.syncPlan') }));
    const table = h('table', { class: 'grid-table' }, [h('tr', {}, [h('th', { text: t('zab.col.follower') }), h('th', { text: t('zab.col.mode') }), h('th', { text: t('zab.col.entries') }), h('th', { text: t('zab.col.truncateTo') })])]);
    for (const [n, p] of Object.entries(st.sync)) table.append(h('tr', {}, [h('td', { text: n }), h('td', { class: 'mono', text: p.mode }), h('td', { text: p.entries ?? '—' }), h('td', { class: 'mono', text: zxid(p.truncate_to) })]));
    box.append(table);
  }
  const history = st.history ?? [];
  box.append(h('h4', { text: t('zab.history', { n: history.length }) }));
  const table = h('table', { class: 'grid-table log-table' }, [h('tr', {}, [h('th', { text: 'ZXID' }), h('th', { text: t('raft.command') }), h('th', { text: '' })])]);
  for (const e of history.slice(-40)) {
    table.append(h('tr', { class: e.committed ? 'committed' : 'uncommitted' }, [
      h('td', { class: 'mono', text: zxid(e.zxid) }), h('td', { class: 'mono', text: raft.formatCommand(e.command) }),
      h('td', { text: e.committed ? t('zab.committed') : t('zab.proposed') }),
    ]));
  }
  box.append(table);
  const rest = Object.fromEntries(Object.entries(st).filter(([k]) => !['history', 'sync', 'state', 'phase', 'accepted_epoch', 'current_epoch', 'last_zxid', 'committed_zxid', 'vote', 'last_sync', 'leader'].includes(k)));
  box.append(h('h4', { text: t('inspector.state') }), generic.tree(rest));
  generic.timersSection(box, info, ctx);
}

// ---- the Histories panel ----

/** Per node: Map(zxid "e.c" → state), and every zxid seen, in ZXID order. */
export function histories(infos) {
  const all = new Map();
  const perNode = new Map();
  for (const [id, info] of infos) {
    const st = info?.state ?? {};
    const cells = new Map();
    for (const e of st.history ?? []) {
      cells.set(plain(e.zxid), e.committed ? 'committed' : 'proposed');
      all.set(plain(e.zxid), e.zxid);
    }
    for (const z of st.last_sync?.truncated ?? []) {
      if (!cells.has(plain(z))) cells.set(plain(z), 'discarded');
      all.set(plain(z), z);
    }
    perNode.set(id, { cells, crashed: Boolean(st.crashed) });
  }
  const order = [...all.values()].sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(plain);
  return { order, perNode };
}

export const panel = {
  titleKey: 'zab.panelTab',
  render(box, nodes, ctx) {
    const { t } = ctx;
    const infos = nodes.map((v) => {
      let info = null;
      if (ctx.session?.pg) { try { info = JSON.parse(ctx.session.pg.inspect(v.id)); } catch { info = null; } }
      return [v.id, info];
    });
    const { order, perNode } = histories(infos);
    const shown = order.slice(-16);
    const grid = h('div', { class: 'zab-grid', 'data-testid': 'zab-histories', style: `--cols:${Math.max(1, shown.length)}` });
    grid.append(h('span', { class: 'head', text: '' }), ...shown.map((z) => h('span', { class: 'head', text: `⟨${z.replace('.', ',')}⟩` })));
    for (const v of nodes) {
      const row = perNode.get(v.id);
      grid.append(h('span', { class: `head role-${v.role}`, text: v.id }));
      for (const z of shown) {
        const state = row?.crashed ? 'unknown' : row?.cells.get(z) ?? 'absent';
        const text = { committed: '✓', proposed: '·', discarded: '✗', absent: '', unknown: '?' }[state];
        grid.append(h('span', { class: state, 'data-node': v.id, 'data-zxid': z, 'data-state': state, title: t(`zab.cell.${state}`, { zxid: `⟨${z.replace('.', ',')}⟩` }), text }));
      }
    }
    if (order.length > shown.length) box.append(h('p', { class: 'hint', text: t('zab.earlier', { n: order.length - shown.length }) }));
    box.append(order.length ? grid : h('p', { class: 'hint', text: t('zab.noHistory') }));
    box.append(h('p', { class: 'hint', text: t('zab.panelHint') }));
  },
};

export function legendExtras(t) {
  return [...raft.legendExtras(t).map((x, i) => (i === 1 ? { ...x, label: t('zab.legend.history') } : x))];
}

export function legend(t) {
  return [
    { kind: 'vote', shape: 'circle', hollow: false, label: t('zab.legend.vote') },
    { kind: 'zab-disc', shape: 'triangle', hollow: false, label: t('zab.legend.discovery') },
    { kind: 'zab-sync', shape: 'square', hollow: false, label: t('zab.legend.sync') },
    { kind: 'append', shape: 'square', hollow: false, label: 'PROPOSAL' },
    { kind: 'append', shape: 'square', hollow: true, label: 'ACK' },
    { kind: 'commit', shape: 'circle', hollow: false, label: 'COMMIT' },
    ...generic.legend(t),
  ];
}

export default { name, roles, termKey, messageStyle, nodeExtras, inspector, panel, legend, legendExtras };
