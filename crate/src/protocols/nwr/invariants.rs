//! NWR's structural safety properties, checked after every step of a run.
//!
//! - Home or Hint (Dynamo §4.3 and §4.6): a node stores a key as a replica only if it is one of
//!   the key's N home replicas, and keeps a hinted version only for a home replica of that key,
//!   itself not being one.
//! - Versions Only Grow (Dynamo §4.4): a replica's versions of a key never go backwards; every
//!   version it held is later still held, or replaced by one that descends from it (siblings
//!   are merged, never lost). One way out: when a change of N takes the node off the key's
//!   preference list, its versions leave the store as hints for the new home replicas (they
//!   must cover what the store held), to be handed back like any hint.
//!
//! Both are statements about the parameters of the moment, so they stay true across a
//! `configure`: a change of N re-homes keys and hints at the same step (`Nwr::rehome`).
//!
//! "W + R > N gives linearizability" is deliberately not here: it does not hold in general (a
//! read can see a write in progress and a later read miss it; sloppy quorums and concurrent
//! writers break the overlap), and after a `configure` the overlap that matters is between a
//! read's quorum and the quorum each write was acknowledged under, not the current N, W, R.
//! `crate/tests/nwr_quorums.rs` shows which cases hold and which do not.

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
            let (changes, store, hints, live) = match (node.live, node.durable) {
                (Some(p), _) => {
                    home_or_hint(p, out);
                    (p.changes, &p.store, &p.hints, Some(p))
                }
                (None, Some(NwrDurable { changes, store, hints, .. })) => (*changes, store, hints, None),
                (None, None) => continue,
            };
            let seen = &mut self.seen[node.id.index()];
            if seen.as_ref().is_some_and(|(c, _)| *c == changes) {
                continue;
            }
            if let Some((_, old)) = seen.as_ref() {
                for (key, before) in old {
                    let now = store.get(key).map_or(&[][..], Vec::as_slice);
                    // Re-homed after a change of N: the node is not home any more and keeps
                    // what it held as hints.
                    let rehomed = live.is_some_and(|p| !ring::home(key, p.nodes, p.params.n).contains(&p.id))
                        && !store.contains_key(key)
                        && hints.iter().filter(|((_, k), _)| k == key).any(|(_, vs)| version::covers(vs, before));
                    if !version::covers(now, before) && !rehomed {
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
