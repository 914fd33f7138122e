//! ZAB's wire messages, named as ZooKeeper names its packets (FOLLOWERINFO, LEADERINFO, ACKEPOCH,
//! DIFF, TRUNC, SNAP, NEWLEADER, UPTODATE, PROPOSAL, ACK, COMMIT, PING) and its election
//! notifications, plus the zxid that orders everything.

use crate::protocols::kv::Command;
use crate::sim::ids::NodeId;
use crate::sim::protocol::Message;
use serde::{Serialize, Serializer};
use std::fmt;

/// A transaction id: the epoch of the leader that proposed it and a counter within that epoch
/// (ZooKeeper packs them into the high and low 32 bits of one long). Ordered lexicographically,
/// which is what the derived `Ord` does with the fields in this order. `Zxid::ZERO` stands for
/// "no transaction at all".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Zxid {
    pub epoch: u64,
    pub counter: u64,
}

impl Zxid {
    pub const ZERO: Zxid = Zxid { epoch: 0, counter: 0 };

    pub fn new(epoch: u64, counter: u64) -> Zxid {
        Zxid { epoch, counter }
    }
}

/// `[epoch, counter]` in JSON, as the page reads it.
impl Serialize for Zxid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        [self.epoch, self.counter].serialize(s)
    }
}

/// `⟨2,3⟩` in notes.
impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "⟨{},{}⟩", self.epoch, self.counter)
    }
}

/// One transaction of a history: what the leader proposed under which zxid. Commands are
/// Raft's (a put or a get with the client's session), so the same key-value state machine
/// serves both protocols.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Proposal {
    pub zxid: Zxid,
    pub command: Command,
}

/// A vote of the fast leader election: the node proposed as leader and the (epoch, zxid) it
/// was proposed with. Votes compare by (epoch, zxid, node id), ZooKeeper's totalOrderPredicate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Vote {
    pub leader: NodeId,
    pub epoch: u64,
    pub zxid: Zxid,
}

impl Vote {
    pub fn beats(&self, other: &Vote) -> bool {
        (self.epoch, self.zxid, self.leader) > (other.epoch, other.zxid, other.leader)
    }
}

/// What the sender of a vote is doing: still electing, or already in an ensemble.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerState {
    Looking,
    Following,
    Leading,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ZabMsg {
    /// An election notification (FastLeaderElection): the sender's current vote in its round.
    Vote {
        vote: Vote,
        round: u64,
        state: PeerState,
    },
    /// Discovery: a follower tells its prospective leader the last epoch it accepted and its
    /// last zxid.
    FollowerInfo {
        accepted_epoch: u64,
        last_zxid: Zxid,
    },
    /// Discovery: the new epoch e' the prospective leader proposes.
    LeaderInfo {
        epoch: u64,
    },
    /// Discovery: the follower accepted `epoch` and reports its current epoch and last zxid.
    /// `counts` is false when it had already accepted that epoch from someone else (ZooKeeper
    /// sends -1 then): the leader may sync it but must not count it toward its quorum.
    AckEpoch {
        epoch: u64,
        current_epoch: u64,
        last_zxid: Zxid,
        counts: bool,
    },
    /// Synchronization: the proposals after `base` (the follower's last zxid) that it misses.
    Diff {
        epoch: u64,
        base: Zxid,
        entries: Vec<Proposal>,
        committed: Option<Zxid>,
    },
    /// Synchronization: drop everything after `truncate_to`, then append `entries`.
    Trunc {
        epoch: u64,
        base: Zxid,
        truncate_to: Zxid,
        entries: Vec<Proposal>,
        committed: Option<Zxid>,
    },
    /// Synchronization: replace the whole history with the leader's.
    Snap {
        epoch: u64,
        base: Zxid,
        history: Vec<Proposal>,
        committed: Option<Zxid>,
    },
    /// Synchronization done: the follower now holds the leader's history up to `last_zxid`.
    NewLeader {
        epoch: u64,
        last_zxid: Zxid,
    },
    AckNewLeader {
        epoch: u64,
    },
    /// The leader is established and has committed its history up to `committed`.
    UpToDate {
        epoch: u64,
        committed: Option<Zxid>,
    },
    /// Broadcast. `prev` is the zxid just before this one in the leader's history, so that a
    /// follower can keep the FIFO order ZAB takes from TCP on a network that reorders.
    Proposal {
        epoch: u64,
        prev: Zxid,
        proposal: Proposal,
    },
    Ack {
        epoch: u64,
        zxid: Zxid,
    },
    Commit {
        epoch: u64,
        zxid: Zxid,
    },
    Ping {
        epoch: u64,
        committed: Option<Zxid>,
    },
    /// A follower's answer to a ping: its current epoch and last zxid.
    PingReply {
        epoch: u64,
        last_zxid: Zxid,
    },
}

