//! The follower's side of discovery, synchronization and broadcast (ZooKeeper's Learner and
//! Follower): register with the prospective leader, accept its epoch, take its history, then
//! log and acknowledge its proposals and deliver what it commits, in order.

use super::leader::proposals;
use super::messages::{Proposal, Role, Stage, SyncMode, ZabMsg, ZabTimer, Zxid};
use super::{LastSync, ZCtx, Zab};
use crate::sim::ids::NodeId;

/// The most early proposals a follower buffers while it waits for the one before them.
const MAX_EARLY: usize = 256;

impl Zab {
    fn reset_leader_timer(&mut self, ctx: ZCtx) {
        let [lo, hi] = self.params.election_timeout_ms;
        let after = ctx.rng().between(lo * 1000, hi * 1000);
        ctx.set_timer(after, ZabTimer::LeaderTimeout);
    }

    fn set_stage(&mut self, stage: Stage, ctx: ZCtx) {
        self.following.stage = stage;
        self.following.since = ctx.now();
    }

    fn retry_us(&self) -> u64 {
        self.params.heartbeat_ms * 3 * 1000
    }

    pub(crate) fn become_follower(&mut self, leader: NodeId, ctx: ZCtx) {
        self.role = Role::Follower;
        self.leader = Some(leader);
        ctx.cancel_timer(ZabTimer::ResendVote);
        ctx.cancel_timer(ZabTimer::FinalizeWait);
        self.following.early.clear();
        self.following.session = None;
        self.following.promised = None;
        self.reset_leader_timer(ctx);
        self.connect(ctx);
        ctx.set_timer(self.retry_us(), ZabTimer::SyncRetry);
    }

    /// Discovery, step 1: FOLLOWERINFO to the leader.
    fn connect(&mut self, ctx: ZCtx) {
        self.set_stage(Stage::Connecting, ctx);
        self.following.early.clear();
        self.following.early_new_leader = None;
        if let Some(leader) = self.leader {
            ctx.send(leader, ZabMsg::FollowerInfo { accepted_epoch: self.accepted_epoch, last_zxid: self.last_zxid() });
        }
    }

    /// A follower stuck before the broadcast phase tries again: a lost message must not leave
    /// it half-connected (a ZooKeeper learner whose connection breaks reconnects the same way).
    pub(crate) fn sync_retry(&mut self, ctx: ZCtx) {
        if self.role != Role::Follower || self.following.stage == Stage::Broadcast {
            return;
        }
        if ctx.now().since(self.following.since) >= self.retry_us() {
            match (self.following.stage, self.leader) {
                (Stage::NewLeaderAcked, Some(leader)) => {
                    ctx.send(leader, ZabMsg::AckNewLeader { epoch: self.current_epoch })
                }
                _ => self.connect(ctx),
            }
        }
        ctx.set_timer(self.retry_us(), ZabTimer::SyncRetry);
    }

