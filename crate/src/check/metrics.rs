//! Consistency and availability as a client sees them, measured on a history in the shared
//! format (see the README), whatever protocol produced it: stale reads, the share of operations
//! that succeeded (overall, per client, over time) and the latency of successful operations.
//!
//! Times follow the linearizability checker's convention: operation A precedes B in real time
//! only if `A.return_us < B.invoke_us`; equal times are concurrent.
//!
//! # Stale reads
//!
//! A *write* of a key is a `put` or a `cas` whose outcome is `ok` or `unknown` (one that
//! `fail`ed wrote nothing). A write *had completed* before an instant `t` if its outcome is `ok`
//! and its `return_us < t`. Write A is *older* than write B if A had completed before B was
//! invoked (`A.return_us < B.invoke_us`): then every linearization puts A before B. A write
//! whose outcome is `unknown` is older than nothing: it may have taken effect at any instant
//! after its invocation. The initial state (the key absent, read as `null`) is older than
//! every write.
//!
//! A read (`get` with outcome `ok`) invoked at `t` that returned `v` is **stale** when
//!
//! - `v` was written by a write that is older than some write that had completed before `t`
//!   (the value was overwritten before the read began), or
//! - `v` is `null` (absent) and some write had completed before `t`, or
//! - `v` is a value that no write wrote (a `put` that failed, or nothing at all), whatever
//!   had completed: it cannot be explained by any order of the writes.
//!
//! Writes in this simulator's workloads carry unique values, so each value names its write. If
//! a history holds the same value from several writes, the value counts as written at the latest
//! return of those writes (or by an `unknown` one, older than nothing): a read is then only
//! called stale when every write of that value had been overwritten.
//!
//! A read concurrent with a write (invoked before the write returned) may return the old value
//! or the new one: neither is stale. A read returning a value whose write began after the read
//! returned is not linearizable either, but it is not stale (it is a read "from the future") and
//! is not counted here: the linearizability checker judges the whole history.
//!
//! Each stale read is listed with the newer value that had completed: of the writes that had
//! completed before the read began and that the value read is older than, the one invoked last
//! (`null` when the value read was written by no write and nothing had completed).
//!
//! # Availability
//!
//! The share of operations answered `ok` among those that were answered or given up: `ok`,
//! `fail` and `unknown` all count in the denominator, since `unknown` means the client gave up
//! waiting, a failure to answer from the client's side. Operations still in flight when the
//! history is taken (passed as `in_flight`) count nowhere: they have not failed yet. `null` when
//! no operation counts. Given overall, per client, and per bucket of invocation time.
//!
//! # Latency
//!
//! `return_us - invoke_us` of every `ok` operation, in milliseconds, summarized by nearest-rank
//! percentiles: for `n` latencies sorted ascending, the p-th percentile is the one at rank
//! `ceil(p / 100 * n)` (1-based, at least 1), always a latency that occurred; `max` is the largest.
//!
//! # Siblings (divergent versions)
//!
//! The shared history records one value per read, so it cannot tell a read that found several
//! concurrent versions from one that found a single version: NWR with vector clocks and with
//! last-writer-wins record the same kind of entry. Siblings are therefore measured on the
//! replicas' state instead, which any protocol can expose through its node inspection: a node
//! whose inspected state lists `keys`, each with `key` and `siblings` (how many concurrent
//! versions it keeps of that key), holds siblings of every key where that count exceeds 1. A
//! protocol that keeps one version per key (Raft, NWR with last-writer-wins) lists none and
//! always measures 0. [`siblings`] looks at every node that holds state (running or paused; a
//! crashed node's versions wait on disk and are not looked at) at one instant: the most
//! concurrent versions one node holds of one key (0 when no node holds more than one) and the
//! keys that some node holds as siblings. `caplab run` reports the largest of those counts over
//! the run, probed every 100 ms of virtual time (`scenario::run`).

use super::linearizability::{self, CheckOptions, KeyVerdict};
use crate::sim::dynamic::Simulation;
use crate::sim::ids::{ClientId, NodeId};
use crate::workload::history::{History, HistoryEntry, HistoryOp, Outcome, per_key};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The width of the availability buckets unless told otherwise: 100 virtual ms.
pub const DEFAULT_BUCKET_US: u64 = 100_000;

#[derive(Clone, Debug)]
pub struct MetricsOptions {
    /// Width of the availability-over-time buckets, by invocation time, in microseconds.
    pub bucket_us: u64,
    /// Indices into the history of operations still in flight (left out of availability).
    pub in_flight: Vec<usize>,
}

