//! The orchestrated Saga (Garcia-Molina & Salem 1987; Richardson's orchestration pattern)
//! against its claims: each tour's lesson, compensation in reverse order, idempotent
//! compensation of a step that never ran, the orchestrator's recovery from its saga log, the
//! lost update that compensation without semantic locks allows, the invariant checkers on
//! hand-made broken states, and random faults with crashes and partitions.

mod common;

use caplab::check::fuzz::{FuzzPlan, reproduce_command, run_seed};
use caplab::protocols::saga::{Disk, LogEntry, LogEvent, Saga, SagaInvariants, StepEvent};
use caplab::scenario::Scenario;
use caplab::scenario::run::{RunOptions, run};
use caplab::sim::dynamic::Simulation;
use caplab::sim::ids::{ClientId, NodeId};
use caplab::sim::protocol::{Decision, Invariants, NodeRef, Violation};
use caplab::sim::time::Time;
use caplab::workload::history::{HistoryOp, Outcome};
use serde_json::{Value, json};

/// A saga scenario on 4 nodes (x → n2, y → n3, z → n4, w → n2) with no generated workload.
fn scenario(params: Value, network: Value, timeline: Value, duration_ms: u64) -> Scenario {
    let s = json!({
        "format": 1,
        "name": "saga-test",
        "title": "saga test",
        "protocol": "saga",
        "params": params,
        "nodes": 4,
        "clients": 2,
        "seed": 1,
        "duration_ms": duration_ms,
        "network": network,
        "workload": { "rate": 0, "keys": 3, "timeout_ms": 3000, "retries": 1 },
        "timeline": timeline,
    });
    Scenario::from_json(&s.to_string()).unwrap_or_else(|e| panic!("test scenario: {e}"))
}

fn txn(at_ms: u64, keys: &[&str]) -> Value {
    json!({ "at_ms": at_ms, "action": "request", "client": "c1", "op": "txn", "keys": keys })
}

fn run_to_end(s: &Scenario) -> Box<dyn Simulation> {
    let r = run(s, &RunOptions::default()).expect("runs");
    assert!(r.sim.violations().is_empty(), "violations: {:?}", r.sim.violations());
    r.sim
}

/// The orchestrator's saga log for `saga`, one short word per entry ("step_done 1", ...).
fn saga_log(sim: &dyn Simulation, saga: &str) -> Vec<String> {
    let v = common::inspect(sim, 0);
    let log = v["state"]["saga_log"].as_array().cloned().unwrap_or_default();
    log.iter()
        .filter(|e| e["saga"] == saga)
        .map(|e| match &e["event"] {
            Value::String(s) => s.clone(),
            Value::Object(m) => {
                let (k, inner) = m.iter().next().expect("one variant");
                let nums: Vec<String> =
                    inner.as_object().map_or_else(Vec::new, |o| o.values().map(|n| n.to_string()).collect());
                format!("{k} {}", nums.join(" "))
            }
            other => other.to_string(),
        })
        .collect()
}

/// The state of a participant's record of one step: `{"state": "applied" | "failed" |
/// "compensated", ...}` with the state's fields (`applied`, `restored`, `prev`, `reason`).
fn step_record(sim: &dyn Simulation, node: u16, saga: &str, step: u64) -> Option<Value> {
    let v = common::inspect(sim, node);
    v["state"]["steps"]
        .as_array()?
        .iter()
        .find(|s| s["saga"] == saga && s["step"] == step)
        .map(|s| s["record"]["state"].clone())
}

fn store(sim: &dyn Simulation, node: u16) -> Vec<(String, String)> {
    sim.node_views().into_iter().nth(node as usize).map(|v| v.view.store).unwrap_or_default()
}

fn outcome_of(sim: &dyn Simulation, client: u16, op: HistoryOp) -> Vec<(Outcome, Option<String>)> {
    sim.history()
        .entries()
        .iter()
        .filter(|e| e.client == ClientId(client) && e.op == op)
        .map(|e| (e.outcome, e.value.clone()))
        .collect()
}

#[test]
fn the_tours_meet_their_expectations() {
    for name in ["saga-happy", "saga-step-fails", "saga-no-isolation"] {
        let s = common::scenario(name);
        let summary = run(&s, &RunOptions::default()).expect("runs").summary;
        assert!(summary.passed(), "{name}: {:?}", summary.failures());
        assert_eq!(summary.invariants, json!("ok"), "{name}");
    }
}

