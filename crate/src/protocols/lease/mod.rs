//! # Leases, with fencing tokens
//!
//! A *lease* (Gray & Cheriton, "Leases: An Efficient Fault-Tolerant Mechanism for Distributed
//! File Cache Consistency", SOSP 1989) is a lock with a time limit: the grantor promises one
//! holder the right to a resource for a duration, and if the holder crashes or is cut off the
//! right simply runs out, with no one having to tell anyone. The price is that every party now
//! judges time, each with its own clock: the grantor decides when the lease is free again, the
//! holder when it must stop acting. Time itself becomes a fault.
//!
//! **Roles, by node id.** n1 is the *grantor* (the lock service: Chubby, ZooKeeper, etcd),
//! n2 the *storage* the holders write to (the resource the lease protects), and n3..nN the
//! *holders*, competing for one named resource (`resource`, "lock"). The storage is a node of
//! its own, as in Kleppmann's example, so that it knows nothing of the lease but the tokens it
//! is shown.
//!
//! **A holder's loop.** It sends `Acquire` and notes the time *on its own clock* when it sent
//! it. Granted, it counts the lease from that send time, not from the grant's arrival (the
//! grant may have been delayed; Gray & Cheriton §2, Chubby's "conservative approximation of the
//! master's lease timeout", Burrows 2006 §2.8), and takes off a safety margin `margin_ms` for
//! clocks that run at different rates: it believes it holds the lease until its clock reads
//! `sent + lease_ms − margin_ms`. Holding, it works in rounds: it *checks* that the lease is
//! still valid by its clock, works for `work_ms` (a timer), then *writes* the result to the
//! storage, carrying its fencing token. It does not check again between the work and the write:
//! any check could be followed by a pause, which is the point of Kleppmann's essay. At `renew_at`
//! of the lease (by its clock, counted from the last send) it sends `Renew`; after `hold_ms` of
//! holding it sends `Release` and rests `retry_ms` (jittered) before competing again. A refused
//! request (`Busy`) is retried after `retry_ms` (jittered).
//!
//! **The grantor** grants a free lease at once, with a *fencing token* one above every token it
//! issued before (kept on disk: Chubby's lock generation number, §2.4 sequencers), and refuses
//! everyone else with `Busy` while it is held. It counts `lease_ms` from the grant with a timer
//! *on its own clock*; when that runs out (or the holder releases), the lease is free. A renewal
//! from the current holder restarts the count; from anyone else it is refused. After a crash it
//! remembers the tokens but not the holder, so it waits `lease_ms` (a grace period) before
//! granting again: a lease granted before the crash may still be held.
//!
//! **Fencing** (`fencing`, on by default; Kleppmann, "How to do distributed locking", 2016;
//! Chubby's sequencers, §2.4). The storage refuses a write whose token is lower than the
//! highest token it knows. Kleppmann's storage learns tokens only from the writes themselves,
//! so a stale write that arrives *before* the new holder's first write would still be
//! accepted (harmlessly ordered before it, but from a holder who no longer holds the lease).
//! Here the grantor goes one step further and registers each new token with the storage
//! (`Fence`, acknowledged by `FenceAck`) *before* it sends the `Grant`, as HDFS's quorum journal
//! and ZooKeeper-style epochs do: from the moment anyone holds token k, the storage refuses
//! every write under a lower token. With fencing off the storage accepts everything and the
//! grantor grants at once.
//!
//! **Clocks and pauses.** Every node judges time only with its own clock (`ctx.clock()`) and
//! timers on it; true time (`ctx.now()`) is used only for the records the page and the checks
//! read. A holder whose clock runs slow believes longer than the grantor counts; the margin
//! covers that as long as `(lease_ms − margin_ms) / (1 + drift_holder) ≤ lease_ms / (1 +
//! drift_grantor)` (with drift as a fraction: −0.1 runs 10 % slow). A paused holder (a long
//! garbage-collection stop) keeps its clock running, so its *belief* runs out on time; but a
//! write it prepared before the pause goes out after it.
//!
//! ## Invariants (`invariants.rs`), and where each is meant to hold
//!
//! 1. **Lease exclusivity** (`lease_exclusive`; Gray & Cheriton §2, Chubby §2.8): at no instant
//!    of true time do two holders believe they hold the lease, each judging by its own clock
//!    (a holder believes from the grant's arrival until its clock passes its expiry). Holds
//!    whatever the network, the crashes and the pauses, as long as clock drift stays within the
//!    margin; fails when a holder's clock runs slower than the margin allows (`lease-drift`).
//! 2. **Fencing order** (`fencing_order`; Kleppmann 2016, Chubby §2.4): the storage never
//!    accepts a write whose token is lower than that of a write it has already accepted. Holds
//!    with fencing on; fails without it when a paused holder writes after its successor
//!    (`lease-paused-holder`).
//! 3. **Single writer** (`single_writer`; Kleppmann 2016): the storage never accepts a write
//!    made under a lease after the grantor has granted a later one: a holder that lost its
//!    lease (to anyone) writes nothing more. Stronger than 2: it is about true time and the
//!    grantor, not the order the storage saw. Holds with fencing on (thanks to the `Fence`
//!    step); fails without it in `lease-paused-holder`.
//!
//! `caplab fuzz lease` runs only guarded configurations: fencing on, and a margin of at least a
//! tenth of the lease, while the fuzzer sets every clock's drift within ±[`FUZZ_DRIFT`] (5 %,
//! which such a margin covers) with a fixed offset: all three must hold under partitions, loss,
//! duplication, crashes and pauses. (`crate/tests/lease.rs` also shows that the same schedules
//! with fencing off do break the storage's two invariants.)
//!
//! **Clients** only read: a `get` at the storage answers its value (any key: there is one
//! register); a `get` elsewhere is redirected to n2; a `put` is refused (the holders write).

