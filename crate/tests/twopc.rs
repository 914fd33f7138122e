//! Two-phase commit (Gray & Lamport 2006; Bernstein, Hadzilacos & Goodman 1987, ch. 7): the
//! lesson of each tour as an assertion, recovery from the write-ahead log, the cooperative
//! termination protocol, harmless duplicates and retries, and random fault schedules.

mod common;

use caplab::check::fuzz::{FuzzPlan, reproduce_command, run_seed};
use caplab::check::txns::{TxnSummary, summarize};
use caplab::protocols;
use caplab::scenario::Scenario;
use caplab::scenario::run::{RunOptions, run};
use caplab::sim::action::{Action, Target};
use caplab::sim::dynamic::Simulation;
use caplab::sim::ids::NodeId;
use caplab::sim::protocol::Decision;
use common::*;

fn passes(name: &str) -> caplab::scenario::run::Run {
    let r = run(&scenario(name), &RunOptions { record_trace: true, ..RunOptions::default() }).expect("runs");
    assert!(r.summary.passed(), "{name}: {:#?}", r.summary.failures());
    r
}

fn txn(sim: &dyn Simulation, id: &str) -> TxnSummary {
    summarize(sim).into_iter().find(|t| t.txn == id).unwrap_or_else(|| panic!("no node knows {id}"))
}

fn decision(t: &TxnSummary, node: &str) -> Option<Decision> {
    t.nodes.get(node).and_then(|p| p.decision)
}

fn store(sim: &dyn Simulation, node: u16) -> Vec<(String, String)> {
    sim.node_views()[node as usize].view.store.clone()
}

/// The records of a node's write-ahead log, as `record txn` strings.
fn log(sim: &dyn Simulation, node: u16) -> Vec<String> {
    let state = inspect(sim, node);
    let log = if state["state"]["log"].is_array() { &state["state"]["log"] } else { &serde_json::Value::Null };
    log.as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let extra = r["decision"].as_str().map(|d| format!(" {d}")).unwrap_or_default();
            format!("{} {}{extra}", r["record"].as_str().unwrap_or("?"), r["txn"].as_str().unwrap_or("?"))
        })
        .collect()
}

fn locks(sim: &dyn Simulation, node: u16) -> Vec<String> {
    inspect(sim, node)["state"]["locks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| format!("{}:{}", l["key"].as_str().unwrap_or("?"), l["txn"].as_str().unwrap_or("?")))
        .collect()
}

/// Four nodes (n1 coordinates; x on n2, y on n3, z on n4), two clients, no generated load,
/// the given timeline and params.
fn cluster(params: &str, timeline: &str, network: &str) -> Box<dyn Simulation> {
    let text = format!(
        r#"{{"format": 1, "protocol": "twopc", "name": "t", "title": "t", "nodes": 4, "clients": 2, "seed": 1,
            "duration_ms": 20000, "params": {params}, "network": {network}, "timeline": {timeline}}}"#
    );
    let s = Scenario::from_json(&text).unwrap_or_else(|e| panic!("{e}"));
    protocols::build(&s, None).expect("builds")
}

const TXN_XY: &str = r#"[{"at_ms": 300, "action": "request", "client": "c1", "op": "txn", "keys": ["x", "y"]}]"#;
const NET: &str = r#"{"latency_ms": [5, 15]}"#;

fn apply(sim: &mut dyn Simulation, action: Action) {
    sim.apply_now(action).expect("applies");
}

/// Runs until the first message labelled `label` from `from` to `to` is on the wire.
fn run_until_in_flight(sim: &mut dyn Simulation, from: &str, to: &str, label: &str) -> u64 {
    for _ in 0..10_000 {
        if let Some(m) = sim.in_flight().into_iter().find(|m| m.from == from && m.to == to && m.label == label) {
            return m.id;
        }
        assert!(sim.step(), "the run ended before {from} sent {label} to {to}");
    }
    panic!("{from} never sent {label} to {to}");
}

