//! What one SWIM node does: the protocol period (probe, indirect probe, suspect), the
//! suspicion timeout, the precedence rules applied to every piggybacked update, refutation, and
//! the piggyback queue.

use super::membership::overrides;
use super::messages::{State, SwimMsg, SwimTimer, Update};
use super::{Broadcast, Milestone, Probe, Relay, Swim, Transition};
use crate::sim::ids::NodeId;
use crate::sim::protocol::Ctx;

/// Clusters up to this size get a note for every change of belief; larger ones only for the
/// milestones (a suspicion raised by a node's own probe, a death it declares, a refutation).
pub const NOTE_ALL_UP_TO: u16 = 64;

/// How many membership milestones each node keeps for the figures and the inspector
/// (suspicions, deaths and revivals; when full, a revival is forgotten first, then a
/// suspicion, and a death last).
pub const MILESTONES_KEPT: usize = 64;

impl Swim {
    fn chatty(&self) -> bool {
        self.nodes <= NOTE_ALL_UP_TO
    }

    /// The protocol period (§3.1 and §4.3): judge the last probe, then probe the next member
    /// of the round-robin order.
    pub(crate) fn period(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(self.params.protocol_period_ms * 1000, SwimTimer::Period);
        ctx.cancel_timer(SwimTimer::PingTimeout);
        if let Some(p) = self.probe.take()
            && !p.acked
        {
            self.suspect_after_probe(p.target, ctx);
        }
        let Some(target) = self.next_target(ctx) else { return };
        self.seq += 1;
        self.probe = Some(Probe { target, seq: self.seq, acked: false, helpers: Vec::new() });
        let extra = self.belief_for(target);
        let updates = self.piggyback(extra);
        self.send(target, SwimMsg::Ping { seq: self.seq, updates }, ctx);
        ctx.set_timer(self.params.ping_timeout_ms * 1000, SwimTimer::PingTimeout);
    }

    /// The next member in this pass over a random permutation of the others, skipping itself
    /// and members it believes dead (§4.3). A pass ends after n draws; the next one uses a
    /// fresh permutation.
    fn next_target(&mut self, ctx: &mut Ctx<'_, Self>) -> Option<NodeId> {
        let n = u64::from(self.nodes);
        if n < 2 {
            return None;
        }
        for _ in 0..n {
            if self.order.pos >= n {
                self.order.reshuffle(n, ctx.rng());
            }
            let m = NodeId(self.order.at(n) as u16);
            self.order.pos += 1;
            if m != self.id && self.table.get(m).state != State::Dead {
                return Some(m);
            }
        }
        None
    }

    /// No direct ack within the ping timeout: ask k other members to probe the target.
    pub(crate) fn ping_timeout(&mut self, ctx: &mut Ctx<'_, Self>) {
        let Some(p) = &self.probe else { return };
        if p.acked {
            return;
        }
        let (target, seq) = (p.target, p.seq);
        let helpers = self.choose_helpers(target, ctx);
        if self.chatty() {
            let names: Vec<String> = helpers.iter().map(|h| h.to_string()).collect();
            ctx.note(format!(
                "{} had no ack from {target} within {} ms; asks {} to probe it",
                self.id,
                self.params.ping_timeout_ms,
                if names.is_empty() { "no one (no other member alive)".to_string() } else { names.join(", ") }
            ));
        }
        for &h in &helpers {
            let updates = self.piggyback(None);
            self.send(h, SwimMsg::PingReq { seq, target, updates }, ctx);
        }
        if let Some(p) = &mut self.probe {
            p.helpers = helpers;
        }
    }

    /// k distinct members other than itself and the target, that it believes alive, at random.
    fn choose_helpers(&self, target: NodeId, ctx: &mut Ctx<'_, Self>) -> Vec<NodeId> {
        let k = usize::from(self.params.indirect_checks);
        let fits = |m: NodeId| m != self.id && m != target && self.table.get(m).state == State::Alive;
        let mut chosen = Vec::with_capacity(k);
        if self.nodes <= 64 {
            let mut all: Vec<NodeId> = (0..self.nodes).map(NodeId).filter(|m| fits(*m)).collect();
            while chosen.len() < k && !all.is_empty() {
                let i = ctx.rng().index(all.len());
                chosen.push(all.swap_remove(i));
            }
        } else {
            // Random draws with a bounded number of tries, as memberlist's kRandomNodes: O(k),
            // not O(n), at the price of sometimes fewer than k when most members are down.
            for _ in 0..(8 * k + 16) {
                if chosen.len() == k {
                    break;
                }
                let m = NodeId(ctx.rng().below(u64::from(self.nodes)) as u16);
                if fits(m) && !chosen.contains(&m) {
                    chosen.push(m);
                }
            }
        }
        chosen
    }