mod figures;
mod grantor;
mod holder;
mod invariants;
pub mod messages;
mod storage;

pub use figures::figures;
pub use grantor::{Grant, Grantor, GrantorDisk};
pub use holder::{Belief, Holder, HolderDisk, Holding};
pub use invariants::LeaseInvariants;
pub use messages::{LeaseMsg, LeaseTimer};
pub use storage::{Storage, StorageDisk, WriteRecord};

use crate::sim::dynamic::Simulation;
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::{Ctx, NodeRef, NodeStatus, NodeView, Protocol};
use crate::sim::rng::SimRng;
use crate::sim::time::Time;
use crate::workload::op::{Op, Reply, Request};
use serde::{Deserialize, Serialize};

/// n1 grants the lease.
pub const GRANTOR: NodeId = NodeId(0);
/// n2 is the storage the holders write to.
pub const STORAGE: NodeId = NodeId(1);
/// How many records of the past (grants, beliefs, writes) a node keeps for the page.
pub const KEEP: usize = 200;

/// The `params` of a lease scenario. All times in milliseconds, each judged on the clock of
/// the node that uses it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeaseParams {
    /// The name of the resource the holders compete for (shown only).
    pub resource: String,
    /// How long a grant or a renewal lasts.
    pub lease_ms: u64,
    /// What a holder takes off its lease for clocks that run at different rates.
    pub margin_ms: u64,
    /// When a holder renews, as a fraction of the lease (0.5: half way through).
    pub renew_at: f64,
    /// How long one round of work takes, from the check of the lease to the write.
    pub work_ms: u64,
    /// How long a holder keeps the lease (renewing it) before it releases it.
    pub hold_ms: u64,
    /// How long a refused holder waits before asking again, and a holder rests after a
    /// release (each drawn from half of it to all of it).
    pub retry_ms: u64,
    /// Fencing tokens checked by the storage (and registered with it before each grant).
    pub fencing: bool,
}

