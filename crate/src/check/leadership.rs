//! What a leader-based protocol costs: messages per committed write, how long a write takes to
//! commit, and how long the cluster goes without a leader after losing one. These are the
//! figures the consensus comparison (Raft, Multi-Paxos, ZAB under the same seed and faults)
//! puts side by side; `caplab run --json` reports them as `consensus` for any protocol that had
//! a leader at some point.
//!
//! "Leader" is the engine's: the live node that says it leads (role `leader`) in the highest
//! term (see `Sim::leader`). Each protocol calls a node `leader` only once it can commit
//! writes (Raft on winning its election, Multi-Paxos after phase 1, ZAB once established), so
//! the time without one is the time no write can commit. A leader cut off in a minority still
//! says it leads until a new one is elected, so it is the crash of a leader (or its stepping
//! down) that opens a gap, not its isolation.

use super::metrics::{self, Latency};
use crate::sim::action::{Action, Target};
use crate::sim::dynamic::Simulation;
use crate::workload::history::{HistoryOp, Outcome};
use serde::Serialize;
use std::collections::BTreeMap;

/// One interval with no leader, after the cluster had one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Gap {
    pub from_ms: f64,
    /// When a new leader took over; `null` while there is none.
    pub to_ms: Option<f64>,
    /// Its length, up to now while it lasts.
    pub ms: f64,
    /// The leader that was lost.
    pub lost: String,
    /// `crashed` when the gap began with that leader's crash, `stepped_down` otherwise.
    pub cause: &'static str,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Consensus {
    /// When the first leader took over.
    pub first_leader_ms: Option<f64>,
    /// How many times leadership passed to a node (the first election included).
    pub leader_changes: usize,
    /// Every gap without a leader after the first leader, oldest first.
    pub leaderless: Vec<Gap>,
    /// The length of the first gap that a leader's crash opened (the comparison's headline).
    pub leaderless_after_crash_ms: Option<f64>,
    /// Messages between nodes (client requests and answers not counted), all kinds, heartbeats
    /// included.
    pub peer_messages: u64,
    /// Node-to-node messages per label.
    pub messages_by_label: BTreeMap<String, u64>,
    /// Writes (`put`s) that ended ok.
    pub writes_committed: usize,
    /// `peer_messages` divided by `writes_committed`.
    pub messages_per_write: Option<f64>,
    /// Nearest-rank percentiles of the time from a client invoking a write to its ok answer.
    pub write_latency_ms: Option<Latency>,
}

/// The figures, or `None` for a protocol in which no node ever led.
pub fn measure(sim: &dyn Simulation) -> Option<Consensus> {
    let changes = sim.leadership();
    if changes.iter().all(|c| c.leader.is_none()) {
        return None;
    }
    let now_us = sim.now().0;
    let ms = |us: u64| us as f64 / 1000.0;
    let crashes: Vec<(u64, String)> = sim
        .applied_actions()
        .iter()
        .filter_map(|a| match &a.action {
            Action::Crash { node: Target::Node(n) } => Some((a.at_us, n.to_string())),
            _ => None,
        })
        .collect();
    let mut first_leader_ms = None;
    let mut leader_changes = 0;
    let mut leaderless: Vec<Gap> = Vec::new();
    let mut previous: Option<String> = None;
    // A leader below the highest term that has led is a stale one (cut off, not yet told): it
    // can commit nothing, so when the real leader goes, the cluster is without a leader even if
    // the stale one still says it leads.
    let mut highest_term = 0;
    for c in changes {
        let leader = c.leader.filter(|_| c.term >= highest_term);
        if leader.is_some() {
            highest_term = c.term;
        }
        match leader {
            Some(n) => {
                let name = n.to_string();
                if first_leader_ms.is_none() {
                    first_leader_ms = Some(ms(c.at_us));
                }
                if previous.as_deref() != Some(&name) || leaderless.last().is_some_and(|g| g.to_ms.is_none()) {
                    leader_changes += 1;
                }
                if let Some(gap) = leaderless.last_mut().filter(|g| g.to_ms.is_none()) {
                    let from_us = (gap.from_ms * 1000.0).round() as u64;
                    gap.to_ms = Some(ms(c.at_us));
                    gap.ms = ms(c.at_us.saturating_sub(from_us));
                }
                previous = Some(name);
            }
            None => {
                let Some(lost) = previous.clone() else { continue };
                if leaderless.last().is_some_and(|g| g.to_ms.is_none()) {
                    continue;
                }
                let crashed = crashes.iter().any(|(at, n)| *at == c.at_us && *n == lost);
                leaderless.push(Gap {
                    from_ms: ms(c.at_us),
                    to_ms: None,
                    ms: ms(now_us.saturating_sub(c.at_us)),
                    lost,
                    cause: if crashed { "crashed" } else { "stepped_down" },
                });
            }
        }
    }
    let leaderless_after_crash_ms = leaderless.iter().find(|g| g.cause == "crashed").map(|g| g.ms);
    let stats = sim.stats();
    let writes: Vec<u64> = sim
        .history()
        .entries()
        .iter()
        .filter(|e| e.op == HistoryOp::Put && e.outcome == Outcome::Ok)
        .filter_map(|e| e.return_us.map(|r| r.saturating_sub(e.invoke_us)))
        .collect();
    let writes_committed = writes.len();
    Some(Consensus {
        first_leader_ms,
        leader_changes,
        leaderless,
        leaderless_after_crash_ms,
        peer_messages: stats.peer_sent,
        messages_by_label: stats.by_label.iter().map(|(l, n)| (l.to_string(), *n)).collect(),
        writes_committed,
        messages_per_write: (writes_committed > 0).then(|| stats.peer_sent as f64 / writes_committed as f64),
        write_latency_ms: metrics::latency(writes),
    })
}
