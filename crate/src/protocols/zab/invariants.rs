//! ZAB's safety properties, checked after every step of a run. From the ZAB paper (Junqueira,
//! Reed & Serafini, DSN 2011, §III) and the TLA+ specification of ZAB in ZooKeeper's
//! `zookeeper-specifications`:
//!
//! - One Leader Per Epoch (TLA+ `Leadership`): at most one node is established leader of an
//!   epoch.
//! - Integrity (§III): a node delivers only transactions some leader proposed, as proposed.
//! - Agreement (§III, with Total order): the sequences of transactions delivered by any two
//!   nodes are prefixes of one another.
//! - Total Order (§III): if a node delivers a before b, every node that delivers b delivers a
//!   before it. Delivery has no gaps here (a node delivers a prefix of its history), so this is
//!   checked as: every transaction sits at the same position in every delivered sequence.
//! - Local Primary Order (§III): if a leader proposes a before b, a node that delivers b
//!   delivered a before it. A leader numbers its proposals (e, 1), (e, 2), ... in the order it
//!   makes them, so (e, c) must come right after (e, c-1).
//! - Global Primary Order (§III): a node that delivers a from epoch e and b from e' > e delivers
//!   a before b: epochs never go down along a delivered sequence.
//! - Primary Integrity (§III): an established leader of epoch e has delivered every transaction
//!   committed (delivered anywhere) in an earlier epoch before it broadcasts.
//!
//! The checker keeps watermarks: per node, a chain of hashes of its delivered prefix, extended
//! by the newly delivered transactions only, and rebuilt when the node's truncation counter
//! moves (a TRUNC or SNAP rewrote its history) or its delivered prefix shrank; per leader, how
//! far it has scanned its history for its own proposals.

use super::messages::{Proposal, Role, Zxid};
use super::{Zab, ZabDurable};
use crate::sim::ids::NodeId;
use crate::sim::protocol::{InvariantInfo, Invariants, NodeRef, Violation};
use crate::sim::time::Time;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::hash::{DefaultHasher, Hash, Hasher};

pub const ONE_LEADER_PER_EPOCH: &str = "One Leader Per Epoch";
pub const INTEGRITY: &str = "Integrity";
pub const AGREEMENT: &str = "Agreement";
pub const TOTAL_ORDER: &str = "Total Order";
pub const LOCAL_PRIMARY_ORDER: &str = "Local Primary Order";
pub const GLOBAL_PRIMARY_ORDER: &str = "Global Primary Order";
pub const PRIMARY_INTEGRITY: &str = "Primary Integrity";

static LIST: [InvariantInfo; 7] = [
    InvariantInfo {
        name: ONE_LEADER_PER_EPOCH,
        source: "ZAB TLA+ spec (Leadership)",
        statement: "at most one node is established as leader of an epoch",
    },
    InvariantInfo {
        name: INTEGRITY,
        source: "Zab (DSN 2011) §III",
        statement: "a node delivers a transaction only if some leader proposed it",
    },
    InvariantInfo {
        name: AGREEMENT,
        source: "Zab (DSN 2011) §III",
        statement: "the sequences of transactions delivered by any two nodes are prefixes of one another",
    },
    InvariantInfo {
        name: TOTAL_ORDER,
        source: "Zab (DSN 2011) §III",
        statement: "if a node delivers a before b, any node that delivers b delivers a before it",
    },
    InvariantInfo {
        name: LOCAL_PRIMARY_ORDER,
        source: "Zab (DSN 2011) §III",
        statement: "if a leader proposes a before b, a node that delivers b has delivered a before it",
    },
    InvariantInfo {
        name: GLOBAL_PRIMARY_ORDER,
        source: "Zab (DSN 2011) §III",
        statement: "a node that delivers a from epoch e and b from a later epoch delivers a before b",
    },
    InvariantInfo {
        name: PRIMARY_INTEGRITY,
        source: "Zab (DSN 2011) §III",
        statement: "an established leader has delivered every transaction committed in an earlier epoch before it broadcasts",
    },
];

fn hash_of(p: &Proposal) -> u64 {
    let mut h = DefaultHasher::new();
    p.hash(&mut h);
    h.finish()
}

