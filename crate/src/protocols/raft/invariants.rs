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
//! it judges the whole run, not one instant. To keep a check after every step cheap on long
//! logs, it keeps for each log a chain of prefix hashes (`chain[k]` = hash of entries 1..=k+1):
//! two logs agree up to an index exactly when their chains agree there, so comparing prefixes
//! costs one comparison, and the chain only grows by the new entries unless the log was
//! truncated.

use super::messages::{Entry, Role};
use super::{Raft, RaftDurable};
use crate::sim::ids::NodeId;
use crate::sim::protocol::{InvariantInfo, Invariants, NodeRef, Violation};
use crate::sim::time::Time;
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

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

/// A log's prefix hashes, kept up to date from the log's length and truncation count.
#[derive(Clone, Debug, Default)]
struct Chain {
    hashes: Vec<u64>,
    truncations: u64,
}

fn link(previous: u64, entry: &Entry) -> u64 {
    let mut h = DefaultHasher::new();
    previous.hash(&mut h);
    entry.hash(&mut h);
    h.finish()
}

impl Chain {
    /// Brings the chain up to date with the log; returns whether the log changed. A log that
    /// was not truncated only grew, so only its new entries are hashed; the last known entry is
    /// re-hashed as a spot check, and the whole chain is rebuilt if it changed anyway.
    fn update(&mut self, log: &[Entry], truncations: u64) -> bool {
        let known = self.hashes.len();
        let tail_moved = known > 0
            && log.len() >= known
            && link(if known > 1 { self.hashes[known - 2] } else { 0 }, &log[known - 1]) != self.hashes[known - 1];
        if truncations != self.truncations || log.len() < known || tail_moved {
            self.hashes.clear();
            self.truncations = truncations;
        } else if log.len() == known {
            return false;
        }
        for entry in &log[self.hashes.len()..] {
            let previous = self.hashes.last().copied().unwrap_or(0);
            self.hashes.push(link(previous, entry));
        }
        true
    }

    /// The hash of entries 1..=n (0 for none), if the log has n entries.
    fn at(&self, n: usize) -> Option<u64> {
        if n == 0 { Some(0) } else { self.hashes.get(n - 1).copied() }
    }

    /// How many leading entries two logs share: hashes agree on a prefix, then never again.
    fn common_prefix(&self, other: &Chain) -> usize {
        let (mut lo, mut hi) = (0, self.hashes.len().min(other.hashes.len()));
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if self.hashes[mid - 1] == other.hashes[mid - 1] { lo = mid } else { hi = mid - 1 }
        }
        lo
    }
}

/// A record of entries everyone must agree on (committed, or applied), as a chain.
#[derive(Clone, Debug, Default)]
struct Record {
    hashes: Vec<u64>,
}

impl Record {
    /// Checks that the log's first `n` entries agree with the record, and extends the record
    /// with any beyond it. Returns the first index (1-based) that disagrees.
    fn absorb(&mut self, chain: &Chain, n: usize) -> Option<usize> {
        let overlap = n.min(self.hashes.len());
        if overlap > 0 && chain.at(overlap) != Some(self.hashes[overlap - 1]) {
            let first = chain.common_prefix(&Chain { hashes: self.hashes.clone(), truncations: 0 });
            return Some(first + 1);
        }
        for k in self.hashes.len()..n.min(chain.hashes.len()) {
            self.hashes.push(chain.hashes[k]);
        }
        None
    }
}

#[derive(Clone, Debug, Default)]
pub struct RaftInvariants {
    leaders: BTreeMap<u64, NodeId>,
    /// Per node: its log's chain.
    chains: Vec<Chain>,
    /// Per node: the term it led, the length of its log and the hash of that prefix, at the
    /// last check.
    led: BTreeMap<NodeId, (u64, usize, u64)>,
    committed: Record,
    /// The term in which each committed entry was first seen committed.
    committed_terms: Vec<u64>,
    applied: Record,
    /// Per node: the commit index and last applied index at the last check.
    seen: Vec<(u64, u64)>,
}

