//! The leader's side (ZooKeeper's Leader and LearnerHandler): discovery (choose e'), one sync
//! per follower (DIFF, TRUNC or SNAP) and NEWLEADER, establishment on a quorum of
//! ACKNEWLEADER, then proposals committed on a quorum of ACKs in zxid order.

use super::messages::{Proposal, Role, ZabMsg, ZabTimer, Zxid, quorum};
use super::{Lead, Peer, PeerStage, ZCtx, Zab};
use crate::protocols::kv::Command;
use crate::sim::ids::{ClientId, NodeId};
use crate::workload::op::{Op, Reply, Request};
use std::collections::BTreeMap;

/// The most proposals one retransmission carries.
const MAX_RESEND: usize = 32;

impl Zab {
    pub(crate) fn lead_mut(&mut self) -> Option<&mut Lead> {
        self.lead.as_deref_mut()
    }

    fn new_epoch(&self) -> Option<u64> {
        self.lead.as_ref().and_then(|l| l.new_epoch)
    }

    pub(crate) fn become_prospective(&mut self, ctx: ZCtx) {
        self.role = Role::Prospective;
        self.leader = Some(self.id);
        ctx.cancel_timer(ZabTimer::ResendVote);
        ctx.cancel_timer(ZabTimer::FinalizeWait);
        ctx.cancel_timer(ZabTimer::LeaderTimeout);
        ctx.cancel_timer(ZabTimer::SyncRetry);
        let mut infos = BTreeMap::new();
        infos.insert(self.id, self.accepted_epoch);
        self.lead = Some(Box::new(Lead {
            new_epoch: None,
            before: (self.current_epoch, self.last_zxid()),
            since: ctx.now(),
            infos,
            epoch_acks: BTreeMap::new(),
            synchronizing: false,
            established: false,
            peers: BTreeMap::new(),
            heard: vec![ctx.now(); self.nodes as usize],
            waiting: BTreeMap::new(),
            counter: 0,
        }));
        ctx.set_timer(self.params.heartbeat_ms * 1000, ZabTimer::Heartbeat);
        self.check_infos(ctx);
    }

    fn hear(&mut self, from: NodeId, ctx: ZCtx) {
        let now = ctx.now();
        if let Some(lead) = self.lead_mut()
            && let Some(h) = lead.heard.get_mut(from.index())
        {
            *h = now;
        }
    }

    /// Discovery: FOLLOWERINFO from a follower (a latecomer too, in any later phase).
    pub(crate) fn on_follower_info(&mut self, from: NodeId, accepted_epoch: u64, _last: Zxid, ctx: ZCtx) {
        if !matches!(self.role, Role::Prospective | Role::Leader) {
            return;
        }
        self.hear(from, ctx);
        let Some(lead) = self.lead_mut() else { return };
        // A reconnecting follower starts over; what it acknowledged before no longer counts.
        lead.peers.insert(from, Peer { stage: PeerStage::Info, acked: Zxid::ZERO, sync: None });
        match lead.new_epoch {
            Some(epoch) => ctx.send(from, ZabMsg::LeaderInfo { epoch }),
            None => {
                lead.infos.insert(from, accepted_epoch);
                self.check_infos(ctx);
            }
        }
    }

    /// With FOLLOWERINFO from a quorum, propose e' = max acceptedEpoch + 1.
    fn check_infos(&mut self, ctx: ZCtx) {
        let need = quorum(self.nodes as usize);
        let id = self.id;
        let Some(lead) = self.lead.as_deref_mut() else { return };
        if lead.new_epoch.is_some() || lead.infos.len() < need {
            return;
        }
        let epoch = lead.infos.values().copied().max().unwrap_or(0) + 1;
        lead.new_epoch = Some(epoch);
        let to: Vec<NodeId> = lead.infos.keys().copied().filter(|n| *n != id).collect();
        let names: Vec<String> = lead.infos.iter().map(|(n, e)| format!("{n}:{e}")).collect();
        self.accepted_epoch = epoch;
        ctx.note(format!(
            "{id} has FOLLOWERINFO from a quorum (accepted epochs {}) and proposes epoch {epoch}",
            names.join(", ")
        ));
        for n in to {
            ctx.send(n, ZabMsg::LeaderInfo { epoch });
        }
        let own = (self.current_epoch, self.last_zxid());
        if let Some(lead) = self.lead_mut() {
            lead.epoch_acks.insert(id, own);
        }
        self.check_epoch_acks(ctx);
    }

