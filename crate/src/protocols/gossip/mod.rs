//! # Gossip: epidemic dissemination (rumor mongering and anti-entropy)
//!
//! Demers, Greene, Hauser, Irish, Larson, Shenker, Sturgis, Swinehart and Terry, "Epidemic
//! algorithms for replicated database maintenance" (PODC 1987; CSL-89-1) keep a replicated
//! key-value database consistent with no coordinator at all: every site now and then talks to
//! one other site picked at random. Two of their mechanisms run here.
//!
//! **Rumor mongering** (Demers §1.4, a "complex epidemic"). With respect to one update a site
//! is *susceptible* (does not know it), *infective* (knows it and spreads it: the update is
//! *hot*) or *removed* (knows it, no longer spreads it). A client's put creates an update at the
//! node it reaches, hot there. Every `period_ms` of virtual time, at its multiples, each node
//! gossips once with `fanout` peers drawn uniformly and independently among the other nodes
//! (every node knows the full membership):
//!
//! - `push`: an infective node sends its hot updates (`Push`). Only infective nodes have a
//!   round timer: a susceptible or removed node in push mode does nothing and costs no event,
//!   which is what lets 10,000 nodes run.
//! - `pull`: every node asks a peer (`Pull`, with a digest of what it holds) and the peer
//!   answers with the hot updates the asker lacks (`PullReply`).
//! - `push_pull`: both in one exchange (`PushPull`, `PushPullReply`).
//!
//! Rounds are synchronous: every node gossips at the same instants, so with a latency below
//! half the period a node informed in round r first spreads in round r + 1 (and a feedback
//! answer is back before the next round). That is the model of the theory below.
//!
//! *When to lose interest* (`stop`, Demers §1.4 variations 1 and 2). `rule: "none"` spreads
//! forever (the model of the theorems on rounds). `counter`: an update stops being hot after
//! `k` contacts that count; `coin`: after each contact that counts it stops with probability
//! 1/k. With `feedback: true` only an *unnecessary* contact counts, one with a node that already
//! knew the update (the receiver of a push says so in `Feedback`; for a pull the asker's digest
//! tells); with `feedback: false` (blind) every contact counts. A rumor that stops early leaves
//! a *residue*: a share of nodes that never hear it. Demers' Tables 1 and 2 give the residue and
//! the traffic for 1,000 sites (`theory.rs`).
//!
//! **Anti-entropy** (Demers §1.3, a "simple epidemic"). Every `anti_entropy_period_ms` each
//! node exchanges its whole database with one random peer, in the same `direction`: push sends
//! it, pull sends a digest and receives what is newer, push-pull does both. It always converges
//! but costs a full exchange each time. `mode: "both"` runs rumor mongering for speed and
//! anti-entropy as the backup that removes the residue (Demers §1.5). An update learned by
//! anti-entropy is stored but not made hot.
//!
//! **Versions and last writer wins.** An update's version is (creation time, node)
//! (`messages::Version`); a node keeps, per key, the update with the highest version and ignores
//! older ones, so all nodes that have seen the same updates hold the same value. A put at a
//! node that already holds a version of the key from its own future (another node's clock
//! instant) takes a time one microsecond past it, so a node's own write always wins there
//! (read-your-writes at the node). A get reads the local store: eventual consistency, nothing
//! more (`linearizable: false`).
//!
//! **Theory checked by `trials.rs`.** Push with fanout 1 informs all n nodes in
//! log2(n) + ln(n) + O(1) rounds (Frieze & Grimmett 1985, "The shortest-path problem for graphs
//! with random arc lengths"; Pittel 1987, "On spreading a rumor", SIAM J. Appl. Math. 47);
//! push-pull in log3(n) + O(log log n) rounds (Karp, Schindelhauer, Shenker & Vöcking 2000,
//! "Randomized rumor spreading", FOCS). `theory.rs` also holds the mean-field recurrence drawn
//! beside the measured curve, and Demers' Tables 1 and 2.
//!
//! **Crashes.** The store is durable (a database on disk), and so is the list of updates the
//! node created; which updates are hot and their counters are not: a restarted node spreads
//! nothing until it learns something new, and anti-entropy (if on) brings it up to date. A node
//! that was down while a rumor passed may stay uninformed in rumor-only mode: that is the
//! residue again.
//!
//! **Origin.** `origin: "n1"` plants one update (`rumor=hello`, version 0ms@n1) at that node at
//! time 0, hot, so a run needs no client.
//!
//! **Roles shown.** `infective` while the node has a hot update, `removed` once it knows some
//! update but spreads none, `susceptible` while its store is empty.

mod figures;
mod invariants;
pub mod messages;
mod node;
pub mod theory;
pub mod trials;

