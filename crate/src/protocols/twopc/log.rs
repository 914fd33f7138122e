//! The write-ahead log each node keeps on disk, and the tables a node rebuilds from it when it
//! starts. Every state change that matters after a crash is a log record, written before the
//! node acts on it (Gray & Lamport 2006, §4; BHG §7.3): the coordinator logs a transaction's
//! start before its first `Prepare` and its decision before sending it; a participant logs
//! `Prepared` (its writes, so its locks) before voting yes, and the decision before applying
//! it. Records are only appended, never changed, which is also what lets the invariant checker
//! read each log incrementally.

use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::Decision;
use crate::workload::op::Write;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    /// Coordinator: a client's transaction starts; the participants are about to be asked.
    /// (`client` is `None` for a transaction a participant asked about that the coordinator
    /// never began: it logs it only to abort it, presumed abort.)
    Begin { txn: String, client: Option<ClientId>, seq: u64, writes: Vec<Write>, participants: Vec<NodeId> },
    /// Participant: it voted yes. Its writes (and so the keys it locks) are on disk; from here it
    /// may not abort on its own.
    Prepared { txn: String, writes: Vec<Write>, participants: Vec<NodeId> },
    /// Participant: it voted no (a unilateral abort; a `Decision` abort follows at once).
    VotedNo { txn: String, reason: String },
    /// Either role: how the transaction ended at this node.
    Decision { txn: String, decision: Decision },
    /// Coordinator: every participant acknowledged the decision; it will not be sent again.
    End { txn: String },
}

impl Record {
    pub fn txn(&self) -> &str {
        match self {
            Record::Begin { txn, .. }
            | Record::Prepared { txn, .. }
            | Record::VotedNo { txn, .. }
            | Record::Decision { txn, .. }
            | Record::End { txn } => txn,
        }
    }
}

/// One record and when it was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Logged {
    pub at_us: u64,
    #[serde(flatten)]
    pub record: Record,
}

/// What survives a crash: the log, the decisions it holds (kept apart as well, in the shape
/// `txn::DecisionWatch` reads), and the committed values.
#[derive(Clone, Debug, Default)]
pub struct TwoPcDurable {
    pub log: Vec<Logged>,
    pub decisions: Vec<(String, Decision)>,
    pub store: BTreeMap<String, String>,
}

/// The coordinator's view of one transaction, rebuilt from its log.
#[derive(Clone, Debug, Serialize)]
pub struct Coordinated {
    pub client: Option<ClientId>,
    pub seq: u64,
    pub writes: Vec<Write>,
    pub participants: Vec<NodeId>,
    pub since_us: u64,
    pub decision: Option<Decision>,
    pub decided_us: Option<u64>,
    pub ended: bool,
}

/// A participant's view of one transaction, rebuilt from its log.
#[derive(Clone, Debug, Serialize)]
pub struct Participation {
    pub writes: Vec<Write>,
    pub participants: Vec<NodeId>,
    pub since_us: u64,
    pub vote: Option<bool>,
    /// When it voted yes: from here it is uncertain until it learns the outcome.
    pub prepared_us: Option<u64>,
    pub decision: Option<Decision>,
    pub decided_us: Option<u64>,
}

impl Participation {
    /// Prepared and not yet told the outcome: it must wait, holding its locks.
    pub fn uncertain(&self) -> bool {
        self.vote == Some(true) && self.decision.is_none()
    }
}

/// The log, indexed by transaction.
#[derive(Clone, Debug, Default)]
pub struct Tables {
    pub coordinated: BTreeMap<String, Coordinated>,
    pub participations: BTreeMap<String, Participation>,
    /// Transactions in the order this node first logged them, for the page.
    pub order: Vec<String>,
}

impl Tables {
    /// Replays a whole log: what a node does when it starts after a crash.
    pub fn replay(log: &[Logged]) -> Tables {
        let mut t = Tables::default();
        for l in log {
            t.apply(l);
        }
        t
    }

    /// Folds one record into the tables.
    pub fn apply(&mut self, l: &Logged) {
        let at = l.at_us;
        let txn = l.record.txn();
        if !self.coordinated.contains_key(txn) && !self.participations.contains_key(txn) {
            self.order.push(txn.to_string());
        }
        match &l.record {
            Record::Begin { txn, client, seq, writes, participants } => {
                self.coordinated.insert(
                    txn.clone(),
                    Coordinated {
                        client: *client,
                        seq: *seq,
                        writes: writes.clone(),
                        participants: participants.clone(),
                        since_us: at,
                        decision: None,
                        decided_us: None,
                        ended: false,
                    },
                );
            }
            Record::Prepared { txn, writes, participants } => {
                let p = self.participation(txn, at);
                p.writes = writes.clone();
                p.participants = participants.clone();
                p.vote = Some(true);
                p.prepared_us = Some(at);
            }
            Record::VotedNo { txn, .. } => self.participation(txn, at).vote = Some(false),
            Record::End { txn } => {
                if let Some(c) = self.coordinated.get_mut(txn) {
                    c.ended = true;
                }
            }
            Record::Decision { txn, decision } => {
                if let Some(c) = self.coordinated.get_mut(txn) {
                    c.decision = Some(*decision);
                    c.decided_us = Some(at);
                } else if let Some(p) = self.participations.get_mut(txn) {
                    p.decision = Some(*decision);
                    p.decided_us = Some(at);
                } else {
                    // A participant told an outcome it never voted on (the coordinator's abort
                    // after the Prepare was lost, or its own abort on a DecisionRequest).
                    let p = self.participation(txn, at);
                    p.decision = Some(*decision);
                    p.decided_us = Some(at);
                }
            }
        }
    }

    fn participation(&mut self, txn: &str, at: u64) -> &mut Participation {
        self.participations.entry(txn.to_string()).or_insert_with(|| Participation {
            writes: Vec::new(),
            participants: Vec::new(),
            since_us: at,
            vote: None,
            prepared_us: None,
            decision: None,
            decided_us: None,
        })
    }

    /// How many transactions this node has decided (the view's `commit_index`).
    pub fn decided(&self) -> u64 {
        let c = self.coordinated.values().filter(|c| c.decision.is_some()).count();
        let p = self.participations.values().filter(|p| p.decision.is_some()).count();
        (c + p) as u64
    }
}
