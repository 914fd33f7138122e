//! # SWIM: membership and failure detection
//!
//! SWIM (Das, Gupta and Motivala, "SWIM: Scalable Weakly-consistent Infection-style Process
//! Group Membership Protocol", DSN 2002) keeps, at every member of a group, a list of the
//! members that are up, with a load per member and a time to first detection that do not grow
//! with the group. It is the protocol under HashiCorp's memberlist (Consul, Nomad, Serf);
//! parameter names and defaults' shape come from memberlist, whose `DefaultLANConfig` has
//! ProbeInterval 1 s, ProbeTimeout 500 ms, IndirectChecks 3, SuspicionMult 4, RetransmitMult 4.
//!
//! **Failure detector** (§3.1). Every `protocol_period_ms` each node probes one member: it
//! sends `Ping` and waits `ping_timeout_ms` for an `Ack`. Without one, it sends `PingReq` to
//! `indirect_checks` (k) other members chosen at random, each of which pings the target and
//! relays its `Ack`. With no ack, direct or relayed, by the end of the period, the target is
//! suspected. Members are probed round-robin over a random permutation that is drawn afresh
//! after each pass (§4.3), so every member is probed by every node once per pass: a bounded
//! time to first detection. (The paper shuffles a list; a list per node is n² entries over the
//! cluster, 10^8 at 10,000 nodes, so each pass here walks a random affine permutation
//! `i ↦ (a·i + b) mod n` with `a` prime to n, which is also every member exactly once.)
//!
//! **Suspicion** (§4.2). A suspected member is not yet failed: `Suspect` is disseminated, and
//! every node that believes it starts a timer; a member still suspect when the timer runs out
//! is declared dead (`Confirm`, here the state `dead`). The timeout is `suspicion_timeout_ms`
//! if set, or memberlist's formula SuspicionMult × max(1, log10 n) × period (1.2 s for 32
//! nodes at the defaults, 2.2 s for 500, 3.2 s for 10,000). A member that hears it is
//! suspected *refutes*: it raises its incarnation number above the suspected one and
//! disseminates `Alive`. Precedence (§4.2): `Alive(i)` overrides `Suspect(j)` and `Alive(j)` iff
//! i > j; `Suspect(i)` overrides `Alive(j)` iff i ≥ j and `Suspect(j)` iff i > j; `Confirm`
//! overrides both. Only a member raises its own incarnation, so no forged update can clear a
//! suspicion. `membership.rs` states the two rules the paper leaves open (memberlist's): a
//! `Confirm` about an older incarnation than the one believed is stale, and `Alive(i)`
//! overrides `Dead(j)` iff i > j, which is how a member comes back.
//!
//! **Dissemination** (§4.1). Updates are not multicast: each node queues them and piggybacks
//! up to `max_piggyback` on every `Ping`, `PingReq` and `Ack` it sends, least-sent first and
//! newest among equals, each until it has gone out RetransmitMult × ⌈log10(n + 1)⌉ times
//! (memberlist's `retransmitLimit`). A node that learns an update from a message queues it
//! in turn, which is the epidemic. A node that pings (or answers) a member it believes suspect
//! or dead adds that belief about the member itself, so the member can refute at once (as
//! memberlist does with a suspect's probe).
//!
//! **Restart and re-admission.** A node's incarnation is durable: a restarted node comes back
//! at one above what it had and announces `Alive`, which overrides the `Dead` of its previous
//! life. SWIM never talks to a failed member again, so a member wrongly declared dead while a
//! partition cut it off would stay out for good; as Serf does for memberlist, every
//! `reconnect_interval_ms` a node pings one member it believes dead, telling it so: one that is
//! up refutes, and its `Ack` carries the refutation back. That is how the two sides of a healed
//! partition merge.
//!
//! **Clients.** A `get` of key `members` answers the node's view ("alive 31, suspect 1,
//! dead 0"); anything else is refused with a reason. There is no leader.
//!
//! Not here: Lifeguard's local health multiplier, its suspicion timeout that shrinks with
//! independent confirmations, and its `Nack` from helpers; memberlist's push-pull state sync
//! and joins (the membership is fixed at n).

mod figures;
mod invariants;
mod membership;
pub mod messages;
mod node;
pub mod trials;

