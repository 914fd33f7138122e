//! Carrying out actions: faults on nodes and links, client requests, captions. Each applied
//! action is recorded with its time, which is all a share link needs to replay a run.

use super::action::{Action, Target, TimedAction};
use super::engine::Sim;
use super::ids::{ActorId, ClientId, NodeId};
use super::protocol::Protocol;
use super::queue::{Due, Held};
use super::rng::probability_to_ppm;
use super::time::Time;
use super::trace::TraceEvent;
use crate::workload::history::OpKind;
use crate::workload::op::{Op, Write};

impl<P: Protocol> Sim<P> {
    /// Applies a user's action now, after every event due at the current time (so that replaying
    /// it from a timeline at the same time gives the same trace).
    pub fn apply_now(&mut self, action: Action) -> Result<(), String> {
        action.validate(self.node_count(), self.client_count())?;
        // A change of settings the protocol refuses now is refused before the instant is
        // finished, so that the run is left exactly as it was. (It is checked again below: an
        // action due at this instant may change the parameters first.)
        if let Action::Configure { params } = &action {
            P::reconfigure(&self.params, params, self.node_count())
                .map_err(|reason| format!("cannot configure: {reason}"))?;
        }
        self.run_until(self.now);
        // An action that cannot apply now is refused, not recorded as skipped: a share link
        // replays only what was applied, so nothing else may touch the trace.
        let action = self.resolved(action).map_err(|(a, reason)| format!("cannot {} now: {reason}", a.name()))?;
        // Exactly what `step` does with a timeline action, so that the replay matches.
        self.apply_as_step(action);
        Ok(())
    }

    /// Schedules an action for a later time.
    pub fn schedule(&mut self, at: Time, action: Action) -> Result<(), String> {
        action.validate(self.node_count(), self.client_count())?;
        if at < self.now {
            return Err(format!(
                "the action `{}` at {at} is in the past: the run is already at {}",
                action.name(),
                self.now
            ));
        }
        self.push(at, 1, Due::Action(action));
        Ok(())
    }

    fn resolve(&self, target: Target) -> Option<NodeId> {
        match target {
            Target::Node(n) => Some(n),
            Target::Leader => self.leader(),
        }
    }

    fn all_actors(&self) -> Vec<ActorId> {
        let nodes = (0..self.node_count()).map(|i| ActorId::Node(NodeId(i)));
        let clients = (0..self.client_count()).map(|i| ActorId::Client(ClientId(i)));
        nodes.chain(clients).collect()
    }

    fn skip(&mut self, action: Action, reason: impl Into<String>) {
        self.emit(TraceEvent::Skipped { action, reason: reason.into() });
    }

    pub(crate) fn apply_action(&mut self, action: Action) {
        // Resolve "leader" first so that the recorded action names the node it hit.
        let action = match self.resolved(action) {
            Ok(a) => a,
            Err((a, reason)) => return self.skip(a, reason),
        };
        self.applied.push(TimedAction { at_us: self.now.0, action: action.clone() });
        match &action {
            Action::Partition { groups } => self.net.partition(groups),
            Action::Heal => self.net.heal(),
            Action::Cut { from, to, oneway } => self.net.cut(*from, *to, *oneway),
            Action::Restore { from, to, oneway } => self.net.restore(*from, *to, *oneway),
            Action::Isolate { node: Target::Node(n) } => {
                let everyone = self.all_actors();
                self.net.isolate(ActorId::Node(*n), &everyone);
            }
            Action::Network { latency_ms, drop, duplicate } => {
                let p = &mut self.net.profile;
                if let Some([lo, hi]) = latency_ms {
                    p.latency_min_us = lo * 1000;
                    p.latency_max_us = hi * 1000;
                }
                if let Some(d) = drop {
                    p.drop_ppm = probability_to_ppm(*d);
                }
                if let Some(d) = duplicate {
                    p.duplicate_ppm = probability_to_ppm(*d);
                }
            }
            Action::Note { text, .. } => {
                let text = text.en().to_string();
                self.emit(TraceEvent::Fault { action: action.clone() });
                self.emit(TraceEvent::Note { node: None, text });
                return;
            }
            Action::Drop { message } => {
                let message = *message;
                self.emit(TraceEvent::Fault { action: action.clone() });
                self.take_off_wire(message);
                return;
            }
            Action::Request { .. } => {}
            Action::Configure { params } => {
                self.emit(TraceEvent::Fault { action: action.clone() });
                self.configure(params);
                return;
            }
            Action::Crash { node: Target::Node(n) } => self.crash(*n),
            Action::Restart { node: Target::Node(n) } => {
                let durable = self.nodes[n.index()].durable.take();
                self.emit(TraceEvent::Fault { action: action.clone() });
                self.start_node(*n, durable);
                return;
            }
            Action::Pause { node: Target::Node(n), ms } => {
                self.nodes[n.index()].paused = true;
                self.pause_generation += 1;
                self.nodes[n.index()].pause_id = self.pause_generation;
                if let Some(ms) = ms {
                    let at = self.now.after(ms.saturating_mul(1000));
                    self.push(at, 1, Due::Wake { node: *n, pause: self.pause_generation });
                }
            }
            Action::Clock { node: Target::Node(n), offset_ms, drift } => {
                let setting = super::clock::ClockSetting { offset_ms: *offset_ms, drift: *drift };
                self.emit(TraceEvent::Fault { action: action.clone() });
                self.set_clock(*n, setting);
                return;
            }
            Action::Resume { node: Target::Node(n) } => {
                self.emit(TraceEvent::Fault { action: action.clone() });
                self.resume(*n);
                return;
            }
            Action::Timeout { node: Target::Node(n) } => {
                self.emit(TraceEvent::Fault { action: action.clone() });
                self.with_node(*n, |p, ctx| p.on_timeout_now(ctx));
                return;
            }
            // `resolved` has replaced every `Target::Leader`.
            _ => {}
        }
        self.emit(TraceEvent::Fault { action: action.clone() });
        if let Action::Request { client, op, key, value, keys, node } = action {
            let op = match op {
                OpKind::Get => Op::Get { key },
                OpKind::Put => Op::Put { key, value: value.unwrap_or_else(|| self.workload.fresh_value()) },
                OpKind::Txn => Op::Txn {
                    writes: keys
                        .unwrap_or_default()
                        .into_iter()
                        .map(|key| Write { key, value: self.workload.fresh_value() })
                        .collect(),
                },
            };
            self.client_request(client, op, node);
        }
    }

