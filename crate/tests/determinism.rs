//! One seed, one scenario, the same actions: the same trace, every time. The page's share links,
//! rewinding and the native-versus-wasm comparison all rest on this.

mod common;

use caplab::scenario::run::{RunOptions, run};
use caplab::sim::action::Action;
use caplab::sim::ids::NodeId;
use caplab::sim::time::Time;
use common::*;

fn hash(name: &str, seed: Option<u64>) -> String {
    run(&scenario(name), &RunOptions { seed, ..RunOptions::default() }).expect("runs").summary.trace_hash
}

#[test]
fn same_scenario_and_seed_give_the_same_trace_hash() {
    for name in [
        "raft-election",
        "raft-leader-crash",
        "raft-leader-isolated",
        "twopc-coordinator-crash",
        "threepc-partition",
        "saga-no-isolation",
        "paxos-race",
        "multipaxos-leader-change",
        "zab-discard",
    ] {
        assert_eq!(hash(name, None), hash(name, None), "{name}");
    }
}

#[test]
fn another_seed_gives_another_trace() {
    assert_ne!(hash("raft-leader-crash", Some(1)), hash("raft-leader-crash", Some(2)));
}

#[test]
fn a_snapshot_continues_exactly_like_the_original() {
    let mut sim = start("raft-leader-crash");
    run_to(sim.as_mut(), 1700);
    let mut copy = sim.snapshot();
    run_to(sim.as_mut(), 5000);
    run_to(copy.as_mut(), 5000);
    assert_eq!(sim.trace_hash(), copy.trace_hash());
    assert_eq!(sim.history().entries(), copy.history().entries());
}

#[test]
fn a_live_action_replays_identically_from_the_timeline() {
    // A person crashes n2 at 1234 ms on the page...
    let mut live = start("raft-election");
    run_to(live.as_mut(), 1234);
    live.apply_now(Action::Crash { node: caplab::sim::action::Target::Node(NodeId(1)) }).expect("valid action");
    run_to(live.as_mut(), 3000);
    // ...and a share link replays the recorded action as a timeline entry at the same time.
    let mut s = scenario("raft-election");
    let recorded = live.applied_actions().iter().find(|a| a.action.name() == "crash").expect("recorded").clone();
    assert_eq!(recorded.at_us, 1_234_000);
    s.timeline.push(caplab::scenario::TimelineEntry { at_ms: recorded.at_us as f64 / 1000.0, action: recorded.action });
    s.timeline.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
    let mut replay = caplab::protocols::build(&s, None).expect("builds");
    replay.run_until(Time::from_ms(3000));
    assert_eq!(live.trace_hash(), replay.trace_hash());
}

#[test]
fn stepping_one_event_at_a_time_equals_running_to_a_time() {
    let mut a = start("raft-leader-isolated");
    let mut b = start("raft-leader-isolated");
    run_to(a.as_mut(), 2000);
    while b.next_time().is_some_and(|t| t <= Time::from_ms(2000)) {
        assert!(b.step());
    }
    assert_eq!(a.trace_hash(), b.trace_hash());
    assert_eq!(a.stats().steps, b.stats().steps);
}

#[test]
fn a_live_action_that_cannot_apply_is_refused_and_leaves_the_trace_alone() {
    let mut sim = start("raft-election");
    run_to(sim.as_mut(), 500);
    let crash = |n| Action::Crash { node: caplab::sim::action::Target::Node(NodeId(n)) };
    sim.apply_now(crash(1)).expect("n2 is up");
    let (hash, steps) = (sim.trace_hash(), sim.stats().steps);
    let err = sim.apply_now(crash(1)).unwrap_err();
    assert!(err.contains("n2 is already crashed"), "{err}");
    assert_eq!((sim.trace_hash(), sim.stats().steps), (hash, steps));
    assert_eq!(sim.applied_actions().iter().filter(|a| a.action.name() == "crash").count(), 1);
}

#[test]
fn a_dropped_message_replays_from_the_timeline_at_a_fractional_time() {
    // A person steps to some event between two whole milliseconds and drops a message there.
    let mut live = start("raft-election");
    run_to(live.as_mut(), 160);
    while live.in_flight().is_empty() {
        assert!(live.step());
    }
    let at = live.now();
    let id = live.in_flight()[0].id;
    live.remove_message(id).expect("the message is in flight");
    assert!(live.remove_message(id).unwrap_err().contains("not in flight"));
    run_to(live.as_mut(), 2000);
    let mut s = scenario("raft-election");
    let drop = Action::Drop { message: id };
    s.timeline.push(caplab::scenario::TimelineEntry { at_ms: at.0 as f64 / 1000.0, action: drop });
    s.timeline.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
    // Through the file format, as an exported scenario would go.
    let s = caplab::scenario::Scenario::from_json(&s.to_json()).expect("valid");
    let r = run(&s, &RunOptions { until_ms: Some(2000.0), ..RunOptions::default() }).expect("runs");
    assert_eq!(live.trace_hash(), r.summary.trace_hash);
}

#[test]
fn a_bounded_run_stops_at_its_budget_and_otherwise_equals_a_plain_run() {
    let mut plain = start("raft-leader-crash");
    let mut bounded = start("raft-leader-crash");
    run_to(plain.as_mut(), 3000);
    // Small budgets until it gets there: the same trace as one plain run.
    while !bounded.run_until_bounded(Time::from_ms(3000), 37) {
        assert!(bounded.now() <= Time::from_ms(3000));
    }
    assert_eq!((plain.trace_hash(), plain.stats().steps), (bounded.trace_hash(), bounded.stats().steps));
    // A budget too small stops short, having taken exactly that many steps.
    let mut short = start("raft-leader-crash");
    assert!(!short.run_until_bounded(Time::from_ms(3000), 100));
    assert_eq!(short.stats().steps, 100);
}
