//! The network between actors: one directed link for every ordered pair of actors (nodes and
//! clients alike, so a partition can strand a client with a minority). A link is up or cut;
//! all links share the latency range and the drop and duplicate rates, which faults change.
//! The verbs follow turmoil's: `partition`, `cut`, `restore`, `heal`.

use super::ids::ActorId;
use super::rng::{PPM, SimRng};
use super::time::Micros;
use serde::Serialize;
use std::collections::BTreeMap;

/// Delay and loss applied to every message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LinkProfile {
    pub latency_min_us: Micros,
    pub latency_max_us: Micros,
    pub drop_ppm: u32,
    pub duplicate_ppm: u32,
}

impl Default for LinkProfile {
    fn default() -> Self {
        LinkProfile { latency_min_us: 5_000, latency_max_us: 15_000, drop_ppm: 0, duplicate_ppm: 0 }
    }
}

/// What the network decided to do with one message at send time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transit {
    /// Delivered once after the given delay, and again after the second delay if duplicated.
    Deliver {
        delay: Micros,
        duplicate: Option<Micros>,
    },
    Cut,
    Lost,
}

#[derive(Clone, Debug)]
pub struct Network {
    nodes: usize,
    actors: usize,
    /// The last partition: each actor's group, 0 for an actor in no group (it keeps every
    /// link). Two actors in different non-zero groups are cut from each other. Kept per actor
    /// rather than as an actors × actors matrix, so that 10,000 nodes cost 10,000 entries and
    /// a snapshot of the simulation stays small.
    group: Vec<u32>,
    /// Links set one by one since (cut, restored, isolated), where they differ from what the
    /// partition says: `(from, to) → up`.
    overrides: BTreeMap<(u32, u32), bool>,
    pub profile: LinkProfile,
}

impl Network {
    pub fn new(nodes: usize, clients: usize, profile: LinkProfile) -> Self {
        let actors = nodes + clients;
        Network { nodes, actors, group: vec![0; actors], overrides: BTreeMap::new(), profile }
    }

    fn slot(&self, a: ActorId) -> usize {
        match a {
            ActorId::Node(n) => n.index(),
            ActorId::Client(c) => self.nodes + c.index(),
        }
    }

    /// What the partition alone says of the link `a → b` (slots).
    fn base(&self, a: usize, b: usize) -> bool {
        let (ga, gb) = (self.group[a], self.group[b]);
        ga == 0 || gb == 0 || ga == gb
    }

    pub fn is_up(&self, from: ActorId, to: ActorId) -> bool {
        let (a, b) = (self.slot(from), self.slot(to));
        if a >= self.actors || b >= self.actors {
            return false;
        }
        match self.overrides.get(&(a as u32, b as u32)) {
            Some(&up) => up,
            None => self.base(a, b),
        }
    }

    fn set(&mut self, from: ActorId, to: ActorId, up: bool) {
        let (a, b) = (self.slot(from), self.slot(to));
        if a >= self.actors || b >= self.actors {
            return;
        }
        if self.base(a, b) == up {
            self.overrides.remove(&(a as u32, b as u32));
        } else {
            self.overrides.insert((a as u32, b as u32), up);
        }
    }

    /// Cuts `a → b`, and `b → a` too unless `oneway`.
    pub fn cut(&mut self, a: ActorId, b: ActorId, oneway: bool) {
        self.set(a, b, false);
        if !oneway {
            self.set(b, a, false);
        }
    }

    pub fn restore(&mut self, a: ActorId, b: ActorId, oneway: bool) {
        self.set(a, b, true);
        if !oneway {
            self.set(b, a, true);
        }
    }

    /// Cuts every link of `a`, both ways.
    pub fn isolate(&mut self, a: ActorId, everyone: &[ActorId]) {
        for &b in everyone {
            if b != a {
                self.cut(a, b, false);
            }
        }
    }

