//! What an NWR node does: coordinate client requests (quorums, stand-ins, read repair) and serve
//! as a replica (store, hints, handoff, anti-entropy).

use super::messages::{NwrMsg, NwrTimer};
use super::version::{self, Clock, Version};
use super::{Coordination, Mode, Nwr, Phase, Versioning, ring};
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::Ctx;
use crate::workload::op::{Op, Reply, Request};
use std::collections::BTreeMap;

type NCtx<'a, 'b> = &'a mut Ctx<'b, Nwr>;

impl Nwr {
    fn home(&self, key: &str) -> Vec<NodeId> {
        ring::home(key, self.nodes, self.params.n)
    }

    /// What this node holds of a key: its own versions if it is home, and any hinted ones.
    fn local_versions(&self, key: &str) -> Vec<Version> {
        let mut set = self.store.get(key).cloned().unwrap_or_default();
        for ((_, k), vs) in &self.hints {
            if k == key {
                version::merge_all(&mut set, vs);
            }
        }
        set
    }

    /// Stores versions as a home replica, or as a stand-in keeping them for home replica `hint`.
    /// After a change of N the sender's idea of the preference list may be out of date: a home
    /// replica stores whatever the hint says, and a node that is not home keeps the versions as
    /// hints for the home replica named if it still is one, else for every home replica.
    fn store_versions(&mut self, key: &str, versions: &[Version], hint: Option<NodeId>) {
        let home = self.home(key);
        if home.contains(&self.id) {
            if version::merge_all(self.store.entry(key.to_string()).or_default(), versions) {
                self.changes += 1;
            }
            return;
        }
        let targets = match hint {
            Some(h) if home.contains(&h) => vec![h],
            _ => home,
        };
        for h in targets {
            version::merge_all(self.hints.entry((h, key.to_string())).or_default(), versions);
        }
    }

    /// After a change of N (live, or found on restart): a key this node is no longer home for
    /// becomes hints for its home replicas, handed back at the next beats; a hint for a key it
    /// is now home for joins its store; a hint for a node no longer home goes to the new ones.
    pub(crate) fn rehome(&mut self, ctx: NCtx) {
        let me = self.id;
        let leaving: Vec<String> = self.store.keys().filter(|k| !self.home(k).contains(&me)).cloned().collect();
        for key in leaving {
            let versions = self.store.remove(&key).unwrap_or_default();
            self.changes += 1;
            let home: Vec<String> = self.home(&key).iter().map(NodeId::to_string).collect();
            ctx.note(format!(
                "{me} is no longer a home replica of {key}: it keeps it as hints for {}",
                home.join(", ")
            ));
            self.store_versions(&key, &versions, None);
        }
        let moved: Vec<(NodeId, String)> = self
            .hints
            .keys()
            .filter(|(h, k)| {
                let home = self.home(k);
                home.contains(&me) || !home.contains(h)
            })
            .cloned()
            .collect();
        for (h, key) in moved {
            let versions = self.hints.remove(&(h, key.clone())).unwrap_or_default();
            self.store_versions(&key, &versions, None);
        }
    }

