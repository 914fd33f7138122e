//! What a service node holds: its requests (jobs) in progress or waiting, its outgoing calls
//! and the patterns guarding each call edge, and the measurements that survive a crash.

use super::patterns::breaker::{BreakerState, CircuitBreaker};
use super::patterns::bulkhead::Bulkhead;
use super::patterns::limiter::{LeakyBucket, SlidingWindowCounter, TokenBucket};
use super::patterns::retry::{Backoff, RetryBudget};
use super::spec::{CallSpec, LimiterKind, LimiterSpec};
use crate::sim::ids::{ClientId, NodeId};
use serde::Serialize;

/// Who is waiting for a job's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A user behind a source: measured end to end.
    User,
    /// One of the engine's clients, answered through the history.
    Client { client: ClientId, seq: u64 },
    /// An upstream service's attempt.
    Caller { node: NodeId, id: u64, attempt: u32 },
}

/// One request this service works on (or holds waiting).
#[derive(Clone, Debug)]
pub struct Job {
    pub origin: Origin,
    /// True time it arrived (for the records).
    pub arrived_us: u64,
    /// When the caller gives up, on this node's clock: its arrival plus the caller's timeout
    /// (sent as a span, as gRPC's `grpc-timeout`, since the two clocks may differ).
    pub deadline: Option<u64>,
    pub work_done: bool,
    pub calls_left: u32,
    pub failed: bool,
    pub degraded: bool,
}

/// One outgoing call of a job: its attempts over time.
#[derive(Clone, Debug)]
pub struct Call {
    pub job: u64,
    /// Index into the node's `edges`.
    pub edge: usize,
    pub attempt: u32,
    /// This node's clock when the current attempt asked the breaker: its duration, as the
    /// breaker records it, includes any wait for a bulkhead permit.
    pub began: u64,
    /// Waiting in the bulkhead's queue for a permit.
    pub waiting_bulkhead: bool,
    pub in_flight: bool,
    pub backoff: Option<Backoff>,
    /// The current attempt is a retry counted against the budget.
    pub retrying: bool,
    pub holds_bulkhead: bool,
    /// The breaker's state when the current attempt went out (for the invariant).
    pub breaker_at_send: Option<BreakerState>,
    /// The attempts the edge allowed when the call began.
    pub max_attempts: u32,
}

/// Counters of one call edge, kept across crashes.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EdgeTotals {
    pub calls: u64,
    pub attempts: u64,
    pub retries: u64,
    pub timeouts: u64,
    pub errors: u64,
    pub rejected_by_breaker: u64,
    pub rejected_by_bulkhead: u64,
    pub budget_exhausted: u64,
    pub fallbacks: u64,
}

/// The patterns on one outgoing edge, built from its [`CallSpec`].
#[derive(Clone, Debug)]
pub struct EdgeState {
    /// Index into `params.calls`.
    pub call: usize,
    pub to: NodeId,
    pub spec: CallSpec,
    pub breaker: Option<CircuitBreaker>,
    pub bulkhead: Option<Bulkhead>,
    pub budget: Option<RetryBudget>,
    /// A good answer came back once: a cache fallback has something to serve.
    pub has_good: bool,
    /// Breaker transitions already copied into the durable records.
    pub transitions_seen: usize,
}

impl EdgeState {
    /// The patterns for `spec`; the spec was validated, so building them cannot fail, but a
    /// pattern that did would be left off rather than panic.
    pub fn new(call: usize, to: NodeId, spec: &CallSpec) -> EdgeState {
        EdgeState {
            call,
            to,
            spec: spec.clone(),
            breaker: spec.breaker.as_ref().and_then(|b| CircuitBreaker::new(b.config()).ok()),
            bulkhead: spec.bulkhead.as_ref().and_then(|b| Bulkhead::new(b.config()).ok()),
            budget: spec.retry.as_ref().and_then(|r| r.budget_config()).and_then(|b| RetryBudget::new(b).ok()),
            has_good: false,
            transitions_seen: 0,
        }
    }

    pub fn max_attempts(&self) -> u32 {
        self.spec.retry.as_ref().map_or(1, |r| r.max_attempts)
    }
}

/// A rate limiter of one of the three kinds.
#[derive(Clone, Debug)]
pub enum Limiter {
    Token(TokenBucket),
    Leaky(LeakyBucket),
    Window(SlidingWindowCounter),
}

impl Limiter {
    pub fn new(spec: &LimiterSpec) -> Option<Limiter> {
        match spec.kind {
            LimiterKind::TokenBucket => TokenBucket::new(spec.token()).ok().map(Limiter::Token),
            LimiterKind::LeakyBucket => LeakyBucket::new(spec.leaky()).ok().map(Limiter::Leaky),
            LimiterKind::SlidingWindow => SlidingWindowCounter::new(spec.window()).ok().map(Limiter::Window),
        }
    }
}

/// One half second of a node's life, for the charts.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Bucket {
    /// Requests arriving (user requests at a source, attempts at a service).
    pub arrived: u32,
    /// Sources: of the user requests that arrived in this half second, those answered well,
    /// with a fallback somewhere, or not at all (so far).
    pub ok: u32,
    pub degraded: u32,
    pub failed: u32,
    /// Sources: the latency of each of those requests answered so far, failures included, ms.
    pub latencies_ms: Vec<u32>,
    pub in_progress_max: u32,
    pub queued_max: u32,
}

/// A node's totals, kept across crashes.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    pub arrived: u64,
    pub served: u64,
    pub errors: u64,
    pub shed: u64,
    pub limited: u64,
    pub expired: u64,
    /// Sources: user requests answered well, degraded, failed.
    pub ok: u64,
    pub degraded: u64,
    pub failed: u64,
}

/// A breaker's change of state, on the edge `call` (index into `params.calls`).
#[derive(Clone, Debug, Serialize)]
pub struct BreakerChange {
    pub call: usize,
    pub at_us: u64,
    pub from: BreakerState,
    pub to: BreakerState,
}

/// What survives a crash: the measurements.
#[derive(Clone, Debug, Default)]
pub struct Records {
    /// The last job or call id given out: ids are never reused, even across a restart, so a
    /// reply to a call of the node's previous life is not taken for an answer to a new one.
    pub next_id: u64,
    pub buckets: Vec<Bucket>,
    pub totals: Totals,
    /// By index into `params.calls`.
    pub edges: std::collections::BTreeMap<usize, EdgeTotals>,
    pub breaker_changes: Vec<BreakerChange>,
}

/// The width of a chart bucket.
pub const BUCKET_US: u64 = 500_000;

impl Records {
    pub fn bucket(&mut self, now_us: u64) -> &mut Bucket {
        let i = usize::try_from(now_us / BUCKET_US).unwrap_or(usize::MAX).min(100_000);
        if self.buckets.len() <= i {
            self.buckets.resize_with(i + 1, Bucket::default);
        }
        &mut self.buckets[i]
    }

    pub fn edge(&mut self, call: usize) -> &mut EdgeTotals {
        self.edges.entry(call).or_default()
    }
}
