//! Gossip: the theory checks in quick form, each stop rule's behaviour, anti-entropy converging
//! under concurrent writes, the invariant checker catching a broken node, determinism, and
//! parameters refused with a clear message. The full trials (`caplab trials gossip`) run in
//! release; `full_trials` below is the same run for `cargo test --release -- --ignored`.

use caplab::protocols::gossip::trials::trials;
use caplab::protocols::gossip::{
    Direction, Gossip, GossipInvariants, GossipParams, Mode, ORIGIN_KEY, Stop, StopRule, Version, figures,
};
use caplab::sim::action::{Action, TimedAction};
use caplab::sim::engine::{Sim, SimConfig};
use caplab::sim::ids::{ClientId, NodeId};
use caplab::sim::network::LinkProfile;
use caplab::sim::protocol::{Invariants, NodeRef, Protocol, Violation};
use caplab::sim::time::Time;
use caplab::workload::history::OpKind;
use caplab::workload::{Workload, WorkloadSpec};
use serde_json::{Value, json};

#[test]
fn quick_trials_agree_with_the_theory() {
    let t = std::time::Instant::now();
    let (table, failures) = trials(20, 1, true);
    println!("{table}\n(quick trials took {:.1} s)", t.elapsed().as_secs_f64());
    assert!(failures.is_empty(), "{}\n{}", table, failures.join("\n"));
}

