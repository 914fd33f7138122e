//! Versions of a value and how they compare. Dynamo (§4.4) tags every write with a vector
//! clock, so that a replica can tell a newer version from a concurrent one; last-writer-wins
//! replaces the vector with a timestamp, which orders every pair and so never keeps siblings
//! (and silently drops one of two concurrent writes).

use crate::sim::ids::NodeId;
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// A write's place in the order of versions.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(untagged)]
pub enum Clock {
    /// Last-writer-wins: the coordinator's virtual time, its id and its write counter, compared
    /// in that order (the counter separates two writes in the same microsecond).
    Timestamp { at_us: u64, node: NodeId, counter: u64 },
    /// A vector clock: per coordinator, how many of its writes this version has seen.
    Vector(BTreeMap<NodeId, u64>),
}

/// How two versions relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    Equal,
    Before,
    After,
    Concurrent,
}

impl Clock {
    pub fn compare(&self, other: &Clock) -> Relation {
        match (self, other) {
            (Clock::Vector(a), Clock::Vector(b)) => {
                let (mut less, mut more) = (false, false);
                for node in a.keys().chain(b.keys()) {
                    let (x, y) = (a.get(node).copied().unwrap_or(0), b.get(node).copied().unwrap_or(0));
                    less |= x < y;
                    more |= x > y;
                }
                match (less, more) {
                    (false, false) => Relation::Equal,
                    (true, false) => Relation::Before,
                    (false, true) => Relation::After,
                    (true, true) => Relation::Concurrent,
                }
            }
            // Timestamps are totally ordered; a timestamp against a vector only happens if
            // `versioning` differs between runs, never within one: order them arbitrarily.
            _ => match self.cmp(other) {
                Ordering::Less => Relation::Before,
                Ordering::Equal => Relation::Equal,
                Ordering::Greater => Relation::After,
            },
        }
    }

    /// The sum of a vector clock's entries (the timestamp for last-writer-wins): how many
    /// writes the version has seen, used to pick one sibling deterministically.
    pub fn weight(&self) -> u64 {
        match self {
            Clock::Timestamp { at_us, .. } => *at_us,
            Clock::Vector(v) => v.values().sum(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Version {
    pub value: String,
    pub clock: Clock,
    /// The coordinator that created this version.
    pub writer: NodeId,
}

impl Version {
    /// The order siblings are kept and shown in; the last one is the one a get reports.
    fn rank(&self) -> (u64, NodeId, &str, &Clock) {
        (self.clock.weight(), self.writer, &self.value, &self.clock)
    }
}

/// Merges `incoming` into a set of mutually concurrent versions: a version that an existing
/// one equals or descends from changes nothing; otherwise it replaces every version it
/// descends from and joins the rest as a sibling. Returns whether the set changed. The set is
/// kept sorted by `rank`, so two replicas holding the same versions hold the same list.
pub fn merge(set: &mut Vec<Version>, incoming: &Version) -> bool {
    if set.iter().any(|v| matches!(incoming.clock.compare(&v.clock), Relation::Before | Relation::Equal)) {
        return false;
    }
    set.retain(|v| incoming.clock.compare(&v.clock) != Relation::After);
    set.push(incoming.clone());
    set.sort_by(|a, b| a.rank().cmp(&b.rank()));
    true
}

pub fn merge_all(set: &mut Vec<Version>, incoming: &[Version]) -> bool {
    incoming.iter().fold(false, |changed, v| merge(set, v) | changed)
}

/// The one value a get records in the shared history when there are siblings: the one with
/// the highest (clock sum, writer id), then the greatest value, so that every run and every
/// coordinator picks the same. The client is also told how many siblings there were.
pub fn chosen(set: &[Version]) -> Option<&Version> {
    set.last()
}

/// Whether `newer` covers `older`: every version of `older` equals or precedes one of `newer`.
/// This is how a replica's versions of a key may change over time: they only grow.
pub fn covers(newer: &[Version], older: &[Version]) -> bool {
    older.iter().all(|o| newer.iter().any(|n| matches!(o.clock.compare(&n.clock), Relation::Before | Relation::Equal)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(value: &str, clock: &[(u16, u64)], writer: u16) -> Version {
        let clock = Clock::Vector(clock.iter().map(|(n, c)| (NodeId(*n), *c)).collect());
        Version { value: value.into(), clock, writer: NodeId(writer) }
    }

    #[test]
    fn concurrent_writes_become_siblings_and_a_descendant_replaces_them() {
        let mut set = Vec::new();
        assert!(merge(&mut set, &v("1", &[(0, 1)], 0)));
        assert!(merge(&mut set, &v("2", &[(0, 1), (1, 1)], 1)));
        assert_eq!(set.len(), 1, "a descendant replaces its ancestor");
        assert!(merge(&mut set, &v("3", &[(0, 2)], 0)));
        assert_eq!(set.len(), 2, "concurrent versions are siblings");
        assert!(!merge(&mut set, &v("1", &[(0, 1)], 0)), "an old version changes nothing");
        // Both have clock sum 2; the higher writer id (n2) wins the tie.
        assert_eq!(chosen(&set).map(|v| v.value.as_str()), Some("2"));
        assert!(merge(&mut set, &v("4", &[(0, 2), (1, 2)], 1)));
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn covers_is_the_growth_order() {
        let old = vec![v("1", &[(0, 1)], 0)];
        let new = vec![v("2", &[(0, 1), (1, 1)], 1)];
        assert!(covers(&new, &old));
        assert!(!covers(&old, &new));
    }
}
