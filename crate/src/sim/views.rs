//! What the simulation shows of itself without changing it: the messages on the wire, the
//! nodes as the invariant checkers see them, the bytes and pairs the large-cluster canvas draws,
//! the protocol's own figures, the current leader; and taking one message off the wire.

use super::action::Action;
use super::engine::{NodeSlot, Sim};
use super::ids::{ActorId, ClientId, NodeId};
use super::protocol::{NodeRef, NodeStatus, Protocol, SHADE_PAUSED};
use super::queue::{Due, Held, InFlight};
use super::time::Time;
use super::trace::{DropReason, Payload, TraceEvent};

impl<P: Protocol> Sim<P> {
    /// Messages on the wire, oldest first.
    pub fn in_flight(&self) -> Vec<&InFlight<P::Msg>> {
        let mut v: Vec<_> = self
            .queue
            .iter()
            .filter_map(|q| match &q.due {
                Due::Deliver(m) if !self.removed.contains(&m.id) => Some(&**m),
                _ => None,
            })
            .collect();
        v.sort_by_key(|m| m.id);
        v
    }

    /// Whether a copy of client `c`'s request `seq` is on the wire or held by a paused node.
    pub(crate) fn request_on_its_way(&self, c: ClientId, seq: u64) -> bool {
        let is_it = |m: &InFlight<P::Msg>| {
            m.from == ActorId::Client(c) && matches!(&m.payload, Payload::Request(r) if r.seq == seq)
        };
        let queued =
            self.queue.iter().any(|q| matches!(&q.due, Due::Deliver(m) if is_it(m) && !self.removed.contains(&m.id)));
        let held = self.nodes.iter().flat_map(|n| &n.held).any(|h| matches!(h, Held::Message(m) if is_it(m)));
        queued || held
    }

    /// Removes a message from the wire now (the page's "drop this message"): a `drop` action,
    /// so that it counts as a step and replays from a share link or a scenario file.
    pub fn remove_message(&mut self, id: u64) -> Result<(), String> {
        self.apply_now(Action::Drop { message: id })
    }

    /// Takes an in-flight message off the wire; `resolved` has checked that it is in flight.
    pub(crate) fn take_off_wire(&mut self, id: u64) {
        let found = self.in_flight().into_iter().find(|m| m.id == id).map(|m| (m.from, m.to, m.label));
        let Some((from, to, label)) = found else { return };
        self.removed.insert(id);
        self.stats.dropped += 1;
        self.emit(TraceEvent::Dropped { id, from, to, label, reason: DropReason::Removed });
    }

    /// Every node as the invariant checkers see it.
    pub fn node_refs(&self) -> Vec<NodeRef<'_, P>> {
        refs_of(&self.nodes, self.now)
    }

    /// One byte per node for the drawing of a large cluster (`Protocol::shades`), paused nodes
    /// marked [`SHADE_PAUSED`].
    pub fn shades(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.nodes.len());
        P::shades(&self.node_refs(), &mut out);
        out.resize(self.nodes.len(), 0);
        for (i, slot) in self.nodes.iter().enumerate() {
            if slot.paused && slot.is_up() {
                out[i] = SHADE_PAUSED;
            }
        }
        out
    }

    /// Node-to-node messages on the wire as (from, to) node index pairs, flattened, at most
    /// `max` pairs, oldest first. Unlike `in_flight` it copies no payload: the large-cluster
    /// view asks for it every frame.
    pub fn wires(&self, max: usize) -> Vec<u32> {
        let mut v: Vec<(u64, u32, u32)> = self
            .queue
            .iter()
            .filter_map(|q| match &q.due {
                Due::Deliver(m) => match (m.from, m.to) {
                    (ActorId::Node(a), ActorId::Node(b)) if !self.removed.contains(&m.id) => {
                        Some((m.id, a.0 as u32, b.0 as u32))
                    }
                    _ => None,
                },
                _ => None,
            })
            .collect();
        if v.len() > max {
            v.select_nth_unstable(max);
            v.truncate(max);
        }
        v.sort_unstable();
        v.into_iter().flat_map(|(_, a, b)| [a, b]).collect()
    }

    /// The protocol's own measurements so far (`Protocol::figures`).
    pub fn figures(&self) -> serde_json::Value {
        P::figures(&self.node_refs(), self.now, &self.params, &self.applied)
    }

    /// The node that leads now, if exactly one live node says it leads in the highest term.
    pub fn leader(&self) -> Option<NodeId> {
        let mut best: Option<(u64, NodeId)> = None;
        let mut tie = false;
        for (i, slot) in self.nodes.iter().enumerate() {
            if let Some(s) = &slot.state {
                let NodeStatus { role, term } = s.status();
                if role == "leader" {
                    match best {
                        Some((t, _)) if t > term => {}
                        Some((t, _)) if t == term => tie = true,
                        _ => {
                            best = Some((term, NodeId(i as u16)));
                            tie = false;
                        }
                    }
                }
            }
        }
        if tie { None } else { best.map(|(_, n)| n) }
    }
}

pub(crate) fn refs_of<P: Protocol>(nodes: &[NodeSlot<P>], now: Time) -> Vec<NodeRef<'_, P>> {
    nodes
        .iter()
        .enumerate()
        .map(|(i, s)| NodeRef {
            id: NodeId(i as u16),
            live: s.state.as_ref(),
            durable: s.durable.as_ref(),
            clock: s.clock.read(now),
        })
        .collect()
}