#[test]
#[ignore = "the full trials take a while: cargo test --release --test gossip -- --ignored --nocapture"]
fn full_trials() {
    let seeds = std::env::var("GOSSIP_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(100);
    let t = std::time::Instant::now();
    let (table, failures) = trials(seeds, 1, false);
    println!("{table}\n(full trials took {:.1} s)", t.elapsed().as_secs_f64());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn sim(nodes: u16, clients: u16, seed: u64, params: GossipParams, timeline: Vec<TimedAction>) -> Sim<Gossip> {
    Sim::new(SimConfig {
        nodes,
        clients,
        seed,
        params,
        network: LinkProfile::default(),
        workload: Workload::new(&WorkloadSpec { timeout_ms: 5000, ..WorkloadSpec::default() }, 0),
        timeline,
    })
}

fn rumor_params(direction: Direction, rule: StopRule, feedback: bool, k: u32) -> GossipParams {
    GossipParams { direction, stop: Stop { rule, feedback, k }, origin: Some(NodeId(0)), ..GossipParams::default() }
}

fn figures_of(s: &Sim<Gossip>) -> Value {
    let refs: Vec<NodeRef<'_, Gossip>> = s
        .nodes()
        .iter()
        .enumerate()
        .map(|(i, n)| NodeRef {
            id: NodeId(i as u16),
            live: n.state.as_ref(),
            durable: n.durable.as_ref(),
            clock: Time::ZERO,
        })
        .collect();
    figures(&refs, s.now(), s.params())
}

fn live(s: &Sim<Gossip>) -> impl Iterator<Item = &Gossip> {
    s.nodes().iter().filter_map(|n| n.state.as_ref())
}

/// Runs until nothing is left to happen (push with a stop rule goes quiet), at most 60 s.
fn run_quiet(s: &mut Sim<Gossip>) {
    while s.next_time().is_some_and(|t| t < Time::from_ms(60_000)) {
        s.step();
    }
}

/// Without a stop rule every informed node keeps pushing: everybody is informed and spreading.
#[test]
fn without_a_stop_rule_everybody_hears_and_keeps_spreading() {
    let mut s = sim(200, 0, 3, rumor_params(Direction::Push, StopRule::None, true, 1), Vec::new());
    s.run_until(Time::from_ms(200 * 40));
    let f = figures_of(&s);
    assert_eq!(f["informed"], 200, "{f}");
    assert_eq!(f["spreading"], 200);
    assert!(f["residue"].is_null());
    let rounds = f["rounds_to_all"].as_u64().expect("everybody informed");
    assert!((8..=25).contains(&rounds), "{f}");
    // The curve starts with the origin alone and ends with all.
    let curve = f["curve"].as_array().expect("curve");
    assert_eq!(curve[0], 1);
    assert_eq!(curve.last(), Some(&json!(200)));
    assert!(s.violations().is_empty(), "{:?}", s.violations());
}

/// Blind with a counter: each informed node pushes exactly k times, whatever it hears, so
/// the traffic is exactly k messages per informed node.
#[test]
fn blind_counter_pushes_exactly_k_times_per_informed_node() {
    for k in [1, 3] {
        let mut s = sim(300, 0, 5, rumor_params(Direction::Push, StopRule::Counter, false, k), Vec::new());
        run_quiet(&mut s);
        let f = figures_of(&s);
        let informed = f["informed"].as_u64().unwrap_or(0);
        assert_eq!(f["spreading"], 0, "{f}");
        assert_eq!(f["messages"].as_u64(), Some(k as u64 * informed), "k={k}: {f}");
        assert!(live(&s).all(|g| g.hot().is_empty()));
    }
}

/// Blind with a coin of 1/1 is the counter of 1: one push each, then silence; a chain that
/// dies out after a few dozen nodes (Demers Table 2, k = 1: residue 0.96).
#[test]
fn blind_coin_of_one_is_one_push_each_and_leaves_most_uninformed() {
    let mut s = sim(1000, 0, 2, rumor_params(Direction::Push, StopRule::Coin, false, 1), Vec::new());
    run_quiet(&mut s);
    let f = figures_of(&s);
    assert_eq!(f["messages"], f["informed"], "{f}");
    assert!(f["residue"].as_f64().is_some_and(|r| r > 0.8), "{f}");
}

/// Feedback with a counter: every informed node ends removed after k unnecessary contacts,
/// and Demers' lower bound on the traffic holds: m - 1 necessary messages plus k unnecessary
/// ones from each of the m removed nodes (§1.4, variation 2).
#[test]
fn feedback_counter_stops_after_k_unnecessary_contacts_and_leaves_a_residue() {
    for k in [1, 2] {
        let mut s = sim(500, 0, 7, rumor_params(Direction::Push, StopRule::Counter, true, k), Vec::new());
        run_quiet(&mut s);
        let f = figures_of(&s);
        let m = f["informed"].as_u64().unwrap_or(0);
        assert_eq!(f["spreading"], 0);
        assert!(f["messages"].as_u64().unwrap_or(0) + 1 >= (k as u64 + 1) * m, "k={k}: {f}");
        let residue = f["residue"].as_f64().unwrap_or(1.0);
        assert!(residue > 0.0 && residue < 0.4, "k={k}: {f}");
        assert!(s.violations().is_empty());
    }
}

/// Pull with feedback: the asker's digest tells the contacted node whether it knew; once
/// everybody knows, every spreader loses interest, though every node keeps asking.
#[test]
fn pull_with_feedback_informs_everybody_and_then_stops_spreading() {
    for direction in [Direction::Pull, Direction::PushPull] {
        let mut s = sim(200, 0, 11, rumor_params(direction, StopRule::Counter, true, 3), Vec::new());
        s.run_until(Time::from_ms(200 * 60));
        let f = figures_of(&s);
        assert_eq!(f["spreading"], 0, "{direction:?}: {f}");
        assert!(f["residue"].as_f64().is_some_and(|r| r < 0.05), "{direction:?}: {f}");
        assert!(s.violations().is_empty());
    }
}

/// Rumor mongering leaves a residue; anti-entropy (mode "both") removes it.
#[test]
fn anti_entropy_cleans_up_the_residue_of_rumor_mongering() {
    let mut p = rumor_params(Direction::Push, StopRule::Counter, true, 1);
    p.mode = Mode::Both;
    p.anti_entropy_period_ms = 1000;
    let mut s = sim(100, 0, 4, p, Vec::new());
    s.run_until(Time::from_ms(5_000));
    let early = figures_of(&s);
    s.run_until(Time::from_ms(30_000));
    let late = figures_of(&s);
    assert_eq!(late["informed"], 100, "early {early}\nlate {late}");
    assert_eq!(late["residue"], 0.0);
    // Some nodes heard it only from anti-entropy.
    let quietly =
        live(&s).filter(|g| g.store().get(ORIGIN_KEY).is_some_and(|e| format!("{:?}", e.via) == "AntiEntropy")).count();
    assert!(quietly > 0);
}

/// Two clients write x at two nodes at the same moment; anti-entropy alone (every direction)
/// brings every node to the write with the highest version.
#[test]
fn anti_entropy_converges_on_the_highest_version_of_concurrent_writes() {
    for direction in [Direction::Push, Direction::Pull, Direction::PushPull] {
        let put = |client: u16, node: u16, value: &str| TimedAction {
            at_us: 100_000,
            action: Action::Request {
                client: ClientId(client),
                op: OpKind::Put,
                key: "x".into(),
                value: Some(value.into()),
                keys: None,
                node: Some(NodeId(node)),
            },
        };
        let p =
            GossipParams { mode: Mode::AntiEntropy, direction, anti_entropy_period_ms: 300, ..GossipParams::default() };
        let mut s = sim(12, 2, 9, p, vec![put(0, 0, "a"), put(1, 6, "b")]);
        s.run_until(Time::from_ms(15_000));
        let created: Vec<(Version, String)> =
            live(&s).flat_map(|g| g.created().iter().map(|u| (u.version, u.value.clone()))).collect();
        assert_eq!(created.len(), 2, "{created:?}");
        let newest = created.iter().max().cloned().expect("two writes");
        for g in live(&s) {
            let e = g.store().get("x").expect("x everywhere");
            assert_eq!((e.version, e.value.clone()), newest, "{direction:?}");
        }
        assert!(s.violations().is_empty(), "{:?}", s.violations());
    }
}

/// The checker flags a node holding a value nobody wrote, and a version going back.
#[test]
fn the_invariants_catch_a_broken_node() {
    let params = GossipParams::default();
    let mut checker = GossipInvariants::default();
    let mut out: Vec<Violation> = Vec::new();
    let mut node = Gossip::blank(NodeId(1), 3, params);
    node.force_entry("x", "forged", Version { at_us: 5, node: NodeId(0) });
    let refs = [NodeRef { id: NodeId(1), live: Some(&node), durable: None, clock: Time::ZERO }];
    checker.check(&refs, Time::ZERO, &mut out);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].invariant, "Validity");
    assert!(out[0].detail.contains("nobody wrote"), "{}", out[0].detail);

    out.clear();
    node.force_entry("x", "older", Version { at_us: 1, node: NodeId(0) });
    let refs = [NodeRef { id: NodeId(1), live: Some(&node), durable: None, clock: Time::ZERO }];
    checker.check(&refs, Time::ZERO, &mut out);
    assert!(out.iter().any(|v| v.invariant == "Monotonic Versions"), "{out:?}");
}