    /// Replaces `"leader"` by the node that leads, and refuses what cannot be done now.
    fn resolved(&self, action: Action) -> Result<Action, (Action, String)> {
        use Action::*;
        let target = match &action {
            Isolate { node }
            | Crash { node }
            | Restart { node }
            | Pause { node, .. }
            | Resume { node }
            | Clock { node, .. }
            | Timeout { node } => *node,
            Drop { message } if !self.in_flight().iter().any(|m| m.id == *message) => {
                let reason = format!("message {message} is not in flight");
                return Err((action, reason));
            }
            Configure { params } => {
                let checked = P::reconfigure(&self.params, params, self.node_count());
                return match checked {
                    Ok(_) => Ok(action),
                    Err(reason) => Err((action, reason)),
                };
            }
            _ => return Ok(action),
        };
        let Some(n) = self.resolve(target) else {
            return Err((action, "no node leads right now".into()));
        };
        let slot = &self.nodes[n.index()];
        let refuse = match &action {
            Crash { .. } if !slot.is_up() => Some(format!("{n} is already crashed")),
            Restart { .. } if slot.is_up() => Some(format!("{n} is not crashed")),
            Pause { .. } if !slot.is_up() => Some(format!("{n} is crashed")),
            Pause { .. } if slot.paused => Some(format!("{n} is already paused")),
            Resume { .. } if !slot.paused => Some(format!("{n} is not paused")),
            Timeout { .. } if !slot.is_up() || slot.paused => Some(format!("{n} is not running")),
            _ => None,
        };
        if let Some(reason) = refuse {
            return Err((action, reason));
        }
        let node = Target::Node(n);
        Ok(match action {
            Isolate { .. } => Isolate { node },
            Crash { .. } => Crash { node },
            Restart { .. } => Restart { node },
            Pause { ms, .. } => Pause { node, ms },
            Clock { offset_ms, drift, .. } => Clock { node, offset_ms, drift },
            Resume { .. } => Resume { node },
            Timeout { .. } => Timeout { node },
            other => other,
        })
    }

    /// Merges a change of parameters that `resolved` accepted and hands the result to every
    /// node that is not crashed, in id order; crashed nodes take it from `start` on restart.
    fn configure(&mut self, change: &serde_json::Map<String, serde_json::Value>) {
        let Ok(params) = P::reconfigure(&self.params, change, self.node_count()) else { return };
        self.params = params.clone();
        for i in 0..self.node_count() {
            self.with_node(NodeId(i), |p, ctx| p.on_configure(&params, ctx));
        }
    }

    fn crash(&mut self, n: NodeId) {
        let slot = &mut self.nodes[n.index()];
        if let Some(state) = slot.state.take() {
            self.leader_dirty = true;
            self.touched.push(n);
            slot.durable = Some(state.durable());
        }
        slot.timers.clear();
        slot.held.clear();
        slot.paused = false;
    }

    /// The end of a pause with `ms`: the node resumes by itself, unless that pause already
    /// ended (someone resumed it, or it crashed and another pause began since).
    pub(crate) fn wake(&mut self, n: NodeId, pause: u64) {
        let slot = &self.nodes[n.index()];
        if !slot.paused || slot.pause_id != pause {
            return;
        }
        // Not recorded among the applied actions: replaying the pause schedules this again.
        self.emit(TraceEvent::Fault { action: Action::Resume { node: Target::Node(n) } });
        self.resume(n);
    }

    fn resume(&mut self, n: NodeId) {
        let slot = &mut self.nodes[n.index()];
        slot.paused = false;
        let held = std::mem::take(&mut slot.held);
        // What waited is handed over now, in the order it arrived.
        for item in held {
            match item {
                Held::Message(m) => self.push(self.now, 0, Due::Deliver(m)),
                Held::Timer(timer, generation) => self.push(self.now, 0, Due::Timer { node: n, timer, generation }),
            }
        }
    }
}
