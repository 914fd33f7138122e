//! What the atomic-commitment protocols (2PC, 3PC, Saga) share: which participant holds a key,
//! how a transaction is named, the watch on decisions behind the atomicity invariant, and the
//! registry's `settled` check. Each protocol keeps its own states, messages and invariants in its
//! own folder.
//!
//! **Roles.** Node n1 coordinates (2PC, 3PC) or orchestrates (Saga) every transaction clients
//! submit; n2..nN are the participants (resource managers), each the home of some keys. A
//! participant that receives a transaction redirects the client to n1, and any node that
//! receives a `get` for a key it is not home for redirects the client to the key's home.

use crate::sim::dynamic::Simulation;
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::{Decision, Violation};
use crate::workload::key_index;
use std::collections::BTreeMap;

/// The node that coordinates every transaction.
pub const COORDINATOR: NodeId = NodeId(0);

/// The participants of a cluster of `nodes`: every node but the coordinator (the coordinator
/// alone when it is the only node).
pub fn participants(nodes: u16) -> Vec<NodeId> {
    if nodes <= 1 { vec![COORDINATOR] } else { (1..nodes).map(NodeId).collect() }
}

/// The participant that is home for `key`: the workload's keys x, y, z, ... go round the
/// participants in order (x → n2, y → n3, z → n4 with three), any other key by its hash.
pub fn owner(key: &str, nodes: u16) -> NodeId {
    let ps = participants(nodes);
    let i = key_index(key).map_or_else(|| fnv(key), u64::from);
    ps[(i % ps.len() as u64) as usize]
}

/// The participants of a transaction writing `keys`, each once, in node order.
pub fn owners<'a>(keys: impl IntoIterator<Item = &'a str>, nodes: u16) -> Vec<NodeId> {
    let mut out: Vec<NodeId> = keys.into_iter().map(|k| owner(k, nodes)).collect();
    out.sort();
    out.dedup();
    out
}

fn fnv(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// A transaction's name: the client and the sequence number of its request (`c1.3`). Retries
/// of the request carry the same number, so they name the same transaction.
pub fn txn_id(client: ClientId, seq: u64) -> String {
    format!("{client}.{seq}")
}

/// The invariant of atomic commitment (TCommit's `TCConsistent`): no node decides commit for a
/// transaction that another decides abort. Each node keeps an append-only log of its decisions;
/// the watch reads only what was appended since its last look, so a check after every step
/// costs only the new decisions.
#[derive(Clone, Debug, Default)]
pub struct DecisionWatch {
    /// How much of each node's decision log has been read.
    read: BTreeMap<NodeId, usize>,
    /// The first decision seen for each transaction, and by whom.
    first: BTreeMap<String, (Decision, NodeId)>,
}

impl DecisionWatch {
    /// Reads `node`'s decisions (its whole log, oldest first) and reports a node that decided
    /// otherwise than another, once per transaction, under the invariant named `invariant`.
    pub fn check(
        &mut self,
        invariant: &'static str,
        node: NodeId,
        decisions: &[(String, Decision)],
        out: &mut Vec<Violation>,
    ) {
        let from = self.read.get(&node).copied().unwrap_or(0).min(decisions.len());
        for (txn, d) in &decisions[from..] {
            match self.first.get(txn) {
                None => {
                    self.first.insert(txn.clone(), (*d, node));
                }
                Some((first, by)) if first != d => {
                    out.push(Violation {
                        invariant,
                        detail: format!("{node} decided {} for {txn}, but {by} decided {}", name(*d), name(*first)),
                    });
                }
                _ => {}
            }
        }
        self.read.insert(node, decisions.len());
    }
}

pub fn name(d: Decision) -> &'static str {
    match d {
        Decision::Commit => "commit",
        Decision::Abort => "abort",
    }
}

/// The registry's `settled` check for the atomic-commitment protocols: every running node has
/// decided every transaction it took part in, and holds no lock.
pub fn settled(sim: &dyn Simulation) -> Result<(), String> {
    for v in sim.node_views() {
        if v.role == "crashed" {
            continue;
        }
        for r in &v.view.txns {
            if r.decision.is_none() {
                return Err(format!("{} has not decided {} (it is {})", v.id, r.txn, r.state));
            }
            if !r.locks.is_empty() {
                return Err(format!("{} still holds {} locked for {}", v.id, r.locks.join(", "), r.txn));
            }
        }
    }
    Ok(())
}