    /// Everything a leader sends to its followers.
    pub(crate) fn on_leader_message(&mut self, from: NodeId, msg: ZabMsg, ctx: ZCtx) {
        if self.role != Role::Follower || self.leader != Some(from) {
            return;
        }
        self.reset_leader_timer(ctx);
        let stage = self.following.stage;
        let session = self.following.session.map(|(_, e)| e);
        // A sync applies only in the connection it was computed for, to the history it was
        // computed from; a late or duplicated one is dropped (the follower retries if stuck).
        let last = self.last_zxid();
        let syncable = |epoch: u64, base: Zxid| stage == Stage::EpochAcked && session == Some(epoch) && base == last;
        // Broadcast messages count from ACKNEWLEADER on, in the epoch the follower took.
        let broadcasting = |epoch: u64| stage >= Stage::NewLeaderAcked && epoch == self.current_epoch;
        match msg {
            ZabMsg::LeaderInfo { epoch } => self.on_leader_info(from, epoch, ctx),
            ZabMsg::Diff { epoch, base, entries, committed } if syncable(epoch, base) => {
                self.apply_sync(from, SyncMode::Diff, base, entries, committed, ctx);
            }
            ZabMsg::Trunc { epoch, base, truncate_to, entries, committed } if syncable(epoch, base) => {
                let keep = self.count_through(truncate_to);
                let keep_through = self.history[..keep].last().map_or(Zxid::ZERO, |p| p.zxid);
                self.apply_sync(from, SyncMode::Trunc, keep_through, entries, committed, ctx);
            }
            ZabMsg::Snap { epoch, base, history, committed } if syncable(epoch, base) => {
                self.apply_sync(from, SyncMode::Snap, Zxid::ZERO, history, committed, ctx);
            }
            ZabMsg::NewLeader { epoch, last_zxid } if stage == Stage::EpochAcked && session == Some(epoch) => {
                // It overtook the sync it follows (ZooKeeper's TCP would not let it).
                self.following.early_new_leader = Some((epoch, last_zxid));
            }
            ZabMsg::NewLeader { epoch, last_zxid } => self.on_new_leader(from, epoch, last_zxid, ctx),
            ZabMsg::UpToDate { epoch, committed } if broadcasting(epoch) => {
                if stage == Stage::NewLeaderAcked {
                    self.set_stage(Stage::Broadcast, ctx);
                }
                self.commit_through(committed, ctx);
            }
            ZabMsg::Proposal { epoch, prev, proposal } if broadcasting(epoch) => {
                self.on_proposal(from, prev, proposal, ctx);
            }
            ZabMsg::Commit { epoch, zxid } if broadcasting(epoch) => self.commit_through(Some(zxid), ctx),
            ZabMsg::Ping { epoch, committed } => {
                if broadcasting(epoch) {
                    self.commit_through(committed, ctx);
                }
                ctx.send(from, ZabMsg::PingReply { epoch: self.current_epoch, last_zxid: self.last_zxid() });
            }
            _ => {}
        }
    }

    fn on_new_leader(&mut self, from: NodeId, epoch: u64, last_zxid: Zxid, ctx: ZCtx) {
        let stage = self.following.stage;
        let session = self.following.session.map(|(_, e)| e);
        let fresh = stage == Stage::Synced && session == Some(epoch) && last_zxid == self.last_zxid();
        let repeat = stage >= Stage::NewLeaderAcked && epoch == self.current_epoch;
        if fresh {
            // The durable switch to the new epoch: from now on this node's history is the
            // leader's, and its vote carries e'.
            self.current_epoch = epoch;
            self.set_stage(Stage::NewLeaderAcked, ctx);
            ctx.note(format!("{} takes epoch {epoch} as current and acknowledges NEWLEADER to {from}", self.id));
        }
        if fresh || repeat {
            ctx.send(from, ZabMsg::AckNewLeader { epoch });
        }
    }

    /// Discovery, step 2: accept the new epoch (durably) unless an equal or later one was
    /// promised already, and report the current epoch and last zxid.
    fn on_leader_info(&mut self, from: NodeId, epoch: u64, ctx: ZCtx) {
        let stage = self.following.stage;
        if stage > Stage::EpochAcked {
            return;
        }
        let counts = if epoch > self.accepted_epoch {
            self.accepted_epoch = epoch;
            self.following.promised = Some((from, epoch));
            ctx.note(format!("{} accepts epoch {epoch} from {from}", self.id));
            true
        } else if epoch == self.accepted_epoch {
            // Counted only if it was this leader we promised it to while following it (a
            // repeat after a lost message); otherwise ZooKeeper's -1: sync me, do not count me.
            self.following.promised == Some((from, epoch))
        } else {
            ctx.note(format!(
                "{} refuses epoch {epoch} from {from}: it already accepted epoch {}; it looks for a leader again",
                self.id, self.accepted_epoch
            ));
            self.go_looking(ctx);
            return;
        };
        self.following.session = Some((from, epoch));
        self.set_stage(Stage::EpochAcked, ctx);
        let msg = ZabMsg::AckEpoch { epoch, current_epoch: self.current_epoch, last_zxid: self.last_zxid(), counts };
        ctx.send(from, msg);
    }

