//! What the page and `caplab run` measure of a gossip run, for the newest update created
//! anywhere (the *tracked* rumor): who knows it, who still spreads it, the round each node
//! heard it in, the messages that carried it, and the theory beside it. Everything here is one
//! pass over the nodes (O(n)), cheap enough for every frame at 10,000 nodes.

use super::messages::Version;
use super::{Gossip, GossipParams, Via, theory};
use crate::sim::protocol::NodeRef;
use crate::sim::time::Time;
use serde_json::{Value, json};

/// Shades of the canvas view, one byte per node.
pub const UNINFORMED: u8 = 0;
pub const SPREADING: u8 = 1;
pub const REMOVED: u8 = 2;
/// Informed by anti-entropy alone: it holds the update but never had it hot.
pub const INFORMED_QUIETLY: u8 = 3;
pub const CRASHED: u8 = 255;

/// The longest curve reported: rounds past this are left out.
const CURVE_MAX: u64 = 400;

/// The rumor a run is measured by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracked {
    pub key: String,
    pub value: String,
    pub version: Version,
}

/// The round of a node informed at `at_us` of an update created at `created_us`: how many round
/// instants (multiples of the period) fall after the creation and no later than `at_us`. The
/// creator is informed in round 0; a node that a push of the first round reaches, in round 1.
pub fn round_of(at_us: u64, created_us: u64, period_us: u64) -> u64 {
    let p = period_us.max(1);
    (at_us / p).saturating_sub(created_us / p)
}

fn state<'a>(
    r: &'a NodeRef<'_, Gossip>,
) -> Option<(&'a std::collections::BTreeMap<String, super::Entry>, &'a [super::Update])> {
    match (r.live, r.durable) {
        (Some(n), _) => Some((&n.store, &n.created)),
        (None, Some(d)) => Some((&d.store, &d.created)),
        _ => None,
    }
}

/// The newest update created anywhere (by version, then key), crashed creators included.
pub fn tracked(nodes: &[NodeRef<'_, Gossip>]) -> Option<Tracked> {
    let mut best: Option<&super::Update> = None;
    for r in nodes {
        let Some((_, created)) = state(r) else { continue };
        if let Some(u) = created.last()
            && best.is_none_or(|b| (u.version, &u.key) > (b.version, &b.key))
        {
            best = Some(u);
        }
    }
    best.map(|u| Tracked { key: u.key.clone(), value: u.value.clone(), version: u.version })
}

fn shade(node: &Gossip, t: &Tracked) -> u8 {
    match node.store.get(&t.key) {
        Some(e) if e.version >= t.version => {
            if node.spreading(&t.key, t.version) {
                SPREADING
            } else if e.via == Via::AntiEntropy {
                INFORMED_QUIETLY
            } else {
                REMOVED
            }
        }
        _ => UNINFORMED,
    }
}

/// One byte per node, in node order, relative to the tracked rumor (the engine marks paused
/// nodes afterwards).
pub fn shades(nodes: &[NodeRef<'_, Gossip>], out: &mut Vec<u8>) {
    out.clear();
    let t = tracked(nodes);
    out.extend(nodes.iter().map(|r| match (r.live, &t) {
        (None, _) => CRASHED,
        (Some(_), None) => UNINFORMED,
        (Some(n), Some(t)) => shade(n, t),
    }));
}

/// The run's figures (see the module doc of `gossip` and the page): the tracked rumor, how far
/// it got, round by round, and the theory for this direction and fanout. `messages` counts the
/// messages that carried the tracked rumor's version (pushes, pull answers and anti-entropy
/// exchanges; not feedback or requests), which is Demers' traffic; `messages_per_node` divides
/// by all nodes (Demers' m).
pub fn figures(nodes: &[NodeRef<'_, Gossip>], now: Time, params: &GossipParams) -> Value {
    let n = nodes.len();
    let live = nodes.iter().filter(|r| r.live.is_some()).count();
    let period_us = params.period_ms.max(1) * 1000;
    let th = theory::Theory::new(n as u64, params.direction, params.fanout);
    let theory_json = json!({ "formula": th.formula, "rounds": th.rounds, "curve": th.curve });
    let Some(t) = tracked(nodes) else {
        return json!({
            "rumor": null, "origin": null, "created_ms": null, "period_ms": params.period_ms,
            "live": live, "informed": 0, "spreading": 0, "round": null, "rounds_to_all": null,
            "residue": null, "messages": 0, "messages_per_node": 0.0, "curve": [], "theory": theory_json,
        });
    };
    let created = t.version.at_us;
    let round_now = round_of(now.0, created, period_us);
    let len = round_now.min(CURVE_MAX) as usize + 1;
    let mut per_round = vec![0u64; len];
    let (mut informed, mut spreading, mut messages, mut last_round) = (0u64, 0u64, 0u64, 0u64);
    for r in nodes {
        let Some((store, _)) = state(r) else { continue };
        let Some(e) = store.get(&t.key) else { continue };
        if e.version == t.version {
            messages += e.carried as u64;
        }
        let Some(node) = r.live else { continue };
        if e.version < t.version {
            continue;
        }
        informed += 1;
        if node.spreading(&t.key, t.version) {
            spreading += 1;
        }
        let round = round_of(e.learned_us, created, period_us);
        last_round = last_round.max(round);
        if let Some(slot) = per_round.get_mut(round as usize) {
            *slot += 1;
        }
    }
    let mut curve = Vec::with_capacity(len);
    let mut sum = 0;
    for c in per_round {
        sum += c;
        curve.push(sum);
    }
    let rounds_to_all = (live > 0 && informed == live as u64).then_some(last_round);
    // Anti-entropy alone spreads no rumor, so nothing "stops" and there is no residue to speak of.
    let residue =
        (params.mode.rumors() && spreading == 0 && live > 0).then(|| (live as u64 - informed) as f64 / live as f64);
    json!({
        "rumor": format!("{}={}", t.key, t.value),
        "origin": t.version.node.to_string(),
        "created_ms": created as f64 / 1000.0,
        "period_ms": params.period_ms,
        "live": live,
        "informed": informed,
        "spreading": spreading,
        "round": round_now,
        "rounds_to_all": rounds_to_all,
        "residue": residue,
        "messages": messages,
        "messages_per_node": if n == 0 { 0.0 } else { messages as f64 / n as f64 },
        "curve": curve,
        "theory": theory_json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_count_the_round_instants_after_creation() {
        // Created at 0: a push of the first round (at 200 ms) lands at 210 ms, in round 1.
        assert_eq!(round_of(0, 0, 200_000), 0);
        assert_eq!(round_of(210_000, 0, 200_000), 1);
        assert_eq!(round_of(410_000, 0, 200_000), 2);
        // Created mid-round at 250 ms: the next instant is 400 ms.
        assert_eq!(round_of(260_000, 250_000, 200_000), 0);
        assert_eq!(round_of(410_000, 250_000, 200_000), 1);
    }
}
