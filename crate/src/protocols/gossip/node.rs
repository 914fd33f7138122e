//! What a gossip node does: its rounds of rumor mongering (push, pull, push-pull), its
//! anti-entropy exchanges, the stop rules, and client requests. Every path that takes an update
//! goes through `learn`, which keeps the newest version of each key.

use super::messages::{Digest, GossipMsg, GossipTimer, Update, Version};
use super::{Direction, Entry, Gossip, Hot, NOTE_LIMIT, StopRule, Via};
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::Ctx;
use crate::workload::op::{Op, Reply, Request};

type GCtx<'a, 'b> = &'a mut Ctx<'b, Gossip>;

/// Microseconds from `now_us` to the next multiple of `period_us` (a whole period when `now_us`
/// is on one): every node's rounds fall on the same instants.
pub(crate) fn to_next_multiple(now_us: u64, period_us: u64) -> u64 {
    let period = period_us.max(1);
    period - now_us % period
}

impl Gossip {
    /// Sets the timers the node needs and does not have: a round timer when it has something
    /// to push or when it pulls, an anti-entropy timer when anti-entropy runs.
    pub(crate) fn arm(&mut self, ctx: GCtx) {
        let p = &self.params;
        let now = ctx.now().0;
        if p.mode.rumors() && (p.direction.pulls() || !self.hot.is_empty()) && !self.round_armed {
            self.round_armed = true;
            ctx.set_timer(to_next_multiple(now, p.period_ms * 1000), GossipTimer::Round);
        }
        if p.mode.anti_entropy() && !self.anti_entropy_armed {
            self.anti_entropy_armed = true;
            ctx.set_timer(to_next_multiple(now, p.anti_entropy_period_ms * 1000), GossipTimer::AntiEntropy);
        }
    }

    /// A peer drawn uniformly among the other nodes.
    fn peer(&self, ctx: GCtx) -> Option<NodeId> {
        if self.nodes < 2 {
            return None;
        }
        let r = ctx.rng().below(self.nodes as u64 - 1) as u16;
        Some(NodeId(if r >= self.id.0 { r + 1 } else { r }))
    }

    fn digest(&self) -> Digest {
        self.store.iter().map(|(k, e)| (k.clone(), e.version)).collect()
    }

    /// The update as stored, counted as carried by one more message.
    fn carry(&mut self, key: &str) -> Option<Update> {
        let e = self.store.get_mut(key)?;
        e.carried = e.carried.saturating_add(1);
        Some(Update { key: key.to_string(), value: e.value.clone(), version: e.version })
    }

    fn hot_updates(&mut self) -> Vec<Update> {
        let keys: Vec<String> = self.hot.iter().map(|h| h.key.clone()).collect();
        keys.iter().filter_map(|k| self.carry(k)).collect()
    }

    /// One round of rumor mongering.
    pub(crate) fn round(&mut self, ctx: GCtx) {
        let direction = self.params.direction;
        if direction == Direction::Push && self.hot.is_empty() {
            return;
        }
        for _ in 0..self.params.fanout {
            let Some(to) = self.peer(ctx) else { return };
            let had_hot = !self.hot.is_empty();
            let msg = match direction {
                Direction::Push => {
                    if !had_hot {
                        return;
                    }
                    GossipMsg::Push { updates: self.hot_updates() }
                }
                Direction::Pull => GossipMsg::Pull { digest: self.digest() },
                Direction::PushPull => GossipMsg::PushPull { updates: self.hot_updates(), digest: self.digest() },
            };
            ctx.send(to, msg);
            // Blind: every push counts against every update it carried.
            if had_hot && direction.pushes() && !self.params.stop.feedback {
                let pushed: Vec<(String, Version)> = self.hot.iter().map(|h| (h.key.clone(), h.version)).collect();
                for (key, version) in pushed {
                    self.contact_counts(&key, version, ctx);
                }
            }
        }
    }