    pub(crate) fn on_ack_epoch(
        &mut self,
        from: NodeId,
        epoch: u64,
        current_epoch: u64,
        last_zxid: Zxid,
        counts: bool,
        ctx: ZCtx,
    ) {
        if !matches!(self.role, Role::Prospective | Role::Leader) || self.new_epoch() != Some(epoch) {
            return;
        }
        self.hear(from, ctx);
        let Some(lead) = self.lead_mut() else { return };
        let Some(peer) = lead.peers.get_mut(&from) else { return };
        if peer.stage != PeerStage::Info {
            return;
        }
        peer.stage = PeerStage::EpochAcked { last_zxid };
        if lead.synchronizing {
            self.sync_follower(from, ctx);
        } else {
            if counts {
                lead.epoch_acks.insert(from, (current_epoch, last_zxid));
            }
            self.check_epoch_acks(ctx);
        }
    }

    /// With a quorum of ACKEPOCH, take e' as the current epoch and sync the followers, unless
    /// one of them is ahead of this leader.
    fn check_epoch_acks(&mut self, ctx: ZCtx) {
        let need = quorum(self.nodes as usize);
        let Some(lead) = self.lead.as_deref() else { return };
        let Some(epoch) = lead.new_epoch else { return };
        if lead.synchronizing || lead.epoch_acks.len() < need {
            return;
        }
        let before = lead.before;
        if let Some((n, (e, z))) = lead.epoch_acks.iter().find(|(_, a)| **a > before) {
            ctx.note(format!(
                "{} gives up leading: {n} is ahead of it (epoch {e}, zxid {z} against epoch {}, zxid {})",
                self.id, before.0, before.1
            ));
            self.go_looking(ctx);
            return;
        }
        let acked: Vec<String> = lead.epoch_acks.keys().map(|n| n.to_string()).collect();
        ctx.note(format!(
            "{} has ACKEPOCH from {}: epoch {epoch} is its current epoch; it syncs its followers to its history (last zxid {})",
            self.id,
            acked.join(", "),
            self.last_zxid()
        ));
        self.current_epoch = epoch;
        let ready: Vec<NodeId> = lead
            .peers
            .iter()
            .filter(|(_, p)| matches!(p.stage, PeerStage::EpochAcked { .. }))
            .map(|(n, _)| *n)
            .collect();
        if let Some(lead) = self.lead_mut() {
            lead.synchronizing = true;
        }
        for n in ready {
            self.sync_follower(n, ctx);
        }
        self.check_new_leader_acks(ctx);
    }

    pub(crate) fn on_ack_new_leader(&mut self, from: NodeId, epoch: u64, ctx: ZCtx) {
        if !matches!(self.role, Role::Prospective | Role::Leader) || self.new_epoch() != Some(epoch) {
            return;
        }
        self.hear(from, ctx);
        let established = self.role == Role::Leader;
        let Some(peer) = self.lead_mut().and_then(|l| l.peers.get_mut(&from)) else { return };
        match peer.stage {
            PeerStage::Syncing { last } => {
                peer.stage = PeerStage::Synced;
                peer.acked = last;
                if established {
                    self.welcome(from, last, ctx);
                } else {
                    self.check_new_leader_acks(ctx);
                }
            }
            // A repeated ACKNEWLEADER: its UPTODATE was lost.
            PeerStage::Synced if established => {
                ctx.send(from, ZabMsg::UpToDate { epoch, committed: self.committed_zxid() });
            }
            _ => {}
        }
    }

    /// A follower that finished syncing with an established leader: UPTODATE, then whatever
    /// was proposed since its sync.
    fn welcome(&mut self, to: NodeId, last: Zxid, ctx: ZCtx) {
        let epoch = self.current_epoch;
        ctx.send(to, ZabMsg::UpToDate { epoch, committed: self.committed_zxid() });
        self.resend_after(to, last, ctx);
        self.try_commit(ctx);
    }

