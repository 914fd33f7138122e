//! # Raft
//!
//! Raft (Ongaro & Ousterhout, "In Search of an Understandable Consensus Algorithm", extended
//! version, 2014) keeps a replicated log identical on a majority of servers, so that a key-value
//! store applying the log in order behaves like one server that never fails.
//!
//! Time is divided into *terms*. Each term begins with an election (§5.2): a follower that
//! hears nothing from a leader for a randomized election timeout becomes a candidate, increments
//! its term, votes for itself and asks the others with `RequestVote`. A server grants one vote
//! per term, and only to a candidate whose log is at least as up to date as its own (§5.4.1:
//! a later last term, or the same last term and a log at least as long). A candidate with votes
//! from a majority leads for the rest of the term. The randomness of the timeout is what makes
//! split votes rare and lets them resolve.
//!
//! The leader replicates with `AppendEntries` (§5.3). Each carries the index and term of the
//! entry just before the new ones; a follower whose log does not contain that entry refuses, and
//! the leader backs its `nextIndex` for that follower off and tries again, until the logs agree
//! and the follower's extra entries are overwritten. An empty `AppendEntries` is the heartbeat
//! that holds followers back from starting elections.
//!
//! An entry is *committed* once the leader that created it has stored it on a majority; then it
//! will never be lost and may be applied. The subtle rule (§5.4.2, Figure 8): a leader only
//! counts replicas for entries of its *own* term. An entry from an earlier term that sits on a
//! majority can still be overwritten by a later leader, so it is committed only indirectly, when
//! an entry of the current term after it commits. The parameter `commit_rule:
//! "count_replicas"` switches that rule off so the page can show what goes wrong.
//!
//! A server that sees a higher term in any message adopts it and steps down to follower (§5.1).
//! Term, vote and log are durable: written before any reply, they survive a crash; everything
//! else is rebuilt. A leader cut off in a minority keeps believing it leads, but it cannot
//! commit, so it cannot answer its clients; when it hears the higher term it steps down and its
//! uncommitted entries are overwritten.
//!
//! Clients talk to the leader; followers redirect them. Reads go through the log too, which keeps
//! them linearizable at the price of a round of replication.
//!
//! ## Leader leases (`read_mode: "lease"`)
//!
//! The dissertation (Ongaro 2014, §6.4.1 "Using clocks to reduce messaging for read-only
//! queries") lets a leader answer reads from its own state machine, with no message at all, while
//! it holds a *lease*; etcd calls this `ReadOnlyLeaseBased`. The leader numbers its heartbeat
//! rounds and notes its own clock (`ctx.clock()`) when it starts each one; every AppendEntries
//! carries the round and every reply echoes it. Once a majority, counting the leader, has
//! answered a round started at clock reading `t`, the leader holds the lease until `t +
//! lease_ms` on its own clock. A get that arrives while the leader's clock is before that, and
//! after the leader has committed an entry of its own term (before that it may not know which
//! entries are committed: §6.4 step 1), is answered at once from the state machine. Any other
//! get goes through the log as before (it is never refused for want of a lease).
//!
//! The lease is only as good as the promise of the followers that answered: they must not help
//! elect another leader while it may be valid. So under `read_mode: "lease"` (or
//! `leader_stickiness: true`) a follower disregards a RequestVote, without even adopting its
//! term, while less than the minimum election timeout has passed on its clock since it last
//! heard from a leader (§4.2.3, the same rule that stops disruptive servers), and a server that
//! (re)starts counts its start as such a hearing, since it may have answered a round just before
//! it crashed. It does not start an election that soon either: its election timer is at least
//! that long.
//!
//! The bound, with the engine's drifts (a clock with drift `d` reads `(1 + d)` times the true
//! time elapsed, and its timers fire after `after / (1 + d)` of true time): a round started at
//! true time `T` keeps the leader's lease until `T + lease_ms / (1 + d_leader)`; every follower
//! that answered heard it at `T` or later and neither votes nor stands before `T +
//! election_min / (1 + d_follower)`, and any new leader needs one of them. Reads are therefore
//! linearizable when, for the leader and every follower,
//!
//! `lease_ms × (1 + d_follower) ≤ election_timeout_min × (1 + d_leader)`,
//!
//! that is `lease_ms ≤ election_timeout_min × (1 − ρ) / (1 + ρ)` when every drift is within
//! ±ρ (the defaults, 120 ms of 150 ms, allow ρ ≤ 1/9 ≈ 0.11), and no clock jumps (a backward
//! offset on the leader, or a forward one on a follower, breaks it just as drift does). The
//! tour `raft-lease-stale` breaks the bound with a slow leader clock and fast followers, and
//! the linearizability checker catches the stale read.

