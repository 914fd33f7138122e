//! One object-safe face for a simulation of any protocol, so the CLI and the wasm facade can
//! hold "a running scenario" without knowing which protocol it runs. The protocol registry
//! (`protocols::build`) is the only place that picks the concrete type.

use super::action::{Action, TimedAction};
use super::engine::{FirstViolation, LeaderChange, Sim, Stats};
use super::ids::{ActorId, ClientId, NodeId};
use super::protocol::{InvariantInfo, Invariants, NodeView, Protocol};
use super::time::Time;
use crate::workload::history::History;
use serde::Serialize;

/// How an actor is drawn.
#[derive(Clone, Debug, Serialize)]
pub struct ActorView {
    pub id: String,
    /// `leader`, `follower`, ... or `crashed` / `paused` whatever the protocol says.
    pub role: String,
    #[serde(flatten)]
    pub view: NodeView,
    /// The node's own clock, when it is not true time (a scenario's `clocks`, a `clock` action).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock: Option<super::clock::ClockView>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClientView {
    pub id: String,
    /// The node the client asks first.
    pub guess: String,
    pub busy: bool,
    pub queued: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct MessageView {
    pub id: u64,
    pub from: String,
    pub to: String,
    pub label: &'static str,
    pub send_us: u64,
    pub deliver_us: u64,
    pub msg: serde_json::Value,
}

/// One pair of actors and the state of the link each way.
#[derive(Clone, Debug, Serialize)]
pub struct LinkView {
    pub a: String,
    pub b: String,
    /// Whether `a → b` is up.
    pub a_to_b: bool,
    pub b_to_a: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct InvariantStatus {
    #[serde(flatten)]
    pub info: InvariantInfo,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_violation: Option<FirstViolation>,
}

pub trait Simulation {
    fn protocol(&self) -> &'static str;
    fn step(&mut self) -> bool;
    fn run_until(&mut self, t: Time) -> u64;
    /// Like `run_until`, but takes at most `max_steps` steps; true when it reached `t`. The page
    /// replays a share link with a budget, so that no link can freeze it.
    fn run_until_bounded(&mut self, t: Time, max_steps: u64) -> bool {
        for _ in 0..max_steps {
            if self.next_time().is_none_or(|n| n > t) {
                break;
            }
            self.step();
        }
        if self.next_time().is_some_and(|n| n <= t) {
            return false;
        }
        self.run_until(t);
        true
    }
    fn now(&self) -> Time;
    fn next_time(&self) -> Option<Time>;
    fn seed(&self) -> u64;
    fn apply_now(&mut self, action: Action) -> Result<(), String>;
    fn remove_message(&mut self, id: u64) -> Result<(), String>;
    fn set_recording(&mut self, on: bool);
    /// Whether the recorded events include messages, timers and role changes (default yes).
    fn set_recording_messages(&mut self, on: bool);
    fn set_check_invariants(&mut self, on: bool);
    /// The events recorded since the last call, each as one JSON object.
    fn take_events_json(&mut self) -> Vec<String>;
    fn trace_hash(&self) -> String;
    fn stats(&self) -> &Stats;
    fn history(&self) -> &History;
    fn node_views(&self) -> Vec<ActorView>;
    fn client_views(&self) -> Vec<ClientView>;
    fn inspect(&self, node: NodeId) -> Result<serde_json::Value, String>;
    /// The timers each node has set: `{"n1": [{"timer": ..., "fires_us": ...}], ...}`, cheap
    /// enough to draw countdowns every frame.
    fn timers(&self) -> serde_json::Map<String, serde_json::Value>;
    /// Every node–node and client–node pair with its link state.
    fn links(&self) -> Vec<LinkView>;
    fn in_flight(&self) -> Vec<MessageView>;
    fn invariants(&self) -> Vec<InvariantStatus>;
    fn violations(&self) -> &[FirstViolation];
    fn leader(&self) -> Option<NodeId>;
    /// Every change of the engine's leader since time 0 (see [`Sim::leadership`]).
    fn leadership(&self) -> &[LeaderChange];
    fn applied_actions(&self) -> &[TimedAction];
    fn node_count(&self) -> u16;
    fn client_count(&self) -> u16;
    /// A copy to return to later: time travel and forks.
    fn snapshot(&self) -> Box<dyn Simulation>;
    /// One byte per node for the drawing of a large cluster (`Protocol::shades`).
    fn shades(&self) -> Vec<u8>;
    /// The protocol's own measurements so far (`Protocol::figures`), `Null` if none.
    fn figures(&self) -> serde_json::Value;
    /// Node-to-node messages on the wire as pairs of node indexes (from, to, from, to, ...),
    /// at most `max` pairs, oldest first: what the large-cluster view draws as faint lines.
    fn wires(&self, max: usize) -> Vec<u32>;
}

impl<P: Protocol> Simulation for Sim<P> {
    fn protocol(&self) -> &'static str {
        P::NAME
    }
    fn step(&mut self) -> bool {
        Sim::step(self)
    }
    fn run_until(&mut self, t: Time) -> u64 {
        Sim::run_until(self, t)
    }
    fn now(&self) -> Time {
        Sim::now(self)
    }
    fn next_time(&self) -> Option<Time> {
        Sim::next_time(self)
    }
    fn seed(&self) -> u64 {
        Sim::seed(self)
    }
    fn apply_now(&mut self, action: Action) -> Result<(), String> {
        Sim::apply_now(self, action)
    }
    fn remove_message(&mut self, id: u64) -> Result<(), String> {
        Sim::remove_message(self, id)
    }
    fn set_recording(&mut self, on: bool) {
        Sim::set_recording(self, on)
    }
    fn set_recording_messages(&mut self, on: bool) {
        Sim::set_recording_messages(self, on)
    }
    fn set_check_invariants(&mut self, on: bool) {
        self.check_invariants = on;
    }
    fn take_events_json(&mut self) -> Vec<String> {
        self.take_events().iter().filter_map(|r| serde_json::to_string(r).ok()).collect()
    }
    fn trace_hash(&self) -> String {
        Sim::trace_hash(self).hex()
    }
    fn stats(&self) -> &Stats {
        Sim::stats(self)
    }
    fn history(&self) -> &History {
        Sim::history(self)
    }
    fn node_views(&self) -> Vec<ActorView> {
        self.nodes()
            .iter()
            .enumerate()
            .map(|(i, slot)| {
                let id = NodeId(i as u16).to_string();
                let clock = (!slot.clock.is_true()).then(|| slot.clock.view(self.now()));
                let (role, view) = match (&slot.state, &slot.durable) {
                    (Some(p), _) => {
                        let view = p.view();
                        let role = if slot.paused { "paused".to_string() } else { view.role.clone() };
                        (role, view)
                    }
                    (None, Some(d)) => ("crashed".into(), P::durable_view(d)),
                    (None, None) => ("crashed".into(), NodeView::default()),
                };
                ActorView { id, role, view, clock }
            })
            .collect()
    }
    fn client_views(&self) -> Vec<ClientView> {
        self.clients
            .iter()
            .map(|c| ClientView {
                id: c.id.to_string(),
                guess: c.guess.to_string(),
                busy: c.current.is_some(),
                queued: c.queued.len(),
            })
            .collect()
    }
    fn inspect(&self, node: NodeId) -> Result<serde_json::Value, String> {
        let slot = self
            .nodes()
            .get(node.index())
            .ok_or_else(|| format!("node {node} does not exist (nodes are n1..n{})", self.node_count()))?;
        let timers: Vec<serde_json::Value> =
            slot.timers().map(|(t, at)| serde_json::json!({ "timer": t, "fires_us": at.0 })).collect();
        let state = match &slot.state {
            Some(p) => p.inspect(),
            None => serde_json::json!({
                "crashed": true,
                "on_disk": slot.durable.as_ref().map(|d| serde_json::to_value(P::durable_view(d)).unwrap_or_default()),
            }),
        };
        Ok(serde_json::json!({
            "id": node.to_string(),
            "up": slot.is_up(),
            "paused": slot.paused,
            "state": state,
            "timers": timers,
        }))
    }
    fn timers(&self) -> serde_json::Map<String, serde_json::Value> {
        self.nodes()
            .iter()
            .enumerate()
            .map(|(i, slot)| {
                let list = slot.timers().map(|(t, at)| serde_json::json!({ "timer": t, "fires_us": at.0 })).collect();
                (NodeId(i as u16).to_string(), serde_json::Value::Array(list))
            })
            .collect()
    }
    fn links(&self) -> Vec<LinkView> {
        let nodes: Vec<ActorId> = (0..self.node_count()).map(|i| ActorId::Node(NodeId(i))).collect();
        let clients: Vec<ActorId> = (0..self.client_count()).map(|i| ActorId::Client(ClientId(i))).collect();
        let net = self.network();
        let mut out = Vec::new();
        for (i, &a) in nodes.iter().enumerate() {
            for &b in &nodes[i + 1..] {
                out.push(LinkView {
                    a: a.to_string(),
                    b: b.to_string(),
                    a_to_b: net.is_up(a, b),
                    b_to_a: net.is_up(b, a),
                });
            }
        }
        for &c in &clients {
            for &n in &nodes {
                out.push(LinkView {
                    a: c.to_string(),
                    b: n.to_string(),
                    a_to_b: net.is_up(c, n),
                    b_to_a: net.is_up(n, c),
                });
            }
        }
        out
    }
    fn in_flight(&self) -> Vec<MessageView> {
        Sim::in_flight(self)
            .into_iter()
            .map(|m| MessageView {
                id: m.id,
                from: m.from.to_string(),
                to: m.to.to_string(),
                label: m.label,
                send_us: m.send.0,
                deliver_us: m.deliver.0,
                msg: serde_json::to_value(&m.payload).unwrap_or(serde_json::Value::Null),
            })
            .collect()
    }
    fn invariants(&self) -> Vec<InvariantStatus> {
        <P::Invariants as Invariants<P>>::list()
            .iter()
            .map(|info| {
                let first = self.violations().iter().find(|v| v.invariant == info.name).cloned();
                InvariantStatus { info: *info, ok: first.is_none(), first_violation: first }
            })
            .collect()
    }
    fn violations(&self) -> &[FirstViolation] {
        Sim::violations(self)
    }
    fn leader(&self) -> Option<NodeId> {
        Sim::leader(self)
    }
    fn leadership(&self) -> &[LeaderChange] {
        Sim::leadership(self)
    }
    fn applied_actions(&self) -> &[TimedAction] {
        Sim::applied_actions(self)
    }
    fn node_count(&self) -> u16 {
        Sim::node_count(self)
    }
    fn client_count(&self) -> u16 {
        Sim::client_count(self)
    }
    fn snapshot(&self) -> Box<dyn Simulation> {
        Box::new(self.clone())
    }
    fn shades(&self) -> Vec<u8> {
        Sim::shades(self)
    }
    fn figures(&self) -> serde_json::Value {
        Sim::figures(self)
    }
    fn wires(&self, max: usize) -> Vec<u32> {
        Sim::wires(self, max)
    }
}
