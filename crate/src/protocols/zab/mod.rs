//! # ZAB: ZooKeeper Atomic Broadcast
//!
//! ZAB (Junqueira, Reed & Serafini, "Zab: High-performance broadcast for primary-backup
//! systems", DSN 2011; Medeiros, "ZooKeeper's atomic broadcast protocol: Theory and practice",
//! 2012) is the protocol under ZooKeeper. Like Raft it keeps one ordered history of state
//! changes on a quorum, driven by one leader; unlike Raft it was built for a *primary-backup*
//! system, where the primary computes each state change (a transaction) and the backups must
//! apply them in exactly the primary's order, and a new primary must start from every change
//! an old one may have committed. It runs in four phases:
//!
//! 1. **Election** (ZooKeeper's FastLeaderElection). A `looking` node votes for itself with
//!    (currentEpoch, lastZxid, id) and sends `Vote` to everyone; a vote that compares higher
//!    (epoch, then zxid, then id) is adopted and sent on. When a quorum of the votes a node holds
//!    name the same candidate, and a short `finalize_wait_ms` brings no better vote, the
//!    candidate becomes the *prospective* leader and the others its followers. A node that
//!    arrives when an ensemble exists (it restarted) hears `Vote`s from nodes already
//!    `following` or `leading` and joins their leader once a quorum of them name it.
//! 2. **Discovery.** Each follower sends `FollowerInfo` (its acceptedEpoch, lastZxid). With a
//!    quorum, the prospective leader picks e' = max acceptedEpoch + 1 and sends `LeaderInfo(e')`;
//!    a follower persists acceptedEpoch = e' (promising to ignore older leaders) and answers
//!    `AckEpoch` with its currentEpoch and lastZxid. In the paper the leader now copies the most
//!    up-to-date history of its quorum. As in ZooKeeper, no copy is needed here: the election
//!    already compared (epoch, zxid), so the elected node's history is the most up to date of
//!    the quorum that elected it; if an `AckEpoch` of the quorum shows a follower ahead anyway
//!    (it moved on after voting), the leader gives up and goes back to looking, as ZooKeeper's
//!    Leader does ("Follower is ahead of the leader").
//! 3. **Synchronization.** With a quorum of `AckEpoch`, the leader sets currentEpoch = e' and
//!    brings each follower to its own history (ZooKeeper's LearnerHandler): `Diff` sends the
//!    proposals it misses; `Trunc` makes it drop proposals the leader does not have (a proposal
//!    only an old leader had) before appending the rest; `Snap` replaces its history whole, when
//!    it misses more than `snap_threshold` proposals or shares no prefix with the leader. Then
//!    `NewLeader(e')`: the follower sets currentEpoch = e' and answers `AckNewLeader`. With a
//!    quorum of those the leader commits its whole history (in zxid order), is established (role
//!    `leader` only from here) and sends `UpToDate`.
//! 4. **Broadcast.** A client request at the leader gets zxid (e', ++counter) and a `Proposal`
//!    to the synced followers, who append it to their durable history and `Ack`. The leader
//!    commits a proposal once a quorum holds it, in zxid order (never one before every earlier
//!    one), tells the followers with `Commit`, and they deliver in order. `Ping`s from the leader
//!    keep followers from looking for a new one; a leader that no longer hears a quorum goes
//!    back to looking.
//!
//! ZAB assumes FIFO channels (TCP): a follower receives a leader's proposals in the order sent.
//! The simulated network reorders and loses messages, so each `Proposal` carries the zxid before
//! it: a follower buffers one that arrives early, and the leader resends what a follower's
//! `PingReply` shows it misses. A follower stuck in discovery or synchronization reconnects
//! (sends `FollowerInfo` again), as a ZooKeeper learner does when its connection breaks.
//!
//! Reads are proposals too (a get is ordered in the history and answered when delivered), which
//! keeps them linearizable; a retried request is answered from the client's session and applied
//! once. Durable: acceptedEpoch, currentEpoch, the history and the last committed zxid (plus a
//! count of truncations for the invariant checkers).