impl Default for LeaseParams {
    fn default() -> Self {
        LeaseParams {
            resource: "lock".into(),
            lease_ms: 1000,
            margin_ms: 100,
            renew_at: 0.5,
            work_ms: 150,
            hold_ms: 2000,
            retry_ms: 300,
            fencing: true,
        }
    }
}

impl LeaseParams {
    fn check(&self) -> Result<(), String> {
        crate::sim::protocol::check_timings(&[
            ("lease_ms", self.lease_ms),
            ("work_ms", self.work_ms),
            ("hold_ms", self.hold_ms),
            ("retry_ms", self.retry_ms),
        ])?;
        if self.margin_ms >= self.lease_ms {
            return Err(format!(
                "margin_ms ({}) must be below lease_ms ({}): a holder would never believe it holds the lease",
                self.margin_ms, self.lease_ms
            ));
        }
        if !(self.renew_at > 0.0 && self.renew_at < 1.0) {
            return Err(format!("renew_at is a fraction of the lease, above 0 and below 1, not {}", self.renew_at));
        }
        if self.renew_ms() >= self.lease_ms - self.margin_ms {
            return Err(format!(
                "renew_at × lease_ms ({} ms) must come before lease_ms − margin_ms ({} ms), or no renewal is ever in time",
                self.renew_ms(),
                self.lease_ms - self.margin_ms
            ));
        }
        Ok(())
    }

    /// When a holder renews, in ms after sending its last request.
    pub fn renew_ms(&self) -> u64 {
        ((self.lease_ms as f64) * self.renew_at).round().max(1.0) as u64
    }
}

/// The part of validation that needs the cluster size: a grantor, a storage and a holder at
/// least.
pub fn check_cluster(_: &LeaseParams, s: &crate::scenario::Scenario) -> Result<(), String> {
    if s.nodes < 3 {
        return Err(format!(
            "a lease needs a grantor (n1), a storage (n2) and holders (n3..): 3 nodes or more, not {}",
            s.nodes
        ));
    }
    Ok(())
}

/// How far the fuzzer may set the clocks' rates apart ([`FUZZ_DRIFT`] either way): within what
/// the smallest margin `fuzz_params` draws allows, `margin / (2 × lease − margin)` ≥ 1/19.
pub const FUZZ_DRIFT: f64 = 0.05;

/// Fuzz runs vary the timings but keep the guards: fencing on, and a margin of at least a tenth
/// of the lease, which covers clocks that drift up to [`FUZZ_DRIFT`] (5 %) either way.
pub fn fuzz_params(rng: &mut SimRng) -> serde_json::Value {
    let lease_ms = rng.between(300, 1500);
    let margin_ms = rng.between(lease_ms / 10, lease_ms / 4);
    let renew_at = rng.between(30, 70) as f64 / 100.0;
    serde_json::json!({
        "lease_ms": lease_ms,
        "margin_ms": margin_ms,
        "renew_at": renew_at,
        "work_ms": rng.between(20, lease_ms / 2),
        "hold_ms": rng.between(lease_ms / 2, 3 * lease_ms),
        "retry_ms": rng.between(50, 400),
        "fencing": true,
    })
}

/// This node's own clock. Every decision about time goes through here.
pub(crate) fn clock(ctx: &Ctx<'_, Lease>) -> Time {
    ctx.clock()
}

/// A node's clock as the checks see it.
pub(crate) fn clock_of(r: &NodeRef<'_, Lease>) -> Time {
    r.clock
}

/// Milliseconds with three decimals, for notes: "1.250 s".
pub(crate) fn secs(t: Time) -> String {
    format!("{}.{:03} s", t.0 / 1_000_000, (t.0 / 1000) % 1000)
}

/// A duration drawn from half of `ms` to all of it, in µs: retries that do not march in step.
pub(crate) fn jitter(ctx: &mut Ctx<'_, Lease>, ms: u64) -> u64 {
    ctx.rng().between((ms / 2).max(1), ms.max(1)) * 1000
}

