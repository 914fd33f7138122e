//! Multi-Paxos's safety properties, checked after every step of a run. The first three are the
//! safety requirements of consensus as "Paxos Made Simple" §2.1 states them, for every slot:
//!
//! - Validity: only a value that has been proposed may be chosen. Checked on every acceptance:
//!   a value accepted in slot `s` under ballot `b` must be the one value `b`'s own node proposed
//!   there (a leader writes its proposal into its own log first), so what a majority accepts —
//!   what is chosen — was proposed: a client command or a no-op.
//! - Agreement: only a single value is chosen per slot. The checker counts acceptances per
//!   (slot, ballot, value) from the acceptors' own state as it changes; a value is chosen when a
//!   majority has accepted it in one ballot, and a second, different value chosen in the same
//!   slot is a violation.
//! - Learner Agreement: a process never learns that a value has been chosen unless it actually
//!   has been: a slot a node marks chosen must hold the value the acceptors chose there, so no
//!   two nodes hold different chosen values in a slot, and (as a node applies only its chosen
//!   prefix) every applied slot holds the chosen command — the "Log Matching" of a Paxos log.
//! - One Leader Per Ballot: a ballot names its leader, so at most one node ever leads in it
//!   ("Paxos Made Moderately Complex" §3: ballots are totally ordered and leader-specific).
//! - Promise Kept: an acceptor's promise never goes back (it is durable), and it never accepts a
//!   value in a ballot below one it had promised (Paxos Made Simple, P1a).
//!
//! Each node keeps a durable journal of the slots it wrote, so each check reads only the slots
//! written since the last one: O(new events), not O(history).

use super::messages::{Ballot, Role, Slot, majority};
use super::{MultiPaxos, MultiPaxosDurable};
use crate::sim::ids::NodeId;
use crate::sim::protocol::{InvariantInfo, Invariants, NodeRef, Violation};
use crate::sim::time::Time;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};

const VALIDITY: &str = "Validity";
const AGREEMENT: &str = "Agreement";
const LEARNER_AGREEMENT: &str = "Learner Agreement";
const ONE_LEADER_PER_BALLOT: &str = "One Leader Per Ballot";
const PROMISE_KEPT: &str = "Promise Kept";

static LIST: [InvariantInfo; 5] = [
    InvariantInfo {
        name: VALIDITY,
        source: "Paxos Made Simple §2.1",
        statement: "only a value that has been proposed may be chosen: every value accepted in a slot under a ballot is the one that ballot's leader proposed there (a client command or a no-op)",
    },
    InvariantInfo {
        name: AGREEMENT,
        source: "Paxos Made Simple §2.1",
        statement: "at most one value is chosen in each slot (chosen: accepted by a majority in the same ballot)",
    },
    InvariantInfo {
        name: LEARNER_AGREEMENT,
        source: "Paxos Made Simple §2.1",
        statement: "a node marks a value chosen (and applies it) only if it was chosen: no two nodes hold different chosen commands in a slot",
    },
    InvariantInfo {
        name: ONE_LEADER_PER_BALLOT,
        source: "Paxos Made Moderately Complex §3",
        statement: "at most one node ever leads in a ballot: the node the ballot names",
    },
    InvariantInfo {
        name: PROMISE_KEPT,
        source: "Paxos Made Simple §2.2 (P1a)",
        statement: "an acceptor's promise never decreases, and it accepts no value in a ballot below the one it promised",
    },
];

fn digest(slot: &Slot) -> u64 {
    let mut h = DefaultHasher::new();
    slot.command.hash(&mut h);
    h.finish()
}

/// One node's state as the checker reads it, live or from disk.
struct Seen<'a> {
    id: NodeId,
    promised: Ballot,
    log: &'a [Option<Slot>],
    journal: &'a [u64],
    live: Option<&'a MultiPaxos>,
}

fn seen<'a>(r: &NodeRef<'a, MultiPaxos>) -> Option<Seen<'a>> {
    match (r.live, r.durable) {
        (Some(n), _) => Some(Seen { id: r.id, promised: n.promised, log: &n.log, journal: &n.journal, live: Some(n) }),
        (None, Some(MultiPaxosDurable { promised, log, journal, .. })) => {
            Some(Seen { id: r.id, promised: *promised, log, journal, live: None })
        }
        (None, None) => None,
    }
}

