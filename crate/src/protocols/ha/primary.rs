//! Primary-backup replication: the primary's log, heartbeats that carry it, the backup's
//! failure detector, takeover with or without a lease, and the three replication settings.
//! The view service's side is in `viewservice.rs`.

use super::messages::{AckRecord, Entry, HaMsg, HaTimer, Promotion};
use super::{Guard, Ha, Replication, ViewInfo, clock, ms};
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::Ctx;
use crate::workload::op::{Op, Reply, Request};

impl Ha {
    /// Without a view server, view v's primary is replica (v − 1) mod R.
    pub(crate) fn primary_of(&self, view: u64) -> NodeId {
        let r = self.replica_count() as u64;
        NodeId((view.saturating_sub(1) % r) as u16)
    }

    /// The replica whose acknowledgement a synchronous write waits for, that grants the lease
    /// and that takes over: the view's backup.
    pub(crate) fn designated_backup(&self) -> Option<NodeId> {
        if self.view_server().is_some() {
            return self.d.view.backup;
        }
        (self.replica_count() > 1).then(|| self.primary_of(self.d.view.num + 1))
    }

    fn replicas(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.replica_count()).map(NodeId).filter(move |n| *n != self.id)
    }

    pub(crate) fn start_primary_backup(&mut self, restarted: bool, ctx: &mut Ctx<'_, Self>) {
        if self.view_server() == Some(self.id) {
            if !restarted {
                self.d.view = ViewInfo { num: 1, primary: Some(NodeId(0)), backup: Some(NodeId(1)) };
            }
            ctx.set_timer(self.params.heartbeat_ms * 1000, HaTimer::ViewTick);
            return;
        }
        if !restarted {
            self.d.view = if self.view_server().is_some() {
                ViewInfo { num: 1, primary: Some(NodeId(0)), backup: (self.replica_count() > 1).then_some(NodeId(1)) }
            } else {
                ViewInfo { num: 1, primary: Some(self.primary_of(1)), backup: None }
            };
            if self.view_server().is_none() {
                self.d.view.backup = self.designated_backup();
            }
            if self.d.view.primary == Some(self.id) {
                self.d.stats.promotions.push(Promotion { view: 1, at_us: ctx.now().0, first_ok_us: None });
            }
        } else {
            ctx.note(format!("{} restarts in view {} with {} log entries", self.id, self.d.view.num, self.d.log.len()));
        }
        ctx.set_timer(self.params.heartbeat_ms * 1000, HaTimer::Heartbeat);
        if self.view_server().is_some() {
            self.ping(ctx);
        } else {
            ctx.set_timer(self.params.fd_timeout_ms * 1000, HaTimer::Suspect);
        }
        if self.params.replication == Replication::Async {
            ctx.set_timer(self.params.async_ship_ms * 1000, HaTimer::Ship);
        }
    }

    /// Whether this node may serve now, by its own clock.
    pub(crate) fn may_serve(&self, now_clock: u64) -> bool {
        self.role() == "primary"
            && match self.params.guard {
                Guard::None => true,
                Guard::Lease => now_clock < self.lease_until,
                Guard::ViewService => now_clock < self.confirmed_until,
            }
    }

    pub(crate) fn refresh_serving(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.serving = match self.params.mode {
            super::Mode::PrimaryBackup => self.may_serve(clock(ctx)),
            _ => true,
        };
    }

    pub(crate) fn pb_request(&mut self, client: ClientId, request: Request, ctx: &mut Ctx<'_, Self>) {
        if !self.may_serve(clock(ctx)) {
            // A primary without its lease or confirmation knows no better primary.
            let hint = if self.role() == "primary" { None } else { self.d.view.primary };
            ctx.reply(client, request.seq, Reply::Redirect { leader: hint });
            return;
        }
        match request.op {
            Op::Get { key } => {
                let value = self.d.log.iter().rev().find(|e| e.key == key).map(|e| e.value.clone());
                self.done(client, request.seq, value, ctx);
            }
            Op::Put { key, value } => self.put(client, request.seq, key, value, ctx),
            Op::Txn { .. } => ctx.reply(
                client,
                request.seq,
                Reply::Rejected { reason: "ha serves single-key reads and writes".into() },
            ),
        }
    }

    fn put(&mut self, client: ClientId, seq: u64, key: String, value: String, ctx: &mut Ctx<'_, Self>) {
        if let Some(i) = self.d.log.iter().rposition(|e| e.client == client && e.seq == seq) {
            let lsn = i as u64 + 1;
            if self.pending.contains_key(&lsn) {
                return;
            }
            // Applied before: answer again if it was acknowledged, else wait with it.
            if self.d.stats.acks.iter().any(|a| a.client == client && a.seq == seq) {
                self.done(client, seq, None, ctx);
            } else {
                self.pending.insert(lsn, (client, seq));
            }
            return;
        }
        self.d.log.push(Entry { view: self.d.view.num, client, seq, key, value });
        let lsn = self.d.log.len() as u64;
        let waits_for_backup = self.designated_backup().is_some();
        match self.params.replication {
            Replication::Async => self.acknowledge(client, seq, lsn, "async", ctx),
            Replication::SemiSync if self.degraded => self.acknowledge(client, seq, lsn, "async", ctx),
            _ if !waits_for_backup => self.acknowledge(client, seq, lsn, "sync", ctx),
            r => {
                self.pending.insert(lsn, (client, seq));
                if r == Replication::SemiSync {
                    ctx.set_timer(self.params.semi_sync_timeout_ms * 1000, HaTimer::SemiSync { lsn });
                }
                if let Some(b) = self.designated_backup() {
                    self.send_entries(b, ctx);
                }
            }
        }
    }

    fn done(&mut self, client: ClientId, seq: u64, value: Option<String>, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now().0;
        self.d.stats.ok(client, seq, now);
        let view = self.d.view.num;
        if let Some(p) = self.d.stats.promotions.iter_mut().rev().find(|p| p.view == view) {
            p.first_ok_us.get_or_insert(now);
        }
        ctx.reply(client, seq, Reply::Done { value });
    }

    fn acknowledge(&mut self, client: ClientId, seq: u64, lsn: u64, how: &'static str, ctx: &mut Ctx<'_, Self>) {
        let Some(e) = self.d.log.get(lsn as usize - 1).cloned() else { return };
        self.d.stats.acks.push(AckRecord {
            client,
            seq,
            key: e.key,
            value: e.value,
            view: self.d.view.num,
            at_us: ctx.now().0,
            how,
        });
        self.done(client, seq, None, ctx);
    }

    /// Acknowledges the waiting writes the backup now holds, while this node may still serve.
    fn flush(&mut self, held: u64, ctx: &mut Ctx<'_, Self>) {
        let ready: Vec<u64> = self.pending.range(..=held).map(|(l, _)| *l).collect();
        let serving = self.may_serve(clock(ctx));
        let how = if self.params.replication == Replication::SemiSync { "semi_sync" } else { "sync" };
        for lsn in ready {
            let Some((client, seq)) = self.pending.remove(&lsn) else { continue };
            if serving {
                self.acknowledge(client, seq, lsn, how, ctx);
            } else {
                ctx.reply(client, seq, Reply::Uncertain { leader: None });
            }
        }
    }

    fn send_entries(&mut self, to: NodeId, ctx: &mut Ctx<'_, Self>) {
        let from = self.acked.get(&to).copied().unwrap_or(0) + 1;
        let entries: Vec<Entry> = self.d.log.iter().skip(from as usize - 1).cloned().collect();
        let msg =
            HaMsg::Heartbeat { view: self.d.view.num, from, entries, len: self.d.log.len() as u64, sent: clock(ctx) };
        ctx.send(to, msg);
    }

    pub(crate) fn heartbeat(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(self.params.heartbeat_ms * 1000, HaTimer::Heartbeat);
        if self.role() != "primary" {
            return;
        }
        let targets: Vec<NodeId> = self.replicas().collect();
        for to in targets {
            if self.params.replication == Replication::Async {
                let msg =
                    HaMsg::Heartbeat { view: self.d.view.num, from: 0, entries: Vec::new(), len: 0, sent: clock(ctx) };
                ctx.send(to, msg);
            } else {
                self.send_entries(to, ctx);
            }
        }
    }

    /// Asynchronous replication's batch: every replica gets what it lacks.
    pub(crate) fn ship(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(self.params.async_ship_ms * 1000, HaTimer::Ship);
        if self.role() != "primary" || self.params.replication != Replication::Async {
            return;
        }
        let targets: Vec<NodeId> = self.replicas().collect();
        for to in targets {
            if self.acked.get(&to).copied().unwrap_or(0) < self.d.log.len() as u64 {
                self.send_entries(to, ctx);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_heartbeat(
        &mut self,
        from: NodeId,
        view: u64,
        first: u64,
        entries: Vec<Entry>,
        len: u64,
        sent: u64,
        ctx: &mut Ctx<'_, Self>,
    ) {
        if view < self.d.view.num {
            let v = self.d.view;
            ctx.send(from, HaMsg::NewerView { view: v.num, primary: v.primary, backup: v.backup });
            return;
        }
        if view > self.d.view.num || self.d.view.primary != Some(from) {
            if view == self.d.view.num && self.role() == "primary" {
                return; // Two primaries of one view cannot happen; ignore rather than guess.
            }
            let backup = if self.view_server().is_some() { None } else { Some(self.primary_of(view + 1)) };
            self.adopt(ViewInfo { num: view, primary: Some(from), backup }, ctx);
        }
        if first > 0 {
            self.append(first, entries, len);
        }
        let grant = self.params.guard == Guard::Lease && self.designated_backup() == Some(self.id);
        if grant {
            self.granted_until = clock(ctx) + self.params.lease_ms * 1000;
        }
        let len = self.d.log.len() as u64;
        ctx.send(from, HaMsg::HeartbeatAck { view, len, sent, grant });
        if self.view_server().is_none() {
            ctx.set_timer(self.params.fd_timeout_ms * 1000, HaTimer::Suspect);
            if self.waiting_lease {
                self.waiting_lease = false;
                ctx.cancel_timer(HaTimer::LeaseWait);
            }
        }
    }

    /// Takes the primary's entries from position `first`: what matches stays, the first
    /// mismatch cuts the log there; a log longer than the primary's newest announced length
    /// (a deposed primary's writes) is cut to it. A late copy of an older message cuts nothing.
    fn append(&mut self, first: u64, entries: Vec<Entry>, len: u64) {
        if first == 0 || first > self.d.log.len() as u64 + 1 {
            return;
        }
        for (k, e) in entries.into_iter().enumerate() {
            let pos = first as usize - 1 + k;
            match self.d.log.get(pos) {
                Some(mine) if *mine == e => {}
                Some(_) => {
                    self.d.log.truncate(pos);
                    self.d.log.push(e);
                }
                None => self.d.log.push(e),
            }
        }
        if len >= self.primary_len {
            self.primary_len = len;
            if self.d.log.len() as u64 > len {
                self.d.log.truncate(len as usize);
            }
        }
    }

    pub(crate) fn on_heartbeat_ack(
        &mut self,
        from: NodeId,
        view: u64,
        len: u64,
        sent: u64,
        grant: bool,
        ctx: &mut Ctx<'_, Self>,
    ) {
        if view != self.d.view.num || self.role() != "primary" {
            return;
        }
        let held = len.min(self.d.log.len() as u64);
        let a = self.acked.entry(from).or_insert(0);
        *a = (*a).max(held);
        if grant && Some(from) == self.designated_backup() {
            let until = sent + self.params.lease_ms * 1000;
            if until > self.lease_until && self.lease_until <= clock(ctx) {
                ctx.note(format!("{} holds a lease from {} until {} on its clock", self.id, from, ms(until)));
            }
            self.lease_until = self.lease_until.max(until);
        }
        if Some(from) == self.designated_backup() {
            if self.degraded && held >= self.d.log.len() as u64 {
                self.degraded = false;
                ctx.note(format!("{from} has caught up: {} is semi-synchronous again", self.id));
            }
            self.flush(held, ctx);
        }
    }

    /// A newer view reached this node: follow it (stepping down if it was primary).
    pub(crate) fn adopt(&mut self, v: ViewInfo, ctx: &mut Ctx<'_, Self>) {
        if v.num < self.d.view.num
            || (v.num == self.d.view.num && v.primary == self.d.view.primary && v.backup == self.d.view.backup)
        {
            return;
        }
        let was_primary = self.role() == "primary";
        let old_backup = self.d.view.backup;
        let changed_primary = v.primary != self.d.view.primary;
        self.d.view = v;
        if changed_primary {
            self.primary_len = 0;
        }
        if was_primary && v.primary != Some(self.id) {
            ctx.note(format!("{} learns of view {} (primary {}) and steps down", self.id, v.num, show(v.primary)));
            let waiting = std::mem::take(&mut self.pending);
            for (_, (client, seq)) in waiting {
                ctx.reply(client, seq, Reply::Uncertain { leader: v.primary });
            }
            self.acked.clear();
            self.lease_until = 0;
            self.confirmed_until = 0;
            self.degraded = false;
        } else if !was_primary && v.primary == Some(self.id) {
            self.promoted(ctx);
        } else if was_primary
            && old_backup != v.backup
            && let Some(b) = v.backup
        {
            self.acked.remove(&b);
        }
    }

    fn promoted(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.acked.clear();
        self.pending.clear();
        self.lease_until = 0;
        self.degraded = false;
        let view = self.d.view.num;
        self.d.stats.promotions.push(Promotion { view, at_us: ctx.now().0, first_ok_us: None });
        ctx.note(format!("{} is primary of view {} with {} log entries", self.id, view, self.d.log.len()));
        self.heartbeat(ctx);
    }

    /// The failure detector (no view server): no heartbeat for `fd_timeout_ms` on my clock.
    pub(crate) fn suspect(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.view_server().is_some() || self.role() == "primary" {
            return;
        }
        ctx.set_timer(self.params.fd_timeout_ms * 1000, HaTimer::Suspect);
        if self.designated_backup() != Some(self.id) {
            return; // Passive copies never take over.
        }
        let now = clock(ctx);
        match self.params.guard {
            Guard::Lease if now < self.granted_until => {
                if !self.waiting_lease {
                    self.waiting_lease = true;
                    ctx.note(format!(
                        "{} suspects {}; it waits out the lease it granted, until {} on its clock",
                        self.id,
                        show(self.d.view.primary),
                        ms(self.granted_until)
                    ));
                    ctx.set_timer(self.granted_until - now, HaTimer::LeaseWait);
                }
            }
            _ => self.take_over(ctx),
        }
    }

    pub(crate) fn lease_waited(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.waiting_lease && self.role() != "primary" {
            self.waiting_lease = false;
            self.take_over(ctx);
        }
    }

    fn take_over(&mut self, ctx: &mut Ctx<'_, Self>) {
        let old = self.d.view.primary;
        ctx.note(format!(
            "{} has heard nothing from {} for {} ms on its clock: it takes over as primary of view {}",
            self.id,
            show(old),
            self.params.fd_timeout_ms,
            self.d.view.num + 1
        ));
        let num = self.d.view.num + 1;
        self.d.view = ViewInfo { num, primary: Some(self.id), backup: Some(self.primary_of(num + 1)) };
        self.primary_len = 0;
        self.promoted(ctx);
    }

    pub(crate) fn semi_sync_timeout(&mut self, lsn: u64, ctx: &mut Ctx<'_, Self>) {
        if !self.pending.contains_key(&lsn) || self.params.replication != Replication::SemiSync {
            return;
        }
        self.degraded = true;
        ctx.note(format!(
            "{} waited {} ms for {} to receive entry {lsn}: it falls back to asynchronous replication",
            self.id,
            self.params.semi_sync_timeout_ms,
            show(self.designated_backup())
        ));
        let waiting = std::mem::take(&mut self.pending);
        let serving = self.may_serve(clock(ctx));
        for (l, (client, seq)) in waiting {
            if serving {
                self.acknowledge(client, seq, l, "async", ctx);
            } else {
                ctx.reply(client, seq, Reply::Uncertain { leader: None });
            }
        }
    }
}

pub(crate) fn show(n: Option<NodeId>) -> String {
    n.map_or_else(|| "nobody".into(), |n| n.to_string())
}
