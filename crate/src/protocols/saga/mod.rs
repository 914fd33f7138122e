//! # Saga: a long transaction as a chain of local transactions, undone by compensation
//!
//! H. Garcia-Molina and K. Salem ("Sagas", SIGMOD 1987) split a long-lived transaction into
//! a sequence of local transactions T1, T2, ..., Tn, each with a *compensating transaction*
//! Ci that semantically undoes Ti. The system guarantees that either T1..Tn all run (the saga
//! completes) or T1..Tj followed by Cj..C1 run (the saga is compensated): §1, "backward
//! recovery". Each Ti commits on its own as soon as it runs, so a saga holds no lock across
//! its steps and never blocks; the price is isolation. Other transactions see T1's effect
//! while T2 is still running, and may act on a value that a compensation later takes away.
//! C. Richardson's microservices.io "Saga" pattern calls this the lack of isolation and lists
//! its anomalies (lost updates, dirty reads, fuzzy reads) and countermeasures such as
//! *semantic locks*; this implementation has none, on purpose: the tour shows the anomaly.
//!
//! **Orchestration** (Richardson's orchestration variant; the paper's saga execution
//! component, §5). Node n1, the *orchestrator*, runs every saga; n2..nN are *participants*,
//! each the home of some keys (`txn::owner`). A client's transaction becomes a saga with one
//! step per write, in the order of the writes: step i writes one key at its owner, which
//! applies it at once, remembering the value it overwrote. The orchestrator sends step i+1
//! only after step i is done.
//!
//! **Failure.** A step fails when its participant refuses it (by chance, `fail_ratio`, or
//! because its key is in `fail_keys`, the scenario's way to force a failure) or does not
//! answer within `step_timeout_ms`. A refused step changed nothing; a step that timed out *may*
//! have run (the request or only the answer may have been lost or held up), so it is
//! compensated too. Compensation goes backwards: the failed step (if it may have run), then
//! the step before it, down to step 1, one at a time, each retried every `retry_ms` until
//! acknowledged, across crashes and partitions: the paper's compensations cannot fail, they
//! can only be retried.
//!
//! **Compensation semantics** (our choice, documented because it is where the anomaly
//! shows). Ci puts back the value Ti overwrote, *but only if the key still holds Ti's value*.
//! If a later write (another saga's step, or any write) has replaced it, Ci leaves the key
//! alone and says so in the event log: blindly restoring would wipe out that later write, and
//! leaving it means the compensated saga's effect is gone but the later writer's stands, which
//! may have been based on a value that "never happened". Either way isolation is lost; with no
//! semantic lock this is the classic saga lost-update anomaly, visible on the page.
//!
//! **Idempotence.** A participant keeps a durable record per step it was asked to run
//! (`applied` with the old value, `failed`, or `compensated`). A duplicate step is answered
//! from it; a duplicate compensation does nothing; a compensation of a step it never ran
//! records `compensated` anyway, so a late copy of that step (delayed by a partition or a
//! paused node) is refused instead of applied after its saga was undone.
//!
//! **The saga log.** The orchestrator logs, durably, begin-saga, each step done, the turn to
//! compensation, each step compensated, and the end (completed or compensated), as §5 asks.
//! After a crash it resumes every open saga from that log: a running saga sends its step in
//! flight again (the participant answers from its record if it had run it), a compensating one
//! sends its next compensation again. Participants' stores and step records are durable too.
//!
//! **Clients.** A transaction (or a put, a one-step saga) goes to n1; others redirect there.
//! The client gets `Done` when every step is done (decision commit), `Rejected` when every
//! step that ran has been compensated (decision abort), and nothing in between: a retry of the
//! same request is answered from the log. A get is served by the key's owner at once, with
//! whatever value it holds, including one a running saga wrote and may yet compensate.
//! After a saga ends, the orchestrator tells each participant it involved (`Finish`, retried
//! until acknowledged), which makes the participant's part final. Nobody ever waits on a lock,
//! so `uncertain_us` is always empty: a saga never blocks.
//!
//! Invariants (`invariants.rs`): every compensated saga has every applied step compensated;
//! a completed saga has every step applied and none compensated; compensations run in reverse
//! order; no participant's outcome contradicts the orchestrator's. There is deliberately no
//! isolation invariant, and `caplab fuzz` does not demand a linearizable history.