mod election;
mod follower;
mod invariants;
mod leader;
pub mod messages;
mod sync;
mod view;

pub use invariants::ZabInvariants;
pub use messages::{PeerState, Proposal, Role, Stage, SyncMode, Vote, ZabMsg, ZabTimer, Zxid};

use crate::protocols::kv::KvStore;
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::{Ctx, NodeStatus, NodeView, Protocol};
use crate::sim::time::Time;
use crate::workload::op::{Reply, Request};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `params` of a ZAB scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZabParams {
    /// How long a follower waits without hearing its leader before it looks for a new one,
    /// drawn uniformly from this range (ms). A leader that hears no quorum for the top of the
    /// range goes back to looking.
    pub election_timeout_ms: [u64; 2],
    /// The leader's ping interval (ms).
    pub heartbeat_ms: u64,
    /// How long a looking node waits, once a quorum agrees with its vote, for a better vote
    /// before deciding (ZooKeeper's finalizeWait, 200 ms there).
    pub finalize_wait_ms: u64,
    /// A follower missing more proposals than this is synced with SNAP rather than DIFF.
    pub snap_threshold: u64,
}

impl Default for ZabParams {
    fn default() -> Self {
        ZabParams { election_timeout_ms: [150, 300], heartbeat_ms: 50, finalize_wait_ms: 50, snap_threshold: 50 }
    }
}

/// Fuzz runs vary the timings and how often SNAP replaces DIFF (a threshold of 0 snaps every
/// follower that misses anything, the hardest case for the invariants' re-reading).
pub fn fuzz_params(rng: &mut crate::sim::rng::SimRng) -> serde_json::Value {
    let low = rng.between(100, 200);
    let snap = [0, 2, 8, 50][rng.index(4)];
    let finalize = rng.between(10, 80);
    serde_json::json!({
        "election_timeout_ms": [low, low * 2],
        "heartbeat_ms": 40,
        "finalize_wait_ms": finalize,
        "snap_threshold": snap,
    })
}

/// What survives a crash: the paper's persistent variables, the last committed zxid, and a
/// count of truncations (a history that changed other than by appending), which tells the
/// invariant checkers to re-read it.
#[derive(Clone, Debug)]
pub struct ZabDurable {
    pub accepted_epoch: u64,
    pub current_epoch: u64,
    pub history: Vec<Proposal>,
    pub last_committed: Option<Zxid>,
    pub truncations: u64,
}

/// A looking node's election state (FastLeaderElection's logicalclock, proposal and ballot
/// boxes).
#[derive(Clone, Debug)]
pub(crate) struct Election {
    pub(crate) round: u64,
    pub(crate) vote: Vote,
    /// The votes of this round, by voter (its own included).
    pub(crate) received: BTreeMap<NodeId, Vote>,
    /// Votes of nodes that are already following or leading: whom they name.
    pub(crate) outside: BTreeMap<NodeId, (NodeId, PeerState)>,
    pub(crate) finalizing: bool,
}

/// How a follower was last synced, for the inspector.
#[derive(Clone, Debug, Serialize)]
pub struct LastSync {
    pub mode: SyncMode,
    pub from: NodeId,
    /// The proposals it dropped.
    pub truncated: Vec<Zxid>,
}

/// A follower's link to its leader.
#[derive(Clone, Debug)]
pub(crate) struct Following {
    pub(crate) stage: Stage,
    pub(crate) since: Time,
    /// The leader and epoch of this connection (from its LEADERINFO).
    pub(crate) session: Option<(NodeId, u64)>,
    /// The leader it promised that epoch to while following it: its ACKEPOCH counts. Volatile,
    /// as in ZooKeeper: after a restart an equal epoch is acknowledged without counting.
    pub(crate) promised: Option<(NodeId, u64)>,
    /// Proposals that arrived before the one they follow: zxid → (previous zxid, proposal).
    pub(crate) early: BTreeMap<Zxid, (Zxid, Proposal)>,
    /// A NEWLEADER that arrived before the sync it follows: (epoch, last zxid).
    pub(crate) early_new_leader: Option<(u64, Zxid)>,
}