#[test]
fn happy_path_commits_everywhere_and_reads_see_both_writes() {
    let r = passes("twopc-happy");
    let sim = r.sim.as_ref();
    let t = txn(sim, "c1.1");
    for n in ["n1", "n2", "n3"] {
        assert_eq!(decision(&t, n), Some(Decision::Commit), "{n}");
    }
    assert!(!t.nodes.contains_key("n4"), "n4 holds neither key and takes no part");
    assert_eq!(store(sim, 1), vec![("x".to_string(), "1".to_string())]);
    assert_eq!(store(sim, 2), vec![("y".to_string(), "3".to_string())], "c1.2 overwrote y");
    assert_eq!(store(sim, 3), vec![("z".to_string(), "4".to_string())]);
    assert_eq!(
        log(sim, 0),
        ["begin c1.1", "decision c1.1 commit", "end c1.1", "begin c1.2", "decision c1.2 commit", "end c1.2"],
        "the coordinator logs the decision, and the end once every participant acknowledged"
    );
    assert_eq!(log(sim, 1), ["prepared c1.1", "decision c1.1 commit"]);
    for n in 1..4 {
        assert!(locks(sim, n).is_empty(), "n{} holds no lock after the outcome", n + 1);
    }
}

#[test]
fn one_no_vote_aborts_the_transaction_everywhere() {
    let r = passes("twopc-vote-no");
    let sim = r.sim.as_ref();
    let t = txn(sim, "c1.1");
    assert_eq!(t.nodes["n3"].vote, Some(false));
    assert_eq!(t.nodes["n2"].vote, Some(true), "n2 had voted yes and still aborts");
    for n in ["n1", "n2", "n3"] {
        assert_eq!(decision(&t, n), Some(Decision::Abort), "{n}");
    }
    assert_eq!(t.outcome, Some(caplab::workload::history::Outcome::Fail), "the client is told: rejected");
    // x=1 was never applied: n2's store holds only c1.2's x=3.
    assert_eq!(store(sim, 1), vec![("x".to_string(), "3".to_string())]);
    assert!(r.trace.iter().any(|l| l.contains("\"label\":\"VoteNo\"") && l.contains("\"from\":\"n3\"")));
}

#[test]
fn a_participant_down_before_voting_makes_the_coordinator_time_out_and_abort() {
    let mut sim = start("twopc-participant-crash");
    run_to(sim.as_mut(), 700);
    let t = txn(sim.as_ref(), "c1.1");
    assert_eq!(decision(&t, "n1"), Some(Decision::Abort), "aborted at the vote timeout");
    assert!(!t.nodes.contains_key("n3"), "n3 never heard of c1.1");
    assert!(locks(sim.as_ref(), 1).is_empty(), "n2 unlocked x");
    run_to(sim.as_mut(), 2500);
    let t = txn(sim.as_ref(), "c1.1");
    assert_eq!(decision(&t, "n3"), Some(Decision::Abort), "the restarted n3 learns the abort from a resend");
    assert_eq!(t.nodes["n3"].vote, None);
    assert_eq!(log(sim.as_ref(), 0).last().map(String::as_str), Some("end c1.1"), "every participant acknowledged");
    passes("twopc-participant-crash");
}

#[test]
fn the_coordinator_crashing_before_deciding_blocks_every_prepared_participant() {
    let mut sim = start("twopc-coordinator-crash");
    run_to(sim.as_mut(), 5900);
    let t = txn(sim.as_ref(), "c1.1");
    for n in ["n2", "n3"] {
        let p = &t.nodes[n];
        assert_eq!((p.vote, p.decision, p.blocked), (Some(true), None, true), "{n} is prepared and blocked");
        assert!(p.blocked_ms > 5500.0, "{n} blocked {} ms", p.blocked_ms);
    }
    assert_eq!(locks(sim.as_ref(), 1), ["x:c1.1"], "n2 holds x all along");
    assert_eq!(locks(sim.as_ref(), 2), ["y:c1.1"], "n3 holds y all along");
    // The crashed coordinator's log has the beginning of c1.1 and no decision.
    let n1 = &sim.node_views()[0];
    assert_eq!(n1.role, "crashed");
    assert_eq!(n1.view.txns[0].state, "preparing");
    let r = passes("twopc-coordinator-crash");
    // The termination protocol ran and could not help: each participant answered "don't know".
    let dont_know =
        r.trace.iter().filter(|l| l.contains("\"label\":\"DontKnow\"") && l.contains("\"type\":\"sent\"")).count();
    assert!(dont_know >= 8, "{dont_know} don't-know answers");
    let t = txn(r.sim.as_ref(), "c1.1");
    assert!(t.nodes.values().all(|p| p.decision == Some(Decision::Abort)), "presumed abort after the restart");
    assert!((5600.0..5800.0).contains(&t.blocked_ms), "blocked {} ms: the whole outage", t.blocked_ms);
    assert_eq!(log(r.sim.as_ref(), 0), ["begin c1.1", "decision c1.1 abort", "end c1.1"]);
}

