//! ZAB's classic situations (Junqueira, Reed & Serafini, DSN 2011; ZooKeeper's Leader,
//! Learner and FastLeaderElection), each a tour in `scenarios/`, run over several seeds with
//! checks on the state it leaves; then ZAB under random faults. The invariant checkers are
//! shown to fire on hand-built bad states in `src/protocols/zab/invariant_tests.rs` (they need
//! the node's private fields).

mod common;

use caplab::check::fuzz::{FuzzPlan, reproduce_command, run_seed};
use caplab::protocols;
use caplab::protocols::zab::Vote;
use caplab::scenario::run::{RunOptions, run};
use caplab::sim::dynamic::Simulation;
use caplab::sim::ids::{ClientId, NodeId};
use caplab::sim::time::Time;
use caplab::workload::history::Outcome;
use common::*;
use serde_json::Value;

const SEEDS: std::ops::RangeInclusive<u64> = 1..=8;

fn passes(name: &str) {
    let r = run(&scenario(name), &RunOptions::default()).expect("runs");
    assert!(r.summary.passed(), "{name}: {:#?}", r.summary.failures());
}

/// Runs a tour with another seed to its end; no invariant may break whatever the seed.
fn run_seed_of(name: &str, seed: u64) -> Box<dyn Simulation> {
    let s = scenario(name);
    let mut sim = protocols::build(&s, Some(seed)).expect("builds");
    sim.run_until(Time::from_ms(s.duration_ms));
    assert!(sim.violations().is_empty(), "{name} seed {seed}: {:?}", sim.violations());
    sim
}

fn state(sim: &dyn Simulation, node: u16) -> Value {
    inspect(sim, node)["state"].clone()
}

fn zxids(state: &Value) -> Vec<(u64, u64, bool)> {
    state["history"]
        .as_array()
        .expect("a history")
        .iter()
        .map(|e| (e["zxid"][0].as_u64().unwrap_or(0), e["zxid"][1].as_u64().unwrap_or(0), e["committed"] == true))
        .collect()
}

fn outcome(sim: &dyn Simulation, client: u16, op: &str, value: &str) -> Option<Outcome> {
    sim.history()
        .entries()
        .iter()
        .find(|e| {
            e.client == ClientId(client)
                && format!("{:?}", e.op).to_lowercase() == op
                && e.value.as_deref() == Some(value)
        })
        .map(|e| e.outcome)
}

