//! Multi-Paxos (Lamport, "Paxos Made Simple" §3; van Renesse & Altinbuken, "Paxos Made
//! Moderately Complex"): the lessons of its three tours, each checked over several seeds; the
//! hole a new leader fills with a no-op; a deposed leader's accepted but unchosen slot being
//! replaced; the invariant checkers firing on hand-built bad states; and random fault runs.

mod common;

use caplab::check::fuzz::{FuzzPlan, reproduce_command, run_seed};
use caplab::protocols::multipaxos::{Ballot, Command, MultiPaxos, MultiPaxosDurable, MultiPaxosInvariants, Slot};
use caplab::scenario::run::{Run, RunOptions, run};
use caplab::sim::ids::{ClientId, NodeId};
use caplab::sim::protocol::{Invariants, NodeRef};
use caplab::sim::time::Time;
use common::*;

const SEEDS: std::ops::RangeInclusive<u64> = 1..=8;

fn run_seeded(name: &str, seed: u64) -> Run {
    let opts = RunOptions { seed: Some(seed), record_trace: true, ..RunOptions::default() };
    run(&scenario(name), &opts).expect("runs")
}

fn passes(name: &str) -> Run {
    let r = run(&scenario(name), &RunOptions { record_trace: true, ..RunOptions::default() }).expect("runs");
    assert!(r.summary.passed(), "{name}: {:#?}", r.summary.failures());
    r
}

/// The trace's sent messages with this label, sent at or after `from_ms`.
fn sent(r: &Run, label: &str, from_ms: u64) -> usize {
    r.trace
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["type"] == "sent" && e["label"] == label && e["at_us"].as_u64().unwrap_or(0) >= from_ms * 1000)
        .count()
}

fn state(sim: &dyn caplab::sim::dynamic::Simulation, node: u16) -> serde_json::Value {
    inspect(sim, node)["state"].clone()
}

/// The log entry of `slot` in an inspected state.
fn slot(state: &serde_json::Value, slot: u64) -> Option<serde_json::Value> {
    state["log"].as_array()?.iter().find(|e| e["slot"] == slot).cloned()
}

fn safe(r: &Run, seed: u64) {
    assert_eq!(r.summary.invariants, serde_json::json!("ok"), "seed {seed}: {:#?}", r.summary.failures());
    assert_eq!(r.summary.linearizable, Some(true), "seed {seed}: the history is linearizable");
}

/// "Paxos Made Simple" §3: once a leader has run phase 1 for all slots, each command costs
/// only phase 2 — one Accept to each acceptor and one Accepted back — whatever the seed.
#[test]
fn steady_state_commands_skip_phase_1() {
    passes("multipaxos-steady");
    for seed in SEEDS {
        let r = run_seeded("multipaxos-steady", seed);
        safe(&r, seed);
        assert_eq!(r.summary.operations.ok, 4, "seed {seed}: all four commands succeed");
        // The first command is at 600 ms, well after the election.
        assert_eq!(sent(&r, "Prepare", 500), 0, "seed {seed}: no phase 1 after the election");
        assert_eq!(sent(&r, "Promise", 500), 0, "seed {seed}");
        assert_eq!(sent(&r, "Accept", 500), 4 * 2, "seed {seed}: one Accept per command per follower");
        assert_eq!(sent(&r, "Accepted", 500), 4 * 2, "seed {seed}: one Accepted back for each");
        assert_eq!(sent(&r, "CatchUp", 0) + sent(&r, "Learn", 0), 0, "seed {seed}: nobody falls behind");
        let views = r.sim.node_views();
        for v in &views {
            assert_eq!(v.view.term, 1, "seed {seed}: {} is still in round 1: one ballot served all", v.id);
            assert_eq!(v.view.commit_index, 4, "seed {seed}: {} learned all four slots", v.id);
        }
    }
}