mod invariants;
mod lease;
pub mod messages;
mod node;

pub use invariants::RaftInvariants;
pub use lease::{LeaseState, ReadCounts};
pub use messages::{Command, Entry, RaftMsg, RaftTimer, Role};

use crate::protocols::kv::KvStore;
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::{Ctx, NodeRef, NodeStatus, NodeView, Protocol};
use crate::sim::time::Time;
use crate::workload::op::Request;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitRule {
    /// The paper's rule: count replicas only for entries of the leader's current term (§5.4.2).
    CurrentTerm,
    /// Unsafe on purpose: count replicas for any entry. Figure 8 shows why this loses data.
    CountReplicas,
}

/// The `params` of a Raft scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaftParams {
    /// Each election timeout is drawn uniformly from this range, in milliseconds.
    pub election_timeout_ms: [u64; 2],
    pub heartbeat_ms: u64,
    /// The most entries one AppendEntries carries.
    pub max_entries: u32,
    /// Whether a new leader appends a blank entry at once (§8), which commits earlier entries.
    pub noop_on_election: bool,
    pub commit_rule: CommitRule,
    /// Whether the leader remembers, per follower, the last entry it has sent and does not send
    /// entries again when a reply shows the follower behind while they are still on their way
    /// (etcd's "replicate" state). Off, every successful reply that leaves a follower behind
    /// sends it everything from its `nextIndex` again, which is simple and correct but sends
    /// entries twice under a steady load; a lost message is resent by the next heartbeat either
    /// way. Off by default, so the tours keep their traces; the consensus comparison turns it on.
    pub pipeline: bool,
    /// `log`: every get goes through the log (the default). `lease`: the leader answers gets
    /// from its state machine while it holds a leader lease (dissertation §6.4.1).
    pub read_mode: ReadMode,
    /// How long a majority's answer to a heartbeat round keeps the leader's lease, from the
    /// moment the round started, on the leader's own clock. At most the smallest election timeout.
    pub lease_ms: u64,
    /// Followers disregard RequestVote within the smallest election timeout of hearing from a
    /// leader (dissertation §4.2.3). Always on under `read_mode: "lease"`, which needs it.
    pub leader_stickiness: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadMode {
    /// Reads are log entries: linearizable without any assumption about clocks.
    Log,
    /// Reads are answered from the leader's state machine while its lease holds.
    Lease,
}

impl RaftParams {
    /// Whether followers disregard votes within the smallest election timeout of a leader.
    pub fn sticky(&self) -> bool {
        self.leader_stickiness || self.read_mode == ReadMode::Lease
    }
}

impl Default for RaftParams {
    fn default() -> Self {
        RaftParams {
            election_timeout_ms: [150, 300],
            heartbeat_ms: 50,
            max_entries: 32,
            noop_on_election: true,
            commit_rule: CommitRule::CurrentTerm,
            pipeline: false,
            read_mode: ReadMode::Log,
            lease_ms: 120,
            leader_stickiness: false,
        }
    }
}

/// Fuzz runs cover both settings of the no-op: without it, the Figure 8 rule is what stands
/// between the cluster and a lost committed entry, and the fuzzer should be able to see that.
/// A third of them read by lease, with a lease of 60–90 % of the smallest election timeout
/// (the fuzzer sets no clock drift, so the bound holds). Both are taken from the timeout
/// already drawn rather than from new draws, so the other seeds keep the schedules they had.
pub fn fuzz_params(rng: &mut crate::sim::rng::SimRng) -> serde_json::Value {
    let noop = rng.chance(500_000);
    let low = rng.between(100, 200);
    let pipeline = rng.chance(500_000);
    let mut params = serde_json::json!({ "noop_on_election": noop, "election_timeout_ms": [low, low * 2], "heartbeat_ms": 40, "pipeline": pipeline });
    if low.is_multiple_of(3) {
        params["read_mode"] = "lease".into();
        params["lease_ms"] = (low * (6 + low % 4) / 10).into();
    }
    params
}

