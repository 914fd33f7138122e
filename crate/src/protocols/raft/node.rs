//! Raft's rules for servers (Figure 2 of the paper): elections, replication, commitment.

use super::messages::{Command, Entry, RaftMsg, RaftTimer, Role, majority, peers};
use super::{CommitRule, Raft};
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::Ctx;
use crate::workload::op::{Op, Reply, Request};

type RCtx<'a, 'b> = &'a mut Ctx<'b, Raft>;

impl Raft {
    pub(crate) fn last_log_index(&self) -> u64 {
        self.log.len() as u64
    }

    pub(crate) fn last_log_term(&self) -> u64 {
        self.log.last().map_or(0, |e| e.term)
    }

    /// The term of the entry at `index` (0 for index 0, `None` past the end).
    pub(crate) fn term_at(&self, index: u64) -> Option<u64> {
        if index == 0 { Some(0) } else { self.log.get(index as usize - 1).map(|e| e.term) }
    }

    fn append(&mut self, entry: Entry) {
        self.log.push(entry);
    }

    fn truncate(&mut self, keep: u64) {
        self.log.truncate(keep as usize);
        self.truncations += 1;
    }

    pub(crate) fn reset_election_timer(&mut self, ctx: RCtx) {
        let [lo, hi] = self.params.election_timeout_ms;
        let after = ctx.rng().between(lo * 1000, hi * 1000);
        ctx.set_timer(after, RaftTimer::ElectionTimeout);
    }

    /// §5.1: a higher term seen anywhere makes a server adopt it and become a follower.
    fn observe_term(&mut self, term: u64, ctx: RCtx) {
        if term > self.current_term {
            self.current_term = term;
            self.voted_for = None;
            self.become_follower(None, ctx);
        }
    }

    fn become_follower(&mut self, leader: Option<NodeId>, ctx: RCtx) {
        let was_leader = self.role == Role::Leader;
        self.role = Role::Follower;
        self.leader = leader;
        self.votes.clear();
        if was_leader {
            self.reset_lease();
            ctx.cancel_timer(RaftTimer::Heartbeat);
            ctx.note(format!("{} steps down in term {}", self.id, self.current_term));
            // Entries of waiting clients may still commit under the next leader: their
            // outcome is unknown to this node now.
            for (_, (client, seq)) in std::mem::take(&mut self.waiting) {
                ctx.reply(client, seq, Reply::Uncertain { leader });
            }
            // Leaders have no election timer; a follower needs one.
            self.reset_election_timer(ctx);
        }
    }

    /// §5.2: a follower that heard nothing from a leader stands for election.
    pub(crate) fn start_election(&mut self, ctx: RCtx) {
        if self.role == Role::Leader {
            return;
        }
        self.current_term += 1;
        self.role = Role::Candidate;
        self.voted_for = Some(self.id);
        self.leader = None;
        self.votes = vec![self.id];
        self.reset_election_timer(ctx);
        let (term, last_log_index, last_log_term) = (self.current_term, self.last_log_index(), self.last_log_term());
        for p in peers(self.id, self.nodes) {
            ctx.send(p, RaftMsg::RequestVote { term, last_log_index, last_log_term });
        }
        self.check_election_won(ctx);
    }

    fn check_election_won(&mut self, ctx: RCtx) {
        if self.role == Role::Candidate && self.votes.len() >= majority(self.nodes as usize) {
            self.become_leader(ctx);
        }
    }

    fn become_leader(&mut self, ctx: RCtx) {
        self.role = Role::Leader;
        self.leader = Some(self.id);
        ctx.cancel_timer(RaftTimer::ElectionTimeout);
        ctx.note(format!("{} becomes leader of term {} with {} votes", self.id, self.current_term, self.votes.len()));
        let next = self.last_log_index() + 1;
        self.next_index.iter_mut().for_each(|n| *n = next);
        self.match_index.iter_mut().for_each(|m| *m = 0);
        self.sent_up_to.iter_mut().for_each(|m| *m = 0);
        if self.params.noop_on_election {
            self.append(Entry { term: self.current_term, command: Command::Noop });
        }
        self.match_index[self.id.index()] = self.last_log_index();
        self.reset_lease();
        self.heartbeat(ctx);
        self.advance_commit(ctx);
    }

