//! The lease's safety properties, checked after every step (see the module essay for where
//! each is meant to hold).
//!
//! Lease exclusivity (Gray & Cheriton 1989 §2; Burrows 2006 §2.8): at most one holder believes
//! it holds the lease at any instant of true time, each judging by its own clock. A belief only
//! starts at a step (a grant arriving) and a clock only jumps at a step, so checking after every
//! step sees every overlap.
//!
//! Fencing order (Kleppmann 2016; Burrows 2006 §2.4): the storage never accepts a write whose
//! token is lower than that of a write it accepted before.
//!
//! Single writer (Kleppmann 2016): the storage never accepts a write made under a lease after
//! the grantor has granted a later one.

use super::{GRANTOR, Lease, LeaseDurable, Part, STORAGE, StorageDisk, clock_of, secs};
use crate::sim::protocol::{InvariantInfo, Invariants, NodeRef, Violation};
use crate::sim::time::Time;

#[derive(Clone, Debug, Default)]
pub struct LeaseInvariants {
    /// How many accepted writes of the storage have been looked at.
    seen: u64,
    /// The highest token among them.
    highest_accepted: u64,
}

const LIST: &[InvariantInfo] = &[
    InvariantInfo {
        name: "lease_exclusive",
        source: "Gray & Cheriton 1989 §2; Chubby (Burrows 2006) §2.8",
        statement: "At no instant of true time do two holders believe they hold the lease, each judging by its own clock (holds while clock drift stays within the margin)",
    },
    InvariantInfo {
        name: "fencing_order",
        source: "Kleppmann 2016, How to do distributed locking; Chubby §2.4 sequencers",
        statement: "The storage never accepts a write whose fencing token is lower than that of a write it has already accepted",
    },
    InvariantInfo {
        name: "single_writer",
        source: "Kleppmann 2016, How to do distributed locking",
        statement: "The storage never accepts a write made under a lease after the grantor has granted a later lease (a holder that lost its lease writes nothing more)",
    },
];

fn storage<'a>(nodes: &'a [NodeRef<'a, Lease>]) -> Option<&'a StorageDisk> {
    let r = nodes.get(STORAGE.index())?;
    match (r.live.map(|n| &n.part), r.durable) {
        (Some(Part::Storage(s)), _) => Some(&s.disk),
        (None, Some(LeaseDurable::Storage(d))) => Some(d),
        _ => None,
    }
}

/// The highest token the grantor has granted (from its disk if it is down).
fn granted(nodes: &[NodeRef<'_, Lease>]) -> u64 {
    let Some(r) = nodes.get(GRANTOR.index()) else { return 0 };
    match (r.live.map(|n| &n.part), r.durable) {
        (Some(Part::Grantor(g)), _) => g.disk.granted,
        (None, Some(LeaseDurable::Grantor(d))) => d.granted,
        _ => 0,
    }
}

impl Invariants<Lease> for LeaseInvariants {
    fn list() -> &'static [InvariantInfo] {
        LIST
    }

    fn check(&mut self, nodes: &[NodeRef<'_, Lease>], _now: Time, out: &mut Vec<Violation>) {
        let believers: Vec<String> = nodes
            .iter()
            .filter_map(|r| match r.live.map(|n| &n.part) {
                Some(Part::Holder(h)) if h.believes(clock_of(r)) => h.holding.as_ref().map(|x| {
                    format!(
                        "{} (lease {}, until {} by its clock, which reads {})",
                        r.id,
                        x.token,
                        secs(x.expires),
                        secs(clock_of(r))
                    )
                }),
                _ => None,
            })
            .collect();
        if believers.len() > 1 {
            out.push(Violation {
                invariant: "lease_exclusive",
                detail: format!("{} all believe they hold the lease", believers.join(" and ")),
            });
        }
        let Some(s) = storage(nodes) else { return };
        if s.accepted > self.seen {
            self.seen = s.accepted;
            if let Some(w) = &s.last_accepted {
                if w.token < self.highest_accepted {
                    out.push(Violation {
                        invariant: "fencing_order",
                        detail: format!(
                            "the storage accepted {} from {} under token {} after accepting a write under token {}",
                            w.value, w.holder, w.token, self.highest_accepted
                        ),
                    });
                }
                let later = granted(nodes);
                if w.token < later {
                    out.push(Violation {
                        invariant: "single_writer",
                        detail: format!(
                            "the storage accepted {} from {} under lease {}, after the grantor had granted lease {}",
                            w.value, w.holder, w.token, later
                        ),
                    });
                }
                self.highest_accepted = self.highest_accepted.max(w.token);
            }
        }
    }
}