/// How the leader synced one follower.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct SyncInfo {
    pub mode: SyncMode,
    pub entries: usize,
    pub truncate_to: Option<Zxid>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeerStage {
    /// FOLLOWERINFO received.
    Info,
    /// ACKEPOCH received with this current epoch and last zxid.
    EpochAcked { last_zxid: Zxid },
    /// Sync and NEWLEADER sent; the follower will hold the history up to `last`.
    Syncing { last: Zxid },
    /// ACKNEWLEADER received: proposals and commits go to it.
    Synced,
}

#[derive(Clone, Debug)]
pub(crate) struct Peer {
    pub(crate) stage: PeerStage,
    /// The highest zxid it is known to hold (its history is a prefix of the leader's up to it).
    pub(crate) acked: Zxid,
    pub(crate) sync: Option<SyncInfo>,
}

/// A prospective or established leader's state (ZooKeeper's Leader and its LearnerHandlers).
#[derive(Clone, Debug)]
pub(crate) struct Lead {
    pub(crate) new_epoch: Option<u64>,
    /// Its own (currentEpoch, lastZxid) when elected: what followers are compared against.
    pub(crate) before: (u64, Zxid),
    pub(crate) since: Time,
    /// FOLLOWERINFO: node → acceptedEpoch (its own included).
    pub(crate) infos: BTreeMap<NodeId, u64>,
    /// Counting ACKEPOCHs: node → (currentEpoch, lastZxid) (its own included).
    pub(crate) epoch_acks: BTreeMap<NodeId, (u64, Zxid)>,
    pub(crate) synchronizing: bool,
    pub(crate) established: bool,
    pub(crate) peers: BTreeMap<NodeId, Peer>,
    /// When each node was last heard from.
    pub(crate) heard: Vec<Time>,
    /// Zxid → the client waiting for it.
    pub(crate) waiting: BTreeMap<Zxid, (ClientId, u64)>,
    pub(crate) counter: u64,
}

#[derive(Clone, Debug)]
pub struct Zab {
    pub(crate) id: NodeId,
    pub(crate) nodes: u16,
    pub(crate) params: ZabParams,
    // Durable.
    pub(crate) accepted_epoch: u64,
    pub(crate) current_epoch: u64,
    pub(crate) history: Vec<Proposal>,
    pub(crate) last_committed: Option<Zxid>,
    pub(crate) truncations: u64,
    // Volatile.
    pub(crate) role: Role,
    pub(crate) leader: Option<NodeId>,
    /// How many history entries (a prefix) are committed and delivered to the store.
    pub(crate) committed: usize,
    pub(crate) store: KvStore,
    pub(crate) election: Election,
    pub(crate) following: Following,
    pub(crate) last_sync: Option<LastSync>,
    pub(crate) lead: Option<Box<Lead>>,
}

type ZCtx<'a, 'b> = &'a mut Ctx<'b, Zab>;

impl Zab {
    pub(crate) fn last_zxid(&self) -> Zxid {
        self.history.last().map_or(Zxid::ZERO, |p| p.zxid)
    }

    /// How many entries of the history are at or before `z`.
    pub(crate) fn count_through(&self, z: Zxid) -> usize {
        self.history.partition_point(|p| p.zxid <= z)
    }

    pub(crate) fn position(&self, z: Zxid) -> Option<usize> {
        self.history.binary_search_by(|p| p.zxid.cmp(&z)).ok()
    }

    pub(crate) fn committed_zxid(&self) -> Option<Zxid> {
        self.committed.checked_sub(1).and_then(|i| self.history.get(i)).map(|p| p.zxid)
    }

