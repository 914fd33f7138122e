//! What the page draws for a 2PC node: one `TxnRecord` per transaction in its log, in the
//! protocol's own words, and its committed values.

use super::log::{Tables, TwoPcDurable};
use crate::protocols::txn::Locks;
use crate::sim::protocol::{Decision, NodeView, TxnRecord};

/// The page's view of a node, from its log's tables; `locks` is `None` for a crashed node
/// (locks live in memory; the log keeps what restores them).
pub(super) fn node_view(role: &str, disk: &TwoPcDurable, tables: &Tables, locks: Option<&Locks>) -> NodeView {
    let txns = tables
        .order
        .iter()
        .filter_map(|t| {
            if let Some(c) = tables.coordinated.get(t) {
                return Some(TxnRecord {
                    txn: t.clone(),
                    role: "coordinator",
                    state: match c.decision {
                        None => "preparing",
                        Some(Decision::Commit) => "committed",
                        Some(Decision::Abort) => "aborted",
                    },
                    vote: None,
                    decision: c.decision,
                    since_us: c.since_us,
                    uncertain_us: None,
                    decided_us: c.decided_us,
                    locks: Vec::new(),
                });
            }
            let p = tables.participations.get(t)?;
            Some(TxnRecord {
                txn: t.clone(),
                role: "participant",
                state: match (p.vote, p.decision) {
                    (_, Some(Decision::Commit)) => "committed",
                    (_, Some(Decision::Abort)) => "aborted",
                    (Some(true), None) => "prepared",
                    _ => "working",
                },
                vote: p.vote,
                decision: p.decision,
                since_us: p.since_us,
                uncertain_us: p.prepared_us,
                decided_us: p.decided_us,
                locks: locks.map(|l| l.keys_of(t)).unwrap_or_default(),
            })
        })
        .collect();
    NodeView {
        role: role.to_string(),
        term: 0,
        leader: None,
        log_terms: Vec::new(),
        commit_index: tables.decided(),
        store: disk.store.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        txns,
    }
}
