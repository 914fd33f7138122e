//! Raft's wire messages, named after the paper's RPCs (Figure 2), and the log entries they carry.

use crate::sim::ids::NodeId;
use crate::sim::protocol::Message;
use serde::Serialize;

pub use crate::protocols::kv::Command;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Entry {
    pub term: u64,
    #[serde(flatten)]
    pub command: Command,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum RaftMsg {
    /// Invoked by candidates to gather votes (§5.2).
    RequestVote {
        term: u64,
        last_log_index: u64,
        last_log_term: u64,
    },
    RequestVoteReply {
        term: u64,
        vote_granted: bool,
    },
    /// Invoked by the leader to replicate log entries (§5.3); also the heartbeat (§5.2).
    AppendEntries {
        term: u64,
        prev_log_index: u64,
        prev_log_term: u64,
        entries: Vec<Entry>,
        leader_commit: u64,
        /// The leader's heartbeat round, for leader leases (`lease.rs`); 0, and left out of
        /// the trace, under `read_mode: "log"`.
        #[serde(skip_serializing_if = "is_zero")]
        round: u64,
    },
    /// `match_index` is the last index known to match on success. On failure, `rejected` is the
    /// `prev_log_index` that failed and `last_log_index` the follower's, so the leader can back
    /// `nextIndex` off past a short log in one step rather than one entry per round trip.
    AppendEntriesReply {
        term: u64,
        success: bool,
        match_index: u64,
        rejected: u64,
        last_log_index: u64,
        /// The round of the AppendEntries this answers.
        #[serde(skip_serializing_if = "is_zero")]
        round: u64,
    },
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Message for RaftMsg {
    fn label(&self) -> &'static str {
        match self {
            RaftMsg::RequestVote { .. } => "RequestVote",
            RaftMsg::RequestVoteReply { .. } => "RequestVoteReply",
            RaftMsg::AppendEntries { entries, .. } if entries.is_empty() => "Heartbeat",
            RaftMsg::AppendEntries { .. } => "AppendEntries",
            RaftMsg::AppendEntriesReply { .. } => "AppendEntriesReply",
        }
    }
}

/// Raft's timers: one per role that needs one.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum RaftTimer {
    /// A follower or candidate that hears nothing for this long starts an election.
    ElectionTimeout,
    /// The leader's beat: AppendEntries to every follower, empty if nothing is new.
    Heartbeat,
}

/// Who a node thinks it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Follower,
    Candidate,
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

/// Peers of a node, everyone but itself.
pub fn peers(me: NodeId, nodes: u16) -> impl Iterator<Item = NodeId> {
    (0..nodes).map(NodeId).filter(move |n| *n != me)
}
