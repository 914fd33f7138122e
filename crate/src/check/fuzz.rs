//! Random fault schedules. Each seed builds a scenario: a cluster under a client workload, then
//! a burst of random faults (partitions, one-way cuts, crashes, restarts, pauses, message loss
//! and duplication), then everything healed, then a read of every key. The run passes when no
//! invariant was violated at any step, the cluster settled (one agreed leader), the final reads
//! succeeded and the history is linearizable. A failure is its seed: the reproduce command
//! rebuilds the same scenario.

use super::linearizability;
use crate::protocols::{self, FuzzFaults};
use crate::scenario::{FORMAT, NetworkSpec, Scenario, ScenarioError, TimelineEntry};
use crate::sim::action::{Action, Target, Text};
use crate::sim::clock::ClockSetting;
use crate::sim::ids::{ActorId, ClientId, NodeId};
use crate::sim::rng::SimRng;
use crate::sim::time::Time;
use crate::workload::history::{HistoryEntry, OpKind, Outcome};
use crate::workload::{WorkloadSpec, key_name};
use std::collections::BTreeMap;

/// The shape of every fuzz run; fixed so that a seed alone reproduces a run.
pub struct FuzzPlan {
    pub nodes: u16,
    pub clients: u16,
    pub keys: u32,
    pub faults_ms: u64,
    pub settle_ms: u64,
}

impl FuzzPlan {
    /// The plan `caplab fuzz` uses for a protocol: the default, with the protocol's number of
    /// keys.
    pub fn for_protocol(protocol: &str) -> FuzzPlan {
        let keys = crate::protocols::info(protocol).map_or(3, |p| p.fuzz_keys);
        FuzzPlan { keys, ..FuzzPlan::default() }
    }
}

impl Default for FuzzPlan {
    fn default() -> Self {
        FuzzPlan { nodes: 5, clients: 3, keys: 3, faults_ms: 8_000, settle_ms: 4_000 }
    }
}

