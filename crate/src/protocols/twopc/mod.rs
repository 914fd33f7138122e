//! # Two-phase commit (2PC)
//!
//! A transaction writes keys that live on different nodes, and must take effect on all of them
//! or on none: *atomic commitment*. Two-phase commit (Gray, "Notes on Data Base Operating
//! Systems", 1978; Gray & Lamport, "Consensus on Transaction Commit", 2006, whose TLA+ specs
//! `TCommit` and `TwoPhase` state it exactly; Bernstein, Hadzilacos & Goodman, "Concurrency
//! Control and Recovery in Database Systems", 1987, ch. 7) does it with one coordinator, the
//! transaction manager, here node n1, and the participants, the resource managers n2..nN, each
//! the home of some keys (`txn::owner`).
//!
//! **Phase 1, voting.** The coordinator logs that the transaction began and sends each
//! participant its writes in a `Prepare`. A participant votes *no* when it cannot do its part:
//! a key is locked by another transaction (`txn::Locks`: no waiting, so no deadlock), it is
//! listed in the `vote_no` parameter, or a random draw under `no_vote_ratio` says so. A no vote
//! is a unilateral abort: the participant logs abort and forgets the writes. Otherwise it locks
//! the keys, logs `Prepared` (its writes) and only then votes *yes*. From that moment it is
//! *uncertain*: it promised to commit if told to, so it may not abort on its own any more.
//!
//! **Phase 2, decision.** With every vote yes the coordinator decides commit; with any no, or
//! when the votes are not all in within `vote_timeout_ms`, abort. It logs the decision first,
//! then answers the client (`Done` for commit, `Rejected` for abort) and sends the outcome to
//! every participant, again every `resend_ms` until each has acknowledged (then it logs `End`).
//! A participant logs the outcome, applies the writes (commit) or drops them (abort), releases
//! its locks and acknowledges. Reads (`get`) go to a key's home; a key locked by an undecided
//! transaction is not read (the read is rejected), so the store a reader sees never shows half
//! of a transaction, and per-key histories stay linearizable.
//!
//! **Crashes and recovery** (`log.rs`). Each node's write-ahead log is its durable state; on
//! restart a node rebuilds its tables from it. A participant that finds `Prepared` without an
//! outcome takes its locks again and is still uncertain. A coordinator that finds a decision
//! sends it again; one that finds a transaction without a decision aborts it: the votes were in
//! memory and are gone, and a transaction no one logged as committed may be aborted (*presumed
//! abort*). It tells the participants so. Asked about a transaction it has no record of at all,
//! it answers abort too, and logs that, so that a late copy of the client's request cannot start
//! it afterwards.
//!
//! **Blocking, and the termination protocol** (BHG §7.4). The weakness of 2PC: a prepared
//! participant that does not hear the outcome must wait, holding its locks, for as long as the
//! coordinator is down or cut off. Every `decision_timeout_ms` it asks the coordinator and (with
//! `cooperative_termination`, the default) the other participants with a `DecisionRequest`. A
//! participant that knows the outcome answers it; one that has not voted yet aborts on the spot
//! and answers abort (it may: it has promised nothing, and the coordinator can then never
//! collect a yes from it); one that is itself prepared can only answer "don't know". If every
//! node the participant reaches is uncertain, nobody can decide: only the coordinator's return
//! ends the wait. That is the blocking that three-phase commit and Paxos Commit set out to
//! remove. 2PC under partitions therefore blocks on the cut-off side, but never disagrees.
//!
//! Here a participant learns of a transaction only from its `Prepare` and votes at once: the
//! execution phase and the vote request are one message. So its unilateral aborts are a no vote
//! and the answer to a `DecisionRequest` about a transaction it has not voted on (which is how
//! a participant whose `Prepare` was lost learns the transaction exists).
//!
//! Client requests: a transaction (or a put, a transaction of one write) goes to n1; any other
//! node redirects the client there. A retry of the same request (same client and sequence
//! number) names the same transaction (`txn::txn_id`), so the coordinator answers from its log
//! instead of starting a second one.

mod coordinator;
mod invariants;
pub mod log;
pub mod messages;
mod participant;
#[cfg(test)]
mod tests;
mod view;

pub use invariants::TwoPcInvariants;
pub use log::TwoPcDurable;
pub use messages::{TwoPcMsg, TwoPcTimer};

use crate::protocols::txn::{self, Locks};
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::{Ctx, NodeStatus, NodeView, Protocol};
use crate::workload::op::{Op, Reply, Request, Write};
use log::{Logged, Record, Tables};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use view::node_view;

/// The `params` of a 2PC scenario. All times in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwoPcParams {
    /// How long the coordinator waits for all votes before it aborts.
    pub vote_timeout_ms: u64,
    /// How long a prepared participant waits for the outcome before it asks for it, and then
    /// between two rounds of asking.
    pub decision_timeout_ms: u64,
    /// How often the coordinator sends a decision again to participants that have not
    /// acknowledged it.
    pub resend_ms: u64,
    /// The chance (0 to 1) that a participant votes no on a transaction for no other reason.
    pub no_vote_ratio: f64,
    /// Participants that vote no on every transaction (`["n3"]`), for a scenario that wants one.
    pub vote_no: Vec<NodeId>,
    /// Whether an uncertain participant asks the other participants too, not only the
    /// coordinator (BHG's cooperative termination protocol).
    pub cooperative_termination: bool,
}

