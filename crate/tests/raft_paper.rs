//! The classic Raft situations from the paper (Ongaro & Ousterhout 2014), each a scenario file in
//! `scenarios/`, run here with its expectations and with extra checks on the state it leaves.

mod common;

use caplab::scenario::run::{RunOptions, run};
use common::*;

fn passes(name: &str) -> caplab::scenario::run::Run {
    let r = run(&scenario(name), &RunOptions { record_trace: true, ..RunOptions::default() }).expect("runs");
    assert!(r.summary.passed(), "{name}: {:#?}", r.summary.failures());
    r
}

fn log_values(state: &serde_json::Value) -> Vec<String> {
    state["state"]["log"]
        .as_array()
        .expect("a log")
        .iter()
        .filter_map(|e| e["entry"]["value"].as_str().map(str::to_string))
        .collect()
}

/// §5.2: one leader emerges from a cluster of followers.
#[test]
fn test_initial_election_5_2() {
    let r = passes("raft-election");
    assert_eq!(r.sim.node_views().iter().filter(|v| v.role == "leader").count(), 1);
}

/// §5.2, §5.3: a leader in a minority keeps its belief but cannot commit; after the heal it steps
/// down and its uncommitted entry is overwritten.
#[test]
fn test_leader_isolated_in_minority_5_3() {
    let mut sim = start("raft-leader-isolated");
    run_to(sim.as_mut(), 2400);
    let old = inspect(sim.as_ref(), 2);
    assert_eq!(old["state"]["role"], "leader");
    assert!(log_values(&old).contains(&"2".to_string()), "n3 appended x=2 to its own log");
    let commit = old["state"]["commit_index"].as_u64().expect("commit index");
    let len = old["state"]["log"].as_array().expect("log").len() as u64;
    assert!(commit < len, "the entry it appended in the minority is not committed");
    run_to(sim.as_mut(), 4000);
    let after = inspect(sim.as_ref(), 2);
    assert_eq!(after["state"]["role"], "follower");
    assert!(!log_values(&after).contains(&"2".to_string()), "x=2 was overwritten");
    assert!(log_values(&after).contains(&"3".to_string()), "n3 now holds the majority's x=3");
    passes("raft-leader-isolated");
}

/// §5.2: the leader crashes, another is elected, the old one rejoins as a follower.
#[test]
fn test_leader_crash_and_reelection_5_2() {
    let r = passes("raft-leader-crash");
    let leader = r.sim.leader().expect("a leader at the end");
    assert_ne!(leader.to_string(), "n3", "the crashed leader does not get its place back by restarting");
}

/// §5.3: a follower that missed entries is repaired: the leader's AppendEntries is refused, the
/// leader backs nextIndex off, and the follower's log ends identical to the leader's.
#[test]
fn test_lagging_follower_repaired_by_next_index_backoff_5_3() {
    let r = passes("raft-lagging-follower");
    let refused = r.trace.iter().any(|line| {
        line.contains("\"label\":\"AppendEntriesReply\"")
            && line.contains("\"from\":\"n5\"")
            && line.contains("\"success\":false")
    });
    assert!(refused, "n5 refused at least one AppendEntries after restarting");
    let views = r.sim.node_views();
    assert_eq!(views[4].view.log_terms, views[r.sim.leader().expect("leader").index()].view.log_terms);
}

/// §5.2: two candidates split the vote; randomized timeouts let a later election succeed.
#[test]
fn test_split_vote_resolves_5_2() {
    let mut sim = start("raft-split-vote");
    run_to(sim.as_mut(), 150);
    let views = sim.node_views();
    assert_eq!((views[0].role.as_str(), views[0].view.term), ("candidate", 1));
    assert_eq!((views[2].role.as_str(), views[2].view.term), ("candidate", 1));
    assert!(views.iter().all(|v| v.role != "leader"), "nobody wins term 1");
    run_to(sim.as_mut(), 1500);
    let leader = sim.leader().expect("a leader after the heal");
    assert!(sim.node_views()[leader.index()].view.term >= 2);
    passes("raft-split-vote");
}

/// §5.4.2, Figure 8: an entry from an earlier term that sits on a majority is not committed by
/// counting replicas, so a later leader may safely overwrite it.
#[test]
fn test_figure_8_old_term_entry_not_committed_by_counting_5_4_2() {
    let mut sim = start("raft-figure8");
    run_to(sim.as_mut(), 1390);
    let with_majority = [0usize, 1, 2].iter().filter(|&&n| sim.node_views()[n].view.log_terms == [1, 1]).count();
    assert_eq!(with_majority, 3, "x=2 (term 1, index 2) is stored on n1, n2 and n3");
    assert_eq!(sim.node_views()[0].view.commit_index, 0, "yet n1, leading term 3, has not committed it");
    passes("raft-figure8");
}

/// The same schedule with the commit rule broken: the invariant checker must catch the lost
/// committed entry. This is what proves the checkers can fail.
#[test]
fn test_figure_8_with_the_unsafe_rule_is_caught_by_the_invariants() {
    let r = passes("raft-figure8-unsafe");
    let broken: Vec<&str> = r.sim.violations().iter().map(|v| v.invariant).collect();
    assert!(broken.contains(&"State Machine Safety"), "{broken:?}");
    assert!(broken.contains(&"Leader Completeness"), "{broken:?}");
}
