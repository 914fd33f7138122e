//! # NWR: a Dynamo-style quorum key-value store
//!
//! Dynamo (DeCandia et al., "Dynamo: Amazon's Highly Available Key-value Store", SOSP 2007)
//! gives up consensus for availability. Each key lives on N replicas, its *preference list*:
//! the first N nodes met walking clockwise round a consistent-hash ring from the key's hash
//! (§4.2, `ring.rs`). Any node may *coordinate* a client's request. A put is sent to the N
//! replicas and answered once W of them acknowledge it; a get asks them and answers once R have
//! replied, with the newest version (§4.5). With W + R > N every read quorum meets every write
//! quorum, which is the famous rule of thumb; it is not linearizability (a read can see a write
//! that is still in progress, and a later read miss it; concurrent writers and sloppy quorums
//! break the overlap altogether). The tests in `crate/tests/nwr.rs` show which cases hold.
//!
//! **Versions** (§4.4, `version.rs`). With `versioning: "vector"` each version carries a
//! vector clock. A put first reads its *context* from R replicas (Dynamo takes it from the
//! client's earlier get; our clients carry none, so the coordinator fetches it), then writes a
//! clock that descends from every version it read, its own entry advanced. A replica keeps every
//! version no other one descends from: two writes that did not see each other become
//! *siblings*, and a get returns all of them. The shared history records one value per read, so
//! a get with siblings reports the sibling with the highest (clock sum, writer id), then the
//! greatest value; the client's reply, the node view and the inspector show them all. With
//! `versioning: "lww"` the version is the coordinator's virtual time, its id and a counter,
//! which orders every pair: no siblings, and of two concurrent writes one silently disappears.
//! A put under LWW needs no context read.
//!
//! **Read repair** (§4.5): once a get has its R replies, every replica that answered with less
//! than the merged set (then or later, until the coordination times out) is sent the merged
//! set.
//!
//! **Sloppy quorum and hinted handoff** (§4.6). In `mode: "strict"` only the N home replicas
//! count toward W and R, so a partition that hides too many of them makes the key unavailable.
//! In `mode: "sloppy"`, a home replica that has not answered within `sloppy_after_ms` gets a
//! stand-in: the next node along the ring, sent the request with a *hint* naming the home
//! replica, and its answer counts. The stand-in keeps hinted versions apart from its own and,
//! at every anti-entropy beat, offers them to the home replica (`Handoff`); once acknowledged it
//! drops them. Hints are durable, like Dynamo's separate local database of hinted replicas: a
//! write acknowledged by a stand-in may be the only copy, and a crash must not lose it.
//!
//! **Anti-entropy** (§4.7). Dynamo compares Merkle trees; here, every `anti_entropy_ms` each
//! node sends another node, in turn, every version of the keys both are home for (`Sync`); the
//! receiver merges them and answers with what the sender lacked. After a heal, replicas
//! converge even for keys no one reads.
//!
//! **Outcomes.** A coordinator that does not gather its quorum within
//! `coordinator_timeout_ms` answers a get with `Rejected` (a read changes nothing), and a put
//! with `Rejected` only while it is still reading its context, before any replica was sent the
//! write. Once the write is on its way it may be stored anywhere, so the answer is `Uncertain`
//! and the client records `unknown` unless a later attempt succeeds.
//!
//! **Live settings** (the `configure` action, e.g. `{"action": "configure", "params": {"w": 3}}`).
//! N, W, R, the mode and the three timings can change while the store runs; the change reaches
//! every node at the same instant (a crashed node takes it when it restarts). A request already
//! being coordinated finishes under the quorum and mode it began with; requests that arrive
//! afterwards use the new ones. W and R only change how many answers a coordinator waits for.
//! The mode changes whether stand-ins are asked; hints already held are still handed back.
//! Changing N moves preference lists: they are prefixes of the same walk round the ring, so a
//! larger N adds replicas that hold nothing yet (reads that reach them see nothing there until
//! read repair or anti-entropy fills them in), and a smaller N takes the last replicas off each
//! list: such a node turns its copy of the key into hints for the new home replicas and hands
//! them back at its next beats, as a stand-in would (a hint for a replica that is now home is
//! taken into its store; a message sent under the old N lands the same way). Until that is
//! done, a write acknowledged under the old N may sit only on nodes the new lists no longer
//! ask, so W + R > N does not yet promise that a read meets it: the quorum that matters is the
//! one each write was acknowledged under. `versioning` cannot change: versions already stored
//! could not be ordered against versions of the other kind.
//!
//! Durable: the stored versions, the hints, the write counter. Volatile: coordinations in
//! progress and the answers kept for retried requests.
//!
//! The registry's `settled` check for NWR is convergence (`converged`): after a heal, every
//! running home replica of every key holds the same versions. `caplab fuzz nwr` also demands a
//! linearizable history, which an AP store does not promise, so it reports failures by design;
//! `crate/tests/nwr.rs` runs the same random fault schedules with NWR's own demands.

