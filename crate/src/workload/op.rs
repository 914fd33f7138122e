//! What a client asks of the cluster and what it gets back. Every key-value protocol speaks
//! this, so one client, one history format and one checker serve them all.

use crate::sim::ids::NodeId;
use serde::{Deserialize, Serialize};

/// One write of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Write {
    pub key: String,
    pub value: String,
}

/// A client operation: a read or a write of one key, or a transaction that writes several
/// keys at once, all or none (served by the atomic-commitment protocols: 2PC, 3PC, Saga).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Put { key: String, value: String },
    Get { key: String },
    Txn { writes: Vec<Write> },
}

impl Op {
    /// The key, or for a transaction its keys joined by `+` (`x+y`), as the history shows it.
    pub fn key(&self) -> String {
        match self {
            Op::Put { key, .. } | Op::Get { key } => key.clone(),
            Op::Txn { writes } => txn_key(writes),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Op::Put { .. } => "put",
            Op::Get { .. } => "get",
            Op::Txn { .. } => "txn",
        }
    }
}

/// How a transaction's keys show in the history's `key` field: joined by `+`.
pub fn txn_key(writes: &[Write]) -> String {
    writes.iter().map(|w| w.key.as_str()).collect::<Vec<_>>().join("+")
}

/// A request as it travels to a node. `seq` numbers a client's operations from 1; a retry of
/// the same operation carries the same `seq`, so a protocol can apply it at most once (the
/// client session of the Raft dissertation, §6.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Request {
    pub seq: u64,
    pub op: Op,
    /// When the client stops waiting for this attempt. A request a node receives later (held
    /// at a paused node, say) will be answered to no one, and a protocol without client
    /// sessions should not apply it: its effect would land after the client had moved on.
    pub deadline_us: u64,
}

/// A node's answer to one request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// Applied. For a read, the value read (`None` when the key is absent).
    Done { value: Option<String> },
    /// This node will not serve the request and did not accept it; `leader` is its best guess.
    Redirect { leader: Option<NodeId> },
    /// Accepted, but the node lost the right to finish it: it may still be applied.
    Uncertain { leader: Option<NodeId> },
    /// Certainly not applied.
    Rejected { reason: String },
}

/// A response as it travels back to a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Response {
    pub seq: u64,
    pub reply: Reply,
}
