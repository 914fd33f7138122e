//! # Basic Paxos (single-decree), one instance per key
//!
//! Paxos (Lamport, "The Part-Time Parliament", 1998; retold in "Paxos Made Simple", 2001) lets
//! a set of processes choose one value among those proposed, despite crashes, restarts, lost,
//! duplicated and reordered messages, as long as a majority can eventually talk. Safety never
//! depends on timing; only progress does. The checks here follow "Paxos Made Simple" (PMS) and
//! Lamport's TLA+ specifications `Paxos` and `Voting`.
//!
//! **The replicated object.** Each key is its own single-decree Paxos instance, so each key is
//! a *write-once register*: the first value chosen for it stays forever. A client's `put x=v`
//! makes the node it reaches a *proposer* for instance `x`, proposing `v`. Every node plays all
//! three roles: proposer, acceptor and learner.
//!
//! **Ballots** (PMS §2.2, "proposal numbers"). Round `r` of node `n` is the ballot `r.n`,
//! ordered by round, then node: two proposers never share a ballot, and a proposer can always
//! pick a ballot above any it has seen.
//!
//! **Phase 1** (prepare/promise). The proposer picks a ballot `b` above any it has seen and
//! sends `Prepare(b)` to every acceptor. An acceptor that has promised nothing above `b`
//! promises `b` (it will accept nothing below it) and answers `Promise(b)` with the
//! highest-ballot value it has accepted, if any; otherwise it answers `Nack` with what it
//! promised. The promise is written to disk before the answer leaves (TLA+ `maxBal`).
//!
//! **Phase 2** (accept/accepted). With promises from a majority, the proposer must propose the
//! value of the highest-ballot acceptance among them, and only if there is none its own value
//! (PMS §2.2, P2c). This is the heart of Paxos: a value that may already have been chosen is
//! carried forward, so a later ballot can only choose it again (`adopted_from` in the
//! inspector). It sends `Accept(b, v)`; an acceptor accepts unless it has promised a higher
//! ballot, records the vote on disk and sends `Accepted(b, v)` to every learner.
//!
//! **Learning** (PMS §2.3). A value is *chosen* once a majority of acceptors accepted it in the
//! same ballot. A learner learns it when it has `Accepted` from a majority for one ballot, and
//! stores it (`store` in the view). A learner that has seen votes but no outcome for
//! `learn_timeout_ms` (messages were lost, or it restarted with an undecided instance on disk)
//! does what PMS suggests: it runs a round itself, which can only choose the value already
//! chosen, if any, and so hears the outcome. Learned values are kept on disk too. Basic Paxos
//! has no leader pushing decisions: a node that never heard of an instance (down or cut off the
//! whole time) learns it when a client asks it, by running a round.
//!
//! **Clients.** A proposer answers its client once it learns the outcome: `Done` if the chosen
//! value is the client's, `Rejected` ("x already chose v") if it is another; since at most one
//! value is ever chosen, a rejected value is certainly never chosen. While nothing is decided it
//! answers nothing and keeps trying. A retried request carries the same value, so it can only
//! add the same proposal. A `get` runs a round: phase 1, and if any promise reports a value,
//! phase 2 with it until it is surely chosen; if a majority promised with nothing accepted, the
//! register was empty when the get began and the answer is `None`. Either way the read is
//! linearizable; a node that has learned the value answers at once, as a chosen value never
//! changes.
//!
//! **Dueling proposers.** Paxos guarantees safety, not progress (PMS §2.4): two proposers can
//! keep preempting each other, each `Prepare` invalidating the other's ballot before its
//! `Accept` lands, so the rounds climb and nothing is chosen. A proposer whose ballot is refused
//! (a `Nack`) or whose phase gets no majority within `phase_timeout_ms` abandons it and retries
//! with a higher round after a back-off drawn from `backoff_ms: [lo, hi]`. `[0, 0]` retries at
//! once, which is how the livelock is shown; a random range breaks the symmetry and one
//! proposer finishes first. Equal bounds (`[30, 30]`) give every proposer the same fixed delay,
//! for a reproducible duel. The back-off can change while the cluster runs (`configure`).
//!
//! **Roles shown.** A node is `proposer` while it has a round in progress for some instance
//! (preparing, accepting or backing off), `acceptor` otherwise. Its term is the highest round
//! it has promised; `commit_index` counts the instances it has learned.

