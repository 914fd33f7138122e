//! Multi-Paxos's rules for one node: acceptor, learner and (potential) leader.

use super::messages::{Ballot, Command, MpMsg, MpTimer, Report, Role, Slot, majority, peers};
use super::{MultiPaxos, Pending, Recovery};
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::Ctx;
use crate::workload::op::{Op, Reply, Request};
use std::collections::BTreeMap;

type MCtx<'a, 'b> = &'a mut Ctx<'b, MultiPaxos>;

/// How many slots from slot 1 on are all known chosen.
pub(crate) fn chosen_prefix_of(log: &[Option<Slot>]) -> u64 {
    log.iter().take_while(|s| s.as_ref().is_some_and(|s| s.chosen)).count() as u64
}

impl MultiPaxos {
    pub(crate) fn slot(&self, slot: u64) -> Option<&Slot> {
        if slot == 0 { None } else { self.log.get(slot as usize - 1).and_then(Option::as_ref) }
    }

    /// Writes a slot durably, counting a replaced value and journaling the write.
    fn write(&mut self, slot: u64, entry: Slot) {
        if slot == 0 {
            return;
        }
        let i = slot as usize - 1;
        if self.log.len() <= i {
            self.log.resize(i + 1, None);
        }
        if self.log[i].as_ref().is_some_and(|old| old.command != entry.command) {
            self.overwrites += 1;
        }
        self.log[i] = Some(entry);
        self.journal.push(slot);
    }

    /// Phase 2b: accept `command` in `slot` under `ballot` (the caller checked the promise).
    /// A slot known chosen keeps its value: a leader proposes the chosen value there anyway.
    /// Returns whether it accepted (it refuses a value other than the one it knows chosen).
    fn accept(&mut self, slot: u64, ballot: Ballot, command: Command) -> bool {
        let chosen = match self.slot(slot) {
            Some(s) if s.chosen && s.command != command => return false,
            Some(s) => s.chosen,
            None => false,
        };
        self.write(slot, Slot { ballot, command, chosen });
        true
    }

    /// Records that `command` is chosen in `slot` (learned from a majority, a leader's commit,
    /// a promise or a Learn).
    fn mark_chosen(&mut self, slot: u64, ballot: Ballot, command: Command) {
        match self.slot(slot) {
            Some(s) if s.chosen => {}
            Some(s) if s.command == command => {
                // The same value, accepted in an older ballot here: keep the newer ballot, so
                // that the logs of nodes that know the same end up the same.
                let ballot = s.ballot.max(ballot);
                self.write(slot, Slot { ballot, command, chosen: true });
            }
            _ => self.write(slot, Slot { ballot, command, chosen: true }),
        }
    }

    /// Extends the chosen prefix and applies it to the store in slot order, answering the
    /// clients that wait for those slots.
    pub(crate) fn advance(&mut self, ctx: MCtx) {
        while self.slot(self.chosen_prefix + 1).is_some_and(|s| s.chosen) {
            self.chosen_prefix += 1;
        }
        while self.applied < self.chosen_prefix {
            self.applied += 1;
            let slot = self.applied;
            let Some(command) = self.slot(slot).map(|s| s.command.clone()) else { break };
            let answer = self.store.apply(&command);
            if let Some((client, seq)) = self.waiting.remove(&slot)
                && let Some((c, s, value)) = answer
                && (c, s) == (client, seq)
            {
                ctx.reply(client, seq, Reply::Done { value });
            }
        }
    }

    pub(crate) fn reset_election_timer(&mut self, ctx: MCtx) {
        let [lo, hi] = self.params.election_timeout_ms;
        let after = ctx.rng().between(lo * 1000, hi * 1000);
        ctx.set_timer(after, MpTimer::ElectionTimeout);
    }

    /// A promise only ever grows; it is durable, so it survives a crash.
    fn raise_promise(&mut self, ballot: Ballot) {
        if ballot > self.promised {
            self.promised = ballot;
        }
    }