    pub(crate) fn client_request(&mut self, client: ClientId, request: Request, ctx: NCtx) {
        let seq = request.seq;
        if let Some((last, reply)) = self.sessions.get(&client)
            && *last == seq
        {
            // A retry or a duplicate of a request already answered here.
            ctx.reply(client, seq, reply.clone());
            return;
        }
        if self.pending.values().any(|c| c.client == client && c.seq == seq) {
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        let (key, put) = match request.op {
            Op::Get { key } => (key, None),
            Op::Put { key, value } => (key, Some(value)),
            Op::Txn { .. } => {
                let reason = "nwr serves single-key puts and gets, not transactions".to_string();
                ctx.reply(client, seq, Reply::Rejected { reason });
                return;
            }
        };
        let asked = self.home(&key).into_iter().map(|n| (n, None)).collect();
        let lww_put = put.is_some() && self.params.versioning == Versioning::Lww;
        let c = Coordination {
            client,
            seq,
            key,
            put,
            r: self.params.r,
            w: self.params.w,
            mode: self.params.mode,
            phase: Phase::Reading,
            asked,
            answered: Vec::new(),
            replies: Vec::new(),
            merged: Vec::new(),
        };
        self.pending.insert(id, c);
        ctx.set_timer(self.params.coordinator_timeout_ms * 1000, NwrTimer::CoordinatorTimeout { id });
        if lww_put {
            // Last-writer-wins needs no context: the timestamp is the version.
            self.counter += 1;
            let clock = Clock::Timestamp { at_us: ctx.now().0, node: self.id, counter: self.counter };
            self.start_write(id, clock, ctx);
        } else {
            self.start_phase(id, ctx);
        }
    }

    /// Sends the current phase's request to everyone asked so far.
    fn start_phase(&mut self, id: u64, ctx: NCtx) {
        let Some(c) = self.pending.get_mut(&id) else { return };
        c.answered.clear();
        // The coordinator answers itself at once, so it goes last: its answer may complete
        // the phase, and every other replica must have been sent this phase's request first.
        let me = self.id;
        let mut targets = c.asked.clone();
        targets.sort_by_key(|(n, _)| *n == me);
        if c.mode == Mode::Sloppy {
            ctx.set_timer(self.params.sloppy_after_ms * 1000, NwrTimer::Sloppy { id });
        }
        for (target, hint) in targets {
            self.ask(id, target, hint, ctx);
        }
    }

    fn ask(&mut self, id: u64, target: NodeId, hint: Option<NodeId>, ctx: NCtx) {
        let Some(c) = self.pending.get(&id) else { return };
        let key = c.key.clone();
        let msg = match c.phase {
            Phase::Reading => NwrMsg::Read { id, key },
            Phase::Writing => NwrMsg::Write { id: Some(id), key, versions: c.merged.clone(), hint },
            Phase::Done => return,
        };
        if target == self.id {
            // The coordinator is one of the replicas: it answers itself at once.
            self.handle(self.id, msg, ctx);
        } else {
            ctx.send(target, msg);
        }
    }

    fn start_write(&mut self, id: u64, clock: Clock, ctx: NCtx) {
        let Some(c) = self.pending.get_mut(&id) else { return };
        let Some(value) = c.put.clone() else { return };
        c.phase = Phase::Writing;
        c.merged = vec![Version { value, clock, writer: self.id }];
        ctx.note(format!("{} coordinates put {}={}", self.id, c.key, c.merged[0].value));
        self.start_phase(id, ctx);
    }

    /// Whether `from`'s answer counts toward the quorum: in strict mode only home replicas'.
    fn counts(&self, c: &Coordination, from: NodeId) -> bool {
        c.asked.iter().any(|(n, hint)| *n == from && (hint.is_none() || c.mode == Mode::Sloppy))
    }

    fn read_reply(&mut self, from: NodeId, id: u64, versions: Vec<Version>, ctx: NCtx) {
        let Some(c) = self.pending.get(&id) else { return };
        if c.phase == Phase::Done {
            // A late replier to an answered get: repair it if it is behind.
            if !version::covers(&versions, &c.merged) {
                let hint = c.asked.iter().find(|(n, _)| *n == from).and_then(|(_, h)| *h);
                self.repair(from, c.key.clone(), c.merged.clone(), hint, ctx);
            }
            return;
        }
        if c.phase != Phase::Reading || c.answered.contains(&from) || !self.counts(c, from) {
            return;
        }
        let c = self.pending.get_mut(&id).expect("looked up above");
        c.answered.push(from);
        c.replies.push((from, versions));
        if c.answered.len() < c.r as usize {
            return;
        }
        let mut merged = Vec::new();
        for (_, vs) in &c.replies {
            version::merge_all(&mut merged, vs);
        }
        if c.put.is_some() {
            // The new version descends from everything the context read found.
            let mut join: BTreeMap<NodeId, u64> = BTreeMap::new();
            for v in &merged {
                if let Clock::Vector(vc) = &v.clock {
                    for (n, k) in vc {
                        let e = join.entry(*n).or_default();
                        *e = (*e).max(*k);
                    }
                }
            }
            let mine = join.get(&self.id).copied().unwrap_or(0).max(self.counter) + 1;
            self.counter = mine;
            join.insert(self.id, mine);
            self.start_write(id, Clock::Vector(join), ctx);
            return;
        }
        c.phase = Phase::Done;
        c.merged = merged.clone();
        let (client, seq, key) = (c.client, c.seq, c.key.clone());
        let value = version::chosen(&merged).map(|v| v.value.clone());
        if merged.len() > 1 {
            let all: Vec<&str> = merged.iter().map(|v| v.value.as_str()).collect();
            ctx.note(format!("{} reads {} siblings of {key}: {}", self.id, merged.len(), all.join(", ")));
        }
        let behind: Vec<(NodeId, Option<NodeId>)> = c
            .replies
            .iter()
            .filter(|(_, vs)| !version::covers(vs, &merged))
            .filter_map(|(n, _)| c.asked.iter().find(|(a, _)| a == n).copied())
            .collect();
        self.answer(client, seq, Reply::Done { value }, ctx);
        for (n, hint) in behind {
            self.repair(n, key.clone(), merged.clone(), hint, ctx);
        }
    }

    fn repair(&mut self, to: NodeId, key: String, versions: Vec<Version>, hint: Option<NodeId>, ctx: NCtx) {
        if to == self.id {
            self.store_versions(&key, &versions, hint);
        } else {
            ctx.send(to, NwrMsg::Write { id: None, key, versions, hint });
        }
    }

    fn write_ack(&mut self, from: NodeId, id: u64, ctx: NCtx) {
        let Some(c) = self.pending.get(&id) else { return };
        if c.phase != Phase::Writing || c.answered.contains(&from) || !self.counts(c, from) {
            return;
        }
        let c = self.pending.get_mut(&id).expect("looked up above");
        c.answered.push(from);
        if c.answered.len() >= c.w as usize {
            c.phase = Phase::Done;
            let (client, seq) = (c.client, c.seq);
            self.answer(client, seq, Reply::Done { value: None }, ctx);
        }
    }

    fn answer(&mut self, client: ClientId, seq: u64, reply: Reply, ctx: NCtx) {
        self.sessions.insert(client, (seq, reply.clone()));
        ctx.reply(client, seq, reply);
    }

    pub(crate) fn coordinator_timeout(&mut self, id: u64, ctx: NCtx) {
        let Some(c) = self.pending.remove(&id) else { return };
        ctx.cancel_timer(NwrTimer::Sloppy { id });
        let (need, what) = match c.phase {
            Phase::Done => return,
            Phase::Reading => (c.r, "replies"),
            Phase::Writing => (c.w, "acknowledgements"),
        };
        let reason = format!("{} of {need} {what} for {} in time", c.answered.len(), c.key);
        ctx.note(format!("{} gives up coordinating {} {}: {reason}", self.id, c.client, c.key));
        // Reading: nothing was written anywhere, the failure is certain. Writing: the write
        // may sit on any replica it reached.
        let reply =
            if c.phase == Phase::Reading { Reply::Rejected { reason } } else { Reply::Uncertain { leader: None } };
        self.answer(c.client, c.seq, reply, ctx);
    }

    /// Sloppy quorum: every home replica that has not answered in this phase gets a stand-in,
    /// the next node along the ring not asked yet, sent the same request with a hint.
    pub(crate) fn ask_stand_ins(&mut self, id: u64, ctx: NCtx) {
        let Some(c) = self.pending.get(&id) else { return };
        if c.phase == Phase::Done {
            return;
        }
        let silent: Vec<NodeId> = c
            .asked
            .iter()
            .filter(|(n, hint)| hint.is_none() && !c.answered.contains(n))
            .filter(|(n, _)| !c.asked.iter().any(|(_, h)| *h == Some(*n)))
            .map(|(n, _)| *n)
            .collect();
        let mut spare = ring::walk(&c.key, self.nodes).into_iter().filter(|n| !c.asked.iter().any(|(a, _)| a == n));
        let mut added = Vec::new();
        for home in silent {
            let Some(stand_in) = spare.next() else { break };
            added.push((stand_in, Some(home)));
        }
        let c = self.pending.get_mut(&id).expect("looked up above");
        c.asked.extend(added.iter().copied());
        for (n, hint) in added {
            ctx.note(format!("{} asks {n} to stand in for {}", self.id, hint.map_or(String::new(), |h| h.to_string())));
            self.ask(id, n, hint, ctx);
        }
    }

    /// The anti-entropy beat: sync with the next node in turn, and offer hints back home.
    pub(crate) fn anti_entropy(&mut self, ctx: NCtx) {
        ctx.set_timer(self.params.anti_entropy_ms * 1000, NwrTimer::AntiEntropy);
        if self.nodes > 1 {
            self.sync_round += 1;
            let peer =
                NodeId(((self.id.0 as u64 + 1 + self.sync_round % (self.nodes as u64 - 1)) % self.nodes as u64) as u16);
            let entries: Vec<(String, Vec<Version>)> = self
                .store
                .iter()
                .filter(|(k, _)| self.home(k).contains(&peer))
                .map(|(k, vs)| (k.clone(), vs.clone()))
                .collect();
            if !entries.is_empty() {
                ctx.send(peer, NwrMsg::Sync { entries, reply: false });
            }
        }
        for ((home, key), versions) in &self.hints {
            ctx.send(*home, NwrMsg::Handoff { key: key.clone(), versions: versions.clone() });
        }
    }

    pub(crate) fn handle(&mut self, from: NodeId, msg: NwrMsg, ctx: NCtx) {
        match msg {
            NwrMsg::Read { id, key } => {
                let versions = self.local_versions(&key);
                let reply = NwrMsg::ReadReply { id, key, versions };
                if from == self.id { self.handle(from, reply, ctx) } else { ctx.send(from, reply) }
            }
            NwrMsg::ReadReply { id, versions, .. } => self.read_reply(from, id, versions, ctx),
            NwrMsg::Write { id, key, versions, hint } => {
                self.store_versions(&key, &versions, hint);
                if let Some(id) = id {
                    if from == self.id {
                        self.write_ack(from, id, ctx)
                    } else {
                        ctx.send(from, NwrMsg::WriteAck { id })
                    }
                }
            }
            NwrMsg::WriteAck { id } => self.write_ack(from, id, ctx),
            NwrMsg::Handoff { key, versions } => {
                self.store_versions(&key, &versions, None);
                ctx.send(from, NwrMsg::HandoffAck { key, versions });
            }
            NwrMsg::HandoffAck { key, versions } => {
                let entry = (from, key);
                if let Some(held) = self.hints.get_mut(&entry) {
                    held.retain(|v| !version::covers(&versions, std::slice::from_ref(v)));
                    if held.is_empty() {
                        self.hints.remove(&entry);
                        ctx.note(format!("{} hands {} back to {from} and drops its hint", self.id, entry.1));
                    }
                }
            }
            NwrMsg::Sync { entries, reply } => {
                let mut answer = Vec::new();
                for (key, theirs) in entries {
                    if !self.home(&key).contains(&self.id) {
                        continue;
                    }
                    self.store_versions(&key, &theirs, None);
                    let mine = self.store.get(&key).cloned().unwrap_or_default();
                    if !version::covers(&theirs, &mine) {
                        answer.push((key, mine));
                    }
                }
                if !reply && !answer.is_empty() {
                    ctx.send(from, NwrMsg::Sync { entries: answer, reply: true });
                }
            }
        }
    }
}
