//! What the page and the CLI read of a SWIM run: each node's inspector, the colour of every
//! node by what the cluster thinks of it, and the run's measurements (detection times per
//! crash, false suspicions, load). All O(n + entries that are not "alive at incarnation 0").

use super::messages::State;
use super::{Swim, SwimParams, node_refs_counters};
use crate::sim::action::{Action, Target, TimedAction};
use crate::sim::dynamic::Simulation;
use crate::sim::ids::NodeId;
use crate::sim::protocol::NodeRef;
use crate::sim::time::Time;
use serde_json::{Value, json};

/// Shades, one byte per node (`Protocol::shades`).
pub const ALIVE: u8 = 0;
pub const ALIVE_SUSPECTED: u8 = 1;
pub const ALIVE_DECLARED_DEAD: u8 = 2;
pub const CRASHED_UNNOTICED: u8 = 3;
pub const CRASHED_SUSPECTED: u8 = 4;
pub const CRASHED_DEAD_BY_SOME: u8 = 5;
pub const CRASHED_DEAD_BY_ALL: u8 = 6;

/// Clusters up to this size show every member in the inspector's table; larger ones only the
/// members not believed alive at incarnation 0.
const FULL_TABLE_UP_TO: u16 = 256;

pub fn inspect(s: &Swim) -> Value {
    let row = |m: NodeId, st: State, inc: u64, since: u64| json!({ "member": m.to_string(), "state": st.name(), "incarnation": inc, "since_us": since });
    let members: Vec<Value> = if s.nodes <= FULL_TABLE_UP_TO {
        (0..s.nodes)
            .map(|i| {
                let e = s.table.get(NodeId(i));
                row(NodeId(i), e.state, e.incarnation, e.since_us)
            })
            .collect()
    } else {
        s.table.entries().map(|(m, e)| row(m, e.state, e.incarnation, e.since_us)).collect()
    };
    let not_alive: Vec<Value> = s.table.not_alive().map(|(m, e)| row(m, e.state, e.incarnation, e.since_us)).collect();
    let mut queue = s.queue.clone();
    queue.sort_by(|a, b| a.transmits.cmp(&b.transmits).then(b.order.cmp(&a.order)));
    let (alive, suspect, dead) = s.table.counts();
    json!({
        "role": "member",
        "incarnation": s.incarnation(),
        "view": { "alive": alive, "suspect": suspect, "dead": dead },
        "members": members,
        "members_shown": if s.nodes <= FULL_TABLE_UP_TO { "all" } else { "not alive at incarnation 0" },
        "not_alive": not_alive,
        "piggyback": queue,
        "retransmit_limit": s.retransmit_limit,
        "suspicion_timeout_ms": s.suspicion_timeout_us as f64 / 1000.0,
        "probe": s.probe,
        "relays": s.relays,
        "milestones": s.durable.log,
        "counters": s.durable.counters,
        "starts": s.durable.starts,
        "params": s.params,
    })
}

