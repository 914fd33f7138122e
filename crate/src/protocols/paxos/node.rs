//! The three roles of a Paxos node, one instance (key) at a time: the acceptor's two rules
//! (TLA+ `Phase1b`, `Phase2b`), the proposer's two phases (`Phase1a`, `Phase2a`) with its
//! retries, and the learner. Every change the invariants judge is also written to the journal.

use super::invariants::Event;
use super::messages::{Ballot, PaxosMsg, PaxosTimer, Vote, all, majority};
use super::{Instance, Paxos, Phase, Waiter};
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::Ctx;
use crate::workload::op::{Op, Reply, Request};

type PCtx<'a, 'b> = &'a mut Ctx<'b, Paxos>;

/// How many ballots' votes a learner keeps per instance while undecided; older ones can hardly
/// still gather a majority, and a learner that misses one catches up by running a round.
const VOTE_BALLOTS_KEPT: usize = 16;

fn names(nodes: impl IntoIterator<Item = NodeId>) -> String {
    nodes.into_iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
}

impl Paxos {
    fn inst(&mut self, key: &str) -> &mut Instance {
        self.instances.entry(key.to_string()).or_default()
    }

    fn majority(&self) -> usize {
        majority(self.nodes as usize)
    }

    fn send(&mut self, to: NodeId, msg: PaxosMsg, ctx: PCtx) {
        if to == self.id { self.local.push_back(msg) } else { ctx.send(to, msg) }
    }

    fn broadcast(&mut self, msg: PaxosMsg, ctx: PCtx) {
        for n in all(self.nodes) {
            self.send(n, msg.clone(), ctx);
        }
    }

    /// Handles what the node sent itself, in order, until nothing is left.
    pub(crate) fn drain_local(&mut self, ctx: PCtx) {
        while let Some(msg) = self.local.pop_front() {
            self.handle(self.id, msg, ctx);
        }
    }

    fn set_phase(&mut self, key: &str, phase: Phase) {
        self.inst(key).proposer.phase = phase;
        if phase.active() {
            self.active.insert(key.to_string());
        } else {
            self.active.remove(key);
        }
    }

    fn saw_round(&mut self, key: &str, round: u64) {
        let p = &mut self.inst(key).proposer;
        p.seen_round = p.seen_round.max(round);
    }

    pub(crate) fn handle(&mut self, from: NodeId, msg: PaxosMsg, ctx: PCtx) {
        match msg {
            PaxosMsg::Prepare { key, ballot } => self.on_prepare(from, key, ballot, ctx),
            PaxosMsg::Promise { key, ballot, accepted } => self.on_promise(from, key, ballot, accepted, ctx),
            PaxosMsg::Nack { key, ballot, promised } => self.on_nack(from, key, ballot, promised, ctx),
            PaxosMsg::Accept { key, ballot, value } => self.on_accept(from, key, ballot, value, ctx),
            PaxosMsg::Accepted { key, ballot, value } => self.on_accepted(from, key, ballot, value, ctx),
        }
    }

    // ---- Acceptor -------------------------------------------------------------------------

    /// Phase 1b: promise a ballot above every one promised before, and report the last vote.
    fn on_prepare(&mut self, from: NodeId, key: String, ballot: Ballot, ctx: PCtx) {
        self.saw_round(&key, ballot.round);
        self.postpone_learning(&key, ctx);
        let acceptor = &self.inst(&key).acceptor;
        let (promised, accepted) = (acceptor.promised, acceptor.accepted.clone());
        match promised {
            Some(p) if p > ballot => {
                ctx.note(format!("{} refuses Prepare {ballot} for {key}: it promised {p}", self.id));
                self.send(from, PaxosMsg::Nack { key, ballot, promised: p }, ctx);
            }
            // A copy of the Prepare it already answered (the network duplicates): the same
            // promise again.
            Some(p) if p == ballot => self.send(from, PaxosMsg::Promise { key, ballot, accepted }, ctx),
            _ => {
                self.inst(&key).acceptor.promised = Some(ballot);
                self.max_promised = self.max_promised.max(ballot.round);
                self.record(Event::Promised { key: key.clone(), ballot });
                let report = match &accepted {
                    Some(v) => format!("reports it accepted {} = {}", v.ballot, v.value),
                    None => "has accepted nothing".to_string(),
                };
                ctx.note(format!("{} promises ballot {ballot} for {key} and {report}", self.id));
                self.send(from, PaxosMsg::Promise { key: key.clone(), ballot, accepted }, ctx);
                self.preempted(&key, ballot, ctx);
            }
        }
    }

