//! # High availability: primary-backup, active-active, load balancing
//!
//! One protocol, three ways of keeping a key-value service up when a node fails, chosen by the
//! `mode` parameter (per scenario: the nodes' roles and state differ from mode to mode, so it
//! cannot change while the cluster runs; replication, guard, conflict handling, balancing and
//! every timing can, through the `configure` action).
//!
//! **`primary_backup`** (active-passive; Alsberg & Day 1976, Budhiraja, Marzullo, Schneider &
//! Toueg, "The primary-backup approach", 1993). One primary serves every request and sends
//! its log to the backups with its heartbeats. `replication` says when a write is acknowledged
//! to its client: `sync` after the designated backup has it (a write blocks while that backup
//! is down), `semi_sync` the same but, as MySQL's semi-synchronous replication does, after
//! `semi_sync_timeout_ms` without the backup's acknowledgement it falls back to asynchronous
//! until the backup catches up, and `async` at once, shipping entries in batches every
//! `async_ship_ms`. A write acknowledged but not yet shipped is lost when the backup takes
//! over: the figure `acked_lost` counts them against the new primary's log.
//!
//! Who may be primary is the `guard`:
//! - `view_service` (Lampson's and MIT 6.824's Lab 2 view service): the last node keeps the
//!   view (number, primary, backup). Replicas ping it every `heartbeat_ms`; it moves the view
//!   when the primary has not pinged for `fd_timeout_ms` on its clock, and only once the
//!   primary acknowledged the current view (which the primary does only after its backup holds
//!   its whole log). The primary serves only until `lease_ms` after the send of a ping the view
//!   server answered naming it primary (its own clock), and `lease_ms` < `fd_timeout_ms`, so the
//!   old primary has stopped before the new one is named, as long as clocks run at the same rate.
//! - `lease`: the designated backup grants the primary a lease of `lease_ms` with each
//!   acknowledged heartbeat, counted by the primary from the heartbeat's send. The primary
//!   serves only while it holds one; the backup, once it suspects the primary, waits out the
//!   lease it last granted (its clock) before it takes over. The new primary needs a lease from
//!   its own designated backup, so with only two replicas a failover leaves it unable to serve
//!   until the old primary comes back: a third replica is what keeps it available.
//! - `none`: the backup's failure detector alone decides. A backup that hears no heartbeat for
//!   `fd_timeout_ms` (its timers run on its clock) takes over. A partition between primary and
//!   backup that clients still cross makes two primaries accept writes: split brain. When the
//!   partition heals the older view steps down and its writes are overwritten (lost).
//!
//! Views without a view server go round the replicas: view v's primary is replica (v − 1) mod R
//! and its designated backup the next one. Only the designated backup ever takes over (in view
//! v + 1); further replicas are passive copies.
//!
//! **`active_active`** (mutual backup). Every node serves reads and writes and ships its own
//! writes to the others every `async_ship_ms`. Each version carries a version vector and the
//! writer's clock reading; two versions neither of which descends from the other are a
//! conflict (counted once per pair: figure `conflicts`). `conflict: "lww"` keeps the one with
//! the greater (clock reading, node): with skewed clocks the write that came later in true time
//! can lose, and the loser, acknowledged to its client, is counted in `acked_lost`. A node
//! stamps a write after every version of the key it holds, so only concurrent writes are
//! decided by the clocks (see `active.rs`).
//! `conflict: "siblings"` keeps both, as Dynamo does (DeCandia et al. 2007, §4.4): a read
//! returns them joined by " | " and the next write replaces them.
//!
//! **`load_balanced`**. n1 is a load balancer, the others servers. The balancer checks each
//! server's health every `health_ms`; `unhealthy_after` missed checks in a row mark it down,
//! `healthy_after` answered ones up again (HAProxy's `fall`/`rise`). Requests go to the up
//! servers, `round_robin` or to the one with the fewest requests in progress
//! (`least_connections`). A request forwarded to a server that crashed before the checks noticed
//! gets no answer within `forward_timeout_ms`: figure `lost_before_detection`. Servers apply
//! writes and propagate them to each other (last-writer-wins by clock reading and node).
//!
//! Every decision about time uses the node's own clock and its timers; true time is used only
//! for the records behind the figures and invariants (`figures.rs`, `invariants.rs`).
//! Not linearizable: asynchronous replication loses acknowledged writes, active-active and the
//! servers behind a balancer read their local copy, and even a synchronous primary reads from
//! its log before the backup acknowledged it.

