//! Basic Paxos's wire messages, named after the phases of "Paxos Made Simple" (§2.2: prepare
//! requests and their promises, accept requests) and of Lamport's TLA+ spec `Paxos` (messages
//! "1a", "1b", "2a", "2b"), plus the ballots that order them.

use crate::sim::ids::NodeId;
use crate::sim::protocol::Message;
use serde::{Serialize, Serializer};
use std::fmt;

/// A proposal number (the TLA+ spec's ballot). Each proposer draws from its own set: round
/// `r` of node `n` is `(r, n)`, ordered by round first, so two proposers never share a ballot
/// and any proposer can always pick one above a ballot it has seen (Paxos Made Simple §2.2:
/// "different proposers choose their numbers from disjoint sets"). Shown as `3.n2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ballot {
    pub round: u64,
    pub node: NodeId,
}

impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.round, self.node)
    }
}

impl Serialize for Ballot {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What an acceptor has accepted: a value in a ballot (the TLA+ spec's `maxVBal`, `maxVal`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Vote {
    pub ballot: Ballot,
    pub value: String,
}

/// Every message names its instance: each key is a separate single-decree Paxos.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum PaxosMsg {
    /// Phase 1a: a proposer asks every acceptor not to accept any ballot below `ballot`.
    Prepare { key: String, ballot: Ballot },
    /// Phase 1b: the acceptor promises, and reports the highest-ballot value it has accepted.
    Promise { key: String, ballot: Ballot, accepted: Option<Vote> },
    /// The acceptor has promised `promised`, above `ballot`: the proposer should abandon
    /// `ballot` (Paxos Made Simple §2.3, "the acceptor ... should inform the proposer, who should
    /// then abandon its proposal").
    Nack { key: String, ballot: Ballot, promised: Ballot },
    /// Phase 2a: accept `value` in `ballot`.
    Accept { key: String, ballot: Ballot, value: String },
    /// Phase 2b: the acceptor accepted `value` in `ballot`; sent to every learner.
    Accepted { key: String, ballot: Ballot, value: String },
}

impl PaxosMsg {
    pub fn key(&self) -> &str {
        match self {
            PaxosMsg::Prepare { key, .. }
            | PaxosMsg::Promise { key, .. }
            | PaxosMsg::Nack { key, .. }
            | PaxosMsg::Accept { key, .. }
            | PaxosMsg::Accepted { key, .. } => key,
        }
    }
}

impl Message for PaxosMsg {
    fn label(&self) -> &'static str {
        match self {
            PaxosMsg::Prepare { .. } => "Prepare",
            PaxosMsg::Promise { .. } => "Promise",
            PaxosMsg::Nack { .. } => "Nack",
            PaxosMsg::Accept { .. } => "Accept",
            PaxosMsg::Accepted { .. } => "Accepted",
        }
    }
}

/// Timers, one of each kind per instance (key).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum PaxosTimer {
    /// A phase that has not gathered its majority by now is abandoned and retried.
    Phase(String),
    /// The end of a proposer's random back-off: it tries again with a higher round.
    Retry(String),
    /// A learner that has seen votes but learned nothing by now has a round run to find out.
    Learn(String),
}

pub fn majority(nodes: usize) -> usize {
    nodes / 2 + 1
}

/// Every node, itself included: every node is an acceptor and a learner.
pub fn all(nodes: u16) -> impl Iterator<Item = NodeId> {
    (0..nodes).map(NodeId)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ballots_order_by_round_then_node_and_show_as_round_dot_node() {
        let a = Ballot { round: 2, node: NodeId(2) };
        let b = Ballot { round: 3, node: NodeId(0) };
        let c = Ballot { round: 3, node: NodeId(1) };
        assert!(a < b && b < c);
        assert_eq!(c.to_string(), "3.n2");
        assert_eq!(serde_json::to_value(c).ok(), Some(serde_json::json!("3.n2")));
    }
}
