//! Faults and user actions: the same vocabulary for a scenario's timeline, a click on the page
//! and a share link. An action is data; `Sim::apply` carries it out and records it, so a run can
//! be replayed from its seed and its list of timed actions.

use super::ids::{ActorId, ClientId, NodeId};
use crate::workload::history::OpKind;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Text shown to a person: plain, or in English and Simplified Chinese.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Text {
    Plain(String),
    Translated {
        en: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zh: Option<String>,
    },
}

impl Text {
    pub fn en(&self) -> &str {
        match self {
            Text::Plain(s) => s,
            Text::Translated { en, .. } => en,
        }
    }
}

/// A node named in an action: `"n3"`, or `"leader"` for whichever node leads when the action
/// runs (so a scenario still makes sense under another seed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Node(NodeId),
    Leader,
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Target::Node(n) => n.serialize(s),
            Target::Leader => s.serialize_str("leader"),
        }
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "leader" {
            return Ok(Target::Leader);
        }
        match super::ids::parse_actor(&s) {
            Ok(ActorId::Node(n)) => Ok(Target::Node(n)),
            _ => Err(serde::de::Error::custom(format!("`{s}` is not a node: use n1, n2, ... or \"leader\""))),
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Heal, then cut every link between actors of different groups. Actors in no group keep
    /// all their links.
    Partition {
        groups: Vec<Vec<ActorId>>,
    },
    /// Restore every link.
    Heal,
    /// Cut the link between two actors, both ways unless `oneway` (then only `from → to`).
    Cut {
        from: ActorId,
        to: ActorId,
        #[serde(default, skip_serializing_if = "is_false")]
        oneway: bool,
    },
    Restore {
        from: ActorId,
        to: ActorId,
        #[serde(default, skip_serializing_if = "is_false")]
        oneway: bool,
    },
    /// Cut every link of one node, both ways.
    Isolate {
        node: Target,
    },
    /// Stop a node: volatile state lost, durable state kept.
    Crash {
        node: Target,
    },
    Restart {
        node: Target,
    },
    /// Freeze a node: its timers and incoming messages wait until `resume`. With `ms`, a stop
    /// like a long garbage collection: the node resumes by itself after that much true time.
    /// Its clock keeps running through the pause.
    Pause {
        node: Target,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ms: Option<u64>,
    },
    Resume {
        node: Target,
    },
    /// Make a node act as if its main timer expired (Raft: start an election now).
    Timeout {
        node: Target,
    },
    /// One client operation. `node` picks the node to ask first; by default the client asks
    /// the node it believes leads.
    /// A transaction (`"op": "txn"`) names its `keys` instead of one `key`; each is written a
    /// fresh value.
    Request {
        client: ClientId,
        op: OpKind,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        keys: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<NodeId>,
    },
    /// Step a node's clock to read true time plus `offset_ms` from now on, and/or make it run
    /// at `1 + drift` times true speed (0.2: 20 % fast). Its pending timers, set on its own
    /// clock, move with a change of rate.
    Clock {
        node: Target,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offset_ms: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        drift: Option<f64>,
    },
    /// Change the network's latency range (milliseconds) and loss rates (0 to 1).
    Network {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        latency_ms: Option<[u64; 2]>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        drop: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duplicate: Option<f64>,
    },
    /// Take one message off the wire (the page's "drop this message"). Message ids are
    /// deterministic, so a share link or a scenario file can name the same message again.
    Drop {
        message: u64,
    },
    /// Change some of the running protocol's parameters: `params` is a partial `params` object,
    /// merged into the current one and applied to every node at this instant (crashed nodes
    /// get it when they restart). The protocol checks it and may refuse it (`Protocol::reconfigure`).
    Configure {
        params: serde_json::Map<String, serde_json::Value>,
    },
    /// A caption for the page at this moment. In a guided tour, `pause` stops the playback here
    /// until the student continues.
    Note {
        text: Text,
        #[serde(default, skip_serializing_if = "is_false")]
        pause: bool,
    },
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Partition { .. } => "partition",
            Action::Heal => "heal",
            Action::Cut { .. } => "cut",
            Action::Restore { .. } => "restore",
            Action::Isolate { .. } => "isolate",
            Action::Crash { .. } => "crash",
            Action::Restart { .. } => "restart",
            Action::Pause { .. } => "pause",
            Action::Resume { .. } => "resume",
            Action::Clock { .. } => "clock",
            Action::Timeout { .. } => "timeout",
            Action::Request { .. } => "request",
            Action::Network { .. } => "network",
            Action::Drop { .. } => "drop",
            Action::Configure { .. } => "configure",
            Action::Note { .. } => "note",
        }
    }

    /// Checks every name against the cluster's size and every value against its range.
    pub fn validate(&self, nodes: u16, clients: u16) -> Result<(), String> {
        let actor = |a: &ActorId| match a {
            ActorId::Node(n) if n.0 >= nodes => Err(format!("node {n} does not exist (nodes are n1..n{nodes})")),
            ActorId::Client(c) if c.0 >= clients => Err(missing_client(*c, clients)),
            _ => Ok(()),
        };
        let target = |t: &Target| match t {
            Target::Node(n) => actor(&ActorId::Node(*n)),
            Target::Leader => Ok(()),
        };
        let probability = |name: &str, p: &Option<f64>| match p {
            Some(p) if !(0.0..=1.0).contains(p) => Err(format!("{name} must be between 0 and 1, not {p}")),
            _ => Ok(()),
        };
        match self {
            Action::Partition { groups } => {
                let mut seen = Vec::new();
                for a in groups.iter().flatten() {
                    actor(a)?;
                    if seen.contains(a) {
                        return Err(format!("{a} is in more than one group"));
                    }
                    seen.push(*a);
                }
                if groups.len() < 2 {
                    return Err("a partition needs at least two groups".into());
                }
                Ok(())
            }
            Action::Cut { from, to, .. } | Action::Restore { from, to, .. } => {
                actor(from)?;
                actor(to)?;
                if from == to {
                    return Err(format!("a link joins two different actors, not {from} to itself"));
                }
                Ok(())
            }
            Action::Isolate { node }
            | Action::Crash { node }
            | Action::Restart { node }
            | Action::Resume { node }
            | Action::Timeout { node } => target(node),
            Action::Pause { node, ms } => {
                if let Some(ms) = ms
                    && (*ms == 0 || *ms > crate::sim::protocol::MAX_TIMING_MS)
                {
                    return Err(format!(
                        "a pause lasts from 1 to {} ms, not {ms}",
                        crate::sim::protocol::MAX_TIMING_MS
                    ));
                }
                target(node)
            }
            Action::Clock { node, offset_ms, drift } => {
                if offset_ms.is_none() && drift.is_none() {
                    return Err("clock needs `offset_ms`, `drift` or both".into());
                }
                super::clock::ClockSetting { offset_ms: *offset_ms, drift: *drift }.validate()?;
                target(node)
            }
            Action::Request { client, op, key, value, keys, node } => {
                actor(&ActorId::Client(*client))?;
                if let Some(n) = node {
                    actor(&ActorId::Node(*n))?;
                }
                if *op == OpKind::Txn {
                    let Some(keys) = keys.as_ref().filter(|k| !k.is_empty()) else {
                        return Err("a txn request needs `keys`, a list of the keys it writes".into());
                    };
                    if !key.is_empty() || value.is_some() {
                        return Err("a txn request names its `keys`, not one `key` or `value`".into());
                    }
                    if keys.len() > 16 {
                        return Err(format!("a txn writes at most 16 keys, not {}", keys.len()));
                    }
                    for (i, k) in keys.iter().enumerate() {
                        if k.is_empty() || k.contains('+') {
                            return Err(format!("txn key `{k}` must be non-empty and without `+`"));
                        }
                        if keys[..i].contains(k) {
                            return Err(format!("txn key `{k}` is named twice"));
                        }
                    }
                    return Ok(());
                }
                if keys.is_some() {
                    return Err(format!("only a txn request takes `keys`; a {} names one `key`", op_name(*op)));
                }
                if key.is_empty() {
                    return Err("a request needs a non-empty key".into());
                }
                match (op, value) {
                    (OpKind::Get, Some(_)) => Err("a get takes no value".into()),
                    _ => Ok(()),
                }
            }
            Action::Network { latency_ms, drop, duplicate } => {
                if let Some([lo, hi]) = latency_ms {
                    if lo > hi {
                        return Err(format!("latency_ms [{lo}, {hi}]: the minimum is above the maximum"));
                    }
                    if *hi > 60_000 {
                        return Err(format!("latency_ms maximum {hi} is over a minute"));
                    }
                }
                probability("drop", drop)?;
                probability("duplicate", duplicate)
            }
            // The protocol checks the values themselves when the action runs, against the
            // parameters of that moment.
            Action::Configure { params } if params.is_empty() => {
                Err("configure needs at least one parameter to change, e.g. {\"w\": 3}".into())
            }
            Action::Configure { .. } | Action::Heal | Action::Note { .. } | Action::Drop { .. } => Ok(()),
        }
    }
}