    pub(crate) fn heartbeat(&mut self, ctx: RCtx) {
        if self.role != Role::Leader {
            return;
        }
        self.begin_round(ctx);
        for p in peers(self.id, self.nodes) {
            self.send_append(p, ctx);
        }
        ctx.set_timer(self.params.heartbeat_ms * 1000, RaftTimer::Heartbeat);
    }

    fn send_append(&mut self, to: NodeId, ctx: RCtx) {
        let next = self.next_index[to.index()].clamp(1, self.last_log_index() + 1);
        let prev_log_index = next - 1;
        let prev_log_term = self.term_at(prev_log_index).unwrap_or(0);
        let end = (prev_log_index + self.params.max_entries as u64).min(self.last_log_index());
        let entries = self.log[prev_log_index as usize..end as usize].to_vec();
        self.sent_up_to[to.index()] = self.sent_up_to[to.index()].max(end);
        ctx.send(
            to,
            RaftMsg::AppendEntries {
                term: self.current_term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit: self.commit_index,
                round: self.lease.round,
            },
        );
    }

    pub(crate) fn handle(&mut self, from: NodeId, msg: RaftMsg, ctx: RCtx) {
        match msg {
            RaftMsg::RequestVote { term, last_log_index, last_log_term } => {
                if self.disregards_vote(from, term, ctx) {
                    return;
                }
                self.observe_term(term, ctx);
                // §5.4.1: vote only for a candidate whose log is at least as up to date.
                let up_to_date = (last_log_term, last_log_index) >= (self.last_log_term(), self.last_log_index());
                let free = self.voted_for.is_none_or(|v| v == from);
                let vote_granted = term == self.current_term && free && up_to_date;
                if vote_granted {
                    self.voted_for = Some(from);
                    self.reset_election_timer(ctx);
                }
                ctx.send(from, RaftMsg::RequestVoteReply { term: self.current_term, vote_granted });
            }
            RaftMsg::RequestVoteReply { term, vote_granted } => {
                self.observe_term(term, ctx);
                if self.role == Role::Candidate
                    && term == self.current_term
                    && vote_granted
                    && !self.votes.contains(&from)
                {
                    self.votes.push(from);
                    self.check_election_won(ctx);
                }
            }
            RaftMsg::AppendEntries { term, prev_log_index, prev_log_term, entries, leader_commit, round } => {
                let sent = (prev_log_index, prev_log_term, round);
                self.append_entries(from, term, sent, entries, leader_commit, ctx);
            }
            RaftMsg::AppendEntriesReply { term, success, match_index, rejected, last_log_index, round } => {
                self.observe_term(term, ctx);
                if self.role != Role::Leader || term != self.current_term {
                    return;
                }
                self.round_answered(from, round, ctx);
                let p = from.index();
                if success {
                    self.match_index[p] = self.match_index[p].max(match_index);
                    self.next_index[p] = self.next_index[p].max(match_index + 1);
                    self.advance_commit(ctx);
                    // With `pipeline`, entries already on their way are not sent twice.
                    let unsent = !self.params.pipeline || self.sent_up_to[p] < self.last_log_index();
                    if self.next_index[p] <= self.last_log_index() && unsent {
                        self.send_append(from, ctx);
                    }
                } else if rejected + 1 == self.next_index[p] {
                    // Only the answer to the latest probe moves nextIndex back, so a late or
                    // duplicated refusal cannot push it back twice.
                    self.next_index[p] = (self.next_index[p] - 1).min(last_log_index + 1).max(1);
                    // What was sent past the point of disagreement was refused: not on its way.
                    self.sent_up_to[p] = self.next_index[p] - 1;
                    self.send_append(from, ctx);
                }
            }
        }
    }

