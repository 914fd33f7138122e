//! Raft under random fault schedules: partitions, one-way cuts, crashes, restarts, pauses, lost
//! and duplicated messages, with a client workload. All five invariants of Figure 3 are checked
//! after every step; after the heal, the cluster must settle on one leader, the final reads must
//! succeed, and the history must be linearizable. `make test` runs 1,000 seeds through the CLI;
//! this test runs a smaller set in the debug build. A failure prints its reproduce command.

use caplab::check::fuzz::{FuzzPlan, reproduce_command, run_seed};

#[test]
fn raft_keeps_its_invariants_under_random_faults() {
    let seeds: u64 = std::env::var("CAPLAB_FUZZ_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(150);
    let plan = FuzzPlan::default();
    let mut failures = Vec::new();
    for seed in 0..seeds {
        if let Err(reason) = run_seed("raft", seed, &plan) {
            failures.push(format!("seed {seed}: {reason}\n  reproduce: {}", reproduce_command("raft", seed)));
        }
    }
    assert!(failures.is_empty(), "{} of {seeds} seeds failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn a_fuzz_seed_is_reproducible() {
    let plan = FuzzPlan::default();
    let s1 = caplab::check::fuzz::scenario("raft", 42, &plan);
    let s2 = caplab::check::fuzz::scenario("raft", 42, &plan);
    assert_eq!(s1, s2);
    let a = caplab::scenario::run::run(&s1, &Default::default()).expect("runs");
    let b = caplab::scenario::run::run(&s2, &Default::default()).expect("runs");
    assert_eq!(a.summary.trace_hash, b.summary.trace_hash);
    assert!(a.summary.events > 1000, "the schedule does something");
}
