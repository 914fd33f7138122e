//! What a 3PC node does: coordinate (n1), vote and follow (participants), and run the
//! termination protocol and recovery (any node). See the module doc for the rules and sources.

use super::messages::{ThreePcMsg as Msg, ThreePcTimer as Timer, TxnState};
use super::{Round, ThreePc, Txn};
use crate::protocols::txn::{self, COORDINATOR};
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::{Ctx, Decision};
use crate::workload::op::{Op, Reply, Request, Write};
use std::collections::{BTreeMap, BTreeSet};

type TCtx<'a, 'b> = &'a mut Ctx<'b, ThreePc>;

fn ms(v: u64) -> u64 {
    v.saturating_mul(1000)
}

impl ThreePc {
    fn state(&self, t: &str) -> Option<TxnState> {
        self.log.txns.get(t).map(|x| x.state)
    }

    fn set_state(&mut self, t: &str, state: TxnState) {
        if let Some(x) = self.log.txns.get_mut(t) {
            x.state = state;
        }
    }

    /// After a restart: decided transactions stay decided; a coordinator still waiting for
    /// votes aborts (no one can be precommitted); an uncertain or precommitted node asks.
    pub(crate) fn recover(&mut self, ctx: TCtx) {
        let undecided: Vec<(String, TxnState)> =
            self.log.txns.iter().filter(|(_, x)| !x.state.decided()).map(|(t, x)| (t.clone(), x.state)).collect();
        for (t, state) in undecided {
            if state == TxnState::Waiting {
                ctx.note(format!(
                    "{} restarts: it was still collecting votes for {t}, so nobody can be precommitted: abort",
                    self.id
                ));
                self.decide(&t, Decision::Abort, true, ctx);
            } else {
                ctx.note(format!(
                    "{} restarts {} in {t}: it may not decide alone and asks the others",
                    self.id,
                    state.word()
                ));
                self.recovering.insert(t.clone());
                self.start_round(&t, ctx);
            }
        }
    }

    pub(crate) fn client_request(&mut self, client: ClientId, request: Request, ctx: TCtx) {
        let seq = request.seq;
        let writes = match request.op {
            Op::Get { key } => {
                let home = txn::owner(&key, self.cluster);
                if home != self.id {
                    ctx.reply(client, seq, Reply::Redirect { leader: Some(home) });
                } else if let Some(holder) = self.log.locks.holder(&key) {
                    let reason = format!("{key} is locked by {holder}, whose outcome {} does not know yet", self.id);
                    ctx.reply(client, seq, Reply::Rejected { reason });
                } else {
                    ctx.reply(client, seq, Reply::Done { value: self.log.store.get(&key).cloned() });
                }
                return;
            }
            Op::Put { key, value } => vec![Write { key, value }],
            Op::Txn { writes } => writes,
        };
        if self.id != COORDINATOR {
            ctx.reply(client, seq, Reply::Redirect { leader: Some(COORDINATOR) });
            return;
        }
        let t = txn::txn_id(client, seq);
        if let Some(x) = self.log.txns.get(&t) {
            // A retry: answer from the log, or later when the outcome is known.
            match x.state {
                TxnState::Committed => ctx.reply(client, seq, Reply::Done { value: None }),
                TxnState::Aborted => ctx.reply(client, seq, Reply::Rejected { reason: format!("{t} aborted") }),
                _ => {}
            }
            return;
        }
        if ctx.now().0 > request.deadline_us {
            return;
        }
        if writes.is_empty() {
            ctx.reply(client, seq, Reply::Rejected { reason: "a transaction needs at least one write".into() });
            return;
        }
        let mut nodes = vec![COORDINATOR];
        nodes.extend(txn::owners(writes.iter().map(|w| w.key.as_str()), self.cluster));
        nodes.dedup();
        let now = ctx.now().0;
        self.log.order.push(t.clone());
        self.log.txns.insert(
            t.clone(),
            Txn {
                coordinator: true,
                nodes: nodes.clone(),
                writes: writes.clone(),
                client: Some((client, seq)),
                state: TxnState::Waiting,
                vote: None,
                since_us: now,
                uncertain_us: None,
                decided_us: None,
            },
        );
        self.votes.insert(t.clone(), BTreeMap::new());
        let names: Vec<String> = nodes[1..].iter().map(NodeId::to_string).collect();
        ctx.note(format!("{} starts {t} and asks {} CanCommit?", self.id, names.join(", ")));
        for n in &nodes[1..] {
            ctx.send(*n, Msg::CanCommit { txn: t.clone(), writes: writes.clone(), nodes: nodes.clone() });
        }
        ctx.set_timer(ms(self.params.vote_timeout_ms), Timer::Votes { txn: t });
    }

