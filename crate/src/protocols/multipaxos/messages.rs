//! Multi-Paxos's ballots, commands and wire messages. The names follow Lamport's "Paxos Made
//! Simple" (prepare, promise, accept, accepted) with van Renesse & Altinbuken's ballots ("Paxos
//! Made Moderately Complex", 2015: a ballot is a pair of a round and a leader id).

use crate::sim::ids::NodeId;
use crate::sim::protocol::Message;
use serde::{Serialize, Serializer};
use std::fmt;

/// A ballot number: `(round, leader)`, ordered lexicographically, so two leaders never share one
/// and every node can always pick one above any it has seen. Shown as `3.n2`. Round 0 is "no
/// ballot yet": every real ballot has round 1 or more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ballot {
    pub round: u64,
    pub node: NodeId,
}

impl Ballot {
    pub const ZERO: Ballot = Ballot { round: 0, node: NodeId(0) };

    pub fn is_zero(self) -> bool {
        self.round == 0
    }
}

impl Default for Ballot {
    fn default() -> Self {
        Ballot::ZERO
    }
}

impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() { write!(f, "0") } else { write!(f, "{}.{}", self.round, self.node) }
    }
}

impl Serialize for Ballot {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

pub use crate::protocols::kv::Command;

/// One slot of an acceptor's log: the value it accepted there and in which ballot, and whether
/// it knows that value to be chosen.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Slot {
    pub ballot: Ballot,
    pub command: Command,
    pub chosen: bool,
}

/// A slot's accepted value as a Promise reports it or a Learn carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub slot: u64,
    pub ballot: Ballot,
    pub command: Command,
    /// The reporter knows this value is chosen.
    pub chosen: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum MpMsg {
    /// Phase 1a, run once for every slot from `from_slot` on ("Paxos Made Simple" §3).
    Prepare { ballot: Ballot, from_slot: u64 },
    /// Phase 1b: the acceptor promises to accept nothing below `ballot`, and reports every value
    /// it has accepted at or after `from_slot`.
    Promise { ballot: Ballot, accepted: Vec<Report> },
    /// The refusal of a Prepare, Accept or Heartbeat of `ballot`: the acceptor promised `promised`.
    Nack { ballot: Ballot, promised: Ballot },
    /// Phase 2a for one slot. `commit` is the leader's chosen prefix, piggybacked.
    Accept { ballot: Ballot, slot: u64, command: Command, commit: u64 },
    /// Phase 2b. `chosen_prefix` tells the leader how far the acceptor has learned.
    Accepted { ballot: Ballot, slot: u64, chosen_prefix: u64 },
    /// The leader's beat: it is alive, and has chosen every slot up to `commit`.
    Heartbeat { ballot: Ballot, commit: u64 },
    /// A follower that is behind the leader's commit asks for the chosen values from `from_slot`.
    CatchUp { ballot: Ballot, from_slot: u64 },
    /// Chosen values, for a follower that missed them.
    Learn { ballot: Ballot, chosen: Vec<Report>, commit: u64 },
}

impl Message for MpMsg {
    fn label(&self) -> &'static str {
        match self {
            MpMsg::Prepare { .. } => "Prepare",
            MpMsg::Promise { .. } => "Promise",
            MpMsg::Nack { .. } => "Nack",
            MpMsg::Accept { .. } => "Accept",
            MpMsg::Accepted { .. } => "Accepted",
            MpMsg::Heartbeat { .. } => "Heartbeat",
            MpMsg::CatchUp { .. } => "CatchUp",
            MpMsg::Learn { .. } => "Learn",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum MpTimer {
    /// A follower or candidate that hears no leader for this long starts phase 1.
    ElectionTimeout,
    /// The leader's beat: a Heartbeat to everyone, and the Accepts still unanswered again.
    Heartbeat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Follower,
    /// Running phase 1: collecting promises.
    Candidate,
    /// Phase 1 done and every slot it learned of re-proposed: it serves clients.
    Leader,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}

pub fn majority(nodes: usize) -> usize {
    nodes / 2 + 1
}

pub fn peers(me: NodeId, nodes: u16) -> impl Iterator<Item = NodeId> {
    (0..nodes).map(NodeId).filter(move |n| *n != me)
}
