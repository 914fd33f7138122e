//! Leader leases (Raft dissertation §6.4.1; etcd's `ReadOnlyLeaseBased`): the leader's heartbeat
//! rounds, the lease a majority's answers give it, reads answered from the lease, and the
//! followers' half of the bargain, the disregard rule of §4.2.3 (see the module essay in
//! `mod.rs` for why it is safe and the bound on drift it needs).

use super::messages::{Role, majority};
use super::{Raft, RaftParams, ReadMode};
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::{Ctx, NodeRef};
use crate::sim::time::Time;
use crate::workload::op::Reply;
use serde::Serialize;
use std::collections::BTreeMap;

type RCtx<'a, 'b> = &'a mut Ctx<'b, Raft>;

/// A leader's lease bookkeeping for its current term. Empty on followers and under
/// `read_mode: "log"`, where no round is ever started (every message then carries round 0,
/// which is not serialized, so the traces are those of plain Raft).
#[derive(Clone, Debug, Default)]
pub struct LeaseState {
    /// The latest heartbeat round this leader started (0: none).
    pub round: u64,
    /// Round → the leader's clock when the round began, for the rounds that may still extend
    /// the lease.
    pub started: BTreeMap<u64, Time>,
    /// Per node (the leader itself included), the latest round it has answered in this term.
    pub answered: Vec<u64>,
    /// The lease holds while the leader's clock reads before this.
    pub until: Option<Time>,
}

/// How many gets a node answered from its lease and how many it put through its log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReadCounts {
    pub lease: u64,
    pub log: u64,
}

/// A clock reading as the event log prints it: `1.234 s`.
pub(crate) fn seconds(t: Time) -> String {
    format!("{}.{:03} s", t.as_ms() / 1000, t.as_ms() % 1000)
}

impl Raft {
    fn lease_mode(&self) -> bool {
        self.params.read_mode == ReadMode::Lease
    }

    /// A new leadership (or a change of read mode) starts with no lease and no answers. The
    /// round number keeps counting up, so that a late answer to a round from before the reset
    /// can never be taken for an answer to a later round of the same term.
    pub(crate) fn reset_lease(&mut self) {
        let round = self.lease.round;
        self.lease = LeaseState { round, answered: vec![0; self.nodes as usize], ..LeaseState::default() };
    }

    /// The heartbeat starts a round: its AppendEntries carry the number, and the leader notes
    /// its clock now, before any of them leaves, so the lease can only start too early.
    pub(crate) fn begin_round(&mut self, ctx: RCtx) {
        if !self.lease_mode() {
            return;
        }
        let now = ctx.clock();
        self.lease.round += 1;
        let round = self.lease.round;
        self.lease.started.insert(round, now);
        if let Some(own) = self.lease.answered.get_mut(self.id.index()) {
            *own = round;
        }
        // A round whose lease would already be over can give nothing any more.
        let span = self.params.lease_ms * 1000;
        self.lease.started.retain(|_, t| t.after(span) > now);
    }

    /// Whether this node leads and its clock reads before the end of its lease.
    pub(crate) fn holds_lease(&self, clock: Time) -> bool {
        self.role == Role::Leader && self.lease.until.is_some_and(|u| clock < u)
    }

    /// A follower answered round `round` of this term (success or not: it heard the leader).
    /// The latest round that a majority has answered, counting the leader, extends the lease to
    /// its start plus `lease_ms`.
    pub(crate) fn round_answered(&mut self, from: NodeId, round: u64, ctx: RCtx) {
        if round == 0 || !self.lease_mode() {
            return;
        }
        match self.lease.answered.get_mut(from.index()) {
            Some(a) if *a < round => *a = round,
            _ => return,
        }
        let mut rounds = self.lease.answered.clone();
        rounds.sort_unstable_by(|a, b| b.cmp(a));
        let Some(&quorum) = rounds.get(majority(self.nodes as usize) - 1) else { return };
        let Some(&start) = self.lease.started.get(&quorum) else { return };
        let clock = ctx.clock();
        let had = self.holds_lease(clock);
        let until = start.after(self.params.lease_ms * 1000);
        if self.lease.until.is_none_or(|u| until > u) {
            self.lease.until = Some(until);
        }
        self.lease.started.retain(|r, _| *r >= quorum);
        if !had && self.holds_lease(clock) {
            ctx.note(format!(
                "{} holds a leader lease until {} on its clock: a majority answered round {quorum}",
                self.id,
                seconds(until)
            ));
        }
    }