/// A fault-free run with clients and anti-entropy never trips an invariant, with the checker
/// on every step.
#[test]
fn a_run_with_clients_and_crashes_keeps_every_invariant() {
    let mut p = rumor_params(Direction::PushPull, StopRule::Coin, true, 2);
    p.mode = Mode::Both;
    let spec = WorkloadSpec { rate: 10.0, keys: 3, read_ratio: 0.3, ..WorkloadSpec::default() };
    let timeline = vec![
        TimedAction { at_us: 700_000, action: Action::Crash { node: caplab::sim::action::Target::Node(NodeId(2)) } },
        TimedAction {
            at_us: 2_000_000,
            action: Action::Restart { node: caplab::sim::action::Target::Node(NodeId(2)) },
        },
    ];
    let mut s: Sim<Gossip> = Sim::new(SimConfig {
        nodes: 10,
        clients: 3,
        seed: 21,
        params: p,
        network: LinkProfile::default(),
        workload: Workload::new(&spec, 3_000_000),
        timeline,
    });
    s.run_until(Time::from_ms(8_000));
    assert!(s.violations().is_empty(), "{:?}", s.violations());
    assert!(s.history().entries().len() > 20);
}

#[test]
fn the_same_seed_gives_the_same_trace_and_another_seed_another() {
    let run = |seed| {
        let mut s = sim(300, 0, seed, rumor_params(Direction::PushPull, StopRule::Counter, true, 2), Vec::new());
        s.run_until(Time::from_ms(6_000));
        s.trace_hash().hex()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn bad_parameters_are_refused_with_a_clear_message() {
    let bad = |p: Value| -> String {
        match serde_json::from_value::<GossipParams>(p) {
            Err(e) => e.to_string(),
            Ok(p) => Gossip::validate(&p).err().unwrap_or_default(),
        }
    };
    assert!(bad(json!({"fanout": 0})).contains("fanout must be from 1"));
    assert!(bad(json!({"fanuot": 1})).contains("unknown field `fanuot`"));
    assert!(bad(json!({"mode": "gossip"})).contains("unknown variant `gossip`"));
    assert!(bad(json!({"stop": {"rule": "counter", "k": 0}})).contains("stop.k must be from 1"));
    assert!(bad(json!({"stop": {"rule": "counter", "kk": 1}})).contains("unknown field `kk`"));
    assert!(bad(json!({"period_ms": 0})).contains("period_ms must be from 1"));
    assert!(bad(json!({"origin": "x1"})).contains("not an actor name"));
    assert_eq!(bad(json!({"mode": "both", "direction": "push_pull", "stop": {"rule": "coin", "k": 3}})), "");
}

/// The origin must be one of the nodes; a scenario says which field is wrong.
#[test]
fn an_origin_outside_the_cluster_is_refused() {
    let text = json!({
        "format": 1, "name": "bad-origin", "title": "t", "protocol": "gossip", "nodes": 3, "seed": 1,
        "duration_ms": 1000, "params": {"origin": "n5"}, "expect": [{"expect": "no_violations"}]
    });
    let s = caplab::scenario::Scenario::from_json(&text.to_string()).expect("the file itself is well formed");
    let e = caplab::protocols::build(&s, None).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("origin n5 is not one of the 3 nodes"), "{e}");
}
