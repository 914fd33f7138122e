//! The simulation: one event queue ordered by (time, class, sequence number), one rng, one
//! network, the nodes and the clients. `step` applies the next event and reports what happened
//! as trace events; `run_until` loops it. A `Sim` is `Clone`, so a snapshot is a copy.
//!
//! Ordering: at equal times, protocol and client events (class 0) come before scheduled actions
//! (class 1), and among equals the earlier-scheduled comes first. A user's live action is applied
//! after every event due at the current time, so recording it with its time and replaying it as
//! a timeline action gives the same trace.

use super::action::{Action, TimedAction};
use super::ids::{ActorId, NodeId};
use super::network::{LinkProfile, Network, Transit};
use super::protocol::{Ctx, Outbox, Protocol, TimerCommand, Violation};
pub use super::queue::{ClientTimer, InFlight};
use super::queue::{Due, Held, Queued};
use super::rng::SimRng;
use super::time::Time;
use super::trace::{DropReason, Payload, Record, TraceEvent, TraceHash};
use crate::workload::Workload;
use crate::workload::client::ClientState;
use crate::workload::history::History;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

pub type SimRecord<P> = Record<<P as Protocol>::Msg, <P as Protocol>::Timer>;
pub type SimEvent<P> = TraceEvent<<P as Protocol>::Msg, <P as Protocol>::Timer>;

#[derive(Clone, Debug)]
pub struct NodeSlot<P: Protocol> {
    /// `None` while crashed.
    pub state: Option<P>,
    /// What survived the last crash; taken back on restart.
    pub durable: Option<P::Durable>,
    pub paused: bool,
    /// The node's own clock (it survives a crash: it is the machine's, not the process's).
    pub(crate) clock: super::clock::Clock,
    /// Which pause the node is in (to match a pause's own end, `Due::Wake`).
    pub(crate) pause_id: u64,
    /// Set timers: generation (to ignore stale queue entries) and when each fires.
    pub(crate) timers: BTreeMap<P::Timer, (u64, Time)>,
    pub(crate) held: Vec<Held<P>>,
}

impl<P: Protocol> NodeSlot<P> {
    pub fn is_up(&self) -> bool {
        self.state.is_some()
    }

    /// The timers that are set, with when they fire.
    pub fn timers(&self) -> impl Iterator<Item = (&P::Timer, Time)> {
        self.timers.iter().map(|(t, (_, at))| (t, *at))
    }
}

/// Counters over the whole run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    pub steps: u64,
    pub sent: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub timers: u64,
    /// Messages between nodes (`sent` counts client requests and responses too).
    pub peer_sent: u64,
    /// Node-to-node messages sent, per label, in the order each label was first seen.
    pub by_label: Vec<(&'static str, u64)>,
}

/// The moment the engine's [`Sim::leader`] changed: who leads from `at_us` on (`None`: no live
/// node claims to lead).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LeaderChange {
    pub at_us: u64,
    pub leader: Option<NodeId>,
    pub term: u64,
}

/// The first breach of an invariant, to point at.
#[derive(Clone, Debug, Serialize)]
pub struct FirstViolation {
    pub invariant: &'static str,
    pub detail: String,
    pub at_us: u64,
    pub step: u64,
    pub count: u64,
}

pub struct SimConfig<P: Protocol> {
    pub nodes: u16,
    pub clients: u16,
    pub seed: u64,
    pub params: P::Params,
    pub network: LinkProfile,
    pub workload: Workload,
    pub timeline: Vec<TimedAction>,
}

