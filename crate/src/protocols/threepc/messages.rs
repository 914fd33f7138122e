//! 3PC's wire messages and timers, named after Skeen's phases: `CanCommit` (the vote request),
//! `PreCommit` and its acknowledgement, `DoCommit`; and the termination protocol's state
//! request and report (Skeen & Stonebraker 1983; Bernstein, Hadzilacos & Goodman §7.5).

use crate::sim::ids::NodeId;
use crate::sim::protocol::Message;
use crate::workload::op::Write;
use serde::Serialize;

/// Where a node stands in one transaction, as its log says and a `StateReport` carries it.
/// Skeen's states: q (initial) is the moment before a vote and never lasts here (a participant
/// votes as soon as it is asked); w (wait) is `Waiting` at the coordinator and `Uncertain` at a
/// participant; p (prepared to commit) is `PreCommitted`; c and a are the outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TxnState {
    /// The coordinator sent `CanCommit` and collects the votes.
    Waiting,
    /// A participant voted yes and has no `PreCommit` yet: it may no longer decide alone, and
    /// it does not know whether anyone is committable.
    Uncertain,
    /// Every participant voted yes and this node knows it: the coordinator sent `PreCommit`, or
    /// a participant received it. Committable, not committed.
    PreCommitted,
    Committed,
    Aborted,
}

impl TxnState {
    pub fn word(self) -> &'static str {
        match self {
            TxnState::Waiting => "waiting",
            TxnState::Uncertain => "uncertain",
            TxnState::PreCommitted => "precommitted",
            TxnState::Committed => "committed",
            TxnState::Aborted => "aborted",
        }
    }

    pub fn decided(self) -> bool {
        matches!(self, TxnState::Committed | TxnState::Aborted)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ThreePcMsg {
    /// Phase 1, coordinator → participants: can you commit these writes? `nodes` lists every
    /// node of the transaction (the coordinator first), for the termination protocol.
    CanCommit { txn: String, writes: Vec<Write>, nodes: Vec<NodeId> },
    /// A participant's vote. Yes locks its keys; no aborts it at once.
    Vote { txn: String, yes: bool },
    /// Phase 2: everyone voted yes. Sent by the coordinator, or by a backup coordinator of the
    /// termination protocol to the participants still uncertain.
    PreCommit { txn: String },
    /// The acknowledgement of a `PreCommit`.
    Ack { txn: String },
    /// Phase 3: commit.
    DoCommit { txn: String },
    /// The outcome is abort.
    Abort { txn: String },
    /// Termination protocol: a node that timed out (or recovered) asks every other node of the
    /// transaction where it stands.
    StateReq { txn: String, nodes: Vec<NodeId> },
    /// The answer. `recovering`: the node crashed since it voted and has not learnt the outcome
    /// yet, so it takes no part in electing a backup coordinator.
    StateReport { txn: String, state: TxnState, recovering: bool },
}

impl Message for ThreePcMsg {
    fn label(&self) -> &'static str {
        match self {
            ThreePcMsg::CanCommit { .. } => "CanCommit",
            ThreePcMsg::Vote { yes: true, .. } => "VoteYes",
            ThreePcMsg::Vote { yes: false, .. } => "VoteNo",
            ThreePcMsg::PreCommit { .. } => "PreCommit",
            ThreePcMsg::Ack { .. } => "Ack",
            ThreePcMsg::DoCommit { .. } => "DoCommit",
            ThreePcMsg::Abort { .. } => "Abort",
            ThreePcMsg::StateReq { .. } => "StateReq",
            ThreePcMsg::StateReport { .. } => "StateReport",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum ThreePcTimer {
    /// The coordinator has waited long enough for the votes: abort.
    Votes { txn: String },
    /// The coordinator (or a backup coordinator) has waited long enough for the acknowledgements
    /// of its `PreCommit`: commit anyway, the silent ones are treated as failed.
    Acks { txn: String },
    /// A participant heard nothing more (uncertain or precommitted), or a recovering node asks
    /// again: start the termination protocol.
    Wait { txn: String },
    /// The end of a termination round: the state reports that arrived by now are all there are.
    Collect { txn: String },
}
