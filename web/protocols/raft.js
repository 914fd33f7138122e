// Raft's own drawing: each node's election timer as a shrinking ring and its log as a strip
// of entries coloured by term (committed entries solid, the rest hollow); message shapes for
// the paper's two RPCs; the inspector (term, vote, log, nextIndex/matchIndex, timers); and a
// "Logs" panel that lines up every node's log by index, which is how Figure 8 is read.

import { h, s, setAttr, setText } from '../js/dom.js';
import * as generic from './generic.js';

export const name = 'raft';

// Term 1 takes the first colour; colours repeat every eight terms.
const termClass = (term) => `term t${(term + 7) % 8}`;

export function messageStyle(m) {
  const client = generic.clientStyle(m);
  if (client) return client;
  const body = m.msg ? Object.values(m.msg)[0] ?? {} : {};
  switch (m.label) {
    case 'RequestVote': return { kind: 'vote', shape: 'circle', hollow: false };
    case 'RequestVoteReply': return { kind: 'vote', shape: 'circle', hollow: true, denied: body.vote_granted === false };
    case 'AppendEntries': return { kind: 'append', shape: 'square', hollow: false };
    case 'Heartbeat': return { kind: 'append', shape: 'square', hollow: false, small: true };
    case 'AppendEntriesReply': return { kind: 'append', shape: 'square', hollow: true, denied: body.success === false };
    default: return generic.messageStyle(m);
  }
}

export function formatCommand(entry) {
  if (!entry) return '';
  if (typeof entry === 'string') return entry === 'noop' || entry === 'Noop' ? 'no-op' : entry;
  switch (entry.cmd) {
    case 'noop': return 'no-op';
    case 'put': return `put ${entry.key}=${entry.value}`;
    case 'get': return `get ${entry.key}`;
    default: return JSON.stringify(entry);
  }
}

export function describeMessage(m) {
  const rows = generic.describeMessage(m).filter(([k]) => k !== 'entries' && !k.startsWith('entries.'));
  const body = m.msg ? Object.values(m.msg)[0] : null;
  if (body && Array.isArray(body.entries)) {
    const list = body.entries.map((e) => `[t${e.term}] ${formatCommand(e)}`);
    rows.push(['entries', list.length ? list.join(', ') : '—']);
  }
  return rows;
}

/** The timer ring and the log strip inside one node's SVG group; under `read_mode: "lease"`,
 * a line under the leader's log: how long its lease lasts on its own clock. */
let leaseMode = false;

/** Room under the bottom node for the lease line, under `read_mode: "lease"`. */
export function belowNode(r) {
  const cell = Math.max(9, Math.round(r * 0.36));
  return leaseMode ? 9 + cell + 3 + 8 + Math.max(9, Math.min(12, Math.round(r * 0.3))) + 6 : 0;
}

export function nodeExtras(group, ctx) {
  const log = logExtras(group, ctx);
  leaseMode = ctx.scenario?.params?.read_mode === 'lease';
  if (!leaseMode) return log;
  const line = s('text', { class: 'lease-line', 'text-anchor': 'middle' });
  group.append(line);
  const cache = {};
  let r = 30;
  let drawn = '';
  return {
    layout(radius, crowded) {
      log.layout(radius, crowded);
      r = radius;
      drawn = '';
    },
    update(view, timers, now) {
      log.update(view, timers, now);
      const id = view.id ?? group.dataset.node;
      const leads = view.role === 'leader';
      const info = leads ? generic.inspectCached(cache, ctx, id, 'raft') : null;
      const text = leaseText(info?.state ?? info, id, view, ctx.t, now);
      const key = `${text}|${r}`;
      if (key === drawn) return;
      drawn = key;
      const cell = Math.max(9, Math.round(r * 0.36));
      const font = Math.max(9, Math.min(12, Math.round(r * 0.3)));
      setAttr(line, 'display', text ? 'inline' : 'none');
      setAttr(line, 'y', r + 9 + cell + 3 + 8 + font);
      setAttr(line, 'font-size', font);
      setAttr(line, 'class', `lease-line${text && leaseOver(info?.state ?? info, view, now) ? ' expired' : ''}`);
      setText(line, text);
    },
  };
}

/** The node's own clock in microseconds: its reading when it differs from true time, else true
 * time (`nowMs`, the page's clock). */
