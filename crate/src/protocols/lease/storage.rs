//! The storage (n2): one register the holders write to. With fencing on it refuses a write
//! whose token is lower than the highest it knows (from a `Fence` or an earlier write);
//! with fencing off it accepts every write. Everything is on disk.

use super::messages::LeaseMsg;
use super::{KEEP, Lease, LeaseParams};
use crate::sim::ids::NodeId;
use crate::sim::protocol::Ctx;
use serde::Serialize;

/// One write that reached the storage, in true time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WriteRecord {
    pub holder: NodeId,
    pub token: u64,
    pub value: String,
    pub at_us: u64,
    pub accepted: bool,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct StorageDisk {
    pub value: Option<String>,
    /// The highest token it knows, from the grantor's `Fence` or a write.
    pub highest: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub last_accepted: Option<WriteRecord>,
    /// The latest writes, accepted or not.
    pub recent: Vec<WriteRecord>,
}

#[derive(Clone, Debug, Default)]
pub struct Storage {
    pub disk: StorageDisk,
}

impl Storage {
    pub(crate) fn on_message(&mut self, from: NodeId, msg: LeaseMsg, p: &LeaseParams, ctx: &mut Ctx<'_, Lease>) {
        match msg {
            LeaseMsg::Fence { token } => {
                self.disk.highest = self.disk.highest.max(token);
                ctx.send(from, LeaseMsg::FenceAck { token });
            }
            LeaseMsg::Write { token, value } => {
                let accepted = !p.fencing || token >= self.disk.highest;
                let record = WriteRecord { holder: from, token, value: value.clone(), at_us: ctx.now().0, accepted };
                if accepted {
                    let previous = self.disk.last_accepted.as_ref().map(|r| (r.holder, r.token));
                    if previous != Some((from, token)) {
                        ctx.note(format!("{} accepts {value} from {from} under token {token}", ctx.id()));
                    }
                    self.disk.highest = self.disk.highest.max(token);
                    self.disk.accepted += 1;
                    self.disk.value = Some(value);
                    self.disk.last_accepted = Some(record.clone());
                } else {
                    self.disk.rejected += 1;
                    ctx.note(format!(
                        "{} rejects {value} from {from}: token {token} is below {}, the highest it knows",
                        ctx.id(),
                        self.disk.highest
                    ));
                }
                self.disk.recent.push(record);
                if self.disk.recent.len() > KEEP {
                    self.disk.recent.remove(0);
                }
                ctx.send(from, LeaseMsg::WriteAck { token, accepted, highest: self.disk.highest });
            }
            _ => {}
        }
    }

    /// The register and the highest token, as the page's store.
    pub fn store(&self) -> Vec<(String, String)> {
        let mut out = vec![("highest_token".to_string(), self.disk.highest.to_string())];
        if let Some(v) = &self.disk.value {
            out.insert(0, ("data".to_string(), v.clone()));
        }
        out
    }

    pub(crate) fn inspect(&self) -> serde_json::Value {
        serde_json::json!({
            "value": self.disk.value,
            "highest_token": self.disk.highest,
            "writes_accepted": self.disk.accepted,
            "writes_rejected": self.disk.rejected,
            "recent_writes": self.disk.recent.iter().rev().take(20).collect::<Vec<_>>(),
        })
    }
}
