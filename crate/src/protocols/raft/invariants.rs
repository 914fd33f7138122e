//! Raft's safety properties (Figure 3 of the paper), checked after every step of a run.
//!
//! - Election Safety (§5.2): at most one leader can be elected in a given term.
//! - Leader Append-Only (§5.3): a leader never overwrites or deletes entries in its log.
//! - Log Matching (§5.3): if two logs contain an entry with the same index and term, the logs
//!   are identical in all entries up through that index.
//! - Leader Completeness (§5.4): if an entry is committed in a term, it is present in the logs
//!   of the leaders of all higher terms.
//! - State Machine Safety (§5.4.3): if a server has applied an entry at an index, no server ever
//!   applies a different entry at that index.
//!
//! The checker remembers what it has seen (leaders per term, committed and applied entries), so
//! it judges the whole run, not one instant. Logs are compared only when their write count
//! changed, which keeps a check after every step cheap.

use super::messages::{Entry, Role};
use super::{Raft, RaftDurable};
use crate::sim::ids::NodeId;
use crate::sim::protocol::{InvariantInfo, Invariants, NodeRef, Violation};
use crate::sim::time::Time;
use std::collections::BTreeMap;

const ELECTION_SAFETY: &str = "Election Safety";
const LEADER_APPEND_ONLY: &str = "Leader Append-Only";
const LOG_MATCHING: &str = "Log Matching";
const LEADER_COMPLETENESS: &str = "Leader Completeness";
const STATE_MACHINE_SAFETY: &str = "State Machine Safety";

static LIST: [InvariantInfo; 5] = [
    InvariantInfo {
        name: ELECTION_SAFETY,
        source: "Raft §5.2",
        statement: "at most one leader can be elected in a given term",
    },
    InvariantInfo {
        name: LEADER_APPEND_ONLY,
        source: "Raft §5.3",
        statement: "a leader never overwrites or deletes entries in its log; it only appends",
    },
    InvariantInfo {
        name: LOG_MATCHING,
        source: "Raft §5.3",
        statement: "if two logs contain an entry with the same index and term, the logs are identical up through that index",
    },
    InvariantInfo {
        name: LEADER_COMPLETENESS,
        source: "Raft §5.4",
        statement: "an entry committed in a term is in the log of every leader of a higher term",
    },
    InvariantInfo {
        name: STATE_MACHINE_SAFETY,
        source: "Raft §5.4.3",
        statement: "no two servers apply different entries at the same log index",
    },
];

#[derive(Clone, Debug, Default)]
pub struct RaftInvariants {
    leaders: BTreeMap<u64, NodeId>,
    /// Per node: the leader term and log it had at the last check, while it led.
    led: BTreeMap<NodeId, (u64, Vec<Entry>)>,
    /// Per node: (log write count, commit index, term) at the last check; checks that depend
    /// only on these are skipped while they stay the same.
    seen: Vec<Option<(u64, u64, u64)>>,
    /// How many committed entries were recorded at the last check.
    committed_seen: usize,
    /// Committed entries, index 1 first, each with the term in which it was first seen committed.
    committed: Vec<(Entry, u64)>,
    /// Applied entries, index 1 first.
    applied: Vec<Entry>,
    /// Per node: how much of its applied prefix has been compared.
    applied_checked: Vec<u64>,
}

/// The parts of a node the checks read, live or from disk.
struct Seen<'a> {
    id: NodeId,
    log: &'a [Entry],
    writes: u64,
    live: Option<&'a Raft>,
}

fn seen<'a>(r: &NodeRef<'a, Raft>) -> Option<Seen<'a>> {
    match (r.live, r.durable) {
        (Some(raft), _) => Some(Seen { id: r.id, log: &raft.log, writes: raft.log_writes, live: Some(raft) }),
        (None, Some(RaftDurable { log, log_writes, .. })) => {
            Some(Seen { id: r.id, log, writes: *log_writes, live: None })
        }
        (None, None) => None,
    }
}

impl Invariants<Raft> for RaftInvariants {
    fn list() -> &'static [InvariantInfo] {
        &LIST
    }

    fn check(&mut self, nodes: &[NodeRef<'_, Raft>], _now: Time, out: &mut Vec<Violation>) {
        if self.seen.len() != nodes.len() {
            self.seen = vec![None; nodes.len()];
            self.applied_checked = vec![0; nodes.len()];
        }
        let all: Vec<Seen<'_>> = nodes.iter().filter_map(seen).collect();
        let now_seen: Vec<(u64, u64, u64)> = all
            .iter()
            .map(|s| s.live.map_or((s.writes, 0, 0), |r| (s.writes, r.commit_index, r.current_term)))
            .collect();
        let changed: Vec<bool> = all.iter().zip(&now_seen).map(|(s, n)| self.seen[s.id.index()] != Some(*n)).collect();
        let log_changed: Vec<bool> =
            all.iter().zip(&now_seen).map(|(s, n)| self.seen[s.id.index()].map(|o| o.0) != Some(n.0)).collect();
        for s in &all {
            match s.live {
                Some(raft) => {
                    self.election_safety(raft, out);
                    self.leader_append_only(raft, out);
                }
                None => {
                    self.led.remove(&s.id);
                }
            }
        }
        self.log_matching(&all, &log_changed, out);
        for (s, changed) in all.iter().zip(&changed) {
            if let Some(raft) = s.live
                && *changed
            {
                self.record_commits(raft, out);
            }
        }
        let committed_grew = self.committed.len() != self.committed_seen;
        self.committed_seen = self.committed.len();
        for (s, changed) in all.iter().zip(&changed) {
            if let Some(raft) = s.live
                && raft.role == Role::Leader
                && (*changed || committed_grew)
            {
                self.leader_completeness(raft, out);
            }
        }
        for (s, n) in all.iter().zip(now_seen) {
            if let Some(raft) = s.live {
                self.state_machine_safety(raft, out);
            } else {
                self.applied_checked[s.id.index()] = 0;
            }
            self.seen[s.id.index()] = Some(n);
        }
    }
}

