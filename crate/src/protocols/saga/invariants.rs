//! The Saga's guarantees, checked after every step over live and crashed nodes (a crashed
//! node's disk still counts: a step it applied stays applied). Garcia-Molina and Salem (§1)
//! promise that a saga runs either T1..Tn or T1..Tj then Cj..C1; the four invariants below
//! are that promise taken apart. There is deliberately no isolation invariant: a read that
//! sees a step's value which is later compensated is the lesson of the tour, not a breach.
//!
//! Each check reads only what the nodes appended to their logs since the last look (the
//! participants' step events first, then the orchestrator's saga log, so that a step is known
//! before the end of its saga), so a check costs the new events, not all sagas.

use super::Saga;
use super::disk::{Disk, LogEvent};
use crate::protocols::txn::DecisionWatch;
use crate::sim::ids::NodeId;
use crate::sim::protocol::{Decision, InvariantInfo, Invariants, NodeRef, Violation};
use crate::sim::time::Time;
use std::collections::BTreeMap;

const COMPENSATION: &str = "Saga Compensation";
const COMPLETION: &str = "Saga Completion";
const REVERSE: &str = "Reverse Compensation Order";
const OUTCOME: &str = "Saga Outcome";

static LIST: &[InvariantInfo] = &[
    InvariantInfo {
        name: COMPENSATION,
        source: "Garcia-Molina & Salem, Sagas (1987) §1",
        statement: "Every saga that ends compensated has every step that was applied compensated: no participant still holds one of its steps applied.",
    },
    InvariantInfo {
        name: COMPLETION,
        source: "Garcia-Molina & Salem, Sagas (1987) §1",
        statement: "A completed saga has every step applied, and none compensated.",
    },
    InvariantInfo {
        name: REVERSE,
        source: "Garcia-Molina & Salem, Sagas (1987) §1 (T1..Tj then Cj..C1)",
        statement: "Compensations run in reverse order of the steps: no step is compensated while a later step of its saga is still applied, and the orchestrator logs them counting down.",
    },
    InvariantInfo {
        name: OUTCOME,
        source: "Richardson, microservices.io Saga pattern; TCommit's TCConsistent",
        statement: "No node's final part says commit (completed) for a saga another says abort (compensated).",
    },
];

/// What the checker knows of one saga.
#[derive(Clone, Debug, Default)]
struct SagaFacts {
    /// Step → is it applied and not compensated now (at whichever participant ran it).
    applied: BTreeMap<u32, bool>,
    /// How it ended, in the orchestrator's log.
    ended: Option<Decision>,
    steps: u32,
    /// The last compensation the orchestrator logged.
    last_compensated: Option<u32>,
}

#[derive(Clone, Debug, Default)]
pub struct SagaInvariants {
    watch: DecisionWatch,
    read_steps: BTreeMap<NodeId, usize>,
    read_log: BTreeMap<NodeId, usize>,
    sagas: BTreeMap<String, SagaFacts>,
}

fn disk<'a>(n: &NodeRef<'a, Saga>) -> Option<&'a Disk> {
    n.live.map(|p| p.disk()).or(n.durable)
}

impl Invariants<Saga> for SagaInvariants {
    fn list() -> &'static [InvariantInfo] {
        LIST
    }

    fn check(&mut self, nodes: &[NodeRef<'_, Saga>], _now: Time, out: &mut Vec<Violation>) {
        for n in nodes {
            let Some(d) = disk(n) else { continue };
            self.read_step_events(n.id, d, out);
        }
        for n in nodes {
            let Some(d) = disk(n) else { continue };
            self.read_saga_log(n.id, d, out);
            self.watch.check(OUTCOME, n.id, &d.decisions, out);
        }
    }
}

impl SagaInvariants {
    fn read_step_events(&mut self, node: NodeId, d: &Disk, out: &mut Vec<Violation>) {
        let from = self.read_steps.get(&node).copied().unwrap_or(0).min(d.step_log.len());
        for e in &d.step_log[from..] {
            let facts = self.sagas.entry(e.saga.clone()).or_default();
            if e.applied {
                facts.applied.insert(e.step, true);
                if facts.ended == Some(Decision::Abort) {
                    out.push(Violation {
                        invariant: COMPENSATION,
                        detail: format!(
                            "{node} applied step {} of saga {} after the saga ended compensated",
                            e.step, e.saga
                        ),
                    });
                }
                continue;
            }
            facts.applied.insert(e.step, false);
            if let Some((later, _)) = facts.applied.range(e.step.saturating_add(1)..).find(|(_, standing)| **standing) {
                out.push(Violation {
                    invariant: REVERSE,
                    detail: format!(
                        "{node} compensated step {} of saga {} while its step {later} was still applied",
                        e.step, e.saga
                    ),
                });
            }
            if facts.ended == Some(Decision::Commit) {
                out.push(Violation {
                    invariant: COMPLETION,
                    detail: format!("{node} compensated step {} of saga {}, which had completed", e.step, e.saga),
                });
            }
        }
        self.read_steps.insert(node, d.step_log.len());
    }

    fn read_saga_log(&mut self, node: NodeId, d: &Disk, out: &mut Vec<Violation>) {
        let from = self.read_log.get(&node).copied().unwrap_or(0).min(d.log.len());
        for e in &d.log[from..] {
            let facts = self.sagas.entry(e.saga.clone()).or_default();
            match &e.event {
                LogEvent::Started { steps } => facts.steps = *steps,
                LogEvent::StepCompensated { step } => {
                    if let Some(last) = facts.last_compensated
                        && *step >= last
                    {
                        out.push(Violation {
                            invariant: REVERSE,
                            detail: format!(
                                "{node} logged step {step} of saga {} compensated after step {last}",
                                e.saga
                            ),
                        });
                    }
                    facts.last_compensated = Some(*step);
                }
                LogEvent::Completed => {
                    facts.ended = Some(Decision::Commit);
                    let standing = facts.applied.values().filter(|s| **s).count() as u32;
                    let compensated = facts.applied.values().filter(|s| !**s).count();
                    if standing != facts.steps || compensated > 0 {
                        out.push(Violation {
                            invariant: COMPLETION,
                            detail: format!(
                                "saga {} completed with {standing} of its {} steps applied and {compensated} compensated",
                                e.saga, facts.steps
                            ),
                        });
                    }
                }
                LogEvent::Compensated => {
                    facts.ended = Some(Decision::Abort);
                    let standing: Vec<String> =
                        facts.applied.iter().filter(|(_, s)| **s).map(|(step, _)| step.to_string()).collect();
                    if !standing.is_empty() {
                        out.push(Violation {
                            invariant: COMPENSATION,
                            detail: format!(
                                "saga {} ended compensated, but its step(s) {} are still applied",
                                e.saga,
                                standing.join(", ")
                            ),
                        });
                    }
                }
                LogEvent::StepDone { .. } | LogEvent::Compensating { .. } => {}
            }
        }
        self.read_log.insert(node, d.log.len());
    }
}