/// Tour 1: the steps run one at a time, in the order of the writes, and the saga completes.
#[test]
fn a_saga_with_no_failure_runs_its_steps_in_order_and_completes() {
    let sim = run_to_end(&common::scenario("saga-happy"));
    assert_eq!(saga_log(sim.as_ref(), "c1.1"), ["started 3", "step_done 1", "step_done 2", "step_done 3", "completed"]);
    assert_eq!(store(sim.as_ref(), 1), [("x".to_string(), "1".to_string())]);
    assert_eq!(store(sim.as_ref(), 2), [("y".to_string(), "2".to_string())]);
    assert_eq!(store(sim.as_ref(), 3), [("z".to_string(), "3".to_string())]);
    assert_eq!(outcome_of(sim.as_ref(), 0, HistoryOp::Txn), [(Outcome::Ok, None)]);
}

/// Tour 2: step 3 fails; steps 2 then 1 are compensated, step 3 (which changed nothing) is
/// not, and the client is told it failed only after both compensations.
#[test]
fn a_failed_step_compensates_the_steps_before_it_backwards() {
    let sim = run_to_end(&common::scenario("saga-step-fails"));
    assert_eq!(
        saga_log(sim.as_ref(), "c1.1"),
        [
            "started 3",
            "step_done 1",
            "step_done 2",
            "compensating 3 2",
            "step_compensated 2",
            "step_compensated 1",
            "compensated"
        ]
    );
    for node in 1..=3 {
        assert!(store(sim.as_ref(), node).is_empty(), "n{} holds {:?}", node + 1, store(sim.as_ref(), node));
    }
    assert_eq!(outcome_of(sim.as_ref(), 0, HistoryOp::Txn), [(Outcome::Fail, None)]);
    assert_eq!(step_record(sim.as_ref(), 3, "c1.1", 3).expect("n4 recorded step 3")["state"], "failed");
}

/// Four steps, the last failing: the compensations run 3, 2, 1, and two of them are at the
/// same participant (x and w live on n2), which restores each key.
#[test]
fn compensations_run_in_reverse_order_of_the_steps() {
    let s = scenario(
        json!({ "fail_keys": ["z"] }),
        json!({ "latency_ms": [5, 15] }),
        json!([txn(100, &["x", "y", "w", "z"])]),
        1500,
    );
    let sim = run_to_end(&s);
    let log = saga_log(sim.as_ref(), "c1.1");
    let compensated: Vec<&str> = log.iter().filter_map(|e| e.strip_prefix("step_compensated ")).collect();
    assert_eq!(compensated, ["3", "2", "1"], "log: {log:?}");
    assert!(store(sim.as_ref(), 1).is_empty() && store(sim.as_ref(), 2).is_empty());
}

/// A step whose message is lost never runs; it timed out, so it is compensated anyway. The
/// participant records the compensation of a step it never ran (nothing to undo), every
/// retry of that compensation is harmless, and the saga ends compensated.
#[test]
fn compensating_a_step_that_never_ran_is_harmless_and_idempotent() {
    let s = scenario(
        json!({ "step_timeout_ms": 200, "retry_ms": 50 }),
        json!({ "latency_ms": [5, 15], "duplicate": 0.5 }),
        json!([
            { "at_ms": 50, "action": "cut", "from": "n1", "to": "n4", "oneway": true },
            txn(100, &["x", "y", "z"]),
            { "at_ms": 800, "action": "restore", "from": "n1", "to": "n4" },
        ]),
        2000,
    );
    let sim = run_to_end(&s);
    let rec = step_record(sim.as_ref(), 3, "c1.1", 3).expect("n4 recorded the compensation");
    assert_eq!(rec["state"], "compensated");
    assert_eq!(rec["applied"], false, "{rec}");
    assert!(store(sim.as_ref(), 3).is_empty(), "z was never written");
    let n4 = sim.node_views().into_iter().nth(3).expect("n4");
    let part = n4.view.txns.iter().find(|r| r.txn == "c1.1").expect("n4 takes part");
    assert_eq!((part.state, part.decision), ("skipped", Some(Decision::Abort)));
    let log = saga_log(sim.as_ref(), "c1.1");
    assert_eq!(log.iter().filter(|e| e.starts_with("step_compensated")).count(), 3, "{log:?}");
    assert_eq!(outcome_of(sim.as_ref(), 0, HistoryOp::Txn), [(Outcome::Fail, None)]);
}

