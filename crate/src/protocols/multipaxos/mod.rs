//! # Multi-Paxos
//!
//! Multi-Paxos runs one instance of Paxos per slot of a replicated log, so that a key-value
//! store applying the chosen commands in slot order behaves like one server that never fails.
//! Sources: Lamport, "Paxos Made Simple" (2001), §3 "Implementing a State Machine"; van
//! Renesse & Altinbuken, "Paxos Made Moderately Complex" (2015), for ballots, leaders and the
//! roles of scouts and commanders; Chandra, Griesemer & Redstone, "Paxos Made Live" (2007), for
//! the stable leader ("master") that makes phase 1 rare, and catch-up of lagging replicas.
//!
//! Every node is an acceptor, a learner and a potential leader. A *ballot* is a pair
//! `(round, node)`, ordered lexicographically and shown `3.n2`: no two nodes ever use the same
//! ballot, and a node can always pick one above any it has seen.
//!
//! **Phase 1, once for all slots.** A follower that hears no heartbeat from a leader for a
//! randomized election timeout becomes a *candidate*: it picks a ballot above its promise and
//! sends `Prepare(b, from_slot)`, where `from_slot` is its first slot not known chosen. This one
//! Prepare covers every slot from there on — the step that turns Basic Paxos into Multi-Paxos
//! ("Paxos Made Simple" §3: the new leader executes phase 1 for infinitely many instances with
//! one short message). An acceptor promises (durably) if `b` is above any ballot it promised,
//! and reports every value it has accepted at or after `from_slot`, with its ballot; otherwise
//! it answers `Nack` with the ballot it promised.
//!
//! **Recovery.** With promises from a majority the candidate knows, for every slot up to the
//! highest reported, the value with the highest ballot reported there: Paxos obliges it to
//! propose exactly that value (it may already be chosen). Slots nobody reported accepting are
//! *holes*; it fills them with no-ops, which leave the store unchanged (§3: "it cannot propose
//! a command for 138 and 139 ... it fills the gaps by proposing a special no-op command").
//! It sends these re-proposals and no-ops as phase 2 in its new ballot and only then calls
//! itself `leader` and serves clients.
//!
//! **Steady state.** The leader skips phase 1: a client command takes the next free slot and
//! `Accept(b, slot, command)` goes to every acceptor, which accepts unless it promised a higher
//! ballot. A value is *chosen* once a majority accepted it in one ballot; the leader learns so
//! from `Accepted` replies, applies its chosen prefix in slot order and answers the client. One
//! round trip per command. The leader's chosen prefix rides on every `Accept` and `Heartbeat`;
//! a follower marks a slot chosen when the prefix covers it and it accepted that slot in the
//! leader's own ballot (the leader proposes one value per slot per ballot, and only the chosen
//! one for a slot it knows chosen). A follower still behind after two heartbeats sends
//! `CatchUp` and the leader answers with `Learn`: the chosen values it misses ("Paxos Made Live"
//! §5.2 catch-up). Unanswered Accepts are sent again with the heartbeat, since messages get lost.
//!
//! A `Nack` or a higher ballot seen anywhere makes a leader or candidate step down to follower;
//! a leader that steps down answers its waiting clients `Uncertain` (their commands may still be
//! chosen under the next leader). A leader cut off in a minority keeps its role but can get no
//! majority, so nothing it proposes there is chosen; the majority elects a leader with a higher
//! ballot, whose phase 1 replaces the old leader's unchosen slots.
//!
//! Durable: the promised ballot, every accepted `(slot → ballot, value)`, which slots are known
//! chosen, a count of overwritten slots and a journal of written slots (for the invariant
//! checkers). The store is rebuilt from the chosen prefix on restart. Reads go through the log,
//! so the history is linearizable.

mod invariants;
pub mod messages;
mod node;

pub use invariants::MultiPaxosInvariants;
pub use messages::{Ballot, Command, MpMsg, MpTimer, Report, Role, Slot};

use crate::protocols::kv::KvStore;
use crate::sim::dynamic::Simulation;
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::{Ctx, NodeStatus, NodeView, Protocol};
use crate::workload::op::Request;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `params` of a Multi-Paxos scenario. The names and defaults of the timings match Raft's
/// and ZAB's, so that the compare mode runs them with identical timing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultiPaxosParams {
    /// Each election timeout is drawn uniformly from this range, in milliseconds.
    pub election_timeout_ms: [u64; 2],
    pub heartbeat_ms: u64,
    /// The most chosen values one Learn carries, and the most pending Accepts a heartbeat sends
    /// again.
    pub max_entries: u32,
}

impl Default for MultiPaxosParams {
    fn default() -> Self {
        MultiPaxosParams { election_timeout_ms: [150, 300], heartbeat_ms: 50, max_entries: 32 }
    }
}