    /// Delivers the history up to `n` entries, in order, answering waiting clients.
    pub(crate) fn deliver_to(&mut self, n: usize, ctx: ZCtx) {
        let n = n.min(self.history.len());
        while self.committed < n {
            let p = &self.history[self.committed];
            let answer = self.store.apply(&p.command);
            if let Some(lead) = self.lead.as_mut()
                && let Some((client, seq)) = lead.waiting.remove(&p.zxid)
                && let Some((c, s, value)) = answer
                && (c, s) == (client, seq)
            {
                ctx.reply(client, seq, Reply::Done { value });
            }
            self.committed += 1;
        }
        self.last_committed = self.committed_zxid().max(self.last_committed);
    }

    /// Rebuilds the store from the committed prefix (after a restart or a snapshot).
    pub(crate) fn rebuild_store(&mut self) {
        self.store = KvStore::default();
        self.committed = self.last_committed.map_or(0, |z| self.count_through(z));
        for p in &self.history[..self.committed] {
            self.store.apply(&p.command);
        }
    }

    /// The epoch shown as the node's term: a leader's new epoch once chosen.
    pub(crate) fn term(&self) -> u64 {
        match (&self.lead, self.role) {
            (Some(lead), Role::Prospective | Role::Leader) => lead.new_epoch.unwrap_or(self.current_epoch),
            _ => self.current_epoch,
        }
    }

    pub(crate) fn client_request(&mut self, client: ClientId, request: Request, ctx: ZCtx) {
        if self.role != Role::Leader {
            let leader = match self.role {
                Role::Follower if self.following.stage == Stage::Broadcast => self.leader,
                _ => None,
            };
            ctx.reply(client, request.seq, Reply::Redirect { leader });
            return;
        }
        self.propose_request(client, request, ctx);
    }
}

impl Protocol for Zab {
    const NAME: &'static str = "zab";
    type Msg = ZabMsg;
    type Timer = ZabTimer;
    type Durable = ZabDurable;
    type Params = ZabParams;
    type Invariants = ZabInvariants;

    fn validate(p: &ZabParams) -> Result<(), String> {
        let [lo, hi] = p.election_timeout_ms;
        if lo == 0 || lo > hi || hi > 3_600_000 {
            return Err(format!("election_timeout_ms [{lo}, {hi}] must be a range with 0 < min <= max <= 3600000"));
        }
        if p.heartbeat_ms == 0 || p.heartbeat_ms >= lo {
            return Err(format!(
                "heartbeat_ms {} must be above 0 and below the smallest election timeout ({lo} ms), or followers give up on a healthy leader",
                p.heartbeat_ms
            ));
        }
        if p.finalize_wait_ms == 0 || p.finalize_wait_ms > 3_600_000 {
            return Err(format!("finalize_wait_ms {} must be within 1..=3600000", p.finalize_wait_ms));
        }
        Ok(())
    }

    fn start(id: NodeId, nodes: u16, params: &ZabParams, durable: Option<ZabDurable>, ctx: &mut Ctx<'_, Self>) -> Self {
        let d = durable.unwrap_or(ZabDurable {
            accepted_epoch: 0,
            current_epoch: 0,
            history: Vec::new(),
            last_committed: None,
            truncations: 0,
        });
        let vote = Vote { leader: id, epoch: d.current_epoch, zxid: Zxid::ZERO };
        let mut zab = Zab {
            id,
            nodes,
            params: params.clone(),
            accepted_epoch: d.accepted_epoch,
            current_epoch: d.current_epoch,
            history: d.history,
            last_committed: d.last_committed,
            truncations: d.truncations,
            role: Role::Looking,
            leader: None,
            committed: 0,
            store: KvStore::default(),
            election: Election {
                round: 0,
                vote,
                received: BTreeMap::new(),
                outside: BTreeMap::new(),
                finalizing: false,
            },
            following: Following {
                stage: Stage::Connecting,
                since: ctx.now(),
                session: None,
                promised: None,
                early: BTreeMap::new(),
                early_new_leader: None,
            },
            last_sync: None,
            lead: None,
        };
        zab.rebuild_store();
        zab.start_election(ctx);
        zab
    }