#[test]
fn a_partition_blocks_the_cut_off_participant_but_it_never_disagrees() {
    let mut sim = start("twopc-partition");
    run_to(sim.as_mut(), 3900);
    let t = txn(sim.as_ref(), "c1.1");
    assert_eq!(decision(&t, "n1"), Some(Decision::Commit));
    assert_eq!(decision(&t, "n2"), Some(Decision::Commit));
    assert_eq!(decision(&t, "n3"), None, "n3, cut off, may not guess");
    assert!(t.nodes["n3"].blocked_ms > 3500.0);
    assert_eq!(locks(sim.as_ref(), 2), ["y:c1.1"]);
    let r = passes("twopc-partition");
    let t = txn(r.sim.as_ref(), "c1.1");
    assert_eq!(decision(&t, "n3"), Some(Decision::Commit));
    assert_eq!(store(r.sim.as_ref(), 2), vec![("y".to_string(), "2".to_string())]);
    assert!(r.sim.violations().is_empty());
}

/// A participant that crashes after voting yes comes back prepared: it takes its locks again
/// from its log, stays uncertain, asks, and applies the commit it missed.
#[test]
fn a_prepared_participant_recovers_its_locks_from_its_log() {
    let mut sim = cluster("{}", TXN_XY, NET);
    run_until_in_flight(sim.as_mut(), "n2", "n1", "VoteYes");
    apply(sim.as_mut(), Action::Crash { node: Target::Node(NodeId(1)) });
    run_to(sim.as_mut(), 1000);
    assert_eq!(decision(&txn(sim.as_ref(), "c1.1"), "n1"), Some(Decision::Commit), "n2's vote was on the wire");
    assert_eq!(sim.node_views()[1].view.txns[0].state, "prepared", "n2's disk says prepared");
    apply(sim.as_mut(), Action::Restart { node: Target::Node(NodeId(1)) });
    assert_eq!(locks(sim.as_ref(), 1), ["x:c1.1"], "the restart takes x again");
    assert_eq!(decision(&txn(sim.as_ref(), "c1.1"), "n2"), None, "and n2 is still uncertain");
    run_to(sim.as_mut(), 1500);
    assert_eq!(decision(&txn(sim.as_ref(), "c1.1"), "n2"), Some(Decision::Commit));
    assert_eq!(store(sim.as_ref(), 1), vec![("x".to_string(), "1".to_string())]);
    assert!(locks(sim.as_ref(), 1).is_empty());
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

/// A coordinator that crashes after logging commit sends it again when it restarts.
#[test]
fn a_coordinator_with_a_logged_decision_resends_it_after_a_restart() {
    let mut sim = cluster(r#"{"resend_ms": 100000}"#, TXN_XY, NET);
    let commit_to_n3 = run_until_in_flight(sim.as_mut(), "n1", "n3", "Commit");
    sim.remove_message(commit_to_n3).expect("in flight");
    apply(sim.as_mut(), Action::Crash { node: Target::Node(NodeId(0)) });
    // Only the coordinator may help n3 here: n2 is cut off from it.
    apply(sim.as_mut(), Action::Cut { from: NodeId(1).into(), to: NodeId(2).into(), oneway: false });
    run_to(sim.as_mut(), 3000);
    assert_eq!(decision(&txn(sim.as_ref(), "c1.1"), "n3"), None, "n3 blocks while n1 is down");
    apply(sim.as_mut(), Action::Restart { node: Target::Node(NodeId(0)) });
    run_to(sim.as_mut(), 3100);
    assert_eq!(decision(&txn(sim.as_ref(), "c1.1"), "n3"), Some(Decision::Commit), "the restarted n1 resent commit");
    assert_eq!(log(sim.as_ref(), 0), ["begin c1.1", "decision c1.1 commit", "end c1.1"], "logged once, ended once");
}

/// BHG §7.4: the coordinator sent commit to n2 only, then crashed. n3, uncertain, asks n2,
/// which knows, and commits without waiting for the coordinator.
#[test]
fn termination_protocol_an_uncertain_participant_learns_the_outcome_from_another() {
    let mut sim = cluster("{}", TXN_XY, NET);
    let commit_to_n3 = run_until_in_flight(sim.as_mut(), "n1", "n3", "Commit");
    sim.remove_message(commit_to_n3).expect("in flight");
    apply(sim.as_mut(), Action::Crash { node: Target::Node(NodeId(0)) });
    run_to(sim.as_mut(), 1500);
    let t = txn(sim.as_ref(), "c1.1");
    assert_eq!(decision(&t, "n3"), Some(Decision::Commit), "n3 learned commit from n2");
    assert!(t.nodes["n3"].blocked_ms < 600.0, "one decision timeout, not the outage");
    assert_eq!(store(sim.as_ref(), 2), vec![("y".to_string(), "2".to_string())]);
    assert_eq!(sim.node_views()[0].role, "crashed", "the coordinator is still down");
    // Without the cooperative protocol, n3 can only ask the coordinator, and blocks.
    let mut sim = cluster(r#"{"cooperative_termination": false}"#, TXN_XY, NET);
    let commit_to_n3 = run_until_in_flight(sim.as_mut(), "n1", "n3", "Commit");
    sim.remove_message(commit_to_n3).expect("in flight");
    apply(sim.as_mut(), Action::Crash { node: Target::Node(NodeId(0)) });
    run_to(sim.as_mut(), 1500);
    assert_eq!(decision(&txn(sim.as_ref(), "c1.1"), "n3"), None);
}

/// BHG §7.4: a participant that has not voted may abort when asked, and the transaction then
/// aborts everywhere, even after the coordinator comes back.
#[test]
fn termination_protocol_a_participant_that_has_not_voted_aborts_and_answers_abort() {
    let mut sim = cluster("{}", TXN_XY, NET);
    let prepare_to_n3 = run_until_in_flight(sim.as_mut(), "n1", "n3", "Prepare");
    sim.remove_message(prepare_to_n3).expect("in flight");
    run_until_in_flight(sim.as_mut(), "n2", "n1", "VoteYes");
    apply(sim.as_mut(), Action::Crash { node: Target::Node(NodeId(0)) });
    run_to(sim.as_mut(), 1500);
    let t = txn(sim.as_ref(), "c1.1");
    assert_eq!((t.nodes["n3"].vote, decision(&t, "n3")), (None, Some(Decision::Abort)), "n3 aborted unasked-for");
    assert_eq!(decision(&t, "n2"), Some(Decision::Abort), "n2 learned abort from n3");
    apply(sim.as_mut(), Action::Restart { node: Target::Node(NodeId(0)) });
    run_to(sim.as_mut(), 3000);
    let t = txn(sim.as_ref(), "c1.1");
    assert_eq!(decision(&t, "n1"), Some(Decision::Abort), "presumed abort agrees");
    assert!(t.atomic && sim.violations().is_empty());
}

/// Every message delivered twice, copies late and out of order, and clients that time out and
/// retry while their transaction is being decided: still one transaction per request, every
/// one decided the same everywhere.
#[test]
fn duplicated_and_late_messages_and_retries_are_harmless() {
    let timeline = r#"[
        {"at_ms": 300, "action": "request", "client": "c1", "op": "txn", "keys": ["x", "y"]},
        {"at_ms": 300, "action": "request", "client": "c2", "op": "txn", "keys": ["y", "z"]},
        {"at_ms": 300, "action": "request", "client": "c1", "op": "txn", "keys": ["x", "z"]},
        {"at_ms": 300, "action": "request", "client": "c2", "op": "put", "key": "x"},
        {"at_ms": 300, "action": "request", "client": "c1", "op": "get", "key": "y"}
    ]"#;
    let text = format!(
        r#"{{"format": 1, "protocol": "twopc", "name": "t", "title": "t", "nodes": 4, "clients": 2, "seed": 3,
            "duration_ms": 8000, "network": {{"latency_ms": [1, 60], "duplicate": 1.0}},
            "workload": {{"timeout_ms": 40, "retries": 20, "retry_backoff_ms": 5}}, "timeline": {timeline}}}"#
    );
    let s = Scenario::from_json(&text).expect("valid");
    let r = run(&s, &RunOptions::default()).expect("runs");
    let sim = r.sim.as_ref();
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    assert!(sim.stats().duplicated > 50, "copies were delivered: {}", sim.stats().duplicated);
    let all = summarize(sim);
    assert_eq!(all.len(), 4, "four requests, four transactions, however often each was sent");
    assert!(all.iter().all(|t| t.atomic && t.decided), "{all:#?}");
    assert!(r.summary.operations.total >= 5);
    assert_eq!(r.summary.linearizable, Some(true));
    let begins = log(sim, 0).iter().filter(|l| l.starts_with("begin")).count();
    assert_eq!(begins, 4, "a retried request does not begin a second transaction");
    assert!(caplab::protocols::txn::settled(sim).is_ok());
}