#[derive(Clone)]
pub struct Sim<P: Protocol> {
    pub(crate) now: Time,
    pub(crate) seq: u64,
    pub(crate) queue: BinaryHeap<Queued<P>>,
    pub(crate) rng: SimRng,
    pub(crate) net: Network,
    pub(crate) nodes: Vec<NodeSlot<P>>,
    pub(crate) clients: Vec<ClientState>,
    pub(crate) params: P::Params,
    pub(crate) workload: Workload,
    pub(crate) checker: P::Invariants,
    pub(crate) history: History,
    pub(crate) stats: Stats,
    hash: TraceHash,
    /// Events not yet taken by the caller (only kept when `record` is on).
    events: Vec<SimRecord<P>>,
    record: bool,
    /// Whether the kept events include every message, timer and change of role, or only the
    /// rest (notes, faults, client operations, violations): a 2,000-node gossip makes tens of
    /// thousands of message events a second, more than a page can read.
    record_messages: bool,
    outbox: Outbox<P>,
    pub(crate) violations: Vec<FirstViolation>,
    pub(crate) scratch_violations: Vec<Violation>,
    /// Every action carried out, timeline and live, with its time.
    pub(crate) applied: Vec<TimedAction>,
    /// Messages the user removed while in flight.
    pub(crate) removed: BTreeSet<u64>,
    next_message: u64,
    pub check_invariants: bool,
    pub(crate) seed: u64,
    /// Every change of leader, for the time-without-a-leader measure; only re-derived after a
    /// step in which some node's role or term changed, or a node crashed.
    leadership: Vec<LeaderChange>,
    pub(crate) leader_dirty: bool,
    /// The nodes the current step touched, for invariants that check each node on its own
    /// (`Invariants::LOCAL`).
    pub(crate) touched: Vec<NodeId>,
    /// Pauses begun so far.
    pub(crate) pause_generation: u64,
}

impl<P: Protocol> Sim<P> {
    pub fn new(config: SimConfig<P>) -> Self {
        let SimConfig { nodes, clients, seed, params, network, workload, timeline } = config;
        let mut sim = Sim {
            now: Time::ZERO,
            seq: 0,
            queue: BinaryHeap::new(),
            rng: SimRng::new(seed),
            net: Network::new(nodes as usize, clients as usize, network),
            nodes: Vec::with_capacity(nodes as usize),
            clients: Vec::new(),
            params,
            workload,
            checker: P::Invariants::default(),
            history: History::default(),
            stats: Stats::default(),
            hash: TraceHash::default(),
            events: Vec::new(),
            record: false,
            record_messages: true,
            outbox: Outbox::default(),
            violations: Vec::new(),
            scratch_violations: Vec::new(),
            applied: Vec::new(),
            removed: BTreeSet::new(),
            next_message: 1,
            check_invariants: true,
            seed,
            leadership: Vec::new(),
            leader_dirty: false,
            touched: Vec::new(),
            pause_generation: 0,
        };
        for action in timeline {
            sim.push(Time(action.at_us), 1, Due::Action(action.action));
        }
        for _ in 0..nodes {
            sim.nodes.push(NodeSlot {
                state: None,
                durable: None,
                paused: false,
                clock: Default::default(),
                pause_id: 0,
                timers: BTreeMap::new(),
                held: Vec::new(),
            });
        }
        for i in 0..nodes {
            sim.start_node(NodeId(i), None);
        }
        sim.init_clients(clients);
        sim.track_leader();
        sim
    }

    /// Who led when: the first entry is at time 0.
    pub fn leadership(&self) -> &[LeaderChange] {
        &self.leadership
    }

    fn track_leader(&mut self) {
        self.leader_dirty = false;
        if !P::LEADER {
            if self.leadership.is_empty() {
                self.leadership.push(LeaderChange { at_us: 0, leader: None, term: 0 });
            }
            return;
        }
        let leader = self.leader();
        let term = leader.and_then(|n| self.nodes[n.index()].state.as_ref()).map_or(0, |s| s.status().term);
        if self.leadership.last().is_some_and(|c| c.leader == leader && c.term == term) {
            return;
        }
        self.leadership.push(LeaderChange { at_us: self.now.0, leader, term });
    }

