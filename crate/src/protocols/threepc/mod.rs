//! # Three-Phase Commit (3PC)
//!
//! Two-phase commit blocks: a participant that voted yes may neither commit nor abort until it
//! hears the outcome, and if the coordinator crashes at the wrong moment nobody alive can tell
//! which one it was. Skeen ("Nonblocking Commit Protocols", SIGMOD 1981) showed why: in 2PC a
//! participant's *wait* state is adjacent both to commit and to abort, so from it alone nothing
//! can be concluded. His fundamental nonblocking theorem asks for two things: no local state
//! adjacent to both commit and abort, and no *noncommittable* state adjacent to commit. 3PC adds
//! one state between "voted yes" and "committed" to get there (Skeen & Stonebraker, "A Formal
//! Model of Crash Recovery in a Distributed System", IEEE TSE 1983; Bernstein, Hadzilacos &
//! Goodman, "Concurrency Control and Recovery in Database Systems", §7.5).
//!
//! **The three phases.** Node n1 coordinates; n2..nN are participants, each the home of some
//! keys (`txn::owner`).
//! 1. `CanCommit`: the coordinator asks the participants that hold the transaction's keys. A
//!    participant votes yes if it can lock all its keys (`txn::Locks`, no waiting), and is then
//!    *uncertain*; it votes no otherwise and aborts at once.
//! 2. `PreCommit`: when every vote is yes the coordinator logs that it is *precommitted* and
//!    tells everyone; each participant logs *precommitted* and acknowledges (`Ack`). Nobody has
//!    committed yet, but everybody now knows that everybody voted yes.
//! 3. `DoCommit`: once every acknowledgement is in, the coordinator commits, answers the client
//!    `Done`, and tells the participants, who apply the writes and release the locks.
//!
//! **Timeouts** (the textbook's default actions, BHG §7.5). Coordinator: no vote in time →
//! abort (nobody can be precommitted yet); no acknowledgement in time → commit anyway (every
//! participant voted yes; the silent ones are treated as failed and learn the outcome when they
//! recover). Participant: it never waits before voting (it votes the moment it is asked, and
//! has nothing to time out on before); uncertain or precommitted and nothing heard → run the
//! termination protocol. The simplified rule "a precommitted participant that times out
//! commits" is not used: a precommitted node runs the termination protocol like an uncertain
//! one, which reaches commit too (any precommitted → commit) and also brings the uncertain ones
//! along first.
//!
//! **Termination protocol** (Skeen 1981; BHG §7.5). The node that timed out sends `StateReq` to
//! every other node of the transaction and gathers `StateReport`s for `election_ms`. Election
//! rule: the *backup coordinator* is the lowest-numbered node that answered (or is the asker)
//! among those that are operational and have not crashed since they voted; everybody else
//! defers to it and waits again. A node that receives a `StateReq` while it is undecided starts
//! a round of its own, so the lowest one hears of the trouble at once. The backup decides from
//! the states it gathered:
//! - any node committed → commit;
//! - any node aborted → abort;
//! - any node precommitted → send `PreCommit` to the uncertain ones, wait for their acks (or the
//!   ack timeout), then commit;
//! - all uncertain → abort (nobody can have committed: that needs everybody precommitted).
//!
//! A node that never voted (it has no record of the transaction) and receives a `StateReq`
//! aborts on the spot and reports it; so does the coordinator while it still waits for votes.
//!
//! **Recovery** (Skeen & Stonebraker 1983). Each node keeps a durable log: its transactions with
//! their states, its decisions, its store and its locks. A recovering node that had decided
//! keeps the decision; a coordinator that was still waiting for votes aborts (no one can be
//! precommitted); a node that was uncertain or precommitted must NOT decide alone: other nodes
//! may have decided either way while it was down. It asks with `StateReq` rounds until some node
//! reports a decision. It takes no part in electing a backup while operational nodes remain
//! (their termination protocol did not count it). Only when every node of the transaction
//! reports and all are recovering and undecided (a total failure) may they finish it themselves:
//! no decision exists anywhere, and the lowest-numbered of them acts as the backup coordinator.
//!
//! **What it assumes.** 3PC is nonblocking only under its model: a synchronous network (every
//! message arrives within a known bound, so a timeout means a crash) and no partitions; only
//! crashes. The parameters must respect that: `participant_timeout_ms` must exceed
//! `vote_timeout_ms` and `ack_timeout_ms` plus the round trip, and `election_ms` the round trip.
//! A partition breaks it: both sides run the termination protocol, the side with a precommitted
//! node commits and a side with only uncertain ones aborts (`scenarios/threepc-partition.json`).
//! The registry therefore fuzzes 3PC with crashes and restarts only.
//!
//! **Clients.** Transactions and puts go to n1 (others redirect there); the client gets `Done`
//! when n1 commits and `Rejected` when it aborts, and a retried request is answered from n1's
//! log. A get is served by the key's home, and refused while the key is locked by a transaction
//! in progress (its outcome is not known there yet).