fn store_value(sim: &dyn Simulation, node: usize, key: &str) -> Option<String> {
    sim.node_views()[node].view.store.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

#[test]
fn every_zab_tour_meets_its_expectations() {
    for name in ["zab-broadcast", "zab-propose-crash", "zab-commit-crash", "zab-discard", "zab-snap"] {
        passes(name);
    }
}

/// FastLeaderElection's totalOrderPredicate: epoch first, then zxid, then id.
#[test]
fn votes_compare_by_epoch_then_zxid_then_id() {
    use caplab::protocols::zab::Zxid;
    let v = |leader: u16, epoch: u64, e: u64, c: u64| Vote { leader: NodeId(leader), epoch, zxid: Zxid::new(e, c) };
    assert!(v(2, 1, 1, 1).beats(&v(3, 1, 0, 0)), "a later zxid beats a higher id");
    assert!(v(0, 2, 1, 1).beats(&v(4, 1, 1, 9)), "a later epoch beats a later zxid");
    assert!(v(4, 1, 1, 1).beats(&v(3, 1, 1, 1)), "the id breaks a tie");
    assert!(!v(3, 1, 1, 1).beats(&v(3, 1, 1, 1)));
}

/// With empty histories the highest id wins; the leader is called `leader` only once
/// established; every node ends with the same committed history, in zxid order.
#[test]
fn first_election_discovery_sync_and_broadcast() {
    for seed in SEEDS {
        let mut sim = protocols::build(&scenario("zab-broadcast"), Some(seed)).expect("builds");
        let mut seen_prospective = false;
        while sim.now() < Time::from_ms(400) && sim.step() {
            let views = sim.node_views();
            seen_prospective |= views[4].role == "prospective";
            if views[4].role == "leader" {
                let s = state(sim.as_ref(), 4);
                assert_eq!(s["phase"], "broadcast");
                assert!(seen_prospective, "seed {seed}: n5 was prospective before it led");
            }
        }
        assert_eq!(sim.leader(), Some(NodeId(4)), "seed {seed}: ties on (epoch, zxid) go to the highest id");
        sim.run_until(Time::from_ms(1500));
        assert!(sim.violations().is_empty(), "seed {seed}: {:?}", sim.violations());
        let leader = zxids(&state(sim.as_ref(), 4));
        assert_eq!(leader, vec![(1, 1, true), (1, 2, true), (1, 3, true)], "seed {seed}");
        for n in 0..4 {
            assert_eq!(zxids(&state(sim.as_ref(), n)), leader, "seed {seed}: n{} agrees", n + 1);
        }
    }
}

/// Commits happen in zxid order: at every step, on every node, the committed entries are a
/// prefix of a history whose zxids strictly increase.
#[test]
fn commits_are_in_zxid_order_at_every_step() {
    let mut s = scenario("zab-snap");
    s.timeline.clear();
    s.workload.rate = 20.0;
    for seed in 1..=3 {
        let mut sim = protocols::build(&s, Some(seed)).expect("builds");
        let mut steps = 0;
        while sim.now() < Time::from_ms(2500) && sim.step() {
            steps += 1;
            if steps % 7 != 0 {
                continue;
            }
            for n in 0..5 {
                let h = zxids(&state(sim.as_ref(), n));
                assert!(h.windows(2).all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)), "seed {seed}: zxids increase");
                let committed = h.iter().take_while(|e| e.2).count();
                assert!(h[committed..].iter().all(|e| !e.2), "seed {seed}: n{} committed past a gap", n + 1);
            }
        }
        assert!(sim.violations().is_empty(), "seed {seed}: {:?}", sim.violations());
        assert!(sim.history().entries().iter().filter(|e| e.outcome == Outcome::Ok).count() > 30);
    }
}

/// The leader crashes after proposing to some followers, before any commit. The new leader
/// is elected with the highest (epoch, zxid) — never n4, which missed the proposal — so it
/// holds the proposal and commits it in the new epoch.
#[test]
fn a_proposal_that_reached_the_new_leader_survives_its_leaders_crash() {
    for seed in SEEDS {
        let s = scenario("zab-propose-crash");
        let mut sim = protocols::build(&s, Some(seed)).expect("builds");
        sim.run_until(Time::from_ms(655));
        assert_eq!(zxids(&state(sim.as_ref(), 4)), vec![(1, 1, false)], "seed {seed}: n5 proposed without committing");
        sim.run_until(Time::from_ms(1400));
        let leader = sim.leader().expect("a new leader");
        assert_ne!(leader, NodeId(3), "seed {seed}: n4 lacks ⟨1,1⟩, so it cannot win despite its id");
        let st = state(sim.as_ref(), leader.0);
        assert_eq!(st["current_epoch"], 2, "seed {seed}");
        assert_eq!(zxids(&st)[0], (1, 1, true), "seed {seed}: the new epoch committed ⟨1,1⟩");
        sim.run_until(Time::from_ms(s.duration_ms));
        assert!(sim.violations().is_empty(), "seed {seed}: {:?}", sim.violations());
        assert_eq!(outcome(sim.as_ref(), 0, "put", "1"), Some(Outcome::Ok), "seed {seed}: c1's retry is answered");
        for n in 0..5 {
            assert_eq!(store_value(sim.as_ref(), n, "x").as_deref(), Some("1"), "seed {seed}: n{}", n + 1);
        }
    }
}

