//! SWIM: a crash detected and disseminated, a false suspicion refuted, a partition's two views
//! merged after the heal, a restarted node re-admitted, the invariant checker firing on a
//! broken node, determinism, refused parameters, and short randomized trials and fuzz runs.

mod common;

use caplab::check::fuzz::{FuzzPlan, reproduce_command, run_seed};
use caplab::protocols::swim::{State, Swim, SwimInvariants, SwimParams};
use caplab::protocols::{self, swim};
use caplab::scenario::Scenario;
use caplab::scenario::run::{RunOptions, run};
use caplab::sim::dynamic::Simulation;
use caplab::sim::ids::NodeId;
use caplab::sim::protocol::{Invariants, NodeRef};
use caplab::sim::time::Time;
use common::*;

fn inline(nodes: u16, duration_ms: u64, params: serde_json::Value, timeline: serde_json::Value) -> Scenario {
    let text = serde_json::json!({
        "format": 1, "name": "swim-test", "title": "test", "protocol": "swim", "nodes": nodes,
        "clients": 1, "seed": 3, "duration_ms": duration_ms, "params": params,
        "network": {"latency_ms": [5, 15]}, "workload": {"rate": 0}, "timeline": timeline,
    });
    serde_json::from_value(text).expect("a valid scenario")
}

fn build(s: &Scenario) -> Box<dyn Simulation> {
    protocols::build(s, None).expect("builds")
}

fn figure(sim: &dyn Simulation, path: &str) -> serde_json::Value {
    let mut v = sim.figures();
    for part in path.split('.') {
        v = match part.parse::<usize>() {
            Ok(i) => v[i].clone(),
            Err(_) => v[part].clone(),
        };
    }
    v
}

#[test]
fn the_tours_teach_their_lesson_over_several_seeds() {
    for name in ["swim-crash", "swim-partition", "swim-false-suspicion"] {
        for seed in 1..=6 {
            let r = run(&scenario(name), &RunOptions { seed: Some(seed), ..RunOptions::default() }).expect("runs");
            assert!(r.summary.passed(), "{name} seed {seed}: {:#?}", r.summary.failures());
        }
    }
    let r = run(&scenario("swim-large"), &RunOptions::default()).expect("runs");
    assert!(r.summary.passed(), "swim-large: {:#?}", r.summary.failures());
}

/// A crash goes unnoticed, then suspected, then dead for some, then dead for all, and the
/// detection times say so in order.
#[test]
fn a_crash_is_suspected_then_declared_dead_everywhere() {
    let mut sim = start("swim-crash");
    run_to(sim.as_mut(), 999);
    assert!(sim.shades().iter().all(|s| *s == 0), "all alive and trusted before the crash");
    run_to(sim.as_mut(), 1001);
    assert_eq!(sim.shades()[6], 3, "n7 crashed and not yet suspected");
    assert!(figure(sim.as_ref(), "detections.0.first_suspect_ms").is_null());
    run_to(sim.as_mut(), 6000);
    assert_eq!(sim.shades()[6], 6, "n7 dead for every running node");
    let first = figure(sim.as_ref(), "detections.0.first_suspect_ms").as_f64().expect("suspected");
    let dead = figure(sim.as_ref(), "detections.0.first_dead_ms").as_f64().expect("declared dead");
    let all = figure(sim.as_ref(), "detections.0.all_dead_ms").as_f64().expect("dead everywhere");
    let timeout = SwimParams::default().suspicion_timeout_us(32) as f64 / 1000.0;
    assert!(first < dead && dead <= all, "{first} {dead} {all}");
    assert!(dead >= first + timeout - 1.0, "declared dead no sooner than the suspicion timeout");
    assert_eq!(figure(sim.as_ref(), "members.dead").as_u64(), Some(31));
    let members = sim.history().entries().iter().filter_map(|e| e.value.clone()).collect::<Vec<_>>();
    assert!(members.iter().any(|v| v == "alive 31, suspect 0, dead 1"), "{members:?}");
}

/// Loss makes a live node suspected; it refutes with a higher incarnation and nobody keeps the
/// suspicion.
#[test]
fn a_false_suspicion_is_refuted() {
    let mut sim = start("swim-false-suspicion");
    run_to(sim.as_mut(), 6000);
    assert!(figure(sim.as_ref(), "refutations").as_u64().unwrap_or(0) >= 1);
    let raised: Vec<u64> =
        (0..8).map(|i| inspect(sim.as_ref(), i)["state"]["incarnation"].as_u64().unwrap_or(0)).collect();
    assert!(raised.iter().any(|i| *i > 0), "some node refuted: {raised:?}");
    for i in 0..8 {
        let state = inspect(sim.as_ref(), i);
        assert_eq!(
            state["state"]["not_alive"].as_array().map(Vec::len),
            Some(0),
            "n{}: {}",
            i + 1,
            state["state"]["not_alive"]
        );
    }
    assert_eq!(swim::settled(sim.as_ref()), Ok(()));
}

/// A partition leaves two views, each holding the other half dead; after the heal they merge,
/// every member back alive at a higher incarnation.
#[test]
fn a_partition_splits_the_views_and_they_merge_after_the_heal() {
    let mut sim = start("swim-partition");
    run_to(sim.as_mut(), 4800);
    for i in 0..10u16 {
        let state = inspect(sim.as_ref(), i);
        let dead: Vec<&str> = state["state"]["not_alive"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["state"] == "dead")
            .filter_map(|e| e["member"].as_str())
            .collect();
        let other: Vec<String> = if i < 5 { 6..=10 } else { 1..=5 }.map(|k| format!("n{k}")).collect();
        assert_eq!(dead, other, "n{} holds the other side dead", i + 1);
    }
    assert!(swim::settled(sim.as_ref()).is_err());
    run_to(sim.as_mut(), 10000);
    assert_eq!(swim::settled(sim.as_ref()), Ok(()));
    for i in 0..10 {
        assert!(inspect(sim.as_ref(), i)["state"]["incarnation"].as_u64() >= Some(1), "n{} refuted", i + 1);
    }
}

