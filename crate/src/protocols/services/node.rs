//! A service's life: admitting requests (rate limiter, workers, queue, load shedding), working
//! on them, and calling its dependencies through each edge's patterns, in the order
//! resilience4j's decorators apply them: retry around the circuit breaker around the
//! bulkhead around the call with its timeout.

use super::patterns::bulkhead::Admission;
use super::patterns::retry::Backoff;
use super::state::{Call, Job, Limiter, Origin};
use super::{Outcome, Services, SvcMsg, SvcTimer};
use crate::sim::ids::NodeId;
use crate::sim::protocol::Ctx;
use crate::sim::time::Time;
use crate::workload::op::Reply;

/// Why an attempt ended badly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    /// The callee answered with an error, shed or limited the request, or it timed out: a
    /// retry may help.
    Retriable,
    /// The breaker or the bulkhead refused it here: fail fast, no retry.
    Refused,
}

impl Services {
    fn clock(ctx: &Ctx<'_, Self>) -> u64 {
        ctx.clock().0
    }

    fn next_id(&mut self) -> u64 {
        self.d.next_id += 1;
        self.d.next_id
    }

    /// Users behind a source send their next request.
    pub(super) fn user_arrives(&mut self, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now().0;
        self.d.totals.arrived += 1;
        self.d.bucket(now).arrived += 1;
        let id = self.next_id();
        self.jobs.insert(id, Job::new(Origin::User, now, None));
        self.start(id, ctx);
        self.arm_arrival(ctx);
    }

    pub(super) fn arm_arrival(&mut self, ctx: &mut Ctx<'_, Self>) {
        let rate = u64::from(self.spec().rate);
        if rate == 0 {
            return;
        }
        let mean = (1_000_000 / rate).max(1);
        // Evenly spaced on average, each gap from half to one and a half times the mean.
        let gap = ctx.rng().between(mean / 2, mean + mean / 2).max(1);
        ctx.set_timer(gap, SvcTimer::Arrive);
    }

    /// A request from a caller or a client reaches this node.
    pub(super) fn arrive(&mut self, origin: Origin, deadline: Option<u64>, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now().0;
        self.d.totals.arrived += 1;
        self.d.bucket(now).arrived += 1;
        let id = self.next_id();
        self.jobs.insert(id, Job::new(origin.clone(), now, deadline));
        if self.spec().is_source() {
            self.start(id, ctx);
            return;
        }
        let key = match &origin {
            Origin::Caller { node, .. } => node.to_string(),
            Origin::Client { client, .. } => client.to_string(),
            Origin::User => String::new(),
        };
        let at = ctx.clock();
        let limiter = match self.spec().limiter.as_ref().map(|l| l.per) {
            Some(super::spec::LimitPer::Caller) => self.per_caller.get_mut(&key),
            Some(super::spec::LimitPer::Global) => self.limiter.as_mut(),
            None => None,
        };
        let verdict = match limiter {
            None => Ok(at),
            Some(Limiter::Token(b)) => b.try_acquire(at).map(|()| at),
            Some(Limiter::Window(w)) => w.try_acquire(at).map(|()| at),
            Some(Limiter::Leaky(b)) => b.offer(at),
        };
        match verdict {
            Err(_) => {
                self.d.totals.limited += 1;
                self.end_job(id, Outcome::Limited, ctx);
            }
            Ok(leave) if leave > at => {
                // A leaky bucket holds it until its turn.
                ctx.set_timer(leave.since(at), SvcTimer::Admit { job: id });
            }
            Ok(_) => self.admit(id, ctx),
        }
    }

    /// Past the limiter: a worker, a place in the queue, or shed.
    pub(super) fn admit(&mut self, id: u64, ctx: &mut Ctx<'_, Self>) {
        if !self.jobs.contains_key(&id) {
            return;
        }
        if self.running < self.spec().capacity {
            self.start(id, ctx);
        } else if (self.queue.len() as u64) < u64::from(self.spec().queue) {
            self.queue.push_back(id);
            self.note_load(ctx);
        } else {
            self.d.totals.shed += 1;
            self.end_job(id, Outcome::Shed, ctx);
        }
    }

