// The explanation above the two sides: what the student is looking at, in CAP terms while the
// network is partitioned, in PACELC terms while it is not (the latency price of consistency),
// and in BASE terms after the heal (how long each side took to settle again, probed every
// 10 ms as `caplab run` measures `converged_ms`). Built from the
// figures each side measured, so the numbers in the text are the ones on the charts.

import { h } from '../dom.js';
import { pick, t } from '../i18n.js';

const pct = (v) => (v === null || v === undefined ? '–' : `${v.toFixed(0)}%`);
const ms = (v) => (v === null || v === undefined ? '–' : `${v.toFixed(0)} ms`);
/** `caplab run` probes for convergence every 10 ms of virtual time; so does the page. */
const PROBE_MS = 10;

/**
 * When a side first settled after the heal at `healedAt` (NWR: every replica agrees; Raft: one
 * agreed leader), probed exactly as `caplab run` probes for `converged_ms`: on a copy of the run
 * taken at the heal, at every multiple of 10 ms, replaying the user's later actions at their
 * times. The copy is kept on the view and probed further as time goes on. Returns the time, or
 * null when not (yet) settled by `now`.
 */
export function settledAt(view, healedAt, now) {
  const s = view.session;
  const acts = s.userActions().filter((a) => a.at_us / 1000 > healedAt);
  const key = `${healedAt}|${s.version}|${JSON.stringify(acts)}`;
  let c = view.convergence;
  if (!c || c.key !== key || c.session !== s) {
    c?.copy?.free();
    const copy = s.baseFor(healedAt).pg.snapshot();
    copy.runUntil(healedAt);
    c = { key, session: s, copy, acts, next: 0, found: null };
    view.convergence = c;
  }
  while (c.found === null && c.copy.nowMs() < now) {
    const act = c.acts[c.next];
    const limit = act ? Math.min(now, act.at_us / 1000) : now;
    const at = c.copy.firstSettledMs(limit, PROBE_MS);
    if (at >= 0) c.found = at;
    else if (act && limit === act.at_us / 1000) {
      try { c.copy.apply(JSON.stringify(act.action)); } catch { /* refused there as it was here */ }
      c.next++;
    } else break;
  }
  return c.found !== null && c.found <= now ? c.found : null;
}

/** For two atomic-commitment protocols: what a client outside a transaction could see of it. */
function explainCommit(views, para, name) {
  para('cap-term', 'cap.explainCommit', {});
  for (const v of views) {
    const st = v.stats;
    const vars = {
      side: name(v), refused: st.isolation.refused, dirty: st.isolation.dirty.size,
      lin: st.linearizable === false ? t('cap.linNo') : st.linearizable ? t('cap.linYes') : '–',
    };
    if (st.isolation.dirty.size) para('side-line', 'cap.explainDirty', vars);
    else if (st.isolation.refused) para('side-line', 'cap.explainLocked', vars);
    else para('side-line', 'cap.explainCommitQuiet', vars);
  }
}

/** For leader-based protocols side by side: how long each went without a leader after losing
 * one, and what a committed write cost it in messages and time. */
function explainConsensus(views, para, name) {
  const ms = (v) => (v === null || v === undefined ? '–' : `${v.toFixed(0)} ms`);
  const crashed = views.some((v) => v.stats.consensus?.leaderless.some((g) => g.cause === 'crashed'));
  para('cap-term', crashed ? 'cap.explainConsensusCrash' : 'cap.explainConsensus', {});
  for (const v of views) {
    const c = v.stats.consensus;
    if (!c) continue;
    const gap = c.leaderless.find((g) => g.to_ms === null);
    const crash = c.leaderless.find((g) => g.cause === 'crashed');
    if (gap) para('side-line', 'cap.explainNoLeader', { side: name(v), lost: gap.lost, ms: ms(gap.ms) });
    else if (crash) para('side-line', 'cap.explainElected', { side: name(v), lost: crash.lost, ms: ms(crash.ms) });
  }
  for (const v of views) {
    const c = v.stats.consensus;
    if (!c?.writes_committed) continue;
    para('base-term', 'cap.explainCost', {
      side: name(v), msgs: c.messages_per_write.toFixed(1), p50: ms(c.write_latency_ms?.p50), p99: ms(c.write_latency_ms?.p99),
    });
  }
}

/** The panel's paragraphs, and a key that changes only when their text does. */
export function explain(views, now) {
  if (views.some((v) => !v.stats)) return { key: '', nodes: [] };
  const name = (v) => pick(v.side.title) || v.side.name;
  const only = (fn) => {
    const lines = [];
    fn(views, (cls, key, vars) => lines.push([cls, key, t(key, vars)]), name);
    return {
      key: lines.map((l) => l[2]).join('\n'),
      nodes: lines.map(([cls, key, text]) => h('p', { class: cls, 'data-explain': key, text })),
    };
  };
  if (views.every((v) => v.stats.isolation)) return only(explainCommit);
  if (views.every((v) => v.stats.consensus)) return only(explainConsensus);
  const a = views[0];
  const windows = a.stats.windows;
  const open = windows.find((w) => w.end === null);
  const last = windows.at(-1);
  const lines = [];
  const para = (cls, key, vars) => lines.push([cls, key, t(key, vars)]);
  if (open) {
    para('cap-term', 'cap.explainPartition', { ms: open.start.toFixed(0) });
    for (const v of views) {
      const st = v.stats;
      const vars = {
        side: name(v), minority: pct(st.sides.minority.pct), majority: pct(st.sides.majority.pct),
        stale: st.stale.size, lin: st.linearizable === false ? t('cap.linNo') : st.linearizable ? t('cap.linYes') : '–',
      };
      const minority = st.sides.minority.pct;
      if (minority === null) para('side-line', 'cap.explainWaiting', vars);
      else if (minority < 50) para('side-line', 'cap.explainRefuses', vars);
      else if (st.stale.size || st.linearizable === false) para('side-line', 'cap.explainServes', vars);
      else para('side-line', 'cap.explainServesSoFar', vars);
    }
  } else {
    para('pacelc-term', 'cap.explainElse', {});
    for (const v of views) para('side-line', 'cap.explainLatency', { side: name(v), p50: ms(v.stats.quietP50) });
  }
  if (!open && last) {
    for (const v of views) {
      const at = settledAt(v, last.end, now);
      if (at !== null) para('base-term', 'cap.explainConverged', { side: name(v), ms: (at - last.end).toFixed(0) });
      else para('base-term', 'cap.explainConverging', { side: name(v) });
    }
  }
  if (!windows.length) para('hint', 'cap.explainStart', {});
  return {
    key: lines.map((l) => l[2]).join('\n'),
    nodes: lines.map(([cls, key, text]) => h('p', { class: cls, 'data-explain': key, text })),
  };
}