impl RaftInvariants {
    fn election_safety(&mut self, raft: &Raft, out: &mut Vec<Violation>) {
        if raft.role != Role::Leader {
            return;
        }
        let first = *self.leaders.entry(raft.current_term).or_insert(raft.id);
        if first != raft.id {
            out.push(Violation {
                invariant: ELECTION_SAFETY,
                detail: format!("{} and {} both lead term {}", first, raft.id, raft.current_term),
            });
        }
    }

    fn leader_append_only(&mut self, raft: &Raft, out: &mut Vec<Violation>) {
        if raft.role != Role::Leader {
            self.led.remove(&raft.id);
            return;
        }
        match self.led.get_mut(&raft.id) {
            Some((term, log)) if *term == raft.current_term => {
                if log.len() == raft.log.len() && log.last() == raft.log.last() {
                    return;
                }
                let kept = raft.log.len() >= log.len() && raft.log[..log.len()] == log[..];
                if !kept {
                    out.push(Violation {
                        invariant: LEADER_APPEND_ONLY,
                        detail: format!("leader {} of term {} changed or removed entries of its log", raft.id, term),
                    });
                }
                *log = raft.log.clone();
            }
            _ => {
                self.led.insert(raft.id, (raft.current_term, raft.log.clone()));
            }
        }
    }

    fn log_matching(&self, all: &[Seen<'_>], changed: &[bool], out: &mut Vec<Violation>) {
        for i in 0..all.len() {
            for j in (i + 1)..all.len() {
                if !(changed[i] || changed[j]) {
                    continue;
                }
                let (a, b) = (all[i].log, all[j].log);
                let common = a.len().min(b.len());
                // The first index where the logs differ; past it no index may share a term.
                let split = (0..common).find(|&k| a[k] != b[k]).unwrap_or(common);
                if let Some(k) = (split..common).find(|&k| a[k].term == b[k].term) {
                    out.push(Violation {
                        invariant: LOG_MATCHING,
                        detail: format!(
                            "{} and {} both hold an entry of term {} at index {}, but their logs differ at index {}",
                            all[i].id,
                            all[j].id,
                            a[k].term,
                            k + 1,
                            split + 1
                        ),
                    });
                }
            }
        }
    }

    /// Records entries as committed the first time any node's commit index covers them; the
    /// first node to do so is the leader that committed them, so its term is the commit term.
    fn record_commits(&mut self, raft: &Raft, out: &mut Vec<Violation>) {
        let upto = (raft.commit_index as usize).min(raft.log.len());
        let known = self.committed.len().min(upto);
        // Entries this node takes as committed that were recorded before must be the same.
        if let Some(k) = (0..known).find(|&k| self.committed[k].0 != raft.log[k]) {
            out.push(Violation {
                invariant: STATE_MACHINE_SAFETY,
                detail: format!(
                    "{} takes as committed a different entry at index {} than was committed before",
                    raft.id,
                    k + 1
                ),
            });
        }
        for k in self.committed.len()..upto {
            self.committed.push((raft.log[k].clone(), raft.current_term));
        }
    }

    fn leader_completeness(&self, raft: &Raft, out: &mut Vec<Violation>) {
        for (k, (entry, term)) in self.committed.iter().enumerate() {
            if *term < raft.current_term && raft.log.get(k) != Some(entry) {
                out.push(Violation {
                    invariant: LEADER_COMPLETENESS,
                    detail: format!(
                        "{}, leader of term {}, lacks the entry at index {} committed in term {}",
                        raft.id,
                        raft.current_term,
                        k + 1,
                        term
                    ),
                });
                return;
            }
        }
    }

    fn state_machine_safety(&mut self, raft: &Raft, out: &mut Vec<Violation>) {
        let done = &mut self.applied_checked[raft.id.index()];
        if raft.last_applied < *done {
            // The node restarted and is applying its log again from the start.
            *done = 0;
        }
        for index in *done..raft.last_applied {
            let k = index as usize;
            let Some(entry) = raft.log.get(k) else { break };
            match self.applied.get(k) {
                Some(first) if first != entry => {
                    out.push(Violation {
                        invariant: STATE_MACHINE_SAFETY,
                        detail: format!(
                            "{} applied a different entry at index {} than another server did",
                            raft.id,
                            k + 1
                        ),
                    });
                    break;
                }
                Some(_) => {}
                None => self.applied.push(entry.clone()),
            }
        }
        *done = raft.last_applied;
    }
}