function clockUs(view, nowMs) {
  if (view.clock) return view.clock.reading_us;
  return Number.isFinite(nowMs) ? Math.round(nowMs * 1000) : null;
}

function leaseOver(st, view, nowMs) {
  const until = st?.lease?.until_us;
  const clock = clockUs(view, nowMs);
  return until !== null && until !== undefined && clock !== null && clock >= until;
}

/** "lease until 1.300 s on n3's clock" (or that it ran out, when the page knows the clock). */
export function leaseText(st, id, view, t, nowMs) {
  const until = st?.lease?.until_us;
  if (!st?.lease) return '';
  if (until === null || until === undefined) return t('raft.lease.none');
  const sec = (us) => (us / 1e6).toFixed(3);
  if (leaseOver(st, view, nowMs)) return t('raft.lease.over', { until: sec(until), node: id });
  return t('raft.lease.until', { until: sec(until), node: id });
}

/** The figures under `read_mode: "lease"`: reads by lease and through the log, and who
 * believes it holds a lease now. */
export function figureLines(f, t) {
  if (!f || typeof f !== 'object' || f.lease_reads === undefined) return [];
  const holders = (f.leases ?? []).map((l) => t('raft.fig.holder', { node: l.node, term: l.term, left: Number(l.remaining_ms).toFixed(1) }));
  return [
    { name: 'lease_reads', value: f.lease_reads, text: t('raft.fig.leaseReads', { n: f.lease_reads }) },
    { name: 'log_reads', value: f.log_reads, text: t('raft.fig.logReads', { n: f.log_reads }) },
    { name: 'lease_holders', value: f.lease_holders, text: holders.length ? holders.join(' · ') : t('raft.fig.noHolder'), tone: f.lease_holders > 1 ? 'warn' : '' },
  ];
}

/**
 * The timer ring and the log strip, for any protocol with a replicated log: `log_terms` (one
 * number per position: Raft's term, Multi-Paxos's ballot round, ZAB's epoch; 0 draws an empty
 * slot) and `commit_index`. `isTimer(timer)` picks the timer the ring counts down (a follower's
 * wait for its leader); `ringless` roles show no ring.
 */
export function logExtras(group, ctx, { isTimer = (tm) => tm === 'ElectionTimeout', ringless = ['leader'] } = {}) {
  const maxTimeout = ctx.scenario.params?.election_timeout_ms?.[1] ?? 300;
  const ring = s('circle', { class: 'timer-ring', fill: 'none' });
  const strip = s('g', { class: 'log-strip' });
  const more = s('text', { class: 'log-more' });
  // A bar under the entries up to the commit index: what this node knows is committed.
  const commitBar = s('line', { class: 'commit-bar' });
  strip.append(more, commitBar);
  group.prepend(ring);
  group.append(strip);
  const cells = [];
  let r = 30;
  let cell = 12;
  let maxCells = 8;
  let lastKey = '';

  function layout(radius, crowded) {
    r = radius;
    cell = Math.max(9, Math.round(r * 0.36));
    maxCells = crowded ? 6 : 8;
    setAttr(ring, 'r', r + 5);
    setAttr(ring, 'transform', 'rotate(-90)');
    lastKey = '';
  }

  function drawLog(view) {
    const terms = view.log_terms ?? [];
    const key = `${terms.join(',')}|${view.commit_index}|${cell}|${maxCells}`;
    if (key === lastKey) return;
    lastKey = key;
    const first = Math.max(0, terms.length - maxCells);
    const shown = terms.slice(first);
    const x0 = -(shown.length * (cell + 2) - 2) / 2;
    const y = r + 9;
    while (cells.length < shown.length) {
      const g = s('g', {}, [s('rect', { rx: 2 }), s('text', { 'text-anchor': 'middle' })]);
      strip.append(g);
      cells.push(g);
    }
    cells.forEach((g, i) => {
      if (i >= shown.length) { setAttr(g, 'display', 'none'); return; }
      const index = first + i + 1;
      const term = shown[i];
      const [rect, text] = g.children;
      setAttr(g, 'display', 'inline');
      setAttr(g, 'class', term === 0 ? 'term hole' : `${termClass(term)} ${index <= view.commit_index ? 'committed' : 'uncommitted'}`);
      setAttr(rect, 'x', x0 + i * (cell + 2));
      setAttr(rect, 'y', y);
      setAttr(rect, 'width', cell);
      setAttr(rect, 'height', cell + 3);
      setAttr(text, 'x', x0 + i * (cell + 2) + cell / 2);
      setAttr(text, 'y', y + cell * 0.82);
      setAttr(text, 'font-size', Math.round(cell * 0.72));
      setText(text, term === 0 ? '' : term);
    });
    setAttr(more, 'x', x0 - 3);
    setAttr(more, 'y', y + cell * 0.82);
    setAttr(more, 'text-anchor', 'end');
    setAttr(more, 'font-size', Math.round(cell * 0.72));
    setText(more, first > 0 ? '…' : '');
    const committed = Math.max(0, Math.min(shown.length, view.commit_index - first));
    setAttr(commitBar, 'display', committed > 0 ? 'inline' : 'none');
    setAttr(commitBar, 'x1', x0);
    setAttr(commitBar, 'x2', x0 + committed * (cell + 2) - 2);
    setAttr(commitBar, 'y1', y + cell + 6);
    setAttr(commitBar, 'y2', y + cell + 6);
  }

  function update(view, timers, now) {
    drawLog(view);
    const election = (timers ?? []).find((tm) => isTimer(tm.timer));
    const live = view.role !== 'crashed' && !ringless.includes(view.role) && election;
    const c = 2 * Math.PI * (r + 5);
    const frac = live ? Math.max(0, Math.min(1, (election.fires_us / 1000 - now) / maxTimeout)) : 0;
    setAttr(ring, 'stroke-dasharray', `${(frac * c).toFixed(1)} ${c.toFixed(1)}`);
    setAttr(ring, 'display', live ? 'inline' : 'none');
  }

  return { layout, update };
}

