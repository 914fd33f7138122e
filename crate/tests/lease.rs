//! Leases with fencing tokens (Gray & Cheriton 1989; Burrows 2006 §2.4, §2.8; Kleppmann 2016):
//! each invariant holding under random faults with its guard on, and failing in the tour that
//! removes the guard; the grantor's grace period after a crash; live reconfiguration;
//! determinism; parameter checks.

mod common;

use caplab::check::fuzz::{FuzzPlan, reproduce_command, run_seed, scenario as fuzz_scenario};
use caplab::protocols;
use caplab::scenario::Scenario;
use caplab::scenario::run::{Run, RunOptions, run};
use caplab::sim::action::{Action, Target};
use caplab::sim::dynamic::Simulation;
use caplab::sim::ids::NodeId;
use caplab::sim::time::Time;
use common::*;

fn passes(name: &str) -> Run {
    let r = run(&scenario(name), &RunOptions { record_trace: true, ..RunOptions::default() }).expect("runs");
    assert!(r.summary.passed(), "{name}: {:#?}", r.summary.failures());
    r
}

fn violated(sim: &dyn Simulation) -> Vec<&'static str> {
    sim.violations().iter().map(|v| v.invariant).collect()
}

fn cluster(nodes: u16, params: &str, timeline: &str) -> Box<dyn Simulation> {
    let text = format!(
        r#"{{"format": 1, "protocol": "lease", "name": "t", "title": "t", "nodes": {nodes}, "clients": 0, "seed": 1,
            "duration_ms": 20000, "params": {params}, "network": {{"latency_ms": [5, 15]}}, "timeline": {timeline}}}"#
    );
    let s = Scenario::from_json(&text).unwrap_or_else(|e| panic!("{e}"));
    protocols::build(&s, None).expect("builds")
}

fn figure(sim: &dyn Simulation, name: &str) -> f64 {
    sim.figures()[name].as_f64().unwrap_or_else(|| panic!("figure {name} in {}", sim.figures()))
}

// ---- the tours ----

#[test]
fn renewal_tour_keeps_every_belief_inside_the_grantors_lease() {
    let r = passes("lease-renewal");
    let sim = r.sim.as_ref();
    assert!(violated(sim).is_empty());
    assert!(figure(sim, "renewals") >= 6.0);
    assert_eq!(figure(sim, "overlap_ms"), 0.0);
    // Each holder's belief ends no later than the grantor's lease of the same token.
    let f = sim.figures();
    for b in f["belief_bars"].as_array().into_iter().flatten() {
        let g = f["grantor_bars"].as_array().into_iter().flatten().find(|g| g["token"] == b["token"]).expect("a grant");
        assert!(b["from_ms"].as_f64() >= g["from_ms"].as_f64(), "{b} starts before {g}");
        if let (Some(bt), Some(gt)) = (b["to_ms"].as_f64(), g["to_ms"].as_f64()) {
            assert!(bt <= gt, "{b} ends after {g}");
        }
    }
}

/// Without fencing, the paused holder's write lands after its successor's: fencing order and
/// single writer fail, while exclusivity holds (its belief ran out on time).
#[test]
fn paused_holder_without_fencing_makes_two_writers() {
    let r = passes("lease-paused-holder");
    let v = violated(r.sim.as_ref());
    assert!(v.contains(&"fencing_order") && v.contains(&"single_writer"), "{v:?}");
    assert!(!v.contains(&"lease_exclusive"), "{v:?}");
    assert!(figure(r.sim.as_ref(), "stale_writes") >= 1.0);
}

#[test]
fn fencing_rejects_the_paused_holder() {
    let r = passes("lease-fencing");
    assert!(violated(r.sim.as_ref()).is_empty());
    assert!(figure(r.sim.as_ref(), "writes_rejected") >= 1.0);
    // n3's belief had run out by its clock during the pause (noticed on waking, dated back to
    // 1.570 s); its write, sent before it noticed, was the one rejected.
    let n3 = &inspect(r.sim.as_ref(), 2)["state"]["state"];
    assert_eq!(n3["beliefs"][0]["end"], "expired", "{n3}");
    assert_eq!(n3["beliefs"][0]["to_us"], 1_570_000, "{n3}");
    assert_eq!(n3["writes_rejected"], 1, "{n3}");
}

