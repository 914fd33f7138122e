//! The orchestrator's side (n1): start a saga per client transaction, run its steps one at a
//! time, turn to compensation on a failure and run the compensations backwards, each retried
//! until acknowledged, log every move, and resume from the log after a crash.

use super::Saga;
use super::disk::{LogEvent, Phase, SagaRun};
use super::messages::{SagaMsg, SagaTimer};
use crate::protocols::txn::{self, COORDINATOR};
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::{Ctx, Decision};
use crate::workload::op::{Reply, Write};
use std::collections::BTreeSet;

impl Saga {
    /// A transaction from a client: start its saga, or answer a retry from the log.
    pub(crate) fn begin(
        &mut self,
        client: ClientId,
        seq: u64,
        writes: Vec<Write>,
        deadline_us: u64,
        ctx: &mut Ctx<'_, Self>,
    ) {
        let id = txn::txn_id(client, seq);
        if let Some(s) = self.disk.sagas.get(&id) {
            // A retry names the same saga: answer from the log, or stay silent while it runs.
            match s.phase {
                Phase::Completed => ctx.reply(client, seq, Reply::Done { value: None }),
                Phase::Compensated => ctx.reply(client, seq, rejected(s)),
                _ => {}
            }
            return;
        }
        if ctx.now().0 > deadline_us {
            return;
        }
        let now = ctx.now().0;
        let steps = writes.len() as u32;
        ctx.note(format!(
            "n1 starts saga {id}: {} step{}, {}",
            steps,
            if steps == 1 { "" } else { "s" },
            writes.iter().map(|w| format!("{}={}", w.key, w.value)).collect::<Vec<_>>().join(" then ")
        ));
        self.disk.sagas.insert(
            id.clone(),
            SagaRun {
                client,
                seq,
                steps: writes,
                phase: Phase::Running,
                done: 0,
                failed: None,
                reason: None,
                next_compensation: 0,
                finish_pending: BTreeSet::new(),
                since_us: now,
                decided_us: None,
            },
        );
        self.disk.saga_order.push(id.clone());
        self.disk.log(now, &id, LogEvent::Started { steps });
        self.next_step(&id, ctx);
    }

    /// Sends the next step, or completes the saga when every step is done.
    fn next_step(&mut self, id: &str, ctx: &mut Ctx<'_, Self>) {
        let Some(s) = self.disk.sagas.get(id) else { return };
        let step = s.done + 1;
        let Some(w) = s.write(step).cloned() else {
            self.finish(id, Decision::Commit, ctx);
            return;
        };
        let owner = txn::owner(&w.key, self.nodes);
        ctx.send(owner, SagaMsg::Step { saga: id.to_string(), step, key: w.key, value: w.value });
        ctx.set_timer(self.params.step_timeout_ms * 1000, SagaTimer::StepTimeout { saga: id.to_string(), step });
    }

    pub(crate) fn on_step_done(&mut self, from: NodeId, id: String, step: u32, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now().0;
        let Some(s) = self.disk.sagas.get_mut(&id) else { return };
        // Only the answer to the step in flight moves the saga; a late or duplicate one is news
        // of a step already settled one way or the other.
        if s.phase != Phase::Running || step != s.done + 1 {
            return;
        }
        s.done = step;
        let total = s.steps.len();
        ctx.cancel_timer(SagaTimer::StepTimeout { saga: id.clone(), step });
        ctx.note(format!("{from} did step {step} of {total} of saga {id}"));
        self.disk.log(now, &id, LogEvent::StepDone { step });
        self.next_step(&id, ctx);
    }

    pub(crate) fn on_step_failed(
        &mut self,
        from: NodeId,
        id: String,
        step: u32,
        reason: String,
        ctx: &mut Ctx<'_, Self>,
    ) {
        let Some(s) = self.disk.sagas.get(&id) else { return };
        if s.phase != Phase::Running || step != s.done + 1 {
            return;
        }
        ctx.cancel_timer(SagaTimer::StepTimeout { saga: id.clone(), step });
        ctx.note(format!("step {step} of saga {id} failed at {from} ({reason}): it changed nothing"));
        self.compensate_from(&id, step, false, reason, ctx);
    }

    pub(crate) fn on_step_timeout(&mut self, id: String, step: u32, ctx: &mut Ctx<'_, Self>) {
        let Some(s) = self.disk.sagas.get(&id) else { return };
        if s.phase != Phase::Running || step != s.done + 1 {
            return;
        }
        let owner = s.write(step).map_or(COORDINATOR, |w| txn::owner(&w.key, self.nodes));
        ctx.note(format!(
            "step {step} of saga {id} got no answer from {owner} in time: it counts as failed, and since it may have run, it is compensated too"
        ));
        self.compensate_from(&id, step, true, format!("step {step} timed out at {owner}"), ctx);
    }

    /// Step `failed` failed: log the turn, then compensate backwards from it (if it may have
    /// run) or from the step before it.
    fn compensate_from(&mut self, id: &str, failed: u32, maybe_ran: bool, reason: String, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now().0;
        let Some(s) = self.disk.sagas.get_mut(id) else { return };
        let from = if maybe_ran { failed } else { failed.saturating_sub(1) };
        s.phase = Phase::Compensating;
        s.failed = Some((failed, maybe_ran));
        s.reason = Some(reason);
        s.next_compensation = from;
        self.disk.log(now, id, LogEvent::Compensating { failed, from });
        if from > 0 {
            ctx.note(format!("n1 compensates saga {id} backwards: step {from} first, down to step 1"));
        }
        self.send_compensation(id, ctx);
    }

