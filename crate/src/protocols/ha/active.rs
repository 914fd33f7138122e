//! Active-active (mutual backup): every node serves, and ships its own writes to the others
//! every `async_ship_ms`. Version vectors tell concurrent writes from ordered ones; concurrent
//! ones are a conflict, kept as siblings or settled by last-writer-wins on the writers' clocks.
//!
//! Both rules are joins, so the nodes converge once every write has reached every node, in
//! whatever order it arrived:
//! - `siblings` keeps per key the causal frontier, every version no other held version
//!   descends from (Dynamo's siblings); a write at a node descends from all of them.
//! - `lww` keeps the version with the latest stamp, ties to the higher node id (Cassandra's
//!   rule). A node stamps a write after every version of the key it holds, so a write that
//!   follows another always wins over it, and only concurrent writes are decided by the
//!   writers' clocks, as a hybrid logical clock does. Without that, a write made after seeing
//!   a version with a later stamp would lose on some nodes and win on others (fuzz seed 461).

use super::messages::{AckRecord, HaMsg, HaTimer, Version};
use super::{Conflict, Ha, clock};
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::Ctx;
use crate::workload::op::{Op, Reply, Request};
use std::collections::BTreeMap;

/// `a` descends from (or equals) `b`: it has seen every write `b` has.
fn descends(a: &BTreeMap<NodeId, u64>, b: &BTreeMap<NodeId, u64>) -> bool {
    b.iter().all(|(n, c)| a.get(n).copied().unwrap_or(0) >= *c)
}

fn merged(a: &BTreeMap<NodeId, u64>, b: &BTreeMap<NodeId, u64>) -> BTreeMap<NodeId, u64> {
    let mut m = a.clone();
    for (n, c) in b {
        let e = m.entry(*n).or_insert(0);
        *e = (*e).max(*c);
    }
    m
}

/// What a read of a key's frontier sees: every version (siblings) or the one with the latest
/// writer's clock, ties to the higher node id (last-writer-wins).
pub(crate) fn visible(versions: &[Version], conflict: Conflict) -> Vec<&Version> {
    match conflict {
        Conflict::Siblings => versions.iter().collect(),
        Conflict::Lww => versions.iter().max_by_key(|x| (x.ts, x.node)).into_iter().collect(),
    }
}

impl Ha {
    pub(crate) fn start_active(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(self.params.async_ship_ms * 1000, HaTimer::ShipVersions);
    }

    pub(crate) fn active_request(&mut self, client: ClientId, request: Request, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now().0;
        match request.op {
            Op::Get { key } => {
                let value = self.d.aa_store.get(&key).filter(|vs| !vs.is_empty()).map(|vs| {
                    visible(vs, self.params.conflict).iter().map(|v| v.value.as_str()).collect::<Vec<_>>().join(" | ")
                });
                self.d.stats.ok(client, request.seq, now);
                ctx.reply(client, request.seq, Reply::Done { value });
            }
            Op::Put { key, value } => {
                // A retried or duplicated request is applied once.
                if self.d.sessions.get(&client).is_some_and(|s| *s >= request.seq) {
                    self.d.stats.ok(client, request.seq, now);
                    ctx.reply(client, request.seq, Reply::Done { value: None });
                    return;
                }
                self.d.sessions.insert(client, request.seq);
                self.d.aa_counter += 1;
                let counter = self.d.aa_counter;
                let mut vv = BTreeMap::new();
                let mut after = 0;
                for v in self.d.aa_store.get(&key).into_iter().flatten() {
                    vv = merged(&vv, &v.vv);
                    after = after.max(v.ts + 1);
                }
                vv.insert(self.id, counter);
                let version = Version {
                    value: value.clone(),
                    ts: clock(ctx).max(after),
                    node: self.id,
                    counter,
                    vv,
                    client,
                    seq: request.seq,
                };
                self.d.aa_store.insert(key.clone(), vec![version.clone()]);
                for peer in (0..self.nodes).map(NodeId).filter(|n| *n != self.id) {
                    self.d.aa_outbox.entry(peer).or_default().push((key.clone(), version.clone()));
                }
                self.d.applied.push((client, request.seq));
                self.d.stats.acks.push(AckRecord {
                    client,
                    seq: request.seq,
                    key,
                    value,
                    view: 0,
                    at_us: now,
                    how: "active",
                });
                self.d.stats.ok(client, request.seq, now);
                ctx.reply(client, request.seq, Reply::Done { value: None });
            }
            Op::Txn { .. } => ctx.reply(
                client,
                request.seq,
                Reply::Rejected { reason: "ha serves single-key reads and writes".into() },
            ),
        }
    }

