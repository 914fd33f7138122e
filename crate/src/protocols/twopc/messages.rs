//! 2PC's wire messages and timers, named after the protocol's own steps: the coordinator's
//! `Prepare` (Gray & Lamport's "Prepare" message, BHG's VOTE-REQ), a participant's `Vote`, the
//! coordinator's decision (`Commit` / `Abort`) and its acknowledgement, and the cooperative
//! termination protocol's `DecisionRequest` and answer (BHG §7.4).

use crate::sim::ids::NodeId;
use crate::sim::protocol::{Decision, Message};
use crate::workload::op::Write;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum TwoPcMsg {
    /// Coordinator → participant: prepare `txn`, whose writes at this participant are
    /// `writes`, and vote. `participants` names every participant of the transaction, so that
    /// an uncertain participant knows whom it may ask later.
    Prepare { txn: String, writes: Vec<Write>, participants: Vec<NodeId> },
    /// Participant → coordinator: yes (prepared: its writes and locks are on disk) or no (it
    /// has aborted the transaction).
    Vote { txn: String, yes: bool },
    /// Coordinator → participant: the outcome, sent only after it is in the coordinator's log,
    /// and again until acknowledged.
    Outcome { txn: String, decision: Decision },
    /// Participant → coordinator: the outcome is in my log; stop resending it.
    Ack { txn: String },
    /// An uncertain participant asks the coordinator or another participant how `txn` ended.
    DecisionRequest { txn: String },
    /// The answer: the outcome, or `None` when the node does not know it either (it is itself
    /// prepared and uncertain, or the coordinator is still collecting votes).
    DecisionReply { txn: String, decision: Option<Decision> },
}

impl Message for TwoPcMsg {
    fn label(&self) -> &'static str {
        match self {
            TwoPcMsg::Prepare { .. } => "Prepare",
            TwoPcMsg::Vote { yes: true, .. } => "VoteYes",
            TwoPcMsg::Vote { yes: false, .. } => "VoteNo",
            TwoPcMsg::Outcome { decision: Decision::Commit, .. } => "Commit",
            TwoPcMsg::Outcome { decision: Decision::Abort, .. } => "Abort",
            TwoPcMsg::Ack { .. } => "Ack",
            TwoPcMsg::DecisionRequest { .. } => "DecisionRequest",
            TwoPcMsg::DecisionReply { decision: None, .. } => "DontKnow",
            TwoPcMsg::DecisionReply { .. } => "DecisionReply",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum TwoPcTimer {
    /// Coordinator: the votes of `txn` are not all in by now, so it aborts.
    VoteTimeout { txn: String },
    /// Coordinator: send the outcome again to the participants that have not acknowledged it.
    Resend { txn: String },
    /// Participant: prepared and still uncertain about `txn`; ask the coordinator and the other
    /// participants (the termination protocol), then wait again.
    DecisionTimeout { txn: String },
}
