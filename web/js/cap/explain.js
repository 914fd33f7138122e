// The explanation under the two sides: what the student is looking at, in CAP terms while the
// network is partitioned, in PACELC terms while it is not (the latency price of consistency),
// and in BASE terms after the heal (the AP side converging). Built from the figures each side
// measured, so the numbers in the text are the ones on the charts.

import { h } from '../dom.js';
import { pick, t } from '../i18n.js';

const pct = (v) => (v === null || v === undefined ? '–' : `${v.toFixed(0)}%`);
const ms = (v) => (v === null || v === undefined ? '–' : `${v.toFixed(0)} ms`);

/** Remembers, per side, when convergence was first seen after the last heal. */
const converged = new WeakMap();

function convergence(view, healedAt, now) {
  const s = view.session;
  let reason = null;
  try { reason = s.pg.settledError?.() ?? null; } catch (e) { reason = String(e.message ?? e); }
  const memo = converged.get(s) ?? {};
  if (memo.healedAt !== healedAt || (memo.at !== undefined && memo.at > now)) {
    memo.healedAt = healedAt;
    memo.at = undefined;
  }
  if (!reason && memo.at === undefined) memo.at = now;
  if (reason) memo.at = undefined;
  converged.set(s, memo);
  return { done: !reason, at: memo.at, reason };
}

/** Paragraphs for the panel. `views`: the two SideViews, measured. */
export function explain(views, now) {
  const [a, b] = views;
  if (!a.stats || !b.stats) return [];
  const name = (v) => pick(v.side.title) || v.side.name;
  const windows = a.stats.windows;
  const open = windows.find((w) => w.end === null);
  const last = windows.at(-1);
  const out = [];
  const para = (cls, key, vars) => out.push(h('p', { class: cls, 'data-explain': key, text: t(key, vars) }));
  if (open) {
    para('cap-term', 'cap.explainPartition', { ms: open.start.toFixed(0) });
    for (const v of views) {
      const st = v.stats;
      const vars = {
        side: name(v), minority: pct(st.sides.minority.pct), majority: pct(st.sides.majority.pct),
        stale: st.stale.size, lin: st.linearizable === false ? t('cap.linNo') : st.linearizable ? t('cap.linYes') : '–',
      };
      const refuses = st.sides.minority.pct !== null && st.sides.minority.pct < 50;
      para('side-line', refuses ? 'cap.explainRefuses' : 'cap.explainServes', vars);
    }
  } else {
    para('pacelc-term', 'cap.explainElse', {});
    for (const v of views) para('side-line', 'cap.explainLatency', { side: name(v), p50: ms(v.stats.quietP50) });
  }
  if (!open && last) {
    for (const v of views) {
      const c = convergence(v, last.end, now);
      if (c.done) para('base-term', 'cap.explainConverged', { side: name(v), ms: (c.at - last.end).toFixed(0) });
      else para('base-term', 'cap.explainConverging', { side: name(v), reason: c.reason });
    }
  }
  if (!windows.length) para('hint', 'cap.explainStart', {});
  return out;
}
