//! # Service graph: timeouts, retries, circuit breakers, rate limits, bulkheads, degradation
//!
//! Here the nodes are services calling each other, not replicas of one state. One node per
//! service, in the order of `params.services`. A service with a `rate` is a **source**: users
//! sending that many requests per second whatever happens to the earlier ones (an open loop, as
//! real users are: a slow site does not make them arrive more slowly). Every other service has
//! `capacity` workers and a `queue`; a request finding both full is shed (answered at once as
//! overloaded). A worker does the service's own work (`service_ms`, failing at `error_rate`)
//! and, at the same time, calls each of the service's dependencies (`calls` from it: fan-out);
//! it is held until the work and every call have ended (fan-in). So a slow dependency holds
//! the workers of everything above it: that is how one slow database takes a whole system down
//! (Nygard, *Release It!*, "Cascading failures"; the Hystrix wiki, "How it works").
//!
//! Each call edge may carry the patterns of [`patterns`], applied as resilience4j's decorators
//! nest them: retry (with back-off, jitter and an Envoy retry budget) around the circuit
//! breaker, around the bulkhead, around the call with its timeout; a fallback (a cached or
//! default answer) when the call fails in the end or the breaker refuses it. A service may
//! have a rate limiter in front (token bucket, leaky bucket or sliding-window counter; global
//! or per caller) and may drop queued requests whose caller's deadline has passed (deadline
//! propagation). Refusals by the breaker or the bulkhead fail fast and are not retried (as
//! with resilience4j's `ignoreExceptions(CallNotPermittedException, BulkheadFullException)`).
//!
//! A request's deadline and every pattern judge time by the node's own clock; the records
//! behind the figures use true time. Retrying a request does not cancel the attempt before it:
//! the callee goes on working for a caller that has given up, unless `drop_expired` lets it
//! drop the request while it waits. That wasted work is what keeps naive retries overloaded
//! after the trigger is gone: a metastable failure (Bronson et al., "Metastable Failures in
//! Distributed Systems", HotOS 2021).

mod figures;
mod fuzz;
mod invariants;
mod node;
pub mod patterns;
pub mod spec;
pub mod state;

pub use fuzz::{fuzz_params, settled};
pub use invariants::ServicesInvariants;
pub use spec::ServicesParams;

use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::{Ctx, Message, NodeStatus, NodeView, Protocol};
use crate::sim::time::Time;
use crate::workload::op::Request;
use serde::Serialize;
use spec::ServiceSpec;
use state::{EdgeState, Limiter, Origin, Records};
use std::collections::{BTreeMap, VecDeque};

/// How a call ended, as the callee answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Answered; `degraded` when a fallback stood in somewhere below.
    Ok { degraded: bool },
    /// The work or a dependency failed.
    Error,
    /// Workers and queue full: load shed.
    Shed,
    /// Refused by the rate limiter.
    Limited,
    /// No answer in time (the caller's own verdict; never sent).
    Timeout,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok { .. } => "ok",
            Outcome::Error => "error",
            Outcome::Shed => "shed",
            Outcome::Limited => "limited",
            Outcome::Timeout => "timeout",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum SvcMsg {
    /// One attempt of a call, with the caller's timeout for it.
    Call {
        id: u64,
        attempt: u32,
        timeout_us: Option<u64>,
    },
    Reply {
        id: u64,
        attempt: u32,
        outcome: Outcome,
    },
}

