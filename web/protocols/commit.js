// The drawing shared by the atomic-commitment protocols: two-phase commit (`twopc`),
// three-phase commit (`threepc`) and the orchestrated saga (`saga`), crate/src/protocols/.
// Every node reports its part in each transaction as a TxnRecord in its view (state in the
// protocol's own words, vote, decision, when it became uncertain, the locks it holds), so one
// module draws all three:
// - under each participant, the values it has committed and its open transactions with their
//   locks ("c1.2 prepared · locks x");
// - above a participant that voted yes and cannot decide alone, a red "blocked 2.4 s" that
//   grows while it waits: 2PC's blocking, seen;
// - the "Transactions" panel: one row per transaction, one column per node, each cell the
//   node's state, coloured by outcome; a row where one node committed and another aborted is
//   marked "not atomic" (3PC under a partition);
// - the inspector: the node's records, its locks with how long each has been held, then the
//   protocol's own state (its log) as a tree.

import { h, s, setAttr, setText } from '../js/dom.js';
import { t as tr } from '../js/i18n.js';
import * as generic from './generic.js';

/** No leader and no term: the page's leader-only controls mean nothing here. */
export const leaderless = true;
export const roles = ['coordinator', 'orchestrator', 'participant', 'crashed', 'paused'];
export const menuKeys = { requestAny: 'commit.menu.requestAny' };
export const pickKey = 'commit.pick';
/** The client operations the request form offers: a transaction first. */
export const ops = ['txn', 'get'];

const DECIDED = { commit: 'committed', abort: 'aborted' };

/** The CSS class of a state: by the decision once there is one, else by where it stands. */
export function stateClass(r) {
  if (r.decision === 'commit') return 'st-commit';
  if (r.decision === 'abort') return 'st-abort';
  if (r.uncertain_us !== undefined && r.uncertain_us !== null) return 'st-uncertain';
  return 'st-open';
}

/** How long a record has been blocked (uncertain and undecided) at `nowMs`, in ms; 0 if not. */
export function blockedMs(r, nowMs) {
  if (r.uncertain_us === undefined || r.uncertain_us === null) return 0;
  const end = r.decided_us ?? nowMs * 1000;
  return Math.max(0, (end - r.uncertain_us) / 1000);
}

const isOpen = (r) => r.decision === undefined || r.decision === null;
const seconds = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);

// ---- messages ----

const KIND = [
  [/^(Prepare|CanCommit|Execute|Step)/, 'commit-ask', 'square'],
  [/^(Vote|Prepared|Yes|No|StepDone|StepFailed|Executed)/, 'commit-ask', 'square', true],
  [/^(PreCommit)/, 'commit-pre', 'triangle'],
  [/^(PreCommitAck|PreAck)/, 'commit-pre', 'triangle', true],
  [/^(Commit|DoCommit|GlobalCommit)$/, 'commit-yes', 'circle'],
  [/^(Abort|GlobalAbort)$/, 'commit-no', 'circle'],
  [/^(Compensat)/, 'commit-comp', 'square'],
  [/(Ack|Reply|Answer|State)$/, 'commit-term', 'circle', true],
  [/(Request|Query|Elect|Ask|Termination)/, 'commit-term', 'circle'],
];

export function messageStyle(m) {
  const client = generic.clientStyle(m);
  if (client) return client;
  for (const [re, kind, shape, hollow] of KIND) {
    if (re.test(m.label)) return { kind, shape, hollow: Boolean(hollow), small: kind === 'commit-term' };
  }
  return generic.messageStyle(m);
}

// ---- inside a node ----

