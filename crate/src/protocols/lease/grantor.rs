//! The grantor (n1): one lease on one resource. Grants it with a fresh fencing token to one
//! holder at a time, counts `lease_ms` on its own clock (a timer), accepts renewals and
//! releases from the current holder, and after a crash waits a whole lease before granting.

use super::messages::{LeaseMsg, LeaseTimer};
use super::{KEEP, Lease, LeaseParams, STORAGE, clock, secs};
use crate::sim::ids::NodeId;
use crate::sim::protocol::Ctx;
use crate::sim::time::Time;
use serde::Serialize;

/// The lease as the grantor sees it now.
#[derive(Clone, Debug, Serialize)]
pub struct Current {
    pub holder: NodeId,
    pub token: u64,
    /// On the grantor's clock: when it will count the lease as run out (its timer decides).
    pub until: Time,
}

/// A grant waiting for the storage to acknowledge its token (fencing on).
#[derive(Clone, Debug, Serialize)]
pub struct Pending {
    pub holder: NodeId,
    pub token: u64,
    pub req: u64,
}

/// One grant, in true time, for the page's bars and the figures.
#[derive(Clone, Debug, Serialize)]
pub struct Grant {
    pub holder: NodeId,
    pub token: u64,
    pub from_us: u64,
    pub to_us: Option<u64>,
    /// `expired`, `released`, `forgotten` (the grantor crashed).
    pub end: Option<&'static str>,
}

/// What the grantor keeps on disk: the tokens (so that none is ever issued twice) and its
/// record of grants.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GrantorDisk {
    /// The last token issued (to a pending or a granted lease).
    pub issued: u64,
    /// The highest token actually granted.
    pub granted: u64,
    pub grants: Vec<Grant>,
    pub grant_count: u64,
    pub renewals: u64,
    pub releases: u64,
    pub expiries: u64,
    pub refusals: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Grantor {
    pub current: Option<Current>,
    pub pending: Option<Pending>,
    /// After a restart: waiting out a lease it may have granted before.
    pub grace: bool,
    pub disk: GrantorDisk,
}

impl Grantor {
    pub(crate) fn start(disk: Option<GrantorDisk>, p: &LeaseParams, ctx: &mut Ctx<'_, Lease>) -> Grantor {
        let restarted = disk.is_some();
        let mut g = Grantor { disk: disk.unwrap_or_default(), ..Grantor::default() };
        if restarted {
            if let Some(b) = g.disk.grants.last_mut().filter(|b| b.to_us.is_none()) {
                b.to_us = Some(ctx.now().0);
                b.end = Some("forgotten");
            }
            g.grace = true;
            ctx.set_timer(p.lease_ms * 1000, LeaseTimer::Grace);
            ctx.note(format!(
                "{} restarts knowing tokens up to {} but not who holds the lease: it grants nothing for {} ms",
                ctx.id(),
                g.disk.issued,
                p.lease_ms
            ));
        }
        g
    }

    pub(crate) fn on_timer(&mut self, timer: LeaseTimer, p: &LeaseParams, ctx: &mut Ctx<'_, Lease>) {
        match timer {
            LeaseTimer::LeaseExpiry => {
                let Some(c) = self.current.take() else { return };
                self.disk.expiries += 1;
                self.close(c.token, "expired", ctx);
                ctx.note(format!(
                    "{}: lease {} of {} has run out by the grantor's clock ({}); {} is free",
                    ctx.id(),
                    c.token,
                    c.holder,
                    secs(clock(ctx)),
                    p.resource
                ));
            }
            LeaseTimer::Grace => {
                self.grace = false;
                ctx.note(format!("{} has waited out any lease granted before its crash: it grants again", ctx.id()));
            }
            LeaseTimer::FenceRetry => {
                if let Some(pe) = &self.pending {
                    ctx.send(STORAGE, LeaseMsg::Fence { token: pe.token });
                    ctx.set_timer(p.retry_ms * 1000, LeaseTimer::FenceRetry);
                }
            }
            _ => {}
        }
    }

