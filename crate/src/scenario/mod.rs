//! Scenario files: the JSON schema (versioned, `deny_unknown_fields`), loading with errors that
//! name the field and the problem, and validation against the cluster's size. A scenario is the
//! single description of a run: the page, the CLI and share links all start from one.

pub mod expect;
pub mod library;
pub mod run;

use crate::sim::action::{Action, Target, Text, TimedAction};
use crate::sim::network::LinkProfile;
use crate::sim::rng::probability_to_ppm;
use crate::workload::WorkloadSpec;
pub use expect::Expectation;
use serde::{Deserialize, Deserializer, Serialize};

/// The scenario format this build reads.
pub const FORMAT: u32 = 1;

/// The longest run a scenario may ask for: one virtual hour.
pub const MAX_DURATION_MS: u64 = 3_600_000;
pub const MAX_NODES: u16 = 10_000;
pub const MAX_CLIENTS: u16 = 64;
/// The largest seed a scenario may carry: the largest whole number a web page holds exactly
/// (2^53 - 1), so that the page, its share links and the CLI all mean the same seed.
pub const MAX_SEED: u64 = (1 << 53) - 1;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScenarioError {
    #[error("{0}")]
    Syntax(String),
    #[error("{field}: {problem}")]
    Invalid { field: String, problem: String },
    #[error("no scenario is named `{0}` (run `caplab list` to see them)")]
    UnknownName(String),
    #[error("unknown protocol `{0}`; known protocols: {1}")]
    UnknownProtocol(String, String),
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid { field: field.into(), problem: problem.into() }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// One-way latency of each message, drawn uniformly from this range.
    #[serde(default = "default_latency")]
    pub latency_ms: [f64; 2],
    /// Probability that a message is lost.
    #[serde(default)]
    pub drop: f64,
    /// Probability that a message is delivered twice.
    #[serde(default)]
    pub duplicate: f64,
}

fn default_latency() -> [f64; 2] {
    [5.0, 15.0]
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec { latency_ms: default_latency(), drop: 0.0, duplicate: 0.0 }
    }
}

impl NetworkSpec {
    pub fn profile(&self) -> LinkProfile {
        let us = |ms: f64| (ms * 1000.0).round() as u64;
        LinkProfile {
            latency_min_us: us(self.latency_ms[0]),
            latency_max_us: us(self.latency_ms[1]),
            drop_ppm: probability_to_ppm(self.drop),
            duplicate_ppm: probability_to_ppm(self.duplicate),
        }
    }

    fn validate(&self) -> Result<(), ScenarioError> {
        let [lo, hi] = self.latency_ms;
        if !(lo.is_finite() && hi.is_finite() && lo >= 0.0 && lo <= hi && hi <= 60_000.0) {
            return Err(invalid(
                "network.latency_ms",
                format!("[{lo}, {hi}] must be a range with 0 <= min <= max <= 60000"),
            ));
        }
        for (name, p) in [("network.drop", self.drop), ("network.duplicate", self.duplicate)] {
            if !(0.0..=1.0).contains(&p) {
                return Err(invalid(name, format!("must be a probability between 0 and 1, not {p}")));
            }
        }
        Ok(())
    }
}

/// One entry of the timeline: `{"at_ms": 1500, "action": "crash", "node": "n1"}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimelineEntry {
    pub at_ms: f64,
    #[serde(flatten)]
    pub action: Action,
}

