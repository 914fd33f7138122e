//! The participants' half of 2PC (n2..nN, the resource managers): vote on a `Prepare`, hold
//! the locks of a yes vote until the outcome arrives, apply it, and, while uncertain, run the
//! cooperative termination protocol (BHG §7.4): ask the coordinator and the other participants
//! how the transaction ended, and answer such questions from others.

use super::TwoPc;
use super::coordinator::keys_of;
use super::log::Record;
use super::messages::{TwoPcMsg, TwoPcTimer};
use crate::protocols::txn;
use crate::sim::ids::NodeId;
use crate::sim::protocol::{Ctx, Decision};
use crate::sim::rng::probability_to_ppm;
use crate::workload::op::Write;

impl TwoPc {
    pub(crate) fn on_prepare(
        &mut self,
        from: NodeId,
        id: String,
        writes: Vec<Write>,
        participants: Vec<NodeId>,
        ctx: &mut Ctx<'_, Self>,
    ) {
        if let Some(p) = self.tables.participations.get(&id) {
            // A duplicate or late Prepare: the vote (or the decision) is in the log; say it
            // again, never differently. A node that decided abort without voting votes no.
            let yes = p.vote == Some(true);
            ctx.send(from, TwoPcMsg::Vote { txn: id, yes });
            return;
        }
        let reason = if self.params.vote_no.contains(&self.id) {
            Some("the scenario makes it vote no".to_string())
        } else if ctx.rng().chance(probability_to_ppm(self.params.no_vote_ratio)) {
            Some("it cannot do its part (no_vote_ratio)".to_string())
        } else {
            match self.locks.lock_all(writes.iter().map(|w| w.key.as_str()), &id, ctx.now().0) {
                Err((key, holder)) => Some(format!("{key} is locked by {holder}")),
                Ok(()) => None,
            }
        };
        match reason {
            None => {
                // Prepared goes to disk before the vote leaves: a yes is a promise to commit if
                // asked, so the writes and the locks must survive a crash.
                self.write_log(Record::Prepared { txn: id.clone(), writes: writes.clone(), participants }, ctx);
                ctx.send(from, TwoPcMsg::Vote { txn: id.clone(), yes: true });
                ctx.note(format!(
                    "{} prepares {id} ({}), locks {} and votes yes: it may no longer decide alone",
                    self.id,
                    keys_of(&writes),
                    key_list(&writes)
                ));
                ctx.set_timer(self.params.decision_timeout_ms * 1000, TwoPcTimer::DecisionTimeout { txn: id });
            }
            Some(reason) => {
                self.write_log(Record::VotedNo { txn: id.clone(), reason: reason.clone() }, ctx);
                self.write_log(Record::Decision { txn: id.clone(), decision: Decision::Abort }, ctx);
                ctx.send(from, TwoPcMsg::Vote { txn: id.clone(), yes: false });
                ctx.note(format!("{} votes no on {id} ({reason}) and aborts it", self.id));
            }
        }
    }

    /// The outcome, from the coordinator (`ack`) or from another participant.
    pub(crate) fn learn(&mut self, from: NodeId, id: String, d: Decision, ack: bool, ctx: &mut Ctx<'_, Self>) {
        match self.tables.participations.get(&id) {
            Some(p) if p.decision.is_some() => {}
            Some(p) if p.vote == Some(true) => {
                let writes = p.writes.clone();
                // The decision goes to disk before it is applied, so that a crash in between
                // finds it and applies it again rather than forgetting it.
                self.write_log(Record::Decision { txn: id.clone(), decision: d }, ctx);
                if d == Decision::Commit {
                    for w in &writes {
                        self.disk.store.insert(w.key.clone(), w.value.clone());
                    }
                }
                self.locks.release(&id);
                ctx.cancel_timer(TwoPcTimer::DecisionTimeout { txn: id.clone() });
                let via = if from == txn::COORDINATOR { String::new() } else { format!(" from {from}") };
                ctx.note(format!(
                    "{} learns {}{via} for {id}: it {} and unlocks {}",
                    self.id,
                    txn::name(d),
                    if d == Decision::Commit { "applies its writes" } else { "discards its writes" },
                    key_list(&writes)
                ));
            }
            Some(_) | None if d == Decision::Abort => {
                // Told abort for a transaction it never voted on (its Prepare was lost, or it
                // was down): nothing to undo, but the outcome is logged so that a late Prepare
                // is answered no.
                self.write_log(Record::Decision { txn: id.clone(), decision: d }, ctx);
                ctx.note(format!("{} learns that {id}, which it never prepared, was aborted", self.id));
            }
            _ => {
                // Commit for a transaction it did not vote yes on cannot happen in 2PC (the
                // Validity invariant would report it at the coordinator); do nothing, and do
                // not acknowledge, so that it is visible.
                return;
            }
        }
        if ack {
            ctx.send(from, TwoPcMsg::Ack { txn: id });
        }
    }