    /// Leaves the candidate or leader role (or changes whom a follower follows).
    fn become_follower(&mut self, leader: Option<NodeId>, ctx: MCtx) {
        let was_leader = self.role == Role::Leader;
        if self.role != Role::Follower {
            ctx.note(format!("{} steps down to follower: ballot {} is promised", self.id, self.promised));
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.promises.clear();
        self.pending.clear();
        self.lagging = false;
        if was_leader {
            ctx.cancel_timer(MpTimer::Heartbeat);
            // Their commands may still be chosen under the next leader: unknown here now.
            for (_, (client, seq)) in std::mem::take(&mut self.waiting) {
                ctx.reply(client, seq, Reply::Uncertain { leader });
            }
            self.reset_election_timer(ctx);
        }
    }

    /// Phase 1a, once for every slot from the first one not known chosen.
    pub(crate) fn start_phase1(&mut self, ctx: MCtx) {
        if self.role == Role::Leader {
            return;
        }
        // The promise is at least every ballot this node has seen, so this one is above all.
        self.ballot = Ballot { round: self.promised.round + 1, node: self.id };
        self.promised = self.ballot;
        self.role = Role::Candidate;
        self.leader = None;
        self.from_slot = self.chosen_prefix + 1;
        self.promises = BTreeMap::from([(self.id, Vec::new())]);
        self.recovery = Recovery { promises: vec![self.id], ..Recovery::default() };
        self.reset_election_timer(ctx);
        ctx.note(format!(
            "{} hears no leader: it becomes a candidate with ballot {} and prepares every slot from {} on",
            self.id, self.ballot, self.from_slot
        ));
        for p in peers(self.id, self.nodes) {
            ctx.send(p, MpMsg::Prepare { ballot: self.ballot, from_slot: self.from_slot });
        }
        self.check_promises(ctx);
    }

    fn reports_from(&self, from_slot: u64) -> Vec<Report> {
        let skip = from_slot.saturating_sub(1) as usize;
        self.log
            .iter()
            .enumerate()
            .skip(skip)
            .filter_map(|(i, s)| {
                s.as_ref().map(|s| Report {
                    slot: i as u64 + 1,
                    ballot: s.ballot,
                    command: s.command.clone(),
                    chosen: s.chosen,
                })
            })
            .collect()
    }

    fn check_promises(&mut self, ctx: MCtx) {
        if self.role == Role::Candidate && self.promises.len() >= majority(self.nodes as usize) {
            self.become_leader(ctx);
        }
    }

    /// Phase 1 is done: for every slot from `from_slot` up to the highest reported, propose the
    /// value of the highest ballot reported there (or the chosen one, if someone knows it), and
    /// fill the holes with no-ops. Then serve clients.
    fn become_leader(&mut self, ctx: MCtx) {
        let b = self.ballot;
        // The candidate's own report is its log now (it may have learned more while waiting).
        let own = self.reports_from(self.from_slot);
        self.promises.insert(self.id, own);
        let mut best: BTreeMap<u64, (Ballot, Command, bool)> = BTreeMap::new();
        for r in self.promises.values().flatten().filter(|r| r.slot >= self.from_slot) {
            let replace = match best.get(&r.slot) {
                None => true,
                Some((_, _, true)) => false,
                Some((ballot, _, false)) => r.chosen || r.ballot > *ballot,
            };
            if replace {
                best.insert(r.slot, (r.ballot, r.command.clone(), r.chosen));
            }
        }
        let last = best.keys().next_back().copied().unwrap_or(0).max(self.from_slot - 1);
        let mut recovery =
            Recovery { promises: self.promises.keys().copied().collect(), reproposed: Vec::new(), noops: Vec::new() };
        self.role = Role::Leader;
        self.leader = Some(self.id);
        self.pending.clear();
        self.match_slot.iter_mut().for_each(|m| *m = 0);
        self.lagging = false;
        ctx.cancel_timer(MpTimer::ElectionTimeout);
        let mut proposals = Vec::new();
        for slot in self.from_slot..=last {
            let (command, chosen) = match best.remove(&slot) {
                Some((_, command, chosen)) => {
                    recovery.reproposed.push(slot);
                    (command, chosen)
                }
                None => {
                    recovery.noops.push(slot);
                    (Command::Noop, false)
                }
            };
            if chosen {
                self.mark_chosen(slot, b, command.clone());
            }
            let _ = self.accept(slot, b, command.clone());
            if !chosen {
                self.pending.insert(slot, Pending { accepted_by: vec![self.id], sent_us: ctx.now().as_us() });
            }
            proposals.push((slot, command));
        }
        self.next_slot = last + 1;
        ctx.note(format!(
            "{} has promises for ballot {} from {}: it leads, re-proposes slots {:?} and fills holes {:?} with no-ops",
            self.id,
            b,
            names(&recovery.promises),
            recovery.reproposed,
            recovery.noops
        ));
        self.recovery = recovery;
        self.advance(ctx);
        let commit = self.chosen_prefix;
        for (slot, command) in proposals {
            for p in peers(self.id, self.nodes) {
                ctx.send(p, MpMsg::Accept { ballot: b, slot, command: command.clone(), commit });
            }
        }
        self.send_heartbeats(ctx);
        ctx.set_timer(self.params.heartbeat_ms * 1000, MpTimer::Heartbeat);
        // A cluster of one chooses on its own acceptance.
        let slots: Vec<u64> = self.pending.keys().copied().collect();
        for slot in slots {
            self.check_chosen(slot, ctx);
        }
    }

    fn send_heartbeats(&mut self, ctx: MCtx) {
        for p in peers(self.id, self.nodes) {
            ctx.send(p, MpMsg::Heartbeat { ballot: self.ballot, commit: self.chosen_prefix });
        }
    }

    /// The leader's beat: a Heartbeat to everyone, and the Accepts of slots still not chosen
    /// again to those that have not answered (the network may have lost them).
    pub(crate) fn heartbeat(&mut self, ctx: MCtx) {
        if self.role != Role::Leader {
            return;
        }
        self.send_heartbeats(ctx);
        let now = ctx.now().as_us();
        let stale = now.saturating_sub(self.params.heartbeat_ms * 1000);
        let (b, commit) = (self.ballot, self.chosen_prefix);
        let mut resend = Vec::new();
        for (slot, p) in
            self.pending.iter_mut().filter(|(_, p)| p.sent_us <= stale).take(self.params.max_entries as usize)
        {
            p.sent_us = now;
            resend.push((*slot, p.accepted_by.clone()));
        }
        for (slot, answered) in resend {
            let Some(command) = self.slot(slot).map(|s| s.command.clone()) else { continue };
            for p in peers(self.id, self.nodes).filter(|p| !answered.contains(p)) {
                ctx.send(p, MpMsg::Accept { ballot: b, slot, command: command.clone(), commit });
            }
        }
        ctx.set_timer(self.params.heartbeat_ms * 1000, MpTimer::Heartbeat);
    }

    /// A message from the leader of `ballot` (an Accept or a Heartbeat): follow it, or refuse it
    /// if a higher ballot is promised. Returns whether it was taken.
    fn hear_leader(&mut self, from: NodeId, ballot: Ballot, ctx: MCtx) -> bool {
        if ballot < self.promised || ballot.node != from {
            ctx.send(from, MpMsg::Nack { ballot, promised: self.promised });
            return false;
        }
        self.raise_promise(ballot);
        if self.role != Role::Follower || self.leader != Some(from) {
            if self.role == Role::Follower {
                ctx.note(format!("{} follows {}, leader of ballot {}", self.id, from, ballot));
            }
            self.become_follower(Some(from), ctx);
        }
        self.reset_election_timer(ctx);
        true
    }

    /// The leader's chosen prefix `commit` covers every slot up to it. A slot this node accepted
    /// in the leader's own ballot holds the value the leader proposed there, which is the chosen
    /// one: a leader proposes one value per slot per ballot, and in a slot it knows chosen it
    /// proposes the chosen value. Other slots need a Learn.
    fn learn_commit(&mut self, ballot: Ballot, commit: u64, ctx: MCtx) {
        let upto = commit.min(self.log.len() as u64);
        for slot in self.chosen_prefix + 1..=upto {
            if let Some(s) = self.slot(slot)
                && !s.chosen
                && s.ballot == ballot
            {
                let command = s.command.clone();
                self.mark_chosen(slot, ballot, command);
            }
        }
        self.advance(ctx);
    }

    pub(crate) fn handle(&mut self, from: NodeId, msg: MpMsg, ctx: MCtx) {
        match msg {
            MpMsg::Prepare { ballot, from_slot } => {
                if ballot < self.promised || ballot.is_zero() || ballot.node != from {
                    ctx.send(from, MpMsg::Nack { ballot, promised: self.promised });
                    return;
                }
                if ballot > self.promised {
                    self.promised = ballot;
                    ctx.note(format!("{} promises ballot {} to {}", self.id, ballot, from));
                    if self.role != Role::Follower || self.leader.is_some() {
                        self.become_follower(None, ctx);
                    }
                }
                // Give the candidate time to finish phase 1 before standing ourselves.
                self.reset_election_timer(ctx);
                ctx.send(from, MpMsg::Promise { ballot, accepted: self.reports_from(from_slot) });
            }
            MpMsg::Promise { ballot, accepted } => {
                if self.role == Role::Candidate && ballot == self.ballot && !self.promises.contains_key(&from) {
                    let summary: Vec<String> =
                        accepted.iter().map(|r| format!("{}: {} = {}", r.slot, r.ballot, r.command)).collect();
                    ctx.note(format!(
                        "{} has {}'s promise for ballot {}: {}",
                        self.id,
                        from,
                        ballot,
                        if summary.is_empty() {
                            format!("{from} accepted nothing from slot {} on", self.from_slot)
                        } else {
                            format!("{from} reports it accepted [{}]", summary.join(", "))
                        }
                    ));
                    self.promises.insert(from, accepted);
                    self.recovery.promises = self.promises.keys().copied().collect();
                    self.check_promises(ctx);
                }
            }
            MpMsg::Nack { ballot, promised } => {
                self.raise_promise(promised);
                // Any higher ballot, even in the answer to an older message, ends a candidacy or
                // a leadership: this node may no longer accept its own ballot's proposals.
                if self.role != Role::Follower && self.promised > self.ballot {
                    ctx.note(format!("{} refuses ballot {}: it promised {}", from, ballot, promised));
                    self.become_follower(None, ctx);
                }
            }
            MpMsg::Accept { ballot, slot, command, commit } => {
                if !self.hear_leader(from, ballot, ctx) {
                    return;
                }
                let accepted = self.accept(slot, ballot, command);
                self.learn_commit(ballot, commit, ctx);
                // An Accepted for a value it did not take would count towards choosing it.
                if accepted {
                    ctx.send(from, MpMsg::Accepted { ballot, slot, chosen_prefix: self.chosen_prefix });
                }
            }
            MpMsg::Accepted { ballot, slot, chosen_prefix } => {
                if self.role != Role::Leader || ballot != self.ballot {
                    return;
                }
                let m = &mut self.match_slot[from.index()];
                *m = (*m).max(chosen_prefix);
                if let Some(p) = self.pending.get_mut(&slot)
                    && !p.accepted_by.contains(&from)
                {
                    p.accepted_by.push(from);
                    self.check_chosen(slot, ctx);
                }
            }
            MpMsg::Heartbeat { ballot, commit } => {
                if !self.hear_leader(from, ballot, ctx) {
                    return;
                }
                self.learn_commit(ballot, commit, ctx);
                if self.chosen_prefix < commit {
                    // Behind twice in a row: the missing Accepts are not just late; ask.
                    if self.lagging {
                        ctx.send(from, MpMsg::CatchUp { ballot, from_slot: self.chosen_prefix + 1 });
                    }
                    self.lagging = true;
                } else {
                    self.lagging = false;
                }
            }
            MpMsg::CatchUp { ballot, from_slot } => {
                if self.role != Role::Leader || ballot != self.ballot {
                    return;
                }
                let m = &mut self.match_slot[from.index()];
                *m = (*m).max(from_slot.saturating_sub(1));
                let chosen: Vec<Report> = self
                    .reports_from(from_slot)
                    .into_iter()
                    .filter(|r| r.chosen)
                    .take(self.params.max_entries as usize)
                    .collect();
                let slots: Vec<u64> = chosen.iter().map(|r| r.slot).collect();
                ctx.note(format!(
                    "{from} misses chosen values from slot {from_slot} on: {} sends it those of slots {slots:?}",
                    self.id
                ));
                ctx.send(from, MpMsg::Learn { ballot, chosen, commit: self.chosen_prefix });
            }
            MpMsg::Learn { ballot, chosen, commit } => {
                // A leader learns only through its own ballot: it must keep proposing, in each
                // slot, the one value it proposed there (followers rely on it, see learn_commit).
                if self.role == Role::Leader {
                    return;
                }
                let before = self.chosen_prefix;
                for r in chosen {
                    self.mark_chosen(r.slot, r.ballot, r.command);
                }
                self.advance(ctx);
                if self.chosen_prefix > before && self.chosen_prefix < commit && self.leader == Some(from) {
                    ctx.send(from, MpMsg::CatchUp { ballot, from_slot: self.chosen_prefix + 1 });
                }
            }
        }
    }

    /// A slot the leader proposed is chosen once a majority accepted it in the leader's ballot.
    fn check_chosen(&mut self, slot: u64, ctx: MCtx) {
        let Some(p) = self.pending.get(&slot) else { return };
        if p.accepted_by.len() < majority(self.nodes as usize) {
            return;
        }
        let by = names(&p.accepted_by);
        self.pending.remove(&slot);
        if let Some(s) = self.slot(slot).cloned() {
            ctx.note(format!("slot {slot} is chosen: {} accepted {} in ballot {}", by, s.command, self.ballot));
            self.mark_chosen(slot, self.ballot, s.command);
        }
        self.advance(ctx);
    }

    pub(crate) fn client_request(&mut self, client: ClientId, request: Request, ctx: MCtx) {
        if self.role != Role::Leader {
            ctx.reply(client, request.seq, Reply::Redirect { leader: self.leader });
            return;
        }
        let seq = request.seq;
        if let Some((last, answer)) = self.store.sessions.get(&client)
            && *last == seq
        {
            // Already applied: a retry after a lost reply.
            ctx.reply(client, seq, Reply::Done { value: answer.clone() });
            return;
        }
        let command = match request.op {
            Op::Put { key, value } => Command::Put { key, value, client, seq },
            Op::Get { key } => Command::Get { key, client, seq },
            Op::Txn { .. } => {
                ctx.reply(
                    client,
                    seq,
                    Reply::Rejected { reason: "multipaxos serves single-key puts and gets, not transactions".into() },
                );
                return;
            }
        };
        let (b, slot, commit) = (self.ballot, self.next_slot, self.chosen_prefix);
        self.next_slot += 1;
        let _ = self.accept(slot, b, command.clone());
        self.pending.insert(slot, Pending { accepted_by: vec![self.id], sent_us: ctx.now().as_us() });
        self.waiting.insert(slot, (client, seq));
        for p in peers(self.id, self.nodes) {
            ctx.send(p, MpMsg::Accept { ballot: b, slot, command: command.clone(), commit });
        }
        self.check_chosen(slot, ctx);
    }
}

pub(crate) fn names(nodes: &[NodeId]) -> String {
    nodes.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
}