pub use figures::{figures, shades, tracked};
pub use invariants::GossipInvariants;
pub use messages::{GossipMsg, GossipTimer, Update, Version};

use crate::scenario::Scenario;
use crate::sim::dynamic::Simulation;
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::{Ctx, NodeRef, NodeStatus, NodeView, Protocol};
use crate::sim::rng::SimRng;
use crate::sim::time::Time;
use crate::workload::op::Request;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which mechanisms run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Rumor,
    AntiEntropy,
    Both,
}

impl Mode {
    pub fn rumors(self) -> bool {
        self != Mode::AntiEntropy
    }
    pub fn anti_entropy(self) -> bool {
        self != Mode::Rumor
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Push,
    Pull,
    PushPull,
}

impl Direction {
    pub fn pushes(self) -> bool {
        self != Direction::Pull
    }
    pub fn pulls(self) -> bool {
        self != Direction::Push
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopRule {
    #[default]
    None,
    Counter,
    Coin,
}

/// When an infective node loses interest in an update (Demers §1.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Stop {
    pub rule: StopRule,
    /// Count only contacts with nodes that already knew the update (false: every contact).
    pub feedback: bool,
    /// The counter's limit, or the coin's 1/k.
    pub k: u32,
}

impl Default for Stop {
    fn default() -> Self {
        Stop { rule: StopRule::None, feedback: true, k: 2 }
    }
}

/// The `params` of a gossip scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GossipParams {
    pub mode: Mode,
    pub direction: Direction,
    /// Peers contacted per round (drawn independently, as in the theory).
    pub fanout: u32,
    /// The length of a round: every node gossips at the multiples of it.
    pub period_ms: u64,
    pub stop: Stop,
    /// Anti-entropy exchanges happen at the multiples of this (modes `anti_entropy`, `both`).
    pub anti_entropy_period_ms: u64,
    /// A node that holds the update `rumor=hello` from time 0.
    pub origin: Option<NodeId>,
}

impl Default for GossipParams {
    fn default() -> Self {
        GossipParams {
            mode: Mode::Rumor,
            direction: Direction::Push,
            fanout: 1,
            period_ms: 200,
            stop: Stop::default(),
            anti_entropy_period_ms: 1000,
            origin: None,
        }
    }
}

/// The most peers one node contacts per round.
pub const MAX_FANOUT: u32 = 64;
/// The largest `k` of a stop rule.
pub const MAX_K: u32 = 1000;
/// The key and value the origin holds from time 0.
pub const ORIGIN_KEY: &str = "rumor";
pub const ORIGIN_VALUE: &str = "hello";
/// Above this many nodes a node notes only the updates it creates, not every one it learns.
pub const NOTE_LIMIT: u16 = 64;

/// Scenario-level checks that `validate` cannot make: the origin must be one of the nodes.
pub fn check_cluster(p: &GossipParams, s: &Scenario) -> Result<(), String> {
    match p.origin {
        Some(o) if o.0 >= s.nodes => Err(format!("origin {o} is not one of the {} nodes", s.nodes)),
        _ => Ok(()),
    }
}

/// Fuzz runs always keep anti-entropy on and a stop rule, so that a run settles: rumor
/// mongering alone may leave a residue (by design), and `rule: "none"` never stops spreading.
pub fn fuzz_params(rng: &mut SimRng) -> serde_json::Value {
    let mode = if rng.chance(500_000) { "both" } else { "anti_entropy" };
    let direction = ["push", "pull", "push_pull"][rng.index(3)];
    let rule = if rng.chance(500_000) { "counter" } else { "coin" };
    let feedback = rng.chance(500_000);
    // Short periods: the fuzzer's last writes come 2 s before it checks `settled`, and five
    // nodes need several exchanges to agree.
    let k = rng.between(1, 3);
    let fanout = rng.between(1, 2);
    let period = rng.between(30, 150);
    let ae = rng.between(50, 250);
    let origin = if rng.chance(500_000) { serde_json::json!("n1") } else { serde_json::Value::Null };
    serde_json::json!({
        "mode": mode, "direction": direction, "fanout": fanout, "period_ms": period,
        "stop": {"rule": rule, "feedback": feedback, "k": k},
        "anti_entropy_period_ms": ae, "origin": origin,
    })
}

/// How a node came to hold its version of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// A client's put at this node.
    Client,
    /// The origin's planted rumor.
    Origin,
    Rumor,
    AntiEntropy,
}

/// One key in a node's store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub value: String,
    pub version: Version,
    /// When this node took this version.
    pub learned_us: u64,
    pub via: Via,
    /// How many messages this node sent carrying this version (Demers' traffic).
    pub carried: u32,
}

