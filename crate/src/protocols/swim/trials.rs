//! Randomized trials of SWIM against what the paper promises (`caplab trials swim`). Each seed
//! draws a cluster (n from 8 to 200), a latency range, a loss rate (none in half the seeds, up
//! to 10 % in the others) and one to three crashes at random times, runs the real simulator,
//! and checks:
//!
//! - Completeness, time-bounded (§4.3): every crashed node is declared dead by every running
//!   node within `bound` of its crash. Round-robin probing over a fresh permutation per pass
//!   means each running node probes the crashed one within 2n − 1 periods of the crash whatever
//!   the gossip does, and then declares it dead one suspicion timeout later; so the bound is
//!   (2n + 1) periods + the suspicion timeout. The measured times are far below it: the first
//!   detection takes about e/(e − 1) ≈ 1.6 periods on average (§3.1), and the `Confirm` reaches
//!   everyone by gossip in O(log n) periods.
//! - Accuracy without loss: in a seed that loses no message, no running node is ever declared
//!   dead, nor even suspected: the latency is at most 20 ms each way, so every ack comes back
//!   well within the 60 ms ping timeout.
//! - The invariants of `invariants.rs`, after every step.
//!
//! It reports the mean and maximum times to first suspicion, first and full death, the false
//! suspicions per lossy seed, and the messages per node per protocol period.

use super::{State, Swim, SwimParams};
use crate::scenario::NetworkSpec;
use crate::sim::action::{Action, Target, TimedAction};
use crate::sim::engine::{Sim, SimConfig};
use crate::sim::ids::NodeId;
use crate::sim::protocol::NodeRef;
use crate::sim::rng::SimRng;
use crate::sim::time::Time;
use crate::workload::{Workload, WorkloadSpec};

/// One seed's draw.
#[derive(Clone, Debug)]
pub struct Plan {
    pub nodes: u16,
    pub latency_ms: [u64; 2],
    /// Loss in percent.
    pub loss_pct: u64,
    /// (node, crash time in ms)
    pub crashes: Vec<(NodeId, u64)>,
}

pub fn plan(seed: u64, quick: bool) -> Plan {
    let mut rng = SimRng::new(seed ^ 0x5157_494d_7472_6961);
    let max_nodes = if quick { 64 } else { 200 };
    let nodes = rng.between(8, max_nodes) as u16;
    let lo = rng.between(1, 10);
    let hi = lo + rng.between(0, 10);
    let loss_pct = if seed.is_multiple_of(2) { 0 } else { rng.between(1, 10) };
    let mut crashes: Vec<(NodeId, u64)> = Vec::new();
    for _ in 0..rng.between(1, 3) {
        let node = NodeId(rng.below(u64::from(nodes)) as u16);
        if crashes.iter().any(|(n, _)| *n == node) {
            continue;
        }
        crashes.push((node, rng.between(1_000, 5_000)));
    }
    crashes.sort_by_key(|c| c.1);
    Plan { nodes, latency_ms: [lo, hi], loss_pct, crashes }
}

/// What one seed measured. Times are ms since the crash.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub first_suspect: Vec<f64>,
    pub first_dead: Vec<f64>,
    pub all_dead: Vec<f64>,
    pub false_suspicions: u64,
    pub false_dead: u64,
    pub messages_per_node_per_period: f64,
    pub failures: Vec<String>,
}

/// The time-bounded completeness bound for a cluster of `n`, in ms.
pub fn bound_ms(params: &SwimParams, n: u16) -> u64 {
    (2 * u64::from(n) + 1) * params.protocol_period_ms + params.suspicion_timeout_us(n) / 1000
}