    /// Heals everything, then cuts every link between actors in different groups. Actors named
    /// in no group keep all their links: they sit on every side.
    pub fn partition(&mut self, groups: &[Vec<ActorId>]) {
        self.heal();
        for (gi, g) in groups.iter().enumerate() {
            for &a in g {
                let i = self.slot(a);
                if let Some(slot) = self.group.get_mut(i) {
                    *slot = gi as u32 + 1;
                }
            }
        }
    }

    pub fn heal(&mut self) {
        self.group.iter_mut().for_each(|g| *g = 0);
        self.overrides.clear();
    }

    /// Number of links that are cut, counting each direction.
    pub fn cut_count(&self) -> usize {
        // Pairs in different groups, both in some group: all grouped pairs minus those within
        // one group.
        let mut sizes: BTreeMap<u32, usize> = BTreeMap::new();
        for &g in self.group.iter().filter(|g| **g != 0) {
            *sizes.entry(g).or_default() += 1;
        }
        let grouped: usize = sizes.values().sum();
        let within: usize = sizes.values().map(|s| s * s).sum();
        let mut cut = grouped * grouped - within;
        // An override differs from the partition's word by construction.
        for &up in self.overrides.values() {
            if up {
                cut -= 1;
            } else {
                cut += 1;
            }
        }
        cut
    }

    /// Decides the fate of one message. Draws from the rng in a fixed order (loss, delay,
    /// duplicate, duplicate delay) so that runs stay reproducible.
    pub fn transit(&self, from: ActorId, to: ActorId, rng: &mut SimRng) -> Transit {
        if !self.is_up(from, to) {
            return Transit::Cut;
        }
        let p = &self.profile;
        if p.drop_ppm > 0 && rng.chance(p.drop_ppm) {
            return Transit::Lost;
        }
        let delay = rng.between(p.latency_min_us, p.latency_max_us);
        let duplicate = if p.duplicate_ppm > 0 && rng.chance(p.duplicate_ppm) {
            Some(rng.between(p.latency_min_us, p.latency_max_us))
        } else {
            None
        };
        Transit::Deliver { delay, duplicate }
    }
}

/// Checks a probability in parts per million.
pub fn valid_ppm(ppm: u32) -> bool {
    ppm <= PPM
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::ids::{ClientId, NodeId};

    fn n(i: u16) -> ActorId {
        ActorId::Node(NodeId(i))
    }

    #[test]
    fn partition_cuts_across_groups_only() {
        let mut net = Network::new(5, 1, LinkProfile::default());
        net.partition(&[vec![n(0), n(1)], vec![n(2), n(3), n(4)]]);
        assert!(net.is_up(n(0), n(1)));
        assert!(!net.is_up(n(0), n(2)));
        assert!(!net.is_up(n(4), n(1)));
        // The client is in no group: it still reaches both sides.
        let c = ActorId::Client(ClientId(0));
        assert!(net.is_up(c, n(0)) && net.is_up(n(4), c));
        assert_eq!(net.cut_count(), 12);
        // A link restored across the partition is up; one cut inside a group is down.
        net.restore(n(0), n(2), true);
        net.cut(n(2), n(3), false);
        assert!(net.is_up(n(0), n(2)) && !net.is_up(n(2), n(0)));
        assert!(!net.is_up(n(2), n(3)) && !net.is_up(n(3), n(2)));
        assert_eq!(net.cut_count(), 13);
        net.heal();
        assert_eq!(net.cut_count(), 0);
    }

    #[test]
    fn oneway_cut_has_a_direction() {
        let mut net = Network::new(3, 0, LinkProfile::default());
        net.cut(n(0), n(1), true);
        assert!(!net.is_up(n(0), n(1)));
        assert!(net.is_up(n(1), n(0)));
        let mut rng = SimRng::new(1);
        assert_eq!(net.transit(n(0), n(1), &mut rng), Transit::Cut);
        assert!(matches!(net.transit(n(1), n(0), &mut rng), Transit::Deliver { .. }));
    }
}