    pub(crate) fn handle(&mut self, from: NodeId, msg: Msg, ctx: TCtx) {
        match msg {
            Msg::CanCommit { txn, writes, nodes } => self.can_commit(from, txn, writes, nodes, ctx),
            Msg::Vote { txn, yes } => self.vote(from, txn, yes, ctx),
            Msg::PreCommit { txn } => self.pre_commit(from, txn, ctx),
            Msg::Ack { txn } => self.ack(from, &txn, ctx),
            Msg::DoCommit { txn } => {
                if self.state(&txn).is_some_and(|s| !s.decided()) {
                    ctx.note(format!("{} learns from {from} that {txn} commits", self.id));
                    self.decide(&txn, Decision::Commit, false, ctx);
                }
            }
            Msg::Abort { txn } => {
                if self.state(&txn).is_some_and(|s| !s.decided()) {
                    ctx.note(format!("{} learns from {from} that {txn} aborts", self.id));
                    self.decide(&txn, Decision::Abort, false, ctx);
                }
            }
            Msg::StateReq { txn, nodes } => self.state_req(from, txn, nodes, ctx),
            Msg::StateReport { txn, state, recovering } => {
                if let Some(r) = self.rounds.get_mut(&txn) {
                    r.reports.insert(from, (state, recovering));
                }
            }
        }
    }

    fn can_commit(&mut self, from: NodeId, t: String, writes: Vec<Write>, nodes: Vec<NodeId>, ctx: TCtx) {
        if let Some(x) = self.log.txns.get(&t) {
            // A repeated request: repeat the vote (an aborted node says no).
            let yes = x.vote == Some(true) && x.state != TxnState::Aborted;
            ctx.send(from, Msg::Vote { txn: t, yes });
            return;
        }
        let me = self.id;
        let mine: Vec<Write> = writes.into_iter().filter(|w| txn::owner(&w.key, self.cluster) == me).collect();
        let now = ctx.now().0;
        let locked = self.log.locks.lock_all(mine.iter().map(|w| w.key.as_str()), &t, now);
        let yes = locked.is_ok();
        self.log.order.push(t.clone());
        self.log.txns.insert(
            t.clone(),
            Txn {
                coordinator: false,
                nodes,
                writes: mine.clone(),
                client: None,
                state: if yes { TxnState::Uncertain } else { TxnState::Aborted },
                vote: Some(yes),
                since_us: now,
                uncertain_us: yes.then_some(now),
                decided_us: None,
            },
        );
        let keys: Vec<&str> = mine.iter().map(|w| w.key.as_str()).collect();
        match locked {
            Ok(()) => {
                ctx.note(format!("{me} votes yes on {t} and locks {}: it is uncertain now", keys.join(", ")));
                ctx.set_timer(ms(self.params.participant_timeout_ms), Timer::Wait { txn: t.clone() });
            }
            Err((key, holder)) => {
                ctx.note(format!("{me} votes no on {t}: {key} is locked by {holder}; it aborts at once"));
                self.decide(&t, Decision::Abort, false, ctx);
            }
        }
        ctx.send(from, Msg::Vote { txn: t, yes });
    }