mod invariants;
pub mod messages;
mod node;
pub mod ring;
pub mod version;

pub use invariants::NwrInvariants;
pub use messages::{NwrMsg, NwrTimer};
use version::Version;

use crate::sim::dynamic::Simulation;
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::{Ctx, NodeStatus, NodeView, Protocol};
use crate::workload::op::{Reply, Request};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Only the N home replicas count toward W and R.
    Strict,
    /// Stand-ins further along the ring answer for home replicas that do not (§4.6).
    Sloppy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Versioning {
    Lww,
    Vector,
}

/// The `params` of an NWR scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NwrParams {
    /// Replicas per key.
    pub n: u16,
    /// Acknowledgements a put waits for.
    pub w: u16,
    /// Replies a get waits for.
    pub r: u16,
    pub mode: Mode,
    pub versioning: Versioning,
    /// How long a coordinator waits for its quorum before it answers that it could not.
    pub coordinator_timeout_ms: u64,
    /// Sloppy mode: how long a home replica has to answer before a stand-in is asked.
    pub sloppy_after_ms: u64,
    /// The beat of anti-entropy and hinted handoff.
    pub anti_entropy_ms: u64,
}

impl Default for NwrParams {
    fn default() -> Self {
        NwrParams {
            n: 3,
            w: 2,
            r: 2,
            mode: Mode::Strict,
            versioning: Versioning::Vector,
            coordinator_timeout_ms: 300,
            sloppy_after_ms: 50,
            anti_entropy_ms: 500,
        }
    }
}

impl NwrParams {
    /// The part of validation that needs the cluster size, which `validate` does not get: the
    /// registry calls it when it builds the simulation.
    pub fn check_cluster(&self, nodes: u16) -> Result<(), String> {
        if self.n > nodes {
            return Err(format!("n {} is more replicas than the cluster has nodes ({nodes})", self.n));
        }
        Ok(())
    }
}

/// The parameters a node runs with: the scenario's, fitted to the cluster (the registry refuses
/// n > nodes; a cluster resized under a scenario keeps working).
fn fitted(params: &NwrParams, nodes: u16) -> NwrParams {
    let mut params = params.clone();
    params.n = params.n.min(nodes).max(1);
    params.w = params.w.min(params.n);
    params.r = params.r.min(params.n);
    params
}

/// The `configure` action's merge: every named field must be one of `NwrParams`'s.
fn reconfigure(
    current: &NwrParams,
    change: &serde_json::Map<String, serde_json::Value>,
    nodes: u16,
) -> Result<NwrParams, String> {
    let next: NwrParams = crate::sim::protocol::merge_params("nwr", current, change)?;
    if next.versioning != current.versioning {
        return Err(format!(
            "versioning cannot change while the store runs: the versions it holds ({}) could not be ordered against the other kind",
            if current.versioning == Versioning::Lww { "last-writer-wins timestamps" } else { "vector clocks" }
        ));
    }
    <Nwr as Protocol>::validate(&next)?;
    next.check_cluster(nodes)?;
    Ok(next)
}

/// Fuzz runs cover both modes, both kinds of versions and every valid N, W, R up to N = 3.
pub fn fuzz_params(rng: &mut crate::sim::rng::SimRng) -> serde_json::Value {
    let n = rng.between(1, 3);
    let w = rng.between(1, n);
    let r = rng.between(1, n);
    let mode = if rng.chance(500_000) { "sloppy" } else { "strict" };
    let versioning = if rng.chance(500_000) { "lww" } else { "vector" };
    serde_json::json!({ "n": n, "w": w, "r": r, "mode": mode, "versioning": versioning })
}

/// A client request this node coordinates.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Coordination {
    pub client: ClientId,
    pub seq: u64,
    pub key: String,
    /// `None` for a get; the value for a put.
    pub put: Option<String>,
    /// The quorum sizes and mode this request began under: a `configure` while it is in
    /// progress changes only the requests that come after it.
    pub r: u16,
    pub w: u16,
    pub mode: Mode,
    pub phase: Phase,
    /// Who was asked in this coordination, and for whom (`Some(home)`: a stand-in).
    pub asked: Vec<(NodeId, Option<NodeId>)>,
    /// Who answered in the current phase.
    pub answered: Vec<NodeId>,
    /// Read replies: who and what.
    pub replies: Vec<(NodeId, Vec<Version>)>,
    /// A get's merged result, kept to repair late repliers.
    pub merged: Vec<Version>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Phase {
    /// Gathering R replies (a get, or a put's context).
    Reading,
    /// Gathering W acknowledgements.
    Writing,
    /// Answered; kept until the timeout to repair replicas that answer late.
    Done,
}