/// The leader commits and crashes with COMMIT sent to some followers only: the write survives
/// on the new leader and reaches every node.
#[test]
fn a_committed_proposal_survives_and_reaches_everyone() {
    for seed in SEEDS {
        let sim = run_seed_of("zab-commit-crash", seed);
        assert_eq!(outcome(sim.as_ref(), 0, "put", "1"), Some(Outcome::Ok), "seed {seed}");
        for n in 0..5 {
            assert_eq!(store_value(sim.as_ref(), n, "x").as_deref(), Some("1"), "seed {seed}: n{}", n + 1);
        }
        let leader = sim.leader().expect("a leader");
        assert!(leader == NodeId(2) || leader == NodeId(3), "seed {seed}: only n3 and n4 held ⟨1,1⟩");
    }
}

/// An old leader's proposal that no one else received is truncated away when it rejoins.
#[test]
fn an_old_leaders_uncommitted_proposal_is_truncated() {
    for seed in SEEDS {
        let sim = run_seed_of("zab-discard", seed);
        let st = state(sim.as_ref(), 4);
        assert_eq!(st["last_sync"]["mode"], "TRUNC", "seed {seed}: {}", st["last_sync"]);
        assert_eq!(st["last_sync"]["truncated"], serde_json::json!([[1, 2]]), "seed {seed}");
        assert!(!zxids(&st).iter().any(|e| (e.0, e.1) == (1, 2)), "seed {seed}");
        let leader = sim.leader().expect("a leader");
        let sync = &state(sim.as_ref(), leader.0)["sync"]["n5"];
        assert_eq!(sync["mode"], "TRUNC");
        assert_eq!(sync["truncate_to"], serde_json::json!([1, 1]));
        for n in 0..5 {
            assert_eq!(store_value(sim.as_ref(), n, "x").as_deref(), Some("3"), "seed {seed}: x=2 never applied");
        }
        assert_ne!(outcome(sim.as_ref(), 0, "put", "2"), Some(Outcome::Ok), "seed {seed}");
    }
}

/// A follower down for long gets SNAP; the run converges.
#[test]
fn a_follower_far_behind_gets_a_snapshot() {
    for seed in SEEDS {
        let sim = run_seed_of("zab-snap", seed);
        let st = state(sim.as_ref(), 0);
        assert_eq!(st["last_sync"]["mode"], "SNAP", "seed {seed}: {}", st["last_sync"]);
        let leader = sim.leader().expect("a leader").0;
        assert_eq!(zxids(&st), zxids(&state(sim.as_ref(), leader)), "seed {seed}: n1 holds the leader's history");
    }
}

/// A non-leader redirects to the leader it follows.
#[test]
fn followers_redirect_to_their_leader() {
    let r = run(&scenario("zab-broadcast"), &RunOptions { record_trace: true, ..RunOptions::default() }).expect("runs");
    let redirected = r.trace.iter().any(|line| {
        line.contains("\"from\":\"n1\"")
            && line.contains("\"reply\":\"redirect\"")
            && line.contains("\"leader\":\"n5\"")
    });
    assert!(redirected, "c1 asked n1 first and was redirected to n5");
    assert_eq!(state(r.sim.as_ref(), 0)["leader"], "n5");
    assert_eq!(state(r.sim.as_ref(), 0)["state"], "following");
}

#[test]
fn zab_keeps_its_invariants_under_random_faults() {
    let seeds: u64 = std::env::var("CAPLAB_FUZZ_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(100);
    let plan = FuzzPlan::default();
    let mut failures = Vec::new();
    for seed in 0..seeds {
        if let Err(reason) = run_seed("zab", seed, &plan) {
            failures.push(format!("seed {seed}: {reason}\n  reproduce: {}", reproduce_command("zab", seed)));
        }
    }
    assert!(failures.is_empty(), "{} of {seeds} seeds failed:\n{}", failures.len(), failures.join("\n"));
}