/// n3's clock runs 50 % slow, beyond what the 100 ms margin covers: two holders believe at
/// once. Fencing keeps the storage's invariants.
#[test]
fn drift_beyond_the_margin_breaks_exclusivity() {
    let r = passes("lease-drift");
    assert_eq!(violated(r.sim.as_ref()), vec!["lease_exclusive"]);
    let overlap = figure(r.sim.as_ref(), "overlap_ms");
    assert!((100.0..300.0).contains(&overlap), "overlap {overlap} ms");
}

/// The same with the clock 8 % slow (within the margin): safe.
#[test]
fn drift_within_the_margin_is_safe() {
    let r = passes("lease-drift-margin");
    assert!(violated(r.sim.as_ref()).is_empty());
    assert_eq!(figure(r.sim.as_ref(), "overlap_ms"), 0.0);
}

/// The 50 % slow clock again, with a margin sized for it (a holder may run slow by m/D):
/// exclusivity holds.
#[test]
fn a_margin_sized_for_the_drift_restores_exclusivity() {
    let mut s = scenario("lease-drift");
    s.params["margin_ms"] = 550.into();
    s.params["renew_at"] = 0.4.into();
    let r = run(&s, &RunOptions::default()).expect("runs");
    assert!(violated(r.sim.as_ref()).is_empty(), "{:?}", r.sim.violations());
    assert_eq!(figure(r.sim.as_ref(), "overlap_ms"), 0.0);
}

// ---- random faults with the guards on ----

/// A fuzz seed's scenario as `caplab fuzz lease` builds it: clocks drifting up to
/// `lease::FUZZ_DRIFT` either way, each set 0 to 2 s ahead of true time.
fn guarded_scenario(seed: u64) -> Scenario {
    fuzz_scenario("lease", seed, &FuzzPlan::for_protocol("lease"))
}