    /// A worker takes the job: its own work and its calls begin together.
    fn start(&mut self, id: u64, ctx: &mut Ctx<'_, Self>) {
        let source = self.spec().is_source();
        let [lo, hi] = self.spec().service_ms;
        let edges: Vec<usize> = (0..self.edges.len()).collect();
        let Some(job) = self.jobs.get_mut(&id) else { return };
        job.calls_left = edges.len() as u32;
        if source {
            job.work_done = true;
        } else {
            self.running += 1;
            let work = ctx.rng().between(lo.saturating_mul(1000), hi.saturating_mul(1000));
            ctx.set_timer(work, SvcTimer::Work { job: id });
        }
        self.note_load(ctx);
        for edge in edges {
            self.start_call(id, edge, ctx);
        }
        self.maybe_finish(id, ctx);
    }

    /// The job's own work is done; it may fail by the service's error rate.
    pub(super) fn work_done(&mut self, id: u64, ctx: &mut Ctx<'_, Self>) {
        let ppm = crate::sim::rng::probability_to_ppm(self.spec().error_rate);
        let failed = ppm > 0 && ctx.rng().chance(ppm);
        let Some(job) = self.jobs.get_mut(&id) else { return };
        job.work_done = true;
        if failed {
            job.failed = true;
            self.d.totals.errors += 1;
        }
        self.maybe_finish(id, ctx);
    }

    fn maybe_finish(&mut self, id: u64, ctx: &mut Ctx<'_, Self>) {
        let Some(job) = self.jobs.get(&id) else { return };
        if !job.work_done || job.calls_left > 0 {
            return;
        }
        let outcome = match (job.failed, job.degraded) {
            (true, _) => Outcome::Error,
            (false, degraded) => Outcome::Ok { degraded },
        };
        if !self.spec().is_source() {
            self.running = self.running.saturating_sub(1);
            if outcome != Outcome::Error {
                self.d.totals.served += 1;
            }
        }
        self.end_job(id, outcome, ctx);
        self.take_next(ctx);
    }

    /// A worker is free: the oldest waiting job whose caller still waits.
    pub(super) fn take_next(&mut self, ctx: &mut Ctx<'_, Self>) {
        while self.running < self.spec().capacity {
            let Some(id) = self.queue.pop_front() else { break };
            let clock = Self::clock(ctx);
            let expired = self.jobs.get(&id).and_then(|j| j.deadline).is_some_and(|d| d <= clock);
            if expired && self.spec().drop_expired {
                self.d.totals.expired += 1;
                self.jobs.remove(&id);
                continue;
            }
            self.start(id, ctx);
        }
        if self.running <= self.spec().capacity {
            self.grace_running = 0;
        }
        self.note_load(ctx);
    }

    /// Answers whoever waits for the job and forgets it.
    pub(super) fn end_job(&mut self, id: u64, outcome: Outcome, ctx: &mut Ctx<'_, Self>) {
        let Some(job) = self.jobs.remove(&id) else { return };
        let now = ctx.now().0;
        match job.origin {
            Origin::User => {
                // Counted in the half second the request arrived in, so that a bucket's
                // success rate is exactly the share of its requests answered well.
                let bucket = self.d.bucket(job.arrived_us);
                match outcome {
                    Outcome::Ok { degraded: false } => bucket.ok += 1,
                    Outcome::Ok { degraded: true } => bucket.degraded += 1,
                    _ => bucket.failed += 1,
                }
                let ms = now.saturating_sub(job.arrived_us) / 1000;
                bucket.latencies_ms.push(u32::try_from(ms).unwrap_or(u32::MAX));
                match outcome {
                    Outcome::Ok { degraded: false } => self.d.totals.ok += 1,
                    Outcome::Ok { degraded: true } => self.d.totals.degraded += 1,
                    _ => self.d.totals.failed += 1,
                }
            }
            Origin::Client { client, seq } => {
                let reply = match outcome {
                    Outcome::Ok { .. } => Reply::Done { value: None },
                    other => Reply::Rejected { reason: other.label().to_string() },
                };
                ctx.reply(client, seq, reply);
            }
            Origin::Caller { node, id, attempt } => ctx.send(node, SvcMsg::Reply { id, attempt, outcome }),
        }
        self.note_load(ctx);
    }