    fn vote(&mut self, from: NodeId, t: String, yes: bool, ctx: TCtx) {
        if self.state(&t) != Some(TxnState::Waiting) {
            return;
        }
        let Some(votes) = self.votes.get_mut(&t) else { return };
        votes.insert(from, yes);
        if !yes {
            ctx.note(format!("{} gets a no from {from} on {t}: abort", self.id));
            self.decide(&t, Decision::Abort, true, ctx);
            return;
        }
        let all = self.log.txns.get(&t).is_some_and(|x| x.participants().all(|p| votes.get(&p) == Some(&true)));
        if !all {
            return;
        }
        self.votes.remove(&t);
        ctx.cancel_timer(Timer::Votes { txn: t.clone() });
        self.set_state(&t, TxnState::PreCommitted);
        let participants: BTreeSet<NodeId> =
            self.log.txns.get(&t).map(|x| x.participants().collect()).unwrap_or_default();
        ctx.note(format!("{} has every vote yes on {t}: it logs precommitted and sends PreCommit", self.id));
        self.send_pre_commit(&t, participants, ctx);
    }

    /// Phase 2 from a coordinator or backup: `PreCommit` to `to`, then commit once they all
    /// acknowledged, or when the ack timeout says the silent ones failed.
    fn send_pre_commit(&mut self, t: &str, to: BTreeSet<NodeId>, ctx: TCtx) {
        if to.is_empty() {
            self.decide(t, Decision::Commit, true, ctx);
            return;
        }
        for n in &to {
            ctx.send(*n, Msg::PreCommit { txn: t.to_string() });
        }
        self.acking.insert(t.to_string(), to);
        ctx.cancel_timer(Timer::Wait { txn: t.to_string() });
        ctx.set_timer(ms(self.params.ack_timeout_ms), Timer::Acks { txn: t.to_string() });
    }

    fn pre_commit(&mut self, from: NodeId, t: String, ctx: TCtx) {
        match self.state(&t) {
            Some(TxnState::Uncertain) | Some(TxnState::PreCommitted) => {
                if self.state(&t) == Some(TxnState::Uncertain) {
                    ctx.note(format!("{} is precommitted on {t}: everybody voted yes", self.id));
                    self.set_state(&t, TxnState::PreCommitted);
                }
                ctx.set_timer(ms(self.params.participant_timeout_ms), Timer::Wait { txn: t.clone() });
                ctx.send(from, Msg::Ack { txn: t });
            }
            Some(TxnState::Committed) => ctx.send(from, Msg::Ack { txn: t }),
            Some(TxnState::Aborted) => ctx.send(from, Msg::Abort { txn: t }),
            Some(TxnState::Waiting) | None => {}
        }
    }

    fn ack(&mut self, from: NodeId, t: &str, ctx: TCtx) {
        let Some(waiting) = self.acking.get_mut(t) else { return };
        waiting.remove(&from);
        if waiting.is_empty() {
            ctx.note(format!("{} has every ack on {t}: commit", self.id));
            self.decide(t, Decision::Commit, true, ctx);
        }
    }

    pub(crate) fn timer(&mut self, timer: Timer, ctx: TCtx) {
        match timer {
            Timer::Votes { txn } => {
                if self.state(&txn) == Some(TxnState::Waiting) {
                    ctx.note(format!("{} has not every vote on {txn} in time: abort", self.id));
                    self.decide(&txn, Decision::Abort, true, ctx);
                }
            }
            Timer::Acks { txn } => {
                if let Some(silent) = self.acking.get(&txn)
                    && self.state(&txn).is_some_and(|s| !s.decided())
                {
                    let names: Vec<String> = silent.iter().map(NodeId::to_string).collect();
                    ctx.note(format!(
                        "{} has no ack on {txn} from {}: they count as failed, commit anyway",
                        self.id,
                        names.join(", ")
                    ));
                    self.decide(&txn, Decision::Commit, true, ctx);
                }
            }
            Timer::Wait { txn } => {
                let waits = self.state(&txn).is_some_and(|s| !s.decided() && s != TxnState::Waiting);
                if waits && !self.acking.contains_key(&txn) {
                    let state = self.state(&txn).map_or("", TxnState::word);
                    ctx.note(format!("{} times out {state} on {txn}: termination protocol", self.id));
                    self.start_round(&txn, ctx);
                }
            }
            Timer::Collect { txn } => self.end_round(&txn, ctx),
        }
    }