/** The lines under a node: committed values, then open transactions (newest last). */
export function nodeLines(view, nowMs) {
  const lines = [];
  const txns = view.txns ?? [];
  const open = txns.filter(isOpen);
  // The last decided one stays in sight a little, so a student sees how it ended.
  const last = [...txns].reverse().find((r) => !isOpen(r));
  for (const r of open.slice(-2)) {
    const locks = r.locks?.length ? ` · ${tr('commit.node.locks', { keys: r.locks.join(',') })}` : '';
    const blocked = blockedMs(r, nowMs);
    lines.push({ text: `${r.txn} ${r.state}${locks}${blocked ? ` · ${seconds(blocked)}` : ''}`, cls: `commit-line ${stateClass(r)}` });
  }
  if (open.length > 2) lines.unshift({ text: tr('commit.node.more', { n: open.length - 2 }), cls: 'commit-line more' });
  if (!open.length && last) lines.push({ text: `${last.txn} ${last.state}`, cls: `commit-line ${stateClass(last)}` });
  const store = view.store ?? [];
  if (store.length) lines.unshift({ text: store.map(([k, v]) => `${k}=${v}`).join(' '), cls: 'commit-line store' });
  return lines.slice(0, 3);
}

/** The lines under a node take this much room below its circle (the layout keeps it free). */
export function belowNode(r) {
  const font = Math.max(10, Math.min(14, Math.round(r * 0.36)));
  return 6 + 3 * (font + 3) + 8;
}

export function nodeExtras(group) {
  group.classList.add('commit-node');
  const box = s('g', { class: 'commit-lines' });
  const bg = s('rect', { class: 'commit-lines-bg', rx: 4 });
  box.append(bg);
  const badge = s('text', { class: 'commit-badge', 'text-anchor': 'middle' });
  group.append(box, badge);
  const lines = [];
  let r = 30;
  let font = 11;
  let drawn = '';

  function layout(radius) {
    r = radius;
    font = Math.max(10, Math.min(14, Math.round(r * 0.36)));
    drawn = '';
  }

  function update(view, _timers, nowMs = 0) {
    const txns = view.txns ?? [];
    const blockedRecords = txns.filter((x) => isOpen(x) && x.uncertain_us !== undefined && x.uncertain_us !== null);
    const blocked = blockedRecords.reduce((m, x) => Math.max(m, blockedMs(x, nowMs)), 0);
    const shown = nodeLines(view, nowMs);
    const badgeText = blockedRecords.length ? tr('commit.node.blocked', { time: seconds(blocked) }) : '';
    // Redraw when something visible changed; the blocked time in tenths of a second.
    const key = `${JSON.stringify(shown)}|${badgeText}|${view.role}|${r}`;
    if (key === drawn) return;
    drawn = key;
    setAttr(group, 'data-txns', txns.map((x) => `${x.txn}:${x.state}:${x.decision ?? 'undecided'}`).join(';'));
    setAttr(group, 'data-locks', [...new Set(txns.flatMap((x) => x.locks ?? []))].join(','));
    setAttr(group, 'data-blocked-ms', String(Math.round(blocked)));
    setText(badge, badgeText);
    setAttr(badge, 'y', view.role === 'paused' ? -r - 27 : -r - 8);
    setAttr(badge, 'font-size', font);
    generic.drawNodeLines(box, bg, lines, shown, r, font);
  }

  return { layout, update };
}

// ---- the inspector ----

function recordTable(records, nowMs, t) {
  const table = h('table', { class: 'grid-table commit-records' }, [
    h('tr', {}, ['commit.col.txn', 'commit.col.state', 'commit.col.vote', 'commit.col.decision', 'commit.col.blocked', 'commit.col.locks'].map((k) => h('th', { text: t(k) }))),
  ]);
  for (const r of records) {
    const blocked = blockedMs(r, nowMs);
    table.append(h('tr', { 'data-txn': r.txn, class: stateClass(r) }, [
      h('td', { class: 'mono', text: r.txn }),
      h('td', { class: 'commit-state', text: r.state }),
      h('td', { text: r.vote === undefined || r.vote === null ? '—' : t(r.vote ? 'commit.yes' : 'commit.no') }),
      h('td', { text: r.decision ? t(`commit.${DECIDED[r.decision]}`) : t('commit.undecided') }),
      h('td', { class: blocked ? 'commit-blocked' : '', text: blocked ? seconds(blocked) : '—' }),
      h('td', { class: 'mono', text: (r.locks ?? []).join(', ') || '—' }),
    ]));
  }
  return table;
}