mod disk;
mod invariants;
mod messages;
mod orchestrator;
mod participant;

pub use disk::{Disk, LogEntry, LogEvent, Part, Phase, SagaRun, StepEvent, StepRecord, StepState};
pub use invariants::SagaInvariants;
pub use messages::{SagaMsg, SagaTimer};

use crate::protocols::txn::{self, COORDINATOR};
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::{Ctx, NodeStatus, NodeView, Protocol};
use crate::workload::op::{Op, Reply, Request, Write};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SagaParams {
    /// How long the orchestrator waits for a step's answer before counting it failed.
    pub step_timeout_ms: u64,
    /// How often an unacknowledged compensation or end-of-saga notice is sent again.
    pub retry_ms: u64,
    /// The chance (0 to 1) that a participant's local transaction fails.
    pub fail_ratio: f64,
    /// Keys whose steps always fail at their participant (a scenario's forced failure).
    pub fail_keys: Vec<String>,
}

impl Default for SagaParams {
    fn default() -> Self {
        SagaParams { step_timeout_ms: 300, retry_ms: 150, fail_ratio: 0.0, fail_keys: Vec::new() }
    }
}

/// Parameters for one fuzz run: failures by chance or not, short or long timeouts.
pub fn fuzz_params(rng: &mut crate::sim::rng::SimRng) -> serde_json::Value {
    let fail_ratio = [0.0, 0.1, 0.3][rng.index(3)];
    let step_timeout_ms = [100, 300, 600][rng.index(3)];
    let retry_ms = [50, 150][rng.index(2)];
    let fail_keys: Vec<&str> = if rng.chance(200_000) { vec!["z"] } else { Vec::new() };
    serde_json::json!({
        "fail_ratio": fail_ratio,
        "step_timeout_ms": step_timeout_ms,
        "retry_ms": retry_ms,
        "fail_keys": fail_keys,
    })
}

#[derive(Clone, Debug)]
pub struct Saga {
    pub(crate) id: NodeId,
    pub(crate) nodes: u16,
    pub(crate) params: SagaParams,
    pub(crate) disk: Disk,
}

impl Saga {
    /// The node's durable state (its saga log, store and step records).
    pub fn disk(&self) -> &Disk {
        &self.disk
    }

    fn role(&self) -> &'static str {
        if self.id == COORDINATOR { "orchestrator" } else { "participant" }
    }
}

fn view(disk: &Disk, role: &str) -> NodeView {
    NodeView {
        role: role.to_string(),
        term: 0,
        leader: Some(COORDINATOR),
        log_terms: Vec::new(),
        commit_index: disk.decided(),
        store: disk.store.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        txns: disk.records(),
    }
}

impl Protocol for Saga {
    const NAME: &'static str = "saga";
    type Msg = SagaMsg;
    type Timer = SagaTimer;
    type Durable = Disk;
    type Params = SagaParams;
    type Invariants = SagaInvariants;

    fn validate(p: &SagaParams) -> Result<(), String> {
        crate::sim::protocol::check_timings(&[("step_timeout_ms", p.step_timeout_ms), ("retry_ms", p.retry_ms)])?;
        if !(0.0..=1.0).contains(&p.fail_ratio) {
            return Err(format!("fail_ratio must be from 0 to 1, not {}", p.fail_ratio));
        }
        if let Some(k) = p.fail_keys.iter().find(|k| k.is_empty()) {
            return Err(format!("fail_keys holds an empty key `{k}`"));
        }
        Ok(())
    }

    fn start(id: NodeId, nodes: u16, params: &SagaParams, durable: Option<Disk>, ctx: &mut Ctx<'_, Self>) -> Self {
        let recovering = durable.is_some();
        let mut node = Saga { id, nodes, params: params.clone(), disk: durable.unwrap_or_default() };
        if recovering && id == COORDINATOR {
            node.recover(ctx);
        }
        node
    }

