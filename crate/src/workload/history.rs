//! The recorded history of client operations, in the one format every protocol shares (see the
//! README): a JSON array of entries like
//! `{"client":"c1","op":"put","key":"x","value":"3","invoke_us":1200000,"return_us":1250000,"outcome":"ok"}`.

use crate::sim::ids::ClientId;
use crate::workload::op::{Write, txn_key};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Put,
    Get,
    /// A transaction writing several keys, all or none.
    Txn,
}

/// What a history entry did: a request kind, or `cas`, which the simulated clients do not issue
/// but histories imported from elsewhere (Jepsen's, say) carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryOp {
    Put,
    Get,
    /// Compare-and-set: if the register holds `expected`, write `value`.
    Cas,
    /// A transaction: every write in `writes`, all or none. Its `key` is the keys joined by `+`
    /// and its `value` is null.
    Txn,
}

impl From<OpKind> for HistoryOp {
    fn from(op: OpKind) -> Self {
        match op {
            OpKind::Put => HistoryOp::Put,
            OpKind::Get => HistoryOp::Get,
            OpKind::Txn => HistoryOp::Txn,
        }
    }
}

impl PartialEq<OpKind> for HistoryOp {
    fn eq(&self, other: &OpKind) -> bool {
        *self == HistoryOp::from(*other)
    }
}

impl PartialEq<HistoryOp> for OpKind {
    fn eq(&self, other: &HistoryOp) -> bool {
        HistoryOp::from(*self) == *other
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Applied, and the client was told so.
    Ok,
    /// Certainly not applied.
    Fail,
    /// The client gave up waiting: it may or may not have been applied. `return_us` is null.
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub client: ClientId,
    pub op: HistoryOp,
    pub key: String,
    /// For `put` and `cas` the value written; for `get` the value read (`null` if absent or not
    /// read).
    pub value: Option<String>,
    /// For `cas` only: the value compared with (`null` or left out: the key is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// For `txn` only: the keys and values it writes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writes: Vec<Write>,
    pub invoke_us: u64,
    pub return_us: Option<u64>,
    pub outcome: Outcome,
}

/// A history being recorded. Operations still in flight are kept apart from finished ones so
/// that the exported array only ever holds the three outcomes of the format.
#[derive(Clone, Debug, Default)]
pub struct History {
    entries: Vec<HistoryEntry>,
    /// Indices into `entries` of operations that have not returned yet.
    open: Vec<usize>,
    /// When the client gave up on each `unknown` operation (index, µs). The format leaves
    /// their return time null (they may still take effect); a page drawing the history still
    /// wants to know when the client stopped waiting.
    gave_up: Vec<(usize, u64)>,
}

/// The history as a page draws it live: the entries in the shared format, which of them are
/// still in flight, and when the client gave up on each `unknown` one.
#[derive(Serialize)]
pub struct LiveHistory<'a> {
    pub entries: &'a [HistoryEntry],
    pub open: &'a [usize],
    pub gave_up_us: &'a [(usize, u64)],
}

impl History {
    /// Records an invocation and returns its index for `finish`.
    pub fn invoke(&mut self, client: ClientId, op: OpKind, key: &str, value: Option<String>, invoke_us: u64) -> usize {
        let index = self.entries.len();
        self.entries.push(HistoryEntry {
            client,
            op: op.into(),
            key: key.to_string(),
            value,
            expected: None,
            writes: Vec::new(),
            invoke_us,
            return_us: None,
            outcome: Outcome::Unknown,
        });
        self.open.push(index);
        index
    }

    /// Records the invocation of a transaction.
    pub fn invoke_txn(&mut self, client: ClientId, writes: &[Write], invoke_us: u64) -> usize {
        let index = self.invoke(client, OpKind::Txn, &txn_key(writes), None, invoke_us);
        self.entries[index].writes = writes.to_vec();
        index
    }

    /// Records how an operation ended. For an `unknown` outcome the return time stays null.
    pub fn finish(&mut self, index: usize, outcome: Outcome, read: Option<String>, return_us: u64) {
        self.open.retain(|i| *i != index);
        let e = &mut self.entries[index];
        e.outcome = outcome;
        if outcome != Outcome::Unknown {
            e.return_us = Some(return_us);
        } else {
            self.gave_up.push((index, return_us));
        }
        if e.op == HistoryOp::Get {
            e.value = if outcome == Outcome::Ok { read } else { None };
        }
    }

    pub fn is_open(&self, index: usize) -> bool {
        self.open.contains(&index)
    }

    /// Every operation, in invocation order; those still in flight show as `unknown`.
    pub fn entries(&self) -> &[HistoryEntry] {
        &self.entries
    }

    pub fn count(&self, outcome: Outcome) -> usize {
        self.entries.iter().enumerate().filter(|(i, e)| e.outcome == outcome && !self.open.contains(i)).count()
    }

    pub fn in_flight(&self) -> usize {
        self.open.len()
    }

    pub fn live(&self) -> LiveHistory<'_> {
        LiveHistory { entries: &self.entries, open: &self.open, gave_up_us: &self.gave_up }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.entries).unwrap_or_else(|_| "[]".to_string())
    }
}

/// The history as key-value checks see it: every entry as it is, except that a transaction
/// stands for one `put` per key it writes, with its times and outcome. Each comes with the index
/// of the entry it stands for. Linearizability is local, so checking each key of a transaction
/// on its own is a necessary condition for the transaction to be atomic and linearizable (not a
/// sufficient one: it cannot see a reader that saw one key of a transaction but not the other).
pub fn per_key(history: &[HistoryEntry]) -> Vec<(usize, std::borrow::Cow<'_, HistoryEntry>)> {
    let mut out = Vec::with_capacity(history.len());
    for (i, e) in history.iter().enumerate() {
        if e.op != HistoryOp::Txn {
            out.push((i, std::borrow::Cow::Borrowed(e)));
            continue;
        }
        for w in &e.writes {
            out.push((
                i,
                std::borrow::Cow::Owned(HistoryEntry {
                    op: HistoryOp::Put,
                    key: w.key.clone(),
                    value: Some(w.value.clone()),
                    writes: Vec::new(),
                    ..e.clone()
                }),
            ));
        }
    }
    out
}
