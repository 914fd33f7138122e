//! Each node's own clock: drift moves its timers, a step moves its reading only, a pause with a
//! length ends by itself, and all of it replays from the applied actions to the same trace.

use caplab::protocols::raft::Raft;
use caplab::scenario::Scenario;
use caplab::sim::action::{Action, Target};
use caplab::sim::engine::{Sim, SimConfig};
use caplab::sim::ids::NodeId;
use caplab::sim::time::Time;
use caplab::workload::Workload;

fn raft(seed: u64) -> Sim<Raft> {
    Sim::new(SimConfig {
        nodes: 3,
        clients: 0,
        seed,
        params: Default::default(),
        network: Default::default(),
        workload: Workload::new(&Default::default(), 1_000_000),
        timeline: Vec::new(),
    })
}

fn election_timer(sim: &Sim<Raft>, n: u16) -> Time {
    let slot = &sim.nodes()[n as usize];
    slot.timers().map(|(_, at)| at).min().expect("a timer is set")
}

fn clock(node: u16, offset_ms: Option<i64>, drift: Option<f64>) -> Action {
    Action::Clock { node: Target::Node(NodeId(node)), offset_ms, drift }
}

#[test]
fn a_change_of_drift_moves_the_pending_timers_and_a_step_does_not() {
    let mut sim = raft(5);
    let due = election_timer(&sim, 0);
    sim.apply_now(clock(0, Some(250), None)).expect("a step applies");
    assert_eq!(election_timer(&sim, 0), due, "a step of the wall clock leaves timers alone");
    assert_eq!(sim.clock_of(NodeId(0)), Time::from_ms(250));
    // Twice as fast: the rest of the wait halves, rounded up.
    sim.apply_now(clock(0, None, Some(1.0))).expect("a drift applies");
    assert_eq!(election_timer(&sim, 0), Time(due.0.div_ceil(2)));
    sim.run_until(Time::from_ms(40));
    assert_eq!(sim.clock_of(NodeId(0)), Time::from_ms(250 + 80));
    assert_eq!(sim.clock_of(NodeId(1)), Time::from_ms(40), "other clocks stay true");
    assert!(sim.clocks_differ());
}

#[test]
fn a_pause_with_a_length_ends_by_itself_and_its_clock_runs_through_it() {
    let mut sim = raft(9);
    sim.run_until(Time::from_ms(100));
    sim.apply_now(Action::Pause { node: Target::Node(NodeId(1)), ms: Some(700) }).expect("pause");
    sim.run_until(Time::from_ms(799));
    assert!(sim.nodes()[1].paused);
    sim.run_until(Time::from_ms(800));
    assert!(!sim.nodes()[1].paused, "resumed after 700 ms");
    assert_eq!(sim.clock_of(NodeId(1)), Time::from_ms(800));
    // A pause resumed by hand is not ended again by its own end.
    sim.apply_now(Action::Pause { node: Target::Node(NodeId(2)), ms: Some(300) }).expect("pause");
    sim.apply_now(Action::Resume { node: Target::Node(NodeId(2)) }).expect("resume");
    sim.run_until(Time::from_ms(850));
    sim.apply_now(Action::Pause { node: Target::Node(NodeId(2)), ms: None }).expect("pause again");
    sim.run_until(Time::from_ms(1200));
    assert!(sim.nodes()[2].paused, "the second pause has no end of its own");
}

const SCENARIO: &str = r#"{
  "format": 1, "name": "clocks", "title": "Clocks", "protocol": "raft", "nodes": 3, "clients": 2,
  "seed": 11, "duration_ms": 4000, "workload": {"rate": 20, "keys": 2},
  "clocks": {"n2": {"drift": 0.5}, "n3": {"offset_ms": -300, "drift": -0.2}},
  "timeline": [
    {"at_ms": 900, "action": "pause", "node": "leader", "ms": 1200},
    {"at_ms": 1500, "action": "clock", "node": "n1", "drift": 0.3, "offset_ms": 40}
  ]
}"#;

#[test]
fn clocks_and_pauses_replay_to_the_same_trace() {
    let s = Scenario::from_json(SCENARIO).expect("valid");
    let mut first = caplab::protocols::build(&s, None).expect("builds");
    first.set_check_invariants(true);
    first.run_until(Time::from_ms(4000));
    assert!(first.violations().is_empty(), "{:?}", first.violations());
    let applied = first.applied_actions().to_vec();
    assert!(applied.iter().any(|a| matches!(a.action, Action::Clock { .. })));
    // The same scenario again, and the applied actions replayed as a timeline.
    let mut again = caplab::protocols::build(&s, None).expect("builds");
    again.run_until(Time::from_ms(4000));
    assert_eq!(first.trace_hash(), again.trace_hash());
    let mut replay = s.clone();
    replay.clocks.clear();
    replay.timeline = applied
        .iter()
        .map(|a| caplab::scenario::TimelineEntry { at_ms: a.at_us as f64 / 1000.0, action: a.action.clone() })
        .collect();
    let mut replayed = caplab::protocols::build(&replay, None).expect("builds");
    replayed.run_until(Time::from_ms(4000));
    assert_eq!(first.trace_hash(), replayed.trace_hash(), "replaying the applied actions gives the same trace");
    let views = first.node_views();
    let n3 = views[2].clock.expect("n3's clock is shown");
    assert!((n3.drift + 0.2).abs() < 1e-9);
    assert!(views[0].clock.is_some(), "n1's clock was changed at 1.5 s");
}

#[test]
fn bad_clocks_are_refused_with_their_field() {
    let bad = SCENARIO.replace(r#""n2": {"drift": 0.5}"#, r#""n7": {"drift": 0.5}"#);
    let e = Scenario::from_json(&bad).unwrap_err().to_string();
    assert!(e.contains("clocks.n7") && e.contains("does not exist"), "{e}");
    let bad = SCENARIO.replace(r#""n2": {"drift": 0.5}"#, r#""c1": {"drift": 0.5}"#);
    let e = Scenario::from_json(&bad).unwrap_err().to_string();
    assert!(e.contains("clocks.c1") && e.contains("not a node"), "{e}");
    let bad = SCENARIO.replace(r#""n2": {"drift": 0.5}"#, r#""n2": {"drift": 12}"#);
    let e = Scenario::from_json(&bad).unwrap_err().to_string();
    assert!(e.contains("drift must be"), "{e}");
    let bad = SCENARIO.replace(r#""n2": {"drift": 0.5}"#, r#""n2": {"speed": 2}"#);
    assert!(Scenario::from_json(&bad).unwrap_err().to_string().contains("unknown field `speed`"));
}