/// Partitions, loss, duplication, crashes and pauses, clocks drifting within the margin,
/// fencing on: no invariant breaks, and someone writes again after the heal.
#[test]
fn fuzz_with_fencing_and_drift_within_the_margin_holds_every_invariant() {
    let seeds = std::env::var("LEASE_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(400);
    let mut failures = Vec::new();
    let mut drifting = 0;
    for seed in 0..seeds {
        let s = guarded_scenario(seed);
        drifting += usize::from(s.clocks.values().any(|c| c.drift.is_some_and(|d| d != 0.0)));
        let r = run(&s, &RunOptions::default()).expect("runs");
        let outcome = match r.sim.violations().first() {
            Some(v) => Err(format!("{} violated at {} ms: {}", v.invariant, v.at_us / 1000, v.detail)),
            None => caplab::protocols::lease::settled(r.sim.as_ref()),
        };
        if let Err(reason) = outcome {
            failures.push(format!("seed {seed}: {reason}\n  reproduce: {}", reproduce_command("lease", seed)));
        }
    }
    assert!(drifting > seeds as usize / 2, "only {drifting} seeds had drifting clocks");
    assert!(failures.is_empty(), "{} of {seeds} seeds failed:\n{}", failures.len(), failures.join("\n"));
}

/// The fuzzer's own runs (with its reads and checks).
#[test]
fn fuzz_seeds_pass_the_fuzzers_checks() {
    let plan = FuzzPlan::for_protocol("lease");
    for seed in 0..300 {
        if let Err(reason) = run_seed("lease", seed, &plan) {
            panic!("seed {seed}: {reason}\n  reproduce: {}", reproduce_command("lease", seed));
        }
    }
}

/// The same schedules with fencing off break the storage's invariants: the fuzz runs are not
/// vacuous, and fencing is what keeps them.
#[test]
fn fuzz_without_fencing_finds_stale_writers() {
    let mut broken = 0;
    for seed in 0..100 {
        let mut s = guarded_scenario(seed);
        s.params["fencing"] = serde_json::Value::Bool(false);
        let r = run(&s, &RunOptions::default()).expect("runs");
        let v = violated(r.sim.as_ref());
        assert!(!v.contains(&"lease_exclusive"), "seed {seed}: {v:?}");
        if v.contains(&"single_writer") {
            broken += 1;
        }
    }
    assert!(broken >= 5, "only {broken} of 100 seeds had a stale writer without fencing");
}

// ---- the grantor's crash ----

/// A restarted grantor has forgotten the holder: it grants nothing for a whole lease, so the
/// old holder's belief runs out first.
#[test]
fn restarted_grantor_waits_a_lease_before_granting() {
    let timeline =
        r#"[{"at_ms": 600, "action": "crash", "node": "n1"}, {"at_ms": 700, "action": "restart", "node": "n1"}]"#;
    let mut sim = cluster(4, r#"{"hold_ms": 5000}"#, timeline);
    sim.run_until(Time::from_ms(1650));
    assert_eq!(figure(sim.as_ref(), "grants"), 1.0, "{}", sim.figures());
    sim.run_until(Time::from_ms(6000));
    assert!(figure(sim.as_ref(), "grants") >= 2.0);
    assert!(violated(sim.as_ref()).is_empty(), "{:?}", sim.violations());
    let bars = sim.figures()["grantor_bars"].clone();
    assert!(bars[1]["from_ms"].as_f64().unwrap_or(0.0) >= 1700.0, "{bars}");
}

// ---- live changes ----

#[test]
fn fencing_can_be_switched_off_live_and_bad_values_are_refused() {
    let mut sim = cluster(4, "{}", "[]");
    sim.run_until(Time::from_ms(500));
    let change = |v: serde_json::Value| Action::Configure { params: v.as_object().cloned().unwrap_or_default() };
    sim.apply_now(change(serde_json::json!({"fencing": false}))).expect("applies");
    assert_eq!(inspect(sim.as_ref(), 0)["state"]["params"]["fencing"], false);
    let err = sim.apply_now(change(serde_json::json!({"margin_ms": 5000}))).expect_err("refused");
    assert!(err.contains("margin_ms"), "{err}");
    let err = sim.apply_now(change(serde_json::json!({"lease_time": 5}))).expect_err("refused");
    assert!(err.contains("lease_time"), "{err}");
}

#[test]
fn time_out_now_makes_an_idle_holder_compete() {
    let mut sim = cluster(4, "{}", "[]");
    sim.run_until(Time::from_ms(1));
    sim.apply_now(Action::Timeout { node: Target::Node(NodeId(3)) }).expect("applies");
    sim.run_until(Time::from_ms(40));
    assert_eq!(sim.figures()["holder"], "n4", "{}", sim.figures());
}

// ---- determinism and input checks ----

#[test]
fn same_seed_same_trace() {
    let a = run(&scenario("lease-fencing"), &RunOptions::default()).expect("runs");
    let b = run(&scenario("lease-fencing"), &RunOptions::default()).expect("runs");
    assert_eq!(a.sim.trace_hash(), b.sim.trace_hash());
    let plan = FuzzPlan::for_protocol("lease");
    let s = fuzz_scenario("lease", 7, &plan);
    let x = run(&s, &RunOptions::default()).expect("runs");
    let y = run(&s, &RunOptions::default()).expect("runs");
    assert_eq!(x.sim.trace_hash(), y.sim.trace_hash());
}

#[test]
fn bad_parameters_are_refused_with_a_reason() {
    let build = |nodes: u16, params: &str| {
        let text = format!(
            r#"{{"format": 1, "protocol": "lease", "name": "t", "title": "t", "nodes": {nodes}, "seed": 1,
                "duration_ms": 1000, "params": {params}}}"#
        );
        let s = Scenario::from_json(&text).unwrap_or_else(|e| panic!("{e}"));
        protocols::build(&s, None).err().map(|e| e.to_string())
    };
    assert!(build(4, "{}").is_none());
    for (nodes, params, word) in [
        (2, "{}", "3 nodes"),
        (4, r#"{"margin_ms": 1000}"#, "margin_ms"),
        (4, r#"{"renew_at": 0.95}"#, "renew_at"),
        (4, r#"{"renew_at": 0}"#, "renew_at"),
        (4, r#"{"work_ms": 0}"#, "work_ms"),
        (4, r#"{"lease": 5}"#, "lease"),
    ] {
        let err = build(nodes, params).unwrap_or_else(|| panic!("{params} on {nodes} nodes was accepted"));
        assert!(err.contains(word), "{params}: {err}");
    }
}
