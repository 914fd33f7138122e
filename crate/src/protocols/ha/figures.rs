//! What the page charts and `caplab run --json` reports for every mode, all in true time:
//! availability per half second, failover time, acknowledged writes lost, conflicts, split brain.
//! Availability, per half second: of the client requests (attempts, retries and redirects
//! included) that reached a node in that interval, the share answered successfully;
//! `operations_ok` is the share of client operations some node eventually answered. Requests
//! sent to a crashed node reach no one and are not counted: the client-side history (the
//! engine's metrics) sees them.

use super::messages::{AckRecord, Stats};
use super::{Ha, HaDurable, HaParams, Mode};
use crate::sim::action::{Action, TimedAction};
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::NodeRef;
use crate::sim::time::Time;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

use super::messages::ATTEMPT_BUCKET_US as BUCKET_US;

pub(crate) fn durable_of<'a>(n: &NodeRef<'a, Ha>) -> Option<&'a HaDurable> {
    n.live.map(|p| &p.d).or(n.durable.map(|d| &d.0))
}

pub(crate) fn stats<'a>(nodes: &[NodeRef<'a, Ha>]) -> impl Iterator<Item = (NodeId, &'a Stats)> {
    nodes.iter().filter_map(|n| durable_of(n).map(|d| (n.id, &d.stats))).collect::<Vec<_>>().into_iter()
}

/// Every acknowledged write once, by (client, seq).
pub(crate) fn acked<'a>(nodes: &[NodeRef<'a, Ha>]) -> BTreeMap<(ClientId, u64), (NodeId, &'a AckRecord)> {
    let mut out = BTreeMap::new();
    for (id, s) in stats(nodes) {
        for a in &s.acks {
            out.entry((a.client, a.seq)).or_insert((id, a));
        }
    }
    out
}

/// Primary-backup: the live primary of the highest view (or, with none, the live replica of
/// the highest view) whose log decides which acknowledged writes survived.
pub(crate) fn authority<'a>(nodes: &[NodeRef<'a, Ha>]) -> Option<&'a Ha> {
    nodes
        .iter()
        .filter_map(|n| n.live)
        .filter(|p| p.view_server() != Some(p.id))
        .max_by_key(|p| (p.role() == "primary", p.d.view.num, p.d.log.len()))
}

/// The failure a failover answers: the first crash, isolation, partition or pause, else the
/// first cut link.
fn failure_at(applied: &[TimedAction]) -> Option<u64> {
    let first = |f: fn(&Action) -> bool| applied.iter().find(|a| f(&a.action)).map(|a| a.at_us);
    first(|a| {
        matches!(a, Action::Crash { .. } | Action::Isolate { .. } | Action::Partition { .. } | Action::Pause { .. })
    })
    .or_else(|| first(|a| matches!(a, Action::Cut { .. })))
}

