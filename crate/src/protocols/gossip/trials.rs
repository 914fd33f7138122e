//! `caplab trials gossip`: the real simulator, many seeds, measured means beside the theory.
//!
//! Each trial is a `Sim<Gossip>` built as a scenario would build it (clients none, latency 5 to
//! 15 ms, round period 200 ms, the rumor planted at n1 at time 0), run round by round. Three
//! checks, each with its tolerance and the reason for it:
//!
//! 1. Push, fanout 1, n = 100, 1,000, 10,000: the mean rounds until every node knows must be
//!    within 2 of log2(n) + ln(n) (the criterion: Pittel's O(1) term).
//! 2. Push-pull, fanout 1, same n: Karp et al. give log3(n) + O(log log n) with no constant,
//!    so the check is against the mean-field recurrence of `theory.rs` for this very process,
//!    within 1.5 rounds; the table shows log3(n) + ln(ln(n)) beside it.
//! 3. Demers et al. Tables 1 and 2 (push, 1,000 nodes): feedback + counter and blind + coin,
//!    k = 1 to 5. The paper gives one number per cell from its own simulation (how many runs is
//!    not said), so the measured mean residue must be within 4 standard errors of our runs
//!    plus an absolute slack of 0.01 (0.02 for blind + coin, whose residue at k = 1 swings from
//!    0.9 to 1 between runs) of the paper's, and the traffic within 20 % of it: our rounds are
//!    strictly synchronous, Demers' simulator's cycles need not have been.
//!
//! Invariant checking is off in trials (the tests and the fuzzer keep it on): it is the
//! simulator's speed being measured, and the checks here are about rounds.

use super::messages::Version;
use super::theory::{self, BLIND_COIN, DemersRow, FEEDBACK_COUNTER, Theory};
use super::{Direction, Gossip, GossipParams, ORIGIN_KEY, Stop, StopRule, figures};
use crate::sim::engine::{Sim, SimConfig};
use crate::sim::ids::NodeId;
use crate::sim::network::LinkProfile;
use crate::sim::protocol::NodeRef;
use crate::sim::time::Time;
use crate::workload::{Workload, WorkloadSpec};
use std::fmt::Write;

const PERIOD_MS: u64 = 200;
/// A run that has not informed everybody (or gone quiet) by then has failed.
const MAX_ROUNDS: u64 = 200;

/// What one run measured.
#[derive(Clone, Copy, Debug, Default)]
pub struct Outcome {
    pub rounds_to_all: Option<u64>,
    pub residue: f64,
    pub traffic: f64,
    pub last_round: u64,
}

fn params(direction: Direction, stop: Stop) -> GossipParams {
    GossipParams { direction, stop, period_ms: PERIOD_MS, origin: Some(NodeId(0)), ..GossipParams::default() }
}

/// Runs one trial: until every node knows the rumor (`until_all`) or until nothing is left to
/// happen (a stop rule ended every rumor).
pub fn run_once(n: u16, params: &GossipParams, seed: u64, until_all: bool) -> Outcome {
    let mut sim: Sim<Gossip> = Sim::new(SimConfig {
        nodes: n,
        clients: 0,
        seed,
        params: params.clone(),
        network: LinkProfile::default(),
        workload: Workload::new(&WorkloadSpec::default(), 0),
        timeline: Vec::new(),
    });
    sim.check_invariants = false;
    let origin = Version { at_us: 0, node: NodeId(0) };
    let period = params.period_ms * 1000;
    for round in 1..=MAX_ROUNDS {
        sim.run_until(Time(round * period + period / 2));
        let done = if until_all {
            sim.nodes().iter().all(|s| s.state.as_ref().is_some_and(|g| g.knows(ORIGIN_KEY, origin)))
        } else {
            sim.next_time().is_none()
        };
        if done {
            break;
        }
    }
    let refs: Vec<NodeRef<'_, Gossip>> = sim
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
    let f = figures(&refs, sim.now(), params);
    let live = f["live"].as_f64().unwrap_or(0.0).max(1.0);
    let informed = f["informed"].as_f64().unwrap_or(0.0);
    let curve_last = f["curve"].as_array().map_or(0, |c| {
        // The last round in which the informed count grew.
        let counts: Vec<u64> = c.iter().filter_map(|v| v.as_u64()).collect();
        counts.windows(2).rposition(|w| w[1] > w[0]).map_or(0, |i| i as u64 + 1)
    });
    Outcome {
        rounds_to_all: f["rounds_to_all"].as_u64(),
        residue: (live - informed) / live,
        traffic: f["messages_per_node"].as_f64().unwrap_or(0.0),
        last_round: curve_last,
    }
}