impl Message for ZabMsg {
    fn label(&self) -> &'static str {
        match self {
            ZabMsg::Vote { .. } => "Vote",
            ZabMsg::FollowerInfo { .. } => "FollowerInfo",
            ZabMsg::LeaderInfo { .. } => "LeaderInfo",
            ZabMsg::AckEpoch { .. } => "AckEpoch",
            ZabMsg::Diff { .. } => "Diff",
            ZabMsg::Trunc { .. } => "Trunc",
            ZabMsg::Snap { .. } => "Snap",
            ZabMsg::NewLeader { .. } => "NewLeader",
            ZabMsg::AckNewLeader { .. } => "AckNewLeader",
            ZabMsg::UpToDate { .. } => "UpToDate",
            ZabMsg::Proposal { .. } => "Proposal",
            ZabMsg::Ack { .. } => "Ack",
            ZabMsg::Commit { .. } => "Commit",
            ZabMsg::Ping { .. } => "Ping",
            ZabMsg::PingReply { .. } => "PingReply",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum ZabTimer {
    /// A looking node sends its vote again (a lost notification must not stall the election).
    ResendVote,
    /// A quorum agrees with the vote: wait this long for a better one before deciding.
    FinalizeWait,
    /// A follower that hears nothing from its leader for this long goes back to looking.
    LeaderTimeout,
    /// The leader's beat: pings, the quorum check, retransmissions.
    Heartbeat,
    /// A follower stuck between connecting and UPTODATE tries that step again.
    SyncRetry,
}

/// Who a node thinks it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Looking,
    /// Elected, in discovery or synchronization: not yet able to commit anything.
    Prospective,
    /// Established (a quorum acknowledged NEWLEADER): broadcasting.
    Leader,
    Follower,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Looking => "looking",
            Role::Prospective => "prospective",
            Role::Leader => "leader",
            Role::Follower => "follower",
        }
    }
}

/// How far a follower got with its leader (ZooKeeper's Learner.registerWithLeader and
/// syncWithLeader, in order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// FOLLOWERINFO sent, waiting for LEADERINFO.
    Connecting,
    /// ACKEPOCH sent, waiting for DIFF, TRUNC or SNAP.
    EpochAcked,
    /// Synced, waiting for NEWLEADER.
    Synced,
    /// ACKNEWLEADER sent, waiting for UPTODATE; proposals are accepted from here.
    NewLeaderAcked,
    /// UPTODATE received: the broadcast phase.
    Broadcast,
}

/// The sync modes of ZooKeeper's LearnerHandler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum SyncMode {
    #[serde(rename = "DIFF")]
    Diff,
    #[serde(rename = "TRUNC")]
    Trunc,
    #[serde(rename = "SNAP")]
    Snap,
}

impl SyncMode {
    pub fn name(self) -> &'static str {
        match self {
            SyncMode::Diff => "DIFF",
            SyncMode::Trunc => "TRUNC",
            SyncMode::Snap => "SNAP",
        }
    }
}

pub fn quorum(nodes: usize) -> usize {
    nodes / 2 + 1
}

pub fn peers(me: NodeId, nodes: u16) -> impl Iterator<Item = NodeId> {
    (0..nodes).map(NodeId).filter(move |n| *n != me)
}
