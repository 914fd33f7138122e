//! SWIM's wire messages (§3 and §4 of the paper) and its timers. Every message carries a few
//! membership updates piggybacked on it (§4.1, "infection-style dissemination").

use crate::sim::ids::NodeId;
use crate::sim::protocol::Message;
use serde::{Deserialize, Serialize};

/// What a node believes of a member (§4.2). Ordered as a member's life goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Alive,
    Suspect,
    /// Declared failed: the paper's `Confirm`.
    Dead,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Alive => "alive",
            State::Suspect => "suspect",
            State::Dead => "dead",
        }
    }
}

/// One membership update: the paper's `Alive`, `Suspect` and `Confirm` messages, each about
/// one member at one incarnation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Update {
    pub member: NodeId,
    pub state: State,
    pub incarnation: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum SwimMsg {
    /// A direct probe (§3.1). `seq` matches the `Ack`.
    Ping { seq: u64, updates: Vec<Update> },
    /// "Ping `target` for me" (§3.1, indirect probing through k members).
    PingReq { seq: u64, target: NodeId, updates: Vec<Update> },
    /// The answer to a `Ping`, or one relayed by a helper for a `PingReq` (same `seq` as the
    /// origin's request).
    Ack { seq: u64, updates: Vec<Update> },
}

impl SwimMsg {
    pub fn updates(&self) -> &[Update] {
        match self {
            SwimMsg::Ping { updates, .. } | SwimMsg::PingReq { updates, .. } | SwimMsg::Ack { updates, .. } => updates,
        }
    }
}

impl Message for SwimMsg {
    fn label(&self) -> &'static str {
        match self {
            SwimMsg::Ping { .. } => "Ping",
            SwimMsg::PingReq { .. } => "PingReq",
            SwimMsg::Ack { .. } => "Ack",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum SwimTimer {
    /// The start of the next protocol period: judge the last probe, start the next one.
    Period,
    /// No direct `Ack` yet: ask k members to probe the target.
    PingTimeout,
    /// A member suspected this long is declared dead (§4.2).
    Suspicion(NodeId),
    /// Ping one member believed dead, so that a healed partition or a missed re-admission
    /// is noticed (Serf's reconnect; SWIM itself never talks to a failed member again).
    Reconnect,
}
