//! Paxos's safety properties, checked after every step of a run.
//!
//! - Agreement (PMS §2.1; TLA+ `Consensus`: `Cardinality(chosen) <= 1`): at most one value is
//!   chosen per instance. *Chosen* is the TLA+ `Voting` definition: some majority of acceptors
//!   voted for the value in the same ballot, whether or not any learner has noticed.
//! - Validity (PMS §2.1): only a value that has been proposed (asked for by a client) may be
//!   chosen.
//! - Learner Integrity (PMS §2.1): a node never learns a value unless it has been chosen.
//! - Promise Kept (PMS §2.2, P1a; TLA+ `Paxos`, `Phase2b`: `m.bal >= maxBal[a]`): an acceptor
//!   never accepts a ballot below one it has promised, and its promises only rise.
//! - Accepted Values Safe (TLA+ `Voting`: `OneValuePerBallot` and `VotesSafe`): two acceptors
//!   never accept different values in the same ballot, and once a value is chosen in a ballot
//!   no acceptor accepts another value in a higher one.
//!
//! Each node writes an event to its journal whenever it promises, accepts, learns or takes a
//! client's value to propose. The checker reads each node's new events only, so a check after
//! every step costs the events of that step. It keeps its own record of every vote, promise
//! and choice of the run (a crashed node's promise included), so it judges the whole run.

use super::Paxos;
use super::messages::{Ballot, majority};
use crate::sim::ids::NodeId;
use crate::sim::protocol::{InvariantInfo, Invariants, NodeRef, Violation};
use crate::sim::time::Time;
use std::collections::{BTreeMap, BTreeSet};

pub const AGREEMENT: &str = "Agreement";
pub const VALIDITY: &str = "Validity";
pub const LEARNER_INTEGRITY: &str = "Learner Integrity";
pub const PROMISE_KEPT: &str = "Promise Kept";
pub const ACCEPTED_VALUES_SAFE: &str = "Accepted Values Safe";

static LIST: [InvariantInfo; 5] = [
    InvariantInfo {
        name: AGREEMENT,
        source: "Paxos Made Simple §2.1; TLA+ Consensus",
        statement: "at most one value is chosen in each instance (chosen: accepted by a majority in one ballot)",
    },
    InvariantInfo {
        name: VALIDITY,
        source: "Paxos Made Simple §2.1",
        statement: "only a value that a client asked to write is chosen",
    },
    InvariantInfo {
        name: LEARNER_INTEGRITY,
        source: "Paxos Made Simple §2.1",
        statement: "a node learns a value only if it has been chosen",
    },
    InvariantInfo {
        name: PROMISE_KEPT,
        source: "Paxos Made Simple §2.2 (P1a); TLA+ Paxos Phase2b",
        statement: "an acceptor never accepts a ballot below one it promised, and its promises only rise",
    },
    InvariantInfo {
        name: ACCEPTED_VALUES_SAFE,
        source: "TLA+ Voting: OneValuePerBallot, VotesSafe",
        statement: "no two acceptors accept different values in one ballot, and none accepts another value in a ballot above the one that chose a value",
    },
];

/// One entry of a node's journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The node took a client's value as the one it proposes for `key`.
    Proposed { key: String, value: String },
    /// Its acceptor promised `ballot` (phase 1b).
    Promised { key: String, ballot: Ballot },
    /// Its acceptor accepted `value` in `ballot` (phase 2b).
    Accepted { key: String, ballot: Ballot, value: String },
    /// Its learner learned `value`.
    Learned { key: String, value: String },
}

#[derive(Clone, Debug, Default)]
pub struct PaxosInvariants {
    /// Per node: the incarnation whose journal is being read and how far (absolute position).
    read: BTreeMap<NodeId, (u64, u64)>,
    proposed: BTreeSet<(String, String)>,
    /// Per acceptor and key: the highest ballot it promised or accepted.
    promised: BTreeMap<(NodeId, String), Ballot>,
    /// Per key and ballot: the value voted for and who voted.
    votes: BTreeMap<(String, Ballot), (String, BTreeSet<NodeId>)>,
    /// Per key: the value chosen and the lowest ballot seen choosing it.
    chosen: BTreeMap<String, (String, Ballot)>,
}

