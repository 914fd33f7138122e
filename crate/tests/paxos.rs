//! Basic Paxos: the lessons of its tours over several seeds, the race in which a second
//! proposer must adopt the first one's value, the invariant checkers firing on hand-built bad
//! journals, and random fault schedules (seeds from `CAPLAB_FUZZ_SEEDS`).

mod common;

use caplab::check::fuzz::{FuzzPlan, reproduce_command, run_seed};
use caplab::protocols::paxos::{Ballot, Event, Paxos, PaxosInvariants, PaxosParams};
use caplab::scenario::Scenario;
use caplab::scenario::run::{RunOptions, run};
use caplab::sim::ids::NodeId;
use caplab::sim::protocol::{Invariants, NodeRef, Violation};
use caplab::sim::time::Time;
use common::*;

const TOURS: [&str; 5] = ["paxos-happy", "paxos-race", "paxos-duel", "paxos-acceptor-crash", "paxos-minority"];

/// A scenario, or each side of a comparison, as plain scenarios.
fn sides(s: &Scenario) -> Vec<Scenario> {
    if s.compare.is_empty() {
        vec![s.clone()]
    } else {
        (0..s.compare.len()).map(|i| s.side(i).expect("a side")).collect()
    }
}

/// Every tour's expectations hold for its own seed and for others: the lessons do not depend on
/// one lucky draw of back-offs and learn timeouts (the network's latency is fixed in all five).
#[test]
fn every_tour_teaches_its_lesson_over_many_seeds() {
    for name in TOURS {
        for s in sides(&scenario(name)) {
            for seed in 1..=12 {
                let r = run(&s, &RunOptions { seed: Some(seed), ..RunOptions::default() }).expect("runs");
                assert!(r.summary.passed(), "{name} ({}) seed {seed}: {:#?}", s.name, r.summary.failures());
            }
        }
    }
}

fn proposer(sim: &dyn caplab::sim::dynamic::Simulation, node: u16, key: &str) -> serde_json::Value {
    inspect(sim, node)["state"]["instances"][key]["proposer"].clone()
}

/// PMS §2.2 (P2c): n5's promises include n1's vote for v1 in 1.n1, so n5 must propose v1, not
/// its own v2; v1 is chosen in n5's ballot, c1 is told done and c2 rejected.
#[test]
fn a_second_proposer_adopts_the_value_it_finds_in_a_promise() {
    let mut sim = start("paxos-race");
    run_to(sim.as_mut(), 145);
    let p = proposer(sim.as_ref(), 4, "x");
    assert_eq!(p["phase"], "accept", "{p}");
    assert_eq!(p["ballot"], "2.n5");
    assert_eq!(p["own_value"], "v2");
    assert_eq!(p["value"], "v1");
    assert_eq!(p["adopted_from"], "1.n1");
    // n1 has given its own ballot up; its acceptor holds the vote n5 found.
    assert_eq!(proposer(sim.as_ref(), 0, "x")["phase"], "backoff");
    let n1 = inspect(sim.as_ref(), 0)["state"]["instances"]["x"]["acceptor"].clone();
    assert_eq!(n1["accepted"], serde_json::json!({ "ballot": "1.n1", "value": "v1" }));
    assert_eq!(n1["promised"], "2.n5");
    run_to(sim.as_mut(), 400);
    for v in sim.node_views() {
        assert_eq!(v.view.store, vec![("x".to_string(), "v1".to_string())], "{}", v.id);
    }
    let learner = &inspect(sim.as_ref(), 2)["state"]["instances"]["x"]["learner"];
    assert_eq!(learner["learned"], "v1");
    assert_eq!(learner["accepted"]["n5"], "2.n5");
}