mod invariants;
pub mod messages;
mod node;

pub use invariants::ThreePcInvariants;
pub use messages::{ThreePcMsg, ThreePcTimer, TxnState};

use super::txn::{self, Locks};
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::{Ctx, Decision, NodeStatus, NodeView, Protocol, TxnRecord};
use crate::workload::op::{Request, Write};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The `params` of a 3PC scenario. All timings in ms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThreePcParams {
    /// How long the coordinator waits for the votes before it aborts.
    pub vote_timeout_ms: u64,
    /// How long a coordinator (or backup) waits for the acks of its `PreCommit` before it
    /// commits anyway.
    pub ack_timeout_ms: u64,
    /// How long a participant waits, uncertain or precommitted, for the next message before it
    /// runs the termination protocol; also how often a recovering node asks again.
    pub participant_timeout_ms: u64,
    /// How long a termination round gathers state reports.
    pub election_ms: u64,
}

impl Default for ThreePcParams {
    fn default() -> Self {
        ThreePcParams { vote_timeout_ms: 150, ack_timeout_ms: 150, participant_timeout_ms: 500, election_ms: 60 }
    }
}

/// Fuzz runs vary the timings within what the synchrony assumption allows for the fuzzer's
/// latency (1-12 ms).
pub fn fuzz_params(rng: &mut crate::sim::rng::SimRng) -> serde_json::Value {
    let vote = rng.between(60, 200);
    let ack = rng.between(60, 200);
    let participant = vote.max(ack) + rng.between(60, 400);
    let election = rng.between(30, 80);
    serde_json::json!({
        "vote_timeout_ms": vote,
        "ack_timeout_ms": ack,
        "participant_timeout_ms": participant,
        "election_ms": election,
    })
}

/// The registry's check against the scenario: a coordinator and at least one participant, and
/// timeouts that fit the network. 3PC is non-blocking and safe only in a synchronous system,
/// where a timeout means a crash: the coordinator's ack timeout and the election's wait must
/// outlast a round trip, and a participant must wait longer than the coordinator may
/// legitimately take between two messages (its vote or ack timeout) plus a round trip.
/// Otherwise a slow message is taken for a crash and the decision can split with no fault at
/// all. (A `network` action that raises the latency mid-run breaks the assumption as a
/// partition does; that is not checked.)
pub fn check_cluster(p: &ThreePcParams, s: &crate::scenario::Scenario) -> Result<(), String> {
    if s.nodes < 2 {
        return Err(format!("3pc needs a coordinator and at least one participant: 2 nodes or more, not {}", s.nodes));
    }
    let round_trip = (2.0 * s.network.latency_ms[1]).ceil() as u64;
    if p.ack_timeout_ms <= round_trip || p.election_ms <= round_trip {
        return Err(format!(
            "ack_timeout_ms ({}) and election_ms ({}) must each exceed a round trip of the network ({round_trip} ms, twice its latency_ms maximum): 3PC assumes a timeout means a crash",
            p.ack_timeout_ms, p.election_ms
        ));
    }
    let least = p.vote_timeout_ms.max(p.ack_timeout_ms) + round_trip;
    if p.participant_timeout_ms <= least {
        return Err(format!(
            "participant_timeout_ms ({}) must exceed the larger of vote_timeout_ms ({}) and ack_timeout_ms ({}) plus a round trip ({round_trip} ms), so {least} ms: a participant may only suspect a crash once the coordinator has had time to act",
            p.participant_timeout_ms, p.vote_timeout_ms, p.ack_timeout_ms
        ));
    }
    Ok(())
}