mod active;
mod balancer;
mod figures;
mod fuzz;
mod invariants;
pub mod messages;
mod primary;
mod viewservice;

pub use fuzz::{fuzz_params, settled};
pub use invariants::HaInvariants;
use messages::{Entry, Stats, Version};
pub use messages::{HaMsg, HaTimer};

use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::{Ctx, NodeStatus, NodeView, Protocol};
use crate::workload::op::Request;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    PrimaryBackup,
    ActiveActive,
    LoadBalanced,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Replication {
    Sync,
    SemiSync,
    Async,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guard {
    ViewService,
    Lease,
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Conflict {
    Lww,
    Siblings,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    RoundRobin,
    LeastConnections,
}

/// The `params` of an HA scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HaParams {
    pub mode: Mode,
    pub replication: Replication,
    pub guard: Guard,
    pub heartbeat_ms: u64,
    pub fd_timeout_ms: u64,
    pub lease_ms: u64,
    pub semi_sync_timeout_ms: u64,
    pub async_ship_ms: u64,
    pub conflict: Conflict,
    pub balance: Balance,
    pub health_ms: u64,
    pub unhealthy_after: u32,
    pub healthy_after: u32,
    pub forward_timeout_ms: u64,
}

impl Default for HaParams {
    fn default() -> Self {
        HaParams {
            mode: Mode::PrimaryBackup,
            replication: Replication::Sync,
            guard: Guard::ViewService,
            heartbeat_ms: 100,
            fd_timeout_ms: 500,
            lease_ms: 300,
            semi_sync_timeout_ms: 200,
            async_ship_ms: 500,
            conflict: Conflict::Lww,
            balance: Balance::RoundRobin,
            health_ms: 200,
            unhealthy_after: 2,
            healthy_after: 2,
            forward_timeout_ms: 300,
        }
    }
}

impl HaParams {
    /// The checks that need the cluster size.
    pub fn check_cluster(&self, nodes: u16) -> Result<(), String> {
        let least = match (self.mode, self.guard) {
            (Mode::PrimaryBackup, Guard::ViewService) => 3,
            _ => 2,
        };
        if nodes < least {
            return Err(format!("this mode needs at least {least} nodes, not {nodes}"));
        }
        Ok(())
    }
}

fn reconfigure(
    current: &HaParams,
    change: &serde_json::Map<String, serde_json::Value>,
    nodes: u16,
) -> Result<HaParams, String> {
    let next: HaParams = crate::sim::protocol::merge_params("ha", current, change)?;
    if next.mode != current.mode {
        return Err("mode cannot change while the cluster runs: each mode gives the nodes other roles (start the scenario again with the other mode)".into());
    }
    if (next.guard == Guard::ViewService) != (current.guard == Guard::ViewService) {
        return Err("the view service cannot be switched on or off while the cluster runs (it takes a node of its own); lease and none can swap".into());
    }
    <Ha as Protocol>::validate(&next)?;
    next.check_cluster(nodes)?;
    Ok(next)
}

/// The view a replica believes in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ViewInfo {
    pub num: u64,
    pub primary: Option<NodeId>,
    pub backup: Option<NodeId>,
}

/// What survives a crash: the view, the log, the stores, the measurements.
#[derive(Clone, Debug, Default)]
pub struct HaDurable {
    pub view: ViewInfo,
    pub vs_acked: bool,
    pub log: Vec<Entry>,
    pub aa_store: BTreeMap<String, Vec<Version>>,
    pub aa_counter: u64,
    pub aa_outbox: BTreeMap<NodeId, Vec<(String, Version)>>,
    pub sessions: BTreeMap<ClientId, u64>,
    pub lb_store: BTreeMap<String, (u64, NodeId, String)>,
    pub applied: Vec<(ClientId, u64)>,
    pub stats: Stats,
}

/// The load balancer's view of one server.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Health {
    pub up: bool,
    pub fails: u32,
    pub oks: u32,
    pub answered: bool,
    pub active: u32,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct Forwarded {
    pub client: ClientId,
    pub seq: u64,
    pub server: NodeId,
}

