//! 3PC's safety properties, checked after every step over running and crashed nodes alike.
//!
//! - Atomic Commitment (Skeen & Stonebraker 1983; TCommit's `TCConsistent`): no node commits a
//!   transaction that another node aborts. Read incrementally from the decision logs
//!   (`txn::DecisionWatch`).
//! - Validity (BHG §7.2, AC3: commit only if all processes voted yes): when any node commits a
//!   transaction, every participant of it has voted yes.
//! - Committable At Commit (Skeen 1981, the nonblocking theorem: no noncommittable state is
//!   adjacent to commit, so the concurrency set of commit holds no uncertain state): when a node
//!   commits, every participant that is running and has not crashed since it voted is
//!   precommitted or committed, never still uncertain. (A participant that crashed is allowed to
//!   be behind: it learns the outcome when it recovers.)
//!
//! Each is checked when a decision is appended, so a step costs only its new decisions.

use super::{ThreePc, ThreePcDurable, TxnState};
use crate::protocols::txn::DecisionWatch;
use crate::sim::ids::NodeId;
use crate::sim::protocol::{Decision, InvariantInfo, Invariants, NodeRef, Violation};
use crate::sim::time::Time;
use std::collections::BTreeMap;

pub const ATOMIC_COMMITMENT: &str = "Atomic Commitment";
pub const VALIDITY: &str = "Validity";
pub const COMMITTABLE_AT_COMMIT: &str = "Committable At Commit";

static LIST: [InvariantInfo; 3] = [
    InvariantInfo {
        name: ATOMIC_COMMITMENT,
        source: "Skeen & Stonebraker 1983; BHG §7.2 AC1",
        statement: "no node decides commit for a transaction that another node decides abort",
    },
    InvariantInfo {
        name: VALIDITY,
        source: "BHG §7.2 AC3",
        statement: "a transaction is committed only if every one of its participants voted yes",
    },
    InvariantInfo {
        name: COMMITTABLE_AT_COMMIT,
        source: "Skeen 1981, the nonblocking theorem",
        statement: "when a node commits, every participant that is running and has not crashed since it voted is precommitted or committed, not uncertain",
    },
];

#[derive(Clone, Debug, Default)]
pub struct ThreePcInvariants {
    watch: DecisionWatch,
    /// How much of each node's decision log the validity checks have read.
    read: BTreeMap<NodeId, usize>,
}

fn log_of<'a>(node: &NodeRef<'a, ThreePc>) -> Option<&'a ThreePcDurable> {
    node.live.map(|p| &p.log).or(node.durable)
}

impl Invariants<ThreePc> for ThreePcInvariants {
    fn list() -> &'static [InvariantInfo] {
        &LIST
    }

    fn check(&mut self, nodes: &[NodeRef<'_, ThreePc>], _now: Time, out: &mut Vec<Violation>) {
        for node in nodes {
            let Some(log) = log_of(node) else { continue };
            self.watch.check(ATOMIC_COMMITMENT, node.id, &log.decisions, out);
            let from = self.read.get(&node.id).copied().unwrap_or(0).min(log.decisions.len());
            for (t, d) in &log.decisions[from..] {
                if *d == Decision::Commit {
                    commit_checks(node.id, t, log, nodes, out);
                }
            }
            self.read.insert(node.id, log.decisions.len());
        }
    }
}

fn commit_checks(by: NodeId, t: &str, log: &ThreePcDurable, nodes: &[NodeRef<'_, ThreePc>], out: &mut Vec<Violation>) {
    let Some(x) = log.txns.get(t) else { return };
    // Who must have voted yes: the owners of the keys written, recomputed from the
    // coordinator's record (it holds every write), not taken from a list a bug could shorten.
    // Without that record (a transaction the coordinator never logged), the committing node's.
    let owners = nodes
        .first()
        .and_then(log_of)
        .and_then(|l| l.txns.get(t))
        .filter(|c| c.coordinator)
        .map(|c| crate::protocols::txn::owners(c.writes.iter().map(|w| w.key.as_str()), nodes.len() as u16))
        .filter(|o| !o.is_empty());
    let participants: Vec<NodeId> = owners.unwrap_or_else(|| x.participants().collect());
    for p in participants {
        let Some(other) = nodes.get(p.index()) else { continue };
        let record = log_of(other).and_then(|l| l.txns.get(t));
        if record.and_then(|r| r.vote) != Some(true) {
            let what = match record.and_then(|r| r.vote) {
                Some(false) => "voted no",
                _ => "never voted yes",
            };
            out.push(Violation {
                invariant: VALIDITY,
                detail: format!("{by} committed {t}, but participant {p} {what}"),
            });
        }
        if let (Some(live), Some(r)) = (other.live, record)
            && r.state == TxnState::Uncertain
            && !live.recovering.contains(t)
        {
            out.push(Violation {
                invariant: COMMITTABLE_AT_COMMIT,
                detail: format!(
                    "{by} committed {t} while {p}, running and never crashed since its vote, is still uncertain"
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::threepc::{ThreePcParams, Txn};
    use std::collections::BTreeSet;

    fn log(coordinator: bool, state: TxnState, decision: Option<Decision>) -> ThreePcDurable {
        let mut l = ThreePcDurable::default();
        l.order.push("c1.1".into());
        l.txns.insert(
            "c1.1".into(),
            Txn {
                coordinator,
                nodes: vec![NodeId(0), NodeId(1)],
                writes: Vec::new(),
                client: None,
                state,
                vote: (!coordinator).then_some(true),
                since_us: 0,
                uncertain_us: None,
                decided_us: None,
            },
        );
        l.decisions.extend(decision.map(|d| ("c1.1".to_string(), d)));
        l
    }

    fn participant(recovering: bool) -> ThreePc {
        ThreePc {
            id: NodeId(1),
            cluster: 2,
            params: ThreePcParams::default(),
            log: log(false, TxnState::Uncertain, None),
            recovering: if recovering { BTreeSet::from(["c1.1".to_string()]) } else { BTreeSet::new() },
            votes: BTreeMap::new(),
            acking: BTreeMap::new(),
            rounds: BTreeMap::new(),
            rounds_run: 0,
        }
    }

    fn check(p: &ThreePc) -> Vec<Violation> {
        let n1 = log(true, TxnState::Committed, Some(Decision::Commit));
        let nodes = [
            NodeRef { id: NodeId(0), live: None, durable: Some(&n1), clock: Time::ZERO },
            NodeRef { id: NodeId(1), live: Some(p), durable: None, clock: Time::ZERO },
        ];
        let mut out = Vec::new();
        ThreePcInvariants::default().check(&nodes, Time(0), &mut out);
        out
    }

    #[test]
    fn a_commit_while_an_operational_participant_is_uncertain_is_reported() {
        let out = check(&participant(false));
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].invariant, COMMITTABLE_AT_COMMIT);
    }

    #[test]
    fn a_participant_that_crashed_since_its_vote_may_be_behind() {
        assert!(check(&participant(true)).is_empty());
    }
}