pub fn run_seed(seed: u64, quick: bool) -> Outcome {
    let p = plan(seed, quick);
    let params = SwimParams::default();
    let net = NetworkSpec {
        latency_ms: [p.latency_ms[0] as f64, p.latency_ms[1] as f64],
        drop: p.loss_pct as f64 / 100.0,
        duplicate: 0.0,
    };
    let timeline: Vec<TimedAction> = p
        .crashes
        .iter()
        .map(|(n, at)| TimedAction { at_us: at * 1000, action: Action::Crash { node: Target::Node(*n) } })
        .collect();
    let bound = bound_ms(&params, p.nodes);
    let last_crash = p.crashes.last().map_or(0, |c| c.1);
    let deadline = last_crash + bound;
    let mut sim: Sim<Swim> = Sim::new(SimConfig {
        nodes: p.nodes,
        clients: 0,
        seed,
        params: params.clone(),
        network: net.profile(),
        workload: Workload::new(&WorkloadSpec::default(), deadline * 1000),
        timeline,
    });
    let crashed: Vec<NodeId> = p.crashes.iter().map(|c| c.0).collect();
    // Run at least a few seconds past the last crash, then until every crash is known to all
    // (or the bound passes).
    let mut t = last_crash + 3_000;
    loop {
        sim.run_until(Time::from_ms(t));
        if t >= deadline || everyone_knows(&sim, &crashed) {
            break;
        }
        t = (t + 1_000).min(deadline);
    }
    let mut out = Outcome::default();
    let reproduce = format!("caplab trials swim --seeds 1 --start {seed}");
    let describe = format!(
        "n={} latency {:?} ms loss {}% crashes {:?}",
        p.nodes,
        p.latency_ms,
        p.loss_pct,
        p.crashes.iter().map(|(n, at)| format!("{n}@{at}ms")).collect::<Vec<_>>()
    );
    if let Some(v) = sim.violations().first() {
        out.failures.push(format!(
            "seed {seed}: {} violated at {} ms: {} ({describe}; {reproduce})",
            v.invariant,
            v.at_us / 1000,
            v.detail
        ));
    }
    let refs: Vec<NodeRef<'_, Swim>> = sim
        .nodes()
        .iter()
        .enumerate()
        .map(|(i, s)| NodeRef {
            id: NodeId(i as u16),
            live: s.state.as_ref(),
            durable: s.durable.as_ref(),
            clock: Time::ZERO,
        })
        .collect();
    let figures = super::figures(&refs, sim.now(), &params, sim.applied_actions());
    for d in figures["detections"].as_array().into_iter().flatten() {
        let get = |k: &str| d[k].as_f64();
        if let Some(v) = get("first_suspect_ms") {
            out.first_suspect.push(v);
        }
        if let Some(v) = get("first_dead_ms") {
            out.first_dead.push(v);
        }
        match get("all_dead_ms") {
            Some(v) if v <= bound as f64 => out.all_dead.push(v),
            other => out.failures.push(format!(
                "seed {seed}: {} was not declared dead by every running node within {bound} ms (all_dead_ms {:?}; {describe}; {reproduce})",
                d["node"].as_str().unwrap_or("?"),
                other
            )),
        }
    }
    out.false_suspicions = figures["false_suspicions"].as_u64().unwrap_or(0);
    out.false_dead = figures["false_dead"].as_u64().unwrap_or(0);
    out.messages_per_node_per_period = figures["messages_per_node_per_period"].as_f64().unwrap_or(0.0);
    // Exactly, from the tables: a running node believed dead by another running one.
    let wrongly_dead = refs
        .iter()
        .filter_map(|r| r.live.map(|s| (r.id, s)))
        .flat_map(|(x, s)| s.table().not_alive().map(move |(m, e)| (x, m, e.state)))
        .filter(|(_, m, st)| *st == State::Dead && !crashed.contains(m))
        .count();
    if p.loss_pct == 0 && (out.false_dead > 0 || out.false_suspicions > 0 || wrongly_dead > 0) {
        out.failures.push(format!(
            "seed {seed}: without loss, {} false suspicion(s), {} false death(s), {wrongly_dead} running node(s) held dead at the end ({describe}; {reproduce})",
            out.false_suspicions, out.false_dead
        ));
    }
    out
}

/// Whether every running node holds every crashed node dead.
fn everyone_knows(sim: &Sim<Swim>, crashed: &[NodeId]) -> bool {
    sim.nodes()
        .iter()
        .filter_map(|s| s.state.as_ref())
        .all(|s| crashed.iter().all(|c| s.table().get(*c).state == State::Dead))
}

fn mean_max(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    (v.iter().sum::<f64>() / v.len() as f64, v.iter().copied().fold(0.0, f64::max))
}

/// Runs `seeds` seeds from `start`; returns a printable table and one line per failure.
pub fn trials(seeds: u64, start: u64, quick: bool) -> (String, Vec<String>) {
    let params = SwimParams::default();
    let period = params.protocol_period_ms as f64;
    let (mut first_suspect, mut first_dead, mut all_dead) = (Vec::new(), Vec::new(), Vec::new());
    let (mut lossy_seeds, mut lossless_seeds, mut false_lossy, mut false_dead_lossy, mut false_lossless) =
        (0u64, 0u64, Vec::new(), 0u64, 0u64);
    let mut load = Vec::new();
    let mut failures = Vec::new();
    let mut crashes = 0usize;
    for seed in start..start.saturating_add(seeds) {
        let p = plan(seed, quick);
        let o = run_seed(seed, quick);
        crashes += p.crashes.len();
        first_suspect.extend(&o.first_suspect);
        first_dead.extend(&o.first_dead);
        all_dead.extend(&o.all_dead);
        load.push(o.messages_per_node_per_period);
        if p.loss_pct > 0 {
            lossy_seeds += 1;
            false_lossy.push(o.false_suspicions as f64);
            false_dead_lossy += o.false_dead;
        } else {
            lossless_seeds += 1;
            false_lossless += o.false_suspicions;
        }
        failures.extend(o.failures);
    }
    let row = |name: &str, v: &[f64]| {
        let (mean, max) = mean_max(v);
        format!("{name:<34} {:>9.1} {:>9.1} {:>8.2} {:>8.2} {:>6}\n", mean, max, mean / period, max / period, v.len())
    };
    let mut table = format!(
        "SWIM trials: {seeds} seeds from {start}{} ({lossless_seeds} without loss, {lossy_seeds} with 1-10% loss), {crashes} crashes\n\
         defaults: period {} ms, ping timeout {} ms, k = {}, suspicion {}×max(1, log10 n)×period, retransmit {}×ceil(log10(n+1))\n\n\
         {:<34} {:>9} {:>9} {:>8} {:>8} {:>6}\n",
        if quick { " (quick: n up to 64)" } else { "" },
        params.protocol_period_ms,
        params.ping_timeout_ms,
        params.indirect_checks,
        params.suspicion_mult,
        params.retransmit_mult,
        "time since the crash (ms)",
        "mean",
        "max",
        "mean/T",
        "max/T",
        "count"
    );
    table += &row("first suspicion", &first_suspect);
    table += &row("first declared dead", &first_dead);
    table += &row("dead at every running node", &all_dead);
    let (fmean, fmax) = mean_max(&false_lossy);
    let (lmean, lmax) = mean_max(&load);
    table += &format!(
        "\nfalse suspicions per lossy seed: mean {fmean:.2}, max {fmax:.0}; false deaths (lossy seeds): {false_dead_lossy}\n\
         false suspicions without loss: {false_lossless}\n\
         messages per node per period: mean {lmean:.2}, max {lmax:.2}\n\
         paper: expected first detection e/(e-1) = 1.58 periods; bound checked: (2n+1) periods + suspicion timeout\n"
    );
    (table, failures)
}
