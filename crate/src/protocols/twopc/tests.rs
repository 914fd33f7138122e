//! One node at a time, messages in by hand: the cases a run can reach only by luck (a Prepare
//! after the node aborted, the same outcome twice, a vote after the decision), and each
//! invariant shown to catch what it names.

use super::log::{Logged, Record, TwoPcDurable};
use super::messages::TwoPcMsg;
use super::{TwoPc, TwoPcInvariants, TwoPcParams};
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::{Ctx, Decision, Invariants, NodeRef, Outbox, Protocol, Violation};
use crate::sim::rng::SimRng;
use crate::sim::time::Time;
use crate::workload::op::{Op, Reply, Request, Write};

struct Harness {
    rng: SimRng,
    out: Outbox<TwoPc>,
    now: u64,
}

impl Harness {
    fn new() -> Self {
        Harness { rng: SimRng::new(7), out: Outbox::default(), now: 1_000 }
    }

    fn ctx(&mut self, id: NodeId) -> Ctx<'_, TwoPc> {
        self.now += 1_000;
        Ctx { now: Time(self.now), clock: Time(self.now), id, rng: &mut self.rng, out: &mut self.out }
    }

    fn start(&mut self, id: NodeId, durable: Option<TwoPcDurable>) -> TwoPc {
        TwoPc::start(id, 4, &TwoPcParams::default(), durable, &mut self.ctx(id))
    }

    fn deliver(&mut self, node: &mut TwoPc, from: NodeId, msg: TwoPcMsg) {
        let id = node.id;
        node.on_message(from, msg, &mut self.ctx(id));
    }

    /// The messages sent since the last call.
    fn sent(&mut self) -> Vec<(NodeId, TwoPcMsg)> {
        self.out.timers.clear();
        self.out.notes.clear();
        std::mem::take(&mut self.out.sends)
    }
}

const N1: NodeId = NodeId(0);
const N2: NodeId = NodeId(1);
const N3: NodeId = NodeId(2);

fn w(key: &str, value: &str) -> Write {
    Write { key: key.into(), value: value.into() }
}

fn prepare(txn: &str, key: &str) -> TwoPcMsg {
    TwoPcMsg::Prepare { txn: txn.into(), writes: vec![w(key, "1")], participants: vec![N2, N3] }
}

fn vote(txn: &str, yes: bool) -> (NodeId, TwoPcMsg) {
    (N1, TwoPcMsg::Vote { txn: txn.into(), yes })
}

#[test]
fn a_duplicate_prepare_gets_the_same_vote_and_logs_nothing_new() {
    let mut h = Harness::new();
    let mut n2 = h.start(N2, None);
    h.deliver(&mut n2, N1, prepare("c1.1", "x"));
    assert_eq!(h.sent(), vec![vote("c1.1", true)]);
    assert_eq!(n2.locks.holder("x"), Some("c1.1"));
    let logged = n2.disk.log.len();
    h.deliver(&mut n2, N1, prepare("c1.1", "x"));
    assert_eq!(h.sent(), vec![vote("c1.1", true)]);
    assert_eq!(n2.disk.log.len(), logged);
}

#[test]
fn a_locked_key_makes_a_participant_vote_no_and_lock_nothing() {
    let mut h = Harness::new();
    let mut n2 = h.start(N2, None);
    h.deliver(&mut n2, N1, prepare("c1.1", "x"));
    h.sent();
    h.deliver(&mut n2, N1, prepare("c2.1", "x"));
    assert_eq!(h.sent(), vec![vote("c2.1", false)]);
    assert_eq!(n2.locks.holder("x"), Some("c1.1"));
    assert_eq!(n2.disk.decisions, vec![("c2.1".to_string(), Decision::Abort)], "a no vote is an abort");
}

#[test]
fn a_participant_asked_before_it_voted_aborts_and_then_votes_no() {
    let mut h = Harness::new();
    let mut n3 = h.start(N3, None);
    h.deliver(&mut n3, N2, TwoPcMsg::DecisionRequest { txn: "c1.1".into() });
    assert_eq!(h.sent(), vec![(N2, TwoPcMsg::DecisionReply { txn: "c1.1".into(), decision: Some(Decision::Abort) })]);
    h.deliver(&mut n3, N1, prepare("c1.1", "y"));
    assert_eq!(h.sent(), vec![vote("c1.1", false)], "the late Prepare is answered no");
    assert!(n3.locks.is_empty());
}

#[test]
fn a_prepared_participant_answers_dont_know_and_applies_the_outcome_once() {
    let mut h = Harness::new();
    let mut n2 = h.start(N2, None);
    h.deliver(&mut n2, N1, prepare("c1.1", "x"));
    h.sent();
    h.deliver(&mut n2, N3, TwoPcMsg::DecisionRequest { txn: "c1.1".into() });
    assert_eq!(h.sent(), vec![(N3, TwoPcMsg::DecisionReply { txn: "c1.1".into(), decision: None })]);
    let commit = TwoPcMsg::Outcome { txn: "c1.1".into(), decision: Decision::Commit };
    h.deliver(&mut n2, N1, commit.clone());
    assert_eq!(h.sent(), vec![(N1, TwoPcMsg::Ack { txn: "c1.1".into() })]);
    assert_eq!(n2.disk.store.get("x").map(String::as_str), Some("1"));
    assert!(n2.locks.is_empty());
    let logged = n2.disk.log.len();
    h.deliver(&mut n2, N1, commit);
    assert_eq!(h.sent(), vec![(N1, TwoPcMsg::Ack { txn: "c1.1".into() })], "a duplicate is acknowledged again");
    assert_eq!(n2.disk.log.len(), logged, "and logged once");
}