impl Default for MetricsOptions {
    fn default() -> Self {
        Self { bucket_us: DEFAULT_BUCKET_US, in_flight: Vec::new() }
    }
}

/// One stale read, for a page to highlight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StaleRead {
    /// Index of the read in the history.
    pub index: usize,
    pub client: ClientId,
    pub key: String,
    pub invoke_us: u64,
    /// The value read (`null`: absent).
    pub read: Option<String>,
    /// The newer value whose write had completed before the read began (`null` only when the
    /// value read was written by nothing and no write had completed).
    pub newer: Option<String>,
}

/// Operations that count for availability, and the share of them that succeeded.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Availability {
    pub ok: usize,
    pub fail: usize,
    pub unknown: usize,
    /// `ok / (ok + fail + unknown)`, `null` when that is 0.
    pub availability: Option<f64>,
}

impl Availability {
    fn empty() -> Self {
        Availability { ok: 0, fail: 0, unknown: 0, availability: None }
    }

    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Fail => self.fail += 1,
            Outcome::Unknown => self.unknown += 1,
        }
        self.availability = Some(self.ok as f64 / (self.ok + self.fail + self.unknown) as f64);
    }
}

/// Availability of the operations invoked in `[start_ms, start_ms + bucket)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bucket {
    pub start_ms: f64,
    #[serde(flatten)]
    pub counts: Availability,
}

/// Nearest-rank percentiles of latencies, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metrics {
    pub stale_reads: Vec<StaleRead>,
    pub availability: Availability,
    /// Per client, for clients with at least one counted operation.
    pub per_client: BTreeMap<String, Availability>,
    /// Contiguous buckets from 0 to the last counted operation's invocation (empty ones have
    /// `availability` null).
    pub over_time: Vec<Bucket>,
    pub bucket_ms: f64,
    /// `null` when no operation succeeded.
    pub latency_ms: Option<Latency>,
}

/// Measures a history as it is, with nothing in flight and 100 ms buckets.
pub fn measure(history: &[HistoryEntry]) -> Metrics {
    measure_with(history, &MetricsOptions::default())
}

/// Measures a recorded history, leaving its operations still in flight out of availability.
pub fn of_history(h: &History) -> Metrics {
    of_history_with(h, DEFAULT_BUCKET_US)
}

/// Like [`of_history`], with availability buckets `bucket_us` wide.
pub fn of_history_with(h: &History, bucket_us: u64) -> Metrics {
    let in_flight = (0..h.entries().len()).filter(|i| h.is_open(*i)).collect();
    measure_with(h.entries(), &MetricsOptions { bucket_us, in_flight })
}

pub fn measure_with(history: &[HistoryEntry], opts: &MetricsOptions) -> Metrics {
    let bucket_us = opts.bucket_us.max(1);
    let mut availability = Availability::empty();
    let mut per_client: BTreeMap<ClientId, Availability> = BTreeMap::new();
    let mut buckets: Vec<Availability> = Vec::new();
    for (i, e) in history.iter().enumerate() {
        if opts.in_flight.contains(&i) {
            continue;
        }
        availability.add(e.outcome);
        per_client.entry(e.client).or_insert_with(Availability::empty).add(e.outcome);
        let b = (e.invoke_us / bucket_us) as usize;
        if buckets.len() <= b {
            buckets.resize(b + 1, Availability::empty());
        }
        buckets[b].add(e.outcome);
    }
    let latencies: Vec<u64> = history
        .iter()
        .filter(|e| e.outcome == Outcome::Ok)
        .filter_map(|e| e.return_us.map(|r| r.saturating_sub(e.invoke_us)))
        .collect();
    Metrics {
        stale_reads: stale_reads(history),
        availability,
        per_client: per_client.into_iter().map(|(c, a)| (c.to_string(), a)).collect(),
        over_time: buckets
            .into_iter()
            .enumerate()
            .map(|(i, counts)| Bucket { start_ms: (i as u64 * bucket_us) as f64 / 1000.0, counts })
            .collect(),
        bucket_ms: bucket_us as f64 / 1000.0,
        latency_ms: latency(latencies),
    }
}

/// Nearest-rank percentiles (see the module's notes) of latencies in microseconds, in ms.
pub fn latency(mut us: Vec<u64>) -> Option<Latency> {
    if us.is_empty() {
        return None;
    }
    us.sort_unstable();
    let n = us.len();
    let rank = |p: u64| {
        let r = (p as usize * n).div_ceil(100).max(1);
        us[r - 1] as f64 / 1000.0
    };
    Some(Latency { p50: rank(50), p90: rank(90), p99: rank(99), max: us[n - 1] as f64 / 1000.0 })
}