/// What the cluster thinks of each node: counts of running nodes that suspect it or hold it
/// dead, from every running node's entries that are not alive.
pub fn shades(nodes: &[NodeRef<'_, Swim>], out: &mut Vec<u8>) {
    let n = nodes.len();
    let mut suspected = vec![0u32; n];
    let mut dead = vec![0u32; n];
    let mut live = 0u32;
    for r in nodes {
        let Some(p) = r.live else { continue };
        live += 1;
        for (m, e) in p.table.not_alive() {
            let Some(slot) = (match e.state {
                State::Suspect => suspected.get_mut(m.index()),
                _ => dead.get_mut(m.index()),
            }) else {
                continue;
            };
            *slot += 1;
        }
    }
    out.clear();
    out.extend(nodes.iter().enumerate().map(|(i, r)| {
        let (s, d) = (suspected[i], dead[i]);
        match r.live {
            Some(_) if d > 0 => ALIVE_DECLARED_DEAD,
            Some(_) if s > 0 => ALIVE_SUSPECTED,
            Some(_) => ALIVE,
            None if d > 0 && d >= live => CRASHED_DEAD_BY_ALL,
            None if d > 0 => CRASHED_DEAD_BY_SOME,
            None if s > 0 => CRASHED_SUSPECTED,
            None => CRASHED_UNNOTICED,
        }
    }));
}

/// One crash and when the cluster noticed it, in µs since the run began.
struct Detection {
    node: NodeId,
    crashed_us: u64,
    /// The node's next restart, after which its entries describe its next life.
    until_us: u64,
    first_suspect: Option<u64>,
    first_dead: Option<u64>,
    /// Per running node other than the crashed one: the first time it held it dead.
    dead_at: Vec<Option<u64>>,
}

fn detections(nodes: &[NodeRef<'_, Swim>], applied: &[TimedAction]) -> Vec<Detection> {
    let mut found: Vec<Detection> = Vec::new();
    for (i, a) in applied.iter().enumerate() {
        let Action::Crash { node: Target::Node(y) } = &a.action else { continue };
        let until_us = applied[i + 1..]
            .iter()
            .find(|b| matches!(&b.action, Action::Restart { node: Target::Node(r) } if r == y))
            .map_or(u64::MAX, |b| b.at_us);
        found.push(Detection {
            node: *y,
            crashed_us: a.at_us,
            until_us,
            first_suspect: None,
            first_dead: None,
            dead_at: vec![None; nodes.len()],
        });
    }
    if found.is_empty() {
        return found;
    }
    for (x, r) in nodes.iter().enumerate() {
        let log = match (r.live, r.durable) {
            (Some(p), _) => &p.durable.log,
            (None, Some(d)) => &d.log,
            _ => continue,
        };
        for m in log {
            for d in found.iter_mut().filter(|d| d.node == m.member) {
                if m.at_us < d.crashed_us || m.at_us >= d.until_us {
                    continue;
                }
                let min = |v: &mut Option<u64>| *v = Some(v.map_or(m.at_us, |t| t.min(m.at_us)));
                match m.state {
                    State::Suspect => min(&mut d.first_suspect),
                    State::Dead => {
                        min(&mut d.first_dead);
                        if r.live.is_some() {
                            min(&mut d.dead_at[x]);
                        }
                    }
                    State::Alive => {}
                }
            }
        }
    }
    found
}

pub fn figures(nodes: &[NodeRef<'_, Swim>], now: Time, params: &SwimParams, applied: &[TimedAction]) -> Value {
    let n = nodes.len() as u16;
    let (mut alive, mut suspect, mut dead) = (0u64, 0u64, 0u64);
    for p in nodes.iter().filter_map(|r| r.live) {
        let (a, s, d) = p.table.counts();
        alive += u64::from(a);
        suspect += u64::from(s);
        dead += u64::from(d);
    }
    let ms = |from: u64, t: Option<u64>| t.map(|t| t.saturating_sub(from) as f64 / 1000.0);
    let rows: Vec<Value> = detections(nodes, applied)
        .into_iter()
        .map(|d| {
            let others: Vec<Option<u64>> = nodes
                .iter()
                .enumerate()
                .filter(|(x, r)| r.live.is_some() && *x != d.node.index())
                .map(|(x, _)| d.dead_at[x])
                .collect();
            let all_dead = if others.iter().all(Option::is_some) && !others.is_empty() {
                others.iter().flatten().max().copied()
            } else {
                None
            };
            json!({
                "node": d.node.to_string(),
                "crashed_ms": d.crashed_us as f64 / 1000.0,
                "first_suspect_ms": ms(d.crashed_us, d.first_suspect),
                "first_dead_ms": ms(d.crashed_us, d.first_dead),
                "all_dead_ms": ms(d.crashed_us, all_dead),
            })
        })
        .collect();
    let (mut false_suspicions, mut false_dead, mut refutations, mut sent) = (0u64, 0u64, 0u64, 0u64);
    for c in node_refs_counters(nodes) {
        false_suspicions += c.suspected_while_up + c.dead_while_up;
        false_dead += c.dead_while_up;
        refutations += c.refutations;
        sent += c.sent;
    }
    let periods = now.0 as f64 / (params.protocol_period_ms.max(1) * 1000) as f64;
    let per_node_period = if periods > 0.0 && n > 0 { sent as f64 / f64::from(n) / periods } else { 0.0 };
    json!({
        "members": { "alive": alive, "suspect": suspect, "dead": dead },
        "detections": rows,
        "false_suspicions": false_suspicions,
        "false_dead": false_dead,
        "refutations": refutations,
        "messages_per_node_per_period": (per_node_period * 1000.0).round() / 1000.0,
        "suspicion_timeout_ms": params.suspicion_timeout_us(n) as f64 / 1000.0,
        "retransmit_limit": params.retransmit_limit(n),
    })
}

/// Whether a run lost any message between running nodes: a loss rate above 0, a partition,
/// a cut, an isolated node, a pause (a paused node's answers come late) or a dropped message.
pub fn lossy(applied: &[TimedAction]) -> bool {
    applied.iter().any(|a| match &a.action {
        Action::Network { drop: Some(d), .. } => *d > 0.0,
        Action::Partition { .. } | Action::Cut { .. } | Action::Isolate { .. } | Action::Pause { .. } => true,
        Action::Drop { .. } => true,
        _ => false,
    })
}

/// `caplab fuzz`'s extra check: in a run that lost no message, no running node was ever
/// declared dead at its running incarnation (each node counts the times it heard so).
pub fn fuzz_check(sim: &dyn Simulation) -> Result<(), String> {
    if lossy(sim.applied_actions()) {
        return Ok(());
    }
    for i in 0..sim.node_count() {
        let state = sim.inspect(NodeId(i))?;
        let c = &state["state"]["counters"];
        let dead = c["dead_while_up"].as_u64().unwrap_or(0);
        if dead > 0 {
            return Err(format!(
                "{} was declared dead {dead} time(s) while it was up, in a run that lost no message",
                NodeId(i)
            ));
        }
    }
    Ok(())
}