    fn resend_after(&self, to: NodeId, last: Zxid, ctx: ZCtx) {
        let Some(pos) = (if last == Zxid::ZERO { Some(0) } else { self.position(last).map(|p| p + 1) }) else {
            return;
        };
        let epoch = self.current_epoch;
        let mut prev = last;
        for p in self.history[pos..].iter().take(MAX_RESEND) {
            ctx.send(to, ZabMsg::Proposal { epoch, prev, proposal: p.clone() });
            prev = p.zxid;
        }
    }

    /// A quorum (this leader included) acknowledged NEWLEADER: commit the whole history and
    /// start broadcasting.
    fn check_new_leader_acks(&mut self, ctx: ZCtx) {
        let need = quorum(self.nodes as usize);
        let Some(lead) = self.lead.as_deref() else { return };
        if lead.established || !lead.synchronizing {
            return;
        }
        let synced: Vec<NodeId> =
            lead.peers.iter().filter(|(_, p)| p.stage == PeerStage::Synced).map(|(n, _)| *n).collect();
        if synced.len() + 1 < need {
            return;
        }
        let epoch = self.current_epoch;
        let mut names: Vec<String> = vec![self.id.to_string()];
        names.extend(synced.iter().map(|n| n.to_string()));
        ctx.note(format!(
            "{} is established as leader of epoch {epoch}: {} hold its history; it commits all of it ({})",
            self.id,
            names.join(", "),
            proposals(self.history.len())
        ));
        if let Some(lead) = self.lead_mut() {
            lead.established = true;
        }
        self.role = Role::Leader;
        let n = self.history.len();
        self.deliver_to(n, ctx);
        let committed = self.committed_zxid();
        for to in synced {
            ctx.send(to, ZabMsg::UpToDate { epoch, committed });
        }
    }

    pub(crate) fn propose_request(&mut self, client: ClientId, request: Request, ctx: ZCtx) {
        let seq = request.seq;
        if let Some((last, answer)) = self.store.sessions.get(&client)
            && *last == seq
        {
            // Already delivered: a retry after a lost reply.
            ctx.reply(client, seq, Reply::Done { value: answer.clone() });
            return;
        }
        let command = match request.op {
            Op::Put { key, value } => Command::Put { key, value, client, seq },
            Op::Get { key } => Command::Get { key, client, seq },
            Op::Txn { .. } => {
                let reason = "zab serves single-key puts and gets, not transactions".to_string();
                ctx.reply(client, seq, Reply::Rejected { reason });
                return;
            }
        };
        let epoch = self.current_epoch;
        let prev = self.last_zxid();
        let Some(lead) = self.lead_mut() else { return };
        // A retry of a proposal still in flight waits for that one.
        if let Some((z, _)) = lead.waiting.iter().find(|(_, w)| **w == (client, seq)) {
            let z = *z;
            lead.waiting.insert(z, (client, seq));
            return;
        }
        lead.counter += 1;
        let zxid = Zxid::new(epoch, lead.counter);
        lead.waiting.insert(zxid, (client, seq));
        let to: Vec<NodeId> =
            lead.peers.iter().filter(|(_, p)| p.stage == PeerStage::Synced).map(|(n, _)| *n).collect();
        let proposal = Proposal { zxid, command };
        ctx.note(format!("{} proposes {zxid}: {}", self.id, describe(&proposal.command)));
        self.history.push(proposal.clone());
        for n in to {
            ctx.send(n, ZabMsg::Proposal { epoch, prev, proposal: proposal.clone() });
        }
        self.try_commit(ctx);
    }

    pub(crate) fn on_ack(&mut self, from: NodeId, epoch: u64, zxid: Zxid, ctx: ZCtx) {
        if self.role != Role::Leader || epoch != self.current_epoch {
            return;
        }
        self.hear(from, ctx);
        if let Some(peer) = self.lead_mut().and_then(|l| l.peers.get_mut(&from))
            && peer.stage == PeerStage::Synced
        {
            peer.acked = peer.acked.max(zxid);
            self.try_commit(ctx);
        }
    }