fn link(previous: u64, entry: u64) -> u64 {
    let mut h = DefaultHasher::new();
    (previous, entry).hash(&mut h);
    h.finish()
}

/// One node's delivered prefix as far as checked: `chain[k]` hashes transactions 1..=k+1.
#[derive(Clone, Debug, Default)]
struct Delivered {
    truncations: u64,
    chain: Vec<u64>,
}

#[derive(Clone, Debug, Default)]
pub struct ZabInvariants {
    leaders: BTreeMap<u64, NodeId>,
    /// Every proposal an established leader made: zxid → its hash.
    proposed: BTreeMap<Zxid, u64>,
    /// Per node, while it leads: (epoch, history entries scanned, truncations).
    led: Vec<Option<(u64, usize, u64)>>,
    delivered: Vec<Delivered>,
    /// The longest delivered sequence seen: (zxid, hash), and its prefix hashes.
    record: Vec<(Zxid, u64)>,
    record_chain: Vec<u64>,
    /// Where each transaction was first delivered.
    position: BTreeMap<Zxid, usize>,
    /// Per node, the (epoch, record length) its Primary Integrity was last checked at.
    primary_checked: Vec<Option<(u64, usize)>>,
}

impl Invariants<Zab> for ZabInvariants {
    fn list() -> &'static [InvariantInfo] {
        &LIST
    }

    fn check(&mut self, nodes: &[NodeRef<'_, Zab>], _now: Time, out: &mut Vec<Violation>) {
        if self.delivered.len() != nodes.len() {
            self.delivered = vec![Delivered::default(); nodes.len()];
            self.led = vec![None; nodes.len()];
            self.primary_checked = vec![None; nodes.len()];
        }
        for r in nodes {
            match r.live {
                Some(zab) if zab.role == Role::Leader => self.record_proposals(zab, out),
                _ => self.led[r.id.index()] = None,
            }
        }
        for r in nodes {
            if let Some(zab) = r.live {
                self.check_delivered(zab, out);
            } else if let Some(d) = r.durable {
                self.keep_durable(r.id, d);
            }
        }
        for zab in nodes.iter().filter_map(|r| r.live).filter(|z| z.role == Role::Leader) {
            self.primary_integrity(zab, out);
        }
    }
}

impl ZabInvariants {
    /// One Leader Per Epoch, and the record of what each established leader proposed.
    fn record_proposals(&mut self, zab: &Zab, out: &mut Vec<Violation>) {
        let epoch = zab.current_epoch;
        let first = *self.leaders.entry(epoch).or_insert(zab.id);
        if first != zab.id {
            out.push(Violation {
                invariant: ONE_LEADER_PER_EPOCH,
                detail: format!("{first} and {} are both established leaders of epoch {epoch}", zab.id),
            });
        }
        let i = zab.id.index();
        let start = match self.led[i] {
            Some((e, scanned, t)) if e == epoch && t == zab.truncations && scanned <= zab.history.len() => scanned,
            _ => zab.history.partition_point(|p| p.zxid.epoch < epoch),
        };
        for p in &zab.history[start..] {
            if p.zxid.epoch != epoch {
                continue;
            }
            let h = hash_of(p);
            match self.proposed.entry(p.zxid) {
                Entry::Vacant(v) => {
                    v.insert(h);
                }
                Entry::Occupied(o) if *o.get() != h => out.push(Violation {
                    invariant: INTEGRITY,
                    detail: format!(
                        "{} proposes {} with a different transaction than was proposed before",
                        zab.id, p.zxid
                    ),
                }),
                Entry::Occupied(_) => {}
            }
        }
        self.led[i] = Some((epoch, zab.history.len(), zab.truncations));
    }

    /// A crashed node delivers nothing; if its history was rewritten (it cannot be, on disk),
    /// re-read it when it comes back.
    fn keep_durable(&mut self, id: NodeId, d: &ZabDurable) {
        let seen = &mut self.delivered[id.index()];
        if seen.truncations != d.truncations {
            seen.chain.clear();
            seen.truncations = d.truncations;
        }
    }