    /// Records the peaks of work and queue for the charts.
    fn note_load(&mut self, ctx: &mut Ctx<'_, Self>) {
        let (running, queued) = (self.running, self.queue.len() as u32);
        let bucket = self.d.bucket(ctx.now().0);
        bucket.in_progress_max = bucket.in_progress_max.max(running);
        bucket.queued_max = bucket.queued_max.max(queued);
    }

    // ---- calls ----

    fn start_call(&mut self, job: u64, edge: usize, ctx: &mut Ctx<'_, Self>) {
        let id = self.next_id();
        let e = &mut self.edges[edge];
        let backoff = e.spec.retry.as_ref().and_then(|r| r.config().ok()).and_then(|c| Backoff::new(c).ok());
        if let Some(b) = e.budget.as_mut() {
            b.on_request_start();
        }
        let max_attempts = e.max_attempts();
        self.d.edge(e.call).calls += 1;
        self.calls.insert(
            id,
            Call {
                job,
                edge,
                attempt: 0,
                began: 0,
                waiting_bulkhead: false,
                in_flight: false,
                backoff,
                retrying: false,
                holds_bulkhead: false,
                breaker_at_send: None,
                max_attempts,
            },
        );
        self.try_attempt(id, ctx);
    }

    /// Through the breaker and the bulkhead, then out.
    pub(super) fn try_attempt(&mut self, id: u64, ctx: &mut Ctx<'_, Self>) {
        let at = ctx.clock();
        let Some(call) = self.calls.get_mut(&id) else { return };
        call.began = at.0;
        let edge = call.edge;
        let e = &mut self.edges[edge];
        if let Some(b) = e.breaker.as_mut()
            && b.try_acquire(at).is_err()
        {
            self.d.edge(e.call).rejected_by_breaker += 1;
            self.sync_breaker(edge);
            self.attempt_failed(id, Failure::Refused, ctx);
            return;
        }
        let admission = e.bulkhead.as_mut().map_or(Admission::Admitted, |b| b.try_enter(at, id));
        match admission {
            Admission::Admitted => {
                if let Some(c) = self.calls.get_mut(&id) {
                    c.holds_bulkhead = e.bulkhead.is_some();
                }
                self.send_attempt(id, ctx);
            }
            Admission::Queued { deadline } => {
                if let Some(c) = self.calls.get_mut(&id) {
                    c.waiting_bulkhead = true;
                }
                ctx.set_timer(deadline.since(at) + 1, SvcTimer::BulkheadWait { call: id });
            }
            Admission::Rejected => {
                self.d.edge(e.call).rejected_by_bulkhead += 1;
                // resilience4j's breaker counts a full bulkhead as a failed call.
                if let Some(b) = e.breaker.as_mut() {
                    b.on_error(at, 0);
                }
                self.sync_breaker(edge);
                self.attempt_failed(id, Failure::Refused, ctx);
            }
        }
    }

    fn send_attempt(&mut self, id: u64, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.clock();
        let Some(call) = self.calls.get_mut(&id) else { return };
        let e = &mut self.edges[call.edge];
        call.attempt += 1;
        call.in_flight = true;
        call.breaker_at_send = e.breaker.as_mut().map(|b| b.state(now));
        let totals = self.d.edges.entry(e.call).or_default();
        totals.attempts += 1;
        if call.attempt > 1 {
            totals.retries += 1;
        }
        let timeout = e.spec.timeout_ms.map(|t| t.saturating_mul(1000));
        let msg = SvcMsg::Call { id, attempt: call.attempt, timeout_us: timeout };
        ctx.send(e.to, msg);
        if let Some(t) = timeout {
            ctx.set_timer(t, SvcTimer::CallTimeout { call: id });
        }
    }