/// The new leader of the leader-change tour: re-proposes the minority-accepted slots 2 and 4
/// with their values, and fills slot 3, which only the crashed leader had, with a no-op.
#[test]
fn a_new_leader_fills_a_hole_with_a_noop() {
    let mut sim = start("multipaxos-leader-change");
    run_to(sim.as_mut(), 1100);
    let n3 = state(sim.as_ref(), 2);
    assert_eq!(n3["role"], "leader");
    assert_eq!(n3["ballot"], "2.n3");
    assert_eq!(n3["recovery"]["reproposed"], serde_json::json!([2, 4]));
    assert_eq!(n3["recovery"]["noops"], serde_json::json!([3]));
    let hole = slot(&n3, 3).expect("slot 3");
    assert_eq!((hole["noop"].clone(), hole["chosen"].clone()), (serde_json::json!(true), serde_json::json!(true)));
    let two = slot(&n3, 2).expect("slot 2");
    assert_eq!(two["command"]["value"], "2", "c1's x=2 (accepted by n1 and n2 only) is kept");
    assert_eq!(two["ballot"], "2.n3", "and proposed again in the new ballot");
    assert_eq!(slot(&n3, 4).expect("slot 4")["command"]["value"], "4");
    let r = passes("multipaxos-leader-change");
    // n1 restarted with y=3 in slot 3 (never chosen): it now holds the no-op there, and y=3
    // was written once, in a later slot.
    let n1 = state(r.sim.as_ref(), 0);
    assert_eq!(slot(&n1, 3).expect("slot 3")["noop"], true);
    assert!(n1["overwrites"].as_u64().unwrap_or(0) >= 1);
    let ys = n1["log"].as_array().expect("log").iter().filter(|e| e["command"]["value"] == "3").count();
    assert_eq!(ys, 1, "y=3 is in the log once");
    assert_eq!(n1["store"]["y"], "3");
}

/// The same schedule under other seeds (other latencies and timers, so the three writes may
/// land in other states and another server may lead next). Whatever happens, each of slots 2,
/// 3 and 4 ends on every node either with the write n1 put there or with a no-op (a hole the
/// next leader filled) — never with anything else; every write is applied exactly once; the
/// logs agree; and some seeds do leave a hole.
#[test]
fn leader_change_lesson_holds_over_seeds() {
    let mut noops = 0;
    for seed in SEEDS {
        let r = run_seeded("multipaxos-leader-change", seed);
        safe(&r, seed);
        let views = r.sim.node_views();
        for n in 0..5u16 {
            let s = state(r.sim.as_ref(), n);
            for (k, value) in [(2, "2"), (3, "3"), (4, "4")] {
                let e = slot(&s, k).unwrap_or_else(|| panic!("seed {seed}: n{} has slot {k}", n + 1));
                assert!(e["noop"] == true || e["command"]["value"] == value, "seed {seed}: n{} slot {k}: {e}", n + 1);
                assert_eq!(e["chosen"], true, "seed {seed}");
                noops += usize::from(n == 0 && e["noop"] == true);
            }
            assert_eq!(s["store"], serde_json::json!({"x": "2", "y": "3", "z": "4"}), "seed {seed}: n{}", n + 1);
            assert_eq!(views[n as usize].view.log_terms, views[0].view.log_terms, "seed {seed}");
        }
        assert!(views.iter().any(|v| v.role == "leader" && v.view.term >= 2), "seed {seed}: a new leader");
    }
    assert!(noops > 0, "some seed leaves a hole to fill");
}

/// A leader cut off in a minority: its accepted-but-unchosen slot is replaced, on itself and on
/// the follower that accepted it, by the value the majority chose there.
#[test]
fn a_deposed_leaders_unchosen_slot_is_overwritten_safely() {
    let mut sim = start("multipaxos-partition");
    run_to(sim.as_mut(), 2400);
    for n in [0u16, 1] {
        let s = state(sim.as_ref(), n);
        let two = slot(&s, 2).expect("slot 2");
        assert_eq!(two["command"]["value"], "2", "n{} accepted x=2", n + 1);
        assert_eq!(
            (two["ballot"].clone(), two["chosen"].clone()),
            (serde_json::json!("1.n1"), serde_json::json!(false))
        );
    }
    assert_eq!(state(sim.as_ref(), 0)["role"], "leader", "n1 still believes it leads");
    run_to(sim.as_mut(), 2900);
    for n in [0u16, 1] {
        let s = state(sim.as_ref(), n);
        assert_eq!(s["role"], "follower");
        let two = slot(&s, 2).expect("slot 2");
        assert_eq!(two["command"]["value"], "3", "n{} now holds the chosen x=3", n + 1);
        assert_eq!(two["chosen"], true);
        assert_eq!(s["overwrites"], 1);
    }
    passes("multipaxos-partition");
}

