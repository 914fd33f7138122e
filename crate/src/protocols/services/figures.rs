//! The measurements of a service graph: the users' end-to-end success rate and latency per
//! half second, the load arriving at each service (retry amplification shows as a service
//! receiving more than the users send), each breaker's timeline, and how long the system took
//! to recover after the last repair. Also a node's full state for the inspector.

use super::Services;
use super::spec::ServicesParams;
use super::state::{BUCKET_US, Bucket, Records};
use crate::sim::action::{Action, TimedAction};
use crate::sim::ids::NodeId;
use crate::sim::protocol::NodeRef;
use crate::sim::time::Time;
use serde_json::{Value, json};

/// A bucket whose success rate is at least this has recovered.
pub const RECOVERED_PCT: f64 = 90.0;

/// How old a bucket must be before the recovery figures judge it: time for its requests to be
/// answered or time out (the tours' users wait at most a second).
pub const SETTLE_US: u64 = 2_000_000;

fn pct(part: u64, all: u64) -> f64 {
    (part.min(all) as f64 * 1000.0 / all.max(1) as f64).round() / 10.0
}

fn percentile(sorted: &[u32], p: usize) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    // Nearest rank: the smallest value with at least p % of the values at or below it.
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

fn records<'a>(n: &'a NodeRef<'_, Services>) -> Option<&'a Records> {
    n.live.map(|s| &s.d).or(n.durable)
}

/// Of the users' requests that arrived in a bucket, the share answered well (or degraded). A
/// recent bucket's share still grows as its requests are answered.
fn success(sources: &[&Bucket]) -> Option<f64> {
    let arrived: u64 = sources.iter().map(|b| u64::from(b.arrived)).sum();
    let good: u64 = sources.iter().map(|b| u64::from(b.ok + b.degraded)).sum();
    (arrived > 0).then(|| pct(good, arrived))
}

