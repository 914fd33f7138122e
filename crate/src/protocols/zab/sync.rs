//! Synchronization (ZooKeeper's LearnerHandler.syncFollower): how the leader brings one
//! follower to its history before NEWLEADER.

use super::leader::proposals;
use super::messages::{SyncMode, ZabMsg, Zxid};
use super::{PeerStage, SyncInfo, ZCtx, Zab};
use crate::sim::ids::NodeId;

impl Zab {
    /// Chooses DIFF, TRUNC or SNAP for a follower whose last zxid is `last`, as ZooKeeper's
    /// LearnerHandler.syncFollower does: DIFF if `last` is in this history, TRUNC to the last
    /// zxid before it otherwise, SNAP if too much is missing or nothing is shared.
    pub(crate) fn choose_sync(&self, last: Zxid) -> (SyncInfo, ZabMsg) {
        let epoch = self.current_epoch;
        let committed = self.committed_zxid().max(self.last_committed);
        let snap = |zab: &Zab| {
            let info = SyncInfo { mode: SyncMode::Snap, entries: zab.history.len(), truncate_to: None };
            (info, ZabMsg::Snap { epoch, base: last, history: zab.history.clone(), committed })
        };
        if last == Zxid::ZERO || self.position(last).is_some() {
            let from = if last == Zxid::ZERO { 0 } else { self.count_through(last) };
            let entries = self.history[from..].to_vec();
            if entries.len() as u64 > self.params.snap_threshold {
                return snap(self);
            }
            let info = SyncInfo { mode: SyncMode::Diff, entries: entries.len(), truncate_to: None };
            return (info, ZabMsg::Diff { epoch, base: last, entries, committed });
        }
        let keep = self.history.partition_point(|p| p.zxid < last);
        if keep == 0 {
            return snap(self);
        }
        let truncate_to = self.history[keep - 1].zxid;
        let entries = self.history[keep..].to_vec();
        if entries.len() as u64 > self.params.snap_threshold {
            return snap(self);
        }
        let info = SyncInfo { mode: SyncMode::Trunc, entries: entries.len(), truncate_to: Some(truncate_to) };
        (info, ZabMsg::Trunc { epoch, base: last, truncate_to, entries, committed })
    }

    pub(crate) fn sync_follower(&mut self, to: NodeId, ctx: ZCtx) {
        let Some(PeerStage::EpochAcked { last_zxid }) =
            self.lead.as_ref().and_then(|l| l.peers.get(&to)).map(|p| p.stage)
        else {
            return;
        };
        let (info, msg) = self.choose_sync(last_zxid);
        let last = self.last_zxid();
        let why = match info.mode {
            SyncMode::Diff => format!("{} after {last_zxid}", proposals(info.entries)),
            SyncMode::Trunc => format!(
                "to {}: its last zxid {last_zxid} is not in {}'s history (a proposal that was never committed), then {}",
                info.truncate_to.unwrap_or(Zxid::ZERO),
                self.id,
                proposals(info.entries)
            ),
            SyncMode::Snap => format!("its whole history, {} (it had {last_zxid})", proposals(info.entries)),
        };
        ctx.note(format!("{} syncs {to} with {} {why}", self.id, info.mode.name()));
        ctx.send(to, msg);
        ctx.send(to, ZabMsg::NewLeader { epoch: self.current_epoch, last_zxid: last });
        if let Some(peer) = self.lead_mut().and_then(|l| l.peers.get_mut(&to)) {
            peer.stage = PeerStage::Syncing { last };
            peer.sync = Some(info);
        }
    }
}