    /// A waiter in a bulkhead queue gave up.
    pub(super) fn bulkhead_wait_over(&mut self, id: u64, ctx: &mut Ctx<'_, Self>) {
        let at = ctx.clock();
        let Some(call) = self.calls.get_mut(&id) else { return };
        if !std::mem::take(&mut call.waiting_bulkhead) {
            return;
        }
        let (edge, waited) = (call.edge, at.0.saturating_sub(call.began));
        let e = &mut self.edges[edge];
        if let Some(b) = e.bulkhead.as_mut() {
            b.cancel(id);
        }
        self.d.edge(e.call).rejected_by_bulkhead += 1;
        if let Some(br) = e.breaker.as_mut() {
            br.on_error(at, waited);
        }
        self.sync_breaker(edge);
        self.attempt_failed(id, Failure::Refused, ctx);
    }

    pub(super) fn on_reply(&mut self, from: NodeId, id: u64, attempt: u32, outcome: Outcome, ctx: &mut Ctx<'_, Self>) {
        let Some(call) = self.calls.get(&id) else { return };
        if !call.in_flight || call.attempt != attempt || self.edges[call.edge].to != from {
            return;
        }
        ctx.cancel_timer(SvcTimer::CallTimeout { call: id });
        self.attempt_ended(id, outcome, ctx);
    }

    pub(super) fn call_timed_out(&mut self, id: u64, ctx: &mut Ctx<'_, Self>) {
        let Some(call) = self.calls.get(&id) else { return };
        if !call.in_flight {
            return;
        }
        let e = self.edges[call.edge].call;
        self.d.edge(e).timeouts += 1;
        self.attempt_ended(id, Outcome::Timeout, ctx);
    }

    fn attempt_ended(&mut self, id: u64, outcome: Outcome, ctx: &mut Ctx<'_, Self>) {
        let at = ctx.clock();
        let clock = Self::clock(ctx);
        let Some(call) = self.calls.get_mut(&id) else { return };
        call.in_flight = false;
        let duration = clock.saturating_sub(call.began);
        let (edge, held, retrying) = (call.edge, call.holds_bulkhead, call.retrying);
        call.holds_bulkhead = false;
        call.retrying = false;
        let e = &mut self.edges[edge];
        if let Some(b) = e.breaker.as_mut() {
            match outcome {
                Outcome::Ok { .. } => b.on_success(at, duration),
                _ => b.on_error(at, duration),
            }
        }
        if retrying && let Some(b) = e.budget.as_mut() {
            b.on_retry_end();
        }
        let next = if held { e.bulkhead.as_mut().and_then(|b| b.release(at)) } else { None };
        self.sync_breaker(edge);
        match outcome {
            Outcome::Ok { degraded } => {
                self.edges[edge].has_good = true;
                self.call_done(id, true, degraded, ctx);
            }
            _ => {
                let e = self.edges[edge].call;
                if outcome != Outcome::Timeout {
                    self.d.edge(e).errors += 1;
                }
                self.attempt_failed(id, Failure::Retriable, ctx);
            }
        }
        if let Some(waiter) = next {
            self.bulkhead_permit(edge, waiter, ctx);
        }
    }

