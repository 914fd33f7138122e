//! Three-Phase Commit (Skeen 1981; Skeen & Stonebraker 1983; BHG §7.5): each tour's lesson as
//! an assertion, the four rules of the termination protocol, recovery from the log, the
//! partition that breaks atomic commitment under every seed, and random crash schedules: the
//! registry's fuzz plan, and a denser one that crashes a node every few tens of milliseconds so
//! that crashes land inside the phases. A failure prints its seed.

mod common;

use caplab::check::fuzz::{FuzzPlan, reproduce_command, run_seed};
use caplab::check::{linearizability, txns};
use caplab::protocols::{self, txn};
use caplab::scenario::run::{RunOptions, run};
use caplab::scenario::{Scenario, TimelineEntry};
use caplab::sim::action::{Action, Target};
use caplab::sim::dynamic::Simulation;
use caplab::sim::ids::{ClientId, NodeId};
use caplab::sim::protocol::Decision;
use caplab::sim::rng::SimRng;
use caplab::sim::time::Time;
use caplab::workload::history::Outcome;
use common::{inspect, run_to};
use serde_json::json;

fn seeds(default: u64) -> u64 {
    std::env::var("CAPLAB_FUZZ_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// A small 3PC scenario: `nodes` nodes, no workload, one client, the given timeline.
fn scenario(
    nodes: u16,
    latency: [f64; 2],
    params: serde_json::Value,
    timeline: serde_json::Value,
    duration_ms: u64,
) -> Scenario {
    let s = json!({
        "format": 1,
        "name": "threepc-test",
        "title": "test",
        "protocol": "threepc",
        "nodes": nodes,
        "clients": 1,
        "seed": 1,
        "duration_ms": duration_ms,
        "params": params,
        "network": { "latency_ms": latency },
        "workload": { "rate": 0, "timeout_ms": 2000, "retries": 0 },
        "timeline": timeline,
    });
    serde_json::from_value(s).unwrap_or_else(|e| panic!("test scenario: {e}"))
}

fn build(s: &Scenario, seed: Option<u64>) -> Box<dyn Simulation> {
    protocols::build(s, seed).unwrap_or_else(|e| panic!("building: {e}"))
}

fn summary(sim: &dyn Simulation, t: &str) -> txns::TxnSummary {
    txns::summarize(sim).into_iter().find(|x| x.txn == t).unwrap_or_else(|| panic!("no transaction {t}"))
}

fn decision(sim: &dyn Simulation, t: &str, node: &str) -> Option<Decision> {
    summary(sim, t).nodes.get(node).and_then(|p| p.decision)
}

fn state(sim: &dyn Simulation, t: &str, node: &str) -> &'static str {
    summary(sim, t).nodes.get(node).map_or("none", |p| p.state)
}

fn violated(sim: &dyn Simulation, invariant: &str) -> bool {
    sim.violations().iter().any(|v| v.invariant == invariant)
}

/// The registry's fuzz plan with its crashes replaced by a dense schedule: every 20-250 ms a
/// random node (the coordinator n1 half the time) crashes or a crashed one restarts.
fn dense_crashes(seed: u64) -> Scenario {
    let plan = FuzzPlan::default();
    let mut s = caplab::check::fuzz::scenario("threepc", seed, &plan);
    let mut rng = SimRng::new(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 7);
    s.timeline.retain(|e| e.at_ms >= plan.faults_ms as f64);
    let mut at = 200.0;
    let mut down: Vec<u16> = Vec::new();
    while at < plan.faults_ms as f64 {
        let restart = !down.is_empty() && (down.len() >= 3 || rng.chance(450_000));
        let action = if restart {
            let n = down.swap_remove(rng.index(down.len()));
            Action::Restart { node: Target::Node(NodeId(n)) }
        } else {
            let n = if rng.chance(500_000) { 0 } else { rng.between(1, plan.nodes as u64 - 1) as u16 };
            if !down.contains(&n) {
                down.push(n);
            }
            Action::Crash { node: Target::Node(NodeId(n)) }
        };
        s.timeline.push(TimelineEntry { at_ms: at, action });
        at += rng.between(20, 250) as f64;
    }
    s.timeline.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
    s
}

fn judge_dense(seed: u64) -> Result<(), String> {
    let plan = FuzzPlan::default();
    let s = dense_crashes(seed);
    let mut sim = build(&s, None);
    let reads_at = plan.faults_ms + plan.settle_ms;
    run_to(sim.as_mut(), reads_at);
    if let Some(v) = sim.violations().first() {
        return Err(format!("{} violated at {} ms: {}", v.invariant, v.at_us / 1000, v.detail));
    }
    txn::settled(sim.as_ref()).map_err(|e| format!("not settled {} ms after the heal: {e}", plan.settle_ms))?;
    sim.run_until(Time::from_ms(s.duration_ms));
    if let Some(v) = sim.violations().first() {
        return Err(format!("{} violated at {} ms: {}", v.invariant, v.at_us / 1000, v.detail));
    }
    let history = sim.history().entries();
    let finals = history.iter().filter(|e| e.invoke_us >= reads_at * 1000 && e.client == ClientId(0));
    if finals.clone().count() != plan.keys as usize || finals.clone().any(|e| e.outcome != Outcome::Ok) {
        return Err("the final reads did not all succeed".into());
    }
    match linearizability::check(history, &linearizability::CheckOptions::default()).linearizable {
        Some(true) => Ok(()),
        Some(false) => Err("the history is not linearizable".into()),
        None => Err("the linearizability checker gave up".into()),
    }
}

#[test]
fn dense_crashes_keep_every_invariant_and_never_block() {
    let n = seeds(100);
    let failures: Vec<String> =
        (0..n).filter_map(|seed| judge_dense(seed).err().map(|e| format!("dense seed {seed}: {e}"))).collect();
    assert!(failures.is_empty(), "{} of {n} seeds failed:\n{}", failures.len(), failures.join("\n"));
}

const SLOW: [f64; 2] = [40.0, 45.0];

fn slow() -> serde_json::Value {
    json!({ "vote_timeout_ms": 300, "ack_timeout_ms": 300, "participant_timeout_ms": 800, "election_ms": 200 })
}

/// c1 writes x, y and z at 0 ms on a 4-node cluster with 40-45 ms latency. The phases are
/// then far apart: CanCommits arrive by 90 ms, votes from 120 ms, PreCommits from 160 to
/// 180 ms, acks from 200 ms; a participant's wait runs out about 800 ms after its last message.
fn slow_txn(mut timeline: Vec<serde_json::Value>, duration_ms: u64) -> Scenario {
    timeline
        .insert(0, json!({ "at_ms": 0, "action": "request", "client": "c1", "op": "txn", "keys": ["x", "y", "z"] }));
    scenario(4, SLOW, slow(), serde_json::Value::Array(timeline), duration_ms)
}

fn run_scenario(s: &Scenario, until_ms: u64) -> Box<dyn Simulation> {
    let mut sim = build(s, None);
    run_to(sim.as_mut(), until_ms);
    sim
}

fn no_violations(sim: &dyn Simulation) {
    let v: Vec<String> = sim.violations().iter().map(|v| format!("{}: {}", v.invariant, v.detail)).collect();
    assert!(v.is_empty(), "violations: {v:?}");
}

// ---- The tours' lessons ----

#[test]
fn the_happy_path_goes_through_the_three_phases_in_order() {
    let mut sim = common::start("threepc-happy");
    // 20-25 ms a message, the request at 100 ms: votes are cast by 150 ms and reach n1 from
    // 160 ms; PreCommits land by 200 ms; DoCommits from 220 ms.
    run_to(sim.as_mut(), 158);
    assert_eq!(state(sim.as_ref(), "c1.1", "n1"), "waiting");
    assert_eq!(state(sim.as_ref(), "c1.1", "n2"), "uncertain");
    assert_eq!(state(sim.as_ref(), "c1.1", "n3"), "uncertain");
    run_to(sim.as_mut(), 205);
    assert_eq!(state(sim.as_ref(), "c1.1", "n2"), "precommitted");
    assert_eq!(state(sim.as_ref(), "c1.1", "n3"), "precommitted");
    run_to(sim.as_mut(), 300);
    let t = summary(sim.as_ref(), "c1.1");
    assert!(t.decided && t.atomic, "{t:?}");
    assert_eq!(t.outcome, Some(Outcome::Ok));
    assert!(!t.nodes.contains_key("n4"), "n4 holds neither key and takes no part");
    assert!(t.nodes["n2"].blocked_ms > 0.0, "a participant is uncertain from its yes vote");
    assert_eq!(t.nodes["n1"].blocked_ms, 0.0, "the coordinator never votes");
    assert_eq!(inspect(sim.as_ref(), 1)["state"]["store"]["x"], "1");
    no_violations(sim.as_ref());
    let r = run(&common::scenario("threepc-happy"), &RunOptions::default()).expect("runs");
    assert!(r.summary.passed(), "{:?}", r.summary.failures());
}

#[test]
fn a_coordinator_crash_after_precommit_does_not_block_the_participants() {
    let s = common::scenario("threepc-coordinator-crash");
    for seed in 0..seeds(20) {
        let mut sim = build(&s, Some(seed));
        run_to(sim.as_mut(), 1500);
        assert!(sim.node_views()[0].role == "crashed", "n1 is still down");
        let t = summary(sim.as_ref(), "c1.1");
        for n in ["n2", "n3", "n4"] {
            assert_eq!(decision(sim.as_ref(), "c1.1", n), Some(Decision::Commit), "seed {seed}: {n}: {t:?}");
            assert!(t.nodes[n].locks.is_empty(), "seed {seed}: {n} released its lock");
        }
        assert!(t.blocked_ms < 1300.0, "seed {seed}: blocked {} ms", t.blocked_ms);
        no_violations(sim.as_ref());
        let r = run(&s, &RunOptions { seed: Some(seed), ..Default::default() }).expect("runs");
        assert!(r.summary.passed(), "seed {seed}: {:?}", r.summary.failures());
    }
}

#[test]
fn a_partition_breaks_atomic_commitment_under_every_seed() {
    let s = common::scenario("threepc-partition");
    let n = seeds(50);
    for seed in 0..n {
        let r = run(&s, &RunOptions { seed: Some(seed), ..Default::default() }).expect("runs");
        assert!(r.summary.passed(), "seed {seed}: {:?}", r.summary.failures());
        let mut sim = build(&s, Some(seed));
        run_to(sim.as_mut(), s.duration_ms);
        assert!(violated(sim.as_ref(), "Atomic Commitment"), "seed {seed}: the split was not seen");
        assert_eq!(decision(sim.as_ref(), "c1.1", "n2"), Some(Decision::Commit), "seed {seed}");
        assert_eq!(decision(sim.as_ref(), "c1.1", "n3"), Some(Decision::Abort), "seed {seed}");
        assert_eq!(decision(sim.as_ref(), "c1.1", "n4"), Some(Decision::Abort), "seed {seed}");
        let stores: Vec<serde_json::Value> =
            (1..4).map(|i| inspect(sim.as_ref(), i)["state"]["store"].clone()).collect();
        assert_eq!(stores[0]["x"], "1", "seed {seed}: n2 applied x");
        assert!(stores[1].get("y").is_none() && stores[2].get("z").is_none(), "seed {seed}: y and z were not written");
    }
}

#[test]
fn a_participant_that_crashed_after_voting_learns_the_commit_on_recovery() {
    let s = common::scenario("threepc-participant-recovery");
    let r = run(&s, &RunOptions::default()).expect("runs");
    assert!(r.summary.passed(), "{:?}", r.summary.failures());
    let mut sim = build(&s, None);
    run_to(sim.as_mut(), 1100);
    // Restarted at 1000 ms, uncertain: it holds its lock and has not decided alone.
    assert_eq!(decision(sim.as_ref(), "c1.1", "n3"), None);
    assert_eq!(summary(sim.as_ref(), "c1.1").nodes["n3"].locks, vec!["y".to_string()]);
    run_to(sim.as_mut(), 1500);
    assert_eq!(decision(sim.as_ref(), "c1.1", "n3"), Some(Decision::Commit));
    assert_eq!(inspect(sim.as_ref(), 2)["state"]["store"]["y"], "2");
    no_violations(sim.as_ref());
}

// ---- The termination protocol, one rule at a time ----

#[test]
fn termination_all_uncertain_aborts() {
    // n1 crashes with the yes votes on their way: n2, n3 and n4 are all uncertain.
    let s = slow_txn(vec![json!({ "at_ms": 100, "action": "crash", "node": "n1" })], 2000);
    let sim = run_scenario(&s, 2000);
    for n in ["n2", "n3", "n4"] {
        assert_eq!(decision(sim.as_ref(), "c1.1", n), Some(Decision::Abort), "{n}");
    }
    assert!(summary(sim.as_ref(), "c1.1").nodes.values().all(|p| p.locks.is_empty()));
    no_violations(sim.as_ref());
}

#[test]
fn termination_any_precommitted_precommits_the_uncertain_then_commits() {
    // PreCommit reaches n2 only (n1's links to n3 and n4 fail one way), then n1 crashes.
    let s = slow_txn(
        vec![
            json!({ "at_ms": 100, "action": "cut", "from": "n1", "to": "n3", "oneway": true }),
            json!({ "at_ms": 100, "action": "cut", "from": "n1", "to": "n4", "oneway": true }),
            json!({ "at_ms": 300, "action": "crash", "node": "n1" }),
        ],
        2500,
    );
    let mut sim = build(&s, None);
    run_to(sim.as_mut(), 400);
    assert_eq!(state(sim.as_ref(), "c1.1", "n2"), "precommitted");
    assert_eq!(state(sim.as_ref(), "c1.1", "n3"), "uncertain");
    // n3 and n4 time out first; n2, asked, runs its own round and is the lowest: it is the
    // backup, sends PreCommit to n3 and n4 and commits once they acknowledge.
    let mut saw_precommitted = false;
    while sim.now() < Time::from_ms(2500) && sim.step() {
        saw_precommitted |= state(sim.as_ref(), "c1.1", "n3") == "precommitted";
    }
    assert!(saw_precommitted, "the backup moved n3 to precommitted before committing");
    for n in ["n2", "n3", "n4"] {
        assert_eq!(decision(sim.as_ref(), "c1.1", n), Some(Decision::Commit), "{n}");
    }
    no_violations(sim.as_ref());
}

#[test]
fn termination_any_aborted_aborts_and_a_node_that_never_voted_aborts_when_asked() {
    // n2 is down when CanCommit arrives and restarts with no record; n1 crashes before the
    // votes arrive. n3 and n4 time out uncertain; n2, asked, aborts (it never voted) and
    // reports it, and the rule "any aborted → abort" decides.
    let s = slow_txn(
        vec![
            json!({ "at_ms": 10, "action": "crash", "node": "n2" }),
            json!({ "at_ms": 100, "action": "crash", "node": "n1" }),
            json!({ "at_ms": 200, "action": "restart", "node": "n2" }),
        ],
        2000,
    );
    let sim = run_scenario(&s, 2000);
    let t = summary(sim.as_ref(), "c1.1");
    assert_eq!(t.nodes["n2"].vote, None, "{t:?}");
    for n in ["n2", "n3", "n4"] {
        assert_eq!(decision(sim.as_ref(), "c1.1", n), Some(Decision::Abort), "{n}");
    }
    no_violations(sim.as_ref());
}

#[test]
fn termination_any_committed_commits_and_recovery_asks_instead_of_deciding() {
    // n3 and n4 crash after voting yes; n1 commits when the ack timeout ends (n2 acked), then
    // crashes. n3 and n4 restart uncertain: they must not decide alone, and n2's report
    // "committed" decides for them.
    let s = slow_txn(
        vec![
            json!({ "at_ms": 100, "action": "crash", "node": "n3" }),
            json!({ "at_ms": 100, "action": "crash", "node": "n4" }),
            json!({ "at_ms": 600, "action": "crash", "node": "n1" }),
            json!({ "at_ms": 1000, "action": "restart", "node": "n3" }),
            json!({ "at_ms": 1000, "action": "restart", "node": "n4" }),
            json!({ "at_ms": 1050, "action": "request", "client": "c1", "op": "get", "key": "y", "node": "n3" }),
        ],
        2500,
    );
    let mut sim = build(&s, None);
    run_to(sim.as_mut(), 700);
    assert_eq!(decision(sim.as_ref(), "c1.1", "n1"), Some(Decision::Commit));
    assert_eq!(decision(sim.as_ref(), "c1.1", "n2"), Some(Decision::Commit));
    run_to(sim.as_mut(), 1150);
    assert_eq!(decision(sim.as_ref(), "c1.1", "n3"), None, "a recovering node waits for the reports");
    run_to(sim.as_mut(), 2500);
    for n in ["n3", "n4"] {
        assert_eq!(decision(sim.as_ref(), "c1.1", n), Some(Decision::Commit), "{n}");
    }
    let read = sim.history().entries().iter().find(|e| e.key == "y").cloned().expect("the read of y");
    assert_eq!(read.outcome, Outcome::Fail, "a read of a key locked by an undecided transaction is refused");
    no_violations(sim.as_ref());
}

#[test]
fn after_a_total_failure_the_nodes_finish_only_once_all_are_back() {
    // Everyone precommitted, then every node crashes. n2 alone, restarted, may not decide: it
    // cannot know what the others did. Once all are back, all recovering and undecided, no
    // decision exists anywhere, and the lowest (n1) finishes: precommitted → commit.
    let mut timeline = vec![];
    for n in ["n1", "n2", "n3", "n4"] {
        timeline.push(json!({ "at_ms": 190, "action": "crash", "node": n }));
    }
    timeline.push(json!({ "at_ms": 500, "action": "restart", "node": "n2" }));
    for n in ["n1", "n3", "n4"] {
        timeline.push(json!({ "at_ms": 3000, "action": "restart", "node": n }));
    }
    let s = slow_txn(timeline, 5000);
    let mut sim = build(&s, None);
    run_to(sim.as_mut(), 2900);
    assert_eq!(decision(sim.as_ref(), "c1.1", "n2"), None, "alone after a total failure, n2 blocks");
    assert_eq!(summary(sim.as_ref(), "c1.1").nodes["n2"].locks, vec!["x".to_string()]);
    run_to(sim.as_mut(), 5000);
    for n in ["n1", "n2", "n3", "n4"] {
        assert_eq!(decision(sim.as_ref(), "c1.1", n), Some(Decision::Commit), "{n}");
    }
    no_violations(sim.as_ref());
    txn::settled(sim.as_ref()).expect("settled");
}

#[test]
fn a_retried_request_does_not_start_a_second_transaction() {
    // The client's first attempt times out while n1 is down; its retry, redirected to n1 after
    // the restart, is answered from n1's log.
    let s = common::scenario("threepc-coordinator-crash");
    let sim = run_scenario(&s, s.duration_ms);
    let t = summary(sim.as_ref(), "c1.1");
    assert_eq!(t.outcome, Some(Outcome::Ok));
    assert_eq!(txns::summarize(sim.as_ref()).len(), 1);
}

// ---- Invariants ----

#[test]
fn the_invariants_catch_a_split_decision_and_a_commit_without_every_yes() {
    use caplab::protocols::threepc::{ThreePc, ThreePcDurable, ThreePcInvariants, Txn, TxnState};
    use caplab::sim::protocol::{Invariants, NodeRef};
    let record = |coordinator: bool, state: TxnState, vote: Option<bool>| Txn {
        coordinator,
        nodes: vec![NodeId(0), NodeId(1), NodeId(2)],
        // The coordinator's record holds every write (x on n2, y on n3): the checker finds who
        // must vote from them.
        writes: if coordinator {
            ["x", "y"].iter().map(|k| caplab::workload::op::Write { key: k.to_string(), value: "1".into() }).collect()
        } else {
            Vec::new()
        },
        client: None,
        state,
        vote,
        since_us: 0,
        uncertain_us: None,
        decided_us: None,
    };
    let log = |r: Txn, d: Option<Decision>| {
        let mut l = ThreePcDurable::default();
        l.order.push("c1.1".into());
        l.txns.insert("c1.1".into(), r);
        l.decisions.extend(d.map(|d| ("c1.1".to_string(), d)));
        l
    };
    let n1 = log(record(true, TxnState::Committed, None), Some(Decision::Commit));
    let n2 = log(record(false, TxnState::Committed, Some(true)), Some(Decision::Commit));
    let n3 = log(record(false, TxnState::Aborted, Some(false)), Some(Decision::Abort));
    let refs: Vec<NodeRef<'_, ThreePc>> = [&n1, &n2, &n3]
        .iter()
        .enumerate()
        .map(|(i, d)| NodeRef {
            id: NodeId(i as u16),
            live: None,
            durable: Some(*d),
            clock: caplab::sim::time::Time::ZERO,
        })
        .collect();
    let mut inv = ThreePcInvariants::default();
    let mut out = Vec::new();
    inv.check(&refs, Time(0), &mut out);
    let names: Vec<&str> = out.iter().map(|v| v.invariant).collect();
    assert!(names.contains(&"Atomic Commitment"), "{out:?}");
    assert!(names.contains(&"Validity"), "{out:?}");
    let before = out.len();
    inv.check(&refs, Time(1), &mut out);
    assert_eq!(out.len(), before, "each decision is judged once");
    // All yes and all committed: nothing to report.
    let n3 = log(record(false, TxnState::Committed, Some(true)), Some(Decision::Commit));
    let refs: Vec<NodeRef<'_, ThreePc>> = [&n1, &n2, &n3]
        .iter()
        .enumerate()
        .map(|(i, d)| NodeRef {
            id: NodeId(i as u16),
            live: None,
            durable: Some(*d),
            clock: caplab::sim::time::Time::ZERO,
        })
        .collect();
    let mut out = Vec::new();
    ThreePcInvariants::default().check(&refs, Time(0), &mut out);
    assert!(out.is_empty(), "{out:?}");
}

// ---- Random crash schedules ----

#[test]
fn threepc_keeps_its_invariants_under_random_crashes() {
    let n = seeds(100);
    let plan = FuzzPlan::default();
    let failures: Vec<String> = (0..n)
        .filter_map(|seed| {
            run_seed("threepc", seed, &plan)
                .err()
                .map(|e| format!("seed {seed}: {e}\n  reproduce: {}", reproduce_command("threepc", seed)))
        })
        .collect();
    assert!(failures.is_empty(), "{} of {n} seeds failed:\n{}", failures.len(), failures.join("\n"));
}
