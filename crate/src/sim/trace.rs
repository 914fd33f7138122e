//! What a step reports: the trace events the page animates from and the CLI writes out, and
//! the trace hash that proves two runs identical. The hash is FNV-1a over each event's JSON
//! encoding, which is the same bytes natively and in wasm.

use super::action::Action;
use super::ids::{ActorId, ClientId, NodeId};
use crate::workload::history::Outcome;
use crate::workload::op::{Op, Request, Response};
use serde::Serialize;

/// What travels on a link: a protocol message between nodes, or client traffic.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Payload<M> {
    Peer(M),
    Request(Request),
    Response(Response),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The link was cut when the message was sent.
    LinkCut,
    /// The link was cut while the message was on it.
    CutInFlight,
    /// Lost by the network's random drop rate.
    Lost,
    /// The receiver was crashed.
    NodeDown,
    /// Removed by the user.
    Removed,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TraceEvent<M, T> {
    Sent {
        id: u64,
        from: ActorId,
        to: ActorId,
        label: &'static str,
        send_us: u64,
        /// `null` when the message is dropped at once.
        deliver_us: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        duplicate_of: Option<u64>,
        msg: Payload<M>,
    },
    Delivered {
        id: u64,
        from: ActorId,
        to: ActorId,
        label: &'static str,
    },
    Dropped {
        id: u64,
        from: ActorId,
        to: ActorId,
        label: &'static str,
        reason: DropReason,
    },
    /// A message reached a paused node and waits for it to resume.
    Held {
        id: u64,
        to: NodeId,
        label: &'static str,
    },
    TimerFired {
        node: NodeId,
        timer: T,
    },
    StateChanged {
        node: NodeId,
        role: &'static str,
        term: u64,
    },
    OpInvoked {
        client: ClientId,
        seq: u64,
        node: NodeId,
        #[serde(flatten)]
        op: Op,
    },
    OpRetried {
        client: ClientId,
        seq: u64,
        node: NodeId,
    },
    OpReturned {
        client: ClientId,
        seq: u64,
        outcome: Outcome,
        #[serde(skip_serializing_if = "Option::is_none")]
        value: Option<String>,
    },
    Fault {
        #[serde(flatten)]
        action: Action,
    },
    /// An action that could not be carried out (`"crash leader"` with no leader).
    Skipped {
        #[serde(flatten)]
        action: Action,
        reason: String,
    },
    Note {
        #[serde(skip_serializing_if = "Option::is_none")]
        node: Option<NodeId>,
        text: String,
    },
    Violation {
        invariant: &'static str,
        detail: String,
    },
}

/// One event with the virtual time and the step that produced it.
#[derive(Clone, Debug, Serialize)]
pub struct Record<M, T> {
    pub at_us: u64,
    pub step: u64,
    #[serde(flatten)]
    pub event: TraceEvent<M, T>,
}

/// FNV-1a, 64 bits: tiny, portable, and good enough to tell two traces apart.
#[derive(Clone, Debug)]
pub struct TraceHash(u64);

impl<M, T> TraceEvent<M, T> {
    /// The events a message, a timer or a change of role makes: many, and each small.
    pub fn is_message_level(&self) -> bool {
        matches!(
            self,
            TraceEvent::Sent { .. }
                | TraceEvent::Delivered { .. }
                | TraceEvent::Dropped { .. }
                | TraceEvent::Held { .. }
                | TraceEvent::TimerFired { .. }
                | TraceEvent::StateChanged { .. }
        )
    }
}

impl Default for TraceHash {
    fn default() -> Self {
        TraceHash(0xcbf2_9ce4_8422_2325)
    }
}

impl TraceHash {
    pub fn add<S: Serialize>(&mut self, value: &S) {
        // Writing into the hasher cannot fail, and serialization of these types cannot either.
        let _ = serde_json::to_writer(&mut *self, value);
        self.write_byte(b'\n');
    }

    fn write_byte(&mut self, b: u8) {
        self.0 ^= b as u64;
        self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
    }

    pub fn value(&self) -> u64 {
        self.0
    }

    /// The hash as 16 hex digits, the form shown by the CLI and the page.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

impl std::io::Write for TraceHash {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for &b in buf {
            self.write_byte(b);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
