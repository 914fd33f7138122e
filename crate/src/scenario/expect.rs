//! What a scenario promises about its run, checked by `caplab check` and the tests: "a single
//! leader among these nodes by 2 s", "the history is linearizable", "no invariant violated".

use super::Scenario;
use crate::sim::dynamic::Simulation;
use crate::sim::ids::{ClientId, NodeId};
use crate::workload::history::{OpKind, Outcome};
use serde::{Deserialize, Serialize};

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "expect", rename_all = "snake_case", deny_unknown_fields)]
pub enum Expectation {
    /// No invariant was violated during the whole run.
    NoViolations,
    /// This invariant was violated at some point (for lessons that break a protocol on purpose).
    Violation { invariant: String },
    /// The history is linearizable (`"value": false`: it is not).
    Linearizable {
        #[serde(default = "yes")]
        value: bool,
    },
    /// At `by_ms`, exactly one running node among `among` (default: all) believes it leads.
    SingleLeader {
        by_ms: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        among: Option<Vec<NodeId>>,
    },
    /// At `at_ms`, `node` has this role (`leader`, `follower`, `crashed`, ...) and, if given, term.
    Role {
        node: NodeId,
        role: String,
        at_ms: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        term: Option<u64>,
    },
    /// The number of operations matching every given field is at least `min` (default 1) and at
    /// most `max` (if given), at the end of the run.
    Ops {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<ClientId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        op: Option<OpKind>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outcome: Option<Outcome>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<usize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<usize>,
    },
}

/// How one expectation fared.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExpectResult {
    pub expect: String,
    pub ok: bool,
    pub detail: String,
}

impl Expectation {
    pub fn validate(&self, s: &Scenario) -> Result<(), String> {
        let node = |n: &NodeId| {
            if n.0 >= s.nodes { Err(format!("node {n} does not exist (nodes are n1..n{})", s.nodes)) } else { Ok(()) }
        };
        let time = |t: f64| {
            if !t.is_finite() || t < 0.0 || t > s.duration_ms as f64 {
                Err(format!("time {t} ms is outside the run (0 to {} ms)", s.duration_ms))
            } else {
                Ok(())
            }
        };
        match self {
            Expectation::SingleLeader { by_ms, among } => {
                time(*by_ms)?;
                among.iter().flatten().try_for_each(node)
            }
            Expectation::Role { node: n, at_ms, .. } => {
                node(n)?;
                time(*at_ms)
            }
            Expectation::Ops { client: Some(c), .. } if c.0 >= s.clients => {
                Err(format!("client {c} does not exist (the scenario has {} clients)", s.clients))
            }
            Expectation::Ops { min: Some(lo), max: Some(hi), .. } if lo > hi => {
                Err(format!("min {lo} is above max {hi}"))
            }
            _ => Ok(()),
        }
    }

    /// The virtual time at which this expectation is judged, if not at the end of the run.
    pub fn at_ms(&self) -> Option<f64> {
        match self {
            Expectation::SingleLeader { by_ms, .. } => Some(*by_ms),
            Expectation::Role { at_ms, .. } => Some(*at_ms),
            _ => None,
        }
    }

    pub fn describe(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Judges the expectation against the simulation as it is now. `linearizable` is the
    /// checker's verdict on the history, computed once by the caller.
    pub fn judge(&self, sim: &dyn Simulation, linearizable: Option<bool>) -> ExpectResult {
        let (ok, detail) = match self {
            Expectation::NoViolations => {
                let v = sim.violations();
                let detail = v.iter().map(|v| format!("{}: {}", v.invariant, v.detail)).collect::<Vec<_>>().join("; ");
                (v.is_empty(), if v.is_empty() { "no invariant was violated".into() } else { detail })
            }
            Expectation::Violation { invariant } => {
                let hit = sim.violations().iter().find(|v| v.invariant == invariant);
                match hit {
                    Some(v) => (true, format!("violated at {} ms: {}", v.at_us as f64 / 1000.0, v.detail)),
                    None => (false, format!("{invariant} was never violated")),
                }
            }
            Expectation::Linearizable { value } => match linearizable {
                Some(l) => (l == *value, format!("the history is {}linearizable", if l { "" } else { "not " })),
                None => (false, "the checker could not decide within its budget".into()),
            },
            Expectation::SingleLeader { among, .. } => {
                let views = sim.node_views();
                let leaders: Vec<&str> = views
                    .iter()
                    .enumerate()
                    .filter(|(i, v)| {
                        v.role == "leader" && among.as_ref().is_none_or(|a| a.contains(&NodeId(*i as u16)))
                    })
                    .map(|(_, v)| v.id.as_str())
                    .collect();
                (leaders.len() == 1, format!("leaders: [{}]", leaders.join(", ")))
            }
            Expectation::Role { node, role, term, .. } => match sim.node_views().get(node.index()) {
                Some(v) => {
                    let ok = &v.role == role && term.is_none_or(|t| t == v.view.term);
                    (ok, format!("{node} is {} in term {}", v.role, v.view.term))
                }
                None => (false, format!("node {node} does not exist")),
            },
            Expectation::Ops { client, op, key, value, outcome, min, max } => {
                let n = sim
                    .history()
                    .entries()
                    .iter()
                    .enumerate()
                    .filter(|(i, e)| {
                        client.is_none_or(|c| c == e.client)
                            && op.is_none_or(|o| o == e.op)
                            && key.as_ref().is_none_or(|k| *k == e.key)
                            && value.as_ref().is_none_or(|v| Some(v) == e.value.as_ref())
                            && outcome.is_none_or(|o| o == e.outcome && !sim.history().is_open(*i))
                    })
                    .count();
                let lo = min.unwrap_or(1);
                (n >= lo && max.is_none_or(|hi| n <= hi), format!("{n} matching operations"))
            }
        };
        ExpectResult { expect: self.describe(), ok, detail }
    }
}