    /// Phase 2b: accept unless a higher ballot was promised; tell every learner.
    fn on_accept(&mut self, from: NodeId, key: String, ballot: Ballot, value: String, ctx: PCtx) {
        self.saw_round(&key, ballot.round);
        self.postpone_learning(&key, ctx);
        let promised = self.inst(&key).acceptor.promised;
        if let Some(p) = promised.filter(|p| *p > ballot) {
            ctx.note(format!("{} refuses Accept {ballot} for {key}: it promised {p}", self.id));
            self.send(from, PaxosMsg::Nack { key, ballot, promised: p }, ctx);
            return;
        }
        let acceptor = &mut self.inst(&key).acceptor;
        let again = acceptor.accepted.as_ref().is_some_and(|v| v.ballot == ballot && v.value == value);
        acceptor.promised = Some(ballot);
        acceptor.accepted = Some(Vote { ballot, value: value.clone() });
        self.max_promised = self.max_promised.max(ballot.round);
        if !again {
            self.record(Event::Accepted { key: key.clone(), ballot, value: value.clone() });
            ctx.note(format!("{} accepts {key} = {value} in ballot {ballot}", self.id));
        }
        self.broadcast(PaxosMsg::Accepted { key: key.clone(), ballot, value }, ctx);
        self.preempted(&key, ballot, ctx);
    }

    /// Its own acceptor has just promised `ballot`: a ballot of its own below that one can no
    /// longer be accepted here, and another proposer is at work, so it gives its own up now
    /// rather than when a `Nack` comes back (PMS §2.3: abandon a proposal once a higher one has
    /// begun). This early notice is what lets two proposers without back-off preempt each
    /// other forever: each new `Prepare` reaches the acceptors before the other's `Accept`.
    fn preempted(&mut self, key: &str, promised: Ballot, ctx: PCtx) {
        let p = &self.inst(key).proposer;
        if let (Phase::Prepare | Phase::Accept, Some(mine)) = (p.phase, p.ballot)
            && mine < promised
        {
            let reason = format!("its own acceptor promised {promised}");
            self.back_off(key, mine, &reason, ctx);
        }
    }

    // ---- Learner --------------------------------------------------------------------------

    fn on_accepted(&mut self, from: NodeId, key: String, ballot: Ballot, value: String, ctx: PCtx) {
        self.saw_round(&key, ballot.round);
        let need = self.majority();
        let inst = self.inst(&key);
        if inst.proposer.phase == Phase::Accept && inst.proposer.ballot == Some(ballot) {
            inst.proposer.accepts.insert(from);
        }
        if inst.learner.learned.is_some() {
            return;
        }
        let l = &mut inst.learner;
        l.latest.insert(from, ballot);
        let (_, voters) = l.votes.entry(ballot).or_insert_with(|| (value.clone(), Default::default()));
        voters.insert(from);
        let chosen = voters.len() >= need;
        let voters: Vec<NodeId> = voters.iter().copied().collect();
        while l.votes.len() > VOTE_BALLOTS_KEPT {
            l.votes.pop_first();
        }
        if chosen {
            ctx.note(format!(
                "{} learns {key} = {value}: a majority ({}) accepted it in ballot {ballot}",
                self.id,
                names(voters)
            ));
            self.learn(&key, value, ctx);
        } else {
            self.arm_learn(&key, ctx);
        }
    }

