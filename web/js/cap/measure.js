// What the CAP lab plots, computed from one side's client history (the shared history format:
// {client, op, key, value, invoke_us, return_us, outcome}) and the actions applied to it. The
// verdicts that need the checker (linearizability, its witness, stale reads) come from the
// simulator; this file only bins and groups. Pure functions, so they can be tested on their own.

/** Whether an operation is still waiting for its answer. Entries from `liveHistory` say so;
 * a bare history can only tell by a missing return time. */
export const pending = (op) => (op.open !== undefined ? op.open : op.return_us === null || op.return_us === undefined);

/** When the client stopped waiting: the return time, or when it gave up on an unknown one. */
export const endUs = (op) => op.end_us ?? op.return_us ?? null;

/** The simulator's live history (`{entries, open, gave_up_us}`) as entries that carry `open`
 * and `end_us`. */
export function liveHistory(live) {
  const open = new Set(live.open);
  const gaveUp = new Map(live.gave_up_us);
  return live.entries.map((e, i) => ({ ...e, open: open.has(i), end_us: e.return_us ?? gaveUp.get(i) ?? null }));
}

/**
 * Time series in buckets of `bucketMs` from 0 to `nowMs` (at most `endMs`), by the time each
 * operation ended (x: each bucket's end, or now for the last):
 * completions per second by outcome, availability in percent (ok / all that ended), and the
 * p50 / p99 latency of the successful ones. Empty buckets have `null` availability and latency.
 */
export function series(history, endMs, bucketMs, nowMs = endMs) {
  // Buckets up to the current moment only: the future has no data, not zero. The last one may
  // be partial: its point stands at the current moment and its rate counts only its elapsed part.
  const upTo = Math.min(endMs, nowMs);
  const n = Math.max(1, Math.ceil(upTo / bucketMs));
  const x = Array.from({ length: n }, (_, i) => Math.min((i + 1) * bucketMs, Math.max(upTo, bucketMs * i + 1)) / 1000);
  const span = x.map((sec, i) => Math.max(1, sec * 1000 - i * bucketMs));
  const ok = new Array(n).fill(0);
  const fail = new Array(n).fill(0);
  const unknown = new Array(n).fill(0);
  const lat = Array.from({ length: n }, () => []);
  for (const op of history) {
    if (pending(op) || endUs(op) === null) continue;
    const i = Math.floor(endUs(op) / 1000 / bucketMs);
    if (i < 0 || i >= n) continue;
    if (op.outcome === 'ok') {
      ok[i]++;
      lat[i].push((op.return_us - op.invoke_us) / 1000);
    } else if (op.outcome === 'fail') fail[i]++;
    else unknown[i]++;
  }

  const rank = (list, p) => {
    if (!list.length) return null;
    list.sort((a, b) => a - b);
    return list[Math.max(0, Math.ceil(p * list.length) - 1)];
  };
  return {
    x,
    okRate: ok.map((v, i) => (v * 1000) / span[i]),
    failRate: fail.map((v, i) => ((v + unknown[i]) * 1000) / span[i]),
    availability: ok.map((v, i) => {
      const all = v + fail[i] + unknown[i];
      return all ? (100 * v) / all : null;
    }),
    p50: lat.map((l) => rank(l, 0.5)),
    p99: lat.map((l) => rank(l, 0.99)),
  };
}

/** A running count at each bucket's end of the events whose time (ms) is given. */
export function cumulative(timesMs, x) {
  const sorted = [...timesMs].sort((a, b) => a - b);
  let j = 0;
  return x.map((sec) => {
    while (j < sorted.length && sorted[j] <= sec * 1000) j++;
    return j;
  });
}

/**
 * The network faults that split the clients into sides, from a run's applied actions
 * ([{at_us, action, ...}]): each with its start and end (ms; end null while it lasts) and, for
 * the clients concerned, whether each is with the majority of the nodes. A `partition` puts a
 * client on the side of its group (a group holding more than half of the servers is the
 * majority); `isolate` makes the isolated node and the clients that ask it first (`homes`:
 * {client: node}) the minority and every other client the majority. `heal` ends them; a
 * later partition or isolate starts a new window. Cutting single links makes no window.
 */