    pub(crate) fn on_message(&mut self, from: NodeId, msg: LeaseMsg, p: &LeaseParams, ctx: &mut Ctx<'_, Lease>) {
        match msg {
            LeaseMsg::Acquire { req } => self.acquire(from, req, p, ctx),
            LeaseMsg::FenceAck { token } if self.pending.as_ref().is_some_and(|pe| pe.token == token) => {
                ctx.cancel_timer(LeaseTimer::FenceRetry);
                if let Some(pe) = self.pending.take() {
                    self.grant(pe.holder, pe.token, pe.req, p, ctx);
                }
            }
            LeaseMsg::Renew { req, token } => {
                let mine = self.current.as_ref().is_some_and(|c| c.holder == from && c.token == token);
                if mine {
                    self.disk.renewals += 1;
                    self.extend(p, ctx);
                    ctx.send(from, LeaseMsg::RenewOk { req, token, lease_ms: p.lease_ms });
                } else {
                    ctx.note(format!(
                        "{} refuses {from}'s renewal of lease {token}: it is not {from}'s any more",
                        ctx.id()
                    ));
                    ctx.send(from, LeaseMsg::RenewRefused { req, token });
                }
            }
            LeaseMsg::Release { token }
                if self.current.as_ref().is_some_and(|c| c.holder == from && c.token == token) =>
            {
                self.current = None;
                ctx.cancel_timer(LeaseTimer::LeaseExpiry);
                self.disk.releases += 1;
                self.close(token, "released", ctx);
            }
            _ => {}
        }
    }

    fn acquire(&mut self, from: NodeId, req: u64, p: &LeaseParams, ctx: &mut Ctx<'_, Lease>) {
        if self.grace {
            self.disk.refusals += 1;
            ctx.send(from, LeaseMsg::Busy { req });
            return;
        }
        if let Some(c) = &self.current {
            if c.holder == from {
                // The holder asks again (it gave up on its lease by its clock, or a reply was
                // lost): the same lease, counted again from now.
                let token = c.token;
                self.disk.renewals += 1;
                self.extend(p, ctx);
                ctx.send(from, LeaseMsg::Grant { req, token, lease_ms: p.lease_ms });
            } else {
                self.disk.refusals += 1;
                ctx.send(from, LeaseMsg::Busy { req });
            }
            return;
        }
        if let Some(pe) = self.pending.as_mut() {
            if pe.holder == from {
                pe.req = req;
            } else {
                self.disk.refusals += 1;
                ctx.send(from, LeaseMsg::Busy { req });
            }
            return;
        }
        self.disk.issued += 1;
        let token = self.disk.issued;
        if p.fencing {
            // The storage learns the token first: once anyone holds it, no lower one writes.
            self.pending = Some(Pending { holder: from, token, req });
            ctx.send(STORAGE, LeaseMsg::Fence { token });
            ctx.set_timer(p.retry_ms * 1000, LeaseTimer::FenceRetry);
        } else {
            self.grant(from, token, req, p, ctx);
        }
    }

    fn grant(&mut self, holder: NodeId, token: u64, req: u64, p: &LeaseParams, ctx: &mut Ctx<'_, Lease>) {
        let until = clock(ctx).after(p.lease_ms * 1000);
        self.current = Some(Current { holder, token, until });
        self.disk.granted = self.disk.granted.max(token);
        self.disk.grant_count += 1;
        self.disk.grants.push(Grant { holder, token, from_us: ctx.now().0, to_us: None, end: None });
        if self.disk.grants.len() > KEEP {
            self.disk.grants.remove(0);
        }
        ctx.set_timer(p.lease_ms * 1000, LeaseTimer::LeaseExpiry);
        ctx.send(holder, LeaseMsg::Grant { req, token, lease_ms: p.lease_ms });
        ctx.note(format!(
            "{} grants lease {token} on {} to {holder}, until {} on the grantor's clock",
            ctx.id(),
            p.resource,
            secs(until)
        ));
    }

    /// Counts the current lease again from now.
    fn extend(&mut self, p: &LeaseParams, ctx: &mut Ctx<'_, Lease>) {
        let until = clock(ctx).after(p.lease_ms * 1000);
        if let Some(c) = self.current.as_mut() {
            c.until = until;
        }
        ctx.set_timer(p.lease_ms * 1000, LeaseTimer::LeaseExpiry);
    }

    fn close(&mut self, token: u64, end: &'static str, ctx: &Ctx<'_, Lease>) {
        if let Some(b) = self.disk.grants.iter_mut().rev().find(|b| b.token == token && b.to_us.is_none()) {
            b.to_us = Some(ctx.now().0);
            b.end = Some(end);
        }
    }

    pub(crate) fn inspect(&self) -> serde_json::Value {
        serde_json::json!({
            "current": self.current,
            "pending_fence": self.pending,
            "grace": self.grace,
            "tokens_issued": self.disk.issued,
            "highest_granted": self.disk.granted,
            "grants": self.disk.grant_count,
            "renewals": self.disk.renewals,
            "releases": self.disk.releases,
            "expiries": self.disk.expiries,
            "refusals": self.disk.refusals,
            "recent_grants": self.disk.grants.iter().rev().take(20).collect::<Vec<_>>(),
            "timers": {
                "LeaseExpiry": "the current lease has run out on the grantor's clock",
                "Grace": "after a restart: a lease granted before the crash has surely run out",
                "FenceRetry": "send the new token to the storage again",
            },
        })
    }
}