    fn learn(&mut self, key: &str, value: String, ctx: PCtx) {
        self.learned_count += 1;
        self.record(Event::Learned { key: key.to_string(), value: value.clone() });
        let inst = self.inst(key);
        inst.learner.learned = Some(value.clone());
        inst.learner.votes.clear();
        inst.learner.recovering = false;
        let had_round = inst.proposer.ballot.is_some();
        let waiting = std::mem::take(&mut inst.proposer.waiting);
        if inst.learner.learn_timer {
            inst.learner.learn_timer = false;
            ctx.cancel_timer(PaxosTimer::Learn(key.to_string()));
        }
        if had_round {
            ctx.cancel_timer(PaxosTimer::Phase(key.to_string()));
            ctx.cancel_timer(PaxosTimer::Retry(key.to_string()));
            self.set_phase(key, Phase::Done);
        }
        for w in waiting {
            let reply = answer(key, &value, w.put.as_deref());
            ctx.note(format!("{} tells {}: {}", self.id, w.client, told(&reply)));
            ctx.reply(w.client, w.seq, reply);
        }
    }

    /// Starts the wait after which a learner with votes but no outcome runs a round itself, if
    /// no proposer has been heard from for the instance in the meantime.
    pub(crate) fn arm_learn(&mut self, key: &str, ctx: PCtx) {
        let inst = self.inst(key);
        // A proposer of its own at work here will learn the outcome anyway.
        if inst.learner.learned.is_some() || inst.learner.learn_timer || inst.proposer.phase.active() {
            return;
        }
        let t = self.params.learn_timeout_ms * 1000;
        let after = ctx.rng().between(t, 2 * t);
        self.inst(key).learner.learn_timer = true;
        ctx.set_timer(after, PaxosTimer::Learn(key.to_string()));
    }

    /// A proposer is at work on this instance: its outcome will reach this learner, and a round
    /// of its own would only join the contest. The wait starts again.
    fn postpone_learning(&mut self, key: &str, ctx: PCtx) {
        if self.inst(key).learner.learn_timer {
            self.inst(key).learner.learn_timer = false;
            self.arm_learn(key, ctx);
        }
    }

    pub(crate) fn learn_timeout(&mut self, key: &str, ctx: PCtx) {
        let id = self.id;
        let inst = self.inst(key);
        inst.learner.learn_timer = false;
        let evidence = inst.acceptor.accepted.is_some() || !inst.learner.votes.is_empty() || inst.learner.recovering;
        if inst.learner.learned.is_some() || inst.proposer.phase.active() || !evidence {
            return;
        }
        let why = if inst.learner.recovering {
            "restarted not knowing the outcome of"
        } else {
            "has seen votes but no outcome for"
        };
        ctx.note(format!("{id} {why} {key}: it runs a round to find out (Paxos Made Simple §2.3)"));
        self.start_round(key, ctx);
    }

    // ---- Proposer -------------------------------------------------------------------------

    pub(crate) fn client_request(&mut self, client: ClientId, request: Request, ctx: PCtx) {
        let seq = request.seq;
        let (key, put) = match request.op {
            Op::Put { key, value } => (key, Some(value)),
            Op::Get { key } => (key, None),
            Op::Txn { .. } => {
                let reason = "paxos serves single-key puts and gets, not transactions".to_string();
                ctx.reply(client, seq, Reply::Rejected { reason });
                return;
            }
        };
        if let Some(value) = self.learned(&key).map(str::to_string) {
            // A chosen value never changes, so a learned one may be served at once.
            let reply = answer(&key, &value, put.as_deref());
            ctx.note(format!("{} has learned {key} = {value}: it tells {client} at once: {}", self.id, told(&reply)));
            ctx.reply(client, seq, reply);
            return;
        }
        let id = self.id;
        let p = &mut self.inst(&key).proposer;
        if p.waiting.iter().any(|w| w.client == client && w.seq == seq) {
            return; // A retry of a request it is already working on.
        }
        let not_from = if p.phase == Phase::Prepare { p.ballot } else { None };
        p.waiting.push(Waiter { client, seq, put: put.clone(), not_from });
        let phase = p.phase;
        let mut proposes = false;
        if let Some(v) = &put
            && p.own_value.is_none()
        {
            p.own_value = Some(v.clone());
            proposes = true;
            self.record(Event::Proposed { key: key.clone(), value: v.clone() });
        }
        match (&put, proposes) {
            (Some(v), true) => ctx.note(format!("{id} takes {client}'s put {key} = {v} and will propose it")),
            (Some(v), false) => ctx.note(format!(
                "{id} already proposes a value of its own for {key}; {client}'s {v} waits for the outcome"
            )),
            (None, _) => ctx.note(format!("{id} must run a round to read {key} ({client} asks)")),
        }
        if !phase.active() {
            self.start_round(key.as_str(), ctx);
        }
    }