    fn suspect_after_probe(&mut self, target: NodeId, ctx: &mut Ctx<'_, Self>) {
        let e = self.table.get(target);
        if e.state != State::Alive {
            return;
        }
        self.durable.counters.suspicions_raised += 1;
        self.raised.push(target);
        ctx.note(format!(
            "{} suspects {target}: no ack, direct or indirect, within the protocol period (incarnation {})",
            self.id, e.incarnation
        ));
        self.transition(target, State::Suspect, e.incarnation, ctx);
        self.enqueue(Update { member: target, state: State::Suspect, incarnation: e.incarnation });
    }

    /// The suspicion timeout ran out (§4.2): a member still suspect at the same incarnation
    /// is declared dead, and the `Confirm` is disseminated.
    pub(crate) fn suspicion_expired(&mut self, m: NodeId, ctx: &mut Ctx<'_, Self>) {
        let e = self.table.get(m);
        if e.state != State::Suspect {
            return;
        }
        self.durable.counters.declared_dead += 1;
        if self.chatty() || self.raised.contains(&m) {
            ctx.note(format!(
                "{} declares {m} dead: suspected for {} ms without a refutation",
                self.id,
                self.suspicion_timeout_us / 1000
            ));
        }
        self.transition(m, State::Dead, e.incarnation, ctx);
        self.enqueue(Update { member: m, state: State::Dead, incarnation: e.incarnation });
    }

    /// Ping one member believed dead, telling it so: if it is up it refutes, and its answer
    /// carries the refutation back.
    pub(crate) fn reconnect(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(self.params.reconnect_interval_ms * 1000, SwimTimer::Reconnect);
        let dead = self.table.dead_count();
        if dead == 0 {
            return;
        }
        let pick = ctx.rng().below(u64::from(dead)) as usize;
        let Some(m) = self.table.not_alive().filter(|(_, e)| e.state == State::Dead).map(|(m, _)| m).nth(pick) else {
            return;
        };
        self.seq += 1;
        let updates = self.piggyback(self.belief_for(m));
        self.send(m, SwimMsg::Ping { seq: self.seq, updates }, ctx);
    }

    pub(crate) fn handle(&mut self, from: NodeId, msg: SwimMsg, ctx: &mut Ctx<'_, Self>) {
        self.merge(msg.updates(), ctx);
        match msg {
            SwimMsg::Ping { seq, .. } => {
                let updates = self.piggyback(self.belief_for(from));
                self.send(from, SwimMsg::Ack { seq, updates }, ctx);
            }
            SwimMsg::PingReq { seq, target, .. } => {
                if target == self.id {
                    let updates = self.piggyback(None);
                    self.send(from, SwimMsg::Ack { seq, updates }, ctx);
                    return;
                }
                let now = ctx.now().0;
                let keep = self.params.protocol_period_ms * 1000;
                self.relays.retain(|r| now.saturating_sub(r.at_us) < keep);
                self.seq += 1;
                self.relays.push(Relay { seq: self.seq, origin: from, origin_seq: seq, at_us: now });
                let updates = self.piggyback(self.belief_for(target));
                self.send(target, SwimMsg::Ping { seq: self.seq, updates }, ctx);
            }
            SwimMsg::Ack { seq, .. } => {
                if let Some(p) = &mut self.probe
                    && p.seq == seq
                {
                    if !p.acked {
                        p.acked = true;
                        ctx.cancel_timer(SwimTimer::PingTimeout);
                    }
                    return;
                }
                if let Some(i) = self.relays.iter().position(|r| r.seq == seq) {
                    let r = self.relays.swap_remove(i);
                    let updates = self.piggyback(None);
                    self.send(r.origin, SwimMsg::Ack { seq: r.origin_seq, updates }, ctx);
                }
            }
        }
    }

    /// Applies every piggybacked update by the precedence rules.
    fn merge(&mut self, updates: &[Update], ctx: &mut Ctx<'_, Self>) {
        for &u in updates {
            if usize::from(u.member.0) >= usize::from(self.nodes) {
                continue;
            }
            if u.member == self.id {
                self.about_itself(u, ctx);
                continue;
            }
            let e = self.table.get(u.member);
            if !overrides((u.state, u.incarnation), (e.state, e.incarnation)) {
                continue;
            }
            if self.chatty() || (u.state == State::Alive && e.state == State::Dead && self.nodes <= 512) {
                ctx.note(format!(
                    "{} learns {} is {} (incarnation {}); it believed {} (incarnation {})",
                    self.id,
                    u.member,
                    u.state.name(),
                    u.incarnation,
                    e.state.name(),
                    e.incarnation
                ));
            }
            self.transition(u.member, u.state, u.incarnation, ctx);
            self.enqueue(u);
        }
    }

