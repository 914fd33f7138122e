//! Running a scenario from start to end, checking its expectations at their times, and the
//! summary that `caplab run --json` prints.

use super::Scenario;
use super::expect::ExpectResult;
use crate::check::{linearizability, metrics};
use crate::protocols;
use crate::sim::dynamic::Simulation;
use crate::sim::time::Time;
use crate::workload::history::Outcome;
use serde::Serialize;

#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Stops early (or later) than the scenario's `duration_ms`.
    /// Milliseconds, fractions allowed (a page's action can happen between two whole ms).
    pub until_ms: Option<f64>,
    /// Keeps every trace event for `--trace`.
    pub record_trace: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct MessageCounts {
    pub sent: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub duplicated: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct OperationCounts {
    pub total: usize,
    pub ok: usize,
    pub fail: usize,
    pub unknown: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub protocol: String,
    pub seed: u64,
    pub end_ms: f64,
    pub events: u64,
    pub messages: MessageCounts,
    pub operations: OperationCounts,
    /// `"ok"`, or the list of violations (first occurrence of each invariant).
    pub invariants: serde_json::Value,
    /// `null` when there are no operations or the checker gave up.
    pub linearizable: Option<bool>,
    /// Reads that returned a value older than one whose write had completed before the read
    /// began (see `check::metrics`).
    pub stale_reads: usize,
    /// Share of finished or given-up operations that succeeded (`unknown` counts as a failure,
    /// operations still in flight do not count); `null` when there is none.
    pub availability: Option<f64>,
    /// Nearest-rank percentiles of the latency of successful operations; `null` when none.
    pub latency_ms: Option<metrics::Latency>,
    pub expect: Vec<ExpectResult>,
    pub trace_hash: String,
}

impl Summary {
    /// Whether the run kept every invariant and met every expectation.
    pub fn passed(&self) -> bool {
        self.expect.iter().all(|e| e.ok)
            && (self.invariants == serde_json::Value::String("ok".into()) || self.expects_violation())
    }

    fn expects_violation(&self) -> bool {
        self.expect.iter().any(|e| e.expect.contains("\"violation\""))
    }

    /// Why the run did not pass, one reason a line.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.expects_violation()
            && let serde_json::Value::Array(list) = &self.invariants
        {
            for v in list {
                out.push(format!(
                    "invariant violated: {} — {}",
                    v["invariant"].as_str().unwrap_or("?"),
                    v["detail"].as_str().unwrap_or("")
                ));
            }
        }
        for e in self.expect.iter().filter(|e| !e.ok) {
            out.push(format!("expectation failed: {} ({})", e.expect, e.detail));
        }
        out
    }
}

pub struct Run {
    pub sim: Box<dyn Simulation>,
    pub summary: Summary,
    /// Every trace event as one JSON object a line, if recorded.
    pub trace: Vec<String>,
}

pub fn run(scenario: &Scenario, opts: &RunOptions) -> Result<Run, super::ScenarioError> {
    let mut sim = protocols::build(scenario, opts.seed)?;
    sim.set_recording(opts.record_trace);
    let end_ms = opts.until_ms.unwrap_or(scenario.duration_ms as f64);
    let end = Time(super::ms_to_us(end_ms));
    let mut trace = Vec::new();
    // Expectations judged mid-run, in time order; those past the end are judged at the end.
    let mut timed: Vec<(usize, u64)> = scenario
        .expect
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.at_ms().map(|t| (i, super::ms_to_us(t).min(end.0))))
        .collect();
    timed.sort_by_key(|(i, t)| (*t, *i));
    let mut results: Vec<Option<ExpectResult>> = vec![None; scenario.expect.len()];
    for (i, t) in timed {
        sim.run_until(Time(t));
        trace.extend(sim.take_events_json());
        results[i] = Some(scenario.expect[i].judge(sim.as_ref(), None));
    }
    sim.run_until(end);
    trace.extend(sim.take_events_json());
    let history = sim.history().entries();
    let linearizable = if history.is_empty() {
        None
    } else {
        linearizability::check(history, &linearizability::CheckOptions::default()).linearizable
    };
    for (i, e) in scenario.expect.iter().enumerate() {
        if results[i].is_none() {
            results[i] = Some(e.judge(sim.as_ref(), linearizable));
        }
    }
    let stats = sim.stats().clone();
    let h = sim.history();
    let m = metrics::of_history(h);
    let violations = sim.violations();
    let invariants = if violations.is_empty() {
        serde_json::Value::String("ok".into())
    } else {
        serde_json::to_value(violations).unwrap_or_default()
    };
    let summary = Summary {
        scenario: scenario.name.clone(),
        protocol: scenario.protocol.clone(),
        seed: sim.seed(),
        end_ms,
        events: stats.steps,
        messages: MessageCounts {
            sent: stats.sent,
            delivered: stats.delivered,
            dropped: stats.dropped,
            duplicated: stats.duplicated,
        },
        operations: OperationCounts {
            total: h.entries().len(),
            ok: h.count(Outcome::Ok),
            fail: h.count(Outcome::Fail),
            unknown: h.entries().len() - h.count(Outcome::Ok) - h.count(Outcome::Fail),
        },
        invariants,
        linearizable,
        stale_reads: m.stale_reads.len(),
        availability: m.availability.availability,
        latency_ms: m.latency_ms,
        expect: results.into_iter().flatten().collect(),
        trace_hash: sim.trace_hash(),
    };
    Ok(Run { sim, summary, trace })
}