    /// Phase 1a: a ballot above any seen here, to every acceptor.
    pub(crate) fn start_round(&mut self, key: &str, ctx: PCtx) {
        let id = self.id;
        let timeout = self.params.phase_timeout_ms * 1000;
        let p = &mut self.inst(key).proposer;
        let round = p.seen_round.max(p.last_round) + 1;
        let ballot = Ballot { round, node: id };
        p.last_round = round;
        p.seen_round = round;
        p.ballot = Some(ballot);
        p.value = None;
        p.adopted_from = None;
        p.promises.clear();
        p.accepts.clear();
        p.rounds += 1;
        let purpose = match &p.own_value {
            Some(v) => format!("hoping to propose {v}"),
            None if p.waiting.is_empty() => "to learn the outcome".to_string(),
            None => "to read it".to_string(),
        };
        self.set_phase(key, Phase::Prepare);
        ctx.note(format!("{id} starts ballot {ballot} for {key}, {purpose}: Prepare to all"));
        ctx.set_timer(timeout, PaxosTimer::Phase(key.to_string()));
        self.broadcast(PaxosMsg::Prepare { key: key.to_string(), ballot }, ctx);
    }

    fn on_promise(&mut self, from: NodeId, key: String, ballot: Ballot, accepted: Option<Vote>, ctx: PCtx) {
        if let Some(v) = &accepted {
            self.saw_round(&key, v.ballot.round);
        }
        let need = self.majority();
        let p = &mut self.inst(&key).proposer;
        if p.phase != Phase::Prepare || p.ballot != Some(ballot) {
            return; // An answer to a ballot it has moved on from.
        }
        p.promises.insert(from, accepted);
        if p.promises.len() >= need {
            self.phase1_done(&key, ballot, ctx);
        }
    }