/// What survives a crash: the paper's persistent state, plus a count of truncations, which tells
/// the invariant checkers that a log changed other than by appending (so they re-read it whole
/// rather than only its new entries).
#[derive(Clone, Debug)]
pub struct RaftDurable {
    pub current_term: u64,
    pub voted_for: Option<NodeId>,
    pub log: Vec<Entry>,
    pub truncations: u64,
    /// Not protocol state: the node's count of reads served, kept across a crash for the
    /// figures.
    pub reads: ReadCounts,
}

#[derive(Clone, Debug)]
pub struct Raft {
    pub(crate) id: NodeId,
    pub(crate) nodes: u16,
    pub(crate) params: RaftParams,
    // Persistent state on all servers (Figure 2).
    pub(crate) current_term: u64,
    pub(crate) voted_for: Option<NodeId>,
    /// `log[0]` is index 1.
    pub(crate) log: Vec<Entry>,
    pub(crate) truncations: u64,
    // Volatile state.
    pub(crate) role: Role,
    pub(crate) leader: Option<NodeId>,
    pub(crate) commit_index: u64,
    pub(crate) last_applied: u64,
    pub(crate) votes: Vec<NodeId>,
    // Volatile state on leaders, indexed by node.
    pub(crate) next_index: Vec<u64>,
    pub(crate) match_index: Vec<u64>,
    /// The highest index sent to each follower in this term (for `pipeline`).
    pub(crate) sent_up_to: Vec<u64>,
    pub(crate) store: KvStore,
    /// Log index → the client waiting for that entry (leader only).
    pub(crate) waiting: BTreeMap<u64, (ClientId, u64)>,
    /// The leader's heartbeat rounds and the lease their answers give it (`read_mode: lease`).
    pub(crate) lease: LeaseState,
    /// This node's clock when it last heard from a leader of its term, or when it started.
    pub(crate) heard_leader_at: Option<Time>,
    pub(crate) reads: ReadCounts,
}

impl Protocol for Raft {
    const NAME: &'static str = "raft";
    type Msg = RaftMsg;
    type Timer = RaftTimer;
    type Durable = RaftDurable;
    type Params = RaftParams;
    type Invariants = RaftInvariants;

    fn validate(p: &RaftParams) -> Result<(), String> {
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
        if p.read_mode == ReadMode::Lease && (p.lease_ms == 0 || p.lease_ms > lo) {
            return Err(format!(
                "lease_ms {} must be above 0 and at most the smallest election timeout ({lo} ms): a longer lease outlives the followers' promise not to elect another leader, even with perfect clocks",
                p.lease_ms
            ));
        }
        Ok(())
    }

    fn reconfigure(
        current: &RaftParams,
        change: &serde_json::Map<String, serde_json::Value>,
        _nodes: u16,
    ) -> Result<RaftParams, String> {
        let next: RaftParams = crate::sim::protocol::merge_params("raft", current, change)?;
        <Raft as Protocol>::validate(&next)?;
        Ok(next)
    }

    fn on_configure(&mut self, params: &RaftParams, ctx: &mut Ctx<'_, Self>) {
        let old = std::mem::replace(&mut self.params, params.clone());
        if old.read_mode != params.read_mode || old.lease_ms != params.lease_ms {
            // A lease is only as long as the terms it was granted under: start afresh. The
            // rounds restart with the next heartbeat.
            self.reset_lease();
            if self.role == Role::Leader {
                ctx.note(format!("{} starts its lease afresh: the read mode or lease length changed", self.id));
            }
        }
        if !old.sticky() && params.sticky() && self.heard_leader_at.is_none() {
            self.heard_leader_at = Some(ctx.clock());
        }
    }