#[test]
fn partition_lesson_holds_over_seeds() {
    for seed in SEEDS {
        let r = run_seeded("multipaxos-partition", seed);
        safe(&r, seed);
        let h = r.sim.history().entries();
        let outcome = |c: u16, v: &str| {
            h.iter()
                .find(|e| {
                    e.client == ClientId(c)
                        && e.value.as_deref() == Some(v)
                        && e.op == caplab::workload::history::OpKind::Put
                })
                .map(|e| e.outcome)
        };
        use caplab::workload::history::Outcome;
        assert_eq!(outcome(1, "3"), Some(Outcome::Ok), "seed {seed}: the majority serves c2");
        assert_ne!(outcome(0, "2"), Some(Outcome::Ok), "seed {seed}: the minority leader cannot get x=2 chosen");
        for n in 0..5u16 {
            let s = state(r.sim.as_ref(), n);
            assert_eq!(s["store"]["x"], "3", "seed {seed}: n{}", n + 1);
            assert_eq!(slot(&s, 2).expect("slot 2")["command"]["value"], "3", "seed {seed}: n{}", n + 1);
        }
        assert_eq!(state(r.sim.as_ref(), 0)["role"], "follower", "seed {seed}: n1 stepped down");
    }
}

// ----------------------------------------------------------------------------------------------
// The invariant checkers, fed hand-built states (crashed nodes: their durable state is public).

fn put(value: &str) -> Command {
    Command::Put { key: "x".into(), value: value.into(), client: ClientId(0), seq: 1 }
}

fn b(round: u64, node: u16) -> Ballot {
    Ballot { round, node: NodeId(node) }
}

fn disk(promised: Ballot, log: Vec<Option<Slot>>) -> MultiPaxosDurable {
    let journal = (1..=log.len() as u64).filter(|s| log[*s as usize - 1].is_some()).collect();
    MultiPaxosDurable { promised, log, overwrites: 0, journal }
}

fn acc(ballot: Ballot, command: Command, chosen: bool) -> Option<Slot> {
    Some(Slot { ballot, command, chosen })
}

fn check(checker: &mut MultiPaxosInvariants, nodes: &[MultiPaxosDurable]) -> Vec<&'static str> {
    let refs: Vec<NodeRef<'_, MultiPaxos>> = nodes
        .iter()
        .enumerate()
        .map(|(i, d)| NodeRef {
            id: NodeId(i as u16),
            live: None,
            durable: Some(d),
            clock: caplab::sim::time::Time::ZERO,
        })
        .collect();
    let mut out = Vec::new();
    checker.check(&refs, Time::ZERO, &mut out);
    out.into_iter().map(|v| v.invariant).collect()
}

#[test]
fn a_healthy_state_breaks_nothing() {
    let v = put("1");
    let nodes = [
        disk(b(1, 0), vec![acc(b(1, 0), v.clone(), true)]),
        disk(b(1, 0), vec![acc(b(1, 0), v.clone(), true)]),
        disk(b(1, 0), vec![]),
    ];
    assert_eq!(check(&mut MultiPaxosInvariants::default(), &nodes), Vec::<&str>::new());
}