    /// Synchronization: keep the history up to `keep_through`, append `entries`, commit what the
    /// leader had committed.
    fn apply_sync(
        &mut self,
        from: NodeId,
        mode: SyncMode,
        keep_through: Zxid,
        entries: Vec<Proposal>,
        committed: Option<Zxid>,
        ctx: ZCtx,
    ) {
        let keep = if mode == SyncMode::Snap { 0 } else { self.count_through(keep_through) };
        let dropped: Vec<Zxid> = match mode {
            // A snapshot replaces the history; what it dropped is what the leader lacks.
            SyncMode::Snap => self
                .history
                .iter()
                .map(|p| p.zxid)
                .filter(|z| entries.binary_search_by(|p| p.zxid.cmp(z)).is_err())
                .collect(),
            _ => self.history[keep..].iter().map(|p| p.zxid).collect(),
        };
        let old_committed = self.last_committed;
        if keep < self.history.len() || mode == SyncMode::Snap {
            self.history.truncate(keep);
            self.truncations += 1;
        }
        let count = entries.len();
        self.history.extend(entries);
        // Whatever this node had committed is in the leader's history too (ZAB's guarantee), so
        // it stays committed; the leader may have committed more.
        let kept_committed = old_committed.filter(|z| self.position(*z).is_some());
        self.last_committed = kept_committed.max(committed.filter(|z| self.position(*z).is_some()));
        self.rebuild_store();
        self.set_stage(Stage::Synced, ctx);
        let what = match mode {
            SyncMode::Diff => format!("{} it missed", proposals(count)),
            SyncMode::Trunc => format!("truncated to {keep_through}, then {}", proposals(count)),
            SyncMode::Snap => format!("a snapshot of {}", proposals(count)),
        };
        let dropped_text = if dropped.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = dropped.iter().map(|z| z.to_string()).collect();
            format!("; it drops {}, which the leader never committed", list.join(", "))
        };
        ctx.note(format!("{} syncs with {from} by {}: {what}{dropped_text}", self.id, mode.name()));
        self.last_sync = Some(LastSync { mode, from, truncated: dropped });
        if let Some((epoch, last_zxid)) = self.following.early_new_leader.take() {
            self.on_new_leader(from, epoch, last_zxid, ctx);
        }
    }

    /// Delivers everything up to `zxid` that this node holds; its history is the leader's up to
    /// its last zxid, so all of it is committed.
    fn commit_through(&mut self, zxid: Option<Zxid>, ctx: ZCtx) {
        if let Some(z) = zxid {
            let n = self.count_through(z);
            if n > self.committed {
                self.deliver_to(n, ctx);
            }
        }
    }

    /// Broadcast: log the proposal if it is the next one, then acknowledge it.
    fn on_proposal(&mut self, from: NodeId, prev: Zxid, proposal: Proposal, ctx: ZCtx) {
        let zxid = proposal.zxid;
        let epoch = self.current_epoch;
        if zxid <= self.last_zxid() {
            if self.position(zxid).is_some() {
                ctx.send(from, ZabMsg::Ack { epoch, zxid });
            }
            return;
        }
        if prev != self.last_zxid() {
            if self.following.early.len() < MAX_EARLY {
                self.following.early.insert(zxid, (prev, proposal));
            }
            return;
        }
        self.history.push(proposal);
        ctx.send(from, ZabMsg::Ack { epoch, zxid });
        // Proposals that arrived early may follow now.
        while let Some((&z, (p, _))) = self.following.early.first_key_value() {
            let last = self.last_zxid();
            if z <= last {
                self.following.early.pop_first();
                continue;
            }
            if *p != last {
                break;
            }
            if let Some((_, (_, next))) = self.following.early.pop_first() {
                self.history.push(next);
                ctx.send(from, ZabMsg::Ack { epoch, zxid: z });
            }
        }
    }
}
