//! The view service (Lampson's and MIT 6.824's Lab 2): one node keeps the view number, the
//! primary and the backup. It moves the view only when the primary has acknowledged the current
//! one, so a primary whose backup never received its log is never replaced by that backup.

use super::messages::HaMsg;
use super::primary::show;
use super::{Ha, ViewInfo, clock};
use crate::sim::ids::NodeId;
use crate::sim::protocol::Ctx;

impl Ha {
    /// Replica → view server, every heartbeat. A primary acknowledges its view only once its
    /// backup holds its whole log.
    pub(crate) fn ping(&mut self, ctx: &mut Ctx<'_, Self>) {
        let Some(vs) = self.view_server() else { return };
        ctx.set_timer(self.params.heartbeat_ms * 1000, super::HaTimer::Ping);
        let v = self.d.view;
        let caught_up = match v.backup {
            Some(b) => self.acked.get(&b).copied().unwrap_or(0) >= self.d.log.len() as u64,
            None => true,
        };
        let view = if self.role() == "primary" && !caught_up { v.num.saturating_sub(1) } else { v.num };
        ctx.send(vs, HaMsg::Ping { view, sent: clock(ctx) });
    }

    pub(crate) fn on_ping(&mut self, from: NodeId, view: u64, sent: u64, ctx: &mut Ctx<'_, Self>) {
        if self.view_server() != Some(self.id) {
            return;
        }
        self.pings.insert(from, clock(ctx));
        let v = self.d.view;
        if Some(from) == v.primary && view == v.num && !self.d.vs_acked {
            self.d.vs_acked = true;
            ctx.note(format!(
                "{from} acknowledges view {}: the view server may move the view again when needed",
                v.num
            ));
        }
        ctx.send(from, HaMsg::ViewIs { view: v.num, primary: v.primary, backup: v.backup, sent });
    }

    pub(crate) fn on_view_is(&mut self, v: ViewInfo, sent: u64, ctx: &mut Ctx<'_, Self>) {
        self.adopt(v, ctx);
        if v.num == self.d.view.num && v.primary == Some(self.id) {
            let until = sent + self.params.lease_ms * 1000;
            self.confirmed_until = self.confirmed_until.max(until);
        }
    }

    /// The view server's look at who is alive, every heartbeat.
    pub(crate) fn view_tick(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(self.params.heartbeat_ms * 1000, super::HaTimer::ViewTick);
        let now = clock(ctx);
        let fd = self.params.fd_timeout_ms * 1000;
        // After a restart the view server knows no one's pings: it waits a whole timeout
        // before it judges anyone dead (the primary may still be serving).
        if now.saturating_sub(self.started_clock) < fd || !self.d.vs_acked {
            return;
        }
        let alive = |n: NodeId| self.pings.get(&n).is_some_and(|t| now.saturating_sub(*t) < fd);
        let v = self.d.view;
        let idle =
            (0..self.replica_count()).map(NodeId).find(|n| Some(*n) != v.primary && Some(*n) != v.backup && alive(*n));
        let next = match (v.primary, v.backup) {
            (Some(p), Some(b)) if !alive(p) && alive(b) => {
                let idle = idle.filter(|i| *i != b);
                Some(ViewInfo { num: v.num + 1, primary: Some(b), backup: idle })
            }
            (Some(p), b) if alive(p) && b.is_none_or(|b| !alive(b)) && idle != b && (idle.is_some() || b.is_some()) => {
                Some(ViewInfo { num: v.num + 1, primary: Some(p), backup: idle })
            }
            _ => None,
        };
        if let Some(n) = next {
            ctx.note(format!(
                "view server: view {} (primary {}, backup {}) replaces view {} (primary {}, backup {})",
                n.num,
                show(n.primary),
                show(n.backup),
                v.num,
                show(v.primary),
                show(v.backup)
            ));
            self.d.view = n;
            self.d.vs_acked = false;
        }
    }
}
