//! The lease's own measurements, for `caplab run --json`, the `figure` expectation and the
//! page: counts of grants, renewals, expiries and writes; the current holder; how long two
//! holders believed at once (`overlap_ms`); how many writes the storage accepted from a holder
//! whose lease had been granted to a later one (`stale_writes`); and the recent history as bars
//! in true time: what the grantor granted, what each holder believed, what the storage saw.

use super::{
    Belief, GRANTOR, GrantorDisk, HolderDisk, Lease, LeaseDurable, LeaseParams, Part, STORAGE, StorageDisk, clock_of,
};
use crate::sim::action::{Action, Target, TimedAction};
use crate::sim::protocol::NodeRef;
use crate::sim::time::Time;
use serde_json::{Value, json};

/// How many of the latest bars and writes the figures carry.
const SHOWN: usize = 30;

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// A belief bar of one holder in true time: (from, to, open). An open bar of a live holder ends
/// now if it still believes, or when its clock passed its expiry (it was paused); an open bar of
/// a crashed holder ends at its crash.
fn interval(b: &Belief, r: &NodeRef<'_, Lease>, now: Time, applied: &[TimedAction]) -> (u64, u64, bool) {
    if let Some(to) = b.to_us {
        return (b.from_us, to, false);
    }
    match r.live {
        Some(_) => {
            let clock = clock_of(r).0;
            if clock < b.until_clock_us {
                (b.from_us, now.0, true)
            } else {
                (b.from_us, now.0.saturating_sub(clock - b.until_clock_us).max(b.from_us), false)
            }
        }
        None => {
            let crash = applied
                .iter()
                .filter(|a| {
                    a.at_us >= b.from_us && matches!(a.action, Action::Crash { node: Target::Node(n) } if n == r.id)
                })
                .map(|a| a.at_us)
                .next_back()
                .unwrap_or(now.0);
            (b.from_us, crash, false)
        }
    }
}

/// The total true time during which two or more intervals overlap.
fn overlap(mut spans: Vec<(u64, u64)>) -> u64 {
    let mut edges: Vec<(u64, i32)> = Vec::new();
    for (a, b) in spans.drain(..) {
        if b > a {
            edges.push((a, 1));
            edges.push((b, -1));
        }
    }
    // Ends before starts at the same instant: touching bars do not overlap.
    edges.sort_by_key(|&(t, d)| (t, d));
    let (mut depth, mut last, mut total) = (0i32, 0u64, 0u64);
    for (t, d) in edges {
        if depth >= 2 {
            total += t - last;
        }
        depth += d;
        last = t;
    }
    total
}

pub fn figures(nodes: &[NodeRef<'_, Lease>], now: Time, params: &LeaseParams, applied: &[TimedAction]) -> Value {
    let empty_g = GrantorDisk::default();
    let empty_s = StorageDisk::default();
    let grantor_live = nodes.get(GRANTOR.index()).and_then(|r| match r.live.map(|n| &n.part) {
        Some(Part::Grantor(g)) => Some(g),
        _ => None,
    });
    let g = grantor_live.map(|g| &g.disk).or_else(|| match nodes.get(GRANTOR.index()).and_then(|r| r.durable) {
        Some(LeaseDurable::Grantor(d)) => Some(d),
        _ => None,
    });
    let g = g.unwrap_or(&empty_g);
    let s = nodes
        .get(STORAGE.index())
        .and_then(|r| match (r.live.map(|n| &n.part), r.durable) {
            (Some(Part::Storage(s)), _) => Some(&s.disk),
            (None, Some(LeaseDurable::Storage(d))) => Some(d),
            _ => None,
        })
        .unwrap_or(&empty_s);

    let mut beliefs: Vec<(String, &Belief, (u64, u64, bool))> = Vec::new();
    let mut believers = 0;
    for r in nodes.iter().skip(2) {
        let disk: Option<&HolderDisk> = match (r.live.map(|n| &n.part), r.durable) {
            (Some(Part::Holder(h)), _) => {
                if h.believes(clock_of(r)) {
                    believers += 1;
                }
                Some(&h.disk)
            }
            (None, Some(LeaseDurable::Holder(d))) => Some(d),
            _ => None,
        };
        for b in disk.map(|d| d.beliefs.as_slice()).unwrap_or(&[]) {
            beliefs.push((r.id.to_string(), b, interval(b, r, now, applied)));
        }
    }
    beliefs.sort_by_key(|(id, _, (from, _, _))| (*from, id.clone()));
    let overlap_us = overlap(beliefs.iter().map(|(_, _, (a, b, _))| (*a, *b)).collect());

    // A write accepted under token k after the grantor granted a later token.
    let stale = s
        .recent
        .iter()
        .filter(|w| w.accepted && g.grants.iter().any(|x| x.token > w.token && x.from_us <= w.at_us))
        .count();

    let grant_bars: Vec<Value> = g
        .grants
        .iter()
        .rev()
        .take(SHOWN)
        .rev()
        .map(|x| {
            json!({
                "holder": x.holder.to_string(), "token": x.token, "from_ms": ms(x.from_us),
                "to_ms": x.to_us.map(ms), "end": x.end,
            })
        })
        .collect();
    let belief_bars: Vec<Value> = beliefs
        .iter()
        .rev()
        .take(SHOWN)
        .rev()
        .map(|(id, b, (from, to, open))| {
            json!({
                "holder": id, "token": b.token, "from_ms": ms(*from),
                "to_ms": if *open { None } else { Some(ms(*to)) },
                "until_clock_ms": ms(b.until_clock_us), "end": b.end,
            })
        })
        .collect();
    let writes: Vec<Value> = s
        .recent
        .iter()
        .rev()
        .take(SHOWN)
        .rev()
        .map(
            |w| json!({"holder": w.holder.to_string(), "token": w.token, "at_ms": ms(w.at_us), "accepted": w.accepted}),
        )
        .collect();
    let current = grantor_live.and_then(|g| g.current.as_ref());
    json!({
        "resource": params.resource,
        "fencing": params.fencing,
        "grants": g.grant_count,
        "renewals": g.renewals,
        "releases": g.releases,
        "expiries": g.expiries,
        "holder": current.map(|c| c.holder.to_string()),
        "token": current.map(|c| c.token),
        "highest_granted": g.granted,
        "believers": believers,
        "overlap_ms": ms(overlap_us),
        "writes_accepted": s.accepted,
        "writes_rejected": s.rejected,
        "stale_writes": stale,
        "last_write_ms": s.last_accepted.as_ref().map(|w| ms(w.at_us)),
        "grantor_bars": grant_bars,
        "belief_bars": belief_bars,
        "writes": writes,
    })
}

#[cfg(test)]
mod tests {
    use super::overlap;

    #[test]
    fn overlap_counts_only_time_covered_twice() {
        assert_eq!(overlap(vec![(0, 10), (10, 20)]), 0);
        assert_eq!(overlap(vec![(0, 10), (5, 20)]), 5);
        assert_eq!(overlap(vec![(0, 30), (5, 10), (8, 20)]), 15);
    }
}