    /// Sends the compensation the saga is at (retried by `Retry` until acknowledged), or ends
    /// the saga once none is left.
    fn send_compensation(&mut self, id: &str, ctx: &mut Ctx<'_, Self>) {
        let Some(s) = self.disk.sagas.get(id) else { return };
        let step = s.next_compensation;
        let Some(w) = s.write(step).cloned() else {
            self.finish(id, Decision::Abort, ctx);
            return;
        };
        let owner = txn::owner(&w.key, self.nodes);
        ctx.send(owner, SagaMsg::Compensate { saga: id.to_string(), step, key: w.key, value: w.value });
        ctx.set_timer(self.params.retry_ms * 1000, SagaTimer::Retry { saga: id.to_string() });
    }

    pub(crate) fn on_compensated(&mut self, from: NodeId, id: String, step: u32, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now().0;
        let Some(s) = self.disk.sagas.get_mut(&id) else { return };
        if s.phase != Phase::Compensating || step != s.next_compensation || step == 0 {
            return;
        }
        s.next_compensation = step - 1;
        ctx.note(format!("{from} compensated step {step} of saga {id}"));
        self.disk.log(now, &id, LogEvent::StepCompensated { step });
        self.send_compensation(&id, ctx);
    }

    /// The saga ends: log it, tell the client, and tell every participant it involved.
    fn finish(&mut self, id: &str, decision: Decision, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now().0;
        let nodes = self.nodes;
        let Some(s) = self.disk.sagas.get_mut(id) else { return };
        s.phase = if decision == Decision::Commit { Phase::Completed } else { Phase::Compensated };
        s.decided_us = Some(now);
        // Every step that was ever sent: all of them, or those up to the failed one.
        let sent = s.failed.map_or(s.steps.len() as u32, |(k, _)| k);
        s.finish_pending = s.steps.iter().take(sent as usize).map(|w| txn::owner(&w.key, nodes)).collect();
        let (client, seq) = (s.client, s.seq);
        let reply = if decision == Decision::Commit { Reply::Done { value: None } } else { rejected(s) };
        ctx.reply(client, seq, reply);
        let event = if decision == Decision::Commit { LogEvent::Completed } else { LogEvent::Compensated };
        self.disk.log(now, id, event);
        self.disk.decisions.push((id.to_string(), decision));
        ctx.note(match decision {
            Decision::Commit => format!("saga {id} completed: every step is done; {client} is told it succeeded"),
            Decision::Abort => {
                format!("saga {id} is compensated: every step that ran was undone; {client} is told it failed")
            }
        });
        ctx.cancel_timer(SagaTimer::Retry { saga: id.to_string() });
        self.send_finish(id, ctx);
    }

    fn send_finish(&mut self, id: &str, ctx: &mut Ctx<'_, Self>) {
        let Some(s) = self.disk.sagas.get(id) else { return };
        let Some(decision) = s.decision() else { return };
        if s.finish_pending.is_empty() {
            return;
        }
        for n in &s.finish_pending {
            ctx.send(*n, SagaMsg::Finish { saga: id.to_string(), decision });
        }
        ctx.set_timer(self.params.retry_ms * 1000, SagaTimer::Retry { saga: id.to_string() });
    }

    pub(crate) fn on_finish_ack(&mut self, from: NodeId, id: String, ctx: &mut Ctx<'_, Self>) {
        let Some(s) = self.disk.sagas.get_mut(&id) else { return };
        if s.finish_pending.remove(&from) && s.finish_pending.is_empty() {
            ctx.cancel_timer(SagaTimer::Retry { saga: id });
        }
    }

    pub(crate) fn on_retry(&mut self, id: String, ctx: &mut Ctx<'_, Self>) {
        let Some(s) = self.disk.sagas.get(&id) else { return };
        match s.phase {
            Phase::Compensating => self.send_compensation(&id, ctx),
            Phase::Completed | Phase::Compensated => self.send_finish(&id, ctx),
            Phase::Running => {}
        }
    }

    /// After a restart: pick every unfinished saga up where its log left it. A step in flight
    /// is sent again (the participant's record makes that harmless: it answers from it).
    pub(crate) fn recover(&mut self, ctx: &mut Ctx<'_, Self>) {
        let open: Vec<(String, Phase)> = self
            .disk
            .sagas
            .iter()
            .filter(|(_, s)| s.decision().is_none() || !s.finish_pending.is_empty())
            .map(|(id, s)| (id.clone(), s.phase))
            .collect();
        for (id, phase) in open {
            match phase {
                Phase::Running => {
                    ctx.note(format!("n1 resumes saga {id} from its log: it sends the step in flight again"));
                    self.next_step(&id, ctx);
                }
                Phase::Compensating => {
                    ctx.note(format!("n1 resumes compensating saga {id} from its log"));
                    self.send_compensation(&id, ctx);
                }
                Phase::Completed | Phase::Compensated => self.send_finish(&id, ctx),
            }
        }
    }
}

fn rejected(s: &SagaRun) -> Reply {
    Reply::Rejected { reason: format!("saga compensated: {}", s.reason.as_deref().unwrap_or("a step failed")) }
}