    /// A contact that counts toward losing interest in (key, version): the counter advances or
    /// the coin is tossed, and the update stops being hot when the rule says so.
    fn contact_counts(&mut self, key: &str, version: Version, ctx: GCtx) {
        let stop = self.params.stop;
        let Some(i) = self.hot.iter().position(|h| h.key == key && h.version == version) else { return };
        let lose = match stop.rule {
            StopRule::None => false,
            StopRule::Counter => {
                self.hot[i].contacts += 1;
                self.hot[i].contacts >= stop.k
            }
            StopRule::Coin => {
                self.hot[i].contacts += 1;
                ctx.rng().below(stop.k as u64) == 0
            }
        };
        if lose {
            let h = self.hot.remove(i);
            if self.nodes <= NOTE_LIMIT {
                let how = match stop.rule {
                    StopRule::Counter => format!("after {} contacts that counted", h.contacts),
                    _ => format!("on the coin (1/{})", stop.k),
                };
                ctx.note(format!("{} loses interest in {} ({}) {how}", self.id, h.key, h.version));
            }
        }
    }

    /// Takes an update if it is newer than what the node holds. Returns whether it did.
    pub(crate) fn learn(&mut self, u: Update, via: Via, from: Option<NodeId>, ctx: GCtx) -> bool {
        if self.knows(&u.key, u.version) {
            return false;
        }
        let now = ctx.now().0;
        // An older version being spread is superseded: spreading it further is pointless.
        self.hot.retain(|h| h.key != u.key);
        let hot = self.params.mode.rumors() && matches!(via, Via::Rumor | Via::Client | Via::Origin);
        if hot {
            self.hot.push(Hot { key: u.key.clone(), version: u.version, contacts: 0 });
        }
        if self.nodes <= NOTE_LIMIT && via != Via::Client && via != Via::Origin {
            let from = from.map(|f| format!(" from {f}")).unwrap_or_default();
            let how = if via == Via::AntiEntropy { "by anti-entropy" } else { "as a rumor" };
            ctx.note(format!("{} learns {}={} ({}) {how}{from}", self.id, u.key, u.value, u.version));
        }
        let entry = Entry { value: u.value, version: u.version, learned_us: now, via, carried: 0 };
        self.store.insert(u.key, entry);
        true
    }

    /// A new update created here, by a client's put or as the origin's rumor.
    pub(crate) fn create(&mut self, key: &str, value: &str, via: Via, ctx: GCtx) -> Version {
        let now = ctx.now().0;
        // Past any version of the key the node holds, so its own write wins here.
        let at_us = match self.store.get(key) {
            Some(e) if e.version.at_us >= now => e.version.at_us + 1,
            _ => now,
        };
        let version = Version { at_us, node: self.id };
        let update = Update { key: key.to_string(), value: value.to_string(), version };
        self.created.push(update.clone());
        ctx.note(format!("{} creates the update {key}={value} ({version})", self.id));
        self.learn(update, via, None, ctx);
        version
    }

    pub(crate) fn handle(&mut self, from: NodeId, msg: GossipMsg, ctx: GCtx) {
        match msg {
            GossipMsg::Push { updates } => {
                let known = self.take_pushed(updates, from, ctx);
                if self.feedback_wanted() && !known.is_empty() {
                    ctx.send(from, GossipMsg::Feedback { known });
                }
            }
            GossipMsg::Feedback { known } => self.unnecessary(known, ctx),
            GossipMsg::Pull { digest } => {
                let updates = self.answer_pull(&digest, ctx);
                if !updates.is_empty() {
                    ctx.send(from, GossipMsg::PullReply { updates });
                }
            }
            GossipMsg::PullReply { updates } => {
                for u in updates {
                    self.learn(u, Via::Rumor, Some(from), ctx);
                }
            }
            GossipMsg::PushPull { updates, digest } => {
                // Answer from what was hot before taking the asker's updates: those it knows.
                let answer = self.answer_pull(&digest, ctx);
                let known = self.take_pushed(updates, from, ctx);
                let known = if self.feedback_wanted() { known } else { Vec::new() };
                if !answer.is_empty() || !known.is_empty() {
                    ctx.send(from, GossipMsg::PushPullReply { updates: answer, known });
                }
            }
            GossipMsg::PushPullReply { updates, known } => {
                for u in updates {
                    self.learn(u, Via::Rumor, Some(from), ctx);
                }
                self.unnecessary(known, ctx);
            }
            GossipMsg::AntiEntropy { entries, digest } => {
                let answer = match digest {
                    Some(d) => self.newer_than(&d),
                    None => Vec::new(),
                };
                for u in entries {
                    self.learn(u, Via::AntiEntropy, Some(from), ctx);
                }
                if !answer.is_empty() {
                    ctx.send(from, GossipMsg::AntiEntropyReply { entries: answer });
                }
            }
            GossipMsg::AntiEntropyReply { entries } => {
                for u in entries {
                    self.learn(u, Via::AntiEntropy, Some(from), ctx);
                }
            }
        }
    }