/// A Prepare held at a paused participant until long after the coordinator aborted: the
/// participant votes yes late, which changes nothing; the resent abort releases its lock.
#[test]
fn a_prepare_that_arrives_after_the_abort_is_harmless() {
    let mut sim = cluster("{}", TXN_XY, NET);
    run_until_in_flight(sim.as_mut(), "n1", "n3", "Prepare");
    apply(sim.as_mut(), Action::Pause { node: Target::Node(NodeId(2)), ms: None });
    run_to(sim.as_mut(), 2000);
    assert_eq!(decision(&txn(sim.as_ref(), "c1.1"), "n1"), Some(Decision::Abort), "the vote timed out");
    apply(sim.as_mut(), Action::Resume { node: Target::Node(NodeId(2)) });
    run_to(sim.as_mut(), 4000);
    let t = txn(sim.as_ref(), "c1.1");
    assert_eq!(t.nodes["n3"].vote, Some(true), "n3 voted on the late Prepare");
    assert!(t.nodes.values().all(|p| p.decision == Some(Decision::Abort)), "{t:#?}");
    assert!(locks(sim.as_ref(), 2).is_empty(), "n3 holds nothing for an aborted transaction");
    assert_eq!(
        log(sim.as_ref(), 0),
        ["begin c1.1", "decision c1.1 abort", "end c1.1"],
        "the late vote changed nothing"
    );
    assert!(sim.violations().is_empty());
}