/// Every stale read (see the module's notes), in history order.
pub fn stale_reads(history: &[HistoryEntry]) -> Vec<StaleRead> {
    let is_write = |e: &HistoryEntry| matches!(e.op, HistoryOp::Put | HistoryOp::Cas) && e.outcome != Outcome::Fail;
    // A transaction counts as one put per key it writes; `index` names the entry itself.
    let expanded = per_key(history);
    let source: Vec<usize> = expanded.iter().map(|(i, _)| *i).collect();
    let history: Vec<&HistoryEntry> = expanded.iter().map(|(_, e)| e.as_ref()).collect();
    let mut by_key: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, e) in history.iter().enumerate() {
        by_key.entry(e.key.as_str()).or_default().push(i);
    }
    let mut out = Vec::new();
    for (key, indices) in by_key {
        // When each value was last written: the latest return of its writes, or u64::MAX when
        // one of them is unknown (older than nothing).
        let mut written: HashMap<&str, u64> = HashMap::new();
        for &i in &indices {
            let e = &history[i];
            if let (true, Some(v)) = (is_write(e), e.value.as_deref()) {
                let at = if e.outcome == Outcome::Ok { e.return_us.unwrap_or(u64::MAX) } else { u64::MAX };
                let slot = written.entry(v).or_insert(0);
                *slot = (*slot).max(at);
            }
        }
        // Completed writes by return time, with the running latest invocation among them: for
        // a read invoked at t, the latest-invoked write that had completed before t.
        let mut done: Vec<(u64, usize)> = indices
            .iter()
            .filter(|&&i| is_write(history[i]) && history[i].outcome == Outcome::Ok)
            .filter_map(|&i| history[i].return_us.map(|r| (r, i)))
            .collect();
        done.sort_unstable();
        let mut latest: Vec<usize> = Vec::with_capacity(done.len());
        for (k, &(_, i)) in done.iter().enumerate() {
            let keep = match k.checked_sub(1).map(|p| latest[p]) {
                Some(prev) if history[prev].invoke_us >= history[i].invoke_us => prev,
                _ => i,
            };
            latest.push(keep);
        }
        for &i in &indices {
            let r = &history[i];
            if r.op != HistoryOp::Get || r.outcome != Outcome::Ok {
                continue;
            }
            let completed = done.partition_point(|&(ret, _)| ret < r.invoke_us);
            let newest = completed.checked_sub(1).map(|k| &history[latest[k]]);
            let stale = match r.value.as_deref() {
                // Absent: the initial state, older than every write.
                None => newest.is_some(),
                Some(v) => match written.get(v) {
                    None => true,
                    Some(&at) => newest.is_some_and(|w| at < w.invoke_us),
                },
            };
            if stale {
                out.push(StaleRead {
                    index: source[i],
                    client: r.client,
                    key: key.to_string(),
                    invoke_us: r.invoke_us,
                    read: r.value.clone(),
                    newer: newest.and_then(|w| w.value.clone()),
                });
            }
        }
    }
    out.sort_by_key(|s| s.index);
    out
}

/// Siblings at one instant (see the module's notes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Siblings {
    /// The most concurrent versions one node holds of one key, 0 when none holds more than one.
    pub max: usize,
    /// The keys some node holds as siblings, sorted.
    pub keys: Vec<String>,
}

/// Siblings held now by the nodes that hold state (see the module's notes).
pub fn siblings(sim: &dyn Simulation) -> Siblings {
    siblings_if_listed(sim).unwrap_or_default()
}

/// Like [`siblings`], but `None` when no node lists `keys` at all: a protocol whose running
/// nodes list none (Raft) never holds siblings, and a runner can stop looking.
pub fn siblings_if_listed(sim: &dyn Simulation) -> Option<Siblings> {
    let mut max = 0;
    let mut keys = BTreeSet::new();
    let mut listed = false;
    for i in 0..sim.node_count() {
        let Ok(node) = sim.inspect(NodeId(i)) else { continue };
        let Some(list) = node["state"]["keys"].as_array() else { continue };
        listed = true;
        for k in list {
            let count = k["siblings"].as_u64().unwrap_or(0) as usize;
            if count > 1 {
                max = max.max(count);
                keys.insert(k["key"].as_str().unwrap_or_default().to_string());
            }
        }
    }
    listed.then(|| Siblings { max, keys: keys.into_iter().collect() })
}