/// Step 3 is held up on a slow link past its timeout; its compensation, sent later on a fast
/// link, overtakes it. The participant records the compensation of the step it never ran, so
/// the late step is refused: applied now, it would stay applied in a compensated saga.
#[test]
fn a_late_step_that_arrives_after_its_compensation_is_refused() {
    let s = scenario(
        json!({ "step_timeout_ms": 300 }),
        json!({ "latency_ms": [10, 10] }),
        json!([
            txn(100, &["x", "y", "z"]),
            { "at_ms": 145, "action": "network", "latency_ms": [400, 400] },
            { "at_ms": 155, "action": "network", "latency_ms": [10, 10] },
        ]),
        2000,
    );
    let sim = run_to_end(&s);
    let rec = step_record(sim.as_ref(), 3, "c1.1", 3).expect("n4 recorded the compensation");
    assert_eq!((rec["state"].clone(), rec["applied"].clone()), (json!("compensated"), json!(false)), "{rec}");
    let n4 = common::inspect(sim.as_ref(), 3);
    assert_eq!(n4["state"]["step_log"], json!([]), "n4 never ran step 3");
    assert!(store(sim.as_ref(), 3).is_empty(), "z was never written");
    assert_eq!(outcome_of(sim.as_ref(), 0, HistoryOp::Txn), [(Outcome::Fail, None)]);
}

/// The orchestrator crashes while step 2 is in flight (its answer is lost with it). On
/// restart it reads its log, sends step 2 again, which n3 answers from its record without
/// writing twice, and the saga completes.
#[test]
fn the_orchestrator_resumes_a_saga_from_its_log_after_a_crash() {
    let s = scenario(
        json!({}),
        json!({ "latency_ms": [50, 50] }),
        json!([
            txn(100, &["x", "y", "z"]),
            { "at_ms": 320, "action": "crash", "node": "n1" },
            { "at_ms": 600, "action": "restart", "node": "n1" },
        ]),
        2000,
    );
    let mut sim = caplab::protocols::build(&s, None).expect("builds");
    sim.run_until(Time::from_ms(400));
    let n1 = sim.node_views().into_iter().next().expect("n1");
    assert_eq!(n1.role, "crashed");
    let rec = n1.view.txns.iter().find(|r| r.txn == "c1.1").expect("the crashed orchestrator's log shows the saga");
    assert_eq!(rec.state, "running");
    assert!(step_record(sim.as_ref(), 2, "c1.1", 2).is_some_and(|r| r["state"] == "applied"), "n3 ran step 2");
    sim.run_until(Time::from_ms(2000));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    assert_eq!(saga_log(sim.as_ref(), "c1.1"), ["started 3", "step_done 1", "step_done 2", "step_done 3", "completed"]);
    let n3 = common::inspect(sim.as_ref(), 2);
    let events = n3["state"]["step_log"].as_array().cloned().unwrap_or_default();
    let runs = events.iter().filter(|e| e["saga"] == "c1.1" && e["step"] == 2 && e["applied"] == true).count();
    assert_eq!(runs, 1, "step 2 ran once, though n1 sent it twice: {events:?}");
    assert_eq!(outcome_of(sim.as_ref(), 0, HistoryOp::Txn), [(Outcome::Ok, None)]);
}

/// Tour 3: a reader sees the value of a step that is later compensated (no isolation), and a
/// step that timed out but did run late is undone too.
#[test]
fn a_reader_sees_an_intermediate_value_that_is_later_compensated() {
    let sim = run_to_end(&common::scenario("saga-no-isolation"));
    let reads = outcome_of(sim.as_ref(), 1, HistoryOp::Get);
    assert_eq!(reads, [(Outcome::Ok, Some("1".to_string())), (Outcome::Ok, None)]);
    assert_eq!(outcome_of(sim.as_ref(), 0, HistoryOp::Txn), [(Outcome::Fail, None)]);
    let late = step_record(sim.as_ref(), 3, "c1.1", 3).expect("n4 ran step 3 late");
    assert_eq!((late["state"].clone(), late["applied"].clone()), (json!("compensated"), json!(true)));
    assert!(store(sim.as_ref(), 3).is_empty(), "z is back to absent");
}