pub(crate) fn figures(
    nodes: &[NodeRef<'_, Services>],
    now: Time,
    params: &ServicesParams,
    applied: &[TimedAction],
) -> Value {
    let is_source = |i: usize| params.services.get(i).is_some_and(|s| s.is_source());
    let name = |i: usize| super::node_name(params, NodeId(i as u16));
    let complete = usize::try_from(now.0 / BUCKET_US).unwrap_or(usize::MAX);
    let empty = Bucket::default();
    let at = |r: Option<&Records>, b: usize| r.and_then(|r| r.buckets.get(b)).unwrap_or(&empty).clone();
    let recs: Vec<Option<&Records>> = nodes.iter().map(records).collect();

    let mut series = Vec::new();
    let mut per_bucket_success = Vec::new();

    for b in 0..complete {
        let buckets: Vec<Bucket> = recs.iter().map(|r| at(*r, b)).collect();
        let src: Vec<&Bucket> = buckets.iter().enumerate().filter(|(i, _)| is_source(*i)).map(|(_, b)| b).collect();
        let offered: u64 = src.iter().map(|b| u64::from(b.arrived)).sum();
        let mut lat: Vec<u32> = src.iter().flat_map(|b| b.latencies_ms.iter().copied()).collect();
        lat.sort_unstable();
        let ok = success(&src);
        per_bucket_success.push(ok);
        let per_s = |n: u32| u64::from(n) * 1_000_000 / BUCKET_US;
        let mut load = serde_json::Map::new();
        let mut in_progress = serde_json::Map::new();
        let mut queued = serde_json::Map::new();
        for (i, bk) in buckets.iter().enumerate().filter(|(i, _)| !is_source(*i)) {
            load.insert(name(i), json!(per_s(bk.arrived)));
            in_progress.insert(name(i), json!(bk.in_progress_max));
            queued.insert(name(i), json!(bk.queued_max));
        }
        series.push(json!({
            "t_ms": b as u64 * BUCKET_US / 1000,
            "offered": offered * 1_000_000 / BUCKET_US,
            "success": ok,
            "p50": percentile(&lat, 50),
            "p99": percentile(&lat, 99),
            "load": load,
            "in_progress": in_progress,
            "queued": queued,
        }));
    }
    // Over every answered user request so far, as each source's own figures are.
    let mut all_latencies: Vec<u32> = recs
        .iter()
        .enumerate()
        .filter(|(i, _)| is_source(*i))
        .filter_map(|(_, r)| *r)
        .flat_map(|r| r.buckets.iter().flat_map(|b| b.latencies_ms.iter().copied()))
        .collect();
    all_latencies.sort_unstable();

    let mut totals = (0u64, 0u64, 0u64, 0u64);
    for r in recs.iter().enumerate().filter(|(i, _)| is_source(*i)).filter_map(|(_, r)| *r) {
        totals.0 += r.totals.arrived;
        totals.1 += r.totals.ok;
        totals.2 += r.totals.degraded;
        totals.3 += r.totals.failed;
    }
    let (requests, ok, degraded, failed) = totals;
    let sources: Vec<Value> = recs
        .iter()
        .enumerate()
        .filter(|(i, _)| is_source(*i))
        .map(|(i, r)| {
            let t = r.map(|r| r.totals.clone()).unwrap_or_default();
            let mut lat: Vec<u32> =
                r.map(|r| r.buckets.iter().flat_map(|b| b.latencies_ms.iter().copied()).collect()).unwrap_or_default();
            lat.sort_unstable();
            json!({
                "name": name(i), "requests": t.arrived, "ok": t.ok, "degraded": t.degraded, "failed": t.failed,
                "success_rate": pct(t.ok + t.degraded, t.ok + t.degraded + t.failed),
                "p50_ms": percentile(&lat, 50), "p99_ms": percentile(&lat, 99),
            })
        })
        .collect();
    let pending = requests.saturating_sub(ok + degraded + failed);

    let services: Vec<Value> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| !is_source(*i))
        .map(|(i, n)| {
            let t = records(n).map(|r| r.totals.clone()).unwrap_or_default();
            let done = |r: &Records| r.buckets.iter().take(complete).cloned().collect::<Vec<Bucket>>();
            let past = records(n).map(done).unwrap_or_default();
            let peak_per_s = past.iter().map(|b| u64::from(b.arrived) * 1_000_000 / BUCKET_US).max().unwrap_or(0);
            let peak_in_progress = past.iter().map(|b| b.in_progress_max).max().unwrap_or(0);
            json!({
                "peak_per_s": peak_per_s, "peak_in_progress": peak_in_progress,
                "name": name(i),
                "node": NodeId(i as u16).to_string(),
                "arrived": t.arrived, "served": t.served, "errors": t.errors, "shed": t.shed,
                "limited": t.limited, "expired": t.expired,
                "in_progress": n.live.map_or(0, |s| s.running),
                "queued": n.live.map_or(0, |s| s.queue.len()),
            })
        })
        .collect();

    let breakers: Vec<Value> = params
        .calls
        .iter()
        .enumerate()
        .filter(|(_, c)| c.breaker.is_some())
        .map(|(ci, c)| {
            let from = params.index_of(&c.from).unwrap_or(0);
            let changes: Vec<Value> = recs
                .get(from)
                .copied()
                .flatten()
                .map(|r| {
                    r.breaker_changes
                        .iter()
                        .filter(|t| t.call == ci)
                        .map(|t| json!({"at_ms": t.at_us / 1000, "from": t.from, "to": t.to}))
                        .collect()
                })
                .unwrap_or_default();
            // The last change recorded (a restarted node records its fresh breaker's `closed`).
            let state = changes.last().map_or(json!("closed"), |t| t["to"].clone());
            let count = |to: &str| changes.iter().filter(|t| t["to"] == to).count();
            let code = match state.as_str() {
                Some("open") => 1,
                Some("half_open") => 2,
                _ => 0,
            };
            json!({
                "edge": c.edge(),
                "opened": count("open"),
                "half_opened": count("half_open"),
                "closed": count("closed"),
                "state_code": code,
                "from": NodeId(from as u16).to_string(),
                "to": NodeId(params.index_of(&c.to).unwrap_or(0) as u16).to_string(),
                "state": state,
                "transitions": changes,
            })
        })
        .collect();

    // Recovery: from the last repair (or change) to the first bucket from which every
    // complete bucket succeeds at RECOVERED_PCT or more, for at least two buckets.
    let since = applied
        .iter()
        .filter(|a| {
            matches!(
                a.action,
                Action::Configure { .. }
                    | Action::Heal
                    | Action::Restart { .. }
                    | Action::Restore { .. }
                    | Action::Resume { .. }
            )
        })
        .map(|a| a.at_us)
        .next_back();
    let (recovered_ms, success_after) = match since {
        Some(s) => {
            let first = usize::try_from(s / BUCKET_US).unwrap_or(usize::MAX);
            // Judged on the buckets whose requests have had SETTLE_US to be answered.
            let judged = usize::try_from(now.0.saturating_sub(SETTLE_US) / BUCKET_US).unwrap_or(0);
            let after: Vec<Option<f64>> = per_bucket_success.iter().take(judged).skip(first).copied().collect();
            let good = |v: &Option<f64>| v.is_none_or(|p| p >= RECOVERED_PCT);
            let mut from = None;
            for (k, _) in after.iter().enumerate() {
                if after[k..].iter().all(good) && after.len() - k >= 2 {
                    from = Some(k);
                    break;
                }
            }
            let recovered = from.map(|k| ((first + k) as u64 * BUCKET_US).saturating_sub(s) / 1000);
            let arrived_good = per_bucket_window(&recs, params, first, judged);
            (recovered, arrived_good)
        }
        None => (None, None),
    };

    json!({
        "bucket_ms": BUCKET_US / 1000,
        "requests": requests, "ok": ok, "degraded": degraded, "failed": failed, "pending": pending,
        // Of the requests answered so far: those still waiting are `pending`, not failures.
        "success_rate": pct(ok + degraded, ok + degraded + failed),
        "p50_ms": percentile(&all_latencies, 50),
        "p99_ms": percentile(&all_latencies, 99),
        "series": series,
        "sources": sources,
        "services": services,
        "breakers": breakers,
        "recovery_from_ms": since.map(|s| s / 1000),
        "recovered_ms": recovered_ms,
        "recovered": u8::from(recovered_ms.is_some()),
        "success_after": success_after,
    })
}