    fn on_message(&mut self, from: NodeId, msg: SagaMsg, ctx: &mut Ctx<'_, Self>) {
        match msg {
            SagaMsg::Step { saga, step, key, value } => self.on_step(saga, step, key, value, ctx),
            SagaMsg::StepDone { saga, step } => self.on_step_done(from, saga, step, ctx),
            SagaMsg::StepFailed { saga, step, reason } => self.on_step_failed(from, saga, step, reason, ctx),
            SagaMsg::Compensate { saga, step, key, value } => self.on_compensate(saga, step, key, value, ctx),
            SagaMsg::Compensated { saga, step } => self.on_compensated(from, saga, step, ctx),
            SagaMsg::Finish { saga, decision } => self.on_finish(saga, decision, ctx),
            SagaMsg::FinishAck { saga } => self.on_finish_ack(from, saga, ctx),
        }
    }

    fn on_timer(&mut self, timer: SagaTimer, ctx: &mut Ctx<'_, Self>) {
        match timer {
            SagaTimer::StepTimeout { saga, step } => self.on_step_timeout(saga, step, ctx),
            SagaTimer::Retry { saga } => self.on_retry(saga, ctx),
        }
    }

    fn on_request(&mut self, client: ClientId, request: Request, ctx: &mut Ctx<'_, Self>) {
        let writes = match request.op {
            Op::Get { key } => {
                let owner = txn::owner(&key, self.nodes);
                let reply = if owner == self.id {
                    Reply::Done { value: self.disk.store.get(&key).cloned() }
                } else {
                    Reply::Redirect { leader: Some(owner) }
                };
                ctx.reply(client, request.seq, reply);
                return;
            }
            Op::Put { key, value } => vec![Write { key, value }],
            Op::Txn { writes } => writes,
        };
        if self.id != COORDINATOR {
            ctx.reply(client, request.seq, Reply::Redirect { leader: Some(COORDINATOR) });
            return;
        }
        self.begin(client, request.seq, writes, request.deadline_us, ctx);
    }

    fn reconfigure(
        current: &SagaParams,
        change: &serde_json::Map<String, serde_json::Value>,
        _nodes: u16,
    ) -> Result<SagaParams, String> {
        let params: SagaParams = crate::sim::protocol::merge_params("saga", current, change)?;
        Self::validate(&params)?;
        Ok(params)
    }

    fn on_configure(&mut self, params: &SagaParams, _ctx: &mut Ctx<'_, Self>) {
        self.params = params.clone();
    }

    fn durable(&self) -> Disk {
        self.disk.clone()
    }

    fn status(&self) -> NodeStatus {
        NodeStatus { role: self.role(), term: 0 }
    }

    fn view(&self) -> NodeView {
        view(&self.disk, self.role())
    }

    fn durable_view(durable: &Disk) -> NodeView {
        view(durable, "crashed")
    }

    fn inspect(&self) -> serde_json::Value {
        let sagas: Vec<_> = self
            .disk
            .saga_order
            .iter()
            .filter_map(|id| self.disk.sagas.get(id).map(|s| serde_json::json!({ "saga": id, "run": s })))
            .collect();
        let steps: Vec<_> = self
            .disk
            .steps
            .iter()
            .map(|((saga, step), r)| serde_json::json!({ "saga": saga, "step": step, "record": r }))
            .collect();
        serde_json::json!({
            "role": self.role(),
            "params": self.params,
            "sagas": sagas,
            "saga_log": self.disk.log,
            "store": self.disk.store,
            "steps": steps,
            "step_log": self.disk.step_log,
            "parts": self.disk.parts,
            "decisions": self.disk.decisions,
            "timers": {
                "StepTimeout": "the orchestrator's wait for the step in flight; past it the step counts as failed (and may have run)",
                "Retry": "resend the current compensation, or the end-of-saga notices not yet acknowledged",
            },
        })
    }
}