impl Message for SvcMsg {
    fn label(&self) -> &'static str {
        match self {
            SvcMsg::Call { .. } => "Call",
            SvcMsg::Reply { outcome: Outcome::Ok { .. }, .. } => "Reply",
            SvcMsg::Reply { .. } => "ErrorReply",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum SvcTimer {
    /// A source's next user request.
    Arrive,
    /// A job's own work is done.
    Work {
        job: u64,
    },
    /// A leaky bucket lets a held request through.
    Admit {
        job: u64,
    },
    CallTimeout {
        call: u64,
    },
    /// The back-off before a retry is over.
    Retry {
        call: u64,
    },
    /// A call waiting for a bulkhead permit gives up.
    BulkheadWait {
        call: u64,
    },
}

#[derive(Clone, Debug)]
pub struct Services {
    pub(crate) id: NodeId,
    pub(crate) params: ServicesParams,
    pub(crate) edges: Vec<EdgeState>,
    pub(crate) jobs: BTreeMap<u64, state::Job>,
    pub(crate) queue: VecDeque<u64>,
    pub(crate) running: u32,
    /// After a `configure` lowered the capacity: the workers still busy then (they finish).
    pub(crate) grace_running: u32,
    pub(crate) calls: BTreeMap<u64, state::Call>,
    pub(crate) limiter: Option<Limiter>,
    pub(crate) per_caller: BTreeMap<String, Limiter>,
    pub(crate) d: Records,
    /// This node's clock at its last step (the inspector reads the patterns at this time).
    pub(crate) clock_now: u64,
    /// The spec this node was started with, for a node beyond the list (never in a valid run).
    fallback_spec: ServiceSpec,
}

impl Services {
    pub(crate) fn spec(&self) -> &ServiceSpec {
        self.params.services.get(self.id.index()).unwrap_or(&self.fallback_spec)
    }

    fn build_edges(&self) -> Vec<EdgeState> {
        let me = &self.spec().name;
        self.params
            .calls
            .iter()
            .enumerate()
            .filter(|(_, c)| &c.from == me)
            .filter_map(|(i, c)| {
                let to = self.params.index_of(&c.to)?;
                Some(EdgeState::new(i, NodeId(u16::try_from(to).ok()?), c))
            })
            .collect()
    }

    fn build_limiters(&mut self) {
        self.limiter = self.spec().limiter.as_ref().and_then(Limiter::new);
        self.per_caller.clear();
    }

    /// `ok`, `busy` (every worker busy) or `overloaded` (queue over half full); `source`.
    pub fn health(&self) -> &'static str {
        let s = self.spec();
        if s.is_source() {
            "source"
        } else if self.queue.len() as u64 * 2 > u64::from(s.queue) && !self.queue.is_empty() {
            "overloaded"
        } else if self.running >= s.capacity {
            "busy"
        } else {
            "ok"
        }
    }

    fn caller_limiter(&mut self, key: String) {
        if let Some(spec) = self.spec().limiter.clone()
            && spec.per == spec::LimitPer::Caller
            && !self.per_caller.contains_key(&key)
            && let Some(l) = Limiter::new(&spec)
        {
            self.per_caller.insert(key, l);
        }
    }
}

pub(crate) fn node_name(params: &ServicesParams, id: NodeId) -> String {
    params.services.get(id.index()).map_or_else(|| id.to_string(), |s| s.name.clone())
}

/// The scenario's cluster must have one node per service.
pub fn check_cluster(p: &ServicesParams, s: &crate::scenario::Scenario) -> Result<(), String> {
    if usize::from(s.nodes) != p.services.len() {
        return Err(format!(
            "a services scenario has one node per service: {} services ({}) but nodes is {}",
            p.services.len(),
            p.services.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", "),
            s.nodes
        ));
    }
    Ok(())
}

impl Protocol for Services {
    const NAME: &'static str = "services";
    const LEADER: bool = false;
    type Msg = SvcMsg;
    type Timer = SvcTimer;
    type Durable = Records;
    type Params = ServicesParams;
    type Invariants = ServicesInvariants;

    fn validate(p: &ServicesParams) -> Result<(), String> {
        p.validate()
    }

    fn start(
        id: NodeId,
        _nodes: u16,
        params: &ServicesParams,
        durable: Option<Records>,
        ctx: &mut Ctx<'_, Self>,
    ) -> Self {
        let mut node = Services {
            id,
            params: params.clone(),
            edges: Vec::new(),
            jobs: BTreeMap::new(),
            queue: VecDeque::new(),
            running: 0,
            grace_running: 0,
            calls: BTreeMap::new(),
            limiter: None,
            per_caller: BTreeMap::new(),
            d: durable.unwrap_or_default(),
            clock_now: ctx.clock().0,
            fallback_spec: ServiceSpec { name: id.to_string(), ..ServiceSpec::default() },
        };
        node.edges = node.build_edges();
        node.build_limiters();
        // A restarted process has fresh, closed breakers: the timeline says so.
        for i in 0..node.edges.len() {
            node.breaker_starts_closed(i, ctx.clock().0);
        }
        node.arm_arrival(ctx);
        node
    }

    fn on_message(&mut self, from: NodeId, msg: SvcMsg, ctx: &mut Ctx<'_, Self>) {
        match msg {
            SvcMsg::Call { id, attempt, timeout_us } => {
                self.caller_limiter(from.to_string());
                let deadline = timeout_us.map(|t| ctx.clock().0.saturating_add(t));
                self.arrive(Origin::Caller { node: from, id, attempt }, deadline, ctx)
            }
            SvcMsg::Reply { id, attempt, outcome } => self.on_reply(from, id, attempt, outcome, ctx),
        }
        self.observe_breakers(ctx.clock());
    }

    fn on_timer(&mut self, timer: SvcTimer, ctx: &mut Ctx<'_, Self>) {
        match timer {
            SvcTimer::Arrive => self.user_arrives(ctx),
            SvcTimer::Work { job } => self.work_done(job, ctx),
            SvcTimer::Admit { job } => self.admit(job, ctx),
            SvcTimer::CallTimeout { call } => self.call_timed_out(call, ctx),
            SvcTimer::Retry { call } => self.try_attempt(call, ctx),
            SvcTimer::BulkheadWait { call } => self.bulkhead_wait_over(call, ctx),
        }
        self.observe_breakers(ctx.clock());
    }