#[derive(Clone, Debug)]
pub struct Ha {
    pub(crate) id: NodeId,
    pub(crate) nodes: u16,
    pub(crate) params: HaParams,
    pub(crate) d: HaDurable,
    // Volatile, primary-backup.
    /// Primary: how much of its log each replica holds.
    pub(crate) acked: BTreeMap<NodeId, u64>,
    /// Primary: writes waiting for the backup, by log position (1-based).
    pub(crate) pending: BTreeMap<u64, (ClientId, u64)>,
    pub(crate) lease_until: u64,
    pub(crate) confirmed_until: u64,
    pub(crate) granted_until: u64,
    pub(crate) degraded: bool,
    pub(crate) waiting_lease: bool,
    /// Backup: the longest log length a primary of this view announced (stale messages carry less).
    pub(crate) primary_len: u64,
    /// Whether the node could serve writes at its last step (for the drawing).
    pub(crate) serving: bool,
    // View server.
    pub(crate) pings: BTreeMap<NodeId, u64>,
    pub(crate) started_clock: u64,
    // Load balancer.
    pub(crate) health: BTreeMap<NodeId, Health>,
    pub(crate) round: u64,
    pub(crate) next_rr: u16,
    pub(crate) next_forward: u64,
    pub(crate) forwards: BTreeMap<u64, Forwarded>,
}

/// The node's own clock, in µs: every decision about time reads this.
pub(crate) fn clock(ctx: &Ctx<'_, Ha>) -> u64 {
    ctx.clock().0
}

pub(crate) fn ms(us: u64) -> String {
    format!("{}.{:03} s", us / 1_000_000, (us / 1000) % 1000)
}

impl Ha {
    pub(crate) fn view_server(&self) -> Option<NodeId> {
        (self.params.mode == Mode::PrimaryBackup && self.params.guard == Guard::ViewService)
            .then(|| NodeId(self.nodes.saturating_sub(1)))
    }

    pub(crate) fn replica_count(&self) -> u16 {
        if self.view_server().is_some() { self.nodes.saturating_sub(1).max(1) } else { self.nodes.max(1) }
    }

    pub(crate) fn role(&self) -> &'static str {
        match self.params.mode {
            Mode::ActiveActive => "active",
            Mode::LoadBalanced if self.id.0 == 0 => "balancer",
            Mode::LoadBalanced => "server",
            Mode::PrimaryBackup if self.view_server() == Some(self.id) => "view_server",
            Mode::PrimaryBackup if self.d.view.primary == Some(self.id) => "primary",
            Mode::PrimaryBackup => "backup",
        }
    }

    /// The log folded into a key → value map.
    pub(crate) fn log_store(log: &[Entry]) -> BTreeMap<String, String> {
        log.iter().map(|e| (e.key.clone(), e.value.clone())).collect()
    }

    /// Entries written but not yet held by the replica furthest behind (the replication lag).
    pub(crate) fn unshipped(&self) -> u64 {
        if self.role() != "primary" {
            return 0;
        }
        let len = self.d.log.len() as u64;
        let behind = self.acked.values().map(|a| len.saturating_sub(*a)).max();
        match behind {
            Some(b) => b,
            None if self.replica_count() > 1 => len,
            None => 0,
        }
    }

    fn store_pairs(&self) -> Vec<(String, String)> {
        store_pairs(&self.d, self.params.mode, self.params.conflict)
    }
}

fn store_pairs(d: &HaDurable, mode: Mode, conflict: Conflict) -> Vec<(String, String)> {
    match mode {
        Mode::PrimaryBackup => Ha::log_store(&d.log).into_iter().collect(),
        Mode::ActiveActive => d
            .aa_store
            .iter()
            .map(|(k, vs)| {
                let shown = active::visible(vs, conflict);
                (k.clone(), shown.iter().map(|v| v.value.as_str()).collect::<Vec<_>>().join(" | "))
            })
            .collect(),
        Mode::LoadBalanced => d.lb_store.iter().map(|(k, (_, _, v))| (k.clone(), v.clone())).collect(),
    }
}

impl Protocol for Ha {
    const NAME: &'static str = "ha";
    type Msg = HaMsg;
    type Timer = HaTimer;
    type Durable = (HaDurable, Mode, Conflict);
    type Params = HaParams;
    type Invariants = HaInvariants;

