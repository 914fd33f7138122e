//! A holder (n3..nN): competes for the lease, works under it in rounds (check the lease by its
//! own clock, work `work_ms`, write), renews it, releases it after `hold_ms`. Its belief that
//! it holds the lease is judged only by its own clock, counted from when it sent the request.

use super::messages::{LeaseMsg, LeaseTimer};
use super::{GRANTOR, KEEP, Lease, LeaseParams, STORAGE, clock, jitter, secs};
use crate::sim::protocol::Ctx;
use crate::sim::time::Time;
use serde::Serialize;

/// A lease this holder believes it holds.
#[derive(Clone, Debug, Serialize)]
pub struct Holding {
    pub token: u64,
    /// On its own clock: it believes it holds the lease until its clock reads this.
    pub expires: Time,
    /// On its own clock: when the grant arrived (`hold_ms` counts from here).
    pub since: Time,
    /// A renewal on its way: the request number and when it was sent, on its own clock.
    pub renew: Option<(u64, Time)>,
    /// A round of work is under way: the lease was checked, the write will follow.
    pub working: bool,
    pub writes: u64,
}

/// One stretch of time during which the holder believed it held the lease, in true time (for
/// the page's bars and the figures).
#[derive(Clone, Debug, Serialize)]
pub struct Belief {
    pub token: u64,
    pub from_us: u64,
    /// Open while it still holds; the estimate of the true instant its clock passed
    /// `until_clock_us` when it noticed later (after a pause).
    pub to_us: Option<u64>,
    /// Its expiry on its own clock.
    pub until_clock_us: u64,
    /// How it ended: `released`, `expired`, `refused` (renewal refused), `fenced` (a write
    /// rejected), `crashed`.
    pub end: Option<&'static str>,
}

/// What a holder keeps across a crash: only its record of the past, for the page.
#[derive(Clone, Debug, Default, Serialize)]
pub struct HolderDisk {
    pub beliefs: Vec<Belief>,
    pub grants: u64,
    pub renewals: u64,
    pub writes_sent: u64,
    pub writes_rejected: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Holder {
    pub next_req: u64,
    /// The request for the lease on its way: number and send time on its own clock.
    pub requesting: Option<(u64, Time)>,
    pub holding: Option<Holding>,
    pub disk: HolderDisk,
}

impl Holder {
    pub(crate) fn start(mut disk: HolderDisk, p: &LeaseParams, ctx: &mut Ctx<'_, Lease>) -> Holder {
        // A lease held before a crash is gone with the memory that believed in it.
        if let Some(b) = disk.beliefs.last_mut().filter(|b| b.to_us.is_none()) {
            b.to_us = Some(ctx.now().0);
            b.end = Some("crashed");
        }
        let first = jitter(ctx, p.retry_ms);
        ctx.set_timer(first, LeaseTimer::Compete);
        Holder { disk, ..Holder::default() }
    }

    /// Whether it believes it holds the lease when its clock reads `clock`.
    pub fn believes(&self, clock: Time) -> bool {
        self.holding.as_ref().is_some_and(|h| clock < h.expires)
    }

    pub(crate) fn on_timer(&mut self, timer: LeaseTimer, p: &LeaseParams, ctx: &mut Ctx<'_, Lease>) {
        let now = clock(ctx);
        match timer {
            LeaseTimer::Compete => {
                if self.holding.is_some() {
                    return;
                }
                self.next_req += 1;
                self.requesting = Some((self.next_req, now));
                ctx.send(GRANTOR, LeaseMsg::Acquire { req: self.next_req });
                // No answer in time: ask again.
                ctx.set_timer(p.retry_ms * 1000, LeaseTimer::Compete);
            }
            LeaseTimer::Work => self.write(p, ctx),
            LeaseTimer::RenewAt => {
                let Some(h) = self.holding.as_mut() else { return };
                self.next_req += 1;
                h.renew = Some((self.next_req, now));
                ctx.send(GRANTOR, LeaseMsg::Renew { req: self.next_req, token: h.token });
                // Without an answer it tries again (until its own clock ends the lease).
                ctx.set_timer(p.retry_ms * 1000, LeaseTimer::RenewAt);
            }
            LeaseTimer::Expire => {
                let Some((token, expires)) = self.holding.as_ref().map(|h| (h.token, h.expires)) else { return };
                if now >= expires {
                    ctx.note(format!(
                        "{}'s lease {token} has run out by its own clock (it reads {}; the lease ended at {}): it stops believing it holds {}",
                        ctx.id(),
                        secs(now),
                        secs(expires),
                        p.resource
                    ));
                    self.lose("expired", expires, p, ctx);
                } else {
                    // Its clock was set back: the lease lasts longer by it.
                    ctx.set_timer(expires.since(now), LeaseTimer::Expire);
                }
            }
            _ => {}
        }
    }