    /// Prepared and still uncertain: ask around, and ask again later.
    pub(crate) fn decision_timeout(&mut self, id: String, ctx: &mut Ctx<'_, Self>) {
        let Some(p) = self.tables.participations.get(&id) else { return };
        if !p.uncertain() {
            return;
        }
        let mut asked = vec![txn::COORDINATOR];
        if self.params.cooperative_termination {
            asked.extend(p.participants.iter().copied().filter(|q| *q != self.id));
        }
        for q in &asked {
            ctx.send(*q, TwoPcMsg::DecisionRequest { txn: id.clone() });
        }
        let names: Vec<String> = asked.iter().map(|q| q.to_string()).collect();
        ctx.note(format!(
            "{} is prepared on {id} and still uncertain: it keeps {} locked and asks {} for the outcome",
            self.id,
            key_list(&p.writes),
            names.join(", ")
        ));
        ctx.set_timer(self.params.decision_timeout_ms * 1000, TwoPcTimer::DecisionTimeout { txn: id });
    }

    /// Another participant asks how `id` ended.
    pub(crate) fn participant_decision_request(&mut self, from: NodeId, id: String, ctx: &mut Ctx<'_, Self>) {
        let decision = match self.tables.participations.get(&id) {
            Some(p) if p.decision.is_some() => p.decision,
            Some(p) if p.vote == Some(true) => {
                ctx.note(format!("{} cannot help {from}: it is prepared on {id} and uncertain too", self.id));
                None
            }
            _ => {
                // It has not voted: it may still abort on its own, and does, so that the asker
                // can stop waiting. A Prepare that arrives later is answered no.
                self.write_log(Record::Decision { txn: id.clone(), decision: Decision::Abort }, ctx);
                ctx.note(format!("{} has not voted on {id}, so it aborts it and tells {from}", self.id));
                Some(Decision::Abort)
            }
        };
        ctx.send(from, TwoPcMsg::DecisionReply { txn: id, decision });
    }

    /// Recovery from the log after a restart: every transaction prepared and undecided takes
    /// its locks again and stays uncertain; the termination protocol starts at once.
    pub(crate) fn recover_participant(&mut self, ctx: &mut Ctx<'_, Self>) {
        let uncertain: Vec<(String, Vec<Write>)> = self
            .tables
            .participations
            .iter()
            .filter(|(_, p)| p.uncertain())
            .map(|(id, p)| (id.clone(), p.writes.clone()))
            .collect();
        for (id, writes) in uncertain {
            let since = self.tables.participations.get(&id).and_then(|p| p.prepared_us).unwrap_or(0);
            // Two undecided prepared transactions never share a key (the locks kept them apart
            // before the crash), so this cannot fail; if it did, the invariant would say so.
            let _ = self.locks.lock_all(writes.iter().map(|w| w.key.as_str()), &id, since);
            ctx.note(format!(
                "{} restarts: its log says it prepared {id}, so it locks {} again and is still uncertain",
                self.id,
                key_list(&writes)
            ));
            ctx.set_timer(1000, TwoPcTimer::DecisionTimeout { txn: id });
        }
    }
}

pub(crate) fn key_list(writes: &[Write]) -> String {
    let keys: Vec<&str> = writes.iter().map(|w| w.key.as_str()).collect();
    if keys.is_empty() { "nothing".to_string() } else { keys.join(", ") }
}
