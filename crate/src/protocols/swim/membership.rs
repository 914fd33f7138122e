//! One node's membership table and the precedence rules of SWIM §4.2.
//!
//! Every node knows the initial membership, so a member it has heard nothing about is alive at
//! incarnation 0. Only the members that differ from that are stored: at 10,000 nodes a full
//! table per node would be 10^8 entries, while in a steady cluster almost every entry is the
//! default. Counts of suspect and dead members are kept as the table changes, so the view
//! summary costs nothing.

use super::messages::{State, Update};
use crate::sim::ids::NodeId;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub state: State,
    pub incarnation: u64,
    /// When this node's belief last changed (0 for the initial one).
    pub since_us: u64,
}

const DEFAULT: Entry = Entry { state: State::Alive, incarnation: 0, since_us: 0 };

/// Whether an update `new` takes the place of what a node believes, `old` (§4.2):
///
/// - `Alive(i)` overrides `Suspect(j)` and `Alive(j)` iff i > j;
/// - `Suspect(i)` overrides `Alive(j)` iff i ≥ j, and `Suspect(j)` iff i > j;
/// - `Confirm(i)` (dead) overrides `Alive(j)` and `Suspect(j)` iff i ≥ j.
///
/// Two choices the paper leaves open, both memberlist's: a `Confirm` about an older
/// incarnation than the one believed is stale (the member refuted or restarted since; the
/// paper's `Confirm` carries no incarnation because a confirmed member can only come back
/// under a new identity), and `Alive(i)` overrides `Dead(j)` iff i > j, which is how a
/// restarted member, or one declared dead while cut off, is re-admitted. `Dead(i)` replaces
/// `Dead(j)` iff i > j, and a suspicion never revives a dead member.
pub fn overrides(new: (State, u64), old: (State, u64)) -> bool {
    let (i, j) = (new.1, old.1);
    match (new.0, old.0) {
        (State::Alive, _) => i > j,
        (State::Suspect, State::Alive) => i >= j,
        (State::Suspect, State::Suspect) => i > j,
        (State::Suspect, State::Dead) => false,
        (State::Dead, State::Dead) => i > j,
        (State::Dead, _) => i >= j,
    }
}

#[derive(Clone, Debug)]
pub struct Table {
    nodes: u16,
    entries: BTreeMap<NodeId, Entry>,
    suspect: u32,
    dead: u32,
}

impl Table {
    pub fn new(nodes: u16) -> Self {
        Table { nodes, entries: BTreeMap::new(), suspect: 0, dead: 0 }
    }

    pub fn nodes(&self) -> u16 {
        self.nodes
    }

    pub fn get(&self, m: NodeId) -> Entry {
        self.entries.get(&m).copied().unwrap_or(DEFAULT)
    }

    /// (alive, suspect, dead), the node itself counted alive.
    pub fn counts(&self) -> (u32, u32, u32) {
        let (s, d) = (self.suspect, self.dead);
        (u32::from(self.nodes).saturating_sub(s + d), s, d)
    }

    /// The stored entries: every member not alive at incarnation 0.
    pub fn entries(&self) -> impl Iterator<Item = (NodeId, &Entry)> {
        self.entries.iter().map(|(m, e)| (*m, e))
    }

    /// The members believed suspect or dead.
    pub fn not_alive(&self) -> impl Iterator<Item = (NodeId, &Entry)> {
        self.entries().filter(|(_, e)| e.state != State::Alive)
    }

    pub fn dead_count(&self) -> u32 {
        self.dead
    }

    /// Sets an entry, whatever it was (the caller has applied the rules), and returns the old.
    pub fn set(&mut self, m: NodeId, state: State, incarnation: u64, now_us: u64) -> Entry {
        let old = self.get(m);
        self.count(old.state, false);
        self.count(state, true);
        let since_us = if state == old.state { old.since_us } else { now_us };
        let new = Entry { state, incarnation, since_us };
        if new.state == State::Alive && new.incarnation == 0 {
            self.entries.remove(&m);
        } else {
            self.entries.insert(m, new);
        }
        old
    }

    fn count(&mut self, state: State, add: bool) {
        let c = match state {
            State::Alive => return,
            State::Suspect => &mut self.suspect,
            State::Dead => &mut self.dead,
        };
        if add {
            *c += 1;
        } else {
            *c = c.saturating_sub(1);
        }
    }

    /// The update describing this node's belief about `m`.
    pub fn update(&self, m: NodeId) -> Update {
        let e = self.get(m);
        Update { member: m, state: e.state, incarnation: e.incarnation }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use State::*;

    #[test]
    fn precedence_follows_section_4_2() {
        assert!(overrides((Alive, 2), (Suspect, 1)));
        assert!(!overrides((Alive, 1), (Suspect, 1)));
        assert!(overrides((Suspect, 1), (Alive, 1)));
        assert!(!overrides((Suspect, 0), (Alive, 1)));
        assert!(overrides((Suspect, 2), (Suspect, 1)));
        assert!(!overrides((Suspect, 1), (Suspect, 1)));
        assert!(overrides((Dead, 1), (Suspect, 1)));
        assert!(overrides((Dead, 1), (Alive, 1)));
        assert!(!overrides((Dead, 0), (Alive, 1)));
        assert!(!overrides((Suspect, 5), (Dead, 1)));
        assert!(overrides((Alive, 2), (Dead, 1)));
        assert!(!overrides((Alive, 1), (Dead, 1)));
    }

    #[test]
    fn counts_follow_the_entries() {
        let mut t = Table::new(5);
        t.set(NodeId(1), Suspect, 0, 10);
        t.set(NodeId(2), Dead, 0, 10);
        assert_eq!(t.counts(), (3, 1, 1));
        t.set(NodeId(1), Dead, 0, 20);
        assert_eq!(t.counts(), (3, 0, 2));
        t.set(NodeId(1), Alive, 1, 30);
        t.set(NodeId(2), Alive, 0, 30);
        assert_eq!(t.counts(), (5, 0, 0));
        assert_eq!(t.entries().count(), 1);
    }
}
