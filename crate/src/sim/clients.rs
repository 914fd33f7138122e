//! The clients' side of the engine: starting operations, retrying them on the next node after
//! a timeout or a redirect, and recording how each one ended. Every protocol that serves reads
//! and writes gets the same clients, so their histories are comparable.

use super::engine::{ClientTimer, Sim};
use super::ids::{ActorId, ClientId, NodeId};
use super::protocol::Protocol;
use super::queue::Due;
use super::trace::{Payload, TraceEvent};
use crate::workload::client::{ClientState, PendingOp};
use crate::workload::history::{OpKind, Outcome};
use crate::workload::op::{Op, Reply, Request, Response};

impl<P: Protocol> Sim<P> {
    pub(crate) fn init_clients(&mut self, count: u16) {
        let nodes = self.node_count();
        let generating = self.workload.generates;
        for i in 0..count {
            let id = ClientId(i);
            let generates = generating && self.workload_clients().is_none_or(|list| list.contains(&id));
            self.clients.push(ClientState::new(id, nodes, generates));
            if generates {
                // Stagger the clients so they do not all fire on the same microsecond.
                let offset = self.rng.below(self.workload.interval_us.max(1));
                let at = super::time::Time(self.workload.start_us.saturating_add(offset));
                self.push(at, 0, Due::Client { client: id, token: 0, timer: ClientTimer::Next });
            }
        }
    }

    fn workload_clients(&self) -> Option<&[ClientId]> {
        self.workload.clients.as_deref()
    }

    /// A timeline or user request: starts now, or when the client's current operation ends.
    pub(crate) fn client_request(&mut self, c: ClientId, op: Op, node: Option<NodeId>) {
        if self.clients[c.index()].current.is_some() {
            self.clients[c.index()].queued.push_back((op, node));
        } else {
            self.invoke(c, op, node);
        }
    }

    fn invoke(&mut self, c: ClientId, op: Op, node: Option<NodeId>) {
        let now = self.now;
        let history = match &op {
            Op::Put { key, value } => self.history.invoke(c, OpKind::Put, key, Some(value.clone()), now.0),
            Op::Get { key } => self.history.invoke(c, OpKind::Get, key, None, now.0),
            Op::Txn { writes } => self.history.invoke_txn(c, writes, now.0),
        };
        let client = &mut self.clients[c.index()];
        let seq = client.next_seq;
        client.next_seq += 1;
        let target = node.unwrap_or(client.guess);
        client.last_invoke = Some(now);
        client.current = Some(PendingOp {
            seq,
            op: op.clone(),
            node: target,
            invoked: now,
            attempts: 0,
            redirects: 0,
            maybe_applied: false,
            history,
        });
        self.emit(TraceEvent::OpInvoked { client: c, seq, node: target, op });
        self.attempt(c);
    }

    /// Sends the current operation to the client's chosen node and arms its timeout. Following a
    /// leader's hint is not a retry: it does not count against the retry budget.
    fn attempt(&mut self, c: ClientId) {
        self.send_attempt(c, true);
    }

    fn send_attempt(&mut self, c: ClientId, counts: bool) {
        let timeout = self.workload.timeout_us;
        let client = &mut self.clients[c.index()];
        let Some(pending) = client.current.as_mut() else { return };
        if counts {
            pending.attempts += 1;
        } else {
            pending.redirects += 1;
        }
        let (seq, node, op, retry) =
            (pending.seq, pending.node, pending.op.clone(), pending.attempts + pending.redirects > 1);
        client.token += 1;
        let token = client.token;
        if retry {
            self.emit(TraceEvent::OpRetried { client: c, seq, node });
        }
        self.push(self.now.after(timeout), 0, Due::Client { client: c, token, timer: ClientTimer::Timeout });
        let deadline_us = self.now.after(timeout).0;
        self.send(
            ActorId::Client(c),
            ActorId::Node(node),
            "Request",
            Payload::Request(Request { seq, op, deadline_us }),
        );
    }

    pub(crate) fn client_timer(&mut self, c: ClientId, timer: ClientTimer) {
        match timer {
            ClientTimer::Timeout => {
                let node_count = self.node_count();
                if let Some(p) = self.clients[c.index()].current.as_mut() {
                    // A timed-out write may still be applied later.
                    p.maybe_applied = true;
                    p.node = NodeId((p.node.0 + 1) % node_count);
                }
                self.retry_or_finish(c);
            }
            ClientTimer::Retry => self.attempt(c),
            ClientTimer::Next => self.next_generated(c),
        }
    }