    /// `sent` is the message's `prev_log_index`, `prev_log_term` and lease round.
    fn append_entries(
        &mut self,
        from: NodeId,
        term: u64,
        sent: (u64, u64, u64),
        entries: Vec<Entry>,
        leader_commit: u64,
        ctx: RCtx,
    ) {
        let (prev_log_index, prev_log_term, round) = sent;
        self.observe_term(term, ctx);
        let reply = |raft: &Raft, success: bool, match_index: u64| RaftMsg::AppendEntriesReply {
            term: raft.current_term,
            success,
            match_index,
            rejected: prev_log_index,
            last_log_index: raft.last_log_index(),
            round,
        };
        if term < self.current_term {
            ctx.send(from, reply(self, false, 0));
            return;
        }
        // From here on this node has heard from the leader of its term (what leader leases
        // count on: see `lease.rs`).
        self.heard_leader_at = Some(ctx.clock());
        // A candidate that hears from the leader of its own term gives up (§5.2).
        if self.role != Role::Follower || self.leader != Some(from) {
            self.become_follower(Some(from), ctx);
        }
        self.reset_election_timer(ctx);
        if self.term_at(prev_log_index) != Some(prev_log_term) {
            ctx.send(from, reply(self, false, 0));
            return;
        }
        let carried = entries.len() as u64;
        // §5.3: delete a conflicting entry and all that follow it; append what is new. Entries
        // that already match are kept, so a stale AppendEntries never shortens the log.
        for (i, entry) in entries.into_iter().enumerate() {
            let index = prev_log_index + 1 + i as u64;
            match self.term_at(index) {
                Some(t) if t == entry.term => continue,
                Some(_) => {
                    self.truncate(index - 1);
                    self.append(entry);
                }
                None => self.append(entry),
            }
        }
        // Only what this message carried is known to match the leader; anything after it in
        // the log may be an older leader's leftover.
        let match_index = prev_log_index + carried;
        if leader_commit > self.commit_index {
            self.commit_index = self.commit_index.max(leader_commit.min(match_index));
            self.apply_committed(ctx);
        }
        ctx.send(from, reply(self, true, match_index));
    }

    /// §5.3, §5.4.2: commit the highest index stored on a majority whose entry is of the
    /// current term (or of any term, under the unsafe rule).
    fn advance_commit(&mut self, ctx: RCtx) {
        let need = majority(self.nodes as usize);
        let mut n = self.last_log_index();
        while n > self.commit_index {
            let own_term = self.term_at(n) == Some(self.current_term);
            let countable = own_term || self.params.commit_rule == CommitRule::CountReplicas;
            if countable && self.match_index.iter().filter(|m| **m >= n).count() >= need {
                self.commit_index = n;
                self.apply_committed(ctx);
                return;
            }
            n -= 1;
        }
    }

    fn apply_committed(&mut self, ctx: RCtx) {
        while self.last_applied < self.commit_index {
            self.last_applied += 1;
            let index = self.last_applied;
            let Some(entry) = self.log.get(index as usize - 1) else { break };
            let answer = self.store.apply(&entry.command);
            if let Some((client, seq)) = self.waiting.remove(&index)
                && let Some((c, s, value)) = answer
                && (c, s) == (client, seq)
            {
                ctx.reply(client, seq, Reply::Done { value });
            }
        }
    }

    pub(crate) fn client_request(&mut self, client: ClientId, request: Request, ctx: RCtx) {
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
            Op::Get { key } => {
                if self.lease_read(client, seq, &key, ctx) {
                    return;
                }
                self.reads.log += 1;
                Command::Get { key, client, seq }
            }
            Op::Txn { .. } => {
                ctx.reply(
                    client,
                    seq,
                    Reply::Rejected { reason: "raft serves single-key puts and gets, not transactions".into() },
                );
                return;
            }
        };
        self.append(Entry { term: self.current_term, command });
        let index = self.last_log_index();
        self.match_index[self.id.index()] = index;
        self.waiting.insert(index, (client, seq));
        for p in peers(self.id, self.nodes) {
            self.send_append(p, ctx);
        }
        self.advance_commit(ctx);
    }
}
