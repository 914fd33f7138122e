//! Running a scenario from start to end, checking its expectations at their times, and the
//! summary that `caplab run --json` prints.
//!
//! The run is advanced in steps of [`PROBE_US`] of virtual time, and after each the runner
//! probes what only the course of the run can tell (convergence after a heal, siblings). Probing
//! reads the simulation and changes nothing in it: the trace is the same as one long run.

use super::Scenario;
use super::expect::{ExpectResult, RunFacts};
use crate::check::{leadership, linearizability, metrics, txns};
use crate::protocols;
use crate::sim::action::Action;
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
    /// Virtual milliseconds from the last `heal` action applied until the protocol's `settled`
    /// check (NWR: every running home replica of every key holds the same versions and no hint
    /// waits for a running node; Raft: one leader that every running node follows) first held.
    /// It is probed every [`PROBE_US`] of virtual time (on the grid 0, 10, 20, ... ms), so it
    /// is the first probe at which the check held, minus the heal's time: an upper bound, less
    /// than 10 ms above the true time. 0 when it already held at the heal. `null` when no heal
    /// was applied or the run ended before the check held. A heal resets it; other faults after
    /// the last heal do not.
    pub converged_ms: Option<f64>,
    /// Divergent versions: the most concurrent versions (siblings) one node held of one key at
    /// any probe (every [`SIBLINGS_PROBE_US`], and at the end), 0 when no node ever held more
    /// than one. The history records one value per read and cannot tell siblings apart, so
    /// this is measured on the replicas (see `check::metrics`): NWR with vector clocks can keep
    /// siblings, NWR with last-writer-wins and Raft never do. Siblings that live less than
    /// 100 ms between two probes can be missed.
    pub siblings: usize,
    /// Atomic-commitment protocols: every transaction, with each node's decision and how long
    /// each was blocked (see `check::txns`). Left out for other protocols.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transactions: Vec<txns::TxnSummary>,
    /// Protocols with a leader: messages per committed write, write latency, the gaps without a
    /// leader (see `check::leadership`). Left out when no node ever led.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consensus: Option<leadership::Consensus>,
    /// The protocol's own measurements (`Protocol::figures`: gossip's rounds and residue,
    /// SWIM's detection times). Left out when the protocol has none.
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub figures: serde_json::Value,
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

/// The interval of virtual time between two probes of the run (10 ms).
pub const PROBE_US: u64 = 10_000;

/// Siblings are looked for at every tenth probe: inspecting every node's whole state is the
/// costly part of probing, and siblings, once made, last until a later write resolves them.
pub const SIBLINGS_PROBE_US: u64 = 100_000;

/// What the runner learns by looking at the simulation every [`PROBE_US`].
struct Probe {
    settled: fn(&dyn Simulation) -> Result<(), String>,
    /// How many applied actions have been looked at for heals.
    actions_seen: usize,
    last_heal_us: Option<u64>,
    /// When the settled check first held after the last heal.
    settled_us: Option<u64>,
    siblings: usize,
    /// When to look for siblings next; `None` once the protocol showed it lists no keys.
    next_siblings_us: Option<u64>,
}

impl Probe {
    fn observe(&mut self, sim: &dyn Simulation) {
        let actions = sim.applied_actions();
        for a in &actions[self.actions_seen.min(actions.len())..] {
            if a.action == Action::Heal {
                self.last_heal_us = Some(a.at_us);
                self.settled_us = None;
            }
        }
        self.actions_seen = actions.len();
        if self.last_heal_us.is_some() && self.settled_us.is_none() && (self.settled)(sim).is_ok() {
            self.settled_us = Some(sim.now().0);
        }
        self.look_for_siblings(sim, false);
    }

    fn look_for_siblings(&mut self, sim: &dyn Simulation, at_end: bool) {
        let now = sim.now().0;
        let Some(next) = self.next_siblings_us else { return };
        if now < next && !at_end {
            return;
        }
        match metrics::siblings_if_listed(sim) {
            Some(s) => {
                self.siblings = self.siblings.max(s.max);
                self.next_siblings_us = Some((now / SIBLINGS_PROBE_US + 1) * SIBLINGS_PROBE_US);
            }
            None => self.next_siblings_us = None,
        }
    }

    /// Runs the simulation to `to`, probing at every multiple of [`PROBE_US`] on the way and
    /// at `to`.
    fn advance(&mut self, sim: &mut dyn Simulation, to: Time) {
        loop {
            let now = sim.now().0;
            if now >= to.0 {
                return;
            }
            let next = ((now / PROBE_US + 1) * PROBE_US).min(to.0);
            sim.run_until(Time(next));
            self.observe(sim);
        }
    }

    fn converged_ms(&self) -> Option<f64> {
        let (heal, settled) = (self.last_heal_us?, self.settled_us?);
        Some(settled.saturating_sub(heal) as f64 / 1000.0)
    }
}

pub fn run(scenario: &Scenario, opts: &RunOptions) -> Result<Run, super::ScenarioError> {
    let mut sim = protocols::build(scenario, opts.seed)?;
    sim.set_recording(opts.record_trace);
    let mut probe = Probe {
        settled: protocols::info(&scenario.protocol)?.settled,
        actions_seen: 0,
        last_heal_us: None,
        settled_us: None,
        siblings: 0,
        next_siblings_us: Some(0),
    };
    probe.observe(sim.as_ref());
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
        probe.advance(sim.as_mut(), Time(t));
        sim.run_until(Time(t));
        trace.extend(sim.take_events_json());
        results[i] = Some(scenario.expect[i].judge(sim.as_ref(), &RunFacts::default()));
    }
    probe.advance(sim.as_mut(), end);
    sim.run_until(end);
    probe.look_for_siblings(sim.as_ref(), true);
    trace.extend(sim.take_events_json());
    let history = sim.history().entries();
    let linearizable = if history.is_empty() {
        None
    } else {
        linearizability::check(history, &linearizability::CheckOptions::default()).linearizable
    };
    let facts = RunFacts { linearizable, converged_ms: probe.converged_ms() };
    for (i, e) in scenario.expect.iter().enumerate() {
        if results[i].is_none() {
            results[i] = Some(e.judge(sim.as_ref(), &facts));
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
        converged_ms: facts.converged_ms,
        siblings: probe.siblings,
        transactions: txns::summarize(sim.as_ref()),
        consensus: leadership::measure(sim.as_ref()),
        figures: sim.figures(),
        expect: results.into_iter().flatten().collect(),
        trace_hash: sim.trace_hash(),
    };
    Ok(Run { sim, summary, trace })
}