    fn next_generated(&mut self, c: ClientId) {
        if self.clients[c.index()].current.is_some() || self.now.0 >= self.workload.stop_us {
            return;
        }
        let op = self.workload.next_op(&mut self.rng);
        self.invoke(c, op, None);
    }

    pub(crate) fn client_response(&mut self, c: ClientId, from: ActorId, response: Response) {
        let node_count = self.node_count();
        let client = &mut self.clients[c.index()];
        let Some(pending) = client.current.as_mut() else { return };
        // A late answer to an earlier operation changes nothing. A late success from an earlier
        // attempt still counts (the operation was applied), and a late "uncertain" still means
        // it may be applied; any other late answer is ignored.
        if pending.seq != response.seq {
            return;
        }
        let current_attempt = ActorId::Node(pending.node) == from;
        match response.reply {
            Reply::Done { .. } => {}
            Reply::Uncertain { .. } if !current_attempt => {
                pending.maybe_applied = true;
                return;
            }
            _ if !current_attempt => return,
            _ => {}
        }
        let next_node = NodeId((pending.node.0 + 1) % node_count);
        let uncertain = matches!(response.reply, Reply::Uncertain { .. });
        match response.reply {
            Reply::Done { value } => {
                if let ActorId::Node(n) = from {
                    client.guess = n;
                }
                self.finish(c, Outcome::Ok, value);
            }
            Reply::Rejected { .. } => self.give_up(c),
            Reply::Redirect { leader } | Reply::Uncertain { leader } => {
                pending.maybe_applied |= uncertain;
                match leader {
                    // Follow the hint at once, unless it points back at the node that sent it or
                    // the client has been sent around the whole cluster already.
                    Some(l) if l != pending.node && pending.redirects < node_count as u32 => {
                        pending.node = l;
                        client.guess = l;
                        self.send_attempt(c, false);
                    }
                    _ => {
                        pending.node = next_node;
                        self.backoff_or_finish(c);
                    }
                }
            }
        }
    }

    fn has_retries_left(&self, c: ClientId) -> bool {
        self.clients[c.index()].current.as_ref().is_some_and(|p| p.attempts <= self.workload.retries)
    }

    fn retry_or_finish(&mut self, c: ClientId) {
        if self.has_retries_left(c) {
            self.attempt(c);
        } else {
            self.give_up(c);
        }
    }

    fn backoff_or_finish(&mut self, c: ClientId) {
        if self.has_retries_left(c) {
            let client = &mut self.clients[c.index()];
            client.token += 1;
            let token = client.token;
            self.push(
                self.now.after(self.workload.backoff_us),
                0,
                Due::Client { client: c, token, timer: ClientTimer::Retry },
            );
        } else {
            self.give_up(c);
        }
    }

    /// Ends the operation unanswered. It is `fail` only if it certainly was not applied: no
    /// attempt timed out or was left uncertain, and no copy of its request is still on its way
    /// to a node (the network may have duplicated one, and a copy that arrives after the node
    /// became leader would be applied).
    fn give_up(&mut self, c: ClientId) {
        let Some((seq, maybe)) = self.clients[c.index()].current.as_ref().map(|p| (p.seq, p.maybe_applied)) else {
            return;
        };
        let outcome = if maybe || self.request_on_its_way(c, seq) { Outcome::Unknown } else { Outcome::Fail };
        self.finish(c, outcome, None);
    }

    fn finish(&mut self, c: ClientId, outcome: Outcome, value: Option<String>) {
        let now = self.now;
        let client = &mut self.clients[c.index()];
        let Some(done) = client.current.take() else { return };
        client.token += 1;
        let token = client.token;
        self.history.finish(done.history, outcome, value.clone(), now.0);
        let shown = if done.op.name() == "get" { value } else { None };
        self.emit(TraceEvent::OpReturned { client: c, seq: done.seq, outcome, value: shown });
        let client = &mut self.clients[c.index()];
        if let Some((op, node)) = client.queued.pop_front() {
            self.invoke(c, op, node);
        } else if client.generates {
            let at = done.invoked.after(self.workload.interval_us).max(now);
            self.push(at, 0, Due::Client { client: c, token, timer: ClientTimer::Next });
        }
    }
}