function tree(value) {
  if (value === null || typeof value !== 'object') return h('span', { class: 'val', text: String(value) });
  const list = h('dl', { class: 'kv' });
  for (const [k, v] of Object.entries(value)) list.append(h('dt', { text: k }), h('dd', {}, [tree(v)]));
  return list;
}

export function inspector(box, info, ctx) {
  const { t } = ctx;
  const st = info.state ?? {};
  const crashed = Boolean(st.crashed);
  // The records come from the node's view (a crashed node's: what its log kept).
  let view = null;
  try { view = JSON.parse(ctx.session?.pg?.nodes() ?? '[]').find((n) => n.id === info.id) ?? null; } catch { view = null; }
  const records = view?.txns ?? (crashed ? st.on_disk?.txns : st.txns) ?? [];
  const role = crashed ? 'crashed' : st.role ?? 'participant';
  box.append(h('p', { class: 'hint', text: t(`commit.roleText.${role}`) }));
  box.append(h('h4', { text: t('commit.records', { n: records.length }) }));
  box.append(records.length ? h('div', { class: 'commit-scroll' }, [recordTable(records.slice(-12), ctx.now, t)]) : h('p', { class: 'hint', text: t('commit.noRecords') }));
  if (records.length > 12) box.append(h('p', { class: 'hint', text: t('commit.older', { n: records.length - 12 }) }));
  const rest = Object.fromEntries(Object.entries(crashed ? st.on_disk ?? {} : st).filter(([k]) => k !== 'txns' && k !== 'role'));
  box.append(h('h4', { text: t('inspector.state') }), tree(rest));
  if (info.timers?.length) {
    box.append(h('h4', { text: t('inspector.timers') }));
    for (const tm of info.timers) {
      const left = tm.fires_us / 1000 - ctx.now;
      box.append(h('p', { class: 'mono', text: `${JSON.stringify(tm.timer)} · ${t('inspector.firesIn', { ms: left.toFixed(1) })}` }));
    }
  }
}

// ---- the panel: every transaction, node by node ----

/** Rows of the panel: {txn, cells: Map(node → record), atomic, decided, blocked}. */
export function transactionRows(nodes, nowMs) {
  const rows = new Map();
  for (const v of nodes) {
    for (const r of v.txns ?? []) {
      if (!rows.has(r.txn)) rows.set(r.txn, { txn: r.txn, cells: new Map(), first: r.since_us });
      rows.get(r.txn).cells.set(v.id, r);
    }
  }
  const out = [...rows.values()].sort((a, b) => a.first - b.first || a.txn.localeCompare(b.txn));
  for (const row of out) {
    const decisions = new Set([...row.cells.values()].map((r) => r.decision).filter(Boolean));
    row.atomic = !(decisions.has('commit') && decisions.has('abort'));
    row.decided = [...row.cells.values()].every((r) => !isOpen(r));
    row.blocked = Math.max(0, ...[...row.cells.values()].map((r) => blockedMs(r, nowMs)));
  }
  return out;
}

