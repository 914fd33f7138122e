//! The coordinator's half of 2PC (node n1): start a client's transaction, collect the votes,
//! decide, log the decision, then tell the client and every participant, and keep telling the
//! participants until each acknowledges. On restart it finishes what its log says it started.

use super::TwoPc;
use super::log::Record;
use super::messages::{TwoPcMsg, TwoPcTimer};
use crate::protocols::txn;
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::{Ctx, Decision};
use crate::workload::op::{Reply, Request, Write};

impl TwoPc {
    /// A client's transaction (a put is a transaction of one write).
    pub(crate) fn client_txn(
        &mut self,
        client: ClientId,
        request: Request,
        writes: Vec<Write>,
        ctx: &mut Ctx<'_, Self>,
    ) {
        let id = txn::txn_id(client, request.seq);
        if let Some(c) = self.tables.coordinated.get(&id) {
            // A retry or a duplicate of a transaction already begun: answer from the log, and
            // otherwise say nothing yet (the answer goes out when the decision is logged).
            match c.decision {
                Some(d) => ctx.reply(client, request.seq, client_reply(&id, d)),
                None => ctx.note(format!("n1 is still deciding {id}; the retry waits for the outcome")),
            }
            return;
        }
        if request.deadline_us < ctx.now().0 {
            // Its client has stopped waiting for this attempt; starting it now would commit
            // writes nobody is waiting for, possibly after the client's later operations.
            return;
        }
        if writes.is_empty() {
            ctx.reply(
                client,
                request.seq,
                Reply::Rejected { reason: "a transaction must write at least one key".into() },
            );
            return;
        }
        let participants = txn::owners(writes.iter().map(|w| w.key.as_str()), self.nodes);
        self.write_log(
            Record::Begin {
                txn: id.clone(),
                client: Some(client),
                seq: request.seq,
                writes: writes.clone(),
                participants: participants.clone(),
            },
            ctx,
        );
        for p in &participants {
            let mine: Vec<Write> = writes.iter().filter(|w| txn::owner(&w.key, self.nodes) == *p).cloned().collect();
            ctx.send(*p, TwoPcMsg::Prepare { txn: id.clone(), writes: mine, participants: participants.clone() });
        }
        let names: Vec<String> = participants.iter().map(|p| p.to_string()).collect();
        ctx.note(format!("n1 begins {id} ({}) and asks {} to prepare", keys_of(&writes), names.join(", ")));
        self.votes.insert(id.clone(), Default::default());
        ctx.set_timer(self.params.vote_timeout_ms * 1000, TwoPcTimer::VoteTimeout { txn: id });
    }

    pub(crate) fn on_vote(&mut self, from: NodeId, id: String, yes: bool, ctx: &mut Ctx<'_, Self>) {
        let Some(c) = self.tables.coordinated.get(&id) else { return };
        if c.decision.is_some() || !c.participants.contains(&from) {
            // A late or duplicated vote: the outcome is already logged (and being resent).
            return;
        }
        let participants = c.participants.clone();
        let votes = self.votes.entry(id.clone()).or_default();
        votes.insert(from, yes);
        if !yes {
            ctx.note(format!("{from} votes no on {id}: n1 must abort it"));
            self.decide(&id, Decision::Abort, ctx);
        } else if participants.iter().all(|p| votes.get(p) == Some(&true)) {
            ctx.note(format!("every participant voted yes on {id}: n1 may commit"));
            self.decide(&id, Decision::Commit, ctx);
        }
    }

    pub(crate) fn vote_timeout(&mut self, id: String, ctx: &mut Ctx<'_, Self>) {
        if self.tables.coordinated.get(&id).is_some_and(|c| c.decision.is_none()) {
            let missing: Vec<String> = self.tables.coordinated[&id]
                .participants
                .iter()
                .filter(|p| !self.votes.get(&id).is_some_and(|v| v.contains_key(p)))
                .map(|p| p.to_string())
                .collect();
            ctx.note(format!(
                "n1 has not heard from {} within {} ms: it aborts {id}",
                missing.join(", "),
                self.params.vote_timeout_ms
            ));
            self.decide(&id, Decision::Abort, ctx);
        }
    }