    pub(crate) fn on_message(&mut self, msg: LeaseMsg, p: &LeaseParams, ctx: &mut Ctx<'_, Lease>) {
        let now = clock(ctx);
        match msg {
            LeaseMsg::Grant { req, token, lease_ms } => {
                let Some((asked, sent)) = self.requesting else { return };
                if asked != req || self.holding.is_some() {
                    return;
                }
                self.requesting = None;
                ctx.cancel_timer(LeaseTimer::Compete);
                let expires = sent.after(lease_ms.saturating_sub(p.margin_ms) * 1000);
                if now >= expires {
                    ctx.note(format!(
                        "{} is granted lease {token} too late to use it: by its clock it has already run out",
                        ctx.id()
                    ));
                    let wait = jitter(ctx, p.retry_ms);
                    ctx.set_timer(wait, LeaseTimer::Compete);
                    return;
                }
                ctx.note(format!(
                    "{} is granted lease {token} on {}: by its own clock it holds it until {} (sent at {} + {lease_ms} ms − {} ms margin)",
                    ctx.id(),
                    p.resource,
                    secs(expires),
                    secs(sent),
                    p.margin_ms
                ));
                self.disk.grants += 1;
                self.disk.beliefs.push(Belief {
                    token,
                    from_us: ctx.now().0,
                    to_us: None,
                    until_clock_us: expires.0,
                    end: None,
                });
                if self.disk.beliefs.len() > KEEP {
                    self.disk.beliefs.remove(0);
                }
                self.holding = Some(Holding { token, expires, since: now, renew: None, working: false, writes: 0 });
                self.arm(sent, lease_ms, p, ctx);
                self.begin_work(p, ctx);
            }
            LeaseMsg::Busy { req } if self.requesting.is_some_and(|(asked, _)| asked == req) => {
                let wait = jitter(ctx, p.retry_ms);
                ctx.set_timer(wait, LeaseTimer::Compete);
            }
            LeaseMsg::RenewOk { req, token, lease_ms } => {
                let Some(h) = self.holding.as_mut() else { return };
                let Some((asked, sent)) = h.renew else { return };
                if h.token != token || asked != req {
                    return;
                }
                h.renew = None;
                let expires = sent.after(lease_ms.saturating_sub(p.margin_ms) * 1000);
                if expires > h.expires {
                    h.expires = expires;
                    if let Some(b) = self.disk.beliefs.last_mut() {
                        b.until_clock_us = expires.0;
                    }
                }
                self.disk.renewals += 1;
                ctx.note(format!(
                    "{} renews lease {token}: by its clock it now holds it until {}",
                    ctx.id(),
                    secs(expires)
                ));
                self.arm(sent, lease_ms, p, ctx);
            }
            LeaseMsg::RenewRefused { token, .. } => {
                let Some(h) = &self.holding else { return };
                if h.token == token {
                    ctx.note(format!("{} is told its lease {token} is no longer its own: it stops", ctx.id()));
                    self.lose("refused", now, p, ctx);
                }
            }
            LeaseMsg::WriteAck { token, accepted: false, highest } => {
                self.disk.writes_rejected += 1;
                let Some(h) = &self.holding else { return };
                if h.token == token {
                    ctx.note(format!(
                        "{} learns from the storage that its token {token} is stale (the storage knows {highest}): it stops",
                        ctx.id()
                    ));
                    self.lose("fenced", now, p, ctx);
                }
            }
            _ => {}
        }
    }