#[derive(Clone, Debug)]
pub enum Part {
    Grantor(Grantor),
    Storage(Storage),
    Holder(Holder),
}

/// What survives a crash, per role.
#[derive(Clone, Debug, Serialize)]
pub enum LeaseDurable {
    Grantor(GrantorDisk),
    Storage(StorageDisk),
    Holder(HolderDisk),
}

#[derive(Clone, Debug)]
pub struct Lease {
    pub(crate) id: NodeId,
    pub(crate) params: LeaseParams,
    pub part: Part,
}

pub fn role_of(id: NodeId) -> &'static str {
    match id {
        GRANTOR => "grantor",
        STORAGE => "storage",
        _ => "holder",
    }
}

impl Protocol for Lease {
    const NAME: &'static str = "lease";
    const LEADER: bool = false;
    type Msg = LeaseMsg;
    type Timer = LeaseTimer;
    type Durable = LeaseDurable;
    type Params = LeaseParams;
    type Invariants = LeaseInvariants;

    fn validate(params: &LeaseParams) -> Result<(), String> {
        params.check()
    }

    fn start(
        id: NodeId,
        _nodes: u16,
        params: &LeaseParams,
        durable: Option<LeaseDurable>,
        ctx: &mut Ctx<'_, Self>,
    ) -> Self {
        let mut node = Lease { id, params: params.clone(), part: Part::Holder(Holder::default()) };
        node.part = match (id, durable) {
            (GRANTOR, d) => {
                let disk = match d {
                    Some(LeaseDurable::Grantor(g)) => Some(g),
                    _ => None,
                };
                Part::Grantor(Grantor::start(disk, params, ctx))
            }
            (STORAGE, Some(LeaseDurable::Storage(s))) => Part::Storage(Storage { disk: s }),
            (STORAGE, _) => Part::Storage(Storage::default()),
            (_, d) => {
                let disk = match d {
                    Some(LeaseDurable::Holder(h)) => h,
                    _ => HolderDisk::default(),
                };
                Part::Holder(Holder::start(disk, params, ctx))
            }
        };
        node
    }

    fn on_message(&mut self, from: NodeId, msg: LeaseMsg, ctx: &mut Ctx<'_, Self>) {
        let p = &self.params;
        match &mut self.part {
            Part::Grantor(g) => g.on_message(from, msg, p, ctx),
            Part::Storage(s) => s.on_message(from, msg, p, ctx),
            Part::Holder(h) => h.on_message(msg, p, ctx),
        }
    }

    fn on_timer(&mut self, timer: LeaseTimer, ctx: &mut Ctx<'_, Self>) {
        let p = &self.params;
        match &mut self.part {
            Part::Grantor(g) => g.on_timer(timer, p, ctx),
            Part::Storage(_) => {}
            Part::Holder(h) => h.on_timer(timer, p, ctx),
        }
    }

    fn on_request(&mut self, client: ClientId, request: Request, ctx: &mut Ctx<'_, Self>) {
        let reply = match (&self.part, &request.op) {
            (Part::Storage(s), Op::Get { .. }) => Reply::Done { value: s.disk.value.clone() },
            (_, Op::Get { .. }) => Reply::Redirect { leader: Some(STORAGE) },
            (_, op) => Reply::Rejected {
                reason: format!(
                    "only the lease holders write to the storage; clients may only read (not {})",
                    op.name()
                ),
            },
        };
        ctx.reply(client, request.seq, reply);
    }

    /// "Time out now": an idle holder competes at once. (The grantor has no safe way to end a
    /// lease early, and the storage has no timer.)
    fn on_timeout_now(&mut self, ctx: &mut Ctx<'_, Self>) {
        let p = &self.params;
        if let Part::Holder(h) = &mut self.part {
            h.on_timer(LeaseTimer::Compete, p, ctx);
        }
    }