pub use invariants::SwimInvariants;
pub use membership::{Entry, Table, overrides};
pub use messages::{State, SwimMsg, SwimTimer, Update};

use crate::sim::dynamic::Simulation;
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::{Ctx, NodeRef, NodeStatus, NodeView, Protocol};
use crate::sim::rng::SimRng;
use crate::workload::op::{Op, Reply, Request};
use serde::{Deserialize, Serialize};

/// The `params` of a SWIM scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SwimParams {
    /// One probe per period (memberlist's ProbeInterval).
    pub protocol_period_ms: u64,
    /// How long to wait for a direct ack before probing indirectly (ProbeTimeout).
    pub ping_timeout_ms: u64,
    /// k, the members asked to probe indirectly (IndirectChecks).
    pub indirect_checks: u16,
    /// The suspicion timeout in protocol periods, times max(1, log10 n) (SuspicionMult).
    pub suspicion_mult: u32,
    /// A fixed suspicion timeout instead of the formula.
    pub suspicion_timeout_ms: Option<u64>,
    /// Each update is piggybacked this many times ⌈log10(n + 1)⌉ (RetransmitMult).
    pub retransmit_mult: u32,
    /// The most updates one message carries.
    pub max_piggyback: u16,
    /// How often a node pings a member it believes dead (Serf's reconnect).
    pub reconnect_interval_ms: u64,
}

impl Default for SwimParams {
    fn default() -> Self {
        SwimParams {
            protocol_period_ms: 200,
            ping_timeout_ms: 60,
            indirect_checks: 3,
            suspicion_mult: 4,
            suspicion_timeout_ms: None,
            retransmit_mult: 4,
            max_piggyback: 8,
            reconnect_interval_ms: 1000,
        }
    }
}

impl SwimParams {
    /// The suspicion timeout for a cluster of `n`, in microseconds.
    pub fn suspicion_timeout_us(&self, n: u16) -> u64 {
        match self.suspicion_timeout_ms {
            Some(ms) => ms * 1000,
            None => {
                let scale = milli_log10(u64::from(n)).max(1000);
                u64::from(self.suspicion_mult) * scale * self.protocol_period_ms
            }
        }
    }

    /// How many times each update is piggybacked in a cluster of `n`.
    pub fn retransmit_limit(&self, n: u16) -> u32 {
        // ⌈log10(n + 1)⌉ is the number of decimal digits of n.
        let digits = u64::from(n.max(1)).to_string().len() as u32;
        self.retransmit_mult * digits
    }
}

/// log10(n) × 1000, rounded down, in integers only (the same on every platform): log2 in
/// 16.16 fixed point by repeated squaring, times log10(2).
pub fn milli_log10(n: u64) -> u64 {
    if n <= 1 {
        return 0;
    }
    let int = 63 - u64::from(n.leading_zeros());
    // n / 2^int in [1, 2), as 1.32 fixed point.
    let mut y: u128 = (u128::from(n) << 32) >> int;
    let mut frac = 0u64;
    for bit in (0..16).rev() {
        y = (y * y) >> 32;
        if y >= 2u128 << 32 {
            y >>= 1;
            frac |= 1 << bit;
        }
    }
    let log2_fixed = (int << 16) | frac;
    log2_fixed * 1000 * 30_103 / (100_000 << 16)
}

/// Fuzz runs vary the timings around the defaults, always with a ping timeout above the
/// fuzzer's round trip (latency up to 12 ms each way).
pub fn fuzz_params(rng: &mut SimRng) -> serde_json::Value {
    let period = rng.between(150, 300);
    let ping = rng.between(30, period / 2);
    serde_json::json!({
        "protocol_period_ms": period,
        "ping_timeout_ms": ping,
        "indirect_checks": rng.between(1, 3),
        "suspicion_mult": rng.between(2, 5),
        "max_piggyback": rng.between(2, 8),
    })
}

/// Where a node is in its protocol period.
#[derive(Clone, Debug, Serialize)]
pub struct Probe {
    pub target: NodeId,
    pub seq: u64,
    pub acked: bool,
    /// The members asked to probe indirectly, once the ping timed out.
    pub helpers: Vec<NodeId>,
}