impl Invariants<Raft> for RaftInvariants {
    fn list() -> &'static [InvariantInfo] {
        &LIST
    }

    fn check(&mut self, nodes: &[NodeRef<'_, Raft>], _now: Time, out: &mut Vec<Violation>) {
        if self.chains.len() != nodes.len() {
            self.chains = vec![Chain::default(); nodes.len()];
            self.seen = vec![(0, 0); nodes.len()];
        }
        let mut changed = vec![false; nodes.len()];
        for r in nodes {
            let (log, truncations) = match (r.live, r.durable) {
                (Some(raft), _) => (&raft.log[..], raft.truncations),
                (None, Some(RaftDurable { log, truncations, .. })) => (&log[..], *truncations),
                (None, None) => continue,
            };
            changed[r.id.index()] = self.chains[r.id.index()].update(log, truncations);
        }
        let committed_before = self.committed.hashes.len();
        for r in nodes {
            let i = r.id.index();
            match r.live {
                Some(raft) => {
                    let new_leadership = self.election_safety(raft, out);
                    self.leader_append_only(raft, out);
                    let (commit, applied) = (raft.commit_index, raft.last_applied);
                    if changed[i] || (commit, applied) != self.seen[i] {
                        self.record_commits(raft, out);
                        self.state_machine_safety(raft, out);
                        self.seen[i] = (commit, applied);
                    }
                    if new_leadership {
                        self.leader_completeness(raft, out);
                    }
                }
                None => {
                    self.led.remove(&r.id);
                    self.seen[i] = (0, 0);
                }
            }
        }
        if changed.iter().any(|c| *c) {
            for raft in nodes.iter().filter_map(|r| r.live).filter(|r| r.role == Role::Leader) {
                self.record_majority_stored(raft, nodes.len(), out);
            }
        }
        self.log_matching(nodes, &changed, out);
        if self.committed.hashes.len() != committed_before || changed.iter().any(|c| *c) {
            for raft in nodes.iter().filter_map(|r| r.live).filter(|r| r.role == Role::Leader) {
                self.leader_completeness(raft, out);
            }
        }
    }
}

impl RaftInvariants {
    /// Returns whether this is the first check that sees this node lead this term.
    fn election_safety(&mut self, raft: &Raft, out: &mut Vec<Violation>) -> bool {
        if raft.role != Role::Leader {
            return false;
        }
        let first = *self.leaders.entry(raft.current_term).or_insert(raft.id);
        if first != raft.id {
            out.push(Violation {
                invariant: ELECTION_SAFETY,
                detail: format!("{} and {} both lead term {}", first, raft.id, raft.current_term),
            });
        }
        self.led.get(&raft.id).is_none_or(|(term, _, _)| *term != raft.current_term)
    }

    fn leader_append_only(&mut self, raft: &Raft, out: &mut Vec<Violation>) {
        if raft.role != Role::Leader {
            self.led.remove(&raft.id);
            return;
        }
        let chain = &self.chains[raft.id.index()];
        if let Some(&(term, len, hash)) = self.led.get(&raft.id)
            && term == raft.current_term
            && chain.at(len) != Some(hash)
        {
            out.push(Violation {
                invariant: LEADER_APPEND_ONLY,
                detail: format!("leader {} of term {} changed or removed entries of its log", raft.id, term),
            });
        }
        let len = raft.log.len();
        self.led.insert(raft.id, (raft.current_term, len, chain.at(len).unwrap_or(0)));
    }