    fn on_message(&mut self, from: NodeId, msg: ZabMsg, ctx: &mut Ctx<'_, Self>) {
        match msg {
            ZabMsg::Vote { vote, round, state } => self.on_vote(from, vote, round, state, ctx),
            ZabMsg::FollowerInfo { accepted_epoch, last_zxid } => {
                self.on_follower_info(from, accepted_epoch, last_zxid, ctx)
            }
            ZabMsg::AckEpoch { epoch, current_epoch, last_zxid, counts } => {
                self.on_ack_epoch(from, epoch, current_epoch, last_zxid, counts, ctx)
            }
            ZabMsg::AckNewLeader { epoch } => self.on_ack_new_leader(from, epoch, ctx),
            ZabMsg::Ack { epoch, zxid } => self.on_ack(from, epoch, zxid, ctx),
            ZabMsg::PingReply { epoch, last_zxid } => self.on_ping_reply(from, epoch, last_zxid, ctx),
            other => self.on_leader_message(from, other, ctx),
        }
    }

    fn on_timer(&mut self, timer: ZabTimer, ctx: &mut Ctx<'_, Self>) {
        match timer {
            ZabTimer::ResendVote => self.resend_vote(ctx),
            ZabTimer::FinalizeWait => self.finalize(ctx),
            ZabTimer::LeaderTimeout => {
                if self.role == Role::Follower {
                    let leader = self.leader.map_or("its leader".to_string(), |l| l.to_string());
                    ctx.note(format!("{} hears nothing from {leader}: it goes back to looking", self.id));
                    self.go_looking(ctx);
                }
            }
            ZabTimer::Heartbeat => self.heartbeat(ctx),
            ZabTimer::SyncRetry => self.sync_retry(ctx),
        }
    }

    fn on_request(&mut self, client: ClientId, request: Request, ctx: &mut Ctx<'_, Self>) {
        self.client_request(client, request, ctx);
    }

    fn on_timeout_now(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self.role {
            Role::Follower => {
                ctx.note(format!("{} stops following and looks for a leader", self.id));
                self.go_looking(ctx);
            }
            Role::Looking => self.start_election(ctx),
            Role::Prospective | Role::Leader => {
                ctx.note(format!("{} leads already: a leader only steps down when it loses its quorum", self.id))
            }
        }
    }

    fn durable(&self) -> ZabDurable {
        ZabDurable {
            accepted_epoch: self.accepted_epoch,
            current_epoch: self.current_epoch,
            history: self.history.clone(),
            last_committed: self.last_committed,
            truncations: self.truncations,
        }
    }

    fn status(&self) -> NodeStatus {
        NodeStatus { role: self.role.name(), term: self.term() }
    }

    fn view(&self) -> NodeView {
        NodeView {
            role: self.role.name().to_string(),
            term: self.term(),
            leader: self.leader,
            log_terms: self.history.iter().map(|p| p.zxid.epoch).collect(),
            commit_index: self.committed as u64,
            store: self.store.data.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            ..NodeView::default()
        }
    }

    fn durable_view(d: &ZabDurable) -> NodeView {
        NodeView {
            role: "crashed".into(),
            term: d.current_epoch,
            leader: None,
            log_terms: d.history.iter().map(|p| p.zxid.epoch).collect(),
            commit_index: d.last_committed.map_or(0, |z| d.history.partition_point(|p| p.zxid <= z)) as u64,
            ..NodeView::default()
        }
    }

    fn inspect(&self) -> serde_json::Value {
        self.inspect_json()
    }
}

#[cfg(test)]
mod invariant_tests;