    /// A termination round: ask every other node of the transaction where it stands.
    pub(crate) fn start_round(&mut self, t: &str, ctx: TCtx) {
        if self.rounds.contains_key(t) {
            return;
        }
        let Some(x) = self.log.txns.get(t) else { return };
        let nodes = x.nodes.clone();
        self.rounds.insert(t.to_string(), Round::default());
        self.rounds_run += 1;
        for n in nodes.iter().filter(|n| **n != self.id) {
            ctx.send(*n, Msg::StateReq { txn: t.to_string(), nodes: nodes.clone() });
        }
        ctx.cancel_timer(Timer::Wait { txn: t.to_string() });
        ctx.set_timer(ms(self.params.election_ms), Timer::Collect { txn: t.to_string() });
    }

    fn state_req(&mut self, from: NodeId, t: String, nodes: Vec<NodeId>, ctx: TCtx) {
        if !self.log.txns.contains_key(&t) {
            // It never voted, so it may abort alone: the transaction cannot commit without it.
            ctx.note(format!("{} has not voted on {t}: it aborts", self.id));
            let now = ctx.now().0;
            self.log.order.push(t.clone());
            self.log.txns.insert(
                t.clone(),
                Txn {
                    coordinator: self.id == COORDINATOR,
                    nodes,
                    writes: Vec::new(),
                    client: None,
                    state: TxnState::Aborted,
                    vote: None,
                    since_us: now,
                    uncertain_us: None,
                    decided_us: None,
                },
            );
            self.decide(&t, Decision::Abort, false, ctx);
        } else if self.state(&t) == Some(TxnState::Waiting) {
            ctx.note(format!("{} is asked about {t} while it still collects votes: abort", self.id));
            self.decide(&t, Decision::Abort, true, ctx);
        }
        let Some(state) = self.state(&t) else { return };
        let recovering = self.recovering.contains(&t);
        ctx.send(from, Msg::StateReport { txn: t.clone(), state, recovering });
        // Wake up: if this node is the lowest operational one, it is the backup coordinator.
        if !state.decided() && !recovering && !self.acking.contains_key(&t) {
            self.start_round(&t, ctx);
        }
    }