/// A `PingReq` this node is serving: its own ping's `seq`, and whom to relay the ack to.
#[derive(Clone, Debug, Serialize)]
pub struct Relay {
    pub seq: u64,
    pub origin: NodeId,
    pub origin_seq: u64,
    pub at_us: u64,
}

/// An update waiting in the piggyback queue.
#[derive(Clone, Debug, Serialize)]
pub struct Broadcast {
    pub update: Update,
    pub transmits: u32,
    /// Larger is newer.
    #[serde(skip)]
    pub order: u64,
}

/// One change of an entry during the last callback, for the invariant checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub member: NodeId,
    pub from: (State, u64),
    pub to: (State, u64),
}

/// A change of belief worth keeping: a member became suspect or dead, or came back.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Milestone {
    pub member: NodeId,
    pub state: State,
    pub incarnation: u64,
    pub at_us: u64,
}

/// Counts over the node's whole life, across restarts.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Counters {
    /// Suspicions raised by this node's own failed probes.
    pub suspicions_raised: u64,
    /// Members it declared dead when its own suspicion timer ran out.
    pub declared_dead: u64,
    /// Times it heard it was suspected at its current incarnation while up.
    pub suspected_while_up: u64,
    /// Times it heard it was declared dead at its current incarnation while up.
    pub dead_while_up: u64,
    /// `Alive` announcements about itself made to contradict a report (raised incarnation or
    /// a repeat for a stale report).
    pub refutations: u64,
    /// Messages sent.
    pub sent: u64,
}

/// What survives a crash: the incarnation (a restarted node must come back above it), how
/// many times it started, its counters and its recent milestones.
#[derive(Clone, Debug, Default)]
pub struct SwimDurable {
    pub incarnation: u64,
    pub starts: u64,
    pub counters: Counters,
    pub log: Vec<Milestone>,
}

/// The permutation of one pass: member `(a·i + b) mod n` at step i.
#[derive(Clone, Debug, Default)]
pub struct ProbeOrder {
    a: u64,
    b: u64,
    pos: u64,
}

impl ProbeOrder {
    fn reshuffle(&mut self, n: u64, rng: &mut SimRng) {
        self.pos = 0;
        self.b = rng.below(n);
        self.a = 1;
        for _ in 0..32 {
            let a = rng.between(1, n.max(2) - 1);
            if gcd(a, n) == 1 {
                self.a = a;
                break;
            }
        }
    }