/// The users' success over the buckets from `first` (the repair's) to `judged`.
fn per_bucket_window(recs: &[Option<&Records>], params: &ServicesParams, first: usize, judged: usize) -> Option<f64> {
    let (mut arrived, mut good) = (0u64, 0u64);
    for (i, r) in recs.iter().enumerate() {
        if !params.services.get(i).is_some_and(|s| s.is_source()) {
            continue;
        }
        let Some(r) = r else { continue };
        for b in r.buckets.iter().take(judged).skip(first) {
            arrived += u64::from(b.arrived);
            good += u64::from(b.ok + b.degraded);
        }
    }
    (arrived > 0).then(|| pct(good, arrived))
}

/// A node's whole state, for the inspector and the page's drawing.
pub(crate) fn inspect(s: &Services) -> Value {
    let spec = s.spec();
    let now_bucket = s.d.buckets.len().saturating_sub(1);
    let last_second: u64 =
        s.d.buckets.iter().skip(now_bucket.saturating_sub(2)).take(2).map(|b| u64::from(b.arrived)).sum();
    let edges: Vec<Value> = s
        .edges
        .iter()
        .map(|e| {
            let in_flight = s.calls.values().filter(|c| c.in_flight && s.edges.get(c.edge).is_some_and(|x| x.call == e.call)).count();
            let breaker = e.breaker.as_ref().map(|b| {
                let mut b = b.clone();
                let tally = b.tally(Time(s.clock_now));
                let rate = |part: u64| (tally.calls > 0).then(|| pct(part, tally.calls));
                let mut v = serde_json::to_value(e.spec.breaker.clone().unwrap_or_default()).unwrap_or(json!({}));
                v["state"] = json!(s.d.breaker_changes.iter().rev().find(|t| t.call == e.call).map_or(
                    super::patterns::breaker::BreakerState::Closed,
                    |t| t.to
                ));
                v["failure_rate"] = json!(rate(tally.failed));
                v["slow_call_rate"] = json!(rate(tally.slow));
                v["calls"] = json!(tally.calls);
                v
            });
            let bulkhead = e.bulkhead.as_ref().map(|b| {
                let mut v = serde_json::to_value(e.spec.bulkhead.clone().unwrap_or_default()).unwrap_or(json!({}));
                v["running"] = json!(b.running());
                v["waiting"] = json!(b.waiting());
                v
            });
            json!({
                "edge": e.spec.edge(),
                "to": e.spec.to,
                "to_node": e.to.to_string(),
                "in_flight": in_flight,
                "timeout_ms": e.spec.timeout_ms,
                "retry": e.spec.retry,
                "budget": e.budget.as_ref().map(|b| json!({"active_retries": b.active_retries(), "allowed": b.allowed()})),
                "breaker": breaker,
                "bulkhead": bulkhead,
                "fallback": e.spec.fallback,
                "totals": s.d.edges.get(&e.call).cloned().unwrap_or_default(),
            })
        })
        .collect();
    let limiter = spec.limiter.as_ref().map(|l| {
        let mut v = serde_json::to_value(l).unwrap_or(json!({}));
        if let Some(super::state::Limiter::Token(b)) = &s.limiter {
            v["available"] = json!(b.clone().available(Time(s.clock_now)));
        }
        v
    });
    json!({
        "name": spec.name,
        "kind": if spec.is_source() { "source" } else { "service" },
        "health": s.health(),
        "capacity": spec.capacity,
        "queue_limit": spec.queue,
        "in_progress": s.running,
        "queued": s.queue.len(),
        "rate": spec.rate,
        "service_ms": spec.service_ms,
        "error_rate": spec.error_rate,
        "drop_expired": spec.drop_expired,
        "limiter": limiter,
        "load_per_s": last_second,
        "totals": s.d.totals,
        "edges": edges,
        "params": spec,
    })
}