/// Fuzz runs vary the timeouts and how much a Learn carries (a small one makes catch-up page
/// through the log in several rounds).
pub fn fuzz_params(rng: &mut crate::sim::rng::SimRng) -> serde_json::Value {
    let low = rng.between(100, 200);
    let max_entries = if rng.chance(500_000) { rng.between(1, 4) } else { 32 };
    serde_json::json!({ "election_timeout_ms": [low, low * 2], "heartbeat_ms": 40, "max_entries": max_entries })
}

/// Settled: one leader that every running node follows in the same round (the registry's
/// `single_agreed_leader`), and every running node has learned the leader's chosen prefix and
/// applied it to the same store — the leader must bring lagging and restarted acceptors up to
/// date, and this is where a failure to do so shows.
pub fn settled(sim: &dyn Simulation) -> Result<(), String> {
    super::single_agreed_leader(sim)?;
    let views = sim.node_views();
    let Some(leader) = views.iter().find(|v| v.role == "leader") else { return Err("no leader".into()) };
    for v in views.iter().filter(|v| v.role != "crashed" && v.id != leader.id) {
        if v.view.commit_index != leader.view.commit_index || v.view.store != leader.view.store {
            return Err(format!(
                "{} has learned {} chosen slots and leader {} has {}, or their stores differ",
                v.id, v.view.commit_index, leader.id, leader.view.commit_index
            ));
        }
    }
    Ok(())
}

/// What survives a crash.
#[derive(Clone, Debug)]
pub struct MultiPaxosDurable {
    pub promised: Ballot,
    /// `log[0]` is slot 1; `None` is a slot this acceptor accepted nothing in.
    pub log: Vec<Option<Slot>>,
    /// How many times a slot's accepted value was replaced by a different one.
    pub overwrites: u64,
    /// Every slot written, in order: what lets the invariant checkers look only at what changed.
    pub journal: Vec<u64>,
}

/// A candidate's phase 1 and what it did with it, kept after it becomes leader for the page.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Recovery {
    /// Who has promised the candidate's ballot so far.
    pub promises: Vec<NodeId>,
    /// Slots it proposed again with the value of the highest ballot reported there.
    pub reproposed: Vec<u64>,
    /// Holes: slots nobody reported, filled with no-ops.
    pub noops: Vec<u64>,
}

/// A slot the leader proposed and has not seen chosen yet.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub(crate) accepted_by: Vec<NodeId>,
    /// When the Accepts last went out, in µs; the heartbeat sends them again when this is old.
    pub(crate) sent_us: u64,
}

#[derive(Clone, Debug)]
pub struct MultiPaxos {
    pub(crate) id: NodeId,
    pub(crate) nodes: u16,
    pub(crate) params: MultiPaxosParams,
    // Durable.
    pub(crate) promised: Ballot,
    pub(crate) log: Vec<Option<Slot>>,
    pub(crate) overwrites: u64,
    pub(crate) journal: Vec<u64>,
    // Volatile.
    pub(crate) role: Role,
    pub(crate) leader: Option<NodeId>,
    /// The ballot this node campaigns or leads with (zero when it never has).
    pub(crate) ballot: Ballot,
    /// A candidate's first slot not known chosen: its Prepare covers it and all after.
    pub(crate) from_slot: u64,
    /// A candidate's promises: who, and what each reported accepted.
    pub(crate) promises: BTreeMap<NodeId, Vec<Report>>,
    pub(crate) recovery: Recovery,
    /// Leader: the next slot a client command gets.
    pub(crate) next_slot: u64,
    pub(crate) pending: BTreeMap<u64, Pending>,
    /// Leader: how far each peer has said it learned (its chosen prefix), by node.
    pub(crate) match_slot: Vec<u64>,
    /// Slots 1..=chosen_prefix are all known chosen.
    pub(crate) chosen_prefix: u64,
    pub(crate) applied: u64,
    pub(crate) store: KvStore,
    /// Slot → the client waiting for it (leader only).
    pub(crate) waiting: BTreeMap<u64, (ClientId, u64)>,
    /// A follower that was behind the leader's commit at the last heartbeat.
    pub(crate) lagging: bool,
}

impl Protocol for MultiPaxos {
    const NAME: &'static str = "multipaxos";
    type Msg = MpMsg;
    type Timer = MpTimer;
    type Durable = MultiPaxosDurable;
    type Params = MultiPaxosParams;
    type Invariants = MultiPaxosInvariants;

    fn validate(p: &MultiPaxosParams) -> Result<(), String> {
        let [lo, hi] = p.election_timeout_ms;
        if lo == 0 || lo > hi || hi > 3_600_000 {
            return Err(format!("election_timeout_ms [{lo}, {hi}] must be a range with 0 < min <= max <= 3600000"));
        }
        if p.heartbeat_ms == 0 || p.heartbeat_ms >= lo {
            return Err(format!(
                "heartbeat_ms {} must be above 0 and below the smallest election timeout ({lo} ms), or followers start elections under a healthy leader",
                p.heartbeat_ms
            ));
        }
        if p.max_entries == 0 {
            return Err("max_entries must be at least 1".into());
        }
        Ok(())
    }

