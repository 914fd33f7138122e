//! 2PC's safety properties, checked after every step over every node, running or crashed (a
//! crashed node's log is on its disk). Each reads only what the logs gained since the last
//! step, so a check costs the new records, not the whole history.
//!
//! - Atomic Commitment (Gray & Lamport 2006, `TCommit`'s `TCConsistent`; BHG §7.2, AC1): no
//!   node decides commit for a transaction that another node decides abort.
//! - Validity (BHG §7.2, AC3; `TwoPhase`: the TM commits only after a "Prepared" from every RM):
//!   the coordinator logs commit only once every participant of the transaction has logged a
//!   yes vote, and a participant that voted no never commits.
//! - Follows the Coordinator (`TwoPhase`: an RM commits or aborts on the TM's message; BHG
//!   §7.4 for the outcomes learned from other participants): a participant never decides
//!   otherwise than the coordinator logged.
//! - Prepared Holds Locks (Gray & Lamport 2006 §4: a prepared RM may not abort on its own; BHG
//!   §7.3, the uncertainty period): a participant that voted yes holds the locks of its writes
//!   for that transaction until it learns the outcome, across restarts (the `Prepared` record
//!   brings them back).

use super::TwoPc;
use super::log::{Record, TwoPcDurable};
use crate::protocols::txn::{self, DecisionWatch};
use crate::sim::ids::NodeId;
use crate::sim::protocol::{Decision, InvariantInfo, Invariants, NodeRef, Violation};
use crate::sim::time::Time;
use std::collections::BTreeMap;

const ATOMIC: &str = "Atomic Commitment";
const VALIDITY: &str = "Validity";
const FOLLOWS: &str = "Follows the Coordinator";
const LOCKS: &str = "Prepared Holds Locks";

static LIST: [InvariantInfo; 4] = [
    InvariantInfo {
        name: ATOMIC,
        source: "Gray & Lamport 2006, TCommit (TCConsistent); BHG §7.2 AC1",
        statement: "no node decides commit for a transaction that another node decides abort",
    },
    InvariantInfo {
        name: VALIDITY,
        source: "BHG §7.2 AC3; Gray & Lamport 2006, TwoPhase",
        statement: "the coordinator logs commit only after every participant has logged a yes vote, and a participant that voted no never commits",
    },
    InvariantInfo {
        name: FOLLOWS,
        source: "Gray & Lamport 2006, TwoPhase; BHG §7.4",
        statement: "a participant never decides otherwise than the coordinator logged, whether it learns the outcome from the coordinator or from another participant",
    },
    InvariantInfo {
        name: LOCKS,
        source: "Gray & Lamport 2006 §4; BHG §7.3",
        statement: "a participant that voted yes keeps its keys locked for the transaction until it learns the outcome, also after restarting",
    },
];

#[derive(Clone, Debug, Default)]
pub struct TwoPcInvariants {
    watch: DecisionWatch,
    /// Per node: how many of its log records have been read.
    read: Vec<usize>,
    /// (transaction, participant) → its logged vote.
    votes: BTreeMap<(String, NodeId), bool>,
    /// The participants of each transaction the coordinator began.
    participants: BTreeMap<String, Vec<NodeId>>,
    coordinator: BTreeMap<String, Decision>,
    /// Participants' decisions, for comparison with a coordinator decision logged later.
    decided: BTreeMap<String, Vec<(NodeId, Decision)>>,
    /// (participant, transaction) → keys, while it is prepared and undecided.
    uncertain: BTreeMap<(NodeId, String), Vec<String>>,
}