#[derive(Clone, Debug, Default)]
pub struct MultiPaxosInvariants {
    /// Per node: how much of its journal has been read, and its promise at the last check.
    read: Vec<usize>,
    promised: Vec<Ballot>,
    /// (slot, ballot) → the value that ballot's leader proposed there.
    proposals: BTreeMap<(u64, Ballot), u64>,
    /// (slot, ballot, value) → who accepted it.
    votes: BTreeMap<(u64, Ballot, u64), BTreeSet<NodeId>>,
    /// slot → the value chosen there, and a description for messages.
    chosen: BTreeMap<u64, (u64, String)>,
    /// ballot → the node seen leading it.
    leaders: BTreeMap<Ballot, NodeId>,
}

impl Invariants<MultiPaxos> for MultiPaxosInvariants {
    fn list() -> &'static [InvariantInfo] {
        &LIST
    }

    fn check(&mut self, nodes: &[NodeRef<'_, MultiPaxos>], _now: Time, out: &mut Vec<Violation>) {
        if self.read.len() != nodes.len() {
            self.read = vec![0; nodes.len()];
            self.promised = vec![Ballot::ZERO; nodes.len()];
        }
        let cluster = nodes.len();
        let states: Vec<Seen<'_>> = nodes.iter().filter_map(seen).collect();
        // Acceptances first, for every node, so that a chosen mark made in this step is judged
        // against every acceptance made up to it.
        let mut marks = Vec::new();
        for n in &states {
            let i = n.id.index();
            if n.promised < self.promised[i] {
                out.push(Violation {
                    invariant: PROMISE_KEPT,
                    detail: format!("{} had promised {} and now promises only {}", n.id, self.promised[i], n.promised),
                });
            }
            let from = self.read[i].min(n.journal.len());
            for &slot in &n.journal[from..] {
                let Some(Some(entry)) = slot.checked_sub(1).and_then(|k| n.log.get(k as usize)) else { continue };
                self.accepted(n.id, slot, entry, cluster, out);
                if entry.chosen {
                    marks.push((n.id, slot, entry));
                } else if entry.ballot < self.promised[i] {
                    out.push(Violation {
                        invariant: PROMISE_KEPT,
                        detail: format!(
                            "{} accepted {} in slot {slot} under ballot {} after promising {}",
                            n.id, entry.command, entry.ballot, self.promised[i]
                        ),
                    });
                }
            }
            self.read[i] = n.journal.len();
            self.promised[i] = n.promised;
        }
        for (id, slot, entry) in marks {
            match self.chosen.get(&slot) {
                Some((d, _)) if *d == digest(entry) => {}
                Some((_, was)) => out.push(Violation {
                    invariant: LEARNER_AGREEMENT,
                    detail: format!("{id} marks {} chosen in slot {slot}, but {was} was chosen there", entry.command),
                }),
                None => out.push(Violation {
                    invariant: LEARNER_AGREEMENT,
                    detail: format!(
                        "{id} marks {} chosen in slot {slot}, but no majority accepted it in one ballot",
                        entry.command
                    ),
                }),
            }
        }
        for n in states.iter().filter_map(|n| n.live) {
            if n.applied > n.chosen_prefix {
                out.push(Violation {
                    invariant: LEARNER_AGREEMENT,
                    detail: format!("{} applied {} slots but knows only {} chosen", n.id, n.applied, n.chosen_prefix),
                });
            }
            if n.role == Role::Leader {
                let first = *self.leaders.entry(n.ballot).or_insert(n.id);
                if first != n.id || n.ballot.node != n.id {
                    out.push(Violation {
                        invariant: ONE_LEADER_PER_BALLOT,
                        detail: format!("{} leads in ballot {}, which {} led", n.id, n.ballot, first),
                    });
                }
            }
        }
    }
}