mod invariants;
pub mod messages;
mod node;
mod state;

pub use invariants::{Event, PaxosInvariants};
pub use messages::{Ballot, PaxosMsg, PaxosTimer, Vote};
pub use state::{AcceptorState, InstanceDurable, Phase};
pub(crate) use state::{Instance, Waiter};

use crate::sim::dynamic::Simulation;
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::{Ctx, NodeStatus, NodeView, Protocol};
use crate::workload::op::Request;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The `params` of a Paxos scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaxosParams {
    /// A phase without a majority of answers after this long is abandoned and retried.
    pub phase_timeout_ms: u64,
    /// A proposer that abandons a ballot waits a time drawn from this range before its next
    /// round. `[0, 0]` retries at once (the livelock setting); equal bounds, a fixed delay.
    pub backoff_ms: [u64; 2],
    /// A learner that has seen votes but learned nothing after this long (up to twice it,
    /// drawn at random) runs a round to find out.
    pub learn_timeout_ms: u64,
}

impl Default for PaxosParams {
    fn default() -> Self {
        PaxosParams { phase_timeout_ms: 100, backoff_ms: [20, 80], learn_timeout_ms: 300 }
    }
}

use crate::sim::protocol::MAX_TIMING_MS as MAX_MS;

/// Fuzz runs vary the timings, always with a random back-off: without one, dueling proposers
/// may legitimately never finish, and a run would fail to settle for no fault of Paxos.
pub fn fuzz_params(rng: &mut crate::sim::rng::SimRng) -> serde_json::Value {
    let phase = rng.between(50, 150);
    let lo = rng.between(1, 40);
    let hi = lo + rng.between(10, 80);
    let learn = rng.between(100, 400);
    serde_json::json!({ "phase_timeout_ms": phase, "backoff_ms": [lo, hi], "learn_timeout_ms": learn })
}

/// The `configure` action's merge: every named field must be one of `PaxosParams`'s.
fn reconfigure(
    current: &PaxosParams,
    change: &serde_json::Map<String, serde_json::Value>,
) -> Result<PaxosParams, String> {
    let next: PaxosParams = crate::sim::protocol::merge_params("paxos", current, change)?;
    <Paxos as Protocol>::validate(&next)?;
    Ok(next)
}

/// What survives a crash: per instance, the acceptor's promise and vote, the learned value and
/// the proposer's last round; and how many times the node started (the invariant checker reads
/// each incarnation's journal from its start).
#[derive(Clone, Debug, Default)]
pub struct PaxosDurable {
    pub instances: BTreeMap<String, InstanceDurable>,
    pub incarnation: u64,
}

/// The journal the invariant checker reads: every safety-relevant event, in order. Only the
/// last few hundred are kept; the checker reads them after every step.
const JOURNAL_KEEP: usize = 256;

#[derive(Clone, Debug)]
pub struct Paxos {
    pub(crate) id: NodeId,
    pub(crate) nodes: u16,
    pub(crate) params: PaxosParams,
    pub(crate) instances: BTreeMap<String, Instance>,
    /// Keys with a round in progress (its role is `proposer` while any).
    pub(crate) active: BTreeSet<String>,
    /// The highest round it has promised in any instance (its term).
    pub(crate) max_promised: u64,
    pub(crate) learned_count: u64,
    pub(crate) incarnation: u64,
    pub(crate) journal: Vec<Event>,
    /// How many events were dropped from the front of `journal`.
    pub(crate) journal_base: u64,
    /// Messages to itself, handled right after the current one (a node is its own acceptor
    /// and learner; these do not cross the network).
    pub(crate) local: VecDeque<PaxosMsg>,
}

impl Paxos {
    /// A fresh node, outside any simulation (the engine calls `start`). For tests that build
    /// states by hand, e.g. to feed the invariant checker.
    pub fn blank(id: NodeId, nodes: u16, params: PaxosParams) -> Self {
        Paxos {
            id,
            nodes,
            params,
            instances: BTreeMap::new(),
            active: BTreeSet::new(),
            max_promised: 0,
            learned_count: 0,
            incarnation: 0,
            journal: Vec::new(),
            journal_base: 0,
            local: VecDeque::new(),
        }
    }