impl Invariants<Paxos> for PaxosInvariants {
    fn list() -> &'static [InvariantInfo] {
        &LIST
    }

    fn check(&mut self, nodes: &[NodeRef<'_, Paxos>], _now: Time, out: &mut Vec<Violation>) {
        let need = majority(nodes.len());
        for r in nodes {
            let Some(node) = r.live else { continue };
            let (incarnation, mut at) = self.read.get(&r.id).copied().unwrap_or((node.incarnation, 0));
            if incarnation != node.incarnation {
                at = 0; // A new life, a new journal.
            }
            // Events dropped before they were read (only if checking was off for a while).
            at = at.max(node.journal_base);
            let from = (at - node.journal_base) as usize;
            for event in node.journal.get(from..).unwrap_or_default() {
                self.absorb(r.id, event, need, out);
            }
            self.read.insert(r.id, (node.incarnation, node.journal_base + node.journal.len() as u64));
        }
    }
}

impl PaxosInvariants {
    fn absorb(&mut self, node: NodeId, event: &Event, need: usize, out: &mut Vec<Violation>) {
        match event {
            Event::Proposed { key, value } => {
                self.proposed.insert((key.clone(), value.clone()));
            }
            Event::Promised { key, ballot } => {
                if let Some(before) = self.raise_promise(node, key, *ballot)
                    && before > *ballot
                {
                    out.push(Violation {
                        invariant: PROMISE_KEPT,
                        detail: format!("{node} promised {ballot} for {key} after promising {before}"),
                    });
                }
            }
            Event::Accepted { key, ballot, value } => self.accepted(node, key, *ballot, value, need, out),
            Event::Learned { key, value } => match self.chosen.get(key) {
                Some((v, _)) if v == value => {}
                Some((v, b)) => out.push(Violation {
                    invariant: LEARNER_INTEGRITY,
                    detail: format!("{node} learned {key} = {value}, but {v} was chosen (in ballot {b})"),
                }),
                None => out.push(Violation {
                    invariant: LEARNER_INTEGRITY,
                    detail: format!("{node} learned {key} = {value}, but no majority has accepted any value"),
                }),
            },
        }
    }

    /// Records a promise; returns the highest ballot promised before, if any.
    fn raise_promise(&mut self, node: NodeId, key: &str, ballot: Ballot) -> Option<Ballot> {
        let slot = self.promised.entry((node, key.to_string()));
        let mut before = None;
        slot.and_modify(|b| {
            before = Some(*b);
            *b = (*b).max(ballot);
        })
        .or_insert(ballot);
        before
    }