impl MultiPaxosInvariants {
    /// `id` holds `entry` in `slot`: an acceptance of that value under the entry's ballot.
    fn accepted(&mut self, id: NodeId, slot: u64, entry: &Slot, cluster: usize, out: &mut Vec<Violation>) {
        let d = digest(entry);
        let b = entry.ballot;
        match self.proposals.get(&(slot, b)) {
            None if b.node == id => {
                self.proposals.insert((slot, b), d);
            }
            Some(p) if *p == d => {}
            Some(_) if b.node == id => out.push(Violation {
                invariant: VALIDITY,
                detail: format!("{id} proposed two different values in slot {slot} under its ballot {b}"),
            }),
            _ => out.push(Violation {
                invariant: VALIDITY,
                detail: format!(
                    "{id} accepted {} in slot {slot} under ballot {b}, which {} never proposed",
                    entry.command, b.node
                ),
            }),
        }
        let voters = self.votes.entry((slot, b, d)).or_default();
        voters.insert(id);
        if voters.len() < majority(cluster) {
            return;
        }
        match self.chosen.get(&slot) {
            None => {
                self.chosen.insert(slot, (d, entry.command.to_string()));
            }
            Some((c, _)) if *c == d => {}
            Some((_, was)) => out.push(Violation {
                invariant: AGREEMENT,
                detail: format!(
                    "slot {slot}: {} was chosen, and now a majority accepted {} in ballot {b}",
                    was, entry.command
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The invariants that need a live node (a leader); the others are fed crashed nodes'
    //! durable states in `crate/tests/multipaxos.rs`.

    use super::*;
    use crate::protocols::kv::KvStore;
    use crate::protocols::multipaxos::messages::Command;
    use crate::protocols::multipaxos::{MultiPaxosParams, Recovery};
    use crate::sim::ids::ClientId;

    fn node(id: u16, ballot: Ballot, role: Role) -> MultiPaxos {
        MultiPaxos {
            id: NodeId(id),
            nodes: 3,
            params: MultiPaxosParams::default(),
            promised: ballot,
            log: Vec::new(),
            overwrites: 0,
            journal: Vec::new(),
            role,
            leader: None,
            ballot,
            from_slot: 1,
            promises: BTreeMap::new(),
            recovery: Recovery::default(),
            next_slot: 1,
            pending: BTreeMap::new(),
            match_slot: vec![0; 3],
            chosen_prefix: 0,
            applied: 0,
            store: KvStore::default(),
            waiting: BTreeMap::new(),
            lagging: false,
        }
    }

    fn check(checker: &mut MultiPaxosInvariants, nodes: &[MultiPaxos]) -> Vec<&'static str> {
        let refs: Vec<NodeRef<'_, MultiPaxos>> =
            nodes.iter().map(|n| NodeRef { id: n.id, live: Some(n), durable: None, clock: Time::ZERO }).collect();
        let mut out = Vec::new();
        checker.check(&refs, Time::ZERO, &mut out);
        out.into_iter().map(|v| v.invariant).collect()
    }

    fn b(round: u64, node: u16) -> Ballot {
        Ballot { round, node: NodeId(node) }
    }

    #[test]
    fn one_leader_and_its_followers_break_nothing() {
        let nodes =
            [node(0, b(1, 0), Role::Leader), node(1, b(1, 0), Role::Follower), node(2, b(1, 0), Role::Follower)];
        assert!(check(&mut MultiPaxosInvariants::default(), &nodes).is_empty());
    }

    #[test]
    fn leading_in_another_nodes_ballot_breaks_one_leader_per_ballot() {
        let nodes = [node(0, b(1, 0), Role::Leader), node(1, b(1, 0), Role::Leader), node(2, b(1, 0), Role::Follower)];
        assert!(check(&mut MultiPaxosInvariants::default(), &nodes).contains(&ONE_LEADER_PER_BALLOT));
    }

    #[test]
    fn applying_past_the_chosen_prefix_breaks_learner_agreement() {
        let mut n = node(0, b(1, 0), Role::Follower);
        n.log = vec![Some(Slot {
            ballot: b(1, 0),
            command: Command::Put { key: "x".into(), value: "1".into(), client: ClientId(0), seq: 1 },
            chosen: false,
        })];
        n.journal = vec![1];
        n.applied = 1;
        let nodes = [n, node(1, b(1, 0), Role::Follower), node(2, b(1, 0), Role::Follower)];
        assert!(check(&mut MultiPaxosInvariants::default(), &nodes).contains(&LEARNER_AGREEMENT));
    }
}