/// Without the rule (a proposer always proposing its own value), the same race chooses two
/// values: shown on hand-built journals, since the protocol has no switch to break it.
#[test]
fn ignoring_the_vote_in_the_promises_would_break_agreement() {
    let mut checker = PaxosInvariants::default();
    let b = |round, node| Ballot { round, node: NodeId(node) };
    let put = |v: &str| Event::Proposed { key: "x".into(), value: v.into() };
    let acc = |ballot, v: &str| Event::Accepted { key: "x".into(), ballot, value: v.into() };
    // v1 chosen in 1.n1 by n1, n2, n3; then n5 proposes its own v2 in 2.n5 anyway.
    let journals = [
        vec![put("v1"), acc(b(1, 0), "v1")],
        vec![acc(b(1, 0), "v1"), acc(b(2, 4), "v2")],
        vec![acc(b(1, 0), "v1"), acc(b(2, 4), "v2")],
        vec![acc(b(2, 4), "v2")],
        vec![put("v2"), acc(b(2, 4), "v2")],
    ];
    let found = check(&mut checker, &journals);
    assert!(found.iter().any(|v| v.invariant == "Agreement"), "{found:?}");
    assert!(found.iter().any(|v| v.invariant == "Accepted Values Safe"), "{found:?}");
}

fn check(checker: &mut PaxosInvariants, journals: &[Vec<Event>]) -> Vec<Violation> {
    let nodes: Vec<Paxos> = journals
        .iter()
        .enumerate()
        .map(|(i, j)| {
            let mut p = Paxos::blank(NodeId(i as u16), journals.len() as u16, PaxosParams::default());
            j.iter().cloned().for_each(|e| p.record(e));
            p
        })
        .collect();
    let refs: Vec<NodeRef<'_, Paxos>> = nodes
        .iter()
        .enumerate()
        .map(|(i, p)| NodeRef {
            id: NodeId(i as u16),
            live: Some(p),
            durable: None,
            clock: caplab::sim::time::Time::ZERO,
        })
        .collect();
    let mut out = Vec::new();
    checker.check(&refs, Time::ZERO, &mut out);
    out
}

#[test]
fn each_invariant_fires_on_a_journal_that_breaks_it() {
    let b = |round, node| Ballot { round, node: NodeId(node) };
    let put = |v: &str| Event::Proposed { key: "x".into(), value: v.into() };
    let acc = |ballot, v: &str| Event::Accepted { key: "x".into(), ballot, value: v.into() };
    let learned = |v: &str| Event::Learned { key: "x".into(), value: v.into() };
    let promised = |ballot| Event::Promised { key: "x".into(), ballot };
    let cases: Vec<(&str, Vec<Vec<Event>>)> = vec![
        ("Validity", vec![vec![acc(b(1, 0), "ghost")], vec![acc(b(1, 0), "ghost")], vec![]]),
        ("Learner Integrity", vec![vec![put("v1"), acc(b(1, 0), "v1")], vec![learned("v1")], vec![]]),
        ("Learner Integrity", vec![vec![put("v1"), acc(b(1, 0), "v1")], vec![acc(b(1, 0), "v1")], vec![learned("v2")]]),
        ("Promise Kept", vec![vec![put("v1")], vec![promised(b(4, 2)), acc(b(3, 0), "v1")], vec![]]),
        ("Promise Kept", vec![vec![], vec![promised(b(4, 2)), promised(b(2, 0))], vec![]]),
        ("Accepted Values Safe", vec![vec![put("a"), put("b"), acc(b(1, 0), "a")], vec![acc(b(1, 0), "b")], vec![]]),
    ];
    for (invariant, journals) in cases {
        let found = check(&mut PaxosInvariants::default(), &journals);
        assert!(found.iter().any(|v| v.invariant == invariant), "{invariant} not found: {found:?}");
    }
    // And a healthy history breaks none.
    let ok = vec![
        vec![put("v1"), promised(b(1, 0)), acc(b(1, 0), "v1")],
        vec![promised(b(1, 0)), acc(b(1, 0), "v1"), learned("v1")],
        vec![promised(b(1, 0)), learned("v1")],
    ];
    assert!(check(&mut PaxosInvariants::default(), &ok).is_empty());
}