    fn at(&self, n: u64) -> u64 {
        (self.a.wrapping_mul(self.pos).wrapping_add(self.b)) % n.max(1)
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[derive(Clone, Debug)]
pub struct Swim {
    pub(crate) id: NodeId,
    pub(crate) nodes: u16,
    pub(crate) params: SwimParams,
    pub(crate) suspicion_timeout_us: u64,
    pub(crate) retransmit_limit: u32,
    /// Its beliefs, its own entry included (always alive at its incarnation).
    pub(crate) table: Table,
    pub(crate) order: ProbeOrder,
    pub(crate) probe: Option<Probe>,
    pub(crate) seq: u64,
    pub(crate) relays: Vec<Relay>,
    pub(crate) queue: Vec<Broadcast>,
    pub(crate) queue_order: u64,
    /// Members whose current suspicion this node raised itself.
    pub(crate) raised: Vec<NodeId>,
    /// The changes of the last callback, and how many callbacks it has run (the checker reads
    /// each journal once).
    pub(crate) journal: Vec<Transition>,
    pub(crate) callbacks: u64,
    pub(crate) durable: SwimDurable,
}

impl Swim {
    /// A fresh node outside any simulation, for tests that drive one by hand.
    pub fn blank(id: NodeId, nodes: u16, params: SwimParams) -> Self {
        Swim {
            id,
            nodes,
            suspicion_timeout_us: params.suspicion_timeout_us(nodes),
            retransmit_limit: params.retransmit_limit(nodes),
            params,
            table: Table::new(nodes),
            order: ProbeOrder { pos: u64::MAX, ..ProbeOrder::default() },
            probe: None,
            seq: 0,
            relays: Vec::new(),
            queue: Vec::new(),
            queue_order: 0,
            raised: Vec::new(),
            journal: Vec::new(),
            callbacks: 0,
            durable: SwimDurable::default(),
        }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn incarnation(&self) -> u64 {
        self.table.get(self.id).incarnation
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    pub fn counters(&self) -> &Counters {
        &self.durable.counters
    }

    pub fn milestones(&self) -> &[Milestone] {
        &self.durable.log
    }

    pub fn starts(&self) -> u64 {
        self.durable.starts
    }

    /// The changes made by the last callback.
    pub fn journal(&self) -> &[Transition] {
        &self.journal
    }

    pub fn callbacks(&self) -> u64 {
        self.callbacks
    }

    /// "alive 31, suspect 1, dead 0"
    pub fn summary(&self) -> String {
        let (a, s, d) = self.table.counts();
        format!("alive {a}, suspect {s}, dead {d}")
    }

    /// Sets an entry with no regard for the rules, as a broken implementation would, and
    /// records it as one callback's change: for tests of the invariant checker.
    pub fn tamper(&mut self, m: NodeId, state: State, incarnation: u64) {
        self.begin();
        let old = self.table.set(m, state, incarnation, 0);
        self.journal.push(Transition { member: m, from: (old.state, old.incarnation), to: (state, incarnation) });
    }

    fn begin(&mut self) {
        self.callbacks += 1;
        self.journal.clear();
    }
}

impl Protocol for Swim {
    const NAME: &'static str = "swim";
    const LEADER: bool = false;
    type Msg = SwimMsg;
    type Timer = SwimTimer;
    type Durable = SwimDurable;
    type Params = SwimParams;
    type Invariants = SwimInvariants;

    fn validate(p: &SwimParams) -> Result<(), String> {
        crate::sim::protocol::check_timings(&[
            ("protocol_period_ms", p.protocol_period_ms),
            ("ping_timeout_ms", p.ping_timeout_ms),
            ("reconnect_interval_ms", p.reconnect_interval_ms),
            ("suspicion_timeout_ms", p.suspicion_timeout_ms.unwrap_or(1)),
        ])?;
        if p.ping_timeout_ms >= p.protocol_period_ms {
            return Err(format!(
                "ping_timeout_ms ({}) must be shorter than protocol_period_ms ({}): the indirect probe needs the rest of the period",
                p.ping_timeout_ms, p.protocol_period_ms
            ));
        }
        if p.indirect_checks > 16 {
            return Err(format!("indirect_checks must be from 0 to 16, not {}", p.indirect_checks));
        }
        if !(1..=20).contains(&p.suspicion_mult) {
            return Err(format!("suspicion_mult must be from 1 to 20, not {}", p.suspicion_mult));
        }
        if !(1..=20).contains(&p.retransmit_mult) {
            return Err(format!("retransmit_mult must be from 1 to 20, not {}", p.retransmit_mult));
        }
        if !(1..=64).contains(&p.max_piggyback) {
            return Err(format!("max_piggyback must be from 1 to 64, not {}", p.max_piggyback));
        }
        Ok(())
    }

    fn start(
        id: NodeId,
        nodes: u16,
        params: &SwimParams,
        durable: Option<SwimDurable>,
        ctx: &mut Ctx<'_, Self>,
    ) -> Self {
        let mut node = Swim::blank(id, nodes, params.clone());
        node.begin();
        if let Some(d) = durable {
            let incarnation = d.incarnation + 1;
            node.durable = d;
            node.durable.incarnation = incarnation;
            node.transition(id, State::Alive, incarnation, ctx);
            node.enqueue(Update { member: id, state: State::Alive, incarnation });
            ctx.note(format!("{id} restarts at incarnation {incarnation} and announces itself alive"));
        }
        node.durable.starts += 1;
        // Random phases, so that the nodes' periods do not tick together.
        let period = params.protocol_period_ms * 1000;
        let first = ctx.rng().between(1, period);
        ctx.set_timer(first, SwimTimer::Period);
        let reconnect = params.reconnect_interval_ms * 1000;
        let first = ctx.rng().between(1, reconnect);
        ctx.set_timer(first, SwimTimer::Reconnect);
        node
    }

    fn on_message(&mut self, from: NodeId, msg: SwimMsg, ctx: &mut Ctx<'_, Self>) {
        self.begin();
        self.handle(from, msg, ctx);
    }

    fn on_timer(&mut self, timer: SwimTimer, ctx: &mut Ctx<'_, Self>) {
        self.begin();
        match timer {
            SwimTimer::Period => self.period(ctx),
            SwimTimer::PingTimeout => self.ping_timeout(ctx),
            SwimTimer::Suspicion(m) => self.suspicion_expired(m, ctx),
            SwimTimer::Reconnect => self.reconnect(ctx),
        }
    }

    fn on_request(&mut self, client: ClientId, request: Request, ctx: &mut Ctx<'_, Self>) {
        self.begin();
        let reply = match &request.op {
            Op::Get { key } if key == "members" => Reply::Done { value: Some(self.summary()) },
            Op::Get { key } => Reply::Rejected {
                reason: format!("SWIM keeps no data: only a get of `members` is answered, not `{key}`"),
            },
            other => Reply::Rejected {
                reason: format!("SWIM keeps no data: a {} is not served (get `members` for the view)", other.name()),
            },
        };
        ctx.reply(client, request.seq, reply);
    }

    /// "Time out now": start the next protocol period at once.
    fn on_timeout_now(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.begin();
        self.period(ctx);
    }

    fn reconfigure(
        current: &SwimParams,
        change: &serde_json::Map<String, serde_json::Value>,
        _nodes: u16,
    ) -> Result<SwimParams, String> {
        let next: SwimParams = crate::sim::protocol::merge_params("swim", current, change)?;
        Swim::validate(&next)?;
        Ok(next)
    }

    /// New timings apply from the next timer each node sets.
    fn on_configure(&mut self, params: &SwimParams, _ctx: &mut Ctx<'_, Self>) {
        self.begin();
        self.params = params.clone();
        self.suspicion_timeout_us = params.suspicion_timeout_us(self.nodes);
        self.retransmit_limit = params.retransmit_limit(self.nodes);
    }

    fn durable(&self) -> SwimDurable {
        SwimDurable { incarnation: self.incarnation(), ..self.durable.clone() }
    }

    fn status(&self) -> NodeStatus {
        NodeStatus { role: "member", term: self.incarnation() }
    }

    fn view(&self) -> NodeView {
        NodeView {
            role: "member".into(),
            term: self.incarnation(),
            store: vec![("members".into(), self.summary())],
            ..NodeView::default()
        }
    }

    fn durable_view(d: &SwimDurable) -> NodeView {
        NodeView { role: "crashed".into(), term: d.incarnation, ..NodeView::default() }
    }

    fn inspect(&self) -> serde_json::Value {
        figures::inspect(self)
    }

    fn shades(nodes: &[NodeRef<'_, Self>], out: &mut Vec<u8>) {
        figures::shades(nodes, out);
    }

    fn figures(
        nodes: &[NodeRef<'_, Self>],
        now: crate::sim::time::Time,
        params: &SwimParams,
        applied: &[crate::sim::action::TimedAction],
    ) -> serde_json::Value {
        figures::figures(nodes, now, params, applied)
    }
}

/// The fuzzer's `settled` check: every running node believes every other running node alive.
pub fn settled(sim: &dyn Simulation) -> Result<(), String> {
    let views = sim.node_views();
    let up: Vec<bool> = views.iter().map(|v| v.role != "crashed").collect();
    for (i, v) in views.iter().enumerate() {
        if !up[i] {
            continue;
        }
        let state = sim.inspect(NodeId(i as u16))?;
        let Some(list) = state["state"]["not_alive"].as_array() else { continue };
        for e in list {
            let member = e["member"].as_str().unwrap_or("");
            let Ok(crate::sim::ids::ActorId::Node(m)) = crate::sim::ids::parse_actor(member) else { continue };
            if up.get(m.index()).copied().unwrap_or(false) {
                return Err(format!(
                    "{} believes {member} is {} (incarnation {}), but {member} is up",
                    v.id, e["state"], e["incarnation"]
                ));
            }
        }
    }
    Ok(())
}

/// The per-node numbers `fuzz_check` and the trials read from a finished run.
pub fn node_refs_counters<'a>(nodes: &'a [NodeRef<'a, Swim>]) -> impl Iterator<Item = &'a Counters> + 'a {
    nodes.iter().filter_map(|r| match (r.live, r.durable) {
        (Some(p), _) => Some(&p.durable.counters),
        (None, Some(d)) => Some(&d.counters),
        _ => None,
    })
}

pub use figures::{figures, fuzz_check, shades};
