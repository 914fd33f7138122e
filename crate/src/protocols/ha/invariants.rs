//! Primary-backup's two safety properties, checked after every step on true-time records of the
//! writes each primary acknowledged. Active-active and the load-balanced cluster serve writes at
//! several nodes by design and make no such promise: the checks apply to `primary_backup` only.
//!
//! - **One serving primary** (Alsberg & Day 1976; Budhiraja et al. 1993; the view service of
//!   MIT 6.824 Lab 2): once a primary of view v has acknowledged a write, no primary of an
//!   older view acknowledges another, and no two nodes acknowledge writes in the same view.
//!   Holds with the view service or a lease (clocks running at the same rate); fails with
//!   `guard: "none"` when a partition fools the backup's failure detector (split brain).
//! - **No acknowledged write lost**: every write acknowledged to a client is in the log of the
//!   current primary (the live primary of the newest view). It is checked whatever the
//!   replication: synchronous replication keeps it; asynchronous (and semi-synchronous after
//!   its fallback) breaks it at the first failover that leaves writes unshipped, and the tests
//!   and tours show that on purpose. `caplab fuzz ha` runs synchronous replication only.

use super::figures::durable_of;
use super::{Ha, Mode};
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::{InvariantInfo, Invariants, NodeRef, Violation};
use crate::sim::time::Time;
use std::collections::{BTreeMap, BTreeSet};

const INVARIANTS: &[InvariantInfo] = &[
    InvariantInfo {
        name: "one_serving_primary",
        source: "Alsberg & Day 1976; Budhiraja et al. 1993; MIT 6.824 Lab 2 (view service)",
        statement: "At most one primary serves writes: after a primary of a newer view has acknowledged a write, no primary of an older view acknowledges one, and each view has one primary",
    },
    InvariantInfo {
        name: "no_acked_write_lost",
        source: "Budhiraja et al. 1993 (synchronous primary-backup)",
        statement: "Every write acknowledged to a client is in the log of the current primary (checked for every replication setting: asynchronous replication breaks it on failover)",
    },
];

#[derive(Clone, Debug, Default)]
pub struct HaInvariants {
    /// view → (the node that first acknowledged a write in it, when).
    first_ack: BTreeMap<u64, (NodeId, u64)>,
    /// Acknowledgements already looked at, per node.
    seen: BTreeMap<NodeId, usize>,
    /// Reported once each.
    reported_split: bool,
    reported_lost: BTreeSet<(u16, u64)>,
    /// `no_acked_write_lost`, kept up to date step by step rather than rebuilt (rebuilding
    /// every acknowledgement and the whole log each step made the check 17 times the cost of
    /// the run): the current primary and view, the (client, seq) of its log's entries, how much
    /// of its log and of each node's acknowledgements has been looked at.
    lost_primary: Option<(NodeId, u64)>,
    held: BTreeSet<(ClientId, u64)>,
    held_len: usize,
    acks_checked: BTreeMap<NodeId, usize>,
}

impl Invariants<Ha> for HaInvariants {
    fn list() -> &'static [InvariantInfo] {
        INVARIANTS
    }

    fn check(&mut self, nodes: &[NodeRef<'_, Ha>], _now: Time, out: &mut Vec<Violation>) {
        let primary_backup = nodes.iter().find_map(|n| n.live).is_some_and(|p| p.params.mode == Mode::PrimaryBackup)
            || nodes.iter().find_map(|n| n.durable).is_some_and(|d| d.1 == Mode::PrimaryBackup);
        if !primary_backup {
            return;
        }
        self.one_serving_primary(nodes, out);
        self.no_acked_write_lost(nodes, out);
    }
}

impl HaInvariants {
    fn one_serving_primary(&mut self, nodes: &[NodeRef<'_, Ha>], out: &mut Vec<Violation>) {
        for n in nodes {
            let Some(d) = durable_of(n) else { continue };
            let seen = self.seen.entry(n.id).or_insert(0);
            let new = d.stats.acks.get(*seen..).unwrap_or(&[]);
            *seen = d.stats.acks.len();
            for a in new {
                let newer = self.first_ack.range(a.view + 1..).find(|(_, (_, t))| *t <= a.at_us);
                if let Some((v, (who, t))) = newer
                    && !self.reported_split
                {
                    self.reported_split = true;
                    out.push(Violation {
                        invariant: "one_serving_primary",
                        detail: format!(
                            "{} acknowledged write {}={} as primary of view {} at {} µs, after {who} began acknowledging writes as primary of view {v} at {t} µs: two primaries (split brain)",
                            n.id, a.key, a.value, a.view, a.at_us
                        ),
                    });
                }
                match self.first_ack.get(&a.view) {
                    Some((who, _)) if *who != n.id => out.push(Violation {
                        invariant: "one_serving_primary",
                        detail: format!("{} and {who} both acknowledged writes as primary of view {}", n.id, a.view),
                    }),
                    Some(_) => {}
                    None => {
                        self.first_ack.insert(a.view, (n.id, a.at_us));
                    }
                }
            }
        }
    }

    fn no_acked_write_lost(&mut self, nodes: &[NodeRef<'_, Ha>], out: &mut Vec<Violation>) {
        let newest = nodes.iter().filter_map(durable_of).map(|d| d.view.num).max().unwrap_or(0);
        let Some(p) = nodes
            .iter()
            .filter_map(|n| n.live)
            .find(|p| p.role() == "primary" && p.d.view.num == newest && p.view_server() != Some(p.id))
        else {
            return;
        };
        // A primary only appends to its log within its view: a new primary, a new view or a
        // shorter log starts the check afresh over every acknowledgement.
        let key = (p.id, p.d.view.num);
        if self.lost_primary != Some(key) || p.d.log.len() < self.held_len {
            self.lost_primary = Some(key);
            self.held.clear();
            self.held_len = 0;
            self.acks_checked.clear();
        }
        self.held.extend(p.d.log[self.held_len..].iter().map(|e| (e.client, e.seq)));
        self.held_len = p.d.log.len();
        for n in nodes {
            let Some(d) = durable_of(n) else { continue };
            let from = self.acks_checked.insert(n.id, d.stats.acks.len()).unwrap_or(0);
            for a in d.stats.acks.get(from..).unwrap_or(&[]) {
                if !self.held.contains(&(a.client, a.seq)) && self.reported_lost.insert((a.client.0, a.seq)) {
                    out.push(Violation {
                        invariant: "no_acked_write_lost",
                        detail: format!(
                            "write {}={} (c{}.{}), acknowledged by {} in view {} ({}), is not in the log of {}, primary of view {}",
                            a.key,
                            a.value,
                            a.client.0 + 1,
                            a.seq,
                            n.id,
                            a.view,
                            a.how,
                            p.id,
                            p.d.view.num
                        ),
                    });
                }
            }
        }
    }
}
