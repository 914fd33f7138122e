//! Linearizability checker for key-value histories.
//!
//! Decides whether a recorded history of `put`s, `get`s and `cas`es (see [`HistoryEntry`]) could
//! have come from one copy of the store that applies each operation atomically at a single instant
//! between its invocation and its response. It is how CAPlab judges, after a run, whether a
//! protocol kept its consistency promise, and which few operations prove that it did not.
//!
//! Every key is an independent register whose initial value is absent (`None`):
//! - `put` ok takes effect at one instant in `[invoke_us, return_us]`;
//! - `put` unknown (`return_us` null) takes effect at any instant after `invoke_us`, or never;
//! - `get` ok takes effect at one instant in `[invoke_us, return_us]` and returns the value then;
//! - `cas` ok takes effect at one instant in `[invoke_us, return_us]`, when the register holds
//!   `expected`, and writes `value`;
//! - `cas` unknown takes effect at any instant after `invoke_us`, or never; it writes `value` if
//!   the register holds `expected` then, and otherwise changes nothing (as if it never happened);
//! - anything that failed never took effect and is ignored (a `cas` too, as in Jepsen's own
//!   checker, even though Jepsen reports one that found another value as failed);
//! - `get` unknown returned nothing and constrains nothing, so it is ignored.
//!
//! A precedes B in real time only if `A.return_us < B.invoke_us`; equal times are concurrent.
//!
//! The search is Wing & Gong's (J. M. Wing and C. Gong, "Testing and verifying concurrent
//! objects", J. Parallel and Distributed Computing 17, 1993): walk the call and return events in
//! time order, tentatively linearize an operation whose call has been reached, and backtrack on
//! reaching the return of one not yet linearized. Lowe's memoization (G. Lowe, "Testing for
//! linearizability", Concurrency and Computation: Practice and Experience 29(4), 2017) caches
//! each visited (set of linearized operations, register state) so no configuration is explored
//! twice. The layout, a doubly linked event list with lift/unlift and a bitset cache, follows
//! Porcupine (A. Athalye, github.com/anishathalye/porcupine) and Knossos. Linearizability is local
//! (P-compositional), so each key is checked on its own. An unknown `put` or `cas` has its return at
//! +infinity: it may be linearized anywhere after its call, and the search succeeds as soon as
//! every operation with a finite return is linearized (the unknown ones left over never happened).
//! An unknown put or cas is only tried when it changes the register and some operation that needs
//! the value it writes (a read, a cas) is still unlinearized: otherwise it can be dropped from any
//! linearization, and trying it would only multiply the search space.

use crate::workload::history::{HistoryEntry, HistoryOp, Outcome, per_key};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

/// Tuning for [`check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckOptions {
    /// Search steps allowed for one key before it is reported as [`KeyVerdict::GaveUp`] (a key
    /// whose memo cache outgrows 256 MiB gives up too).
    pub max_steps_per_key: u64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self { max_steps_per_key: 50_000_000 }
    }
}

/// The result for one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyVerdict {
    Linearizable,
    /// `witness` holds indices into the checked slice, ascending: a few operations on this key
    /// that cannot all be ordered (the private `witness` function says how they are chosen).
    NotLinearizable {
        witness: Vec<usize>,
    },
    /// The search budget (steps, or the memo cache's memory) ran out after `steps` steps;
    /// nothing is known about this key.
    GaveUp {
        steps: u64,
    },
}

/// The result for a whole history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct Verdict {
    /// `Some(false)` if any key is not linearizable, else `None` if any key gave up (or the
    /// history is malformed), else `Some(true)`.
    pub linearizable: Option<bool>,
    /// One verdict per key that appears in the history, sorted by key.
    pub keys: Vec<(String, KeyVerdict)>,
    /// Why the history could not be checked at all (then `keys` is empty).
    pub error: Option<String>,
}

/// Checks a history, key by key.
pub fn check(history: &[HistoryEntry], opts: &CheckOptions) -> Verdict {
    if let Err(error) = validate(history) {
        return Verdict { linearizable: None, keys: Vec::new(), error: Some(error) };
    }
    // A transaction is checked as one put per key it writes (see `history::per_key`); a
    // witness names the transaction's own index.
    let expanded = per_key(history);
    let mut by_key: BTreeMap<&str, Vec<(usize, &HistoryEntry)>> = BTreeMap::new();
    for (i, e) in &expanded {
        by_key.entry(e.key.as_str()).or_default().push((*i, e.as_ref()));
    }
    let keys: Vec<(String, KeyVerdict)> = by_key
        .into_iter()
        .map(|(key, entries)| (key.to_string(), check_key(&entries, opts.max_steps_per_key)))
        .collect();
    let failed = keys.iter().any(|(_, v)| matches!(v, KeyVerdict::NotLinearizable { .. }));
    let gave_up = keys.iter().any(|(_, v)| matches!(v, KeyVerdict::GaveUp { .. }));
    let linearizable = if failed {
        Some(false)
    } else if gave_up {
        None
    } else {
        Some(true)
    };
    Verdict { linearizable, keys, error: None }
}