    /// The end of a termination round: the decision rules, or deference to a lower node.
    fn end_round(&mut self, t: &str, ctx: TCtx) {
        let Some(round) = self.rounds.remove(t) else { return };
        let Some(x) = self.log.txns.get(t) else { return };
        if x.state.decided() {
            return;
        }
        let (me, mine, nodes) = (self.id, x.state, x.nodes.clone());
        let reports = &round.reports;
        if let Some((n, _)) = reports.iter().find(|(_, (s, _))| *s == TxnState::Committed) {
            ctx.note(format!("{me} learns from {n}'s report that {t} committed"));
            self.decide(t, Decision::Commit, true, ctx);
            return;
        }
        if let Some((n, _)) = reports.iter().find(|(_, (s, _))| *s == TxnState::Aborted) {
            ctx.note(format!("{me} learns from {n}'s report that {t} aborted"));
            self.decide(t, Decision::Abort, true, ctx);
            return;
        }
        let recovering = self.recovering.contains(t);
        // Who takes part in electing the backup: the operational nodes that have not crashed
        // since they voted; after a total failure (every node answered, all recovering), all.
        let mut electorate: BTreeMap<NodeId, TxnState> = BTreeMap::new();
        if !recovering {
            electorate.insert(me, mine);
            for (n, (s, rec)) in reports {
                if !rec {
                    electorate.insert(*n, *s);
                }
            }
        } else {
            let everyone = nodes.iter().all(|n| *n == me || reports.contains_key(n));
            if everyone && reports.values().all(|(_, rec)| *rec) {
                electorate.insert(me, mine);
                electorate.extend(reports.iter().map(|(n, (s, _))| (*n, *s)));
            }
        }
        let backup = electorate.keys().next().copied();
        if backup != Some(me) {
            let why = match backup {
                Some(b) => format!("{b} is the lowest operational node and acts as backup coordinator"),
                None => "it recovered and waits for a node that knows more".to_string(),
            };
            ctx.note(format!("{me} defers on {t}: {why}"));
            ctx.set_timer(ms(self.params.participant_timeout_ms), Timer::Wait { txn: t.to_string() });
            return;
        }
        let states: Vec<String> = electorate.iter().map(|(n, s)| format!("{n} {}", s.word())).collect();
        if electorate.values().any(|s| *s == TxnState::PreCommitted) {
            let uncertain: BTreeSet<NodeId> =
                electorate.iter().filter(|(n, s)| **n != me && **s == TxnState::Uncertain).map(|(n, _)| *n).collect();
            let then = if uncertain.is_empty() {
                "nobody can have aborted: commit".to_string()
            } else {
                let names: Vec<String> = uncertain.iter().map(NodeId::to_string).collect();
                format!("PreCommit to {}, then commit", names.join(", "))
            };
            ctx.note(format!(
                "{me} is the backup coordinator of {t} ({}): someone is precommitted, {then}",
                states.join(", ")
            ));
            self.recovering.remove(t);
            if mine == TxnState::Uncertain {
                self.set_state(t, TxnState::PreCommitted);
            }
            self.send_pre_commit(t, uncertain, ctx);
        } else {
            ctx.note(format!("{me} is the backup coordinator of {t} ({}): all uncertain, abort", states.join(", ")));
            self.decide(t, Decision::Abort, true, ctx);
        }
    }

    /// Records a decision (once), applies it, and, when this node took it (`announce`), tells
    /// every other node of the transaction.
    pub(crate) fn decide(&mut self, t: &str, d: Decision, announce: bool, ctx: TCtx) {
        let now = ctx.now().0;
        let Some(x) = self.log.txns.get_mut(t) else { return };
        if x.state.decided() && x.decided_us.is_some() {
            return;
        }
        x.state = if d == Decision::Commit { TxnState::Committed } else { TxnState::Aborted };
        x.decided_us = Some(now);
        let (nodes, client, writes, coordinator) = (x.nodes.clone(), x.client, x.writes.clone(), x.coordinator);
        self.log.decisions.push((t.to_string(), d));
        if d == Decision::Commit && !coordinator {
            for w in writes {
                self.log.store.insert(w.key, w.value);
            }
        }
        self.log.locks.release(t);
        self.recovering.remove(t);
        self.votes.remove(t);
        self.acking.remove(t);
        self.rounds.remove(t);
        for timer in [
            Timer::Votes { txn: t.to_string() },
            Timer::Acks { txn: t.to_string() },
            Timer::Wait { txn: t.to_string() },
            Timer::Collect { txn: t.to_string() },
        ] {
            ctx.cancel_timer(timer);
        }
        if announce {
            for n in nodes.iter().filter(|n| **n != self.id) {
                let msg = match d {
                    Decision::Commit => Msg::DoCommit { txn: t.to_string() },
                    Decision::Abort => Msg::Abort { txn: t.to_string() },
                };
                ctx.send(*n, msg);
            }
        }
        if let Some((client, seq)) = client {
            let reply = match d {
                Decision::Commit => Reply::Done { value: None },
                Decision::Abort => Reply::Rejected { reason: format!("{t} aborted") },
            };
            ctx.reply(client, seq, reply);
        }
    }
}