    pub(crate) fn ship_versions(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(self.params.async_ship_ms * 1000, HaTimer::ShipVersions);
        for (peer, out) in &self.d.aa_outbox {
            if let Some((_, last)) = out.last() {
                ctx.send(*peer, HaMsg::Versions { versions: out.clone(), upto: last.counter });
            }
        }
    }

    pub(crate) fn on_versions_ack(&mut self, from: NodeId, upto: u64) {
        if let Some(out) = self.d.aa_outbox.get_mut(&from) {
            out.retain(|(_, v)| v.counter > upto);
        }
    }

    pub(crate) fn on_versions(
        &mut self,
        from: NodeId,
        versions: Vec<(String, Version)>,
        upto: u64,
        ctx: &mut Ctx<'_, Self>,
    ) {
        for (key, v) in versions {
            self.merge_version(key, v, ctx);
        }
        ctx.send(from, HaMsg::VersionsAck { upto });
    }

    fn merge_version(&mut self, key: String, v: Version, ctx: &mut Ctx<'_, Self>) {
        let local = self.d.aa_store.remove(&key).unwrap_or_default();
        if local.iter().any(|l| (l.node, l.counter) == (v.node, v.counter) || descends(&l.vv, &v.vv)) {
            self.d.aa_store.insert(key, local);
            return;
        }
        if !self.d.applied.contains(&(v.client, v.seq)) {
            self.d.applied.push((v.client, v.seq));
        }
        let concurrent: Vec<&Version> = local.iter().filter(|l| !descends(&v.vv, &l.vv)).collect();
        for l in &concurrent {
            let (a, b) = ((l.node, l.counter), (v.node, v.counter));
            let pair = if a < b { (a, b) } else { (b, a) };
            if !self.d.stats.conflicts.iter().any(|(k, x, y)| *k == key && (*x, *y) == pair) {
                self.d.stats.conflicts.push((key.clone(), pair.0, pair.1));
            }
        }
        match self.params.conflict {
            Conflict::Siblings => {
                let mut all: Vec<Version> = local.iter().filter(|l| !descends(&v.vv, &l.vv)).cloned().collect();
                if !all.is_empty() {
                    ctx.note(format!(
                        "{}: concurrent writes to {key} ({}, {}): kept as siblings",
                        self.id,
                        all.iter().map(|x| x.value.as_str()).collect::<Vec<_>>().join(" | "),
                        v.value
                    ));
                }
                all.push(v);
                all.sort_by_key(|x| (x.node, x.counter));
                self.d.aa_store.insert(key, all);
            }
            Conflict::Lww => {
                let mut vv = v.vv.clone();
                for l in &local {
                    vv = merged(&vv, &l.vv);
                }
                let mut all = local.clone();
                all.push(v.clone());
                let Some(mut winner) = visible(&all, Conflict::Lww).first().map(|w| (*w).clone()) else { return };
                // The versions the winner neither is nor follows: acknowledged writes dropped.
                let losers: Vec<&Version> = all
                    .iter()
                    .filter(|x| (x.node, x.counter) != (winner.node, winner.counter) && !descends(&winner.vv, &x.vv))
                    .collect();
                if !losers.is_empty() {
                    ctx.note(format!(
                        "{}: concurrent writes to {key}: last writer wins by clock, {} (written by {} at {} on its clock) beats {}",
                        self.id,
                        winner.value,
                        winner.node,
                        super::ms(winner.ts),
                        losers.iter().map(|x| x.value.as_str()).collect::<Vec<_>>().join(", ")
                    ));
                }
                for x in losers {
                    if !self.d.stats.discarded.contains(&(x.client, x.seq)) {
                        self.d.stats.discarded.push((x.client, x.seq));
                    }
                }
                winner.vv = vv;
                self.d.aa_store.insert(key, vec![winner]);
            }
        }
    }
}