/// One node's part in one transaction, as its log keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Txn {
    pub coordinator: bool,
    /// Every node of the transaction: the coordinator, then the participants in node order.
    pub nodes: Vec<NodeId>,
    /// The coordinator: every write. A participant: the writes to its own keys.
    pub writes: Vec<Write>,
    /// The coordinator: whom to answer.
    pub client: Option<(ClientId, u64)>,
    pub state: TxnState,
    pub vote: Option<bool>,
    pub since_us: u64,
    pub uncertain_us: Option<u64>,
    pub decided_us: Option<u64>,
}

impl Txn {
    pub fn participants(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.nodes.iter().copied().filter(|n| *n != txn::COORDINATOR)
    }
}

/// What survives a crash: the node's log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ThreePcDurable {
    pub txns: BTreeMap<String, Txn>,
    /// Transaction names, oldest first.
    pub order: Vec<String>,
    /// Append-only: every decision, in the order taken (read by `txn::DecisionWatch`).
    pub decisions: Vec<(String, Decision)>,
    /// Committed values of the keys this node is home for.
    pub store: BTreeMap<String, String>,
    pub locks: Locks,
}

/// A termination round in progress: the reports gathered so far.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Round {
    pub reports: BTreeMap<NodeId, (TxnState, bool)>,
}

#[derive(Clone, Debug)]
pub struct ThreePc {
    pub(crate) id: NodeId,
    pub(crate) cluster: u16,
    pub(crate) params: ThreePcParams,
    pub(crate) log: ThreePcDurable,
    // Volatile.
    /// Undecided transactions this node found in its log on restart: it crashed since it voted,
    /// so it may not decide alone and takes no part in electing a backup.
    pub(crate) recovering: BTreeSet<String>,
    /// Coordinator: the votes received so far.
    pub(crate) votes: BTreeMap<String, BTreeMap<NodeId, bool>>,
    /// Coordinator or backup: the nodes whose `Ack` it still waits for.
    pub(crate) acking: BTreeMap<String, BTreeSet<NodeId>>,
    pub(crate) rounds: BTreeMap<String, Round>,
    /// Termination rounds this node has run, shown as the view's `term`.
    pub(crate) rounds_run: u64,
}

impl ThreePc {
    fn role(&self) -> &'static str {
        if self.id == txn::COORDINATOR { "coordinator" } else { "participant" }
    }
}

impl Protocol for ThreePc {
    const NAME: &'static str = "threepc";
    type Msg = ThreePcMsg;
    type Timer = ThreePcTimer;
    type Durable = ThreePcDurable;
    type Params = ThreePcParams;
    type Invariants = ThreePcInvariants;

    fn validate(p: &ThreePcParams) -> Result<(), String> {
        crate::sim::protocol::check_timings(&[
            ("vote_timeout_ms", p.vote_timeout_ms),
            ("ack_timeout_ms", p.ack_timeout_ms),
            ("participant_timeout_ms", p.participant_timeout_ms),
            ("election_ms", p.election_ms),
        ])?;
        if p.participant_timeout_ms <= p.vote_timeout_ms.max(p.ack_timeout_ms) {
            return Err(format!(
                "participant_timeout_ms ({}) must exceed vote_timeout_ms ({}) and ack_timeout_ms ({}): a participant may only suspect a crash once the coordinator has had time to act",
                p.participant_timeout_ms, p.vote_timeout_ms, p.ack_timeout_ms
            ));
        }
        Ok(())
    }

