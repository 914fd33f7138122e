//! Each invariant of `invariants.rs`, shown to fire on a hand-built state that breaks it.

use super::invariants::*;
use super::*;
use crate::protocols::kv::Command;
use crate::sim::protocol::{Invariants, NodeRef};

fn put(zxid: Zxid, value: &str) -> Proposal {
    Proposal { zxid, command: Command::Put { key: "x".into(), value: value.into(), client: ClientId(0), seq: 1 } }
}

fn z(epoch: u64, counter: u64) -> Zxid {
    Zxid::new(epoch, counter)
}

fn node(id: u16, role: Role, epoch: u64, history: Vec<Proposal>, committed: usize) -> Zab {
    Zab {
        id: NodeId(id),
        nodes: 3,
        params: ZabParams::default(),
        accepted_epoch: epoch,
        current_epoch: epoch,
        last_committed: committed.checked_sub(1).map(|i| history[i].zxid),
        history,
        truncations: 0,
        role,
        leader: None,
        committed,
        store: KvStore::default(),
        election: Election {
            round: 0,
            vote: Vote { leader: NodeId(id), epoch, zxid: Zxid::ZERO },
            received: BTreeMap::new(),
            outside: BTreeMap::new(),
            finalizing: false,
        },
        following: Following {
            stage: Stage::Broadcast,
            since: Time::ZERO,
            session: None,
            promised: None,
            early: BTreeMap::new(),
            early_new_leader: None,
        },
        last_sync: None,
        lead: None,
    }
}

fn check(checker: &mut ZabInvariants, nodes: &[Zab]) -> Vec<&'static str> {
    let refs: Vec<NodeRef<'_, Zab>> =
        nodes.iter().map(|n| NodeRef { id: n.id, live: Some(n), durable: None, clock: Time::ZERO }).collect();
    let mut out = Vec::new();
    checker.check(&refs, Time::ZERO, &mut out);
    out.into_iter().map(|v| v.invariant).collect()
}

/// n1 leads epoch 1 and has proposed ⟨1,1⟩ = a and ⟨1,2⟩ = b; the checker has seen it.
fn leader_with_two() -> (ZabInvariants, Vec<Proposal>) {
    let h = vec![put(z(1, 1), "a"), put(z(1, 2), "b")];
    let mut checker = ZabInvariants::default();
    let nodes = [
        node(0, Role::Leader, 1, h.clone(), 0),
        node(1, Role::Follower, 1, vec![], 0),
        node(2, Role::Follower, 1, vec![], 0),
    ];
    assert!(check(&mut checker, &nodes).is_empty());
    (checker, h)
}

#[test]
fn a_healthy_ensemble_breaks_nothing() {
    let (mut checker, h) = leader_with_two();
    let nodes = [
        node(0, Role::Leader, 1, h.clone(), 2),
        node(1, Role::Follower, 1, h.clone(), 2),
        node(2, Role::Follower, 1, h[..1].to_vec(), 1),
    ];
    assert_eq!(check(&mut checker, &nodes), Vec::<&str>::new());
}

#[test]
fn two_established_leaders_of_one_epoch_break_one_leader_per_epoch() {
    let nodes = [
        node(0, Role::Leader, 2, vec![], 0),
        node(1, Role::Leader, 2, vec![], 0),
        node(2, Role::Follower, 2, vec![], 0),
    ];
    assert!(check(&mut ZabInvariants::default(), &nodes).contains(&ONE_LEADER_PER_EPOCH));
}

#[test]
fn delivering_what_no_leader_proposed_breaks_integrity() {
    let (mut checker, h) = leader_with_two();
    let forged = vec![put(z(1, 1), "forged")];
    let nodes =
        [node(0, Role::Leader, 1, h, 0), node(1, Role::Follower, 1, forged, 1), node(2, Role::Follower, 1, vec![], 0)];
    assert!(check(&mut checker, &nodes).contains(&INTEGRITY));
}

