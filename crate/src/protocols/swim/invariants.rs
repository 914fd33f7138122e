//! SWIM's safety properties (§4.2), checked after every step on the nodes that step touched
//! (`Invariants::LOCAL`): the checker keeps what it needs per node, so a step costs O(1) in the
//! cluster's size.
//!
//! - Own Incarnation Grows: a node's own incarnation never decreases, across restarts too.
//! - No Forged Incarnation: no node believes an incarnation of Y above the highest Y ever
//!   announced for itself (only Y raises Y's incarnation).
//! - Refutes, Never Self-Suspects: a node always believes itself alive.
//! - Precedence: an entry changes only as the precedence rules allow (`membership::overrides`).

use super::messages::State;
use super::{Swim, overrides};
use crate::sim::protocol::{InvariantInfo, Invariants, NodeRef, Violation};
use crate::sim::time::Time;

const OWN_INCARNATION: &str = "Own Incarnation Grows";
const NO_FORGED: &str = "No Forged Incarnation";
const NO_SELF_SUSPICION: &str = "Refutes, Never Self-Suspects";
const PRECEDENCE: &str = "Precedence";

static LIST: [InvariantInfo; 4] = [
    InvariantInfo {
        name: OWN_INCARNATION,
        source: "SWIM §4.2",
        statement: "a node's own incarnation number never decreases, not even across a crash and restart",
    },
    InvariantInfo {
        name: NO_FORGED,
        source: "SWIM §4.2",
        statement: "no node believes an incarnation of a member higher than that member ever announced: only a member raises its own incarnation",
    },
    InvariantInfo {
        name: NO_SELF_SUSPICION,
        source: "SWIM §4.2",
        statement: "a node never believes itself suspect or dead: told so, it refutes with a higher incarnation",
    },
    InvariantInfo {
        name: PRECEDENCE,
        source: "SWIM §4.2",
        statement: "an entry changes only by the precedence rules: Alive(i) over Suspect(j) or Alive(j) iff i > j, Suspect(i) over Alive(j) iff i >= j and over Suspect(j) iff i > j, Confirm over both (iff i >= j); Alive(i) re-admits Dead(j) iff i > j",
    },
];

#[derive(Clone, Debug, Default)]
pub struct SwimInvariants {
    /// Per node: the highest incarnation it announced for itself.
    announced: Vec<u64>,
    /// Per node: (starts, callbacks) of the journal last read, so each is read once.
    read: Vec<(u64, u64)>,
}

impl Invariants<Swim> for SwimInvariants {
    const LOCAL: bool = true;

    fn list() -> &'static [InvariantInfo] {
        &LIST
    }

    fn check(&mut self, nodes: &[NodeRef<'_, Swim>], _now: Time, out: &mut Vec<Violation>) {
        for r in nodes {
            let Some(p) = r.live else { continue };
            let x = r.id.index();
            let n = usize::from(p.nodes).max(x + 1);
            if self.announced.len() < n {
                self.announced.resize(n, 0);
                self.read.resize(n, (0, 0));
            }
            let own = p.incarnation();
            if own < self.announced[x] {
                out.push(Violation {
                    invariant: OWN_INCARNATION,
                    detail: format!(
                        "{} is at incarnation {own}, below the {} it announced before",
                        r.id, self.announced[x]
                    ),
                });
            }
            self.announced[x] = self.announced[x].max(own);
            let me = p.table.get(r.id);
            if me.state != State::Alive {
                out.push(Violation {
                    invariant: NO_SELF_SUSPICION,
                    detail: format!("{} believes itself {} at incarnation {}", r.id, me.state.name(), me.incarnation),
                });
            }
            let stamp = (p.starts(), p.callbacks());
            if self.read[x] == stamp {
                continue;
            }
            self.read[x] = stamp;
            for t in p.journal() {
                let y = t.member.index();
                if t.member != r.id {
                    let max = self.announced.get(y).copied().unwrap_or(0);
                    if t.to.1 > max {
                        out.push(Violation {
                            invariant: NO_FORGED,
                            detail: format!(
                                "{} believes {} {} at incarnation {}, but {} never announced more than {max}",
                                r.id,
                                t.member,
                                t.to.0.name(),
                                t.to.1,
                                t.member
                            ),
                        });
                    }
                }
                let allowed = if t.member == r.id {
                    t.to.0 == State::Alive && t.to.1 > t.from.1
                } else {
                    overrides(t.to, t.from)
                };
                if !allowed {
                    out.push(Violation {
                        invariant: PRECEDENCE,
                        detail: format!(
                            "{}'s entry for {} went from {} at {} to {} at {}",
                            r.id,
                            t.member,
                            t.from.0.name(),
                            t.from.1,
                            t.to.0.name(),
                            t.to.1
                        ),
                    });
                }
            }
        }
    }
}