    fn reconfigure(
        current: &LeaseParams,
        change: &serde_json::Map<String, serde_json::Value>,
        _nodes: u16,
    ) -> Result<LeaseParams, String> {
        let next: LeaseParams = crate::sim::protocol::merge_params("lease", current, change)?;
        next.check()?;
        Ok(next)
    }

    fn on_configure(&mut self, params: &LeaseParams, _ctx: &mut Ctx<'_, Self>) {
        self.params = params.clone();
    }

    fn durable(&self) -> LeaseDurable {
        match &self.part {
            Part::Grantor(g) => LeaseDurable::Grantor(g.disk.clone()),
            Part::Storage(s) => LeaseDurable::Storage(s.disk.clone()),
            Part::Holder(h) => LeaseDurable::Holder(h.disk.clone()),
        }
    }

    fn status(&self) -> NodeStatus {
        let term = match &self.part {
            Part::Grantor(g) => g.disk.granted,
            Part::Storage(s) => s.disk.highest,
            Part::Holder(h) => h.holding.as_ref().map_or(0, |x| x.token),
        };
        NodeStatus { role: role_of(self.id), term }
    }

    fn view(&self) -> NodeView {
        let mut v = NodeView { role: role_of(self.id).into(), term: self.status().term, ..NodeView::default() };
        match &self.part {
            Part::Grantor(g) => {
                if let Some(c) = &g.current {
                    v.store.push(("holder".into(), c.holder.to_string()));
                    v.store.push(("token".into(), c.token.to_string()));
                    v.store.push(("until".into(), format!("{:.3}", c.until.0 as f64 / 1000.0)));
                } else if g.grace {
                    v.store.push(("grace".into(), "waiting".into()));
                }
            }
            Part::Storage(s) => v.store = s.store(),
            Part::Holder(h) => {
                if let Some(x) = &h.holding {
                    v.store.push(("token".into(), x.token.to_string()));
                    v.store.push(("until".into(), format!("{:.3}", x.expires.0 as f64 / 1000.0)));
                }
            }
        }
        v
    }

    fn durable_view(d: &LeaseDurable) -> NodeView {
        let mut v = NodeView { role: "crashed".into(), ..NodeView::default() };
        if let LeaseDurable::Storage(s) = d {
            v.store = Storage { disk: s.clone() }.store();
            v.term = s.highest;
        }
        v
    }

    fn inspect(&self) -> serde_json::Value {
        let part = match &self.part {
            Part::Grantor(g) => g.inspect(),
            Part::Storage(s) => s.inspect(),
            Part::Holder(h) => h.inspect(),
        };
        serde_json::json!({
            "role": role_of(self.id),
            "params": self.params,
            "state": part,
        })
    }

    fn figures(
        nodes: &[NodeRef<'_, Self>],
        now: Time,
        params: &LeaseParams,
        applied: &[crate::sim::action::TimedAction],
    ) -> serde_json::Value {
        figures::figures(nodes, now, params, applied)
    }
}

/// The fuzzer's `settled` check: the grantor is up and the storage has accepted a write since
/// the last heal (someone got the lease again and used it).
pub fn settled(sim: &dyn Simulation) -> Result<(), String> {
    let views = sim.node_views();
    if views.first().is_none_or(|v| v.role == "crashed") {
        return Err("the grantor n1 is down".into());
    }
    let healed_us = sim
        .applied_actions()
        .iter()
        .filter(|a| matches!(a.action, crate::sim::action::Action::Heal))
        .map(|a| a.at_us)
        .max()
        .unwrap_or(0);
    let f = sim.figures();
    let last = f["last_write_ms"].as_f64();
    match last {
        Some(ms) if ms * 1000.0 >= healed_us as f64 => Ok(()),
        _ => Err(format!(
            "no write accepted by the storage since the heal at {} ms (last at {})",
            healed_us / 1000,
            last.map_or("never".to_string(), |m| format!("{m} ms"))
        )),
    }
}