#[test]
fn different_delivered_sequences_break_agreement() {
    let (mut checker, h) = leader_with_two();
    // n3 delivers ⟨2,1⟩ first, which a leader of epoch 2 proposed; n2 delivered ⟨1,1⟩ first.
    let later = vec![put(z(2, 1), "c")];
    let nodes = [
        node(0, Role::Leader, 2, later.clone(), 0),
        node(1, Role::Follower, 1, h.clone(), 1),
        node(2, Role::Follower, 2, later.clone(), 1),
    ];
    let fired = check(&mut checker, &nodes);
    assert!(fired.contains(&AGREEMENT), "{fired:?}");
}

#[test]
fn delivering_b_without_a_before_it_breaks_total_order() {
    let (mut checker, h) = leader_with_two();
    let nodes = [
        node(0, Role::Leader, 1, h.clone(), 2),
        node(1, Role::Follower, 1, vec![h[1].clone()], 1),
        node(2, Role::Follower, 1, vec![], 0),
    ];
    let fired = check(&mut checker, &nodes);
    assert!(fired.contains(&TOTAL_ORDER), "{fired:?}");
}

#[test]
fn skipping_an_earlier_proposal_of_the_same_leader_breaks_local_primary_order() {
    let (mut checker, h) = leader_with_two();
    let nodes = [
        node(0, Role::Leader, 1, h.clone(), 0),
        node(1, Role::Follower, 1, vec![h[1].clone()], 1),
        node(2, Role::Follower, 1, vec![], 0),
    ];
    let fired = check(&mut checker, &nodes);
    assert!(fired.contains(&LOCAL_PRIMARY_ORDER), "{fired:?}");
}

#[test]
fn delivering_an_older_epoch_after_a_newer_one_breaks_global_primary_order() {
    let (mut checker, h) = leader_with_two();
    let newer = put(z(2, 1), "c");
    let nodes = [
        node(0, Role::Leader, 2, vec![newer.clone()], 0),
        node(1, Role::Follower, 2, vec![newer, h[0].clone()], 2),
        node(2, Role::Follower, 1, vec![], 0),
    ];
    let fired = check(&mut checker, &nodes);
    assert!(fired.contains(&GLOBAL_PRIMARY_ORDER), "{fired:?}");
}

#[test]
fn a_new_leader_without_a_committed_transaction_breaks_primary_integrity() {
    let (mut checker, h) = leader_with_two();
    let nodes = [
        node(0, Role::Leader, 1, h.clone(), 2),
        node(1, Role::Follower, 1, h.clone(), 2),
        node(2, Role::Follower, 1, vec![], 0),
    ];
    assert!(check(&mut checker, &nodes).is_empty());
    // n3, which never got epoch 1's transactions, is established in epoch 2.
    let nodes = [
        node(0, Role::Follower, 1, h.clone(), 2),
        node(1, Role::Follower, 1, h.clone(), 2),
        node(2, Role::Leader, 2, vec![], 0),
    ];
    let fired = check(&mut checker, &nodes);
    assert!(fired.contains(&PRIMARY_INTEGRITY), "{fired:?}");
}

#[test]
fn a_truncation_makes_the_checker_re_read_a_history() {
    let (mut checker, h) = leader_with_two();
    let nodes = [
        node(0, Role::Leader, 1, h.clone(), 2),
        node(1, Role::Follower, 1, h.clone(), 2),
        node(2, Role::Follower, 1, vec![], 0),
    ];
    assert!(check(&mut checker, &nodes).is_empty());
    // n2's history is rewritten to a forged one of the same length, with the counter moved.
    let mut n2 = node(1, Role::Follower, 1, vec![put(z(1, 1), "a"), put(z(1, 2), "forged")], 2);
    n2.truncations = 1;
    let nodes = [node(0, Role::Leader, 1, h.clone(), 2), n2, node(2, Role::Follower, 1, vec![], 0)];
    let fired = check(&mut checker, &nodes);
    assert!(fired.contains(&AGREEMENT) && fired.contains(&INTEGRITY), "{fired:?}");
}