/// No semantic lock: saga c1.1 writes x, then stalls on y; meanwhile c2's put overwrites x.
/// Compensating c1.1's step 1 finds x no longer holding its value and leaves c2's write in
/// place (the documented choice), noting that it was superseded.
#[test]
fn a_compensation_leaves_a_later_write_alone() {
    let s = scenario(
        json!({}),
        json!({ "latency_ms": [5, 15] }),
        json!([
            { "at_ms": 50, "action": "pause", "node": "n3" },
            txn(100, &["x", "y"]),
            { "at_ms": 200, "action": "request", "client": "c2", "op": "put", "key": "x", "value": "b", "node": "n1" },
            { "at_ms": 800, "action": "resume", "node": "n3" },
        ]),
        2000,
    );
    let sim = run_to_end(&s);
    assert_eq!(outcome_of(sim.as_ref(), 0, HistoryOp::Txn), [(Outcome::Fail, None)]);
    assert_eq!(outcome_of(sim.as_ref(), 1, HistoryOp::Put), [(Outcome::Ok, Some("b".to_string()))]);
    assert_eq!(store(sim.as_ref(), 1), [("x".to_string(), "b".to_string())]);
    let rec = step_record(sim.as_ref(), 1, "c1.1", 1).expect("n2 ran step 1");
    assert_eq!((rec["applied"].clone(), rec["restored"].clone()), (json!(true), json!(false)), "{rec}");
}

/// Two failing sagas write the same key one after the other: c1.1 writes x = 1 over nothing,
/// c2.1 writes x = 3 over it, then both fail on y. c1.1's compensation finds x = 3 and leaves
/// it; c2.1's then puts back what it overwrote. Without care that is 1, the value of a saga
/// that was compensated, left in the store for good; the compensation that found its value
/// superseded hands what it overwrote on to the write that superseded it, so x ends absent.
#[test]
fn compensations_of_overlapping_sagas_leave_no_failed_value_behind() {
    let s = scenario(
        json!({ "fail_keys": ["y"] }),
        json!({ "latency_ms": [5, 5] }),
        json!([
            txn(100, &["x", "y"]),
            { "at_ms": 101, "action": "request", "client": "c2", "op": "txn", "keys": ["x", "y"] },
            { "at_ms": 1000, "action": "request", "client": "c1", "op": "get", "key": "x" },
        ]),
        1500,
    );
    let sim = run_to_end(&s);
    assert_eq!(outcome_of(sim.as_ref(), 0, HistoryOp::Txn), [(Outcome::Fail, None)]);
    assert_eq!(outcome_of(sim.as_ref(), 1, HistoryOp::Txn), [(Outcome::Fail, None)]);
    assert_eq!(outcome_of(sim.as_ref(), 0, HistoryOp::Get), [(Outcome::Ok, None)], "x is absent again");
    assert!(store(sim.as_ref(), 1).is_empty(), "n2 holds no value of a failed saga: {:?}", store(sim.as_ref(), 1));
}

// ---- the invariant checkers on hand-made states ----

fn entry(saga: &str, event: LogEvent) -> LogEntry {
    LogEntry { at_us: 0, saga: saga.to_string(), event }
}

fn applied(saga: &str, step: u32, applied: bool) -> StepEvent {
    StepEvent { at_us: 0, saga: saga.to_string(), step, applied }
}

fn check(disks: &[Disk]) -> Vec<Violation> {
    let nodes: Vec<NodeRef<'_, Saga>> = disks
        .iter()
        .enumerate()
        .map(|(i, d)| NodeRef {
            id: NodeId(i as u16),
            live: None,
            durable: Some(d),
            clock: caplab::sim::time::Time::ZERO,
        })
        .collect();
    let mut inv = SagaInvariants::default();
    let mut out = Vec::new();
    inv.check(&nodes, Time(0), &mut out);
    out
}

fn names(v: &[Violation]) -> Vec<&'static str> {
    v.iter().map(|v| v.invariant).collect()
}

/// A node's disk holding only these logs.
fn disk(log: Vec<LogEntry>, step_log: Vec<StepEvent>, decisions: &[Decision]) -> Disk {
    let decisions = decisions.iter().map(|d| ("c1.1".to_string(), *d)).collect();
    Disk { log, step_log, decisions, ..Disk::default() }
}