#[test]
fn the_coordinator_ignores_late_votes_and_answers_retries_from_its_log() {
    let mut h = Harness::new();
    let mut n1 = h.start(N1, None);
    let request = Request { seq: 1, op: Op::Txn { writes: vec![w("x", "1"), w("y", "2")] }, deadline_us: u64::MAX };
    n1.on_request(ClientId(0), request.clone(), &mut h.ctx(N1));
    assert_eq!(h.sent().len(), 2, "a Prepare to n2 and n3");
    h.deliver(&mut n1, N2, TwoPcMsg::Vote { txn: "c1.1".into(), yes: false });
    assert_eq!(n1.disk.decisions, vec![("c1.1".to_string(), Decision::Abort)]);
    h.sent();
    h.deliver(&mut n1, N3, TwoPcMsg::Vote { txn: "c1.1".into(), yes: true });
    h.deliver(&mut n1, N2, TwoPcMsg::Vote { txn: "c1.1".into(), yes: true });
    assert_eq!(n1.disk.decisions.len(), 1, "votes after the decision change nothing");
    h.out.replies.clear();
    n1.on_request(ClientId(0), request, &mut h.ctx(N1));
    assert!(h.sent().is_empty(), "a retry starts nothing");
    let replies = std::mem::take(&mut h.out.replies);
    assert!(matches!(replies.as_slice(), [(_, r)] if matches!(r.reply, Reply::Rejected { .. })), "{replies:?}");
}

#[test]
fn a_coordinator_restarting_without_a_decision_aborts_and_says_so() {
    let mut h = Harness::new();
    let begin = Record::Begin {
        txn: "c1.1".into(),
        client: Some(ClientId(0)),
        seq: 1,
        writes: vec![w("x", "1"), w("y", "2")],
        participants: vec![N2, N3],
    };
    let disk = TwoPcDurable { log: vec![Logged { at_us: 5, record: begin }], ..TwoPcDurable::default() };
    let n1 = h.start(N1, Some(disk));
    assert_eq!(n1.disk.decisions, vec![("c1.1".to_string(), Decision::Abort)]);
    let abort = TwoPcMsg::Outcome { txn: "c1.1".into(), decision: Decision::Abort };
    assert_eq!(h.sent(), vec![(N2, abort.clone()), (N3, abort)]);
}

fn check(nodes: &[(NodeId, &TwoPcDurable)]) -> Vec<Violation> {
    let refs: Vec<NodeRef<'_, TwoPc>> =
        nodes.iter().map(|(id, d)| NodeRef { id: *id, live: None, durable: Some(*d), clock: Time::ZERO }).collect();
    let mut out = Vec::new();
    TwoPcInvariants::default().check(&refs, Time(0), &mut out);
    out
}

fn disk(records: Vec<Record>) -> TwoPcDurable {
    let mut d = TwoPcDurable::default();
    for record in records {
        if let Record::Decision { txn, decision } = &record {
            d.decisions.push((txn.clone(), *decision));
        }
        d.log.push(Logged { at_us: 0, record });
    }
    d
}

fn begin() -> Record {
    Record::Begin { txn: "t".into(), client: None, seq: 1, writes: vec![], participants: vec![N2, N3] }
}
fn prepared() -> Record {
    Record::Prepared { txn: "t".into(), writes: vec![w("x", "1")], participants: vec![N2, N3] }
}
fn decided(d: Decision) -> Record {
    Record::Decision { txn: "t".into(), decision: d }
}

fn names(v: &[Violation]) -> Vec<&'static str> {
    v.iter().map(|v| v.invariant).collect()
}

#[test]
fn the_invariants_pass_a_correct_commit() {
    let c = disk(vec![begin(), decided(Decision::Commit)]);
    let p = disk(vec![prepared(), decided(Decision::Commit)]);
    assert!(check(&[(N1, &c), (N2, &p), (N3, &p)]).is_empty());
}

#[test]
fn validity_catches_a_commit_without_every_yes() {
    let c = disk(vec![begin(), decided(Decision::Commit)]);
    let yes = disk(vec![prepared()]);
    let no = disk(vec![Record::VotedNo { txn: "t".into(), reason: "test".into() }, decided(Decision::Abort)]);
    let v = check(&[(N1, &c), (N2, &yes), (N3, &no)]);
    assert!(names(&v).contains(&"Validity"), "{v:?}");
    assert!(names(&v).contains(&"Atomic Commitment"), "{v:?}");
    assert!(names(&v).contains(&"Follows the Coordinator"), "{v:?}");
}

#[test]
fn follows_the_coordinator_catches_a_participant_deciding_otherwise() {
    let c = disk(vec![begin(), decided(Decision::Abort)]);
    let p = disk(vec![prepared(), decided(Decision::Commit)]);
    let v = check(&[(N1, &c), (N2, &p)]);
    assert_eq!(names(&v), ["Atomic Commitment", "Follows the Coordinator"], "{v:?}");
}

#[test]
fn prepared_holds_locks_catches_a_prepared_participant_without_its_lock() {
    let mut h = Harness::new();
    let mut n2 = h.start(N2, None);
    h.deliver(&mut n2, N1, prepare("c1.1", "x"));
    let mut inv = TwoPcInvariants::default();
    let mut out = Vec::new();
    inv.check(&[NodeRef { id: N2, live: Some(&n2), durable: None, clock: Time::ZERO }], Time(0), &mut out);
    assert!(out.is_empty(), "{out:?}");
    n2.locks.release("c1.1");
    inv.check(&[NodeRef { id: N2, live: Some(&n2), durable: None, clock: Time::ZERO }], Time(0), &mut out);
    assert_eq!(names(&out), ["Prepared Holds Locks"]);
}