    /// The instant the current round began (the last multiple of the period).
    fn round_began(&self, ctx: GCtx) -> u64 {
        let now = ctx.now().0;
        now - now % (self.params.period_ms.max(1) * 1000)
    }

    fn feedback_wanted(&self) -> bool {
        self.params.stop.feedback && self.params.stop.rule != StopRule::None
    }

    /// Takes pushed updates; returns those the node already knew when the round began (for
    /// feedback). Rounds are simultaneous phone calls: a node that two pushes reach in the
    /// same round did not know the rumor for either of them, just as a pull's digest (taken
    /// at the round's instant) says what the asker knew then. Demers' tables count this way
    /// (their traffic and residue match it, not the sequential alternative).
    fn take_pushed(&mut self, updates: Vec<Update>, from: NodeId, ctx: GCtx) -> Digest {
        let round_began = self.round_began(ctx);
        let mut known = Vec::new();
        for u in updates {
            let knew = self.store.get(&u.key).is_some_and(|e| e.version >= u.version && e.learned_us < round_began);
            if knew {
                known.push((u.key, u.version));
            } else {
                self.learn(u, Via::Rumor, Some(from), ctx);
            }
        }
        known
    }

    /// Feedback: the peer already knew these, so each contact counts.
    fn unnecessary(&mut self, known: Digest, ctx: GCtx) {
        if !self.params.stop.feedback {
            return;
        }
        for (key, version) in known {
            self.contact_counts(&key, version, ctx);
        }
    }

    /// The hot updates an asker with this digest lacks (Demers' pull). With feedback, each hot
    /// update the asker already had is an unnecessary contact; blind, every one counts.
    /// Only what was hot when the round began is offered: a rumor learned during this round
    /// (from another call of the same round) waits for the next one, as in the synchronous
    /// phone-call model (otherwise a rumor could hop twice in one round).
    fn answer_pull(&mut self, digest: &Digest, ctx: GCtx) -> Vec<Update> {
        let round_began = self.round_began(ctx);
        let hot: Vec<(String, Version)> = self
            .hot
            .iter()
            .filter(|h| self.store.get(&h.key).is_some_and(|e| e.learned_us < round_began))
            .map(|h| (h.key.clone(), h.version))
            .collect();
        let mut out = Vec::new();
        for (key, version) in hot {
            let asker_has = digest.iter().any(|(k, v)| *k == key && *v >= version);
            if !asker_has && let Some(u) = self.carry(&key) {
                out.push(u);
            }
            if asker_has || !self.params.stop.feedback {
                self.contact_counts(&key, version, ctx);
            }
        }
        out
    }

    /// Every entry of the store that the digest lacks or holds older.
    fn newer_than(&mut self, digest: &Digest) -> Vec<Update> {
        let keys: Vec<String> = self
            .store
            .iter()
            .filter(|(k, e)| !digest.iter().any(|(dk, dv)| dk == *k && *dv >= e.version))
            .map(|(k, _)| k.clone())
            .collect();
        keys.iter().filter_map(|k| self.carry(k)).collect()
    }

    /// One anti-entropy exchange with a random peer.
    pub(crate) fn anti_entropy(&mut self, ctx: GCtx) {
        let Some(to) = self.peer(ctx) else { return };
        let direction = self.params.direction;
        let entries = if direction.pushes() {
            let keys: Vec<String> = self.store.keys().cloned().collect();
            keys.iter().filter_map(|k| self.carry(k)).collect()
        } else {
            Vec::new()
        };
        let digest = direction.pulls().then(|| self.digest());
        // Pushing an empty store says nothing.
        if entries.is_empty() && digest.is_none() {
            return;
        }
        ctx.send(to, GossipMsg::AntiEntropy { entries, digest });
    }

    pub(crate) fn client_request(&mut self, client: ClientId, request: Request, ctx: GCtx) {
        let reply = match request.op {
            Op::Put { key, value } => {
                self.create(&key, &value, Via::Client, ctx);
                Reply::Done { value: None }
            }
            Op::Get { key } => Reply::Done { value: self.store.get(&key).map(|e| e.value.clone()) },
            Op::Txn { .. } => Reply::Rejected { reason: "gossip runs no transactions".into() },
        };
        ctx.reply(client, request.seq, reply);
    }
}
