//! The contract between the engine and a protocol. A protocol is a state machine for one node,
//! written sans-IO in the style of raft-rs and stateright's actors: it never touches a network
//! or a clock. It reacts to a message, a timer or a client request by writing effects into its
//! `Ctx` (messages to send, timers to set, replies to clients), and the engine carries them out.

use super::ids::{ClientId, NodeId};
use super::rng::SimRng;
use super::time::{Micros, Time};
use crate::workload::op::{Reply, Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// A wire message: anything a protocol sends to a peer. `label` names it in the UI and trace
/// (`RequestVote`, `AppendEntries`, ...).
pub trait Message: Clone + Debug + Serialize {
    fn label(&self) -> &'static str;
}

/// The cheap headline of a node, compared after every callback to emit state-change events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct NodeStatus {
    pub role: &'static str,
    pub term: u64,
}

/// What the page draws for one node. Protocols fill the fields that apply to them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NodeView {
    /// The protocol's own name for the node's role. Serialized as `protocol_role` because the
    /// engine's view of a node (`ActorView`) puts its own `role` beside it, which says `crashed`
    /// or `paused` when that is what the node is.
    #[serde(rename = "protocol_role")]
    pub role: String,
    pub term: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader: Option<NodeId>,
    /// The term of each log entry, index 1 first.
    pub log_terms: Vec<u64>,
    pub commit_index: u64,
    /// The node's state-machine contents (key → value), in key order.
    pub store: Vec<(String, String)>,
    /// Atomic-commitment protocols: what this node knows of each transaction it takes part
    /// in, oldest first (left out for other protocols).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub txns: Vec<TxnRecord>,
}

impl NodeView {
    /// The view as the page draws it every frame: every open transaction, but only the last
    /// `decided` of those decided (a long run's full list would be megabytes a frame; the run
    /// summary and the expectations still read the full one).
    pub fn recent(mut self, decided: usize) -> Self {
        let total = self.txns.iter().filter(|r| r.decision.is_some()).count();
        let mut skip = total.saturating_sub(decided);
        self.txns.retain(|r| {
            if r.decision.is_none() || skip == 0 {
                return true;
            }
            skip -= 1;
            false
        });
        self
    }
}

/// How a transaction ended at one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Commit,
    Abort,
}

/// One node's part in one transaction, as the page, the run summary and the invariants see it.
/// Every protocol that commits transactions fills these in its own words (`state`), and keeps
/// them in its durable state so that a crashed node still shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TxnRecord {
    /// `c1.3`: the client and the sequence number of its request.
    pub txn: String,
    /// `coordinator` (or `orchestrator`) for the node that runs the transaction, `participant`
    /// for a node that holds some of its keys. A node can be both.
    pub role: &'static str,
    /// The protocol's name for where the node is: `working`, `prepared`, `precommitted`,
    /// `committed`, `aborted`, `compensating`, ...
    pub state: &'static str,
    /// A participant's vote, once cast.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vote: Option<bool>,
    /// The outcome this node reached, once it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// When the node first heard of the transaction.
    pub since_us: u64,
    /// When it became uncertain: it voted yes and may no longer decide alone. Blocked from
    /// here until `decided_us` (or now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncertain_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_us: Option<u64>,
    /// The keys it holds locked for the transaction now.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locks: Vec<String>,
}

impl TxnRecord {
    /// How long this node has been (or was) blocked: uncertain and undecided, up to `now`.
    pub fn blocked_us(&self, now: u64) -> u64 {
        self.uncertain_us.map_or(0, |u| self.decided_us.unwrap_or(now).saturating_sub(u))
    }
}

/// The longest a timing parameter may be: an hour, in milliseconds.
pub const MAX_TIMING_MS: u64 = 3_600_000;

/// Checks that each named timing parameter (`("vote_timeout_ms", 300)`) is from 1 ms to
/// [`MAX_TIMING_MS`], for a protocol's `validate`.
pub fn check_timings(timings: &[(&str, u64)]) -> Result<(), String> {
    match timings.iter().find(|(_, ms)| *ms == 0 || *ms > MAX_TIMING_MS) {
        Some((name, ms)) => Err(format!("{name} must be from 1 to {MAX_TIMING_MS}, not {ms}")),
        None => Ok(()),
    }
}

/// The `configure` action's merge for a protocol's `reconfigure`: `change` (a partial `params`
/// object) laid over `current`, every field named one the parameters have, and the result read
/// back as parameters (with the path of a field of the wrong type). Checking the result is the
/// caller's part.
pub fn merge_params<T: Serialize + DeserializeOwned>(
    protocol: &str,
    current: &T,
    change: &serde_json::Map<String, serde_json::Value>,
) -> Result<T, String> {
    let mut merged = match serde_json::to_value(current) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => return Err("the current parameters cannot be read".into()),
    };
    for (field, value) in change {
        if !merged.contains_key(field) {
            let known: Vec<&str> = merged.keys().map(String::as_str).collect();
            return Err(format!("{protocol} has no parameter `{field}` (it has {})", known.join(", ")));
        }
        merged.insert(field.clone(), value.clone());
    }
    serde_path_to_error::deserialize(serde_json::Value::Object(merged))
        .map_err(|e| format!("{}: {}", e.path(), e.inner()))
}