    fn accepted(
        &mut self,
        node: NodeId,
        key: &str,
        ballot: Ballot,
        value: &str,
        need: usize,
        out: &mut Vec<Violation>,
    ) {
        if let Some(before) = self.raise_promise(node, key, ballot)
            && before > ballot
        {
            out.push(Violation {
                invariant: PROMISE_KEPT,
                detail: format!("{node} accepted {key} = {value} in ballot {ballot} after promising {before}"),
            });
        }
        if let Some((v, b)) = self.chosen.get(key)
            && ballot > *b
            && v != value
        {
            out.push(Violation {
                invariant: ACCEPTED_VALUES_SAFE,
                detail: format!("{node} accepted {key} = {value} in ballot {ballot}, above ballot {b} that chose {v}"),
            });
        }
        let (voted, voters) =
            self.votes.entry((key.to_string(), ballot)).or_insert_with(|| (value.to_string(), BTreeSet::new()));
        if voted != value {
            out.push(Violation {
                invariant: ACCEPTED_VALUES_SAFE,
                detail: format!("{node} accepted {key} = {value} in ballot {ballot}, where others accepted {voted}"),
            });
            return;
        }
        voters.insert(node);
        if voters.len() < need {
            return;
        }
        match self.chosen.get(key) {
            Some((v, b)) if v != value => out.push(Violation {
                invariant: AGREEMENT,
                detail: format!("{key} chose {value} in ballot {ballot}, after choosing {v} in ballot {b}"),
            }),
            Some(_) => {}
            None => {
                if !self.proposed.contains(&(key.to_string(), value.to_string())) {
                    out.push(Violation {
                        invariant: VALIDITY,
                        detail: format!("{key} chose {value} in ballot {ballot}, which no client asked to write"),
                    });
                }
                self.chosen.insert(key.to_string(), (value.to_string(), ballot));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Each invariant, shown to fire on a journal that breaks it.

    use super::*;
    use crate::protocols::paxos::PaxosParams;

    fn b(round: u64, node: u16) -> Ballot {
        Ballot { round, node: NodeId(node) }
    }

    fn accepted(ballot: Ballot, value: &str) -> Event {
        Event::Accepted { key: "x".into(), ballot, value: value.into() }
    }

    fn proposed(value: &str) -> Event {
        Event::Proposed { key: "x".into(), value: value.into() }
    }

    fn check(checker: &mut PaxosInvariants, journals: &[Vec<Event>]) -> Vec<&'static str> {
        let nodes: Vec<Paxos> = journals
            .iter()
            .enumerate()
            .map(|(i, j)| {
                let mut p = Paxos::blank(NodeId(i as u16), journals.len() as u16, PaxosParams::default());
                j.iter().cloned().for_each(|e| p.record(e));
                p
            })
            .collect();
        let refs: Vec<NodeRef<'_, Paxos>> =
            nodes.iter().map(|p| NodeRef { id: p.id, live: Some(p), durable: None, clock: Time::ZERO }).collect();
        let mut out = Vec::new();
        checker.check(&refs, Time::ZERO, &mut out);
        out.into_iter().map(|v| v.invariant).collect()
    }

    #[test]
    fn a_value_chosen_and_learned_breaks_nothing() {
        let learned = Event::Learned { key: "x".into(), value: "v1".into() };
        // Within one check, nodes are read in order: n2's accept completes the majority before
        // it and n3 learn.
        let journals = [
            vec![proposed("v1"), accepted(b(1, 0), "v1")],
            vec![accepted(b(1, 0), "v1"), learned.clone()],
            vec![learned],
        ];
        assert!(check(&mut PaxosInvariants::default(), &journals).is_empty());
    }

    #[test]
    fn two_values_chosen_break_agreement() {
        let journals = [
            vec![proposed("v1"), proposed("v2"), accepted(b(1, 0), "v1")],
            vec![accepted(b(1, 0), "v1"), accepted(b(2, 1), "v2")],
            vec![accepted(b(2, 1), "v2")],
        ];
        let found = check(&mut PaxosInvariants::default(), &journals);
        assert!(found.contains(&AGREEMENT), "{found:?}");
    }

    #[test]
    fn a_value_nobody_proposed_breaks_validity() {
        let journals = [vec![accepted(b(1, 0), "ghost")], vec![accepted(b(1, 0), "ghost")], vec![]];
        assert_eq!(check(&mut PaxosInvariants::default(), &journals), vec![VALIDITY]);
    }

    #[test]
    fn learning_an_unchosen_value_breaks_learner_integrity() {
        let journals = [
            vec![proposed("v1"), accepted(b(1, 0), "v1")],
            vec![Event::Learned { key: "x".into(), value: "v1".into() }],
            vec![],
        ];
        assert_eq!(check(&mut PaxosInvariants::default(), &journals), vec![LEARNER_INTEGRITY]);
    }

    #[test]
    fn accepting_below_a_promise_breaks_promise_kept_even_across_checks() {
        let mut checker = PaxosInvariants::default();
        let promise = Event::Promised { key: "x".into(), ballot: b(5, 1) };
        assert!(check(&mut checker, &[vec![proposed("v1")], vec![promise.clone()], vec![]]).is_empty());
        // The same node, a step later (its journal grew by one accept below its promise).
        let found = check(&mut checker, &[vec![proposed("v1")], vec![promise, accepted(b(3, 0), "v1")], vec![]]);
        assert_eq!(found, vec![PROMISE_KEPT]);
    }

    #[test]
    fn two_values_in_one_ballot_break_accepted_values_safe() {
        let journals =
            [vec![proposed("v1"), proposed("v2"), accepted(b(1, 0), "v1")], vec![accepted(b(1, 0), "v2")], vec![]];
        assert_eq!(check(&mut PaxosInvariants::default(), &journals), vec![ACCEPTED_VALUES_SAFE]);
    }

    #[test]
    fn another_value_accepted_above_the_chosen_ballot_is_unsafe() {
        let journals = [
            vec![proposed("v1"), proposed("v2"), accepted(b(1, 0), "v1")],
            vec![accepted(b(1, 0), "v1")],
            vec![accepted(b(2, 2), "v2")],
        ];
        assert_eq!(check(&mut PaxosInvariants::default(), &journals), vec![ACCEPTED_VALUES_SAFE]);
    }
}