/// What survives a crash.
#[derive(Clone, Debug, Default)]
pub struct NwrDurable {
    pub store: BTreeMap<String, Vec<Version>>,
    /// (home replica, key) → versions kept for it.
    pub hints: BTreeMap<(NodeId, String), Vec<Version>>,
    pub counter: u64,
    /// Bumped whenever `store` changes, so the invariant checker re-reads only changed nodes.
    pub changes: u64,
}

#[derive(Clone, Debug)]
pub struct Nwr {
    pub(crate) id: NodeId,
    pub(crate) nodes: u16,
    pub(crate) params: NwrParams,
    // Durable.
    pub(crate) store: BTreeMap<String, Vec<Version>>,
    pub(crate) hints: BTreeMap<(NodeId, String), Vec<Version>>,
    pub(crate) counter: u64,
    pub(crate) changes: u64,
    // Volatile.
    pub(crate) next_id: u64,
    pub(crate) pending: BTreeMap<u64, Coordination>,
    /// client → (seq, answer) of the last request it coordinated for that client.
    pub(crate) sessions: BTreeMap<ClientId, (u64, Reply)>,
    pub(crate) sync_round: u64,
}

impl Protocol for Nwr {
    const NAME: &'static str = "nwr";
    type Msg = NwrMsg;
    type Timer = NwrTimer;
    type Durable = NwrDurable;
    type Params = NwrParams;
    type Invariants = NwrInvariants;

    fn validate(p: &NwrParams) -> Result<(), String> {
        if p.n == 0 {
            return Err("n must be at least 1".into());
        }
        if p.w == 0 || p.w > p.n || p.r == 0 || p.r > p.n {
            return Err(format!("w {} and r {} must each be from 1 to n ({})", p.w, p.r, p.n));
        }
        crate::sim::protocol::check_timings(&[
            ("coordinator_timeout_ms", p.coordinator_timeout_ms),
            ("sloppy_after_ms", p.sloppy_after_ms),
            ("anti_entropy_ms", p.anti_entropy_ms),
        ])?;
        Ok(())
    }

    fn start(id: NodeId, nodes: u16, params: &NwrParams, durable: Option<NwrDurable>, ctx: &mut Ctx<'_, Self>) -> Self {
        let d = durable.unwrap_or_default();
        let params = fitted(params, nodes);
        let first = ctx.rng().between(1, params.anti_entropy_ms * 1000);
        ctx.set_timer(first, NwrTimer::AntiEntropy);
        let mut node = Nwr {
            id,
            nodes,
            params,
            store: d.store,
            hints: d.hints,
            counter: d.counter,
            changes: d.changes,
            next_id: 1,
            pending: BTreeMap::new(),
            sessions: BTreeMap::new(),
            sync_round: id.0 as u64,
        };
        // A node restarting after a change of N holds keys under the old preference lists.
        node.rehome(ctx);
        node
    }

    fn on_message(&mut self, from: NodeId, msg: NwrMsg, ctx: &mut Ctx<'_, Self>) {
        self.handle(from, msg, ctx);
    }

    fn on_timer(&mut self, timer: NwrTimer, ctx: &mut Ctx<'_, Self>) {
        match timer {
            NwrTimer::CoordinatorTimeout { id } => self.coordinator_timeout(id, ctx),
            NwrTimer::Sloppy { id } => self.ask_stand_ins(id, ctx),
            NwrTimer::AntiEntropy => self.anti_entropy(ctx),
        }
    }

    fn on_request(&mut self, client: ClientId, request: Request, ctx: &mut Ctx<'_, Self>) {
        // A coordinator has no client sessions: a request that arrives after its client gave
        // up (it was held at this node while paused) would be coordinated as a new write with
        // a fresh version, above the writes the client made since. It is dropped unanswered.
        if ctx.now().0 > request.deadline_us {
            return;
        }
        self.client_request(client, request, ctx);
    }

    fn on_timeout_now(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.anti_entropy(ctx);
    }

    fn reconfigure(
        current: &NwrParams,
        change: &serde_json::Map<String, serde_json::Value>,
        nodes: u16,
    ) -> Result<NwrParams, String> {
        reconfigure(current, change, nodes)
    }