/// A restarted node comes back above its old incarnation and is re-admitted everywhere.
#[test]
fn a_restarted_node_is_readmitted() {
    let timeline = serde_json::json!([
        {"at_ms": 500, "action": "crash", "node": "n3"},
        {"at_ms": 5000, "action": "restart", "node": "n3"},
    ]);
    let mut sim = build(&inline(8, 8000, serde_json::json!({}), timeline));
    run_to(sim.as_mut(), 4900);
    assert_eq!(sim.shades()[2], 6, "n3 dead for all");
    run_to(sim.as_mut(), 8000);
    assert_eq!(inspect(sim.as_ref(), 2)["state"]["incarnation"].as_u64(), Some(1));
    assert_eq!(swim::settled(sim.as_ref()), Ok(()));
    assert!(sim.shades().iter().all(|s| *s == 0), "{:?}", sim.shades());
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

/// The checker notices a node that breaks each rule.
#[test]
fn the_invariants_catch_a_broken_node() {
    let params = SwimParams::default();
    let check = |node: &Swim| {
        let mut checker = SwimInvariants::default();
        let mut out = Vec::new();
        let refs = [NodeRef { id: node.id(), live: Some(node), durable: None, clock: caplab::sim::time::Time::ZERO }];
        checker.check(&refs, Time::ZERO, &mut out);
        out.into_iter().map(|v| v.invariant).collect::<Vec<_>>()
    };
    let mut n = Swim::blank(NodeId(0), 4, params.clone());
    assert!(check(&n).is_empty());
    n.tamper(NodeId(0), State::Suspect, 0);
    assert!(check(&n).contains(&"Refutes, Never Self-Suspects"));
    let mut n = Swim::blank(NodeId(0), 4, params.clone());
    n.tamper(NodeId(1), State::Alive, 5);
    assert!(check(&n).contains(&"No Forged Incarnation"));
    let mut n = Swim::blank(NodeId(0), 4, params.clone());
    n.tamper(NodeId(1), State::Dead, 0);
    n.tamper(NodeId(1), State::Suspect, 0);
    assert!(check(&n).contains(&"Precedence"));
    // A node's own incarnation going back, as a restart that forgot it would.
    let mut checker = SwimInvariants::default();
    let mut out = Vec::new();
    let mut n = Swim::blank(NodeId(0), 4, params);
    n.tamper(NodeId(0), State::Alive, 2);
    checker.check(
        &[NodeRef { id: NodeId(0), live: Some(&n), durable: None, clock: caplab::sim::time::Time::ZERO }],
        Time::ZERO,
        &mut out,
    );
    let fresh = Swim::blank(NodeId(0), 4, SwimParams::default());
    checker.check(
        &[NodeRef { id: NodeId(0), live: Some(&fresh), durable: None, clock: caplab::sim::time::Time::ZERO }],
        Time::ZERO,
        &mut out,
    );
    assert!(out.iter().any(|v| v.invariant == "Own Incarnation Grows"), "{out:?}");
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    let hash = || {
        let mut sim = start("swim-partition");
        run_to(sim.as_mut(), 10000);
        sim.trace_hash()
    };
    assert_eq!(hash(), hash());
}

#[test]
fn bad_parameters_are_refused_clearly() {
    let bad = |params: serde_json::Value| match protocols::build(&inline(4, 100, params, serde_json::json!([])), None) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    assert!(bad(serde_json::json!({"ping_timeout_ms": 300})).contains("shorter than protocol_period_ms"));
    assert!(bad(serde_json::json!({"protocol_period_ms": 0})).contains("protocol_period_ms"));
    assert!(bad(serde_json::json!({"max_piggyback": 0})).contains("max_piggyback"));
    assert!(bad(serde_json::json!({"probe_interval": 5})).contains("unknown field"));
}

/// A put, or a get of anything but `members`, is refused with a reason; nothing panics.
#[test]
fn clients_get_the_view_and_nothing_else() {
    let timeline = serde_json::json!([
        {"at_ms": 100, "action": "request", "client": "c1", "op": "put", "key": "x", "value": "1"},
        {"at_ms": 200, "action": "request", "client": "c1", "op": "get", "key": "x"},
        {"at_ms": 300, "action": "request", "client": "c1", "op": "get", "key": "members"},
    ]);
    let mut sim = build(&inline(4, 1000, serde_json::json!({}), timeline));
    run_to(sim.as_mut(), 1000);
    let outcomes: Vec<String> =
        sim.history().entries().iter().map(|e| format!("{:?} {:?}", e.outcome, e.value)).collect();
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    assert!(outcomes[0].starts_with("Fail") && outcomes[1].starts_with("Fail"), "{outcomes:?}");
    assert!(outcomes[2].contains("alive 4, suspect 0, dead 0"), "{outcomes:?}");
}

#[test]
fn quick_randomized_trials_pass() {
    let (table, failures) = swim::trials::trials(3, 0, true);
    assert!(failures.is_empty(), "{table}\n{}", failures.join("\n"));
}

#[test]
fn random_fault_schedules() {
    let seeds: u64 = std::env::var("CAPLAB_FUZZ_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let plan = FuzzPlan::for_protocol("swim");
    for seed in 0..seeds {
        if let Err(e) = run_seed("swim", seed, &plan) {
            panic!("seed {seed}: {e}\nreproduce: {}", reproduce_command("swim", seed));
        }
    }
}