    /// A call waiting in the bulkhead's queue gets a permit. Its breaker permission was taken
    /// before it waited; if the breaker has opened since, it does not go out (the breaker
    /// rejects it) and the permit passes on.
    fn bulkhead_permit(&mut self, edge: usize, mut waiter: u64, ctx: &mut Ctx<'_, Self>) {
        let at = ctx.clock();
        loop {
            let e = &mut self.edges[edge];
            let waiting = self.calls.get_mut(&waiter).is_some_and(|c| std::mem::take(&mut c.waiting_bulkhead));
            let refused = waiting && e.breaker.as_mut().is_some_and(|b| b.refuses_at(at));
            if waiting && !refused {
                ctx.cancel_timer(SvcTimer::BulkheadWait { call: waiter });
                if let Some(c) = self.calls.get_mut(&waiter) {
                    c.holds_bulkhead = true;
                }
                self.send_attempt(waiter, ctx);
                return;
            }
            // Not (or no longer) waiting, or refused by an open breaker: the permit passes on.
            let next = e.bulkhead.as_mut().and_then(|b| b.release(at));
            if refused {
                ctx.cancel_timer(SvcTimer::BulkheadWait { call: waiter });
                self.d.edge(e.call).rejected_by_breaker += 1;
                self.attempt_failed(waiter, Failure::Refused, ctx);
            }
            match next {
                Some(w) => waiter = w,
                None => return,
            }
        }
    }

    /// Retry after a back-off if the policy and the budget allow, else give up (or fall back).
    fn attempt_failed(&mut self, id: u64, why: Failure, ctx: &mut Ctx<'_, Self>) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        let edge = call.edge;
        if std::mem::take(&mut call.retrying)
            && let Some(b) = self.edges[edge].budget.as_mut()
        {
            b.on_retry_end();
        }
        if why == Failure::Retriable && call.attempt < call.max_attempts {
            let delay = call.backoff.as_mut().and_then(|b| b.next_delay(ctx.rng()));
            if let Some(delay) = delay {
                let e = &mut self.edges[edge];
                let allowed = e.budget.as_mut().is_none_or(|b| b.try_retry().is_ok());
                if allowed {
                    call.retrying = e.budget.is_some();
                    ctx.set_timer(delay.max(1), SvcTimer::Retry { call: id });
                    return;
                }
                self.d.edge(e.call).budget_exhausted += 1;
            }
        }
        let e = &self.edges[edge];
        let fallback = match e.spec.fallback {
            Some(super::spec::Fallback::Default) => true,
            Some(super::spec::Fallback::Cache) => e.has_good,
            None => false,
        };
        if fallback {
            self.d.edge(e.call).fallbacks += 1;
            self.call_done(id, true, true, ctx);
        } else {
            self.call_done(id, false, false, ctx);
        }
    }

    fn call_done(&mut self, id: u64, ok: bool, degraded: bool, ctx: &mut Ctx<'_, Self>) {
        let Some(call) = self.calls.remove(&id) else { return };
        if let Some(b) = self.edges[call.edge].budget.as_mut() {
            b.on_request_end();
        }
        let Some(job) = self.jobs.get_mut(&call.job) else { return };
        job.calls_left = job.calls_left.saturating_sub(1);
        job.failed |= !ok;
        job.degraded |= degraded;
        self.maybe_finish(call.job, ctx);
    }

    /// Copies the breaker's new transitions into the records that survive a crash.
    pub(super) fn sync_breaker(&mut self, edge: usize) {
        let e = &mut self.edges[edge];
        let Some(b) = e.breaker.as_ref() else { return };
        for t in &b.transitions()[e.transitions_seen.min(b.transitions().len())..] {
            self.d.breaker_changes.push(super::state::BreakerChange {
                call: e.call,
                at_us: t.at.0,
                from: t.from,
                to: t.to,
            });
        }
        e.transitions_seen = b.transitions().len();
    }

    /// The breaker's automatic open -> half-open transition shows without a call.
    pub(super) fn observe_breakers(&mut self, now: Time) {
        self.clock_now = now.0;
        for i in 0..self.edges.len() {
            if let Some(b) = self.edges[i].breaker.as_mut() {
                b.state(now);
            }
            self.sync_breaker(i);
        }
    }
}

impl Job {
    fn new(origin: Origin, arrived_us: u64, deadline: Option<u64>) -> Job {
        Job { origin, arrived_us, deadline, work_done: false, calls_left: 0, failed: false, degraded: false }
    }
}