    fn validate(p: &HaParams) -> Result<(), String> {
        crate::sim::protocol::check_timings(&[
            ("heartbeat_ms", p.heartbeat_ms),
            ("fd_timeout_ms", p.fd_timeout_ms),
            ("lease_ms", p.lease_ms),
            ("semi_sync_timeout_ms", p.semi_sync_timeout_ms),
            ("async_ship_ms", p.async_ship_ms),
            ("health_ms", p.health_ms),
            ("forward_timeout_ms", p.forward_timeout_ms),
        ])?;
        if p.unhealthy_after == 0 || p.healthy_after == 0 {
            return Err("unhealthy_after and healthy_after must be at least 1".into());
        }
        if p.mode == Mode::PrimaryBackup {
            if p.heartbeat_ms >= p.fd_timeout_ms {
                return Err(format!(
                    "heartbeat_ms ({}) must be below fd_timeout_ms ({})",
                    p.heartbeat_ms, p.fd_timeout_ms
                ));
            }
            if p.guard != Guard::None && p.heartbeat_ms >= p.lease_ms {
                return Err(format!(
                    "heartbeat_ms ({}) must be below lease_ms ({}) or no lease is ever renewed in time",
                    p.heartbeat_ms, p.lease_ms
                ));
            }
            if p.guard == Guard::ViewService && p.lease_ms >= p.fd_timeout_ms {
                return Err(format!(
                    "lease_ms ({}) must be below fd_timeout_ms ({}): the view server must not name a new primary while the old one may still serve",
                    p.lease_ms, p.fd_timeout_ms
                ));
            }
        }
        Ok(())
    }

    fn start(
        id: NodeId,
        nodes: u16,
        params: &HaParams,
        durable: Option<(HaDurable, Mode, Conflict)>,
        ctx: &mut Ctx<'_, Self>,
    ) -> Self {
        let restarted = durable.is_some();
        let mut node = Ha {
            id,
            nodes,
            params: params.clone(),
            d: durable.map(|(d, _, _)| d).unwrap_or_default(),
            acked: BTreeMap::new(),
            pending: BTreeMap::new(),
            lease_until: 0,
            confirmed_until: 0,
            granted_until: 0,
            degraded: false,
            waiting_lease: false,
            primary_len: 0,
            serving: false,
            pings: BTreeMap::new(),
            started_clock: clock(ctx),
            health: BTreeMap::new(),
            round: 0,
            next_rr: 0,
            next_forward: 1,
            forwards: BTreeMap::new(),
        };
        match params.mode {
            Mode::PrimaryBackup => node.start_primary_backup(restarted, ctx),
            Mode::ActiveActive => node.start_active(ctx),
            Mode::LoadBalanced => node.start_balanced(ctx),
        }
        node
    }

    fn on_message(&mut self, from: NodeId, msg: HaMsg, ctx: &mut Ctx<'_, Self>) {
        match msg {
            HaMsg::Heartbeat { view, from: first, entries, len, sent } => {
                self.on_heartbeat(from, view, first, entries, len, sent, ctx)
            }
            HaMsg::HeartbeatAck { view, len, sent, grant } => self.on_heartbeat_ack(from, view, len, sent, grant, ctx),
            HaMsg::NewerView { view, primary, backup } => self.adopt(ViewInfo { num: view, primary, backup }, ctx),
            HaMsg::Ping { view, sent } => self.on_ping(from, view, sent, ctx),
            HaMsg::ViewIs { view, primary, backup, sent } => {
                self.on_view_is(ViewInfo { num: view, primary, backup }, sent, ctx)
            }
            HaMsg::Versions { versions, upto } => self.on_versions(from, versions, upto, ctx),
            HaMsg::VersionsAck { upto } => self.on_versions_ack(from, upto),
            HaMsg::Forward { id, client, seq, op } => self.on_forward(from, id, client, seq, op, ctx),
            HaMsg::ForwardReply { id, reply } => self.on_forward_reply(id, reply, ctx),
            HaMsg::Propagate { key, value, stamp, client, seq } => {
                self.on_propagate(from, key, value, stamp, client, seq)
            }
            HaMsg::HealthCheck { round } => ctx.send(from, HaMsg::HealthOk { round }),
            HaMsg::HealthOk { round } => self.on_health_ok(from, round),
        }
        self.refresh_serving(ctx);
    }