impl Default for TwoPcParams {
    fn default() -> Self {
        TwoPcParams {
            vote_timeout_ms: 300,
            decision_timeout_ms: 400,
            resend_ms: 500,
            no_vote_ratio: 0.0,
            vote_no: Vec::new(),
            cooperative_termination: true,
        }
    }
}

impl TwoPcParams {
    /// The part of validation that needs the cluster size: called by the registry.
    pub fn check_cluster(&self, nodes: u16) -> Result<(), String> {
        if nodes < 2 {
            return Err(format!("2PC needs a coordinator and at least one participant: 2 nodes or more, not {nodes}"));
        }
        for n in &self.vote_no {
            if n.0 == 0 || n.0 >= nodes {
                return Err(format!("vote_no names {n}, which is not a participant (they are n2..n{nodes})"));
            }
        }
        Ok(())
    }
}

/// Fuzz runs vary the timeouts, the termination protocol and random no votes.
pub fn fuzz_params(rng: &mut crate::sim::rng::SimRng) -> serde_json::Value {
    let vote_timeout_ms = rng.between(100, 350);
    let decision_timeout_ms = rng.between(100, 600);
    let resend_ms = rng.between(100, 600);
    let cooperative_termination = rng.chance(750_000);
    let no_vote_ratio = if rng.chance(300_000) { 0.1 } else { 0.0 };
    serde_json::json!({
        "vote_timeout_ms": vote_timeout_ms,
        "decision_timeout_ms": decision_timeout_ms,
        "resend_ms": resend_ms,
        "cooperative_termination": cooperative_termination,
        "no_vote_ratio": no_vote_ratio,
    })
}

#[derive(Clone, Debug)]
pub struct TwoPc {
    pub(crate) id: NodeId,
    pub(crate) nodes: u16,
    pub(crate) params: TwoPcParams,
    // Durable.
    pub(crate) disk: TwoPcDurable,
    // Volatile: rebuilt from the log at start (the tables, the locks) or lost (the rest).
    pub(crate) tables: Tables,
    pub(crate) locks: Locks,
    /// Coordinator: the votes received for each transaction still collecting them.
    pub(crate) votes: BTreeMap<String, BTreeMap<NodeId, bool>>,
    /// Coordinator: who has acknowledged each logged decision.
    pub(crate) acks: BTreeMap<String, BTreeSet<NodeId>>,
}

impl TwoPc {
    pub(crate) fn is_coordinator(&self) -> bool {
        self.id == txn::COORDINATOR
    }

    /// Appends a record to the log (on disk from this instant) and to the tables.
    pub(crate) fn write_log(&mut self, record: Record, ctx: &Ctx<'_, Self>) {
        if let Record::Decision { txn, decision } = &record {
            self.disk.decisions.push((txn.clone(), *decision));
        }
        let logged = Logged { at_us: ctx.now().0, record };
        self.tables.apply(&logged);
        self.disk.log.push(logged);
    }

    fn serve_get(&mut self, client: ClientId, seq: u64, key: String, ctx: &mut Ctx<'_, Self>) {
        let home = txn::owner(&key, self.nodes);
        if home != self.id {
            ctx.reply(client, seq, Reply::Redirect { leader: Some(home) });
            return;
        }
        let reply = match self.locks.holder(&key) {
            // The transaction holding it may commit or abort: either value could be wrong.
            Some(holder) => {
                ctx.note(format!(
                    "{} refuses to read {key}: it is locked by {holder}, whose outcome it does not know",
                    self.id
                ));
                Reply::Rejected { reason: format!("{key} is locked by {holder}") }
            }
            None => Reply::Done { value: self.disk.store.get(&key).cloned() },
        };
        ctx.reply(client, seq, reply);
    }
}

impl Protocol for TwoPc {
    const NAME: &'static str = "twopc";
    type Msg = TwoPcMsg;
    type Timer = TwoPcTimer;
    type Durable = TwoPcDurable;
    type Params = TwoPcParams;
    type Invariants = TwoPcInvariants;

    fn validate(p: &TwoPcParams) -> Result<(), String> {
        crate::sim::protocol::check_timings(&[
            ("vote_timeout_ms", p.vote_timeout_ms),
            ("decision_timeout_ms", p.decision_timeout_ms),
            ("resend_ms", p.resend_ms),
        ])?;
        if !(0.0..=1.0).contains(&p.no_vote_ratio) {
            return Err(format!("no_vote_ratio must be between 0 and 1, not {}", p.no_vote_ratio));
        }
        if p.vote_no.contains(&txn::COORDINATOR) {
            return Err("vote_no names n1, the coordinator, which does not vote".into());
        }
        Ok(())
    }