    fn check_delivered(&mut self, zab: &Zab, out: &mut Vec<Violation>) {
        let i = zab.id.index();
        let n = zab.committed.min(zab.history.len());
        let seen = &mut self.delivered[i];
        let known = seen.chain.len();
        // Re-read from scratch after a truncation, a shrink, or a silently changed entry.
        let tail_moved = known > 0
            && n >= known
            && link(if known > 1 { seen.chain[known - 2] } else { 0 }, hash_of(&zab.history[known - 1]))
                != seen.chain[known - 1];
        if seen.truncations != zab.truncations || n < known || tail_moved {
            seen.chain.clear();
            seen.truncations = zab.truncations;
        }
        for k in self.delivered[i].chain.len()..n {
            let p = &zab.history[k];
            let h = hash_of(p);
            let z = p.zxid;
            let prev = k.checked_sub(1).map(|j| zab.history[j].zxid);
            if self.proposed.get(&z) != Some(&h) {
                out.push(Violation {
                    invariant: INTEGRITY,
                    detail: format!("{} delivers {z}, which no leader proposed (not as it holds it)", zab.id),
                });
            }
            if let Some(a) = prev
                && a.epoch > z.epoch
            {
                out.push(Violation {
                    invariant: GLOBAL_PRIMARY_ORDER,
                    detail: format!("{} delivers {z} after {a}, from a later epoch", zab.id),
                });
            }
            let expected = (z.counter > 1).then(|| Zxid::new(z.epoch, z.counter - 1));
            let out_of_order = match (expected, prev) {
                (Some(e), p) => p != Some(e),
                (None, Some(a)) => a.epoch == z.epoch,
                (None, None) => false,
            };
            if out_of_order {
                out.push(Violation {
                    invariant: LOCAL_PRIMARY_ORDER,
                    detail: match expected {
                        Some(e) => format!(
                            "{} delivers {z} right after {}, not after {e}, which its leader proposed before it",
                            zab.id,
                            prev.map_or("nothing".to_string(), |a| a.to_string())
                        ),
                        None => format!("{} delivers {z} after a later proposal of the same leader", zab.id),
                    },
                });
            }
            match self.record.get(k) {
                Some(&(rz, rh)) if (rz, rh) != (z, h) => out.push(Violation {
                    invariant: AGREEMENT,
                    detail: format!(
                        "{} delivers {z} as transaction {}, where another node delivered {rz}",
                        zab.id,
                        k + 1
                    ),
                }),
                Some(_) => {}
                None => {
                    let previous = self.record_chain.last().copied().unwrap_or(0);
                    self.record.push((z, h));
                    self.record_chain.push(link(previous, h));
                }
            }
            match self.position.entry(z) {
                Entry::Vacant(v) => {
                    v.insert(k);
                }
                Entry::Occupied(o) if *o.get() != k => out.push(Violation {
                    invariant: TOTAL_ORDER,
                    detail: format!(
                        "{} delivers {z} as transaction {}, another node as transaction {}: they delivered different transactions before it",
                        zab.id,
                        k + 1,
                        o.get() + 1
                    ),
                }),
                Entry::Occupied(_) => {}
            }
            let seen = &mut self.delivered[i];
            let previous = seen.chain.last().copied().unwrap_or(0);
            seen.chain.push(link(previous, h));
        }
    }

    fn primary_integrity(&mut self, zab: &Zab, out: &mut Vec<Violation>) {
        let i = zab.id.index();
        let epoch = zab.current_epoch;
        if self.primary_checked[i] == Some((epoch, self.record.len())) {
            return;
        }
        self.primary_checked[i] = Some((epoch, self.record.len()));
        let earlier = self.record.partition_point(|(z, _)| z.epoch < epoch);
        if earlier == 0 {
            return;
        }
        let chain = &self.delivered[i].chain;
        if chain.get(earlier - 1) != self.record_chain.get(earlier - 1) {
            let missing = (0..earlier)
                .find(|&k| chain.get(k) != self.record_chain.get(k))
                .and_then(|k| self.record.get(k))
                .map_or("a transaction".to_string(), |(z, _)| z.to_string());
            out.push(Violation {
                invariant: PRIMARY_INTEGRITY,
                detail: format!(
                    "{}, established leader of epoch {epoch}, has not delivered {missing}, committed in an earlier epoch",
                    zab.id
                ),
            });
        }
    }
}