    pub(crate) fn on_ping_reply(&mut self, from: NodeId, epoch: u64, last_zxid: Zxid, ctx: ZCtx) {
        if !matches!(self.role, Role::Prospective | Role::Leader) {
            return;
        }
        self.hear(from, ctx);
        if self.role != Role::Leader || epoch != self.current_epoch {
            return;
        }
        let Some(peer) = self.lead_mut().and_then(|l| l.peers.get_mut(&from)) else { return };
        if peer.stage != PeerStage::Synced {
            return;
        }
        // Its history is this leader's up to its last zxid: count that as acknowledged, and
        // resend what it misses (a lost or overtaken PROPOSAL).
        peer.acked = peer.acked.max(last_zxid);
        if last_zxid < self.last_zxid() {
            self.resend_after(from, last_zxid, ctx);
        }
        self.try_commit(ctx);
    }

    /// Commits proposals in zxid order, each once a quorum holds it.
    fn try_commit(&mut self, ctx: ZCtx) {
        if self.role != Role::Leader {
            return;
        }
        let need = quorum(self.nodes as usize);
        let start = self.committed;
        let mut n = self.committed;
        let Some(lead) = self.lead.as_deref() else { return };
        while let Some(p) = self.history.get(n) {
            let holders = 1 + lead.peers.values().filter(|f| f.stage == PeerStage::Synced && f.acked >= p.zxid).count();
            if holders < need {
                break;
            }
            n += 1;
        }
        if n == start {
            return;
        }
        let first = self.history[start].zxid;
        let last = self.history[n - 1].zxid;
        let range = if first == last { format!("{last}") } else { format!("{first}..{last}") };
        let acks: Vec<String> = std::iter::once(self.id.to_string())
            .chain(
                lead.peers
                    .iter()
                    .filter(|(_, f)| f.stage == PeerStage::Synced && f.acked >= last)
                    .map(|(n, _)| n.to_string()),
            )
            .collect();
        ctx.note(format!("{} commits {range}: held by {}", self.id, acks.join(", ")));
        let to: Vec<NodeId> =
            lead.peers.iter().filter(|(_, p)| p.stage == PeerStage::Synced).map(|(n, _)| *n).collect();
        self.deliver_to(n, ctx);
        let epoch = self.current_epoch;
        for t in to {
            ctx.send(t, ZabMsg::Commit { epoch, zxid: last });
        }
    }

    /// Pings, the quorum check, and giving up on a leadership that never got established.
    pub(crate) fn heartbeat(&mut self, ctx: ZCtx) {
        if !matches!(self.role, Role::Prospective | Role::Leader) {
            return;
        }
        let need = quorum(self.nodes as usize);
        let timeout = self.params.election_timeout_ms[1] * 1000;
        let now = ctx.now();
        let id = self.id;
        let Some(lead) = self.lead.as_deref() else { return };
        // Everyone counts as heard at the start (`heard` begins at the election), so a new
        // leader gets one timeout to gather its followers.
        let heard =
            lead.heard.iter().enumerate().filter(|(i, t)| *i == id.index() || now.since(**t) <= timeout).count();
        if heard < need {
            ctx.note(format!("{id} no longer hears a quorum of followers: it stops leading and looks again"));
            self.go_looking(ctx);
            return;
        }
        if !lead.established && now.since(lead.since) > 4 * timeout {
            ctx.note(format!("{id} could not establish its leadership in time: it looks again"));
            self.go_looking(ctx);
            return;
        }
        let epoch = lead.new_epoch.unwrap_or(self.current_epoch);
        let committed = if lead.established { self.committed_zxid() } else { None };
        for n in lead.peers.keys() {
            ctx.send(*n, ZabMsg::Ping { epoch, committed });
        }
        ctx.set_timer(self.params.heartbeat_ms * 1000, ZabTimer::Heartbeat);
    }
}

pub(crate) fn proposals(n: usize) -> String {
    if n == 1 { "1 proposal".into() } else { format!("{n} proposals") }
}

fn describe(c: &Command) -> String {
    match c {
        Command::Put { key, value, client, .. } => format!("{client} put {key}={value}"),
        Command::Get { key, client, .. } => format!("{client} get {key}"),
        Command::Noop => "no-op".into(),
    }
}