    fn start(
        id: NodeId,
        nodes: u16,
        params: &MultiPaxosParams,
        durable: Option<MultiPaxosDurable>,
        ctx: &mut Ctx<'_, Self>,
    ) -> Self {
        let d = durable.unwrap_or(MultiPaxosDurable {
            promised: Ballot::ZERO,
            log: Vec::new(),
            overwrites: 0,
            journal: Vec::new(),
        });
        let mut node = MultiPaxos {
            id,
            nodes,
            params: params.clone(),
            promised: d.promised,
            log: d.log,
            overwrites: d.overwrites,
            journal: d.journal,
            role: Role::Follower,
            leader: None,
            ballot: Ballot::ZERO,
            from_slot: 1,
            promises: BTreeMap::new(),
            recovery: Recovery::default(),
            next_slot: 1,
            pending: BTreeMap::new(),
            match_slot: vec![0; nodes as usize],
            chosen_prefix: 0,
            applied: 0,
            store: KvStore::default(),
            waiting: BTreeMap::new(),
            lagging: false,
        };
        // The store is volatile: rebuild it from the slots known chosen on disk.
        node.advance(ctx);
        node.reset_election_timer(ctx);
        node
    }

    fn on_message(&mut self, from: NodeId, msg: MpMsg, ctx: &mut Ctx<'_, Self>) {
        self.handle(from, msg, ctx);
    }

    fn on_timer(&mut self, timer: MpTimer, ctx: &mut Ctx<'_, Self>) {
        match timer {
            MpTimer::ElectionTimeout => self.start_phase1(ctx),
            MpTimer::Heartbeat => self.heartbeat(ctx),
        }
    }

    fn on_request(&mut self, client: ClientId, request: Request, ctx: &mut Ctx<'_, Self>) {
        self.client_request(client, request, ctx);
    }

    fn on_timeout_now(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.role == Role::Leader {
            ctx.note(format!("{} leads already: leaders do not time out", self.id));
        } else {
            self.start_phase1(ctx);
        }
    }

    fn durable(&self) -> MultiPaxosDurable {
        MultiPaxosDurable {
            promised: self.promised,
            log: self.log.clone(),
            overwrites: self.overwrites,
            journal: self.journal.clone(),
        }
    }

    fn status(&self) -> NodeStatus {
        NodeStatus { role: self.role.name(), term: self.promised.round }
    }

    fn view(&self) -> NodeView {
        NodeView {
            role: self.role.name().to_string(),
            term: self.promised.round,
            leader: self.leader,
            log_terms: log_terms(&self.log),
            commit_index: self.chosen_prefix,
            store: self.store.data.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            ..NodeView::default()
        }
    }

    fn durable_view(d: &MultiPaxosDurable) -> NodeView {
        NodeView {
            role: "crashed".into(),
            term: d.promised.round,
            leader: None,
            log_terms: log_terms(&d.log),
            commit_index: node::chosen_prefix_of(&d.log),
            ..NodeView::default()
        }
    }

    fn inspect(&self) -> serde_json::Value {
        let log: Vec<serde_json::Value> = self
            .log
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.as_ref().map(|s| {
                    serde_json::json!({
                        "slot": i + 1,
                        "ballot": s.ballot,
                        "command": s.command,
                        "chosen": s.chosen,
                        "noop": s.command == Command::Noop,
                    })
                })
            })
            .collect();
        let peers: Vec<serde_json::Value> = messages::peers(self.id, self.nodes)
            .map(|p| serde_json::json!({ "node": p, "match_slot": self.match_slot[p.index()] }))
            .collect();
        let pending: Vec<serde_json::Value> = self
            .pending
            .iter()
            .map(|(slot, p)| serde_json::json!({ "slot": slot, "accepted_by": p.accepted_by }))
            .collect();
        serde_json::json!({
            "role": self.role,
            "ballot": self.promised,
            "own_ballot": if self.ballot.is_zero() { serde_json::Value::Null } else { serde_json::json!(self.ballot) },
            "leader": self.leader,
            "chosen_prefix": self.chosen_prefix,
            "applied": self.applied,
            "log": log,
            "recovery": if self.role == Role::Follower { serde_json::Value::Null } else { serde_json::json!(self.recovery) },
            "peers": if self.role == Role::Leader { serde_json::Value::Array(peers) } else { serde_json::Value::Null },
            "pending": pending,
            "next_slot": if self.role == Role::Leader { serde_json::json!(self.next_slot) } else { serde_json::Value::Null },
            "store": self.store.data,
            "overwrites": self.overwrites,
            "waiting_clients": self.waiting.len(),
            "params": self.params,
        })
    }
}

/// Per slot, the round of the ballot of the value accepted there; 0 for a hole.
fn log_terms(log: &[Option<Slot>]) -> Vec<u64> {
    log.iter().map(|s| s.as_ref().map_or(0, |s| s.ballot.round)).collect()
}