    /// Promises from a majority: adopt the highest-ballot value reported (PMS P2c), or, if
    /// none was, the register is empty as of this ballot.
    fn phase1_done(&mut self, key: &str, ballot: Ballot, ctx: PCtx) {
        let id = self.id;
        let p = &mut self.inst(key).proposer;
        let promised_by = names(p.promises.keys().copied());
        let highest = p.promises.values().flatten().max_by_key(|v| v.ballot).cloned();
        match highest {
            Some(vote) => {
                let own = p.own_value.clone();
                p.value = Some(vote.value.clone());
                if own.as_ref() != Some(&vote.value) {
                    p.adopted_from = Some(vote.ballot);
                }
                let why = match own {
                    Some(o) if o != vote.value => {
                        format!("so it must propose {} instead of its own {o}", vote.value)
                    }
                    _ => format!("so it proposes {}", vote.value),
                };
                ctx.note(format!(
                    "{id} has promises for {ballot} on {key} from a majority ({promised_by}); the highest vote among them is {} = {}, {why}",
                    vote.ballot, vote.value
                ));
                self.start_phase2(key, ballot, ctx);
            }
            None => {
                // Nothing accepted at a majority: no value was chosen below this ballot, and
                // none was chosen before any read that arrived before the Prepare went out.
                let (reads, rest): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut p.waiting)
                    .into_iter()
                    .partition(|w| w.put.is_none() && w.not_from.is_none_or(|b| ballot > b));
                p.waiting = rest;
                for w in reads {
                    ctx.note(format!(
                        "{id} tells {}: {key} is empty (nothing was chosen before the read began)",
                        w.client
                    ));
                    ctx.reply(w.client, w.seq, Reply::Done { value: None });
                }
                if let Some(own) = p.own_value.clone() {
                    p.value = Some(own.clone());
                    ctx.note(format!(
                        "{id} has promises for {ballot} on {key} from a majority ({promised_by}), none with a vote: it is free to propose its own {own}"
                    ));
                    self.start_phase2(key, ballot, ctx);
                } else if !p.waiting.is_empty() {
                    // Reads that arrived during this phase 1 need a ballot begun after them.
                    self.start_round(key, ctx);
                } else {
                    ctx.note(format!(
                        "{id} finds {key} empty: no acceptor of the majority ({promised_by}) has accepted anything"
                    ));
                    let l = &mut self.inst(key).learner;
                    // Votes below this ballot can no longer reach a majority; any above it
                    // are a later proposer's, still worth waiting for.
                    l.votes.retain(|b, _| *b > ballot);
                    l.recovering = false;
                    ctx.cancel_timer(PaxosTimer::Phase(key.to_string()));
                    self.set_phase(key, Phase::Idle);
                    if !self.inst(key).learner.votes.is_empty() {
                        self.arm_learn(key, ctx);
                    }
                }
            }
        }
    }

    /// Phase 2a: ask every acceptor to accept the value in this ballot.
    fn start_phase2(&mut self, key: &str, ballot: Ballot, ctx: PCtx) {
        let timeout = self.params.phase_timeout_ms * 1000;
        let p = &mut self.inst(key).proposer;
        let Some(value) = p.value.clone() else { return };
        p.accepts.clear();
        self.set_phase(key, Phase::Accept);
        ctx.set_timer(timeout, PaxosTimer::Phase(key.to_string()));
        self.broadcast(PaxosMsg::Accept { key: key.to_string(), ballot, value }, ctx);
    }

    fn on_nack(&mut self, from: NodeId, key: String, ballot: Ballot, promised: Ballot, ctx: PCtx) {
        self.saw_round(&key, promised.round);
        let p = &self.inst(&key).proposer;
        if !matches!(p.phase, Phase::Prepare | Phase::Accept) || p.ballot != Some(ballot) || promised <= ballot {
            return;
        }
        let reason = format!("{from} promised {promised}");
        self.back_off(&key, ballot, &reason, ctx);
    }

    pub(crate) fn phase_timeout(&mut self, key: &str, ctx: PCtx) {
        let p = &self.inst(key).proposer;
        if let (true, Some(ballot)) = (matches!(p.phase, Phase::Prepare | Phase::Accept), p.ballot) {
            let reason = format!("no majority answered within {} ms", self.params.phase_timeout_ms);
            self.back_off(key, ballot, &reason, ctx);
        }
    }

    /// Abandons a ballot and waits a random time before trying a higher one (at once with a
    /// back-off of 0).
    fn back_off(&mut self, key: &str, ballot: Ballot, reason: &str, ctx: PCtx) {
        let [lo, hi] = self.params.backoff_ms;
        let delay = ctx.rng().between(lo * 1000, hi * 1000);
        ctx.cancel_timer(PaxosTimer::Phase(key.to_string()));
        self.set_phase(key, Phase::Backoff);
        if delay == 0 {
            ctx.note(format!("{} abandons ballot {ballot} for {key} ({reason}) and retries at once", self.id));
            self.start_round(key, ctx);
        } else {
            ctx.note(format!(
                "{} abandons ballot {ballot} for {key} ({reason}) and retries in {} ms",
                self.id,
                delay.div_ceil(1000)
            ));
            ctx.set_timer(delay, PaxosTimer::Retry(key.to_string()));
        }
    }

    pub(crate) fn retry(&mut self, key: &str, ctx: PCtx) {
        if self.inst(key).proposer.phase == Phase::Backoff {
            self.start_round(key, ctx);
        }
    }
}

/// What a client is told once the instance has chosen `value`: a read gets it; a put is done if
/// it was its own value and certainly failed otherwise.
fn answer(key: &str, value: &str, put: Option<&str>) -> Reply {
    match put {
        None => Reply::Done { value: Some(value.to_string()) },
        Some(v) if v == value => Reply::Done { value: None },
        Some(_) => Reply::Rejected { reason: format!("{key} already chose {value}") },
    }
}

fn told(reply: &Reply) -> String {
    match reply {
        Reply::Done { value: Some(v) } => format!("read {v}"),
        Reply::Done { value: None } => "done, its value was chosen".to_string(),
        Reply::Rejected { reason } => format!("rejected, {reason}"),
        other => format!("{other:?}"),
    }
}