    /// Logs the outcome, then (and only then) tells the client and the participants.
    fn decide(&mut self, id: &str, d: Decision, ctx: &mut Ctx<'_, Self>) {
        self.write_log(Record::Decision { txn: id.to_string(), decision: d }, ctx);
        self.votes.remove(id);
        ctx.cancel_timer(TwoPcTimer::VoteTimeout { txn: id.to_string() });
        if let Some(c) = self.tables.coordinated.get(id)
            && let Some(client) = c.client
        {
            ctx.reply(client, c.seq, client_reply(id, d));
        }
        ctx.note(format!("n1 logs {} for {id} and sends it to the participants", txn::name(d)));
        self.send_outcome(id, ctx);
    }

    /// Sends the logged outcome to every participant that has not acknowledged it, and sets
    /// the timer to do it again.
    fn send_outcome(&mut self, id: &str, ctx: &mut Ctx<'_, Self>) {
        let Some(c) = self.tables.coordinated.get(id) else { return };
        let Some(decision) = c.decision else { return };
        if c.ended {
            return;
        }
        let acked = self.acks.get(id);
        let pending: Vec<NodeId> =
            c.participants.iter().filter(|p| !acked.is_some_and(|a| a.contains(p))).copied().collect();
        if pending.is_empty() {
            // Nobody left to tell (a presumed abort of a transaction with no known participant).
            self.write_log(Record::End { txn: id.to_string() }, ctx);
            return;
        }
        for p in pending {
            ctx.send(p, TwoPcMsg::Outcome { txn: id.to_string(), decision });
        }
        ctx.set_timer(self.params.resend_ms * 1000, TwoPcTimer::Resend { txn: id.to_string() });
    }

    pub(crate) fn resend(&mut self, id: String, ctx: &mut Ctx<'_, Self>) {
        self.send_outcome(&id, ctx);
    }

    pub(crate) fn on_ack(&mut self, from: NodeId, id: String, ctx: &mut Ctx<'_, Self>) {
        let Some(c) = self.tables.coordinated.get(&id) else { return };
        if c.ended || c.decision.is_none() {
            return;
        }
        let participants = c.participants.clone();
        let acked = self.acks.entry(id.clone()).or_default();
        acked.insert(from);
        if participants.iter().all(|p| acked.contains(p)) {
            self.acks.remove(&id);
            self.write_log(Record::End { txn: id.clone() }, ctx);
            ctx.cancel_timer(TwoPcTimer::Resend { txn: id });
        }
    }

    /// A participant asks how `id` ended (the termination protocol).
    pub(crate) fn coordinator_decision_request(&mut self, from: NodeId, id: String, ctx: &mut Ctx<'_, Self>) {
        let decision = match self.tables.coordinated.get(&id) {
            Some(c) => c.decision,
            None => {
                // Presumed abort: no record means no commit. It is logged, so that a late copy
                // of the client's request can never start the transaction afterwards.
                self.write_log(
                    Record::Begin {
                        txn: id.clone(),
                        client: None,
                        seq: 0,
                        writes: Vec::new(),
                        participants: Vec::new(),
                    },
                    ctx,
                );
                self.write_log(Record::Decision { txn: id.clone(), decision: Decision::Abort }, ctx);
                ctx.note(format!("n1 has no record of {id}: presumed abort"));
                Some(Decision::Abort)
            }
        };
        ctx.send(from, TwoPcMsg::DecisionReply { txn: id, decision });
    }

    /// Recovery from the log after a restart: a transaction with a logged decision has it sent
    /// again; one without is aborted (its votes were in memory and are lost: presumed abort),
    /// and the participants are told so.
    pub(crate) fn recover_coordinator(&mut self, ctx: &mut Ctx<'_, Self>) {
        let open: Vec<(String, bool)> = self
            .tables
            .coordinated
            .iter()
            .filter(|(_, c)| !c.ended)
            .map(|(id, c)| (id.clone(), c.decision.is_some()))
            .collect();
        for (id, decided) in open {
            if decided {
                ctx.note(format!("n1 restarts: {id} is decided in its log; it sends the outcome again"));
                self.send_outcome(&id, ctx);
            } else {
                ctx.note(format!("n1 restarts: {id} has no decision in its log, so it aborts it (presumed abort)"));
                self.decide(&id, Decision::Abort, ctx);
            }
        }
    }
}

fn client_reply(id: &str, d: Decision) -> Reply {
    match d {
        Decision::Commit => Reply::Done { value: None },
        Decision::Abort => Reply::Rejected { reason: format!("{id} aborted") },
    }
}

pub(crate) fn keys_of(writes: &[Write]) -> String {
    writes.iter().map(|w| format!("{}={}", w.key, w.value)).collect::<Vec<_>>().join(", ")
}