impl<'de> Deserialize<'de> for TimelineEntry {
    // serde cannot combine `flatten` with `deny_unknown_fields`, so the time is taken off the
    // object by hand and the rest must be exactly one action.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        let at = map.remove("at_ms").ok_or_else(|| D::Error::missing_field("at_ms"))?;
        let at_ms =
            at.as_f64().ok_or_else(|| D::Error::custom(format!("at_ms must be a number of milliseconds, not {at}")))?;
        let action = serde_json::from_value::<Action>(serde_json::Value::Object(map)).map_err(D::Error::custom)?;
        Ok(TimelineEntry { at_ms, action })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub format: u32,
    pub name: String,
    pub title: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Text>,
    /// Groups scenarios in the picker ("consensus", "cap", ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Opens in the page as a guided tour: the notes are its steps (a note with `pause` stops
    /// the playback until the student continues).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tour: bool,
    /// Its place in its topic's list in the library and the picker: lower first, then by name
    /// (a teaching order, which the alphabet is not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<u32>,
    pub protocol: String,
    pub nodes: u16,
    #[serde(default)]
    pub clients: u16,
    pub seed: u64,
    pub duration_ms: u64,
    #[serde(default)]
    pub params: serde_json::Value,
    #[serde(default)]
    pub network: NetworkSpec,
    #[serde(default)]
    pub workload: WorkloadSpec,
    /// Nodes whose clocks are not true from the start: `{"n2": {"offset_ms": -200, "drift": 0.3}}`
    /// (drift 0.3: runs 30 % fast). They become `clock` actions at time 0, before the timeline.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub clocks: std::collections::BTreeMap<String, crate::sim::clock::ClockSetting>,
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    #[serde(default)]
    pub expect: Vec<Expectation>,
    /// Two or three systems side by side under the same nodes, clients, seed, workload and
    /// timeline (the CAP lab: a CP store on the left, an AP store on the right; or Raft,
    /// Multi-Paxos and ZAB). Each side replaces the
    /// scenario's `protocol` and `params` and adds its own expectations; the top-level protocol
    /// is what a single view of the scenario shows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compare: Vec<Side>,
}

/// The most systems one comparison runs side by side (the consensus comparison runs Raft,
/// Multi-Paxos and ZAB).
pub const MAX_SIDES: usize = 3;

/// One side of a comparison: `{"name": "ap", "protocol": "nwr", "params": {...}, "expect": [...]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Side {
    /// A short name for the command line and the page (`cp`, `ap`).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Text>,
    pub protocol: String,
    #[serde(default)]
    pub params: serde_json::Value,
    /// Judged on this side only, after the scenario's own expectations.
    #[serde(default)]
    pub expect: Vec<Expectation>,
}