export function partitions(actions, nodes, homes = {}) {
  const out = [];
  let open = null;
  const close = (t) => { if (open) { open.end = t; out.push(open); open = null; } };
  // Applied actions come flattened: {at_us, action: "partition", groups: [...]}.
  for (const action of actions) {
    const t = action.at_us / 1000;
    if (action.action === 'heal') close(t);
    else if (action.action === 'partition') {
      close(t);
      const side = {};
      for (const group of action.groups ?? []) {
        const servers = group.filter((a) => a.startsWith('n')).length;
        for (const a of group) if (a.startsWith('c')) side[a] = servers * 2 > nodes ? 'majority' : 'minority';
      }
      open = { start: t, end: null, side, kind: 'partition' };
    } else if (action.action === 'isolate') {
      // Isolating a second node while one is isolated widens the same window.
      const side = open?.kind === 'isolate' ? open.side : {};
      const start = open?.kind === 'isolate' ? open.start : t;
      if (open?.kind !== 'isolate') close(t);
      for (const [c, home] of Object.entries(homes)) {
        if (home === action.node) side[c] = 'minority';
        else side[c] ??= 'majority';
      }
      open = { start, end: null, side, kind: 'isolate' };
    }
  }
  if (open) out.push(open);
  return out;
}

/**
 * Availability during partitions, per side of the partition: of the operations invoked while a
 * partition was in force by clients on its minority (or majority) side, the share that ended
 * ok. Operations still pending are left out. `{minority: {ok, all, pct}, majority: {...}}`.
 */
export function bySide(history, windows) {
  const acc = { minority: { ok: 0, all: 0, pct: null }, majority: { ok: 0, all: 0, pct: null } };
  for (const op of history) {
    if (pending(op)) continue;
    const t = op.invoke_us / 1000;
    const w = windows.find((p) => t >= p.start && (p.end === null || t < p.end));
    const side = w?.side[op.client];
    if (!side) continue;
    acc[side].all++;
    if (op.outcome === 'ok') acc[side].ok++;
  }
  for (const s of Object.values(acc)) s.pct = s.all ? (100 * s.ok) / s.all : null;
  return acc;
}

/** "cp" vs "ap" figures side by side for the explanation: p50 latency with no partition. */
export function quietLatency(history, windows) {
  const lat = [];
  for (const op of history) {
    if (pending(op) || op.outcome !== 'ok') continue;
    const t = op.invoke_us / 1000;
    const during = windows.some((p) => t >= p.start && (p.end === null || t < p.end));
    if (!during) lat.push((op.return_us - op.invoke_us) / 1000);
  }
  if (!lat.length) return null;
  lat.sort((a, b) => a - b);
  return lat[Math.max(0, Math.ceil(0.5 * lat.length) - 1)];
}

/**
 * What other clients saw of transactions (2PC, 3PC, Saga): `refused`, the reads that failed
 * (a key locked by an undecided transaction is not read), and `dirty`, the history indices of
 * the reads that returned a value written by a transaction (or put) that then failed: a saga's
 * step that was later compensated, seen for lack of isolation. Values are unique, so the value
 * names its writer.
 */
export function isolation(history) {
  const failed = new Set();
  for (const op of history) {
    if (pending(op) || op.outcome !== 'fail') continue;
    if (op.op === 'txn') for (const w of op.writes ?? []) failed.add(`${w.key}\u0000${w.value}`);
    else if (op.op === 'put') failed.add(`${op.key}\u0000${op.value}`);
  }
  let refused = 0;
  const dirty = new Set();
  history.forEach((op, i) => {
    if (op.op !== 'get' || pending(op)) return;
    if (op.outcome === 'fail') refused++;
    else if (op.outcome === 'ok' && op.value !== null && failed.has(`${op.key}\u0000${op.value}`)) dirty.add(i);
  });
  return { refused, dirty };
}