    fn log_matching(&self, nodes: &[NodeRef<'_, Raft>], changed: &[bool], out: &mut Vec<Violation>) {
        let logs: Vec<(NodeId, &[Entry])> = nodes
            .iter()
            .filter_map(|r| match (r.live, r.durable) {
                (Some(raft), _) => Some((r.id, &raft.log[..])),
                (None, Some(d)) => Some((r.id, &d.log[..])),
                (None, None) => None,
            })
            .collect();
        for (x, &(a_id, a)) in logs.iter().enumerate() {
            for &(b_id, b) in &logs[x + 1..] {
                if !(changed[a_id.index()] || changed[b_id.index()]) {
                    continue;
                }
                // Past the shared prefix, no index may hold entries of the same term.
                let split = self.chains[a_id.index()].common_prefix(&self.chains[b_id.index()]);
                let common = a.len().min(b.len());
                if let Some(k) = (split..common).find(|&k| a[k].term == b[k].term) {
                    out.push(Violation {
                        invariant: LOG_MATCHING,
                        detail: format!(
                            "{a_id} and {b_id} both hold an entry of term {} at index {}, but their logs differ at index {}",
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
        if let Some(k) = self.commit_through(raft, upto) {
            out.push(Violation {
                invariant: STATE_MACHINE_SAFETY,
                detail: format!(
                    "{} takes as committed a different entry at index {k} than was committed before",
                    raft.id
                ),
            });
        }
    }

    /// The paper's own definition (§5.3): an entry is committed once the leader that created it
    /// has stored it on a majority, whether or not anyone has counted the replicas yet. So a
    /// leader whose own-term entry sits on a majority has committed its log up to there, even if
    /// it crashes before it learns so.
    fn record_majority_stored(&mut self, raft: &Raft, cluster: usize, out: &mut Vec<Violation>) {
        let mine = &self.chains[raft.id.index()];
        let mut shared: Vec<usize> = self.chains.iter().map(|c| mine.common_prefix(c)).collect();
        shared.sort_unstable_by(|a, b| b.cmp(a));
        let Some(&stored) = shared.get(cluster / 2) else { return };
        if stored == 0 || stored <= self.committed.hashes.len() || raft.log[stored - 1].term != raft.current_term {
            return;
        }
        if let Some(k) = self.commit_through(raft, stored) {
            out.push(Violation {
                invariant: STATE_MACHINE_SAFETY,
                detail: format!(
                    "{}, leader of term {}, stored on a majority a different entry at index {k} than was committed before",
                    raft.id, raft.current_term
                ),
            });
        }
    }

    /// Adds `raft`'s first `n` entries to the committed record, in its current term; returns the
    /// first index that disagrees with what was committed before.
    fn commit_through(&mut self, raft: &Raft, n: usize) -> Option<usize> {
        let mismatch = self.committed.absorb(&self.chains[raft.id.index()], n);
        while self.committed_terms.len() < self.committed.hashes.len() {
            self.committed_terms.push(raft.current_term);
        }
        mismatch
    }

    fn leader_completeness(&self, raft: &Raft, out: &mut Vec<Violation>) {
        // Entries committed in earlier terms form a prefix of the committed record.
        let earlier = self.committed_terms.partition_point(|t| *t < raft.current_term);
        let chain = &self.chains[raft.id.index()];
        if earlier > 0 && chain.at(earlier) != Some(self.committed.hashes[earlier - 1]) {
            let record = Chain { hashes: self.committed.hashes[..earlier].to_vec(), truncations: 0 };
            let k = chain.common_prefix(&record);
            out.push(Violation {
                invariant: LEADER_COMPLETENESS,
                detail: format!(
                    "{}, leader of term {}, lacks the entry at index {} committed in term {}",
                    raft.id,
                    raft.current_term,
                    k + 1,
                    self.committed_terms[k]
                ),
            });
        }
    }

    fn state_machine_safety(&mut self, raft: &Raft, out: &mut Vec<Violation>) {
        let applied = (raft.last_applied as usize).min(raft.log.len());
        if let Some(k) = self.applied.absorb(&self.chains[raft.id.index()], applied) {
            out.push(Violation {
                invariant: STATE_MACHINE_SAFETY,
                detail: format!("{} applied a different entry at index {k} than another server did", raft.id),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    //! Each invariant, shown to fire on a state that breaks it.

    use super::*;
    use crate::protocols::kv::KvStore;
    use crate::protocols::raft::{Command, RaftParams};
    use crate::sim::ids::ClientId;

    fn entry(term: u64, value: &str) -> Entry {
        Entry { term, command: Command::Put { key: "x".into(), value: value.into(), client: ClientId(0), seq: 1 } }
    }

    fn node(id: u16, term: u64, role: Role, log: Vec<Entry>) -> Raft {
        Raft {
            id: NodeId(id),
            nodes: 3,
            params: RaftParams::default(),
            current_term: term,
            voted_for: None,
            log,
            truncations: 0,
            role,
            leader: None,
            commit_index: 0,
            last_applied: 0,
            votes: Vec::new(),
            next_index: vec![1; 3],
            match_index: vec![0; 3],
            sent_up_to: vec![0; 3],
            store: KvStore::default(),
            waiting: BTreeMap::new(),
            lease: Default::default(),
            reads: Default::default(),
            heard_leader_at: None,
        }
    }

    fn check(checker: &mut RaftInvariants, nodes: &[Raft]) -> Vec<&'static str> {
        let refs: Vec<NodeRef<'_, Raft>> =
            nodes.iter().map(|r| NodeRef { id: r.id, live: Some(r), durable: None, clock: Time::ZERO }).collect();
        let mut out = Vec::new();
        checker.check(&refs, Time::ZERO, &mut out);
        out.into_iter().map(|v| v.invariant).collect()
    }

    #[test]
    fn a_healthy_cluster_breaks_nothing() {
        let log = vec![entry(1, "a"), entry(1, "b")];
        let mut leader = node(0, 1, Role::Leader, log.clone());
        leader.commit_index = 2;
        leader.last_applied = 2;
        let nodes = [leader, node(1, 1, Role::Follower, log.clone()), node(2, 1, Role::Follower, log[..1].to_vec())];
        assert!(check(&mut RaftInvariants::default(), &nodes).is_empty());
    }

    #[test]
    fn two_leaders_in_one_term_break_election_safety() {
        let nodes =
            [node(0, 2, Role::Leader, vec![]), node(1, 2, Role::Leader, vec![]), node(2, 2, Role::Follower, vec![])];
        assert!(check(&mut RaftInvariants::default(), &nodes).contains(&ELECTION_SAFETY));
    }

    #[test]
    fn same_index_and_term_with_different_prefixes_break_log_matching() {
        let a = node(0, 2, Role::Follower, vec![entry(1, "a"), entry(2, "b")]);
        let b = node(1, 2, Role::Follower, vec![entry(1, "z"), entry(2, "b")]);
        let nodes = [a, b, node(2, 2, Role::Follower, vec![])];
        assert!(check(&mut RaftInvariants::default(), &nodes).contains(&LOG_MATCHING));
    }

    /// n1 leads term 1 with two entries, and the checker has seen it so.
    fn leader_with_two_entries() -> (RaftInvariants, [Raft; 3]) {
        let mut checker = RaftInvariants::default();
        let nodes = [
            node(0, 1, Role::Leader, vec![entry(1, "a"), entry(1, "b")]),
            node(1, 1, Role::Follower, vec![]),
            node(2, 1, Role::Follower, vec![]),
        ];
        assert!(check(&mut checker, &nodes).is_empty());
        (checker, nodes)
    }

    #[test]
    fn a_leader_that_drops_an_entry_breaks_append_only() {
        let (mut checker, mut nodes) = leader_with_two_entries();
        nodes[0].log.truncate(1);
        nodes[0].truncations += 1;
        assert!(check(&mut checker, &nodes).contains(&LEADER_APPEND_ONLY));
    }

    #[test]
    fn an_overwritten_entry_is_noticed_even_without_a_truncation() {
        let (mut checker, mut nodes) = leader_with_two_entries();
        nodes[0].log[1] = entry(1, "c");
        assert!(check(&mut checker, &nodes).contains(&LEADER_APPEND_ONLY));
    }

    #[test]
    fn a_new_leader_without_a_committed_entry_breaks_completeness() {
        let mut checker = RaftInvariants::default();
        let mut old = node(0, 1, Role::Leader, vec![entry(1, "a")]);
        old.commit_index = 1;
        let mut nodes = [old, node(1, 1, Role::Follower, vec![entry(1, "a")]), node(2, 1, Role::Follower, vec![])];
        assert!(check(&mut checker, &nodes).is_empty());
        nodes[0].role = Role::Follower;
        nodes[2] = node(2, 2, Role::Leader, vec![]);
        assert!(check(&mut checker, &nodes).contains(&LEADER_COMPLETENESS));
    }

    #[test]
    fn applying_different_entries_at_one_index_breaks_state_machine_safety() {
        let mut a = node(0, 1, Role::Follower, vec![entry(1, "a")]);
        let mut b = node(1, 2, Role::Follower, vec![entry(2, "b")]);
        (a.commit_index, a.last_applied, b.commit_index, b.last_applied) = (1, 1, 1, 1);
        let nodes = [a, b, node(2, 2, Role::Follower, vec![])];
        assert!(check(&mut RaftInvariants::default(), &nodes).contains(&STATE_MACHINE_SAFETY));
    }
}