/// `true` only if the history is well formed and every key is linearizable (within the default
/// step budget).
pub fn is_linearizable(history: &[HistoryEntry]) -> bool {
    check(history, &CheckOptions::default()).linearizable == Some(true)
}

fn validate(history: &[HistoryEntry]) -> Result<(), String> {
    for (i, e) in history.iter().enumerate() {
        let what = || format!("history entry {i} ({} {:?} on key `{}`)", e.client, e.op, e.key);
        match (e.outcome, e.return_us) {
            (Outcome::Unknown, Some(r)) => {
                return Err(format!("{}: outcome is unknown but return_us is {r}, not null", what()));
            }
            (Outcome::Ok | Outcome::Fail, None) => {
                return Err(format!("{}: outcome {:?} needs a return_us", what(), e.outcome));
            }
            (_, Some(r)) if r < e.invoke_us => {
                let inv = e.invoke_us;
                return Err(format!("{}: returns at {r} us, before its invocation at {inv} us", what()));
            }
            _ => {}
        }
        match e.op {
            HistoryOp::Put | HistoryOp::Cas if e.value.is_none() => {
                return Err(format!("{}: a {} needs a value", what(), op_name(e.op)));
            }
            HistoryOp::Put | HistoryOp::Get | HistoryOp::Txn if e.expected.is_some() => {
                return Err(format!("{}: only a cas has an expected value", what()));
            }
            HistoryOp::Txn if e.writes.is_empty() || e.writes.iter().any(|w| w.key.is_empty()) => {
                return Err(format!("{}: a txn needs writes, each with a key", what()));
            }
            HistoryOp::Put | HistoryOp::Get | HistoryOp::Cas if !e.writes.is_empty() => {
                return Err(format!("{}: only a txn has writes", what()));
            }
            _ => {}
        }
    }
    Ok(())
}

fn op_name(op: HistoryOp) -> &'static str {
    match op {
        HistoryOp::Put => "put",
        HistoryOp::Get => "get",
        HistoryOp::Cas => "cas",
        HistoryOp::Txn => "txn",
    }
}

/// One operation of a key that the search has to place.
struct Op {
    /// Index into the checked slice.
    entry: usize,
    /// The value the register must hold for it to apply (a read, a cas), if any. Values are
    /// interned: 0 is absent, others number the distinct strings of this key.
    pre: Option<u32>,
    /// The value it writes (a put, a cas that succeeded or may have), if any.
    post: Option<u32>,
    invoke: u64,
    /// `None` for an unknown put or cas: its return is at +infinity.
    ret: Option<u64>,
}

impl Op {
    /// The register's value after this operation, if it can apply to `state`.
    fn apply(&self, state: u32) -> Option<u32> {
        self.pre.is_none_or(|v| v == state).then_some(self.post.unwrap_or(state))
    }
}

/// The memo cache of one key may hold this many 64-bit words of linearized-set bitsets (256 MiB)
/// before the key is reported as [`KeyVerdict::GaveUp`], whatever the step budget says: a long,
/// highly concurrent key would otherwise run out of memory (in a browser, long before the steps).
const MAX_CACHE_WORDS: usize = 1 << 25;

const HEAD: usize = 0;
const TAIL: usize = 1;

/// The doubly linked list of call and return events, with Knuth's dancing-links removal.
struct Events {
    next: Vec<usize>,
    prev: Vec<usize>,
    /// For each node: whether it is a return, and its operation (meaningless for HEAD and TAIL).
    node: Vec<(bool, usize)>,
    call: Vec<usize>,
    ret: Vec<Option<usize>>,
}

