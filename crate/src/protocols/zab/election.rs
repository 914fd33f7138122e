//! Leader election, after ZooKeeper's FastLeaderElection: votes compared by (epoch, zxid, id),
//! a round number (logicalclock) so that stale notifications are recognised, a quorum of equal
//! votes plus a finalize wait to decide, and a way for a latecomer to join an existing ensemble.

use super::messages::{PeerState, Role, Vote, ZabMsg, ZabTimer, peers, quorum};
use super::{ZCtx, Zab};
use crate::sim::ids::NodeId;
use crate::workload::op::Reply;

/// Looking nodes resend their vote this often (ms), so a lost notification cannot stall them.
const RESEND_MS: u64 = 100;

impl Zab {
    fn own_vote(&self) -> Vote {
        Vote { leader: self.id, epoch: self.current_epoch, zxid: self.last_zxid() }
    }

    fn my_state(&self) -> PeerState {
        match self.role {
            Role::Looking => PeerState::Looking,
            Role::Follower => PeerState::Following,
            Role::Prospective | Role::Leader => PeerState::Leading,
        }
    }

    /// Leaves whatever role the node had and starts a new election round.
    pub(crate) fn go_looking(&mut self, ctx: ZCtx) {
        if let Some(lead) = self.lead.take() {
            ctx.cancel_timer(ZabTimer::Heartbeat);
            // A proposal of a waiting client may still commit under the next leader.
            for (_, (client, seq)) in lead.waiting {
                ctx.reply(client, seq, Reply::Uncertain { leader: None });
            }
        }
        ctx.cancel_timer(ZabTimer::LeaderTimeout);
        ctx.cancel_timer(ZabTimer::SyncRetry);
        self.following.early.clear();
        self.following.session = None;
        self.following.promised = None;
        self.start_election(ctx);
    }

    pub(crate) fn start_election(&mut self, ctx: ZCtx) {
        self.role = Role::Looking;
        self.leader = None;
        let e = &mut self.election;
        e.round += 1;
        e.finalizing = false;
        e.received.clear();
        e.outside.clear();
        let vote = self.own_vote();
        self.election.vote = vote;
        self.election.received.insert(self.id, vote);
        ctx.cancel_timer(ZabTimer::FinalizeWait);
        self.broadcast_vote(ctx);
        self.check_votes(ctx);
    }

    fn broadcast_vote(&mut self, ctx: ZCtx) {
        let (vote, round) = (self.election.vote, self.election.round);
        for p in peers(self.id, self.nodes) {
            ctx.send(p, ZabMsg::Vote { vote, round, state: PeerState::Looking });
        }
        ctx.set_timer(RESEND_MS * 1000, ZabTimer::ResendVote);
    }

    pub(crate) fn resend_vote(&mut self, ctx: ZCtx) {
        if self.role == Role::Looking {
            self.broadcast_vote(ctx);
        }
    }

    /// The vote this node stands behind while following or leading, sent to looking nodes.
    fn current_vote(&self) -> Vote {
        let leader = self.leader.unwrap_or(self.id);
        Vote { leader, epoch: self.term(), zxid: self.last_zxid() }
    }

    pub(crate) fn on_vote(&mut self, from: NodeId, vote: Vote, round: u64, state: PeerState, ctx: ZCtx) {
        if self.role != Role::Looking {
            // A looking node asks: tell it whom this node follows or that it leads.
            if state == PeerState::Looking {
                let msg =
                    ZabMsg::Vote { vote: self.current_vote(), round: self.election.round, state: self.my_state() };
                ctx.send(from, msg);
            }
            return;
        }
        match state {
            PeerState::Looking => {
                let e = &mut self.election;
                if round > e.round {
                    // A newer round: start over in it, from our own vote or theirs if better.
                    e.round = round;
                    e.received.clear();
                    e.finalizing = false;
                    ctx.cancel_timer(ZabTimer::FinalizeWait);
                    let own = self.own_vote();
                    self.election.vote = if vote.beats(&own) { vote } else { own };
                    self.election.received.insert(self.id, self.election.vote);
                    self.broadcast_vote(ctx);
                } else if round < e.round {
                    // A stale round: answer with ours, so the sender catches up.
                    let msg = ZabMsg::Vote { vote: e.vote, round: e.round, state: PeerState::Looking };
                    ctx.send(from, msg);
                    return;
                } else if vote.beats(&e.vote) {
                    ctx.note(format!(
                        "{} switches its vote to {} (epoch {}, zxid {}) heard from {from}: it beats {} (epoch {}, zxid {})",
                        self.id, vote.leader, vote.epoch, vote.zxid, e.vote.leader, e.vote.epoch, e.vote.zxid
                    ));
                    e.vote = vote;
                    e.finalizing = false;
                    ctx.cancel_timer(ZabTimer::FinalizeWait);
                    self.election.received.insert(self.id, vote);
                    self.broadcast_vote(ctx);
                }
                self.election.received.insert(from, vote);
                self.check_votes(ctx);
            }
            PeerState::Following | PeerState::Leading => {
                self.election.outside.insert(from, (vote.leader, state));
                self.check_outside(ctx);
            }
        }
    }

    /// A quorum of this round's votes agree with ours: wait a little for a better one.
    fn check_votes(&mut self, ctx: ZCtx) {
        let e = &mut self.election;
        let agree = e.received.values().filter(|v| **v == e.vote).count();
        if agree >= quorum(self.nodes as usize) && !e.finalizing {
            e.finalizing = true;
            ctx.set_timer(self.params.finalize_wait_ms * 1000, ZabTimer::FinalizeWait);
        }
    }

    /// ZooKeeper's check for a latecomer: a quorum of nodes outside the election name the same
    /// leader, and that leader itself says it leads.
    fn check_outside(&mut self, ctx: ZCtx) {
        let e = &self.election;
        let mut counts: std::collections::BTreeMap<NodeId, usize> = std::collections::BTreeMap::new();
        for (leader, _) in e.outside.values() {
            *counts.entry(*leader).or_default() += 1;
        }
        let need = quorum(self.nodes as usize);
        let joined = counts.into_iter().find(|(leader, n)| {
            *n >= need && *leader != self.id && e.outside.get(leader).is_some_and(|(_, s)| *s == PeerState::Leading)
        });
        if let Some((leader, n)) = joined {
            ctx.note(format!(
                "{} finds an ensemble: {n} nodes name {leader} as leader, so it follows {leader}",
                self.id
            ));
            self.become_follower(leader, ctx);
        }
    }

    pub(crate) fn finalize(&mut self, ctx: ZCtx) {
        if self.role != Role::Looking || !self.election.finalizing {
            return;
        }
        self.election.finalizing = false;
        let e = &self.election;
        let vote = e.vote;
        let agree: Vec<String> = e.received.iter().filter(|(_, v)| **v == vote).map(|(n, _)| n.to_string()).collect();
        if agree.len() < quorum(self.nodes as usize) {
            return;
        }
        let why = format!(
            "{} agree on {} (epoch {}, zxid {}), the highest (epoch, zxid, id) they know",
            agree.join(", "),
            vote.leader,
            vote.epoch,
            vote.zxid
        );
        if vote.leader == self.id {
            ctx.note(format!("{} is elected prospective leader: {why}", self.id));
            self.become_prospective(ctx);
        } else {
            ctx.note(format!("{} will follow {}: {why}", self.id, vote.leader));
            self.become_follower(vote.leader, ctx);
        }
    }
}