    fn on_timer(&mut self, timer: HaTimer, ctx: &mut Ctx<'_, Self>) {
        match timer {
            HaTimer::Heartbeat => self.heartbeat(ctx),
            HaTimer::Ship => self.ship(ctx),
            HaTimer::Suspect => self.suspect(ctx),
            HaTimer::LeaseWait => self.lease_waited(ctx),
            HaTimer::SemiSync { lsn } => self.semi_sync_timeout(lsn, ctx),
            HaTimer::Ping => self.ping(ctx),
            HaTimer::ViewTick => self.view_tick(ctx),
            HaTimer::ShipVersions => self.ship_versions(ctx),
            HaTimer::HealthRound => self.health_round(ctx),
            HaTimer::ForwardTimeout { id } => self.forward_timeout(id, ctx),
        }
        self.refresh_serving(ctx);
    }

    fn on_request(&mut self, client: ClientId, request: Request, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now().0;
        self.d.stats.seen(client, request.seq, now);
        match self.params.mode {
            Mode::PrimaryBackup => self.pb_request(client, request, ctx),
            Mode::ActiveActive => self.active_request(client, request, ctx),
            Mode::LoadBalanced => self.balanced_request(client, request, ctx),
        }
        self.refresh_serving(ctx);
    }

    fn on_timeout_now(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.params.mode == Mode::PrimaryBackup {
            self.suspect(ctx);
        }
    }

    fn reconfigure(
        current: &HaParams,
        change: &serde_json::Map<String, serde_json::Value>,
        nodes: u16,
    ) -> Result<HaParams, String> {
        reconfigure(current, change, nodes)
    }

    fn on_configure(&mut self, params: &HaParams, _ctx: &mut Ctx<'_, Self>) {
        if params.replication != Replication::SemiSync {
            self.degraded = false;
        }
        self.params = params.clone();
    }

    fn durable(&self) -> (HaDurable, Mode, Conflict) {
        (self.d.clone(), self.params.mode, self.params.conflict)
    }

    fn status(&self) -> NodeStatus {
        let role = match self.role() {
            "primary" => "leader",
            other => other,
        };
        NodeStatus { role, term: self.d.view.num }
    }

    fn view(&self) -> NodeView {
        NodeView {
            role: self.role().to_string(),
            term: self.d.view.num,
            leader: self.d.view.primary,
            log_terms: self.d.log.iter().map(|e| e.view).collect(),
            commit_index: self.d.stats.acks.len() as u64,
            store: self.store_pairs(),
            ..NodeView::default()
        }
    }

    fn durable_view(d: &(HaDurable, Mode, Conflict)) -> NodeView {
        NodeView {
            role: "crashed".into(),
            term: d.0.view.num,
            leader: d.0.view.primary,
            log_terms: d.0.log.iter().map(|e| e.view).collect(),
            commit_index: d.0.stats.acks.len() as u64,
            store: store_pairs(&d.0, d.1, d.2),
            ..NodeView::default()
        }
    }

    fn inspect(&self) -> serde_json::Value {
        let siblings: Vec<serde_json::Value> = self
            .d
            .aa_store
            .iter()
            .filter(|(_, vs)| vs.len() > 1 && self.params.conflict == Conflict::Siblings)
            .map(|(k, vs)| serde_json::json!({ "key": k, "versions": vs }))
            .collect();
        serde_json::json!({
            "mode": self.params.mode,
            "role": self.role(),
            "view": self.d.view,
            "view_acked": self.d.vs_acked,
            "serving": self.serving,
            "log_len": self.d.log.len(),
            "unshipped": self.unshipped() + self.d.aa_outbox.values().map(|o| o.len() as u64).max().unwrap_or(0),
            "waiting": self.pending.len(),
            "degraded": self.degraded,
            "replicas_hold": self.acked,
            "siblings": siblings,
            "conflicts": self.d.stats.conflicts.len(),
            "health": self.health,
            "in_progress": self.forwards,
            "lost_before_detection": self.d.stats.lost_before_detection,
            "acked_writes": self.d.stats.acks.len(),
            "params": self.params,
        })
    }

    fn figures(
        nodes: &[crate::sim::protocol::NodeRef<'_, Self>],
        now: crate::sim::time::Time,
        params: &HaParams,
        applied: &[crate::sim::action::TimedAction],
    ) -> serde_json::Value {
        figures::figures(nodes, now, params, applied)
    }
}