impl Scenario {
    /// Parses and validates a scenario file. Errors name the field (`timeline[2].node: ...`).
    pub fn from_json(text: &str) -> Result<Scenario, ScenarioError> {
        // Syntax first, with its line and column; then the shape, with the path of the field.
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ScenarioError::Syntax(format!("not valid JSON: {e}")))?;
        if !value.is_object() {
            let kind = match value {
                serde_json::Value::Array(_) => "an array",
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Number(_) => "a number",
                _ => "a bare value",
            };
            return Err(ScenarioError::Syntax(format!("a scenario is a JSON object {{...}}, not {kind}")));
        }
        let scenario: Scenario = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." || path.is_empty() {
                ScenarioError::Syntax(format!("{inner}"))
            } else {
                ScenarioError::Syntax(format!("{path}: {inner}"))
            }
        })?;
        scenario.validate()?;
        Ok(scenario)
    }

    pub fn validate(&self) -> Result<(), ScenarioError> {
        if self.format != FORMAT {
            return Err(invalid("format", format!("this build reads format {FORMAT}, not {}", self.format)));
        }
        if self.name.is_empty() || !self.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid("name", "must be non-empty lowercase letters, digits and dashes"));
        }
        // Most protocols are drawn node by node and stop at 64; gossip and SWIM go to 10,000.
        let max = crate::protocols::info(&self.protocol).map_or(MAX_NODES, |p| p.max_nodes.min(MAX_NODES));
        if self.nodes == 0 || self.nodes > max {
            return Err(invalid(
                "nodes",
                format!("must be between 1 and {max} for {}, not {}", self.protocol, self.nodes),
            ));
        }
        if self.seed > MAX_SEED {
            return Err(invalid("seed", format!("must be at most {MAX_SEED} (2^53 - 1), not {}", self.seed)));
        }
        if self.clients > MAX_CLIENTS {
            return Err(invalid("clients", format!("must be at most {MAX_CLIENTS}, not {}", self.clients)));
        }
        if self.duration_ms == 0 || self.duration_ms > MAX_DURATION_MS {
            return Err(invalid(
                "duration_ms",
                format!("must be between 1 and {MAX_DURATION_MS}, not {}", self.duration_ms),
            ));
        }
        self.network.validate()?;
        self.workload.validate(self.clients).map_err(|p| invalid("workload", p))?;
        for (field, t) in
            [("workload.start_ms", Some(self.workload.start_ms)), ("workload.stop_ms", self.workload.stop_ms)]
        {
            if let Some(t) = t
                && t > self.duration_ms
            {
                return Err(invalid(field, format!("{t} is after the end of the run ({} ms)", self.duration_ms)));
            }
        }
        for name in self.clocks.keys() {
            if !matches!(crate::sim::ids::parse_actor(name), Ok(crate::sim::ids::ActorId::Node(_))) {
                return Err(invalid(format!("clocks.{name}"), format!("`{name}` is not a node: use n1, n2, ...")));
            }
        }
        for (action, name) in self.clock_actions().into_iter().zip(self.clocks.keys()) {
            action.action.validate(self.nodes, self.clients).map_err(|p| invalid(format!("clocks.{name}"), p))?;
        }
        let mut previous = 0.0;
        for (i, entry) in self.timeline.iter().enumerate() {
            let field = format!("timeline[{i}]");
            let at = entry.at_ms;
            if !at.is_finite() || at < 0.0 {
                return Err(invalid(format!("{field}.at_ms"), format!("must be a time of 0 or more, not {at}")));
            }
            if at < previous {
                return Err(invalid(
                    format!("{field}.at_ms"),
                    format!("{at} is before the previous action ({previous}): the timeline must be in time order"),
                ));
            }
            if at > self.duration_ms as f64 {
                return Err(invalid(
                    format!("{field}.at_ms"),
                    format!("{at} is after the end of the run ({} ms)", self.duration_ms),
                ));
            }
            previous = at;
            entry
                .action
                .validate(self.nodes, self.clients)
                .map_err(|p| invalid(format!("{field} ({})", entry.action.name()), p))?;
        }
        for (i, e) in self.expect.iter().enumerate() {
            e.validate(self).map_err(|p| invalid(format!("expect[{i}]"), p))?;
        }
        self.validate_transactions()?;
        self.validate_compare()
    }

    /// Transactions (a `txn_keys` workload, a `txn` request) need a protocol that runs them.
    fn validate_transactions(&self) -> Result<(), ScenarioError> {
        let txn_request = self
            .timeline
            .iter()
            .position(|e| matches!(&e.action, Action::Request { op: crate::workload::history::OpKind::Txn, .. }));
        let field = match (self.workload.txn_keys, txn_request) {
            (0, None) => return Ok(()),
            (0, Some(i)) => format!("timeline[{i}]"),
            _ => "workload.txn_keys".to_string(),
        };
        let protocols = std::iter::once(&self.protocol).chain(self.compare.iter().map(|s| &s.protocol));
        for p in protocols {
            if let Ok(info) = crate::protocols::info(p)
                && !info.transactions
            {
                let txn: Vec<&str> =
                    crate::protocols::PROTOCOLS.iter().filter(|i| i.transactions).map(|i| i.name).collect();
                return Err(invalid(field, format!("{p} runs no transactions (those that do: {})", txn.join(", "))));
            }
        }
        Ok(())
    }

    fn validate_compare(&self) -> Result<(), ScenarioError> {
        if self.compare.is_empty() {
            return Ok(());
        }
        if !(2..=MAX_SIDES).contains(&self.compare.len()) {
            return Err(invalid("compare", format!("compares two or three sides, not {}", self.compare.len())));
        }
        for (i, side) in self.compare.iter().enumerate() {
            let field = format!("compare[{i}]");
            // A leading letter, so that a name is never mistaken for a side's number.
            let name = side.name.as_bytes();
            if !name.first().is_some_and(u8::is_ascii_lowercase)
                || !name.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            {
                return Err(invalid(
                    format!("{field}.name"),
                    "must be lowercase letters and digits, starting with a letter",
                ));
            }
            crate::protocols::info(&side.protocol).map_err(|e| invalid(format!("{field}.protocol"), e.to_string()))?;
            if self.compare[..i].iter().any(|s| s.name == side.name) {
                return Err(invalid(format!("{field}.name"), format!("`{}` names two sides", side.name)));
            }
            let whole = self.side(i)?;
            for (j, e) in side.expect.iter().enumerate() {
                e.validate(&whole).map_err(|p| invalid(format!("{field}.expect[{j}]"), p))?;
            }
        }
        Ok(())
    }

    /// The index of a side given by name or by number (0, 1).
    pub fn side_index(&self, which: &str) -> Result<usize, ScenarioError> {
        let names: Vec<&str> = self.compare.iter().map(|s| s.name.as_str()).collect();
        if names.is_empty() {
            return Err(invalid("compare", format!("scenario `{}` has no sides to choose from", self.name)));
        }
        names
            .iter()
            .position(|n| *n == which)
            .or_else(|| which.parse::<usize>().ok().filter(|i| *i < names.len()))
            .ok_or_else(|| invalid("side", format!("no side is named `{which}`; the sides are {}", names.join(", "))))
    }

    /// The scenario as one side runs it: that side's protocol, params and expectations added to
    /// the shared ones, and no `compare`.
    pub fn side(&self, index: usize) -> Result<Scenario, ScenarioError> {
        let side = self.compare.get(index).ok_or_else(|| {
            invalid("compare", format!("there is no side {index} (the scenario has {})", self.compare.len()))
        })?;
        let mut s = self.clone();
        s.protocol = side.protocol.clone();
        s.params = side.params.clone();
        s.expect.extend(side.expect.iter().cloned());
        s.compare = Vec::new();
        Ok(s)
    }

    /// The `clocks` as actions at time 0 (`validate` has refused a name that is not a node).
    fn clock_actions(&self) -> Vec<TimedAction> {
        use crate::sim::ids::{ActorId, parse_actor};
        self.clocks
            .iter()
            .filter_map(|(name, c)| match parse_actor(name) {
                Ok(ActorId::Node(n)) => Some(TimedAction {
                    at_us: 0,
                    action: Action::Clock { node: Target::Node(n), offset_ms: c.offset_ms, drift: c.drift },
                }),
                _ => None,
            })
            .collect()
    }

    pub fn timeline_actions(&self) -> Vec<TimedAction> {
        let timeline = self.timeline.iter().map(|e| TimedAction { at_us: ms_to_us(e.at_ms), action: e.action.clone() });
        self.clock_actions().into_iter().chain(timeline).collect()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// The scenario the benchmarks run for a protocol, natively and in wasm alike: a steady client
/// workload on a healthy cluster.
pub fn benchmark(protocol: &str, nodes: u16, clients: u16, seconds: u64) -> Result<Scenario, ScenarioError> {
    // The atomic-commitment protocols commit two-key transactions, as in their fuzz runs.
    let txn_keys = if crate::protocols::info(protocol)?.transactions { 2 } else { 0 };
    let text = serde_json::json!({
        "format": FORMAT, "name": format!("bench-{protocol}"), "title": "benchmark", "protocol": protocol,
        "nodes": nodes, "clients": clients, "seed": 1, "duration_ms": seconds.saturating_mul(1000),
        "workload": { "rate": 20, "keys": 5, "read_ratio": 0.5, "txn_keys": txn_keys }
    });
    Scenario::from_json(&text.to_string())
}

/// Milliseconds (possibly fractional, from a file) to whole microseconds.
pub fn ms_to_us(ms: f64) -> u64 {
    (ms * 1000.0).round().max(0.0) as u64
}