    /// Under `read_mode: "lease"`, answers a get at once from the state machine if the lease
    /// holds and the leader has committed an entry of its own term (§6.4: until then it may not
    /// know what is committed). Returns whether it answered; if not, the get goes through the
    /// log.
    pub(crate) fn lease_read(&mut self, client: ClientId, seq: u64, key: &str, ctx: RCtx) -> bool {
        if !self.lease_mode() {
            return false;
        }
        let clock = ctx.clock();
        if !self.holds_lease(clock) {
            let why = match self.lease.until {
                Some(u) => format!("its lease ran out at {} and its clock reads {}", seconds(u), seconds(clock)),
                None => "it holds no lease yet".to_string(),
            };
            ctx.note(format!("{} puts {client}'s get {key} through the log: {why}", self.id));
            return false;
        }
        if self.term_at(self.commit_index) != Some(self.current_term) {
            ctx.note(format!(
                "{} puts {client}'s get {key} through the log: it has not committed an entry of term {} yet",
                self.id, self.current_term
            ));
            return false;
        }
        let value = self.store.data.get(key).cloned();
        let until = self.lease.until.unwrap_or(clock);
        ctx.note(format!(
            "{} answers {client}'s get {key} = {} from its lease (until {} on its clock, now {}): no round trip",
            self.id,
            value.as_deref().unwrap_or("(none)"),
            seconds(until),
            seconds(clock)
        ));
        ctx.reply(client, seq, Reply::Done { value });
        self.reads.lease += 1;
        true
    }

    /// §4.2.3 / §6.4.1: under stickiness a server that heard from a leader (or started) less
    /// than the smallest election timeout ago on its clock disregards a RequestVote: it neither
    /// adopts the term nor votes, so the lease it helped grant stays the only one. A leader
    /// answers as usual (stepping down ends its own lease).
    pub(crate) fn disregards_vote(&self, from: NodeId, term: u64, ctx: RCtx) -> bool {
        if !self.params.sticky() || self.role == Role::Leader || term <= self.current_term {
            return false;
        }
        let Some(heard) = self.heard_leader_at else { return false };
        let clock = ctx.clock();
        let min = self.params.election_timeout_ms[0] * 1000;
        // A clock that went back since reads as no time passed: the safe side.
        if clock.since(heard) >= min {
            return false;
        }
        ctx.note(format!(
            "{} disregards {from}'s RequestVote for term {term}: it heard from a leader {} ms ago on its clock, under the {} ms election timeout",
            self.id,
            clock.since(heard) / 1000,
            min / 1000
        ));
        true
    }
}

/// The figures under `read_mode: "lease"` (`Null` otherwise, as before leases existed): reads
/// served by lease and through the log, summed over the nodes, and every node that believes
/// it holds a lease now, with what is left of it on its own clock. Two at once is the stale
/// read's precondition.
pub(crate) fn figures(nodes: &[NodeRef<'_, Raft>], params: &RaftParams) -> serde_json::Value {
    if params.read_mode != ReadMode::Lease {
        return serde_json::Value::Null;
    }
    let mut reads = ReadCounts::default();
    let mut holders = Vec::new();
    for n in nodes {
        let counts = match (n.live, n.durable) {
            (Some(live), _) => live.reads,
            (None, Some(d)) => d.reads,
            (None, None) => ReadCounts::default(),
        };
        reads.lease += counts.lease;
        reads.log += counts.log;
        if let Some(live) = n.live
            && live.holds_lease(n.clock)
            && let Some(until) = live.lease.until
        {
            holders.push(serde_json::json!({
                "node": n.id,
                "term": live.current_term,
                "until_ms": until.as_us() as f64 / 1000.0,
                "remaining_ms": until.since(n.clock) as f64 / 1000.0,
            }));
        }
    }
    serde_json::json!({
        "lease_reads": reads.lease,
        "log_reads": reads.log,
        "lease_holders": holders.len(),
        "leases": holders,
    })
}
