//! A client actor's state. Clients sit in the network like nodes do, so a partition can
//! strand them. The retry logic that drives this state lives in `sim::clients`, next to the
//! engine that carries out its effects.

use crate::sim::ids::{ClientId, NodeId};
use crate::sim::time::Time;
use crate::workload::op::Op;
use std::collections::VecDeque;

/// The operation a client is waiting on.
#[derive(Clone, Debug)]
pub struct PendingOp {
    pub seq: u64,
    pub op: Op,
    pub node: NodeId,
    pub invoked: Time,
    /// Attempts made so far, the first included, not counting those that followed a redirect.
    pub attempts: u32,
    /// Attempts that followed a leader's hint.
    pub redirects: u32,
    /// Whether some attempt may have been applied (it timed out, or the node lost leadership
    /// after accepting it): then giving up must say `unknown`, not `fail`.
    pub maybe_applied: bool,
    pub history: usize,
}

#[derive(Clone, Debug)]
pub struct ClientState {
    pub id: ClientId,
    /// The node this client asks first: its best guess of the leader.
    pub guess: NodeId,
    pub next_seq: u64,
    pub current: Option<PendingOp>,
    /// Timeline requests that arrived while an operation was in flight, with the node to ask.
    pub queued: VecDeque<(Op, Option<NodeId>)>,
    /// Bumped whenever the client's timers must be forgotten.
    pub token: u64,
    /// Whether this client runs the closed-loop workload.
    pub generates: bool,
    pub last_invoke: Option<Time>,
}

impl ClientState {
    pub fn new(id: ClientId, nodes: u16, generates: bool) -> Self {
        ClientState {
            id,
            guess: NodeId(id.0 % nodes.max(1)),
            next_seq: 1,
            current: None,
            queued: VecDeque::new(),
            token: 0,
            generates,
            last_invoke: None,
        }
    }
}