/// A participant's lock table: each key locked by at most one transaction, since a given time.
/// Locks are taken all at once when a participant votes yes (or prepares), and released when it
/// learns the outcome; a prepared participant's locks are part of its durable state, so that a
/// restart takes them again (its vote promised the writes).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Locks {
    /// key → (transaction, locked since µs).
    held: BTreeMap<String, (String, u64)>,
}

impl Locks {
    /// Locks every key for `txn`, or none: `Err((key, holder))` names the first key another
    /// transaction holds (no waiting, so no deadlock: the caller votes no).
    pub fn lock_all<'a>(
        &mut self,
        keys: impl IntoIterator<Item = &'a str> + Clone,
        txn: &str,
        now_us: u64,
    ) -> Result<(), (String, String)> {
        for k in keys.clone() {
            if let Some((holder, _)) = self.held.get(k)
                && holder != txn
            {
                return Err((k.to_string(), holder.clone()));
            }
        }
        for k in keys {
            self.held.entry(k.to_string()).or_insert_with(|| (txn.to_string(), now_us));
        }
        Ok(())
    }

    /// Releases every key `txn` holds.
    pub fn release(&mut self, txn: &str) {
        self.held.retain(|_, (holder, _)| holder != txn);
    }

    /// The transaction holding `key`, if any.
    pub fn holder(&self, key: &str) -> Option<&str> {
        self.held.get(key).map(|(t, _)| t.as_str())
    }

    /// The keys `txn` holds, in key order.
    pub fn keys_of(&self, txn: &str) -> Vec<String> {
        self.held.iter().filter(|(_, (t, _))| t == txn).map(|(k, _)| k.clone()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// key → (transaction, since µs), for the inspector.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &(String, u64))> {
        self.held.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_keys_go_round_the_participants() {
        assert_eq!(owner("x", 4), NodeId(1));
        assert_eq!(owner("y", 4), NodeId(2));
        assert_eq!(owner("z", 4), NodeId(3));
        assert_eq!(owner("w", 4), NodeId(1));
        assert_eq!(owner("x", 1), NodeId(0));
        assert_eq!(owners(["z", "x", "w"], 4), vec![NodeId(1), NodeId(3)]);
        let other = owner("account-17", 4);
        assert!(other.0 >= 1 && other.0 <= 3);
    }

    #[test]
    fn the_page_view_keeps_open_transactions_and_the_last_decided() {
        use crate::sim::protocol::{NodeView, TxnRecord};
        let rec = |txn: &str, decision: Option<Decision>| TxnRecord {
            txn: txn.into(),
            role: "participant",
            state: "x",
            vote: None,
            decision,
            since_us: 0,
            uncertain_us: None,
            decided_us: None,
            locks: Vec::new(),
        };
        let view = NodeView {
            txns: vec![
                rec("c1.1", Some(Decision::Commit)),
                rec("c1.2", None),
                rec("c1.3", Some(Decision::Abort)),
                rec("c1.4", Some(Decision::Commit)),
            ],
            ..NodeView::default()
        };
        let names: Vec<String> = view.recent(2).txns.into_iter().map(|r| r.txn).collect();
        assert_eq!(names, ["c1.2", "c1.3", "c1.4"]);
    }

    #[test]
    fn locks_are_all_or_nothing() {
        let mut l = Locks::default();
        assert_eq!(l.lock_all(["x", "y"], "c1.1", 5), Ok(()));
        assert_eq!(l.lock_all(["z", "y"], "c2.1", 6), Err(("y".to_string(), "c1.1".to_string())));
        assert_eq!(l.holder("z"), None, "a refused transaction locks nothing");
        assert_eq!(l.lock_all(["x"], "c1.1", 7), Ok(()), "a transaction may lock its own keys again");
        assert_eq!(l.keys_of("c1.1"), vec!["x".to_string(), "y".to_string()]);
        l.release("c1.1");
        assert!(l.is_empty());
    }

    #[test]
    fn the_watch_reports_a_split_decision_once_per_node() {
        let mut w = DecisionWatch::default();
        let mut out = Vec::new();
        let commit = vec![("c1.1".to_string(), Decision::Commit)];
        let abort = vec![("c1.1".to_string(), Decision::Abort)];
        w.check("AC", NodeId(1), &commit, &mut out);
        w.check("AC", NodeId(1), &commit, &mut out);
        w.check("AC", NodeId(2), &commit, &mut out);
        assert!(out.is_empty());
        w.check("AC", NodeId(3), &abort, &mut out);
        assert_eq!(out.len(), 1);
        assert!(out[0].detail.contains("n4 decided abort for c1.1, but n2 decided commit"), "{}", out[0].detail);
        w.check("AC", NodeId(3), &abort, &mut out);
        assert_eq!(out.len(), 1);
    }
}