#[test]
fn the_invariants_accept_a_correct_compensation() {
    let orch = disk(
        vec![
            entry("c1.1", LogEvent::Started { steps: 2 }),
            entry("c1.1", LogEvent::StepDone { step: 1 }),
            entry("c1.1", LogEvent::Compensating { failed: 2, from: 1 }),
            entry("c1.1", LogEvent::StepCompensated { step: 1 }),
            entry("c1.1", LogEvent::Compensated),
        ],
        vec![],
        &[Decision::Abort],
    );
    let p = disk(vec![], vec![applied("c1.1", 1, true), applied("c1.1", 1, false)], &[Decision::Abort]);
    assert!(check(&[orch, p]).is_empty());
}

#[test]
fn the_invariants_catch_an_aborted_saga_with_a_step_still_applied() {
    let orch =
        disk(vec![entry("c1.1", LogEvent::Started { steps: 2 }), entry("c1.1", LogEvent::Compensated)], vec![], &[]);
    let p = disk(vec![], vec![applied("c1.1", 1, true)], &[]);
    assert_eq!(names(&check(&[orch, p])), ["Saga Compensation"]);
}

#[test]
fn the_invariants_catch_compensations_out_of_order() {
    let p = disk(vec![], vec![applied("c1.1", 1, true), applied("c1.1", 2, true), applied("c1.1", 1, false)], &[]);
    assert_eq!(names(&check(&[Disk::default(), p])), ["Reverse Compensation Order"]);
    let orch = disk(
        vec![
            entry("c1.1", LogEvent::StepCompensated { step: 1 }),
            entry("c1.1", LogEvent::StepCompensated { step: 2 }),
        ],
        vec![],
        &[],
    );
    assert_eq!(names(&check(&[orch])), ["Reverse Compensation Order"]);
}

#[test]
fn the_invariants_catch_a_completed_saga_missing_a_step() {
    let orch =
        disk(vec![entry("c1.1", LogEvent::Started { steps: 2 }), entry("c1.1", LogEvent::Completed)], vec![], &[]);
    let p = disk(vec![], vec![applied("c1.1", 1, true)], &[]);
    assert_eq!(names(&check(&[orch, p])), ["Saga Completion"]);
}

#[test]
fn the_invariants_catch_a_participant_that_commits_an_aborted_saga() {
    let orch = disk(vec![], vec![], &[Decision::Abort]);
    let p = disk(vec![], vec![], &[Decision::Commit]);
    assert_eq!(names(&check(&[orch, p])), ["Saga Outcome"]);
}

// ---- random faults ----

#[test]
fn sagas_keep_their_invariants_and_finish_under_random_faults() {
    let seeds: u64 = std::env::var("CAPLAB_FUZZ_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(100);
    let plan = FuzzPlan::default();
    let mut failures = Vec::new();
    for seed in 0..seeds {
        if let Err(reason) = run_seed("saga", seed, &plan) {
            failures.push(format!("seed {seed}: {reason}\n  reproduce: {}", reproduce_command("saga", seed)));
        }
    }
    assert!(failures.is_empty(), "{} of {seeds} seeds failed:\n{}", failures.len(), failures.join("\n"));
}

/// The fuzz runs are not vacuous: across a few seeds, sagas both complete and get
/// compensated, and every one has ended by the end of the run.
#[test]
fn random_fault_runs_complete_some_sagas_and_compensate_others() {
    let plan = FuzzPlan::default();
    let (mut completed, mut compensated) = (0, 0);
    for seed in 0..5 {
        let s = caplab::check::fuzz::scenario("saga", seed, &plan);
        let r = run(&s, &RunOptions::default()).expect("runs");
        for t in &r.summary.transactions {
            let n1 = t.nodes.get("n1").expect("the orchestrator knows every saga");
            match n1.decision {
                Some(Decision::Commit) => completed += 1,
                Some(Decision::Abort) => compensated += 1,
                None => panic!("seed {seed}: saga {} never ended ({})", t.txn, n1.state),
            }
            assert!(t.decided && t.atomic, "seed {seed}: {t:?}");
        }
    }
    assert!(completed > 20 && compensated > 5, "completed {completed}, compensated {compensated}");
}
