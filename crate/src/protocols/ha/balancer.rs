//! A load-balanced cluster: n1 forwards each client request to an up server, round robin or to
//! the one with the fewest requests in progress, and checks the servers' health every
//! `health_ms` (HAProxy's `fall`/`rise`: `unhealthy_after` missed checks mark a server down,
//! `healthy_after` answered ones up). The servers apply writes and propagate them to each other.

use super::messages::{AckRecord, HaMsg, HaTimer};
use super::{Balance, Forwarded, Ha, Health, clock};
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::Ctx;
use crate::workload::op::{Op, Reply, Request};

const BALANCER: NodeId = NodeId(0);

impl Ha {
    pub(crate) fn start_balanced(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.id != BALANCER {
            return;
        }
        for s in 1..self.nodes {
            self.health.insert(NodeId(s), Health { up: true, answered: true, ..Health::default() });
        }
        self.health_round(ctx);
    }

    pub(crate) fn balanced_request(&mut self, client: ClientId, request: Request, ctx: &mut Ctx<'_, Self>) {
        if self.id != BALANCER {
            ctx.reply(client, request.seq, Reply::Redirect { leader: Some(BALANCER) });
            return;
        }
        let Some(server) = self.pick() else {
            ctx.reply(client, request.seq, Reply::Redirect { leader: None });
            return;
        };
        let id = self.next_forward;
        self.next_forward += 1;
        if let Some(h) = self.health.get_mut(&server) {
            h.active += 1;
        }
        self.forwards.insert(id, Forwarded { client, seq: request.seq, server });
        ctx.set_timer(self.params.forward_timeout_ms * 1000, HaTimer::ForwardTimeout { id });
        ctx.send(server, HaMsg::Forward { id, client, seq: request.seq, op: request.op });
    }

    fn pick(&mut self) -> Option<NodeId> {
        let up: Vec<(NodeId, u32)> = self.health.iter().filter(|(_, h)| h.up).map(|(n, h)| (*n, h.active)).collect();
        if up.is_empty() {
            return None;
        }
        let start = self.next_rr as usize % up.len();
        self.next_rr = self.next_rr.wrapping_add(1);
        match self.params.balance {
            Balance::RoundRobin => up.get(start).map(|(n, _)| *n),
            // Fewest in progress; ties taken in turn so that an idle cluster still spreads.
            Balance::LeastConnections => {
                (0..up.len()).map(|k| up[(start + k) % up.len()]).min_by_key(|(_, active)| *active).map(|(n, _)| n)
            }
        }
    }

    pub(crate) fn on_forward_reply(&mut self, id: u64, reply: Reply, ctx: &mut Ctx<'_, Self>) {
        let Some(f) = self.forwards.remove(&id) else { return };
        if let Some(h) = self.health.get_mut(&f.server) {
            h.active = h.active.saturating_sub(1);
        }
        ctx.cancel_timer(HaTimer::ForwardTimeout { id });
        if matches!(reply, Reply::Done { .. }) {
            self.d.stats.ok(f.client, f.seq, ctx.now().0);
        }
        ctx.reply(f.client, f.seq, reply);
    }

    pub(crate) fn forward_timeout(&mut self, id: u64, ctx: &mut Ctx<'_, Self>) {
        let Some(f) = self.forwards.remove(&id) else { return };
        if let Some(h) = self.health.get_mut(&f.server) {
            h.active = h.active.saturating_sub(1);
        }
        self.d.stats.lost_before_detection += 1;
        ctx.note(format!(
            "request c{}.{} forwarded to {} got no answer in {} ms: lost (the health checks have not marked {} down yet)",
            f.client.0 + 1,
            f.seq,
            f.server,
            self.params.forward_timeout_ms,
            f.server
        ));
    }

    pub(crate) fn health_round(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(self.params.health_ms * 1000, HaTimer::HealthRound);
        let (fall, rise) = (self.params.unhealthy_after, self.params.healthy_after);
        let now = ctx.now().0;
        let mut notes = Vec::new();
        for (n, h) in self.health.iter_mut() {
            if self.round > 0 {
                if h.answered {
                    h.oks += 1;
                    h.fails = 0;
                } else {
                    h.fails += 1;
                    h.oks = 0;
                }
            }
            if h.up && h.fails >= fall {
                h.up = false;
                self.d.stats.marked_down.push((*n, now));
                notes.push(format!(
                    "balancer: {n} missed {fall} health checks in a row: marked down, no more requests go to it"
                ));
            } else if !h.up && h.oks >= rise {
                h.up = true;
                notes.push(format!("balancer: {n} answered {rise} health checks in a row: marked up again"));
            }
            h.answered = false;
        }
        for n in notes {
            ctx.note(n);
        }
        self.round += 1;
        let round = self.round;
        for n in self.health.keys() {
            ctx.send(*n, HaMsg::HealthCheck { round });
        }
    }

    pub(crate) fn on_health_ok(&mut self, from: NodeId, round: u64) {
        if round == self.round
            && let Some(h) = self.health.get_mut(&from)
        {
            h.answered = true;
        }
    }

    pub(crate) fn on_forward(
        &mut self,
        from: NodeId,
        id: u64,
        client: ClientId,
        seq: u64,
        op: Op,
        ctx: &mut Ctx<'_, Self>,
    ) {
        let reply = match op {
            Op::Get { key } => Reply::Done { value: self.d.lb_store.get(&key).map(|(_, _, v)| v.clone()) },
            Op::Put { key, value } => {
                if !self.d.applied.contains(&(client, seq)) {
                    let stamp = clock(ctx);
                    self.apply_server(key.clone(), value.clone(), stamp, self.id, client, seq);
                    for peer in (1..self.nodes).map(NodeId).filter(|n| *n != self.id) {
                        let msg = HaMsg::Propagate { key: key.clone(), value: value.clone(), stamp, client, seq };
                        ctx.send(peer, msg);
                    }
                    let now = ctx.now().0;
                    self.d.stats.acks.push(AckRecord { client, seq, key, value, view: 0, at_us: now, how: "server" });
                }
                Reply::Done { value: None }
            }
            Op::Txn { .. } => Reply::Rejected { reason: "ha serves single-key reads and writes".into() },
        };
        ctx.send(from, HaMsg::ForwardReply { id, reply });
    }

    pub(crate) fn on_propagate(
        &mut self,
        from: NodeId,
        key: String,
        value: String,
        stamp: u64,
        client: ClientId,
        seq: u64,
    ) {
        self.apply_server(key, value, stamp, from, client, seq);
    }

    fn apply_server(&mut self, key: String, value: String, stamp: u64, writer: NodeId, client: ClientId, seq: u64) {
        if !self.d.applied.contains(&(client, seq)) {
            self.d.applied.push((client, seq));
        }
        let newer = self.d.lb_store.get(&key).is_none_or(|(s, w, _)| (stamp, writer) > (*s, *w));
        if newer {
            self.d.lb_store.insert(key, (stamp, writer, value));
        }
    }
}