impl Events {
    fn new(ops: &[Op]) -> Self {
        // Sorted by time, calls before returns at equal times (so they count as concurrent).
        let mut evs: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * ops.len());
        for (k, op) in ops.iter().enumerate() {
            evs.push((op.invoke, false, k));
            if let Some(r) = op.ret {
                evs.push((r, true, k));
            }
        }
        evs.sort_unstable();
        let n = evs.len() + 2;
        let mut ev = Events {
            next: vec![TAIL; n],
            prev: vec![HEAD; n],
            node: vec![(true, 0); n],
            call: vec![0; ops.len()],
            ret: vec![None; ops.len()],
        };
        let mut last = HEAD;
        for (j, &(_, is_return, k)) in evs.iter().enumerate() {
            let node = j + 2;
            ev.node[node] = (is_return, k);
            if is_return {
                ev.ret[k] = Some(node);
            } else {
                ev.call[k] = node;
            }
            ev.next[last] = node;
            ev.prev[node] = last;
            last = node;
        }
        ev.next[last] = TAIL;
        ev.prev[TAIL] = last;
        ev
    }

    fn remove(&mut self, x: usize) {
        let (p, n) = (self.prev[x], self.next[x]);
        self.next[p] = n;
        self.prev[n] = p;
    }

    fn restore(&mut self, x: usize) {
        let (p, n) = (self.prev[x], self.next[x]);
        self.next[p] = x;
        self.prev[n] = x;
    }

    fn lift(&mut self, k: usize) {
        self.remove(self.call[k]);
        if let Some(r) = self.ret[k] {
            self.remove(r);
        }
    }

    fn unlift(&mut self, k: usize) {
        if let Some(r) = self.ret[k] {
            self.restore(r);
        }
        self.restore(self.call[k]);
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The cache keys are already well mixed (Zobrist hash, small state), so SipHash is wasted work.
#[derive(Default)]
struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = splitmix64(self.0 ^ x);
    }
    fn write_u32(&mut self, x: u32) {
        self.write_u64(u64::from(x));
    }
}

type Cache = HashMap<(u64, u32), Vec<Box<[u64]>>, BuildHasherDefault<MixHasher>>;

struct Frame {
    op: usize,
    state: u32,
    writer: Option<usize>,
}

/// Numbers the values of one key: 0 is absent, others number the distinct strings.
fn intern<'a>(interned: &mut HashMap<&'a str, u32>, v: &'a Option<String>) -> u32 {
    match v {
        None => 0,
        Some(v) => {
            let fresh = interned.len() as u32 + 1;
            *interned.entry(v.as_str()).or_insert(fresh)
        }
    }
}

fn check_key(entries: &[(usize, &HistoryEntry)], max_steps: u64) -> KeyVerdict {
    let mut interned: HashMap<&str, u32> = HashMap::new();
    let mut ops = Vec::new();
    for &(entry, e) in entries {
        let (pre, post) = match (e.op, e.outcome) {
            (_, Outcome::Fail) | (HistoryOp::Get, Outcome::Unknown) => continue,
            // `per_key` has turned every transaction into puts.
            (HistoryOp::Put | HistoryOp::Txn, _) => (None, Some(intern(&mut interned, &e.value))),
            (HistoryOp::Get, _) => (Some(intern(&mut interned, &e.value)), None),
            (HistoryOp::Cas, _) => (Some(intern(&mut interned, &e.expected)), Some(intern(&mut interned, &e.value))),
        };
        ops.push(Op { entry, pre, post, invoke: e.invoke_us, ret: e.return_us });
    }
    let mut events = Events::new(&ops);
    // Operations not linearized yet that need each value (reads, cas). An unknown put or cas is
    // optional, and applying it only matters if it changes the register and a later operation
    // needs the value it writes: otherwise dropping it from any linearization leaves a valid one
    // (nothing could tell it happened). So it is tried only then, which keeps the many timed-out
    // writes of a partitioned run from multiplying the search space.
    let mut needs = vec![0usize; interned.len() + 1];
    for v in ops.iter().filter_map(|o| o.pre) {
        needs[v as usize] += 1;
    }
    // Zobrist hashing of the linearized set keeps cache lookups free of allocation.
    let zobrist: Vec<u64> = (0..ops.len() as u64).map(splitmix64).collect();
    let mut bits = vec![0u64; ops.len().div_ceil(64)];
    let mut hash = 0u64;
    let mut cache = Cache::default();
    let mut cached_words = 0usize;
    let mut stack: Vec<Frame> = Vec::new();
    let (mut state, mut writer) = (0u32, None);
    let finite = ops.iter().filter(|o| o.ret.is_some()).count();
    let mut remaining = finite;
    // The deepest partial linearization: (finite ops in it, its set, the op that wrote its state).
    let mut best = (0, bits.clone(), None);
    let mut steps = 0u64;
    let mut node = events.next[HEAD];
    while remaining > 0 {
        if steps >= max_steps || cached_words > MAX_CACHE_WORDS {
            return KeyVerdict::GaveUp { steps };
        }
        steps += 1;
        let (is_return, k) = events.node[node];
        if !is_return {
            let op = &ops[k];
            let after = op.apply(state).filter(|&new| op.ret.is_some() || (new != state && needs[new as usize] > 0));
            if let Some(new_state) = after {
                bits[k / 64] ^= 1 << (k % 64);
                hash ^= zobrist[k];
                let seen = cache.entry((hash, new_state)).or_default();
                if !seen.iter().any(|b| **b == *bits) {
                    seen.push(bits.clone().into_boxed_slice());
                    cached_words += bits.len() + 4;
                    stack.push(Frame { op: k, state, writer });
                    if op.post.is_some() {
                        writer = Some(k);
                    }
                    state = new_state;
                    events.lift(k);
                    if let Some(v) = op.pre {
                        needs[v as usize] -= 1;
                    }
                    if op.ret.is_some() {
                        remaining -= 1;
                        if finite - remaining > best.0 {
                            best = (finite - remaining, bits.clone(), writer);
                        }
                    }
                    node = events.next[HEAD];
                    continue;
                }
                bits[k / 64] ^= 1 << (k % 64);
                hash ^= zobrist[k];
            }
            node = events.next[node];
        } else {
            // The return of an operation not linearized yet (or, defensively, the tail): undo the
            // last choice and try the next candidate after it.
            let Some(f) = stack.pop() else {
                return KeyVerdict::NotLinearizable { witness: witness(&ops, &best.1, best.2) };
            };
            bits[f.op / 64] ^= 1 << (f.op % 64);
            hash ^= zobrist[f.op];
            state = f.state;
            writer = f.writer;
            events.unlift(f.op);
            if let Some(v) = ops[f.op].pre {
                needs[v as usize] += 1;
            }
            if ops[f.op].ret.is_some() {
                remaining += 1;
            }
            node = events.next[events.call[f.op]];
        }
    }
    KeyVerdict::Linearizable
}