/// The narrowest and widest availability buckets a live view may ask for, and the most buckets
/// one answer may hold: a page that asks for 1 µs buckets over an hour gets a clear error, not
/// billions of buckets.
pub const MIN_BUCKET_MS: f64 = 1.0;
pub const MAX_BUCKET_MS: f64 = 3_600_000.0;
pub const MAX_BUCKETS: u64 = 10_000;

/// The linearizability checker's budget per key when a live view asks: a page must stay
/// responsive, so a key that needs more steps is reported as undecided (`linearizable` null)
/// rather than searched for seconds. `caplab run` uses the checker's default budget.
pub const LIVE_CHECK_STEPS_PER_KEY: u64 = 2_000_000;

/// Everything a page charts about a running simulation, at its current instant.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Live {
    pub now_ms: f64,
    /// The checker's verdict on the history so far (operations in flight count as `unknown`):
    /// `null` when there is no operation or the checker gave up within its live budget.
    pub linearizable: Option<bool>,
    /// When not linearizable: the history indices of the checker's witness, every key's,
    /// ascending (empty otherwise).
    pub witness: Vec<usize>,
    /// The history's measures, flattened into the same JSON object.
    #[serde(flatten)]
    pub measures: Metrics,
    /// Siblings now: the most concurrent versions one node holds of one key (0: none).
    pub siblings: usize,
    /// The keys held as siblings now.
    pub sibling_keys: Vec<String>,
}

/// The live measures of a simulation with availability buckets `bucket_ms` wide. Errors (a
/// bucket width that is not a number of milliseconds from [`MIN_BUCKET_MS`] to
/// [`MAX_BUCKET_MS`], or one that would make more than [`MAX_BUCKETS`] buckets) are sentences
/// for a person.
pub fn live(sim: &dyn Simulation, bucket_ms: f64) -> Result<Live, String> {
    if !bucket_ms.is_finite() || !(MIN_BUCKET_MS..=MAX_BUCKET_MS).contains(&bucket_ms) {
        return Err(format!(
            "bucket_ms must be a number of milliseconds from {MIN_BUCKET_MS} to {MAX_BUCKET_MS}, not {bucket_ms}"
        ));
    }
    let bucket_us = (bucket_ms * 1000.0).round() as u64;
    let h = sim.history();
    let last_invoke = h.entries().iter().map(|e| e.invoke_us).max().unwrap_or(0);
    let buckets = last_invoke / bucket_us + 1;
    if buckets > MAX_BUCKETS {
        return Err(format!(
            "{bucket_ms} ms buckets would make {buckets} buckets (at most {MAX_BUCKETS}): use at least {} ms",
            last_invoke.div_ceil((MAX_BUCKETS - 1) * 1000).max(1)
        ));
    }
    let m = of_history_with(h, bucket_us);
    let (linearizable, witness) = if h.entries().is_empty() {
        (None, Vec::new())
    } else {
        let verdict =
            linearizability::check(h.entries(), &CheckOptions { max_steps_per_key: LIVE_CHECK_STEPS_PER_KEY });
        let mut witness: Vec<usize> = verdict
            .keys
            .iter()
            .flat_map(|(_, v)| match v {
                KeyVerdict::NotLinearizable { witness } => witness.clone(),
                _ => Vec::new(),
            })
            .collect();
        witness.sort_unstable();
        (verdict.linearizable, witness)
    };
    let siblings = siblings(sim);
    Ok(Live {
        now_ms: sim.now().0 as f64 / 1000.0,
        linearizable,
        witness,
        measures: m,
        siblings: siblings.max,
        sibling_keys: siblings.keys,
    })
}

/// Runs `sim` forwards to each multiple of `step_us` up to `until` (the current time counts if
/// it is one), and returns the first of those times at which `settled` holds, or `None`,
/// leaving the simulation at that time (or at `until`). These are the moments at which
/// `caplab run` probes for `converged_ms`; the CAP lab calls this on a copy taken at a heal.
pub fn first_settled(
    sim: &mut dyn Simulation,
    settled: fn(&dyn Simulation) -> Result<(), String>,
    until: crate::sim::time::Time,
    step_us: u64,
) -> Option<crate::sim::time::Time> {
    let step = step_us.max(1);
    loop {
        let now = sim.now().0;
        if now.is_multiple_of(step) && settled(&*sim).is_ok() {
            return Some(sim.now());
        }
        if now >= until.0 {
            return None;
        }
        sim.run_until(crate::sim::time::Time(((now / step + 1) * step).min(until.0)));
    }
}