/// Mean and sample standard deviation.
fn stats(xs: &[f64]) -> (f64, f64) {
    if xs.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 { xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

fn reproduce(seeds: u64, start: u64, quick: bool) -> String {
    let quick = if quick { " --quick" } else { "" };
    format!("caplab trials gossip --seeds {seeds} --start {start}{quick}")
}

/// Runs the trials; returns the printable table and one line per failed check.
pub fn trials(seeds: u64, start: u64, quick: bool) -> (String, Vec<String>) {
    let mut table = String::new();
    let mut failures = Vec::new();
    let again = reproduce(seeds, start, quick);
    let sizes: &[u16] = if quick { &[100, 1000] } else { &[100, 1000, 10_000] };
    // Quick mode (a debug-build test) runs fewer seeds at 1,000 nodes.
    let seeds_for = |n: u16| if quick && n >= 1000 { seeds.min(4) } else { seeds };

    let _ =
        writeln!(table, "Rounds until all n nodes know the rumor (fanout 1, period {PERIOD_MS} ms, latency 5-15 ms)");
    let _ = writeln!(
        table,
        "{:<10} {:>6} {:>6} {:>8} {:>7} {:>22} {:>8} {:>11} {:>7}",
        "direction", "n", "seeds", "mean", "stddev", "theory", "value", "difference", "check"
    );
    for (direction, name) in [(Direction::Push, "push"), (Direction::PushPull, "push_pull")] {
        for &n in sizes {
            let k = seeds_for(n);
            let p = params(direction, Stop::default());
            let mut rounds = Vec::new();
            let mut missing = Vec::new();
            for seed in start..start + k {
                match run_once(n, &p, seed, true).rounds_to_all {
                    Some(r) => rounds.push(r as f64),
                    None => missing.push(seed),
                }
            }
            let (mean, sd) = stats(&rounds);
            let th = Theory::new(n as u64, direction, 1);
            let (reference, limit, what) = match direction {
                Direction::PushPull => (th.mean_field_rounds() as f64, 1.5, "mean field"),
                _ => (th.rounds, 2.0, "formula"),
            };
            let diff = mean - th.rounds;
            let ok = missing.is_empty() && (mean - reference).abs() < limit;
            let _ = writeln!(
                table,
                "{name:<10} {n:>6} {k:>6} {mean:>8.2} {sd:>7.2} {:>22} {:>8.2} {diff:>+11.2} {:>7}",
                th.formula,
                th.rounds,
                if ok { "ok" } else { "FAIL" }
            );
            if direction == Direction::PushPull {
                let _ = writeln!(
                    table,
                    "{:<10} {:>6} {:>6} {:>8} {:>7} {:>22} {:>8.2}",
                    "", "", "", "", "", "mean field", reference
                );
            }
            if !missing.is_empty() {
                failures.push(format!(
                    "{name} n={n}: seeds {missing:?} did not inform every node within {MAX_ROUNDS} rounds; reproduce: {again}"
                ));
            } else if !ok {
                failures.push(format!(
                    "{name} n={n}: mean {mean:.2} rounds over seeds {start}..{} is {:.2} from the {what} {reference:.2} (limit {limit}); reproduce: {again}",
                    start + k - 1,
                    (mean - reference).abs()
                ));
            }
        }
    }

    let n = 1000u16;
    let demers_seeds = if quick { seeds.min(3) } else { seeds };
    let ks: &[u32] = if quick { &[1, 2] } else { &[1, 2, 3, 4, 5] };
    let _ = writeln!(table);
    let _ = writeln!(
        table,
        "Demers et al. 1987 Tables 1 and 2: push rumor mongering, n = {n}, {demers_seeds} seeds per row"
    );
    let _ = writeln!(
        table,
        "{:<17} {:>2} {:>17} {:>8} {:>15} {:>8} {:>10} {:>8} {:>7}",
        "stop rule", "k", "residue", "paper", "traffic", "paper", "t_last", "paper", "check"
    );
    let variants: [(&str, StopRule, bool, &[DemersRow; 5], f64); 2] = [
        ("feedback+counter", StopRule::Counter, true, &FEEDBACK_COUNTER, 0.01),
        ("blind+coin", StopRule::Coin, false, &BLIND_COIN, 0.02),
    ];
    for (name, rule, feedback, table_rows, slack) in variants {
        for row in table_rows.iter().filter(|r| ks.contains(&r.k)) {
            let p = params(Direction::Push, Stop { rule, feedback, k: row.k });
            let outcomes: Vec<Outcome> =
                (start..start + demers_seeds).map(|seed| run_once(n, &p, seed, false)).collect();
            let (residue, residue_sd) = stats(&outcomes.iter().map(|o| o.residue).collect::<Vec<_>>());
            let (traffic, traffic_sd) = stats(&outcomes.iter().map(|o| o.traffic).collect::<Vec<_>>());
            let (t_last, _) = stats(&outcomes.iter().map(|o| o.last_round as f64).collect::<Vec<_>>());
            let stderr = residue_sd / (outcomes.len() as f64).sqrt();
            let residue_ok = (residue - row.residue).abs() <= 4.0 * stderr + slack;
            let traffic_ok = (traffic - row.traffic).abs() <= 0.2 * row.traffic.max(0.25);
            let ok = quick || (residue_ok && traffic_ok);
            let _ = writeln!(
                table,
                "{name:<17} {:>2} {:>8.4} ± {residue_sd:<6.4} {:>8.4} {traffic:>7.2} ± {traffic_sd:<5.2} {:>8.2} {t_last:>10.1} {:>8.1} {:>7}",
                row.k,
                residue,
                row.residue,
                row.traffic,
                row.t_last,
                if quick {
                    "shown"
                } else if ok {
                    "ok"
                } else {
                    "FAIL"
                }
            );
            if !ok {
                failures.push(format!(
                    "{name} k={}: residue {residue:.4} (paper {}), traffic {traffic:.2} (paper {}) over seeds {start}..{}; reproduce: {again}",
                    row.k,
                    row.residue,
                    row.traffic,
                    start + demers_seeds - 1
                ));
            }
        }
    }
    let _ = writeln!(
        table,
        "(feedback + coin, from Demers' §1.4 analysis: residue s = e^-(k+1)(1-s): k=1 {:.3}, k=2 {:.3}, k=3 {:.3})",
        theory::feedback_coin_residue(1),
        theory::feedback_coin_residue(2),
        theory::feedback_coin_residue(3)
    );
    (table, failures)
}