/// A few operations that show why the key fails, for a UI to highlight.
///
/// As in Porcupine, the search remembers its deepest partial linearization. The culprit is the
/// operation whose return event stopped that deepest attempt: of the finite operations left out
/// of it, the one that returns first (the search walks events in time order, so this is exactly
/// the return it hit; by call order it would often be a long-running operation that is not at
/// fault). Around it we report only what a person needs to see the contradiction:
/// - the put or cas whose value the register held at that point (the last writer linearized);
/// - the operations that overlap it in time, which could have been ordered either side of it
///   (unknown puts and cas, which overlap everything after their call, only if they wrote the
///   value the culprit read or compared with);
/// - the last put or cas that completed before the culprit was invoked (what it must see at
///   least);
/// - for a read of a value or a cas from one, the put or cas of that value it claims to have
///   seen: the latest invoked before the culprit returned, or failing that the first invoked
///   after.
///
/// That is the culprit plus at most three operations plus its concurrency, deduplicated.
fn witness(ops: &[Op], best: &[u64], writer: Option<usize>) -> Vec<usize> {
    let linearized = |k: usize| (best[k / 64] >> (k % 64)) & 1 == 1;
    let culprit = ops
        .iter()
        .enumerate()
        .filter_map(|(k, o)| o.ret.filter(|_| !linearized(k)).map(|r| (r, k, o)))
        .min_by_key(|&(r, k, _)| (r, k));
    let Some((c_ret, _, c)) = culprit else {
        return Vec::new();
    };
    // The value the culprit claims the register held, if it names one (a read, a cas).
    let claimed = c.pre;
    let mut out = vec![c.entry];
    out.extend(writer.map(|k| ops[k].entry));
    for o in ops {
        let overlaps = o.invoke <= c_ret && o.ret.is_none_or(|r| r >= c.invoke);
        let relevant = o.ret.is_some() || (claimed.is_some() && o.post == claimed);
        if overlaps && relevant {
            out.push(o.entry);
        }
    }
    let before =
        ops.iter().filter_map(|o| o.ret.filter(|&r| o.post.is_some() && r < c.invoke).map(|r| (r, o.entry))).max();
    out.extend(before.map(|(_, e)| e));
    if let Some(v) = claimed.filter(|&v| v != 0) {
        let source = ops
            .iter()
            .filter(|o| o.post == Some(v))
            .min_by_key(|o| (o.invoke > c_ret, o.invoke.abs_diff(c_ret), o.entry));
        out.extend(source.map(|o| o.entry));
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
#[path = "linearizability_tests.rs"]
mod tests;