    /// Appends to the journal the invariant checker reads. Tests may call it to hand-build a
    /// history.
    pub fn record(&mut self, event: Event) {
        self.journal.push(event);
        if self.journal.len() > 2 * JOURNAL_KEEP {
            let drop = self.journal.len() - JOURNAL_KEEP;
            self.journal.drain(..drop);
            self.journal_base += drop as u64;
        }
    }

    /// The learned value of an instance, if any.
    pub fn learned(&self, key: &str) -> Option<&str> {
        self.instances.get(key).and_then(|i| i.learner.learned.as_deref())
    }

    fn role(&self) -> &'static str {
        if self.active.is_empty() { "acceptor" } else { "proposer" }
    }

    fn store(&self) -> Vec<(String, String)> {
        self.instances.iter().filter_map(|(k, i)| i.learner.learned.clone().map(|v| (k.clone(), v))).collect()
    }
}

impl Protocol for Paxos {
    const NAME: &'static str = "paxos";
    type Msg = PaxosMsg;
    type Timer = PaxosTimer;
    type Durable = PaxosDurable;
    type Params = PaxosParams;
    type Invariants = PaxosInvariants;

    fn validate(p: &PaxosParams) -> Result<(), String> {
        crate::sim::protocol::check_timings(&[
            ("phase_timeout_ms", p.phase_timeout_ms),
            ("learn_timeout_ms", p.learn_timeout_ms),
        ])?;
        let [lo, hi] = p.backoff_ms;
        if lo > hi || hi > MAX_MS {
            return Err(format!(
                "backoff_ms [{lo}, {hi}] must be a range with 0 <= min <= max <= {MAX_MS} ([0, 0] retries at once)"
            ));
        }
        Ok(())
    }

    fn start(
        id: NodeId,
        nodes: u16,
        params: &PaxosParams,
        durable: Option<PaxosDurable>,
        ctx: &mut Ctx<'_, Self>,
    ) -> Self {
        let mut node = Paxos::blank(id, nodes, params.clone());
        let Some(d) = durable else { return node };
        node.incarnation = d.incarnation + 1;
        let mut undecided = Vec::new();
        for (key, disk) in d.instances {
            let mut inst = Instance::default();
            node.max_promised = node.max_promised.max(disk.acceptor.promised.map_or(0, |b| b.round));
            inst.proposer.last_round = disk.last_round;
            inst.proposer.seen_round = disk.last_round.max(disk.acceptor.promised.map_or(0, |b| b.round));
            if disk.learned.is_some() {
                node.learned_count += 1;
                // As before the crash: `done` for a proposer that had a round here.
                if disk.last_round > 0 {
                    inst.proposer.phase = Phase::Done;
                }
            } else if disk.acceptor.promised.is_some() {
                // It took part in a round whose outcome it does not know.
                inst.learner.recovering = true;
                undecided.push(key.clone());
            }
            inst.acceptor = disk.acceptor;
            inst.learner.learned = disk.learned;
            node.instances.insert(key, inst);
        }
        if !undecided.is_empty() {
            ctx.note(format!(
                "{id} restarts with {} undecided on disk; it will run a round to learn the outcome",
                undecided.join(", ")
            ));
        }
        for key in undecided {
            node.arm_learn(&key, ctx);
        }
        node
    }

    fn on_message(&mut self, from: NodeId, msg: PaxosMsg, ctx: &mut Ctx<'_, Self>) {
        self.handle(from, msg, ctx);
        self.drain_local(ctx);
    }

    fn on_timer(&mut self, timer: PaxosTimer, ctx: &mut Ctx<'_, Self>) {
        match timer {
            PaxosTimer::Phase(key) => self.phase_timeout(&key, ctx),
            PaxosTimer::Retry(key) => self.retry(&key, ctx),
            PaxosTimer::Learn(key) => self.learn_timeout(&key, ctx),
        }
        self.drain_local(ctx);
    }

    fn on_request(&mut self, client: ClientId, request: Request, ctx: &mut Ctx<'_, Self>) {
        // Nobody waits for the answer to a request that arrives past its deadline (held at a
        // paused node): it is dropped rather than proposed after the client moved on.
        if ctx.now().0 > request.deadline_us {
            return;
        }
        self.client_request(client, request, ctx);
        self.drain_local(ctx);
    }