    /// Suspicion, refutation (§4.2): a node that hears it is suspected or dead at its current
    /// incarnation (or above, which only a forged update could say) raises its incarnation
    /// above it and announces itself alive. A report about an older incarnation is stale, but
    /// whoever sent it has not heard the newer `Alive`, so it announces that again.
    fn about_itself(&mut self, u: Update, ctx: &mut Ctx<'_, Self>) {
        if u.state == State::Alive {
            return;
        }
        let own = self.incarnation();
        if u.incarnation >= own {
            match u.state {
                State::Dead => self.durable.counters.dead_while_up += 1,
                _ => self.durable.counters.suspected_while_up += 1,
            }
            self.durable.counters.refutations += 1;
            let next = u.incarnation + 1;
            ctx.note(format!(
                "{} hears it is {} at incarnation {}, and refutes: alive at incarnation {next}",
                self.id,
                if u.state == State::Dead { "declared dead" } else { "suspected" },
                u.incarnation
            ));
            self.transition(self.id, State::Alive, next, ctx);
            self.enqueue(Update { member: self.id, state: State::Alive, incarnation: next });
        } else if !self.queue.iter().any(|b| b.update.member == self.id && b.transmits == 0) {
            self.durable.counters.refutations += 1;
            self.enqueue(Update { member: self.id, state: State::Alive, incarnation: own });
        }
    }

    /// Changes one entry, recording the change for the invariant checker and the figures and
    /// keeping the suspicion timer in step with it.
    pub(crate) fn transition(&mut self, m: NodeId, state: State, incarnation: u64, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now().0;
        let old = self.table.set(m, state, incarnation, now);
        self.journal.push(Transition { member: m, from: (old.state, old.incarnation), to: (state, incarnation) });
        if old.state == State::Suspect {
            ctx.cancel_timer(SwimTimer::Suspicion(m));
        }
        if state != State::Suspect {
            self.raised.retain(|r| *r != m);
        }
        if state == State::Suspect {
            ctx.set_timer(self.suspicion_timeout_us, SwimTimer::Suspicion(m));
        }
        if state != State::Alive || old.state != State::Alive {
            let log = &mut self.durable.log;
            if log.len() >= MILESTONES_KEPT {
                // Deaths are what the detection figures need most, then suspicions (the first
                // one of a crash); a revival goes first. Oldest first within each.
                let victim = [State::Alive, State::Suspect]
                    .iter()
                    .find_map(|k| log.iter().position(|e| e.state == *k))
                    .unwrap_or(0);
                log.remove(victim);
            }
            log.push(Milestone { member: m, state, incarnation, at_us: now });
        }
    }

    /// What this node believes of `m`, when that is worth telling `m` itself: it is suspect or
    /// dead here, and may refute (memberlist sends a suspect message along with a probe).
    fn belief_for(&self, m: NodeId) -> Option<Update> {
        let u = self.table.update(m);
        (u.state != State::Alive).then_some(u)
    }

    /// Queues an update for dissemination, replacing any older one about the same member.
    pub(crate) fn enqueue(&mut self, update: Update) {
        self.queue_order += 1;
        let b = Broadcast { update, transmits: 0, order: self.queue_order };
        match self.queue.iter_mut().find(|q| q.update.member == update.member) {
            Some(q) => *q = b,
            None => self.queue.push(b),
        }
    }

    /// The updates to piggyback on the next message: `extra` first, then up to
    /// `max_piggyback` queued ones, least sent first and newest among equals (memberlist's
    /// transmit-limited queue). An update sent `retransmit_limit` times leaves the queue.
    fn piggyback(&mut self, extra: Option<Update>) -> Vec<Update> {
        let mut out: Vec<Update> = extra.into_iter().collect();
        if self.queue.is_empty() {
            return out;
        }
        self.queue.sort_unstable_by(|a, b| a.transmits.cmp(&b.transmits).then(b.order.cmp(&a.order)));
        let take = usize::from(self.params.max_piggyback).min(self.queue.len());
        for b in &mut self.queue[..take] {
            b.transmits += 1;
            if !out.contains(&b.update) {
                out.push(b.update);
            }
        }
        let limit = self.retransmit_limit;
        self.queue.retain(|b| b.transmits < limit);
        out
    }

    fn send(&mut self, to: NodeId, msg: SwimMsg, ctx: &mut Ctx<'_, Self>) {
        self.durable.counters.sent += 1;
        ctx.send(to, msg);
    }
}
