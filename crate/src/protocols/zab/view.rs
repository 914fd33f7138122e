//! What the page shows of a ZAB node: the inspector's JSON, in ZooKeeper's terms.

use super::messages::Role;
use super::{PeerStage, Stage, SyncInfo, Vote, Zab};
use std::collections::BTreeMap;

impl Zab {
    pub(crate) fn phase(&self) -> &'static str {
        match self.role {
            Role::Looking => "election",
            Role::Leader => "broadcast",
            Role::Prospective => match &self.lead {
                Some(l) if l.synchronizing => "synchronization",
                _ => "discovery",
            },
            Role::Follower => match self.following.stage {
                Stage::Connecting | Stage::EpochAcked => "discovery",
                Stage::Synced | Stage::NewLeaderAcked => "synchronization",
                Stage::Broadcast => "broadcast",
            },
        }
    }

    pub(crate) fn inspect_json(&self) -> serde_json::Value {
        use serde_json::json;
        let state = match self.role {
            Role::Looking => "looking",
            Role::Follower => "following",
            Role::Prospective | Role::Leader => "leading",
        };
        let history: Vec<serde_json::Value> = self
            .history
            .iter()
            .enumerate()
            .map(|(i, p)| json!({ "zxid": p.zxid, "command": p.command, "committed": i < self.committed }))
            .collect();
        let mut out = json!({
            "state": state,
            "role": self.role.name(),
            "phase": self.phase(),
            "accepted_epoch": self.accepted_epoch,
            "current_epoch": self.current_epoch,
            "last_zxid": self.last_zxid(),
            "committed_zxid": self.committed_zxid(),
            "history": history,
            "leader": self.leader,
            "store": self.store.data,
            "params": self.params,
            "truncations": self.truncations,
        });
        if self.role == Role::Looking {
            let e = &self.election;
            out["vote"] = json!({ "leader": e.vote.leader, "epoch": e.vote.epoch, "zxid": e.vote.zxid });
            out["round"] = json!(e.round);
            let votes: BTreeMap<String, &Vote> = e.received.iter().map(|(n, v)| (n.to_string(), v)).collect();
            out["votes"] = json!(votes);
        }
        if let Some(lead) = &self.lead {
            let sync: BTreeMap<String, &SyncInfo> =
                lead.peers.iter().filter_map(|(n, p)| p.sync.as_ref().map(|s| (n.to_string(), s))).collect();
            out["sync"] = json!(sync);
            out["new_epoch"] = json!(lead.new_epoch);
            out["acks"] = json!(self.pending_acks());
            let followers: BTreeMap<String, &'static str> = lead
                .peers
                .iter()
                .map(|(n, p)| {
                    let stage = match p.stage {
                        PeerStage::Info => "follower_info",
                        PeerStage::EpochAcked { .. } => "ack_epoch",
                        PeerStage::Syncing { .. } => "syncing",
                        PeerStage::Synced => "synced",
                    };
                    (n.to_string(), stage)
                })
                .collect();
            out["followers"] = json!(followers);
            out["waiting_clients"] = json!(lead.waiting.len());
        }
        if self.role == Role::Follower {
            out["stage"] = json!(self.following.stage);
        }
        if let Some(s) = &self.last_sync {
            out["last_sync"] = json!(s);
        }
        out
    }

    /// For the inspector: each pending proposal and who holds it.
    pub(crate) fn pending_acks(&self) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        let Some(lead) = self.lead.as_deref() else { return out };
        if !lead.established {
            return out;
        }
        for p in &self.history[self.committed.min(self.history.len())..] {
            let mut who = vec![self.id.to_string()];
            who.extend(
                lead.peers
                    .iter()
                    .filter(|(_, f)| f.stage == PeerStage::Synced && f.acked >= p.zxid)
                    .map(|(n, _)| n.to_string()),
            );
            out.insert(format!("[{},{}]", p.zxid.epoch, p.zxid.counter), who);
        }
        out
    }
}