#[test]
fn twopc_keeps_its_invariants_under_random_faults() {
    let seeds: u64 = std::env::var("CAPLAB_FUZZ_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(100);
    let plan = FuzzPlan::default();
    let mut failures = Vec::new();
    for seed in 0..seeds {
        if let Err(reason) = run_seed("twopc", seed, &plan) {
            failures.push(format!("seed {seed}: {reason}\n  reproduce: {}", reproduce_command("twopc", seed)));
        }
    }
    assert!(failures.is_empty(), "{} of {seeds} seeds failed:\n{}", failures.len(), failures.join("\n"));
}

/// The fuzz runs are not vacuous: they commit, abort and block transactions.
#[test]
fn fuzz_runs_commit_abort_and_block() {
    let plan = FuzzPlan::default();
    let (mut commits, mut aborts, mut blocked) = (0, 0, 0);
    for seed in 0..10 {
        let s = caplab::check::fuzz::scenario("twopc", seed, &plan);
        let r = run(&s, &RunOptions::default()).expect("runs");
        for t in summarize(r.sim.as_ref()) {
            match t.nodes.get("n1").and_then(|p| p.decision) {
                Some(Decision::Commit) => commits += 1,
                Some(Decision::Abort) => aborts += 1,
                None => {}
            }
            if t.blocked_ms > 1000.0 {
                blocked += 1;
            }
        }
    }
    assert!(commits > 100 && aborts > 10 && blocked > 0, "{commits} commits, {aborts} aborts, {blocked} blocked");
}