    fn start(
        id: NodeId,
        nodes: u16,
        params: &RaftParams,
        durable: Option<RaftDurable>,
        ctx: &mut Ctx<'_, Self>,
    ) -> Self {
        let d = durable.unwrap_or(RaftDurable {
            current_term: 0,
            voted_for: None,
            log: Vec::new(),
            truncations: 0,
            reads: ReadCounts::default(),
        });
        let mut raft = Raft {
            id,
            nodes,
            params: params.clone(),
            current_term: d.current_term,
            voted_for: d.voted_for,
            log: d.log,
            truncations: d.truncations,
            role: Role::Follower,
            leader: None,
            commit_index: 0,
            last_applied: 0,
            votes: Vec::new(),
            next_index: vec![1; nodes as usize],
            match_index: vec![0; nodes as usize],
            sent_up_to: vec![0; nodes as usize],
            store: KvStore::default(),
            waiting: BTreeMap::new(),
            lease: LeaseState::default(),
            // It may have answered a leader's round just before it crashed: under stickiness it
            // keeps that promise for an election timeout after it starts.
            heard_leader_at: params.sticky().then(|| ctx.clock()),
            reads: d.reads,
        };
        raft.reset_election_timer(ctx);
        raft
    }

    fn on_message(&mut self, from: NodeId, msg: RaftMsg, ctx: &mut Ctx<'_, Self>) {
        self.handle(from, msg, ctx);
    }

    fn on_timer(&mut self, timer: RaftTimer, ctx: &mut Ctx<'_, Self>) {
        match timer {
            RaftTimer::ElectionTimeout => self.start_election(ctx),
            RaftTimer::Heartbeat => self.heartbeat(ctx),
        }
    }

    fn on_request(&mut self, client: ClientId, request: Request, ctx: &mut Ctx<'_, Self>) {
        self.client_request(client, request, ctx);
    }

    fn on_timeout_now(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.role == Role::Leader {
            ctx.note(format!("{} leads already: leaders do not time out", self.id));
        } else {
            self.start_election(ctx);
        }
    }

    fn durable(&self) -> RaftDurable {
        RaftDurable {
            current_term: self.current_term,
            voted_for: self.voted_for,
            log: self.log.clone(),
            truncations: self.truncations,
            reads: self.reads,
        }
    }

    fn status(&self) -> NodeStatus {
        NodeStatus { role: self.role.name(), term: self.current_term }
    }

    fn view(&self) -> NodeView {
        NodeView {
            role: self.role.name().to_string(),
            term: self.current_term,
            leader: self.leader,
            log_terms: self.log.iter().map(|e| e.term).collect(),
            commit_index: self.commit_index,
            store: self.store.data.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            ..NodeView::default()
        }
    }

    fn durable_view(d: &RaftDurable) -> NodeView {
        NodeView {
            role: "crashed".into(),
            term: d.current_term,
            leader: None,
            log_terms: d.log.iter().map(|e| e.term).collect(),
            commit_index: 0,
            ..NodeView::default()
        }
    }

    fn inspect(&self) -> serde_json::Value {
        let peers: Vec<serde_json::Value> = messages::peers(self.id, self.nodes)
            .map(|p| {
                serde_json::json!({
                    "node": p,
                    "next_index": self.next_index[p.index()],
                    "match_index": self.match_index[p.index()],
                    "sent_up_to": self.sent_up_to[p.index()],
                })
            })
            .collect();
        let log: Vec<serde_json::Value> =
            self.log.iter().enumerate().map(|(i, e)| serde_json::json!({ "index": i + 1, "entry": e })).collect();
        serde_json::json!({
            "role": self.role,
            "current_term": self.current_term,
            "voted_for": self.voted_for,
            "leader": self.leader,
            "commit_index": self.commit_index,
            "last_applied": self.last_applied,
            "log": log,
            "votes": self.votes,
            "peers": if self.role == Role::Leader { serde_json::Value::Array(peers) } else { serde_json::Value::Null },
            "store": self.store.data,
            "waiting_clients": self.waiting.len(),
            "reads": self.reads,
            "lease": if self.params.read_mode == ReadMode::Lease {
                serde_json::json!({
                    "round": self.lease.round,
                    "until_us": self.lease.until,
                    "heard_leader_at_us": self.heard_leader_at,
                })
            } else {
                serde_json::Value::Null
            },
        })
    }

    fn figures(
        nodes: &[NodeRef<'_, Self>],
        _now: Time,
        params: &RaftParams,
        _applied: &[crate::sim::action::TimedAction],
    ) -> serde_json::Value {
        lease::figures(nodes, params)
    }
}