/// An update the node is spreading, and how many counted contacts it has made for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Hot {
    pub key: String,
    pub version: Version,
    pub contacts: u32,
}

/// What survives a crash: the store and the updates the node created.
#[derive(Clone, Debug, Default)]
pub struct GossipDurable {
    pub store: BTreeMap<String, Entry>,
    pub created: Vec<Update>,
}

#[derive(Clone, Debug)]
pub struct Gossip {
    pub(crate) id: NodeId,
    pub(crate) nodes: u16,
    pub(crate) params: GossipParams,
    pub(crate) store: BTreeMap<String, Entry>,
    /// The hot updates (infective), a handful at most.
    pub(crate) hot: Vec<Hot>,
    /// Every update this node created, oldest first (the invariants read it).
    pub(crate) created: Vec<Update>,
    pub(crate) round_armed: bool,
    pub(crate) anti_entropy_armed: bool,
}

impl Gossip {
    /// A fresh node outside any simulation, for tests that build states by hand.
    pub fn blank(id: NodeId, nodes: u16, params: GossipParams) -> Self {
        Gossip {
            id,
            nodes,
            params,
            store: BTreeMap::new(),
            hot: Vec::new(),
            created: Vec::new(),
            round_armed: false,
            anti_entropy_armed: false,
        }
    }

    /// Puts an entry straight into the store, bypassing the protocol: for tests that need a
    /// node in a state the protocol would never reach (to see the invariants catch it).
    pub fn force_entry(&mut self, key: &str, value: &str, version: Version) {
        let entry = Entry { value: value.into(), version, learned_us: version.at_us, via: Via::Rumor, carried: 0 };
        self.store.insert(key.into(), entry);
    }

    pub fn store(&self) -> &BTreeMap<String, Entry> {
        &self.store
    }

    pub fn hot(&self) -> &[Hot] {
        &self.hot
    }

    pub fn created(&self) -> &[Update] {
        &self.created
    }

    /// Whether the node is spreading `version` (or a newer version) of `key`.
    pub fn spreading(&self, key: &str, version: Version) -> bool {
        self.hot.iter().any(|h| h.key == key && h.version >= version)
    }

    /// Whether the node holds `version` (or a newer version) of `key`.
    pub fn knows(&self, key: &str, version: Version) -> bool {
        self.store.get(key).is_some_and(|e| e.version >= version)
    }

    fn role(&self) -> &'static str {
        if !self.hot.is_empty() {
            "infective"
        } else if self.store.is_empty() {
            "susceptible"
        } else {
            "removed"
        }
    }

    fn store_view(store: &BTreeMap<String, Entry>) -> Vec<(String, String)> {
        store.iter().map(|(k, e)| (k.clone(), e.value.clone())).collect()
    }
}

impl Protocol for Gossip {
    const NAME: &'static str = "gossip";
    const LEADER: bool = false;
    type Msg = GossipMsg;
    type Timer = GossipTimer;
    type Durable = GossipDurable;
    type Params = GossipParams;
    type Invariants = GossipInvariants;

    fn validate(p: &GossipParams) -> Result<(), String> {
        crate::sim::protocol::check_timings(&[
            ("period_ms", p.period_ms),
            ("anti_entropy_period_ms", p.anti_entropy_period_ms),
        ])?;
        if p.fanout == 0 || p.fanout > MAX_FANOUT {
            return Err(format!("fanout must be from 1 to {MAX_FANOUT}, not {}", p.fanout));
        }
        if p.stop.rule != StopRule::None && (p.stop.k == 0 || p.stop.k > MAX_K) {
            return Err(format!(
                "stop.k must be from 1 to {MAX_K} for the {} rule, not {}",
                if p.stop.rule == StopRule::Counter { "counter" } else { "coin" },
                p.stop.k
            ));
        }
        Ok(())
    }

    fn start(
        id: NodeId,
        nodes: u16,
        params: &GossipParams,
        durable: Option<GossipDurable>,
        ctx: &mut Ctx<'_, Self>,
    ) -> Self {
        let mut node = Gossip::blank(id, nodes, params.clone());
        match durable {
            Some(d) => {
                node.store = d.store;
                node.created = d.created;
                if nodes <= NOTE_LIMIT && !node.store.is_empty() {
                    ctx.note(format!(
                        "{id} restarts with {} key(s) on disk and nothing hot: it spreads nothing it knew",
                        node.store.len()
                    ));
                }
            }
            None if params.origin == Some(id) => {
                node.create(ORIGIN_KEY, ORIGIN_VALUE, Via::Origin, ctx);
            }
            None => {}
        }
        node.arm(ctx);
        node
    }

