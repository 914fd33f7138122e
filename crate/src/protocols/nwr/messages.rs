//! NWR's wire messages and timers. Dynamo's paper names the operations get() and put(), and the
//! background mechanisms read repair, hinted handoff and anti-entropy; the messages follow.

use super::version::Version;
use crate::sim::ids::NodeId;
use crate::sim::protocol::Message;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum NwrMsg {
    /// A coordinator asks a replica for its versions of a key (a get, or the context read of a
    /// put under vector clocks). `id` names the coordination at the coordinator.
    Read {
        id: u64,
        key: String,
    },
    ReadReply {
        id: u64,
        key: String,
        versions: Vec<Version>,
    },
    /// Store these versions. `hint` names the home replica a stand-in keeps them for (sloppy
    /// quorum); `id` is `None` for read repair, which wants no acknowledgement.
    Write {
        id: Option<u64>,
        key: String,
        versions: Vec<Version>,
        hint: Option<NodeId>,
    },
    WriteAck {
        id: u64,
    },
    /// Hinted handoff: a stand-in gives a home replica the versions it kept for it.
    Handoff {
        key: String,
        versions: Vec<Version>,
    },
    HandoffAck {
        key: String,
        versions: Vec<Version>,
    },
    /// Anti-entropy: every version of the keys both nodes are home for. The receiver merges and,
    /// if it held something the sender lacked, answers with its own (`reply`: no answer back).
    Sync {
        entries: Vec<(String, Vec<Version>)>,
        reply: bool,
    },
}

impl Message for NwrMsg {
    fn label(&self) -> &'static str {
        match self {
            NwrMsg::Read { .. } => "Read",
            NwrMsg::ReadReply { .. } => "ReadReply",
            NwrMsg::Write { id: None, .. } => "ReadRepair",
            NwrMsg::Write { hint: Some(_), .. } => "HintedWrite",
            NwrMsg::Write { .. } => "Write",
            NwrMsg::WriteAck { .. } => "WriteAck",
            NwrMsg::Handoff { .. } => "Handoff",
            NwrMsg::HandoffAck { .. } => "HandoffAck",
            NwrMsg::Sync { .. } => "AntiEntropy",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum NwrTimer {
    /// A coordination that has not gathered its quorum by now gives up.
    CoordinatorTimeout { id: u64 },
    /// Sloppy mode: home replicas that have not answered by now get stand-ins.
    Sloppy { id: u64 },
    /// The beat of anti-entropy and hinted handoff.
    AntiEntropy,
}
