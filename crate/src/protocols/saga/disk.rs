//! What a Saga node keeps on disk: the orchestrator's saga log and its record of each saga,
//! the participant's store, step records and step events, and every decision. A crash loses
//! nothing of it; the page, the summary and the invariants all read it.

use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::{Decision, TxnRecord};
use crate::workload::op::Write;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Where a saga is, in the orchestrator's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Running,
    Compensating,
    /// Every step done: the saga committed.
    Completed,
    /// Every step that may have run was compensated: the saga aborted.
    Compensated,
}

impl Phase {
    pub fn word(self) -> &'static str {
        match self {
            Phase::Running => "running",
            Phase::Compensating => "compensating",
            Phase::Completed => "completed",
            Phase::Compensated => "compensated",
        }
    }
}

/// The orchestrator's record of one saga.
#[derive(Clone, Debug, Serialize)]
pub struct SagaRun {
    pub client: ClientId,
    pub seq: u64,
    /// Step i (from 1) is `steps[i - 1]`, run at the key's owner.
    pub steps: Vec<Write>,
    pub phase: Phase,
    /// Steps 1..=done are done.
    pub done: u32,
    /// The step that failed, and whether it may have run anyway (it did not answer in time).
    pub failed: Option<(u32, bool)>,
    pub reason: Option<String>,
    /// While compensating: the next step to compensate, counting down; 0 when none is left.
    pub next_compensation: u32,
    /// Participants not yet acknowledging the `Finish` notice.
    pub finish_pending: BTreeSet<NodeId>,
    pub since_us: u64,
    pub decided_us: Option<u64>,
}

impl SagaRun {
    pub(crate) fn write(&self, step: u32) -> Option<&Write> {
        self.steps.get((step as usize).checked_sub(1)?)
    }

    pub(crate) fn decision(&self) -> Option<Decision> {
        match self.phase {
            Phase::Completed => Some(Decision::Commit),
            Phase::Compensated => Some(Decision::Abort),
            _ => None,
        }
    }
}

/// One entry of the orchestrator's durable saga log (Garcia-Molina & Salem §5: the saga
/// execution component logs begin-saga, each transaction's end, and end-saga).
#[derive(Clone, Debug, Serialize)]
pub struct LogEntry {
    pub at_us: u64,
    pub saga: String,
    pub event: LogEvent,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogEvent {
    Started {
        steps: u32,
    },
    StepDone {
        step: u32,
    },
    /// Step `failed` failed; compensation starts at `from` (the failed step itself when it may
    /// have run, else the step before it).
    Compensating {
        failed: u32,
        from: u32,
    },
    StepCompensated {
        step: u32,
    },
    Completed,
    Compensated,
}

/// A participant's record of one step it was asked to run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepRecord {
    pub key: String,
    pub value: String,
    pub state: StepState,
    pub at_us: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum StepState {
    /// Applied; `prev` is the value it overwrote (`None`: the key was absent).
    Applied { prev: Option<String> },
    /// Its local transaction failed: nothing was written.
    Failed { reason: String },
    /// Compensated. `applied`: the step had run (otherwise this record only keeps a late copy
    /// of the step from running). `restored`: the old value was put back (otherwise a later
    /// write had superseded the step's value, and it was left alone).
    Compensated { applied: bool, restored: bool },
}

/// What a participant did to a step, in order, for the invariant checker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepEvent {
    pub at_us: u64,
    pub saga: String,
    pub step: u32,
    /// `true`: applied; `false`: compensated after it had been applied.
    pub applied: bool,
}

/// A participant's part in one saga.
#[derive(Clone, Debug, Serialize)]
pub struct Part {
    pub steps: BTreeSet<u32>,
    pub since_us: u64,
    pub decision: Option<Decision>,
    pub decided_us: Option<u64>,
}

/// Everything a node keeps on disk. (Not `Serialize`: `steps` is keyed by a pair, which JSON
/// cannot; the inspector lists the steps instead.)
#[derive(Clone, Debug, Default)]
pub struct Disk {
    // The orchestrator's side.
    pub sagas: BTreeMap<String, SagaRun>,
    pub saga_order: Vec<String>,
    pub log: Vec<LogEntry>,
    // The participant's side.
    pub store: BTreeMap<String, String>,
    pub steps: BTreeMap<(String, u32), StepRecord>,
    pub step_log: Vec<StepEvent>,
    pub parts: BTreeMap<String, Part>,
    pub part_order: Vec<String>,
    /// Every decision this node reached, append-only (for `txn::DecisionWatch`).
    pub decisions: Vec<(String, Decision)>,
}

impl Disk {
    pub(crate) fn log(&mut self, at_us: u64, saga: &str, event: LogEvent) {
        self.log.push(LogEntry { at_us, saga: saga.to_string(), event });
    }

    /// The node's transactions as the page and the summary see them: the sagas it orchestrates,
    /// then its parts in others, each oldest first.
    pub fn records(&self) -> Vec<TxnRecord> {
        let mut out = Vec::new();
        for id in &self.saga_order {
            if let Some(s) = self.sagas.get(id) {
                out.push(TxnRecord {
                    txn: id.clone(),
                    role: "orchestrator",
                    state: s.phase.word(),
                    vote: None,
                    decision: s.decision(),
                    since_us: s.since_us,
                    uncertain_us: None,
                    decided_us: s.decided_us,
                    locks: Vec::new(),
                });
            }
        }
        for id in &self.part_order {
            if let Some(p) = self.parts.get(id) {
                out.push(TxnRecord {
                    txn: id.clone(),
                    role: "participant",
                    state: self.part_state(id, p),
                    vote: None,
                    decision: p.decision,
                    since_us: p.since_us,
                    uncertain_us: None,
                    decided_us: p.decided_us,
                    locks: Vec::new(),
                });
            }
        }
        out
    }

    /// A participant's part in one word: `applied` while any of its steps stands, then
    /// `compensated`, `failed` or `skipped` (compensated before it ever ran).
    fn part_state(&self, saga: &str, p: &Part) -> &'static str {
        let states: Vec<&StepState> =
            p.steps.iter().filter_map(|s| self.steps.get(&(saga.to_string(), *s))).map(|r| &r.state).collect();
        if states.iter().any(|s| matches!(s, StepState::Applied { .. })) {
            "applied"
        } else if states.iter().any(|s| matches!(s, StepState::Compensated { applied: true, .. })) {
            "compensated"
        } else if states.iter().any(|s| matches!(s, StepState::Failed { .. })) {
            "failed"
        } else {
            "skipped"
        }
    }

    pub fn decided(&self) -> u64 {
        self.decisions.len() as u64
    }
}