    fn on_message(&mut self, from: NodeId, msg: GossipMsg, ctx: &mut Ctx<'_, Self>) {
        self.handle(from, msg, ctx);
        self.arm(ctx);
    }

    fn on_timer(&mut self, timer: GossipTimer, ctx: &mut Ctx<'_, Self>) {
        match timer {
            GossipTimer::Round => {
                self.round_armed = false;
                if self.params.mode.rumors() {
                    self.round(ctx);
                }
            }
            GossipTimer::AntiEntropy => {
                self.anti_entropy_armed = false;
                if self.params.mode.anti_entropy() {
                    self.anti_entropy(ctx);
                }
            }
        }
        self.arm(ctx);
    }

    fn on_request(&mut self, client: ClientId, request: Request, ctx: &mut Ctx<'_, Self>) {
        if ctx.now().0 > request.deadline_us {
            return;
        }
        self.client_request(client, request, ctx);
        self.arm(ctx);
    }

    fn reconfigure(
        current: &GossipParams,
        change: &serde_json::Map<String, serde_json::Value>,
        _nodes: u16,
    ) -> Result<GossipParams, String> {
        let next: GossipParams = crate::sim::protocol::merge_params("gossip", current, change)?;
        Self::validate(&next)?;
        Ok(next)
    }

    /// New settings apply from the next round; a node that now needs a timer (pull, or
    /// anti-entropy switched on) gets one.
    fn on_configure(&mut self, params: &GossipParams, ctx: &mut Ctx<'_, Self>) {
        self.params = params.clone();
        if !params.mode.rumors() {
            self.hot.clear();
        }
        self.arm(ctx);
    }

    fn durable(&self) -> GossipDurable {
        GossipDurable { store: self.store.clone(), created: self.created.clone() }
    }

    fn status(&self) -> NodeStatus {
        NodeStatus { role: self.role(), term: 0 }
    }

    fn view(&self) -> NodeView {
        NodeView {
            role: self.role().to_string(),
            commit_index: self.store.len() as u64,
            store: Self::store_view(&self.store),
            ..NodeView::default()
        }
    }

    fn durable_view(d: &GossipDurable) -> NodeView {
        NodeView {
            role: "crashed".into(),
            commit_index: d.store.len() as u64,
            store: Self::store_view(&d.store),
            ..NodeView::default()
        }
    }

    fn inspect(&self) -> serde_json::Value {
        let period = self.params.period_ms.max(1) * 1000;
        let store: serde_json::Map<String, serde_json::Value> = self
            .store
            .iter()
            .map(|(k, e)| {
                let round = figures::round_of(e.learned_us, e.version.at_us, period);
                let v = serde_json::json!({
                    "value": e.value,
                    "version": e.version,
                    "learned_ms": e.learned_us as f64 / 1000.0,
                    "round": round,
                    "via": e.via,
                    "carried": e.carried,
                    "hot": self.spreading(k, e.version),
                });
                (k.clone(), v)
            })
            .collect();
        serde_json::json!({
            "role": self.role(),
            "store": store,
            "hot": self.hot,
            "created": self.created.len(),
            "params": self.params,
        })
    }

    fn shades(nodes: &[NodeRef<'_, Self>], out: &mut Vec<u8>) {
        shades(nodes, out);
    }

    fn figures(
        nodes: &[NodeRef<'_, Self>],
        now: Time,
        params: &GossipParams,
        _applied: &[crate::sim::action::TimedAction],
    ) -> serde_json::Value {
        figures(nodes, now, params)
    }
}

/// The fuzzer's `settled` check. No running node is still spreading anything; and when
/// anti-entropy runs, every running node holds the same store (the same value for every key,
/// which under last-writer-wins means the highest version). Rumor mongering alone promises no
/// such thing (it may leave a residue), which is why the fuzz parameters always keep
/// anti-entropy on.
pub fn settled(sim: &dyn Simulation) -> Result<(), String> {
    let views = sim.node_views();
    let mut first: Option<(&str, &Vec<(String, String)>)> = None;
    let mut anti_entropy = false;
    for (i, v) in views.iter().enumerate() {
        if v.role == "crashed" {
            continue;
        }
        if v.view.role == "infective" {
            return Err(format!("{} is still spreading", v.id));
        }
        if first.is_none() {
            let state = sim.inspect(NodeId(i as u16))?;
            anti_entropy = state["state"]["params"]["mode"].as_str() != Some("rumor");
        }
        if !anti_entropy {
            continue;
        }
        match first {
            None => first = Some((v.id.as_str(), &v.view.store)),
            Some((id, store)) if *store != v.view.store => {
                return Err(format!("{} holds {:?} but {id} holds {:?}", v.id, v.view.store, store));
            }
            Some(_) => {}
        }
    }
    Ok(())
}