function rows(pairs) {
  const table = h('table', { class: 'kv-table' });
  for (const [k, v] of pairs) table.append(h('tr', {}, [h('th', { text: k }), h('td', {}, [v instanceof Node ? v : h('span', { text: String(v ?? '—') })])]));
  return table;
}

function termChip(term) {
  return h('span', { class: `chip ${termClass(term)}`, text: String(term) });
}

export function inspector(box, info, ctx) {
  const { t } = ctx;
  if (info.state?.crashed) {
    const disk = info.state.on_disk ?? {};
    box.append(h('p', { class: 'hint', text: t('raft.crashedNote') }));
    box.append(rows([[t('raft.term'), disk.term], [t('raft.logLength'), (disk.log_terms ?? []).length]]));
    const strip = h('div', { class: 'log-chips' });
    for (const term of disk.log_terms ?? []) strip.append(termChip(term));
    box.append(strip);
    return;
  }
  const st = info.state;
  box.append(rows([
    [t('raft.role'), t(`role.${st.role}`)],
    [t('raft.term'), st.current_term],
    [t('raft.votedFor'), st.voted_for ?? '—'],
    [t('raft.leader'), st.leader ?? '—'],
    [t('raft.commitIndex'), st.commit_index],
    [t('raft.lastApplied'), st.last_applied],
    ...(st.role === 'candidate' ? [[t('raft.votes'), (st.votes ?? []).join(', ') || '—']] : []),
    ...(st.waiting_clients ? [[t('raft.waiting'), st.waiting_clients]] : []),
    ...(st.lease ? [
      [t('raft.lease.row'), st.lease.until_us === null ? '—' : t('raft.lease.untilShort', { until: (st.lease.until_us / 1e6).toFixed(3) })],
      [t('raft.lease.reads'), t('raft.lease.readCounts', { lease: st.reads?.lease ?? 0, log: st.reads?.log ?? 0 })],
    ] : []),
  ]));
  box.append(h('h4', { text: t('inspector.timers') }));
  if (!info.timers?.length) box.append(h('p', { class: 'hint', text: t('inspector.noTimers') }));
  for (const tm of info.timers ?? []) {
    const left = tm.fires_us / 1000 - ctx.now;
    box.append(h('p', { class: 'mono', text: `${t(`raft.timer.${tm.timer}`)} · ${t('inspector.firesIn', { ms: left.toFixed(1) })}` }));
  }
  if (st.peers) {
    box.append(h('h4', { text: t('raft.peers') }));
    const table = h('table', { class: 'grid-table' }, [h('tr', {}, [h('th', { text: t('raft.peer') }), h('th', { text: 'nextIndex' }), h('th', { text: 'matchIndex' })])]);
    for (const p of st.peers) table.append(h('tr', {}, [h('td', { text: p.node }), h('td', { text: p.next_index }), h('td', { text: p.match_index })]));
    box.append(table);
  }
  box.append(h('h4', { text: t('raft.log', { n: st.log.length }) }));
  if (!st.log.length) box.append(h('p', { class: 'hint', text: t('raft.emptyLog') }));
  const table = h('table', { class: 'grid-table log-table' });
  table.append(h('tr', {}, [h('th', { text: '#' }), h('th', { text: t('raft.term') }), h('th', { text: t('raft.command') })]));
  const shown = st.log.slice(-40);
  if (shown.length < st.log.length) box.append(h('p', { class: 'hint', text: t('raft.earlier', { n: st.log.length - shown.length }) }));
  for (const e of shown) {
    const row = h('tr', { class: e.index <= st.commit_index ? 'committed' : 'uncommitted' }, [
      h('td', { text: e.index }), h('td', {}, [termChip(e.entry.term)]), h('td', { class: 'mono', text: formatCommand(e.entry) }),
    ]);
    table.append(row);
  }
  box.append(table);
  const store = Object.entries(st.store ?? {});
  box.append(h('h4', { text: t('raft.store') }));
  box.append(store.length ? rows(store) : h('p', { class: 'hint', text: t('raft.emptyStore') }));
}

