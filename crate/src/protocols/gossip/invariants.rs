//! Gossip's safety properties, checked after every step on the nodes that step touched (the
//! checker is `LOCAL`: at 10,000 nodes it must not look at all of them each step).
//!
//! - Validity (Demers §1: a site's database holds only updates that were made): a node holds a
//!   value for a key only with the version a client's put (or the origin) gave that value.
//! - Unique Versions (last writer wins needs a total order of writes): no two updates ever share
//!   a key and a version. Together with Validity this gives *LWW agreement*: two nodes that hold
//!   the same version of a key hold the same value.
//! - Monotonic Versions (Demers §1.1, "the newer value is kept"): a node's version of a key
//!   never goes back, across crashes too (the store is durable).
//!
//! The checker keeps every update ever created (read from each creator's list of created
//! updates when that node is touched, which is when it creates one) and, per node, the versions
//! it last saw there. Each check costs the size of the touched nodes' stores.

use super::Gossip;
use super::messages::Version;
use crate::sim::ids::NodeId;
use crate::sim::protocol::{InvariantInfo, Invariants, NodeRef, Violation};
use crate::sim::time::Time;
use std::collections::BTreeMap;

pub const VALIDITY: &str = "Validity";
pub const UNIQUE_VERSIONS: &str = "Unique Versions";
pub const MONOTONIC_VERSIONS: &str = "Monotonic Versions";

static LIST: [InvariantInfo; 3] = [
    InvariantInfo {
        name: VALIDITY,
        source: "Demers et al. 1987 §1",
        statement: "a node holds a value only with the version its client's put (or the origin) gave it",
    },
    InvariantInfo {
        name: UNIQUE_VERSIONS,
        source: "Demers et al. 1987 §1 (timestamps order updates)",
        statement: "no two updates share a key and a version, so nodes with the same version of a key hold the same value",
    },
    InvariantInfo {
        name: MONOTONIC_VERSIONS,
        source: "Demers et al. 1987 §1.1",
        statement: "a node's version of a key never goes back, across crashes too",
    },
];

#[derive(Clone, Debug, Default)]
pub struct GossipInvariants {
    /// Every update created: (key, version) → value.
    written: BTreeMap<(String, Version), String>,
    /// Per node, how many of its created updates have been read.
    read: Vec<usize>,
    /// Per node, the version it held of each key when last seen.
    seen: Vec<Vec<(String, Version)>>,
}

impl Invariants<Gossip> for GossipInvariants {
    const LOCAL: bool = true;

    fn list() -> &'static [InvariantInfo] {
        &LIST
    }

    fn check(&mut self, nodes: &[NodeRef<'_, Gossip>], _now: Time, out: &mut Vec<Violation>) {
        // Creations first: a node may learn, in the same step, an update created in it.
        for r in nodes {
            if let Some(node) = r.live {
                self.absorb_created(r.id, node, out);
            }
        }
        for r in nodes {
            if let Some(node) = r.live {
                self.check_store(r.id, node, out);
            }
        }
    }
}

impl GossipInvariants {
    fn slot<T: Default + Clone>(v: &mut Vec<T>, id: NodeId) -> &mut T {
        let i = id.index();
        if v.len() <= i {
            v.resize(i + 1, T::default());
        }
        &mut v[i]
    }

    fn absorb_created(&mut self, id: NodeId, node: &Gossip, out: &mut Vec<Violation>) {
        let from = *Self::slot(&mut self.read, id);
        for u in node.created().get(from..).unwrap_or_default() {
            match self.written.get(&(u.key.clone(), u.version)) {
                Some(v) if *v != u.value => out.push(Violation {
                    invariant: UNIQUE_VERSIONS,
                    detail: format!("{} and {} were both written to {} with version {}", v, u.value, u.key, u.version),
                }),
                Some(_) => {}
                None => {
                    self.written.insert((u.key.clone(), u.version), u.value.clone());
                }
            }
        }
        *Self::slot(&mut self.read, id) = node.created().len();
    }

    fn check_store(&mut self, id: NodeId, node: &Gossip, out: &mut Vec<Violation>) {
        for (key, e) in node.store() {
            match self.written.get(&(key.clone(), e.version)) {
                Some(v) if *v == e.value => {}
                Some(v) => out.push(Violation {
                    invariant: VALIDITY,
                    detail: format!("{id} holds {key}={} with version {}, which wrote {v}", e.value, e.version),
                }),
                None => out.push(Violation {
                    invariant: VALIDITY,
                    detail: format!("{id} holds {key}={} with version {}, which nobody wrote", e.value, e.version),
                }),
            }
        }
        let seen = Self::slot(&mut self.seen, id);
        for (key, e) in node.store() {
            match seen.iter_mut().find(|(k, _)| k == key) {
                Some((_, before)) => {
                    if e.version < *before {
                        out.push(Violation {
                            invariant: MONOTONIC_VERSIONS,
                            detail: format!("{id}'s version of {key} went back from {before} to {}", e.version),
                        });
                    }
                    *before = e.version;
                }
                None => seen.push((key.clone(), e.version)),
            }
        }
        // A key that vanished from the store is a version gone back to nothing.
        if let Some((key, before)) = seen.iter().find(|(k, _)| !node.store().contains_key(k)) {
            out.push(Violation {
                invariant: MONOTONIC_VERSIONS,
                detail: format!("{id} lost its version {before} of {key}"),
            });
        }
    }
}