    fn on_request(&mut self, client: ClientId, request: Request, ctx: &mut Ctx<'_, Self>) {
        self.caller_limiter(client.to_string());
        self.arrive(Origin::Client { client, seq: request.seq }, None, ctx);
        self.observe_breakers(ctx.clock());
    }

    fn reconfigure(
        current: &ServicesParams,
        change: &serde_json::Map<String, serde_json::Value>,
        _nodes: u16,
    ) -> Result<ServicesParams, String> {
        spec::reconfigure(current, change)
    }

    fn on_configure(&mut self, params: &ServicesParams, ctx: &mut Ctx<'_, Self>) {
        let old = std::mem::replace(&mut self.params, params.clone());
        let me = self.id.index();
        let (was, now) = (old.services.get(me), params.services.get(me));
        if was.map(|s| &s.limiter) != now.map(|s| &s.limiter) {
            self.build_limiters();
        }
        if was.map(|s| s.rate) != now.map(|s| s.rate) {
            self.arm_arrival(ctx);
        }
        self.grace_running = self.running;
        // A changed edge starts afresh (a new breaker is closed, a new budget empty). The edges
        // keep their order, as `configure` cannot add or remove calls. Calls in flight keep
        // their attempt but hold no permit of a new bulkhead.
        let old_edges = std::mem::take(&mut self.edges);
        for (i, e) in self.build_edges().into_iter().enumerate() {
            let Some(o) = old_edges.get(i) else {
                self.edges.push(e);
                continue;
            };
            // Only a pattern whose own settings changed starts afresh (a new breaker is
            // closed, a new budget and bulkhead empty); the others keep their state.
            let mut n = EdgeState { has_good: o.has_good, ..e };
            if o.spec.breaker == n.spec.breaker {
                n.breaker = o.breaker.clone();
                n.transitions_seen = o.transitions_seen;
            }
            let budget = |s: &spec::CallSpec| s.retry.as_ref().and_then(|r| r.budget.clone());
            if budget(&o.spec) == budget(&n.spec) {
                n.budget = o.budget.clone();
            }
            if o.spec.bulkhead == n.spec.bulkhead {
                n.bulkhead = o.bulkhead.clone();
            } else {
                // Calls in flight hold no permit of the new bulkhead; waiters give up.
                for (id, c) in self.calls.iter_mut().filter(|(_, c)| c.edge == i) {
                    c.holds_bulkhead = false;
                    if c.waiting_bulkhead {
                        ctx.set_timer(1, SvcTimer::BulkheadWait { call: *id });
                    }
                }
            }
            let fresh_breaker = o.spec.breaker != n.spec.breaker;
            self.edges.push(n);
            if fresh_breaker {
                self.breaker_starts_closed(i, ctx.clock().0);
            }
        }
        // A lowered queue sheds its newest waiting requests.
        while self.queue.len() > self.spec().queue as usize {
            let Some(id) = self.queue.pop_back() else { break };
            self.d.totals.shed += 1;
            self.end_job(id, Outcome::Shed, ctx);
        }
        self.take_next(ctx);
    }

    fn durable(&self) -> Records {
        self.d.clone()
    }

    fn status(&self) -> NodeStatus {
        NodeStatus { role: if self.spec().is_source() { "source" } else { "service" }, term: 0 }
    }

    fn view(&self) -> NodeView {
        NodeView { role: self.health().to_string(), ..NodeView::default() }
    }

    fn durable_view(_d: &Records) -> NodeView {
        NodeView { role: "crashed".into(), ..NodeView::default() }
    }

    fn inspect(&self) -> serde_json::Value {
        figures::inspect(self)
    }

    fn figures(
        nodes: &[crate::sim::protocol::NodeRef<'_, Self>],
        now: Time,
        params: &ServicesParams,
        applied: &[crate::sim::action::TimedAction],
    ) -> serde_json::Value {
        figures::figures(nodes, now, params, applied)
    }
}

impl Services {
    /// Edge `i` has a new breaker (after a restart or a changed breaker): if the records last
    /// left it anything but closed, they note that it is closed again from `at_us`.
    fn breaker_starts_closed(&mut self, i: usize, at_us: u64) {
        use patterns::breaker::BreakerState;
        let Some(e) = self.edges.get(i) else { return };
        if e.breaker.is_none() {
            return;
        }
        let last = self.d.breaker_changes.iter().rev().find(|c| c.call == e.call).map(|c| c.to);
        if let Some(from) = last.filter(|s| *s != BreakerState::Closed) {
            self.d.breaker_changes.push(state::BreakerChange { call: e.call, at_us, from, to: BreakerState::Closed });
        }
    }
}