/// Writes acknowledged by a primary of an older view after a newer view's primary had begun
/// acknowledging: (count, span in µs from the newer view's first to the last such write).
pub(crate) fn split_brain(nodes: &[NodeRef<'_, Ha>]) -> (u64, u64) {
    let mut first: BTreeMap<u64, u64> = BTreeMap::new();
    let mut all: Vec<(u64, u64)> = Vec::new();
    for (_, s) in stats(nodes) {
        for a in s.acks.iter().filter(|a| a.view > 0) {
            let f = first.entry(a.view).or_insert(a.at_us);
            *f = (*f).min(a.at_us);
            all.push((a.view, a.at_us));
        }
    }
    let (mut count, mut span) = (0, 0);
    for (view, at) in all {
        if let Some(newer) = first.range(view + 1..).map(|(_, t)| *t).filter(|t| *t <= at).min() {
            count += 1;
            span = span.max(at - newer);
        }
    }
    (count, span)
}

pub(crate) fn figures(
    nodes: &[NodeRef<'_, Ha>],
    now: Time,
    params: &HaParams,
    applied: &[TimedAction],
) -> serde_json::Value {
    let mut ops: BTreeMap<(ClientId, u64), (u64, Option<u64>)> = BTreeMap::new();
    for (_, s) in stats(nodes) {
        for (k, (first, ok)) in &s.ops {
            let e = ops.entry(*k).or_insert((*first, *ok));
            e.0 = e.0.min(*first);
            e.1 = match (e.1, ok) {
                (Some(a), Some(b)) => Some(a.min(*b)),
                (a, b) => a.or(*b),
            };
        }
    }
    let mut buckets: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for (_, s) in stats(nodes) {
        for (b, (arrived, ok)) in &s.attempts {
            let e = buckets.entry(*b).or_default();
            e.0 += arrived;
            e.1 += ok;
        }
    }
    // A write answered in the interval after it arrived counts in the later one: cap at 100.
    let pct =
        |ok: u64, all: u64| if all == 0 { 100.0 } else { (ok.min(all) as f64 * 1000.0 / all as f64).round() / 10.0 };
    let series: Vec<serde_json::Value> =
        buckets.iter().map(|(b, (all, ok))| json!([b * BUCKET_US / 1000, pct(*ok, *all)])).collect();
    let (arrived, answered) = buckets.values().fold((0, 0), |(a, o), (x, y)| (a + x, o + y));
    let total = ops.len() as u64;
    let ok = ops.values().filter(|(_, ok)| ok.is_some()).count() as u64;

    let failure = failure_at(applied);
    let acked = acked(nodes);
    let live_applied = |id: &(ClientId, u64)| {
        nodes
            .iter()
            .filter_map(|n| n.live)
            .any(|p| p.d.applied.contains(id) || p.d.log.iter().any(|e| (e.client, e.seq) == *id))
    };
    let (acked_lost, failover_ms, detection_ms) = match params.mode {
        Mode::PrimaryBackup => {
            let lost = authority(nodes).map(|p| {
                let held: BTreeSet<(ClientId, u64)> = p.d.log.iter().map(|e| (e.client, e.seq)).collect();
                acked.keys().filter(|k| !held.contains(k)).count()
            });
            let failover = failure.and_then(|f| {
                stats(nodes)
                    .flat_map(|(_, s)| s.promotions.iter())
                    .filter(|p| p.at_us >= f)
                    .filter_map(|p| p.first_ok_us)
                    .min()
                    .map(|t| (t - f) / 1000)
            });
            (lost, failover, None)
        }
        Mode::ActiveActive => {
            let discarded: BTreeSet<(ClientId, u64)> =
                stats(nodes).flat_map(|(_, s)| s.discarded.iter().copied()).collect();
            (Some(discarded.iter().filter(|k| acked.contains_key(k)).count()), None, None)
        }
        Mode::LoadBalanced => {
            let lost = acked.keys().filter(|k| !live_applied(k)).count();
            let detection = failure.and_then(|f| {
                stats(nodes)
                    .flat_map(|(_, s)| s.marked_down.iter())
                    .map(|(_, t)| *t)
                    .filter(|t| *t >= f)
                    .min()
                    .map(|t| (t - f) / 1000)
            });
            (Some(lost), detection, detection)
        }
    };
    let conflicts: BTreeSet<_> = stats(nodes).flat_map(|(_, s)| s.conflicts.iter().cloned()).collect();
    let (split_writes, split_us) = split_brain(nodes);
    let primaries: Vec<String> =
        nodes.iter().filter_map(|n| n.live).filter(|p| p.role() == "primary").map(|p| p.id.to_string()).collect();
    let serving: Vec<String> = nodes
        .iter()
        .filter_map(|n| n.live)
        .filter(|p| p.role() == "primary" && p.serving)
        .map(|p| p.id.to_string())
        .collect();
    let unshipped: BTreeMap<String, u64> = nodes
        .iter()
        .filter_map(|n| n.live)
        .map(|p| (p.id.to_string(), p.unshipped() + p.d.aa_outbox.values().map(|o| o.len() as u64).max().unwrap_or(0)))
        .collect();
    let lost_before_detection: u64 = stats(nodes).map(|(_, s)| s.lost_before_detection).sum();
    let view = nodes.iter().filter_map(durable_of).map(|d| d.view.num).max().unwrap_or(0);
    json!({
        "mode": params.mode,
        "availability": {
            "bucket_ms": BUCKET_US / 1000,
            "series": series,
            "overall": pct(answered, arrived),
            "requests": arrived,
            "answered": answered,
            "operations": total,
            "operations_ok": pct(ok, total),
        },
        "failure_at_ms": failure.map(|f| f / 1000),
        "failover_ms": failover_ms,
        "detection_ms": detection_ms,
        "acked_writes": acked.len(),
        "acked_lost": acked_lost,
        "conflicts": conflicts.len(),
        "split_brain_writes": split_writes,
        "split_brain_ms": split_us / 1000,
        "primaries": primaries,
        "serving": serving,
        "view": view,
        "unshipped": unshipped,
        "lost_before_detection": lost_before_detection,
        "now_ms": now.as_ms(),
    })
}