/// A node that restarts must keep its promise: the checker remembers promises across a crash,
/// and the real protocol keeps them on disk (the fuzz tests would catch a lapse; here, the
/// inspector shows the promise back after a restart).
#[test]
fn a_promise_survives_a_crash() {
    let mut sim = start("paxos-acceptor-crash");
    run_to(sim.as_mut(), 700);
    let acceptor = &inspect(sim.as_ref(), 4)["state"]["instances"]["x"]["acceptor"];
    assert_eq!(acceptor["promised"], "1.n1", "{acceptor}");
    assert!(acceptor["accepted"].is_null());
    assert_eq!(inspect(sim.as_ref(), 4)["state"]["instances"]["x"]["learner"]["catching_up"], true);
    run_to(sim.as_mut(), 1500);
    assert_eq!(inspect(sim.as_ref(), 4)["state"]["instances"]["x"]["learner"]["learned"], "v1");
}

/// PMS §2.4: without back-off the two proposers of the duel never let each other finish, and
/// their rounds only climb; with a random back-off the first collision ends the duel.
#[test]
fn dueling_proposers_livelock_without_back_off_and_settle_with_it() {
    let duel = scenario("paxos-duel");
    let mut no = caplab::protocols::build(&duel.side(0).expect("side"), None).expect("builds");
    let mut last = 0;
    for ms in (300..=1900).step_by(200) {
        run_to(no.as_mut(), ms);
        let views = no.node_views();
        assert!(views.iter().all(|v| v.view.commit_index == 0), "something was chosen by {ms} ms");
        let term = views.iter().map(|v| v.view.term).max().unwrap_or(0);
        assert!(term > last + 10, "the rounds climb: {term} at {ms} ms after {last}");
        last = term;
    }
    for seed in 1..=20 {
        let mut yes = caplab::protocols::build(&duel.side(1).expect("side"), Some(seed)).expect("builds");
        run_to(yes.as_mut(), 1000);
        assert!(yes.node_views().iter().all(|v| v.view.commit_index == 1), "seed {seed}: not chosen in 1 s");
    }
}

/// A minority proposer can never complete phase 1: its client gets no answer while the
/// partition lasts, whatever the seed; after the heal it adopts the majority's value.
#[test]
fn a_minority_cannot_choose_and_adopts_the_majority_value_after_the_heal() {
    for seed in 1..=10 {
        let mut sim = caplab::protocols::build(&scenario("paxos-minority"), Some(seed)).expect("builds");
        run_to(sim.as_mut(), 1490);
        assert_eq!(proposer(sim.as_ref(), 0, "x")["phase"].as_str().map(|p| p != "done"), Some(true));
        let minority_has_no_answer =
            sim.history().entries().iter().filter(|e| e.client.0 == 0).all(|e| e.return_us.is_none());
        assert!(minority_has_no_answer, "seed {seed}");
        run_to(sim.as_mut(), 2400);
        for v in sim.node_views() {
            assert_eq!(v.view.store, vec![("x".to_string(), "v2".to_string())], "seed {seed}: {}", v.id);
        }
    }
}

fn fuzz_seeds() -> u64 {
    std::env::var("CAPLAB_FUZZ_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(100)
}

fn fuzz(plan: &FuzzPlan, label: &str) {
    let seeds = fuzz_seeds();
    let mut failures = Vec::new();
    for seed in 0..seeds {
        if let Err(reason) = run_seed("paxos", seed, plan) {
            failures.push(format!("seed {seed}: {reason}\n  reproduce: {}", reproduce_command("paxos", seed)));
        }
    }
    assert!(failures.is_empty(), "{label}: {} of {seeds} seeds failed:\n{}", failures.len(), failures.join("\n"));
}

/// The CLI's plan: three keys, so each register is decided early and the faults mostly hit
/// learners catching up and reads.
#[test]
fn paxos_keeps_its_invariants_under_random_faults() {
    fuzz(&FuzzPlan::default(), "three keys");
}

/// Many keys: fresh instances keep starting while the faults hit, so proposers race,
/// preempt each other and recover in the middle of partitions and crashes.
#[test]
fn paxos_keeps_its_invariants_with_fresh_instances_under_faults() {
    fuzz(&FuzzPlan { keys: 60, ..FuzzPlan::default() }, "sixty keys");
}