impl Invariants<TwoPc> for TwoPcInvariants {
    fn list() -> &'static [InvariantInfo] {
        &LIST
    }

    fn check(&mut self, nodes: &[NodeRef<'_, TwoPc>], _now: Time, out: &mut Vec<Violation>) {
        let cluster = nodes.len() as u16;
        let mut fresh: Vec<(NodeId, String, Decision)> = Vec::new();
        for node in nodes {
            let disk: &TwoPcDurable = match (node.live, node.durable) {
                (Some(p), _) => &p.disk,
                (None, Some(d)) => d,
                (None, None) => continue,
            };
            self.watch.check(ATOMIC, node.id, &disk.decisions, out);
            let i = node.id.index();
            if self.read.len() <= i {
                self.read.resize(i + 1, 0);
            }
            let from = self.read[i].min(disk.log.len());
            for l in &disk.log[from..] {
                match &l.record {
                    Record::Begin { txn, writes, participants, .. } => {
                        // Who must vote is recomputed from the keys written, not taken from the
                        // list the coordinator logged: a coordinator that left an owner out
                        // would otherwise pass. (A hand-made log without writes keeps its list.)
                        let owners = crate::protocols::txn::owners(writes.iter().map(|w| w.key.as_str()), cluster);
                        let must_vote = if owners.is_empty() { participants.clone() } else { owners };
                        self.participants.insert(txn.clone(), must_vote);
                    }
                    Record::Prepared { txn, writes, .. } => {
                        self.votes.insert((txn.clone(), node.id), true);
                        let keys = writes.iter().map(|w| w.key.clone()).collect();
                        self.uncertain.insert((node.id, txn.clone()), keys);
                    }
                    Record::VotedNo { txn, .. } => {
                        self.votes.insert((txn.clone(), node.id), false);
                    }
                    Record::Decision { txn, decision } => {
                        self.uncertain.remove(&(node.id, txn.clone()));
                        fresh.push((node.id, txn.clone(), *decision));
                    }
                    Record::End { .. } => {}
                }
            }
            self.read[i] = disk.log.len();
        }
        // Decisions are judged after every node's new votes are read: a vote logged in the same
        // step as a decision (by another node) was logged first.
        for (node, t, d) in fresh {
            if node == txn::COORDINATOR {
                self.coordinator_decided(&t, d, out);
            } else {
                self.participant_decided(node, &t, d, out);
            }
        }
        for node in nodes {
            let Some(p) = node.live else { continue };
            for ((n, t), keys) in self.uncertain.range((node.id, String::new())..) {
                if *n != node.id {
                    break;
                }
                for k in keys {
                    if p.locks.holder(k) != Some(t.as_str()) {
                        out.push(Violation {
                            invariant: LOCKS,
                            detail: format!(
                                "{n} is prepared on {t} and undecided, but {k} is {}",
                                match p.locks.holder(k) {
                                    Some(other) => format!("locked by {other}"),
                                    None => "not locked".to_string(),
                                }
                            ),
                        });
                    }
                }
            }
        }
    }
}

impl TwoPcInvariants {
    fn coordinator_decided(&mut self, t: &str, d: Decision, out: &mut Vec<Violation>) {
        if d == Decision::Commit {
            for p in self.participants.get(t).into_iter().flatten() {
                match self.votes.get(&(t.to_string(), *p)) {
                    Some(true) => {}
                    vote => out.push(Violation {
                        invariant: VALIDITY,
                        detail: format!(
                            "n1 logged commit for {t} but {p} {}",
                            if vote.is_some() { "voted no" } else { "has not logged a yes vote" }
                        ),
                    }),
                }
            }
        }
        self.coordinator.insert(t.to_string(), d);
        for (p, pd) in self.decided.remove(t).into_iter().flatten() {
            if pd != d {
                out.push(follows(p, t, pd, d));
            }
        }
    }

    fn participant_decided(&mut self, node: NodeId, t: &str, d: Decision, out: &mut Vec<Violation>) {
        if d == Decision::Commit && self.votes.get(&(t.to_string(), node)) != Some(&true) {
            out.push(Violation {
                invariant: VALIDITY,
                detail: format!("{node} committed {t} without having voted yes"),
            });
        }
        match self.coordinator.get(t) {
            Some(cd) if *cd != d => out.push(follows(node, t, d, *cd)),
            Some(_) => {}
            // Compared when the coordinator logs its decision.
            None => self.decided.entry(t.to_string()).or_default().push((node, d)),
        }
    }
}

fn follows(p: NodeId, t: &str, pd: Decision, cd: Decision) -> Violation {
    Violation {
        invariant: FOLLOWS,
        detail: format!("{p} decided {} for {t}, but the coordinator logged {}", txn::name(pd), txn::name(cd)),
    }
}