    fn start(
        id: NodeId,
        nodes: u16,
        params: &ThreePcParams,
        durable: Option<ThreePcDurable>,
        ctx: &mut Ctx<'_, Self>,
    ) -> Self {
        let mut node = ThreePc {
            id,
            cluster: nodes,
            params: params.clone(),
            log: durable.unwrap_or_default(),
            recovering: BTreeSet::new(),
            votes: BTreeMap::new(),
            acking: BTreeMap::new(),
            rounds: BTreeMap::new(),
            rounds_run: 0,
        };
        node.recover(ctx);
        node
    }

    fn on_message(&mut self, from: NodeId, msg: ThreePcMsg, ctx: &mut Ctx<'_, Self>) {
        self.handle(from, msg, ctx);
    }

    fn on_timer(&mut self, timer: ThreePcTimer, ctx: &mut Ctx<'_, Self>) {
        self.timer(timer, ctx);
    }

    fn on_request(&mut self, client: ClientId, request: Request, ctx: &mut Ctx<'_, Self>) {
        self.client_request(client, request, ctx);
    }

    /// "Time out now": every undecided transaction this node waits on runs the termination
    /// protocol at once.
    fn on_timeout_now(&mut self, ctx: &mut Ctx<'_, Self>) {
        let waiting: Vec<String> = self
            .log
            .txns
            .iter()
            .filter(|(t, x)| !x.state.decided() && !self.acking.contains_key(*t) && x.state != TxnState::Waiting)
            .map(|(t, _)| t.clone())
            .collect();
        for t in waiting {
            self.start_round(&t, ctx);
        }
    }

    fn durable(&self) -> ThreePcDurable {
        self.log.clone()
    }

    fn status(&self) -> NodeStatus {
        NodeStatus { role: self.role(), term: 0 }
    }

    fn view(&self) -> NodeView {
        log_view(self.role(), &self.log, self.rounds_run)
    }

    fn durable_view(d: &ThreePcDurable) -> NodeView {
        log_view("crashed", d, 0)
    }

    fn inspect(&self) -> serde_json::Value {
        let txns: Vec<serde_json::Value> = self
            .log
            .order
            .iter()
            .filter_map(|t| self.log.txns.get(t).map(|x| (t, x)))
            .map(|(t, x)| {
                serde_json::json!({
                    "txn": t,
                    "log": x,
                    "recovering": self.recovering.contains(t),
                    "votes_received": self.votes.get(t),
                    "acks_awaited": self.acking.get(t),
                    "termination_round": self.rounds.get(t),
                })
            })
            .collect();
        let locks: Vec<serde_json::Value> = self
            .log
            .locks
            .iter()
            .map(|(k, (t, since))| serde_json::json!({ "key": k, "txn": t, "since_us": since }))
            .collect();
        serde_json::json!({
            "role": self.role(),
            "params": self.params,
            "transactions": txns,
            "decisions": self.log.decisions,
            "store": self.log.store,
            "locks": locks,
            "termination_rounds_run": self.rounds_run,
            "timers": {
                "Votes": "coordinator: no vote in time → abort",
                "Acks": "coordinator or backup: no ack in time → commit anyway",
                "Wait": "participant uncertain or precommitted, or recovering: nothing heard → termination protocol",
                "Collect": "end of a termination round: decide, or defer to a lower-numbered node",
            },
        })
    }
}

fn log_view(role: &str, log: &ThreePcDurable, rounds: u64) -> NodeView {
    let txns = log
        .order
        .iter()
        .filter_map(|t| log.txns.get(t).map(|x| (t, x)))
        .map(|(t, x)| TxnRecord {
            txn: t.clone(),
            role: if x.coordinator { "coordinator" } else { "participant" },
            state: x.state.word(),
            vote: x.vote,
            decision: match x.state {
                TxnState::Committed => Some(Decision::Commit),
                TxnState::Aborted => Some(Decision::Abort),
                _ => None,
            },
            since_us: x.since_us,
            uncertain_us: x.uncertain_us,
            decided_us: x.decided_us,
            locks: log.locks.keys_of(t),
        })
        .collect();
    NodeView {
        role: role.to_string(),
        term: rounds,
        leader: None,
        log_terms: Vec::new(),
        commit_index: log.decisions.len() as u64,
        store: log.store.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        txns,
    }
}
