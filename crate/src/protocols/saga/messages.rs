//! The Saga's wire messages and timers. Garcia-Molina and Salem name a saga's pieces
//! *transactions* T1..Tn and *compensating transactions* C1..Cn; the orchestrator asks a
//! participant to run one of each with `Step` and `Compensate`, and tells it how the saga ended
//! with `Finish`.

use crate::sim::protocol::{Decision, Message};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum SagaMsg {
    /// Orchestrator → the key's owner: run step `step` (T_step, numbered from 1) of `saga`,
    /// the local transaction that writes `key` = `value`.
    Step {
        saga: String,
        step: u32,
        key: String,
        value: String,
    },
    /// The step's local transaction committed at the participant.
    StepDone {
        saga: String,
        step: u32,
    },
    /// The step's local transaction failed and changed nothing.
    StepFailed {
        saga: String,
        step: u32,
        reason: String,
    },
    /// Orchestrator → owner: run C_step, the compensation of step `step`, which wrote
    /// `key` = `value`. Idempotent, and harmless if the step never ran.
    Compensate {
        saga: String,
        step: u32,
        key: String,
        value: String,
    },
    /// The compensation is done (or had nothing to undo).
    Compensated {
        saga: String,
        step: u32,
    },
    /// The saga ended: `commit` (completed) or `abort` (compensated). The participant's part is
    /// final from here.
    Finish {
        saga: String,
        decision: Decision,
    },
    FinishAck {
        saga: String,
    },
}

impl Message for SagaMsg {
    fn label(&self) -> &'static str {
        match self {
            SagaMsg::Step { .. } => "Step",
            SagaMsg::StepDone { .. } => "StepDone",
            SagaMsg::StepFailed { .. } => "StepFailed",
            SagaMsg::Compensate { .. } => "Compensate",
            SagaMsg::Compensated { .. } => "Compensated",
            SagaMsg::Finish { .. } => "Finish",
            SagaMsg::FinishAck { .. } => "FinishAck",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum SagaTimer {
    /// The orchestrator gave step `step` of `saga` this long to answer; past it, the step
    /// counts as failed (and may have run, so it is compensated too).
    StepTimeout { saga: String, step: u32 },
    /// Resend what the saga is waiting for: the current compensation, or the `Finish` notices
    /// not yet acknowledged. Compensations cannot fail, so they are retried until acknowledged.
    Retry { saga: String },
}