export const panel = {
  titleKey: 'commit.panelTab',
  render(box, nodes, ctx) {
    const { t } = ctx;
    const rows = transactionRows(nodes, ctx.now);
    const table = h('table', { class: 'grid-table commit-matrix', 'data-testid': 'commit-matrix' });
    table.append(h('tr', {}, [
      h('th', { text: t('commit.col.txn') }),
      ...nodes.map((v) => h('th', { class: v.role === 'crashed' ? 'crashed' : '', text: v.id })),
      h('th', { text: t('commit.col.blocked') }),
    ]));
    const shown = rows.slice(-14);
    for (const row of shown) {
      const tr2 = h('tr', { 'data-txn': row.txn, 'data-atomic': String(row.atomic), 'data-decided': String(row.decided), class: row.atomic ? '' : 'split' });
      // The outcome as a mark beside the name (the words in its tooltip), to keep the table
      // narrow enough for the side panel.
      const [mark, cls, title] = !row.atomic ? ['✗', 'split', t('commit.splitShort')] : row.decided ? ['✓', 'ok', t('commit.done')] : ['…', 'open', t('commit.pending')];
      tr2.append(h('th', { class: 'mono', title }, [h('span', { text: row.txn }), h('span', { class: `commit-verdict ${cls}`, 'data-outcome': cls, text: mark })]));
      for (const v of nodes) {
        const r = row.cells.get(v.id);
        const cell = h('td', { 'data-node': v.id, 'data-state': r?.state ?? '', 'data-decision': r?.decision ?? '', class: r ? stateClass(r) : 'none' });
        if (r) {
          cell.append(h('span', { text: r.state }));
          if (r.locks?.length) cell.append(h('span', { class: 'commit-lock', text: tr('commit.node.locks', { keys: r.locks.join(',') }) }));
        }
        tr2.append(cell);
      }
      tr2.append(h('td', { class: row.blocked ? 'commit-blocked' : '', text: row.blocked ? seconds(row.blocked) : '—' }));
      table.append(tr2);
    }
    // A split outcome is the lesson of 3PC under a partition: said in words above the table.
    for (const row of rows.filter((r) => !r.atomic)) {
      const by = (d) => [...row.cells].filter(([, r]) => r.decision === d).map(([n]) => n).join(', ');
      box.append(h('p', { class: 'commit-split-note', 'data-split': row.txn, text: t('commit.split', { txn: row.txn, committed: by('commit'), aborted: by('abort') }) }));
    }
    if (rows.length > shown.length) box.append(h('p', { class: 'hint', text: t('commit.older', { n: rows.length - shown.length }) }));
    box.append(rows.length ? h('div', { class: 'commit-scroll' }, [table]) : h('p', { class: 'hint', text: t('commit.noTxns') }));
    box.append(h('p', { class: 'hint', text: t('commit.panelHint') }));
  },
};

// ---- the legend ----

export function legendExtras(t) {
  const w = 104;
  const icon = (cls, text) => s('svg', { class: 'legend-icon wide', viewBox: `0 -8 ${w} 16`, width: w, height: 16, 'aria-hidden': 'true' }, [
    s('text', { class: cls, x: w / 2, y: 4, 'text-anchor': 'middle', 'font-size': 10, text }),
  ]);
  return [
    { icon: icon('commit-line st-uncertain', 'c1.2 prepared'), label: t('commit.legend.uncertain') },
    { icon: icon('commit-line st-commit', 'c1.2 committed'), label: t('commit.legend.committed') },
    { icon: icon('commit-line st-abort', 'c1.2 aborted'), label: t('commit.legend.aborted') },
    { icon: icon('commit-badge', t('commit.node.blocked', { time: '2.4 s' })), label: t('commit.legend.blocked') },
  ];
}

export function legend(t) {
  return [
    { kind: 'commit-ask', shape: 'square', hollow: false, label: t('commit.legend.ask') },
    { kind: 'commit-ask', shape: 'square', hollow: true, label: t('commit.legend.vote') },
    { kind: 'commit-pre', shape: 'triangle', hollow: false, label: t('commit.legend.pre') },
    { kind: 'commit-yes', shape: 'circle', hollow: false, label: t('commit.legend.commit') },
    { kind: 'commit-no', shape: 'circle', hollow: false, label: t('commit.legend.abort') },
    { kind: 'commit-comp', shape: 'square', hollow: false, label: t('commit.legend.compensate') },
    { kind: 'commit-term', shape: 'circle', hollow: false, small: true, label: t('commit.legend.termination') },
    ...generic.legend(t),
  ];
}

export default { leaderless, roles, menuKeys, pickKey, ops, messageStyle, belowNode, nodeExtras, inspector, panel, legend, legendExtras };