    /// Sets the expiry and renewal timers for a lease counted from `sent` (its clock).
    fn arm(&mut self, sent: Time, lease_ms: u64, p: &LeaseParams, ctx: &mut Ctx<'_, Lease>) {
        let Some(h) = &self.holding else { return };
        let now = clock(ctx);
        ctx.set_timer(h.expires.since(now).max(1), LeaseTimer::Expire);
        let renew = sent.after(((lease_ms as f64) * p.renew_at) as u64 * 1000);
        ctx.set_timer(renew.since(now).max(1), LeaseTimer::RenewAt);
    }

    /// A round of work: check the lease by its own clock, then work `work_ms`.
    fn begin_work(&mut self, p: &LeaseParams, ctx: &mut Ctx<'_, Lease>) {
        let now = clock(ctx);
        let Some(h) = self.holding.as_mut() else { return };
        if now < h.expires {
            h.working = true;
            ctx.set_timer(p.work_ms * 1000, LeaseTimer::Work);
        }
    }

    /// The work is done: write its result, without looking at the clock again (a check here
    /// could be followed by a pause just the same).
    fn write(&mut self, p: &LeaseParams, ctx: &mut Ctx<'_, Lease>) {
        let now = clock(ctx);
        let id = ctx.id();
        let Some(h) = self.holding.as_mut() else { return };
        h.working = false;
        h.writes += 1;
        self.disk.writes_sent += 1;
        let token = h.token;
        let value = format!("{id}/t{token}/{}", h.writes);
        if now >= h.expires {
            ctx.note(format!(
                "{id} finishes its work and writes {value}: it checked its lease before the work, not since (its clock now reads {}, past {})",
                secs(now),
                secs(h.expires)
            ));
        }
        ctx.send(STORAGE, LeaseMsg::Write { token, value });
        if now.since(h.since) >= p.hold_ms * 1000 && now < h.expires {
            ctx.send(GRANTOR, LeaseMsg::Release { token });
            ctx.note(format!("{id} is done with {} and releases lease {token}", p.resource));
            self.lose("released", now, p, ctx);
        } else {
            self.begin_work(p, ctx);
        }
    }

    /// It no longer believes it holds the lease (since `at`, on its clock): drop the work and
    /// the timers, compete again later.
    fn lose(&mut self, end: &'static str, at: Time, p: &LeaseParams, ctx: &mut Ctx<'_, Lease>) {
        self.holding = None;
        let now = clock(ctx);
        if let Some(b) = self.disk.beliefs.last_mut().filter(|b| b.to_us.is_none()) {
            // Noticed late (a pause held the timer): the belief ended when the clock passed `at`.
            let late = now.since(at.min(now));
            b.to_us = Some(ctx.now().0.saturating_sub(late).max(b.from_us));
            b.end = Some(end);
        }
        for t in [LeaseTimer::Work, LeaseTimer::RenewAt, LeaseTimer::Expire] {
            ctx.cancel_timer(t);
        }
        let wait = jitter(ctx, p.retry_ms);
        ctx.set_timer(wait, LeaseTimer::Compete);
    }

    pub(crate) fn inspect(&self) -> serde_json::Value {
        serde_json::json!({
            "requesting": self.requesting.map(|(req, sent)| serde_json::json!({"req": req, "sent_clock_us": sent.0})),
            "holding": self.holding,
            "beliefs": self.disk.beliefs.iter().rev().take(20).collect::<Vec<_>>(),
            "grants": self.disk.grants,
            "renewals": self.disk.renewals,
            "writes_sent": self.disk.writes_sent,
            "writes_rejected": self.disk.writes_rejected,
            "timers": {
                "Compete": "ask the grantor for the lease (again)",
                "Work": "the work is done: write the result to the storage",
                "RenewAt": "time to renew the lease",
                "Expire": "by this node's own clock, its lease has run out",
            },
        })
    }
}