/** Every node's log lined up by index: where logs differ, and what is committed. */
export const panel = {
  titleKey: 'raft.logsTab',
  render(box, nodes, ctx) {
    const longest = Math.max(0, ...nodes.map((n) => (n.log_terms ?? []).length));
    const from = Math.max(0, longest - 24);
    const grid = h('div', { class: 'logs-grid', style: `--cols:${longest - from}` });
    grid.append(h('span', { class: 'logs-head', text: '' }));
    for (let i = from; i < longest; i++) grid.append(h('span', { class: 'logs-head', text: String(i + 1) }));
    for (const n of nodes) {
      grid.append(h('span', { class: `logs-node role-${n.role}`, text: n.id }));
      const terms = n.log_terms ?? [];
      for (let i = from; i < longest; i++) {
        const term = terms[i];
        if (term === undefined) { grid.append(h('span', { class: 'logs-empty' })); continue; }
        const committed = i + 1 <= n.commit_index;
        grid.append(h('span', { class: `${termClass(term)} logs-cell ${committed ? 'committed' : 'uncommitted'}`, text: String(term), title: ctx.t(committed ? 'raft.cellCommitted' : 'raft.cellUncommitted', { index: i + 1, term }) }));
      }
    }
    box.append(h('p', { class: 'hint', text: ctx.t('raft.logsHint') }), grid);
  },
};

/** Legend rows for what Raft adds to a node: the timer ring and the log strip. */
export function legendExtras(t) {
  const icon = (children, w = 18) => s('svg', { class: 'legend-icon', viewBox: `-9 -9 ${w} 18`, width: w, height: 16, 'aria-hidden': 'true' }, children);
  const cell = (x, term, committed) => s('g', { class: `${termClass(term)} ${committed ? 'committed' : 'uncommitted'}` }, [s('rect', { x, y: -6, width: 9, height: 12, rx: 1.5 })]);
  return [
    { icon: icon([s('circle', { class: 'timer-ring', r: 6, fill: 'none', 'stroke-dasharray': '26 40', transform: 'rotate(-90)' })]), label: t('legend.timer') },
    { icon: icon([cell(-8, 1, true), cell(3, 2, true), cell(14, 2, false)], 32), label: t('legend.log') },
  ];
}

export function legend(t) {
  return [
    { kind: 'vote', shape: 'circle', hollow: false, label: 'RequestVote' },
    { kind: 'vote', shape: 'circle', hollow: true, label: t('legend.voteReply') },
    { kind: 'append', shape: 'square', hollow: false, label: 'AppendEntries' },
    { kind: 'append', shape: 'square', hollow: false, small: true, label: t('legend.heartbeat') },
    { kind: 'append', shape: 'square', hollow: true, label: t('legend.appendReply') },
    { kind: 'vote', shape: 'circle', hollow: true, denied: true, label: t('legend.denied') },
    ...generic.legend(t),
  ];
}

export default { name, messageStyle, describeMessage, belowNode, nodeExtras, inspector, panel, legend, legendExtras, figureLines };