/// An invariant from a protocol's paper, checked after every step.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct InvariantInfo {
    pub name: &'static str,
    /// Where the property comes from, e.g. "Raft §5.2".
    pub source: &'static str,
    pub statement: &'static str,
}

/// One observed breach of an invariant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub invariant: &'static str,
    pub detail: String,
}

/// A node as the invariant checkers see it: its live state, or what survived its crash.
pub struct NodeRef<'a, P: Protocol> {
    pub id: NodeId,
    pub live: Option<&'a P>,
    pub durable: Option<&'a P::Durable>,
    /// What the node's own clock reads now (true time for a node whose clock was never set).
    pub clock: Time,
}

impl<'a, P: Protocol> NodeRef<'a, P> {
    /// A live node whose clock reads true time `now`, for invariant tests.
    pub fn live(id: NodeId, state: &'a P, now: Time) -> Self {
        NodeRef { id, live: Some(state), durable: None, clock: now }
    }
}

/// A protocol's safety properties. Checkers may keep state across steps (for example every
/// leader ever seen per term), which is why they are `Clone` with the simulation.
pub trait Invariants<P: Protocol>: Clone + Default {
    /// Whether each node is checked on its own: after every step `check` then receives only the
    /// nodes that step touched (the node whose callback ran, a node started or crashed), not the
    /// whole cluster. A checker that compares nodes keeps what it needs of each in its own
    /// state, updated when that node is touched. Gossip and SWIM run with thousands of nodes,
    /// where passing all of them after every step would cost more than the step.
    const LOCAL: bool = false;
    fn list() -> &'static [InvariantInfo];
    fn check(&mut self, nodes: &[NodeRef<'_, P>], now: Time, out: &mut Vec<Violation>);
}

/// The shade of a crashed node in [`Protocol::shades`]'s default.
pub const SHADE_CRASHED: u8 = 255;
/// The shade the engine gives a paused node, whatever the protocol says.
pub const SHADE_PAUSED: u8 = 254;

pub trait Protocol: Clone + Sized + 'static {
    /// The name used in scenario files (`"protocol": "raft"`).
    const NAME: &'static str;
    /// Whether a node may lead (role `leader` in [`NodeStatus`]). Without one the engine never
    /// looks for a leader: that look is a pass over every node after each change of role, which
    /// a 10,000-node gossip does not need.
    const LEADER: bool = true;
    type Msg: Message;
    /// Named timers. Setting a timer that is already set moves it.
    type Timer: Clone + Debug + Serialize + Ord;
    /// What survives a crash (term, vote, log, write-ahead log, ...).
    type Durable: Clone + Debug;
    /// Parameters from the scenario's `params` object.
    type Params: Clone + Debug + Default + DeserializeOwned + Serialize;
    type Invariants: Invariants<Self>;

    /// Checks parameters once when a scenario is loaded.
    fn validate(params: &Self::Params) -> Result<(), String>;

    /// Starts a node, fresh (`durable` is `None`) or recovering after a crash.
    fn start(
        id: NodeId,
        nodes: u16,
        params: &Self::Params,
        durable: Option<Self::Durable>,
        ctx: &mut Ctx<'_, Self>,
    ) -> Self;
    fn on_message(&mut self, from: NodeId, msg: Self::Msg, ctx: &mut Ctx<'_, Self>);
    fn on_timer(&mut self, timer: Self::Timer, ctx: &mut Ctx<'_, Self>);
    fn on_request(&mut self, client: ClientId, request: Request, ctx: &mut Ctx<'_, Self>);
    /// The user's "time out now" button: act as if the node's main timer expired.
    fn on_timeout_now(&mut self, _ctx: &mut Ctx<'_, Self>) {}
    /// The `configure` action: `change` (a partial `params` object) merged into the current
    /// parameters, checked against a cluster of `nodes`, or the reason it cannot apply. Nothing
    /// has changed yet when this is called, and nothing changes if it refuses. By default a
    /// protocol has no settings that change while it runs.
    fn reconfigure(
        current: &Self::Params,
        change: &serde_json::Map<String, serde_json::Value>,
        nodes: u16,
    ) -> Result<Self::Params, String> {
        let _ = (current, change, nodes);
        Err(format!("{} has no settings that change while it runs", Self::NAME))
    }
    /// A `configure` was accepted: every node that is not crashed (paused ones too, as an
    /// operator's change reaches a stopped process's configuration) gets the new parameters at
    /// the same instant. A crashed node gets them from `start` when it restarts.
    fn on_configure(&mut self, _params: &Self::Params, _ctx: &mut Ctx<'_, Self>) {}
    fn durable(&self) -> Self::Durable;
    fn status(&self) -> NodeStatus;
    fn view(&self) -> NodeView;
    /// What a crashed node still has on disk, drawn greyed out.
    fn durable_view(durable: &Self::Durable) -> NodeView;
    /// Everything about the node, for the inspector.
    fn inspect(&self) -> serde_json::Value;
    /// One byte that sums the node up for the drawing of a large cluster, where each node is a
    /// coloured dot (the protocol's page module names the values). 0 by default.
    fn shade(&self) -> u8 {
        0
    }
    /// Every node's shade, in node order: by default [`Protocol::shade`] of a live node and
    /// [`SHADE_CRASHED`] for a crashed one. A protocol overrides it when a node's colour depends
    /// on the others (SWIM colours a node by what the cluster thinks of it). It runs every
    /// frame, so it must stay linear in the number of nodes. The engine marks paused nodes
    /// [`SHADE_PAUSED`] afterwards.
    fn shades(nodes: &[NodeRef<'_, Self>], out: &mut Vec<u8>) {
        out.extend(nodes.iter().map(|n| n.live.map_or(SHADE_CRASHED, Self::shade)));
    }
    /// The protocol's own measurements of the run so far, as a JSON object (numbers, arrays,
    /// small objects): `figures` in `caplab run --json`, the `figure` expectation, and the
    /// page's live charts. `applied` is every action carried out so far, with its time. `Null`
    /// (the default) when the protocol measures nothing of its own.
    fn figures(
        nodes: &[NodeRef<'_, Self>],
        now: Time,
        params: &Self::Params,
        applied: &[crate::sim::action::TimedAction],
    ) -> serde_json::Value {
        let _ = (nodes, now, params, applied);
        serde_json::Value::Null
    }
}

pub(crate) enum TimerCommand<T> {
    Set(T, Micros),
    Cancel(T),
}

/// Effects collected from one callback; the engine drains it right after.
pub struct Outbox<P: Protocol> {
    pub(crate) sends: Vec<(NodeId, P::Msg)>,
    pub(crate) timers: Vec<TimerCommand<P::Timer>>,
    pub(crate) replies: Vec<(ClientId, Response)>,
    pub(crate) notes: Vec<String>,
}

impl<P: Protocol> Default for Outbox<P> {
    fn default() -> Self {
        Outbox { sends: Vec::new(), timers: Vec::new(), replies: Vec::new(), notes: Vec::new() }
    }
}

impl<P: Protocol> Clone for Outbox<P> {
    // The outbox is always empty between steps, so a clone needs none of its contents.
    fn clone(&self) -> Self {
        Outbox::default()
    }
}

/// A protocol's handle on the world during one callback.
pub struct Ctx<'a, P: Protocol> {
    pub(crate) now: Time,
    pub(crate) clock: Time,
    pub(crate) id: NodeId,
    pub(crate) rng: &'a mut SimRng,
    pub(crate) out: &'a mut Outbox<P>,
}

impl<P: Protocol> Ctx<'_, P> {
    /// True time. A protocol must not decide anything by it (no real node can read it); it is
    /// for records the page and the checkers show, such as when a transaction began.
    pub fn now(&self) -> Time {
        self.now
    }

    /// What this node's own clock reads: true time scaled by the node's drift and shifted by
    /// its offset. Leases and failure detectors judge time by this (and by timers, which are
    /// set on the same clock).
    pub fn clock(&self) -> Time {
        self.clock
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn rng(&mut self) -> &mut SimRng {
        self.rng
    }

    pub fn send(&mut self, to: NodeId, msg: P::Msg) {
        self.out.sends.push((to, msg));
    }

    /// Sets a timer `after` microseconds from now on the node's own clock: a clock running
    /// 20 % fast fires it after `after / 1.2` of true time.
    pub fn set_timer(&mut self, after: Micros, timer: P::Timer) {
        self.out.timers.push(TimerCommand::Set(timer, after));
    }

    pub fn cancel_timer(&mut self, timer: P::Timer) {
        self.out.timers.push(TimerCommand::Cancel(timer));
    }

    pub fn reply(&mut self, client: ClientId, seq: u64, reply: Reply) {
        self.out.replies.push((client, Response { seq, reply }));
    }

    /// A line for the event log, in plain words ("n3 grants its vote to n1 for term 4").
    pub fn note(&mut self, text: impl Into<String>) {
        self.out.notes.push(text.into());
    }
}
