//! Transactions as a whole: what each node decided and how long each was blocked, gathered from
//! the nodes' `TxnRecord`s (a crashed node's come from what it logged) and the clients' history.
//! `caplab run --json` prints this as `transactions`, and a scenario's `transaction`
//! expectation judges it.

use crate::sim::dynamic::Simulation;
use crate::sim::ids::ClientId;
use crate::sim::protocol::Decision;
use crate::workload::history::{HistoryOp, Outcome};
use serde::Serialize;
use std::collections::BTreeMap;

/// One node's part in a transaction.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodePart {
    pub role: &'static str,
    pub state: &'static str,
    /// `null` while the node has not decided.
    pub decision: Option<Decision>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vote: Option<bool>,
    /// How long it was uncertain (voted yes) and undecided, up to now if it still is.
    pub blocked_ms: f64,
    /// Whether it is blocked now.
    pub blocked: bool,
    /// Keys it holds locked for the transaction now.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locks: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TxnSummary {
    pub txn: String,
    /// The keys, joined by `+`, when the client's request is in the history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<String>,
    /// What the client was told: `ok` (committed), `fail` (aborted), `unknown` (it gave up or
    /// is still waiting; `in_flight` says which).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    pub in_flight: bool,
    /// Every node that took part, by id.
    pub nodes: BTreeMap<String, NodePart>,
    /// The longest block among the participants, in ms.
    pub blocked_ms: f64,
    /// No node decided commit while another decided abort.
    pub atomic: bool,
    /// Every node that took part has decided.
    pub decided: bool,
}

/// `c1.3` → (c1, 3).
pub fn parse_txn_id(txn: &str) -> Option<(ClientId, u64)> {
    let (c, seq) = txn.split_once('.')?;
    let client: ClientId = serde_json::from_value(serde_json::Value::String(c.to_string())).ok()?;
    Some((client, seq.parse().ok()?))
}

/// Every transaction any node knows of, in order of first appearance.
pub fn summarize(sim: &dyn Simulation) -> Vec<TxnSummary> {
    let now = sim.now().0;
    let mut order: Vec<String> = Vec::new();
    let mut by_txn: BTreeMap<String, BTreeMap<String, NodePart>> = BTreeMap::new();
    for v in sim.node_views() {
        for r in &v.view.txns {
            if !by_txn.contains_key(&r.txn) {
                order.push(r.txn.clone());
            }
            let blocked = r.uncertain_us.is_some() && r.decided_us.is_none();
            by_txn.entry(r.txn.clone()).or_default().insert(
                v.id.clone(),
                NodePart {
                    role: r.role,
                    state: r.state,
                    decision: r.decision,
                    vote: r.vote,
                    blocked_ms: r.blocked_us(now) as f64 / 1000.0,
                    blocked,
                    locks: r.locks.clone(),
                },
            );
        }
    }
    let history = sim.history();
    let entries = history.entries();
    // The client's k-th request has sequence number k: each client's entries, in order.
    let mut by_client: BTreeMap<ClientId, Vec<usize>> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        by_client.entry(e.client).or_default().push(i);
    }
    order
        .into_iter()
        .filter_map(|txn| {
            let nodes = by_txn.remove(&txn)?;
            let entry = parse_txn_id(&txn).and_then(|(client, seq)| {
                let i = *by_client.get(&client)?.get(seq.checked_sub(1)? as usize)?;
                let e = &entries[i];
                (e.op == HistoryOp::Txn || e.op == HistoryOp::Put).then_some((i, e))
            });
            let decisions: Vec<Decision> = nodes.values().filter_map(|p| p.decision).collect();
            Some(TxnSummary {
                keys: entry.map(|(_, e)| e.key.clone()),
                outcome: entry.map(|(_, e)| e.outcome),
                in_flight: entry.is_some_and(|(i, _)| history.is_open(i)),
                blocked_ms: nodes.values().map(|p| p.blocked_ms).fold(0.0, f64::max),
                atomic: !(decisions.contains(&Decision::Commit) && decisions.contains(&Decision::Abort)),
                decided: nodes.values().all(|p| p.decision.is_some()),
                nodes,
                txn,
            })
        })
        .collect()
}
