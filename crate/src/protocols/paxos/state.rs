//! A node's state for one Paxos instance (one key), by role: the acceptor's promise and vote
//! (durable), the proposer's current round and waiting clients, the learner's votes heard and
//! outcome; and how the inspector shows them.

use super::messages::{Ballot, Vote};
use crate::sim::ids::{ClientId, NodeId};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Where a proposer is in its current round for one instance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// No round of its own (never proposed, or a read found the register empty).
    #[default]
    Idle,
    /// Phase 1: waiting for promises from a majority.
    Prepare,
    /// Phase 2: waiting for the value to be chosen.
    Accept,
    /// Its last ballot was refused or timed out; it waits before trying a higher one.
    Backoff,
    /// It has learned the chosen value.
    Done,
}

impl Phase {
    pub fn active(self) -> bool {
        matches!(self, Phase::Prepare | Phase::Accept | Phase::Backoff)
    }
}

/// A client waiting at a proposer for the outcome of an instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Waiter {
    pub client: ClientId,
    pub seq: u64,
    /// `Some(v)` for a put of `v`; `None` for a get.
    pub put: Option<String>,
    /// A get that arrived while phase 1 of this ballot was under way may not be answered
    /// "empty" from its promises (some may predate the get); only from a later ballot's.
    pub not_from: Option<Ballot>,
}

/// One acceptor's state for an instance (TLA+ `maxBal`, `maxVBal`, `maxVal`): durable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AcceptorState {
    pub promised: Option<Ballot>,
    pub accepted: Option<Vote>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct ProposerState {
    pub phase: Phase,
    pub ballot: Option<Ballot>,
    /// The value of its phase 2: its own, or one adopted from a promise.
    pub value: Option<String>,
    /// The value its clients asked it to propose.
    pub own_value: Option<String>,
    /// Promises for the current ballot, with what each acceptor reported accepted.
    pub promises: BTreeMap<NodeId, Option<Vote>>,
    /// Acceptors that reported accepting the current ballot.
    pub accepts: BTreeSet<NodeId>,
    /// The ballot whose value it took instead of its own.
    pub adopted_from: Option<Ballot>,
    /// The highest round of its own it has used here (durable: a restarted proposer must
    /// never reuse a ballot, which might carry another value).
    pub last_round: u64,
    /// The highest round it has seen anyone use here.
    pub seen_round: u64,
    /// Ballots it has started here since it last started up.
    pub rounds: u64,
    pub waiting: Vec<Waiter>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct LearnerState {
    pub learned: Option<String>,
    /// The latest ballot each acceptor reported accepting (for the inspector).
    pub latest: BTreeMap<NodeId, Ballot>,
    /// Votes heard, by ballot: the value and who accepted it.
    pub votes: BTreeMap<Ballot, (String, BTreeSet<NodeId>)>,
    /// Restarted with this instance undecided on disk: it should find out.
    pub recovering: bool,
    /// A `Learn` timer is set.
    pub learn_timer: bool,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Instance {
    pub acceptor: AcceptorState,
    pub proposer: ProposerState,
    pub learner: LearnerState,
}

/// What one instance keeps on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceDurable {
    pub acceptor: AcceptorState,
    pub learned: Option<String>,
    pub last_round: u64,
}

pub(crate) fn ballot_json(b: Option<Ballot>) -> serde_json::Value {
    b.map_or(serde_json::Value::Null, |b| serde_json::Value::String(b.to_string()))
}

pub(crate) fn vote_json(v: &Option<Vote>) -> serde_json::Value {
    v.as_ref().map_or(serde_json::Value::Null, |v| serde_json::json!({ "ballot": v.ballot, "value": v.value }))
}

impl Instance {
    pub(crate) fn inspect(&self) -> serde_json::Value {
        let (a, p, l) = (&self.acceptor, &self.proposer, &self.learner);
        let names = |s: &mut dyn Iterator<Item = NodeId>| s.map(|n| n.to_string()).collect::<Vec<_>>();
        let waiting: Vec<serde_json::Value> =
            p.waiting.iter().map(|w| serde_json::json!({ "client": w.client, "seq": w.seq, "put": w.put })).collect();
        serde_json::json!({
            "acceptor": { "promised": ballot_json(a.promised), "accepted": vote_json(&a.accepted) },
            "proposer": {
                "phase": p.phase,
                "ballot": ballot_json(p.ballot),
                "value": p.value,
                "own_value": p.own_value,
                "promises": names(&mut p.promises.keys().copied()),
                "accepts": names(&mut p.accepts.iter().copied()),
                "adopted_from": ballot_json(p.adopted_from),
                "rounds": p.rounds,
                "waiting_clients": waiting,
            },
            "learner": {
                "learned": l.learned,
                "accepted": l.latest.iter().map(|(n, b)| (n.to_string(), serde_json::json!(b))).collect::<serde_json::Map<_, _>>(),
                "catching_up": l.learn_timer || l.recovering,
            },
        })
    }
}
