//! The participant's side (n2..nN): run a step as a local transaction that commits at once,
//! run a compensation (idempotent, harmless for a step that never ran), and take the end of a
//! saga as final. Every record is durable, so duplicates and late copies are answered from it.

use super::Saga;
use super::disk::{Part, StepEvent, StepRecord, StepState};
use super::messages::SagaMsg;
use crate::protocols::txn::COORDINATOR;
use crate::sim::protocol::{Ctx, Decision};
use crate::sim::rng::probability_to_ppm;
use std::collections::BTreeSet;

impl Saga {
    fn part(&mut self, saga: &str, step: u32, now: u64) {
        if !self.disk.parts.contains_key(saga) {
            self.disk.part_order.push(saga.to_string());
        }
        let p = self.disk.parts.entry(saga.to_string()).or_insert_with(|| Part {
            steps: BTreeSet::new(),
            since_us: now,
            decision: None,
            decided_us: None,
        });
        p.steps.insert(step);
    }

    /// Runs T_step as a local transaction: it commits at once (no lock, no prepare), so other
    /// clients see its value from here on.
    pub(crate) fn on_step(&mut self, id: String, step: u32, key: String, value: String, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now().0;
        let me = self.id;
        let reply = match self.disk.steps.get(&(id.clone(), step)).map(|r| &r.state) {
            Some(StepState::Applied { .. }) => SagaMsg::StepDone { saga: id, step },
            Some(StepState::Failed { reason }) => SagaMsg::StepFailed { saga: id, step, reason: reason.clone() },
            Some(StepState::Compensated { .. }) => {
                ctx.note(format!("{me} refuses a late copy of step {step} of saga {id}: it was already compensated"));
                SagaMsg::StepFailed { saga: id, step, reason: "already compensated".into() }
            }
            None => {
                self.part(&id, step, now);
                let forced = self.params.fail_keys.contains(&key);
                let by_chance = !forced && ctx.rng().chance(probability_to_ppm(self.params.fail_ratio));
                if forced || by_chance {
                    let reason =
                        if forced { format!("writes to {key} are set to fail") } else { "it failed by chance".into() };
                    ctx.note(format!("{me} cannot do step {step} of saga {id} ({key}={value}): {reason}"));
                    let state = StepState::Failed { reason: reason.clone() };
                    self.disk.steps.insert((id.clone(), step), StepRecord { key, value, state, at_us: now });
                    SagaMsg::StepFailed { saga: id, step, reason }
                } else {
                    let prev = self.disk.store.insert(key.clone(), value.clone());
                    ctx.note(format!(
                        "{me} does step {step} of saga {id}: {key}={value} (was {}), visible to everyone at once",
                        prev.as_deref().unwrap_or("absent")
                    ));
                    self.disk.steps.insert(
                        (id.clone(), step),
                        StepRecord { key, value, state: StepState::Applied { prev }, at_us: now },
                    );
                    self.disk.step_log.push(StepEvent { at_us: now, saga: id.clone(), step, applied: true });
                    SagaMsg::StepDone { saga: id, step }
                }
            }
        };
        ctx.send(COORDINATOR, reply);
    }

    /// Runs C_step: put back the value step `step` overwrote, if the key still holds the
    /// step's value. Idempotent, and a step that never ran leaves a record that keeps a late
    /// copy of it from running.
    pub(crate) fn on_compensate(&mut self, id: String, step: u32, key: String, value: String, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now().0;
        let me = self.id;
        self.part(&id, step, now);
        let k = (id.clone(), step);
        match self.disk.steps.get(&k).map(|r| r.state.clone()) {
            Some(StepState::Applied { prev }) => {
                let holds = self.disk.store.get(&key) == Some(&value);
                if holds {
                    match &prev {
                        Some(p) => self.disk.store.insert(key.clone(), p.clone()),
                        None => self.disk.store.remove(&key),
                    };
                    ctx.note(format!(
                        "{me} compensates step {step} of saga {id}: {key} goes back from {value} to {}",
                        prev.as_deref().unwrap_or("absent")
                    ));
                } else {
                    // A later step overwrote this one's value and remembered it as what to put
                    // back. Splice this step out of the key's chain: that later step now
                    // remembers what this one overwrote, so undoing it later cannot bring back
                    // the value of a saga that was compensated. (Values are unique, so the
                    // value names the step that overwrote it.)
                    for r in self.disk.steps.values_mut() {
                        if r.key == key
                            && let StepState::Applied { prev: later } = &mut r.state
                            && later.as_deref() == Some(value.as_str())
                        {
                            *later = prev.clone();
                        }
                    }
                    ctx.note(format!(
                        "{me} compensates step {step} of saga {id}, but {key} no longer holds {value} (a later write superseded it): it leaves {key} alone, and that write's effect stands; undoing that write would now restore {}",
                        prev.as_deref().unwrap_or("absent")
                    ));
                }
                if let Some(r) = self.disk.steps.get_mut(&k) {
                    r.state = StepState::Compensated { applied: true, restored: holds };
                }
                self.disk.step_log.push(StepEvent { at_us: now, saga: id.clone(), step, applied: false });
            }
            Some(StepState::Compensated { .. }) | Some(StepState::Failed { .. }) => {}
            None => {
                ctx.note(format!(
                    "{me} never ran step {step} of saga {id}: nothing to undo, but it records the compensation so a late copy of the step will not run"
                ));
                let state = StepState::Compensated { applied: false, restored: false };
                self.disk.steps.insert(k, StepRecord { key, value, state, at_us: now });
            }
        }
        ctx.send(COORDINATOR, SagaMsg::Compensated { saga: id, step });
    }

    pub(crate) fn on_finish(&mut self, id: String, decision: Decision, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now().0;
        if let Some(p) = self.disk.parts.get_mut(&id)
            && p.decision.is_none()
        {
            p.decision = Some(decision);
            p.decided_us = Some(now);
            self.disk.decisions.push((id.clone(), decision));
        }
        ctx.send(COORDINATOR, SagaMsg::FinishAck { saga: id });
    }
}