fn missing_client(c: ClientId, clients: u16) -> String {
    if clients == 0 {
        format!("client {c} does not exist (this scenario has no clients)")
    } else {
        format!("client {c} does not exist (clients are c1..c{clients})")
    }
}

/// An action and the virtual time it happens at.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimedAction {
    pub at_us: u64,
    #[serde(flatten)]
    pub action: Action,
}

fn op_name(op: OpKind) -> &'static str {
    match op {
        OpKind::Put => "put",
        OpKind::Get => "get",
        OpKind::Txn => "txn",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let a: Action = serde_json::from_str(r#"{"action":"cut","from":"n1","to":"c2","oneway":true}"#).unwrap();
        assert_eq!(a.validate(3, 2), Ok(()));
        assert!(a.validate(3, 1).unwrap_err().contains("c2 does not exist"));
        let e = serde_json::from_str::<Action>(r#"{"action":"crash","node":"n1","when":3}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `when`"), "{e}");
        let e = serde_json::from_str::<Action>(r#"{"action":"explode"}"#).unwrap_err();
        assert!(e.to_string().contains("unknown variant `explode`"), "{e}");
        let l: Action = serde_json::from_str(r#"{"action":"crash","node":"leader"}"#).unwrap();
        assert_eq!(l, Action::Crash { node: Target::Leader });
        let p: Action = serde_json::from_str(r#"{"action":"partition","groups":[["n1"],["n1","n2"]]}"#).unwrap();
        assert!(p.validate(3, 0).unwrap_err().contains("more than one group"));
        let c: Action = serde_json::from_str(r#"{"action":"configure","params":{"w":3,"mode":"strict"}}"#).unwrap();
        assert_eq!(c.validate(3, 0), Ok(()));
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"action":"configure","params":{"mode":"strict","w":3}}"#);
        let e = serde_json::from_str::<Action>(r#"{"action":"configure","params":3}"#).unwrap_err();
        assert!(e.to_string().contains("expected a map"), "{e}");
        let p: Action = serde_json::from_str(r#"{"action":"pause","node":"n2","ms":3000}"#).unwrap();
        assert_eq!(p.validate(3, 0), Ok(()));
        assert_eq!(serde_json::to_string(&p).unwrap(), r#"{"action":"pause","node":"n2","ms":3000}"#);
        let p: Action = serde_json::from_str(r#"{"action":"pause","node":"n2","ms":0}"#).unwrap();
        assert!(p.validate(3, 0).unwrap_err().contains("from 1"));
        let c: Action = serde_json::from_str(r#"{"action":"clock","node":"n2","drift":-2}"#).unwrap();
        assert!(c.validate(3, 0).unwrap_err().contains("drift must be"));
        let c: Action = serde_json::from_str(r#"{"action":"clock","node":"n4","drift":0.2}"#).unwrap();
        assert!(c.validate(3, 0).unwrap_err().contains("n4 does not exist"));
        let c: Action = serde_json::from_str(r#"{"action":"clock","node":"n1"}"#).unwrap();
        assert!(c.validate(3, 0).unwrap_err().contains("needs"));
        let empty: Action = serde_json::from_str(r#"{"action":"configure","params":{}}"#).unwrap();
        assert!(empty.validate(3, 0).unwrap_err().contains("at least one parameter"));
    }
}
