//! The event queue's items: messages on the wire, timers, client timers and scheduled actions,
//! ordered by (time, class, sequence number) so that ties always break the same way.

use super::action::Action;
use super::ids::{ActorId, ClientId, NodeId};
use super::protocol::Protocol;
use super::time::Time;
use super::trace::Payload;
use serde::Serialize;
use std::cmp::Ordering;

/// A message on a link.
#[derive(Clone, Debug)]
pub struct InFlight<M> {
    pub id: u64,
    pub from: ActorId,
    pub to: ActorId,
    pub label: &'static str,
    pub send: Time,
    pub deliver: Time,
    pub payload: Payload<M>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientTimer {
    /// The current attempt took too long.
    Timeout,
    /// Try again after a back-off.
    Retry,
    /// Start the next generated operation.
    Next,
}

#[derive(Clone, Debug)]
pub(crate) enum Due<P: Protocol> {
    Deliver(Box<InFlight<P::Msg>>),
    Timer {
        node: NodeId,
        timer: P::Timer,
        generation: u64,
    },
    Client {
        client: ClientId,
        token: u64,
        timer: ClientTimer,
    },
    Action(Action),
    /// The end of a pause that was given a length (`pause` is which pause).
    Wake {
        node: NodeId,
        pause: u64,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct Queued<P: Protocol> {
    pub(crate) at: Time,
    pub(crate) class: u8,
    pub(crate) seq: u64,
    pub(crate) due: Due<P>,
}

impl<P: Protocol> PartialEq for Queued<P> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<P: Protocol> Eq for Queued<P> {}
impl<P: Protocol> PartialOrd for Queued<P> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<P: Protocol> Ord for Queued<P> {
    // Reversed, so that the standard max-heap pops the earliest event first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.class, other.seq).cmp(&(self.at, self.class, self.seq))
    }
}

/// A held item waits for a paused node to resume.
#[derive(Clone, Debug)]
pub(crate) enum Held<P: Protocol> {
    Message(Box<InFlight<P::Msg>>),
    Timer(P::Timer, u64),
}