    /// Keep trace events for `take_events` (the page and `--trace` want them; fuzzing does not).
    pub fn set_recording(&mut self, on: bool) {
        self.record = on;
    }

    /// Keep (the default) or leave out the message, timer and role-change events among those
    /// `take_events` returns. The trace hash covers every event either way.
    pub fn set_recording_messages(&mut self, on: bool) {
        self.record_messages = on;
    }

    pub fn take_events(&mut self) -> Vec<SimRecord<P>> {
        std::mem::take(&mut self.events)
    }

    pub fn now(&self) -> Time {
        self.now
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    pub fn trace_hash(&self) -> &TraceHash {
        &self.hash
    }

    pub fn nodes(&self) -> &[NodeSlot<P>] {
        &self.nodes
    }

    pub fn network(&self) -> &Network {
        &self.net
    }

    pub fn params(&self) -> &P::Params {
        &self.params
    }

    pub fn violations(&self) -> &[FirstViolation] {
        &self.violations
    }

    pub fn applied_actions(&self) -> &[TimedAction] {
        &self.applied
    }

    pub fn node_count(&self) -> u16 {
        self.nodes.len() as u16
    }

    pub fn client_count(&self) -> u16 {
        self.clients.len() as u16
    }

    /// The time of the next event, if any.
    pub fn next_time(&self) -> Option<Time> {
        self.queue.peek().map(|q| q.at)
    }

    pub(crate) fn push(&mut self, at: Time, class: u8, due: Due<P>) {
        self.seq += 1;
        self.queue.push(Queued { at, class, seq: self.seq, due });
    }

    pub(crate) fn emit(&mut self, event: SimEvent<P>) {
        let record = Record { at_us: self.now.0, step: self.stats.steps, event };
        self.hash.add(&record);
        if self.record && (self.record_messages || !record.event.is_message_level()) {
            self.events.push(record);
        }
    }

    /// Applies the next event. Returns false when nothing is left to do.
    pub fn step(&mut self) -> bool {
        self.skip_stale_items();
        let Some(item) = self.queue.pop() else { return false };
        self.now = self.now.max(item.at);
        self.stats.steps += 1;
        self.apply_due(item.due);
        if self.leader_dirty {
            self.track_leader();
        }
        if self.check_invariants {
            self.check();
        }
        self.touched.clear();
        // Keep the head of the queue meaningful, so that `next_time` and `run_until` see the
        // time of the next real event.
        self.skip_stale_items();
        true
    }

    pub(crate) fn apply_as_step(&mut self, action: Action) {
        self.stats.steps += 1;
        self.apply_action(action);
        if self.leader_dirty {
            self.track_leader();
        }
        if self.check_invariants {
            self.check();
        }
        self.touched.clear();
        self.skip_stale_items();
    }

    pub(crate) fn skip_stale_items(&mut self) {
        while self.queue.peek().is_some_and(|q| self.is_stale(q)) {
            self.queue.pop();
        }
    }

    /// Whether a queued item no longer means anything (a moved timer, a removed message); such
    /// items are skipped without counting as a step.
    fn is_stale(&self, item: &Queued<P>) -> bool {
        match &item.due {
            Due::Timer { node, timer, generation } => {
                self.nodes[node.index()].timers.get(timer).is_none_or(|(g, _)| g != generation)
            }
            Due::Client { client, token, .. } => self.clients[client.index()].token != *token,
            Due::Deliver(m) => self.removed.contains(&m.id),
            Due::Action(_) | Due::Wake { .. } => false,
        }
    }

    /// Runs every event due at or before `t`, then sets the clock to `t`. Returns the steps taken.
    pub fn run_until(&mut self, t: Time) -> u64 {
        let before = self.stats.steps;
        while self.queue.peek().is_some_and(|q| q.at <= t) {
            self.step();
        }
        self.now = self.now.max(t);
        self.stats.steps - before
    }

    fn apply_due(&mut self, due: Due<P>) {
        match due {
            Due::Deliver(m) => self.deliver(m),
            Due::Timer { node, timer, generation } => self.fire_timer(node, timer, generation),
            Due::Client { client, timer, .. } => self.client_timer(client, timer),
            Due::Action(action) => self.apply_action(action),
            Due::Wake { node, pause } => self.wake(node, pause),
        }
    }

    fn deliver(&mut self, m: Box<InFlight<P::Msg>>) {
        let (id, from, to, label) = (m.id, m.from, m.to, m.label);
        if !self.net.is_up(from, to) {
            self.stats.dropped += 1;
            self.emit(TraceEvent::Dropped { id, from, to, label, reason: DropReason::CutInFlight });
            return;
        }
        match to {
            ActorId::Node(n) => {
                let slot = &mut self.nodes[n.index()];
                if !slot.is_up() {
                    self.stats.dropped += 1;
                    self.emit(TraceEvent::Dropped { id, from, to, label, reason: DropReason::NodeDown });
                } else if slot.paused {
                    slot.held.push(Held::Message(m));
                    self.emit(TraceEvent::Held { id, to: n, label });
                } else {
                    self.stats.delivered += 1;
                    self.emit(TraceEvent::Delivered { id, from, to, label });
                    self.dispatch(n, from, m.payload);
                }
            }
            ActorId::Client(c) => {
                self.stats.delivered += 1;
                self.emit(TraceEvent::Delivered { id, from, to, label });
                if let Payload::Response(r) = m.payload {
                    self.client_response(c, from, r);
                }
            }
        }
    }

    fn dispatch(&mut self, n: NodeId, from: ActorId, payload: Payload<P::Msg>) {
        match (from, payload) {
            (ActorId::Node(peer), Payload::Peer(msg)) => self.with_node(n, |p, ctx| p.on_message(peer, msg, ctx)),
            (ActorId::Client(c), Payload::Request(req)) => self.with_node(n, |p, ctx| p.on_request(c, req, ctx)),
            // Nothing else is ever sent to a node.
            _ => {}
        }
    }

    fn fire_timer(&mut self, n: NodeId, timer: P::Timer, generation: u64) {
        let slot = &mut self.nodes[n.index()];
        if slot.paused {
            slot.held.push(Held::Timer(timer, generation));
            return;
        }
        slot.timers.remove(&timer);
        self.stats.timers += 1;
        self.emit(TraceEvent::TimerFired { node: n, timer: timer.clone() });
        self.with_node(n, |p, ctx| p.on_timer(timer, ctx));
    }

    /// Runs one callback on a live node and carries out its effects.
    pub(crate) fn with_node(&mut self, n: NodeId, f: impl FnOnce(&mut P, &mut Ctx<'_, P>)) {
        let Sim { nodes, rng, outbox, now, .. } = self;
        let slot = &mut nodes[n.index()];
        let clock = slot.clock.read(*now);
        let Some(state) = slot.state.as_mut() else { return };
        self.touched.push(n);
        let before = state.status();
        let mut ctx = Ctx { now: *now, clock, id: n, rng, out: outbox };
        f(state, &mut ctx);
        let after = state.status();
        self.flush(n);
        if before != after {
            self.leader_dirty = true;
            self.emit(TraceEvent::StateChanged { node: n, role: after.role, term: after.term });
        }
    }

    pub(crate) fn start_node(&mut self, n: NodeId, durable: Option<P::Durable>) {
        let Sim { rng, outbox, now, params, nodes, .. } = self;
        let count = nodes.len() as u16;
        let clock = nodes[n.index()].clock.read(*now);
        let mut ctx = Ctx { now: *now, clock, id: n, rng, out: outbox };
        let state = P::start(n, count, params, durable, &mut ctx);
        let status = state.status();
        self.nodes[n.index()].state = Some(state);
        self.touched.push(n);
        self.flush(n);
        self.leader_dirty = true;
        self.emit(TraceEvent::StateChanged { node: n, role: status.role, term: status.term });
    }

    fn flush(&mut self, n: NodeId) {
        let mut out = std::mem::take(&mut self.outbox);
        for text in out.notes.drain(..) {
            self.emit(TraceEvent::Note { node: Some(n), text });
        }
        for command in out.timers.drain(..) {
            let slot = &mut self.nodes[n.index()];
            match command {
                TimerCommand::Set(timer, after) => {
                    let generation = self.seq + 1;
                    // `after` is on the node's own clock.
                    let at = self.now.after(slot.clock.true_span(after));
                    slot.timers.insert(timer.clone(), (generation, at));
                    self.push(at, 0, Due::Timer { node: n, timer, generation });
                }
                TimerCommand::Cancel(timer) => {
                    slot.timers.remove(&timer);
                }
            }
        }
        for (to, msg) in out.sends.drain(..) {
            let label = crate::sim::protocol::Message::label(&msg);
            self.send(ActorId::Node(n), ActorId::Node(to), label, Payload::Peer(msg));
        }
        for (client, response) in out.replies.drain(..) {
            self.send(ActorId::Node(n), ActorId::Client(client), "Response", Payload::Response(response));
        }
        // Hand the emptied vectors back so their capacity is reused.
        self.outbox = out;
    }

    pub(crate) fn send(&mut self, from: ActorId, to: ActorId, label: &'static str, payload: Payload<P::Msg>) {
        let id = self.next_message;
        self.next_message += 1;
        self.stats.sent += 1;
        if let (ActorId::Node(_), ActorId::Node(_)) = (from, to) {
            self.stats.peer_sent += 1;
            match self.stats.by_label.iter_mut().find(|(l, _)| *l == label) {
                Some((_, count)) => *count += 1,
                None => self.stats.by_label.push((label, 1)),
            }
        }
        let send_us = self.now.0;
        match self.net.transit(from, to, &mut self.rng) {
            Transit::Cut | Transit::Lost => {
                let reason = if self.net.is_up(from, to) { DropReason::Lost } else { DropReason::LinkCut };
                self.stats.dropped += 1;
                self.emit(TraceEvent::Sent {
                    id,
                    from,
                    to,
                    label,
                    send_us,
                    deliver_us: None,
                    duplicate_of: None,
                    msg: payload,
                });
                self.emit(TraceEvent::Dropped { id, from, to, label, reason });
            }
            Transit::Deliver { delay, duplicate } => {
                let deliver = self.now.after(delay);
                if let Some(extra) = duplicate {
                    let copy_id = self.next_message;
                    self.next_message += 1;
                    self.stats.duplicated += 1;
                    let at = self.now.after(extra);
                    let copy = InFlight {
                        id: copy_id,
                        from,
                        to,
                        label,
                        send: self.now,
                        deliver: at,
                        payload: payload.clone(),
                    };
                    self.emit(TraceEvent::Sent {
                        id,
                        from,
                        to,
                        label,
                        send_us,
                        deliver_us: Some(deliver.0),
                        duplicate_of: None,
                        msg: payload.clone(),
                    });
                    self.emit(TraceEvent::Sent {
                        id: copy_id,
                        from,
                        to,
                        label,
                        send_us,
                        deliver_us: Some(at.0),
                        duplicate_of: Some(id),
                        msg: payload.clone(),
                    });
                    self.push(at, 0, Due::Deliver(Box::new(copy)));
                } else {
                    self.emit(TraceEvent::Sent {
                        id,
                        from,
                        to,
                        label,
                        send_us,
                        deliver_us: Some(deliver.0),
                        duplicate_of: None,
                        msg: payload.clone(),
                    });
                }
                let m = InFlight { id, from, to, label, send: self.now, deliver, payload };
                self.push(deliver, 0, Due::Deliver(Box::new(m)));
            }
        }
    }
}