    fn on_configure(&mut self, params: &NwrParams, ctx: &mut Ctx<'_, Self>) {
        let old = std::mem::replace(&mut self.params, fitted(params, self.nodes));
        if old.anti_entropy_ms != self.params.anti_entropy_ms {
            // A new beat starts now, at a random phase as at start, so that a much shorter
            // beat does not wait for the end of a long one.
            let first = ctx.rng().between(1, self.params.anti_entropy_ms * 1000);
            ctx.set_timer(first, NwrTimer::AntiEntropy);
        }
        if old.n != self.params.n {
            self.rehome(ctx);
        }
    }

    fn durable(&self) -> NwrDurable {
        NwrDurable {
            store: self.store.clone(),
            hints: self.hints.clone(),
            counter: self.counter,
            changes: self.changes,
        }
    }

    fn status(&self) -> NodeStatus {
        NodeStatus { role: "replica", term: 0 }
    }

    fn view(&self) -> NodeView {
        store_view("replica", &self.store)
    }

    fn durable_view(d: &NwrDurable) -> NodeView {
        store_view("crashed", &d.store)
    }

    fn inspect(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .store
            .iter()
            .map(|(k, vs)| {
                serde_json::json!({
                    "key": k,
                    "home": ring::home(k, self.nodes, self.params.n),
                    "siblings": vs.len(),
                    "versions": vs,
                })
            })
            .collect();
        let hints: Vec<serde_json::Value> = self
            .hints
            .iter()
            .map(|((h, k), vs)| {
                serde_json::json!({ "for": h, "key": k, "home": ring::home(k, self.nodes, self.params.n), "versions": vs })
            })
            .collect();
        let pending: Vec<serde_json::Value> =
            self.pending.iter().map(|(id, c)| serde_json::json!({ "id": id, "coordination": c })).collect();
        serde_json::json!({
            "role": "replica",
            "params": self.params,
            "keys": keys,
            "hints": hints,
            "write_counter": self.counter,
            "coordinating": pending,
        })
    }
}

/// NWR has no log. The view's store shows each key's siblings joined by " | ", and its
/// `log_terms` holds, per stored key in key order, how many siblings the replica keeps, so the
/// page and a scenario's `node` expectation can see them.
fn store_view(role: &str, store: &BTreeMap<String, Vec<Version>>) -> NodeView {
    NodeView {
        role: role.to_string(),
        term: 0,
        leader: None,
        log_terms: store.values().map(|vs| vs.len() as u64).collect(),
        commit_index: 0,
        store: store
            .iter()
            .map(|(k, vs)| (k.clone(), vs.iter().map(|v| v.value.as_str()).collect::<Vec<_>>().join(" | ")))
            .collect(),
        ..NodeView::default()
    }
}

/// The fuzzer's `settled` check: every running home replica of every key holds the same
/// versions, and no stand-in still holds a hint for a running home replica.
pub fn converged(sim: &dyn Simulation) -> Result<(), String> {
    let views = sim.node_views();
    let up = |n: &serde_json::Value| {
        n.as_str().and_then(|s| views.iter().find(|v| v.id == s)).is_some_and(|v| v.role != "crashed")
    };
    let mut states = Vec::new();
    for (i, v) in views.iter().enumerate() {
        if v.role != "crashed" {
            states.push((v.id.clone(), sim.inspect(NodeId(i as u16))?["state"].clone()));
        }
    }
    // key → home list, from every key or hint anyone holds.
    let mut homes: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for (id, s) in &states {
        for hint in s["hints"].as_array().into_iter().flatten() {
            if up(&hint["for"]) {
                return Err(format!("{id} still holds a hint for {} on key {}", hint["for"], hint["key"]));
            }
            homes.insert(hint["key"].as_str().unwrap_or_default().to_string(), hint["home"].clone());
        }
        for k in s["keys"].as_array().into_iter().flatten() {
            homes.insert(k["key"].as_str().unwrap_or_default().to_string(), k["home"].clone());
        }
    }
    for (key, home) in homes {
        let mut seen: Option<(String, serde_json::Value)> = None;
        for h in home.as_array().into_iter().flatten().filter(|h| up(h)) {
            let Some((id, s)) = states.iter().find(|(id, _)| Some(id.as_str()) == h.as_str()) else { continue };
            let versions = s["keys"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|k| k["key"] == key.as_str())
                .map_or(serde_json::Value::Null, |k| k["versions"].clone());
            match &seen {
                None => seen = Some((id.clone(), versions)),
                Some((other, v)) if *v != versions => {
                    return Err(format!("{id} and {other} hold different versions of {key}: {versions} vs {v}"));
                }
                _ => {}
            }
        }
    }
    Ok(())
}