#[derive(Debug)]
pub struct FuzzFailure {
    pub seed: u64,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct FuzzReport {
    pub runs: u64,
    pub steps: u64,
    pub operations: u64,
    pub failures: Vec<FuzzFailure>,
}

/// Each node's clock for a protocol that allows `max_drift`: a drift in steps of 1 % and an
/// offset of up to two seconds ahead. (Not behind: a clock reads at least zero, so a clock set
/// behind would stand still at zero for a while, a drift of -100 %, which no margin covers.) Drawn from a generator of its own, so that the faults of a
/// seed are the same with clocks or without.
fn fuzz_clocks(seed: u64, nodes: u16, max_drift: f64) -> BTreeMap<String, ClockSetting> {
    let mut clocks = BTreeMap::new();
    let steps = (max_drift * 100.0).floor() as u64;
    if steps == 0 {
        return clocks;
    }
    let mut rng = SimRng::new(seed ^ 0x5851_f42d_4c95_7f2d);
    for i in 0..nodes {
        let drift = (rng.below(2 * steps + 1) as f64 - steps as f64) / 100.0;
        let offset_ms = rng.below(2001) as i64;
        clocks.insert(NodeId(i).to_string(), ClockSetting { offset_ms: Some(offset_ms), drift: Some(drift) });
    }
    clocks
}

/// Builds the scenario of one fuzz seed.
pub fn scenario(protocol: &str, seed: u64, plan: &FuzzPlan) -> Scenario {
    let mut rng = SimRng::new(seed ^ 0x9e37_79b9_7f4a_7c15);
    let info = protocols::info(protocol).ok();
    let params = info.map_or(serde_json::Value::Null, |p| (p.fuzz_params)(&mut rng));
    let crash_only = info.is_some_and(|p| p.fuzz_faults == FuzzFaults::CrashOnly);
    let transactions = info.is_some_and(|p| p.transactions);
    let node = |i: u64| NodeId(i as u16);
    // Half the crashes and isolations hit the node that matters most: the leader, or for the
    // atomic-commitment protocols (which have none) the coordinator, n1.
    let lead = if transactions { Target::Node(crate::protocols::txn::COORDINATOR) } else { Target::Leader };
    let mut timeline = Vec::new();
    let mut at = 500.0;
    while at < plan.faults_ms as f64 {
        let n = node(rng.below(plan.nodes as u64));
        // Crash-only runs draw from crash (6) and restart (7, 8) alone.
        let kind = if crash_only { rng.between(6, 8) } else { rng.below(12) };
        let action = match kind {
            0 | 1 => {
                // A random split into two groups; clients land on a random side or none.
                let mut groups = vec![Vec::new(), Vec::new()];
                for i in 0..plan.nodes {
                    groups[rng.index(2)].push(ActorId::Node(NodeId(i)));
                }
                for c in 0..plan.clients {
                    let side = rng.below(3) as usize;
                    if side < 2 {
                        groups[side].push(ActorId::Client(ClientId(c)));
                    }
                }
                Action::Partition { groups }
            }
            2 => Action::Heal,
            3 | 4 => {
                let other = node((n.0 as u64 + 1 + rng.below(plan.nodes as u64 - 1)) % plan.nodes as u64);
                Action::Cut { from: n.into(), to: other.into(), oneway: rng.chance(500_000) }
            }
            5 => Action::Isolate { node: if rng.chance(500_000) { lead } else { Target::Node(n) } },
            6 => Action::Crash { node: if rng.chance(500_000) { lead } else { Target::Node(n) } },
            7 | 8 => Action::Restart { node: Target::Node(n) },
            9 => Action::Pause { node: Target::Node(n), ms: None },
            10 => Action::Resume { node: Target::Node(n) },
            _ => Action::Network {
                latency_ms: None,
                drop: Some(rng.below(25) as f64 / 100.0),
                duplicate: Some(rng.below(15) as f64 / 100.0),
            },
        };
        timeline.push(TimelineEntry { at_ms: at, action });
        at += rng.between(100, 1200) as f64;
    }
    let end_faults = plan.faults_ms as f64;
    timeline.push(TimelineEntry { at_ms: end_faults, action: Action::Heal });
    timeline.push(TimelineEntry {
        at_ms: end_faults,
        action: Action::Network { latency_ms: None, drop: Some(0.0), duplicate: Some(0.0) },
    });
    for i in 0..plan.nodes {
        let node = Target::Node(NodeId(i));
        // Restarting a running node or resuming a running one is skipped, harmlessly.
        timeline.push(TimelineEntry { at_ms: end_faults, action: Action::Restart { node } });
        timeline.push(TimelineEntry { at_ms: end_faults, action: Action::Resume { node } });
    }
    let reads_at = end_faults + plan.settle_ms as f64;
    for k in 0..plan.keys {
        timeline.push(TimelineEntry {
            at_ms: reads_at,
            action: Action::Request {
                client: ClientId(0),
                op: OpKind::Get,
                key: key_name(k),
                value: None,
                keys: None,
                node: None,
            },
        });
    }
    let clocks = fuzz_clocks(seed, plan.nodes, info.map_or(0.0, |p| p.fuzz_drift));
    let timeout_ms = 400;
    let retries = 4;
    let duration_ms = reads_at as u64 + plan.keys as u64 * timeout_ms * (retries as u64 + 1) + 1000;
    Scenario {
        format: FORMAT,
        name: format!("fuzz-{protocol}-{seed}"),
        title: Text::Plain(format!("Random faults, seed {seed}")),
        description: None,
        topic: None,
        tour: false,
        order: None,
        protocol: protocol.to_string(),
        nodes: plan.nodes,
        clients: plan.clients,
        seed,
        duration_ms,
        params,
        clocks,
        network: NetworkSpec { latency_ms: [1.0, 12.0], drop: 0.0, duplicate: 0.0 },
        workload: WorkloadSpec {
            rate: 8.0,
            keys: plan.keys,
            read_ratio: 0.4,
            timeout_ms,
            retries,
            retry_backoff_ms: 50,
            start_ms: 0,
            stop_ms: Some(plan.faults_ms + plan.settle_ms / 2),
            clients: None,
            // Transactions over two keys, so that most have two participants.
            txn_keys: if transactions { 2 } else { 0 },
        },
        timeline,
        expect: Vec::new(),
        compare: Vec::new(),
    }
}

/// Runs one seed; `Err` carries the reason it failed.
pub fn run_seed(protocol: &str, seed: u64, plan: &FuzzPlan) -> Result<(u64, u64), String> {
    let info = protocols::info(protocol).map_err(|e| e.to_string())?;
    let s = scenario(protocol, seed, plan);
    let mut sim = protocols::build(&s, None).map_err(|e: ScenarioError| e.to_string())?;
    let reads_at = Time::from_ms(plan.faults_ms + plan.settle_ms);
    sim.run_until(reads_at);
    if let Some(v) = sim.violations().first() {
        return Err(format!("{} violated at {} ms: {}", v.invariant, v.at_us / 1000, v.detail));
    }
    (info.settled)(sim.as_ref()).map_err(|e| format!("not settled {} ms after healing: {e}", plan.settle_ms))?;
    sim.run_until(Time::from_ms(s.duration_ms));
    if let Some(v) = sim.violations().first() {
        return Err(format!("{} violated at {} ms: {}", v.invariant, v.at_us / 1000, v.detail));
    }
    if let Some(check) = info.fuzz_check {
        check(sim.as_ref())?;
    }
    let history = sim.history().entries();
    let finals: Vec<_> = history.iter().filter(|e| e.invoke_us >= reads_at.0 && e.client == ClientId(0)).collect();
    if finals.len() != plan.keys as usize || finals.iter().any(|e| e.outcome != Outcome::Ok) {
        let got: Vec<String> = finals.iter().map(|e| format!("{} {:?}", e.key, e.outcome)).collect();
        return Err(format!("the final reads after healing did not all succeed: [{}]", got.join(", ")));
    }
    // A failed write must not be left in any store, whatever the protocol promises about
    // reads (a saga's reader may see it for a while; its compensation must still remove it).
    failed_writes_gone(sim.as_ref())?;
    if !info.linearizable {
        return Ok((sim.stats().steps, history.len() as u64));
    }
    truthful_failures(sim.as_ref())?;
    match linearizability::check(history, &linearizability::CheckOptions::default()).linearizable {
        Some(true) => {}
        Some(false) => return Err("the history is not linearizable".into()),
        None => return Err("the linearizability checker gave up".into()),
    }
    Ok((sim.stats().steps, history.len() as u64))
}

/// No node's store holds, at the end, a value written only by a write recorded as `fail`
/// (values are unique, so the value names its write; a transaction counts as one put per key).
fn failed_writes_gone(sim: &dyn crate::sim::dynamic::Simulation) -> Result<(), String> {
    let history = sim.history().entries();
    let expanded = crate::workload::history::per_key(history);
    let stores: Vec<_> = sim.node_views().into_iter().map(|v| (v.id, v.view.store)).collect();
    for (_, failed) in expanded.iter().filter(|(_, e)| e.op == OpKind::Put && e.outcome == Outcome::Fail) {
        for (node, store) in &stores {
            if store.iter().any(|(k, v)| *k == failed.key && Some(v) == failed.value.as_ref()) {
                return Err(format!(
                    "{node} still holds {}={} at the end, written by a {} of {} recorded as failed",
                    failed.key,
                    failed.value.as_deref().unwrap_or(""),
                    if history.iter().any(|e| e.op == crate::workload::history::HistoryOp::Txn) {
                        "transaction"
                    } else {
                        "put"
                    },
                    failed.client,
                ));
            }
        }
    }
    Ok(())
}

/// A write recorded as `fail` must certainly not have been applied: its value may never be
/// read, nor sit in any node's store at the end. (Values are unique, so either would prove the
/// write was applied.)
fn truthful_failures(sim: &dyn crate::sim::dynamic::Simulation) -> Result<(), String> {
    let history = sim.history().entries();
    let stores: Vec<_> = sim.node_views().into_iter().map(|v| v.view.store).collect();
    let expanded = crate::workload::history::per_key(history);
    let history: Vec<&HistoryEntry> = expanded.iter().map(|(_, e)| e.as_ref()).collect();
    for failed in history.iter().filter(|e| e.op == OpKind::Put && e.outcome == Outcome::Fail) {
        let read = history.iter().any(|g| g.op == OpKind::Get && g.key == failed.key && g.value == failed.value);
        let stored = stores.iter().flatten().any(|(k, v)| *k == failed.key && Some(v) == failed.value.as_ref());
        if read || stored {
            return Err(format!(
                "{} put {}={} is recorded as failed but was applied",
                failed.client,
                failed.key,
                failed.value.as_deref().unwrap_or("")
            ));
        }
    }
    Ok(())
}

/// Runs `count` seeds from `start`, calling `progress` after each.
pub fn run(
    protocol: &str,
    start: u64,
    count: u64,
    plan: &FuzzPlan,
    mut progress: impl FnMut(u64, &Result<(u64, u64), String>),
) -> FuzzReport {
    let mut report = FuzzReport::default();
    for seed in start..start.saturating_add(count) {
        let result = run_seed(protocol, seed, plan);
        progress(seed, &result);
        report.runs += 1;
        match result {
            Ok((steps, ops)) => {
                report.steps += steps;
                report.operations += ops;
            }
            Err(reason) => report.failures.push(FuzzFailure { seed, reason }),
        }
    }
    report
}

/// The one-line command that replays a failing seed.
pub fn reproduce_command(protocol: &str, seed: u64) -> String {
    format!("cargo run --release -p caplab -- fuzz {protocol} --seeds 1 --start {seed} --verbose")
}
