//! High availability's wire messages, timers and the records a node keeps. The primary-backup
//! names follow Alsberg & Day and MIT 6.824's Lab 2 (`Ping`, `ViewIs`); the load balancer's
//! follow HAProxy and Envoy (`HealthCheck`); active-active ships `Versions` as Dynamo does.

use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::Message;
use crate::workload::op::{Op, Reply};
use serde::Serialize;
use std::collections::BTreeMap;

/// One client write in a primary's log. `client` and `seq` identify it: a retry is not
/// appended twice, and the acknowledged-write accounting finds it by them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub view: u64,
    pub client: ClientId,
    pub seq: u64,
    pub key: String,
    pub value: String,
}

/// Active-active: one version of a key, stamped with the writer's clock (for last-writer-wins)
/// and a version vector (to tell concurrent writes from ordered ones).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Version {
    pub value: String,
    /// The writer's own clock reading when it wrote, in µs (skew and drift matter).
    pub ts: u64,
    pub node: NodeId,
    /// The writer's write counter: (node, counter) names the version.
    pub counter: u64,
    pub vv: BTreeMap<NodeId, u64>,
    #[serde(skip)]
    pub client: ClientId,
    #[serde(skip)]
    pub seq: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum HaMsg {
    /// Primary → every other replica: I am primary of `view`; here are my log entries from
    /// `from` on (empty between writes under asynchronous replication). `sent` is the
    /// primary's clock when it sent it: a lease is counted from there. `len` is the primary's
    /// log length: a backup drops what it holds beyond it (entries of a deposed primary).
    Heartbeat {
        view: u64,
        from: u64,
        entries: Vec<Entry>,
        len: u64,
        sent: u64,
    },
    /// Replica → primary: my log has `len` entries of `view`. `grant`: the designated backup
    /// grants a lease counted from `sent`.
    HeartbeatAck {
        view: u64,
        len: u64,
        sent: u64,
        grant: bool,
    },
    /// A node that knows a newer view tells a sender of an older one.
    NewerView {
        view: u64,
        primary: Option<NodeId>,
        backup: Option<NodeId>,
    },
    /// Replica → view server, every heartbeat: I am alive and have acknowledged `view`.
    Ping {
        view: u64,
        sent: u64,
    },
    /// View server → replica: the current view. The primary named here may serve until
    /// `sent` plus the lease on its own clock.
    ViewIs {
        view: u64,
        primary: Option<NodeId>,
        backup: Option<NodeId>,
        sent: u64,
    },
    /// Active-active: versions written at the sender that the receiver has not acknowledged.
    Versions {
        versions: Vec<(String, Version)>,
        upto: u64,
    },
    VersionsAck {
        upto: u64,
    },
    /// Load balancer → server: a client's request; `id` numbers it at the balancer.
    Forward {
        id: u64,
        client: ClientId,
        seq: u64,
        op: Op,
    },
    ForwardReply {
        id: u64,
        reply: Reply,
    },
    /// Server → other servers: a write it applied (last-writer-wins by (stamp, node)).
    Propagate {
        key: String,
        value: String,
        stamp: u64,
        client: ClientId,
        seq: u64,
    },
    HealthCheck {
        round: u64,
    },
    HealthOk {
        round: u64,
    },
}

impl Message for HaMsg {
    fn label(&self) -> &'static str {
        match self {
            HaMsg::Heartbeat { entries, .. } if entries.is_empty() => "Heartbeat",
            HaMsg::Heartbeat { .. } => "Replicate",
            HaMsg::HeartbeatAck { .. } => "Ack",
            HaMsg::NewerView { .. } => "NewerView",
            HaMsg::Ping { .. } => "Ping",
            HaMsg::ViewIs { .. } => "ViewIs",
            HaMsg::Versions { .. } => "Versions",
            HaMsg::VersionsAck { .. } => "VersionsAck",
            HaMsg::Forward { .. } => "Forward",
            HaMsg::ForwardReply { .. } => "ForwardReply",
            HaMsg::Propagate { .. } => "Propagate",
            HaMsg::HealthCheck { .. } => "HealthCheck",
            HaMsg::HealthOk { .. } => "HealthOk",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum HaTimer {
    /// Primary: send heartbeats (and, synchronously replicated, the unacknowledged entries).
    Heartbeat,
    /// Primary, asynchronous replication: ship the entries written since the last batch.
    Ship,
    /// Backup: no heartbeat from the primary for `fd_timeout_ms` on my clock.
    Suspect,
    /// Backup under a lease: the lease I granted has run out on my clock; take over now.
    LeaseWait,
    /// Primary, semi-synchronous: entry `lsn` has waited `semi_sync_timeout_ms` for the backup.
    SemiSync {
        lsn: u64,
    },
    /// Replica → view server ping; view server's look at who is alive.
    Ping,
    ViewTick,
    /// Active-active shipping beat.
    ShipVersions,
    /// Load balancer.
    HealthRound,
    ForwardTimeout {
        id: u64,
    },
}

/// A write acknowledged to its client: the figures and invariants compare these with the
/// stores. `at_us` is true time (a record, never a decision).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AckRecord {
    pub client: ClientId,
    pub seq: u64,
    pub key: String,
    pub value: String,
    pub view: u64,
    pub at_us: u64,
    /// "sync", "semi_sync", "async" (also semi-sync fallen back), "active", "server".
    pub how: &'static str,
}

/// A primary's time in office: promoted at `at_us`, its first successful answer at
/// `first_ok_us`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Promotion {
    pub view: u64,
    pub at_us: u64,
    pub first_ok_us: Option<u64>,
}

/// One conflict: the key and the two versions, each named (writer, write counter), in order.
pub type Conflict = (String, (NodeId, u64), (NodeId, u64));

/// The width of an availability interval.
pub const ATTEMPT_BUCKET_US: u64 = 500_000;

/// What a node measured (true time): kept with its durable state so that a crashed node's
/// records still count.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// (client, seq) → (first seen here, first answered successfully here).
    pub ops: BTreeMap<(ClientId, u64), (u64, Option<u64>)>,
    /// Per half second (index = true time / 500 ms): requests that arrived here, and
    /// successful answers given here.
    pub attempts: BTreeMap<u64, (u64, u64)>,
    pub acks: Vec<AckRecord>,
    pub promotions: Vec<Promotion>,
    /// Load balancer: requests forwarded to a server that never answered, and when the
    /// balancer marked each server down.
    pub lost_before_detection: u64,
    pub marked_down: Vec<(NodeId, u64)>,
    /// Active-active: each conflict once, as (key, the two version names in order).
    pub conflicts: Vec<Conflict>,
    /// Active-active, last-writer-wins: acknowledged writes thrown away for a concurrent one.
    pub discarded: Vec<(ClientId, u64)>,
}

impl Stats {
    pub fn seen(&mut self, client: ClientId, seq: u64, now: u64) {
        self.ops.entry((client, seq)).or_insert((now, None));
        self.attempts.entry(now / ATTEMPT_BUCKET_US).or_default().0 += 1;
    }

    pub fn ok(&mut self, client: ClientId, seq: u64, now: u64) {
        self.ops.entry((client, seq)).or_insert((now, None)).1.get_or_insert(now);
        self.attempts.entry(now / ATTEMPT_BUCKET_US).or_default().1 += 1;
    }
}