    /// "Time out now": every proposer backing off retries at once.
    fn on_timeout_now(&mut self, ctx: &mut Ctx<'_, Self>) {
        let waiting: Vec<String> =
            self.instances.iter().filter(|(_, i)| i.proposer.phase == Phase::Backoff).map(|(k, _)| k.clone()).collect();
        if waiting.is_empty() {
            ctx.note(format!("{} is not backing off anywhere: nothing to retry", self.id));
        }
        for key in waiting {
            ctx.cancel_timer(PaxosTimer::Retry(key.clone()));
            self.retry(&key, ctx);
        }
        self.drain_local(ctx);
    }

    fn reconfigure(
        current: &PaxosParams,
        change: &serde_json::Map<String, serde_json::Value>,
        _nodes: u16,
    ) -> Result<PaxosParams, String> {
        reconfigure(current, change)
    }

    /// New timings apply from the next timer each node sets.
    fn on_configure(&mut self, params: &PaxosParams, _ctx: &mut Ctx<'_, Self>) {
        self.params = params.clone();
    }

    fn durable(&self) -> PaxosDurable {
        PaxosDurable {
            instances: self
                .instances
                .iter()
                .map(|(k, i)| {
                    let disk = InstanceDurable {
                        acceptor: i.acceptor.clone(),
                        learned: i.learner.learned.clone(),
                        last_round: i.proposer.last_round,
                    };
                    (k.clone(), disk)
                })
                .collect(),
            incarnation: self.incarnation,
        }
    }

    fn status(&self) -> NodeStatus {
        NodeStatus { role: self.role(), term: self.max_promised }
    }

    fn view(&self) -> NodeView {
        NodeView {
            role: self.role().to_string(),
            term: self.max_promised,
            leader: None,
            log_terms: Vec::new(),
            commit_index: self.learned_count,
            store: self.store(),
            ..NodeView::default()
        }
    }

    fn durable_view(d: &PaxosDurable) -> NodeView {
        let store: Vec<(String, String)> =
            d.instances.iter().filter_map(|(k, i)| i.learned.clone().map(|v| (k.clone(), v))).collect();
        NodeView {
            role: "crashed".into(),
            term: d.instances.values().filter_map(|i| i.acceptor.promised).map(|b| b.round).max().unwrap_or(0),
            leader: None,
            log_terms: Vec::new(),
            commit_index: store.len() as u64,
            store,
            ..NodeView::default()
        }
    }

    fn inspect(&self) -> serde_json::Value {
        let instances: serde_json::Map<String, serde_json::Value> =
            self.instances.iter().map(|(k, i)| (k.clone(), i.inspect())).collect();
        serde_json::json!({
            "role": self.role(),
            "term": self.max_promised,
            "instances": instances,
            "learned": self.learned_count,
            "params": self.params,
        })
    }
}

/// The fuzzer's `settled` check, the strongest statement Basic Paxos can promise after a heal
/// with no client asking anything: no running node is still trying a round (preparing,
/// accepting or backing off, for a client or to learn an outcome); every running node that
/// accepted a value in an instance has learned that instance's outcome; and no two nodes
/// learned different values. A node that never heard of an instance (down or cut off the whole
/// time) need not know it: nothing in Basic Paxos tells it, until a client asks it.
pub fn settled(sim: &dyn Simulation) -> Result<(), String> {
    let views = sim.node_views();
    let mut learned: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (i, v) in views.iter().enumerate() {
        if v.role == "crashed" {
            continue;
        }
        let state = sim.inspect(NodeId(i as u16))?;
        let Some(instances) = state["state"]["instances"].as_object() else { continue };
        for (key, inst) in instances {
            let phase = inst["proposer"]["phase"].as_str().unwrap_or("");
            if matches!(phase, "prepare" | "accept" | "backoff") {
                return Err(format!(
                    "{} is still trying ballot {} for {key} ({phase})",
                    v.id, inst["proposer"]["ballot"]
                ));
            }
            let value = inst["learner"]["learned"].as_str();
            if !inst["acceptor"]["accepted"].is_null() && value.is_none() {
                return Err(format!(
                    "{} accepted {} for {key} but has not learned the outcome",
                    v.id, inst["acceptor"]["accepted"]
                ));
            }
            if let Some(value) = value {
                match learned.get(key) {
                    Some((other, by)) if other != value => {
                        return Err(format!("{} learned {key} = {value} but {by} learned {other}", v.id));
                    }
                    Some(_) => {}
                    None => {
                        learned.insert(key.clone(), (value.to_string(), v.id.clone()));
                    }
                }
            }
        }
    }
    Ok(())
}