    fn start(
        id: NodeId,
        nodes: u16,
        params: &TwoPcParams,
        durable: Option<TwoPcDurable>,
        ctx: &mut Ctx<'_, Self>,
    ) -> Self {
        let disk = durable.unwrap_or_default();
        let tables = Tables::replay(&disk.log);
        let mut node = TwoPc {
            id,
            nodes,
            params: params.clone(),
            disk,
            tables,
            locks: Locks::default(),
            votes: BTreeMap::new(),
            acks: BTreeMap::new(),
        };
        if node.is_coordinator() {
            node.recover_coordinator(ctx);
        } else {
            node.recover_participant(ctx);
        }
        node
    }

    fn on_message(&mut self, from: NodeId, msg: TwoPcMsg, ctx: &mut Ctx<'_, Self>) {
        match (self.is_coordinator(), msg) {
            (true, TwoPcMsg::Vote { txn, yes }) => self.on_vote(from, txn, yes, ctx),
            (true, TwoPcMsg::Ack { txn }) => self.on_ack(from, txn, ctx),
            (true, TwoPcMsg::DecisionRequest { txn }) => self.coordinator_decision_request(from, txn, ctx),
            (false, TwoPcMsg::Prepare { txn, writes, participants }) => {
                self.on_prepare(from, txn, writes, participants, ctx)
            }
            (false, TwoPcMsg::Outcome { txn, decision }) => self.learn(from, txn, decision, true, ctx),
            (false, TwoPcMsg::DecisionRequest { txn }) => self.participant_decision_request(from, txn, ctx),
            (false, TwoPcMsg::DecisionReply { txn, decision: Some(d) }) => self.learn(from, txn, d, false, ctx),
            // "Don't know" changes nothing; anything else is not meant for this role.
            _ => {}
        }
    }

    fn on_timer(&mut self, timer: TwoPcTimer, ctx: &mut Ctx<'_, Self>) {
        match timer {
            TwoPcTimer::VoteTimeout { txn } => self.vote_timeout(txn, ctx),
            TwoPcTimer::Resend { txn } => self.resend(txn, ctx),
            TwoPcTimer::DecisionTimeout { txn } => self.decision_timeout(txn, ctx),
        }
    }

    fn on_request(&mut self, client: ClientId, request: Request, ctx: &mut Ctx<'_, Self>) {
        let writes = match &request.op {
            Op::Get { key } => {
                let key = key.clone();
                self.serve_get(client, request.seq, key, ctx);
                return;
            }
            Op::Put { key, value } => vec![Write { key: key.clone(), value: value.clone() }],
            Op::Txn { writes } => writes.clone(),
        };
        if !self.is_coordinator() {
            ctx.reply(client, request.seq, Reply::Redirect { leader: Some(txn::COORDINATOR) });
            return;
        }
        self.client_txn(client, request, writes, ctx);
    }

    fn on_timeout_now(&mut self, ctx: &mut Ctx<'_, Self>) {
        // "Time out now": the participant asks about every transaction it is uncertain of;
        // the coordinator gives up waiting for the votes it is still missing.
        let open: Vec<String> = if self.is_coordinator() {
            self.votes.keys().cloned().collect()
        } else {
            self.tables.participations.iter().filter(|(_, p)| p.uncertain()).map(|(t, _)| t.clone()).collect()
        };
        for t in open {
            if self.is_coordinator() {
                self.vote_timeout(t, ctx);
            } else {
                self.decision_timeout(t, ctx);
            }
        }
    }

    fn durable(&self) -> TwoPcDurable {
        self.disk.clone()
    }

    fn status(&self) -> NodeStatus {
        NodeStatus { role: role(self.id), term: 0 }
    }

    fn view(&self) -> NodeView {
        node_view(role(self.id), &self.disk, &self.tables, Some(&self.locks))
    }

    fn durable_view(d: &TwoPcDurable) -> NodeView {
        node_view("crashed", d, &Tables::replay(&d.log), None)
    }

    fn inspect(&self) -> serde_json::Value {
        let locks: Vec<serde_json::Value> = self
            .locks
            .iter()
            .map(|(k, (t, since))| serde_json::json!({ "key": k, "txn": t, "since_us": since }))
            .collect();
        let votes: BTreeMap<&String, BTreeMap<String, bool>> =
            self.votes.iter().map(|(t, v)| (t, v.iter().map(|(n, y)| (n.to_string(), *y)).collect())).collect();
        let acks: BTreeMap<&String, Vec<String>> =
            self.acks.iter().map(|(t, a)| (t, a.iter().map(|n| n.to_string()).collect())).collect();
        serde_json::json!({
            "role": role(self.id),
            "params": self.params,
            "log": self.disk.log,
            "store": self.disk.store,
            "locks": locks,
            "coordinating": self.tables.coordinated,
            "participating": self.tables.participations,
            "votes_received": votes,
            "acks_received": acks,
            "timers": {
                "VoteTimeout": "coordinator: abort the transaction if its votes are not all in",
                "Resend": "coordinator: send the decision again to participants that have not acknowledged it",
                "DecisionTimeout": "participant: prepared and uncertain; ask the coordinator and the other participants for the outcome",
            },
        })
    }
}

fn role(id: NodeId) -> &'static str {
    if id == txn::COORDINATOR { "coordinator" } else { "participant" }
}
