//! NWR's structural safety properties, checked after every step of a run.
//!
//! - Home or Hint (Dynamo §4.3 and §4.6): a node stores a key as a replica only if it is one of
//!   the key's N home replicas, and keeps a hinted version only for a home replica of that key,
//!   itself not being one.
//! - Versions Only Grow (Dynamo §4.4): a replica's versions of a key never go backwards; every
//!   version it held is later still held, or replaced by one that descends from it (siblings
//!   are merged, never lost).
//!
//! "W + R > N gives linearizability" is deliberately not here: it does not hold in general (a
//! read can see a write in progress and a later read miss it; sloppy quorums and concurrent
//! writers break the overlap). The tests show which cases hold and which do not.

use super::{Nwr, NwrDurable, ring, version};
use crate::sim::protocol::{InvariantInfo, Invariants, NodeRef, Violation};
use crate::sim::time::Time;
use std::collections::BTreeMap;

const HOME_OR_HINT: &str = "Home or Hint";
const VERSIONS_ONLY_GROW: &str = "Versions Only Grow";

static LIST: [InvariantInfo; 2] = [
    InvariantInfo {
        name: HOME_OR_HINT,
        source: "Dynamo §4.3, §4.6",
        statement: "a node stores a key only if it is one of the key's N home replicas, and holds a hint only for a home replica of the key while not being one itself",
    },
    InvariantInfo {
        name: VERSIONS_ONLY_GROW,
        source: "Dynamo §4.4",
        statement: "a replica's versions of a key never go backwards: each is kept or replaced by a version that descends from it",
    },
];

type Store = BTreeMap<String, Vec<version::Version>>;

#[derive(Clone, Debug, Default)]
pub struct NwrInvariants {
    /// Per node: its change counter and store at the last check.
    seen: Vec<Option<(u64, Store)>>,
}

impl Invariants<Nwr> for NwrInvariants {
    fn list() -> &'static [InvariantInfo] {
        &LIST
    }

    fn check(&mut self, nodes: &[NodeRef<'_, Nwr>], _now: Time, out: &mut Vec<Violation>) {
        if self.seen.len() < nodes.len() {
            self.seen.resize(nodes.len(), None);
        }
        for node in nodes {
            let (changes, store) = match (node.live, node.durable) {
                (Some(p), _) => {
                    home_or_hint(p, out);
                    (p.changes, &p.store)
                }
                (None, Some(NwrDurable { changes, store, .. })) => (*changes, store),
                (None, None) => continue,
            };
            let seen = &mut self.seen[node.id.index()];
            if seen.as_ref().is_some_and(|(c, _)| *c == changes) {
                continue;
            }
            if let Some((_, old)) = seen.as_ref() {
                for (key, before) in old {
                    let now = store.get(key).map_or(&[][..], Vec::as_slice);
                    if !version::covers(now, before) {
                        out.push(Violation {
                            invariant: VERSIONS_ONLY_GROW,
                            detail: format!("{} held {before:?} of {key}, now {now:?}", node.id),
                        });
                    }
                }
            }
            *seen = Some((changes, store.clone()));
        }
    }
}

fn home_or_hint(p: &Nwr, out: &mut Vec<Violation>) {
    for key in p.store.keys() {
        let home = ring::home(key, p.nodes, p.params.n);
        if !home.contains(&p.id) {
            out.push(Violation {
                invariant: HOME_OR_HINT,
                detail: format!("{} stores {key} but its home replicas are {home:?}", p.id),
            });
        }
    }
    for (intended, key) in p.hints.keys() {
        let home = ring::home(key, p.nodes, p.params.n);
        if !home.contains(intended) || home.contains(&p.id) {
            out.push(Violation {
                invariant: HOME_OR_HINT,
                detail: format!("{} holds a hint of {key} for {intended}; the home replicas are {home:?}", p.id),
            });
        }
    }
}