#[test]
fn two_values_chosen_in_one_slot_break_agreement() {
    // Ballot 1.n1 gets x=1 accepted by n1, n2; ballot 2.n3 gets x=2 accepted by n2, n3 — a
    // new leader that ignored the promise reporting x=1.
    let mut checker = MultiPaxosInvariants::default();
    let mut nodes = [
        disk(b(1, 0), vec![acc(b(1, 0), put("1"), false)]),
        disk(b(1, 0), vec![acc(b(1, 0), put("1"), false)]),
        disk(b(0, 0), vec![]),
    ];
    assert!(check(&mut checker, &nodes).is_empty());
    nodes[2] = disk(b(2, 2), vec![acc(b(2, 2), put("2"), false)]);
    nodes[1].promised = b(2, 2);
    nodes[1].log[0] = acc(b(2, 2), put("2"), false);
    nodes[1].journal.push(1);
    assert!(check(&mut checker, &nodes).contains(&"Agreement"));
}

#[test]
fn accepting_a_value_nobody_proposed_breaks_validity() {
    let nodes = [
        disk(b(1, 0), vec![acc(b(1, 0), put("1"), false)]),
        disk(b(1, 0), vec![acc(b(1, 0), put("forged"), false)]),
        disk(b(0, 0), vec![]),
    ];
    assert!(check(&mut MultiPaxosInvariants::default(), &nodes).contains(&"Validity"));
}

#[test]
fn marking_an_unchosen_value_chosen_breaks_learner_agreement() {
    // Only n1 accepted x=1 (1 of 3), yet n1 marks it chosen.
    let nodes = [disk(b(1, 0), vec![acc(b(1, 0), put("1"), true)]), disk(b(1, 0), vec![]), disk(b(1, 0), vec![])];
    assert!(check(&mut MultiPaxosInvariants::default(), &nodes).contains(&"Learner Agreement"));
}

#[test]
fn a_learner_that_marks_a_different_value_breaks_learner_agreement() {
    let v = put("1");
    let mut checker = MultiPaxosInvariants::default();
    let mut nodes = [
        disk(b(1, 0), vec![acc(b(1, 0), v.clone(), true)]),
        disk(b(1, 0), vec![acc(b(1, 0), v.clone(), false)]),
        disk(b(1, 0), vec![]),
    ];
    assert!(check(&mut checker, &nodes).is_empty());
    // n3 marks slot 1 chosen with a no-op of ballot 1.n1 — which n1 never proposed either.
    nodes[2] = disk(b(1, 0), vec![acc(b(1, 0), Command::Noop, true)]);
    let broken = check(&mut checker, &nodes);
    assert!(broken.contains(&"Learner Agreement"), "{broken:?}");
}

#[test]
fn a_promise_that_goes_back_or_is_broken_breaks_promise_kept() {
    let mut checker = MultiPaxosInvariants::default();
    let mut nodes = [disk(b(1, 0), vec![acc(b(1, 0), put("1"), false)]), disk(b(3, 1), vec![]), disk(b(0, 0), vec![])];
    assert!(check(&mut checker, &nodes).is_empty());
    // n2 promised 3.n2, then accepts n1's proposal of ballot 1.n1.
    nodes[1].log = vec![acc(b(1, 0), put("1"), false)];
    nodes[1].journal.push(1);
    assert!(check(&mut checker, &nodes).contains(&"Promise Kept"));
    nodes[1].promised = b(2, 1);
    assert!(check(&mut checker, &nodes).contains(&"Promise Kept"));
}

// ----------------------------------------------------------------------------------------------

/// Random fault schedules (partitions, cuts, crashes aimed at the leader, restarts, pauses, loss,
/// duplication): invariants after every step, then settled (one leader everyone follows, every
/// store caught up), final reads, and a linearizable history. `CAPLAB_FUZZ_SEEDS` sets the count.
#[test]
fn multipaxos_keeps_its_invariants_under_random_faults() {
    let seeds: u64 = std::env::var("CAPLAB_FUZZ_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(100);
    let plan = FuzzPlan::default();
    let mut failures = Vec::new();
    for seed in 0..seeds {
        if let Err(reason) = run_seed("multipaxos", seed, &plan) {
            failures.push(format!("seed {seed}: {reason}\n  reproduce: {}", reproduce_command("multipaxos", seed)));
        }
    }
    assert!(failures.is_empty(), "{} of {seeds} seeds failed:\n{}", failures.len(), failures.join("\n"));
}
