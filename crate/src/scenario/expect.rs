//! What a scenario promises about its run, checked by `caplab check` and the tests: "a single
//! leader among these nodes by 2 s", "the history is linearizable", "no invariant violated".

use super::Scenario;
use crate::check::{metrics, txns};
use crate::sim::action::Action;
use crate::sim::dynamic::Simulation;
use crate::sim::ids::{ClientId, NodeId};
use crate::sim::protocol::Decision;
use crate::workload::history::{OpKind, Outcome};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "expect", rename_all = "snake_case", deny_unknown_fields)]
pub enum Expectation {
    /// No invariant was violated during the whole run.
    NoViolations,
    /// This invariant was violated at some point (for lessons that break a protocol on purpose).
    Violation { invariant: String },
    /// The history is linearizable (`"value": false`: it is not).
    Linearizable {
        #[serde(default = "yes")]
        value: bool,
    },
    /// At `by_ms`, exactly one running node among `among` (default: all) believes it leads.
    SingleLeader {
        by_ms: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        among: Option<Vec<NodeId>>,
    },
    /// At `at_ms`, `node` has every property given: role (`leader`, `follower`, `candidate`,
    /// `crashed`, `paused`), term, commit index, the terms of its log entries.
    Node {
        node: NodeId,
        at_ms: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        term: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        commit_index: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log_terms: Option<Vec<u64>>,
    },
    /// At `at_ms`, every running node holds the same log, commit index and store.
    Converged { at_ms: f64 },
    /// The number of operations matching every given field is at least `min` (default 1, or 0
    /// when only `max` is given) and at
    /// most `max` (if given), at the end of the run.
    Ops {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<ClientId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        op: Option<OpKind>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outcome: Option<Outcome>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<usize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<usize>,
    },
    /// The number of stale reads of the whole history (see `check::metrics`) is within `min`
    /// and `max` (at least one of them given).
    StaleReads {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<usize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<usize>,
    },
    /// The share of finished or given-up operations that succeeded (`unknown` counts as a
    /// failure) is within `min` and `max` (at least one given, each from 0 to 1). Fails when no
    /// operation finished.
    Availability {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
    /// The time from the last `heal` until the protocol's `settled` check first held (the
    /// summary's `converged_ms`, see `scenario::run`) is within `min` and `max` milliseconds (at
    /// least one given). Fails when there was no heal or the run ended before it settled.
    ConvergedMs {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
    /// The time without a leader after the first crash of a leader (the summary's
    /// `consensus.leaderless_after_crash_ms`, see `check::leadership`) is within `min` and `max`
    /// milliseconds (at least one given), up to the end of the run if no leader took over.
    /// Fails when no leader crashed.
    LeaderlessMs {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
    /// One of the protocol's own measurements (the summary's `figures`, see
    /// `Protocol::figures`), named by its dot path (`rounds_to_all`, `detections.0.all_dead_ms`),
    /// is a number within `min` and `max` (at least one given), at `at_ms` or at the end. Fails
    /// when the figure is missing or not a number (null: not measured yet).
    Figure {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_ms: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
    /// One transaction (`c1.3`: client c1's third request; see `check::txns`), at `at_ms` or
    /// at the end: what each node named in `decisions` has decided (`commit`, `abort`,
    /// `undecided`, or `absent` for a node that took no part), whether no node committed while another aborted (`atomic`), what the
    /// client was told (`outcome`), and how long `node` (default: the longest-blocked
    /// participant) has been uncertain and undecided (`blocked_ms`).
    Transaction {
        txn: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_ms: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        decisions: Option<BTreeMap<NodeId, Decided>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        atomic: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outcome: Option<Outcome>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<NodeId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        blocked_ms: Option<Bounds>,
    },
    /// The number of transactions any node knows of that match every field given (`atomic`,
    /// `decided`: every node that took part has decided) is at least `min` (default 1, or 0
    /// when only `max` is given) and at most `max`, at the end of the run.
    Transactions {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        atomic: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        decided: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<usize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<usize>,
    },
}

/// What a node has decided about a transaction, as an expectation names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decided {
    Commit,
    Abort,
    /// Took part and has not decided.
    Undecided,
    /// Took no part: it has no record of the transaction.
    Absent,
}

/// A range of milliseconds; at least one end given.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl Bounds {
    fn validate(&self) -> Result<(), String> {
        for (name, b) in [("min", self.min), ("max", self.max)] {
            if let Some(b) = b
                && (!b.is_finite() || b < 0.0)
            {
                return Err(format!("{name} {b} is not a number of milliseconds"));
            }
        }
        match (self.min, self.max) {
            (None, None) => Err("give min, max or both".into()),
            (Some(lo), Some(hi)) if lo > hi => Err(format!("min {lo} is above max {hi}")),
            _ => Ok(()),
        }
    }

    fn holds(&self, v: f64) -> bool {
        self.min.is_none_or(|lo| v >= lo) && self.max.is_none_or(|hi| v <= hi)
    }
}

/// What only the whole run can tell, computed once by the runner for the expectations judged
/// at its end (those judged mid-run get the default: nothing known).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RunFacts {
    /// The checker's verdict on the history.
    pub linearizable: Option<bool>,
    /// The summary's `converged_ms`.
    pub converged_ms: Option<f64>,
}

/// How one expectation fared.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExpectResult {
    pub expect: String,
    pub ok: bool,
    pub detail: String,
}

impl Expectation {
    pub fn validate(&self, s: &Scenario) -> Result<(), String> {
        let node = |n: &NodeId| {
            if n.0 >= s.nodes { Err(format!("node {n} does not exist (nodes are n1..n{})", s.nodes)) } else { Ok(()) }
        };
        let time = |t: f64| {
            if !t.is_finite() || t < 0.0 || t > s.duration_ms as f64 {
                Err(format!("time {t} ms is outside the run (0 to {} ms)", s.duration_ms))
            } else {
                Ok(())
            }
        };
        match self {
            Expectation::SingleLeader { by_ms, among } => {
                time(*by_ms)?;
                among.iter().flatten().try_for_each(node)
            }
            Expectation::Node { node: n, at_ms, .. } => {
                node(n)?;
                time(*at_ms)
            }
            Expectation::Converged { at_ms } => time(*at_ms),
            Expectation::Ops { client: Some(c), .. } if c.0 >= s.clients => {
                Err(format!("client {c} does not exist (the scenario has {} clients)", s.clients))
            }
            Expectation::Ops { min: Some(lo), max: Some(hi), .. } if lo > hi => {
                Err(format!("min {lo} is above max {hi}"))
            }
            Expectation::StaleReads { min: None, max: None }
            | Expectation::Availability { min: None, max: None }
            | Expectation::ConvergedMs { min: None, max: None }
            | Expectation::LeaderlessMs { min: None, max: None }
            | Expectation::Figure { min: None, max: None, .. } => Err("give min, max or both".into()),
            Expectation::Figure { name, at_ms, min, max } => {
                if name.is_empty() {
                    return Err("name the figure (for example rounds_to_all)".into());
                }
                if let Some(t) = at_ms {
                    time(*t)?;
                }
                match (min, max) {
                    (Some(lo), Some(hi)) if lo > hi => Err(format!("min {lo} is above max {hi}")),
                    (Some(b), _) | (_, Some(b)) if !b.is_finite() => Err(format!("{b} is not a number")),
                    _ => Ok(()),
                }
            }
            Expectation::StaleReads { min: Some(lo), max: Some(hi) } if lo > hi => {
                Err(format!("min {lo} is above max {hi}"))
            }
            Expectation::Availability { min, max } => {
                for (name, b) in [("min", min), ("max", max)] {
                    if let Some(b) = b
                        && !(0.0..=1.0).contains(b)
                    {
                        return Err(format!("{name} {b} is not a share from 0 to 1"));
                    }
                }
                match (min, max) {
                    (Some(lo), Some(hi)) if lo > hi => Err(format!("min {lo} is above max {hi}")),
                    _ => Ok(()),
                }
            }
            Expectation::ConvergedMs { min, max } | Expectation::LeaderlessMs { min, max } => {
                for (name, b) in [("min", min), ("max", max)] {
                    if let Some(b) = b
                        && (!b.is_finite() || *b < 0.0)
                    {
                        return Err(format!("{name} {b} is not a number of milliseconds"));
                    }
                }
                match (min, max) {
                    (Some(lo), Some(hi)) if lo > hi => Err(format!("min {lo} is above max {hi}")),
                    _ => Ok(()),
                }
            }
            Expectation::Transaction { txn, at_ms, decisions, node: n, blocked_ms, .. } => {
                if txns::parse_txn_id(txn).is_none_or(|(c, seq)| c.0 >= s.clients || seq == 0) {
                    return Err(format!(
                        "transaction `{txn}` is not a client's request (c1.1 is client c1's first; the scenario has {} clients)",
                        s.clients
                    ));
                }
                if let Some(t) = at_ms {
                    time(*t)?;
                }
                decisions.iter().flat_map(|d| d.keys()).try_for_each(node)?;
                n.iter().try_for_each(node)?;
                blocked_ms.as_ref().map_or(Ok(()), Bounds::validate)
            }
            Expectation::Transactions { min: Some(lo), max: Some(hi), .. } if lo > hi => {
                Err(format!("min {lo} is above max {hi}"))
            }
            _ => Ok(()),
        }
    }

    /// The virtual time at which this expectation is judged, if not at the end of the run.
    pub fn at_ms(&self) -> Option<f64> {
        match self {
            Expectation::SingleLeader { by_ms, .. } => Some(*by_ms),
            Expectation::Node { at_ms, .. } | Expectation::Converged { at_ms } => Some(*at_ms),
            Expectation::Transaction { at_ms, .. } | Expectation::Figure { at_ms, .. } => *at_ms,
            _ => None,
        }
    }

    pub fn describe(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Judges the expectation against the simulation as it is now, with what the caller knows
    /// of the whole run.
    pub fn judge(&self, sim: &dyn Simulation, facts: &RunFacts) -> ExpectResult {
        let (ok, detail) = match self {
            Expectation::NoViolations => {
                let v = sim.violations();
                let detail = v.iter().map(|v| format!("{}: {}", v.invariant, v.detail)).collect::<Vec<_>>().join("; ");
                (v.is_empty(), if v.is_empty() { "no invariant was violated".into() } else { detail })
            }
            Expectation::Violation { invariant } => {
                let hit = sim.violations().iter().find(|v| v.invariant == invariant);
                match hit {
                    Some(v) => (true, format!("violated at {} ms: {}", v.at_us as f64 / 1000.0, v.detail)),
                    None => (false, format!("{invariant} was never violated")),
                }
            }
            Expectation::Linearizable { value } => match facts.linearizable {
                Some(l) => (l == *value, format!("the history is {}linearizable", if l { "" } else { "not " })),
                None => (false, "the checker could not decide within its budget".into()),
            },
            Expectation::SingleLeader { among, .. } => {
                let views = sim.node_views();
                let leaders: Vec<&str> = views
                    .iter()
                    .enumerate()
                    .filter(|(i, v)| {
                        v.role == "leader" && among.as_ref().is_none_or(|a| a.contains(&NodeId(*i as u16)))
                    })
                    .map(|(_, v)| v.id.as_str())
                    .collect();
                (leaders.len() == 1, format!("leaders: [{}]", leaders.join(", ")))
            }
            Expectation::Node { node, role, term, commit_index, log_terms, .. } => {
                match sim.node_views().get(node.index()) {
                    Some(v) => {
                        let ok = role.as_ref().is_none_or(|r| *r == v.role)
                            && term.is_none_or(|t| t == v.view.term)
                            && commit_index.is_none_or(|c| c == v.view.commit_index)
                            && log_terms.as_ref().is_none_or(|l| *l == v.view.log_terms);
                        let detail = format!(
                            "{node} is {} in term {}, commit index {}, log terms {:?}",
                            v.role, v.view.term, v.view.commit_index, v.view.log_terms
                        );
                        (ok, detail)
                    }
                    None => (false, format!("node {node} does not exist")),
                }
            }
            Expectation::Converged { .. } => {
                let views = sim.node_views();
                let running: Vec<_> = views.iter().filter(|v| v.role != "crashed").collect();
                let differs = running.windows(2).find(|w| {
                    let (a, b) = (&w[0].view, &w[1].view);
                    a.log_terms != b.log_terms || a.commit_index != b.commit_index || a.store != b.store
                });
                match differs {
                    None => (true, format!("{} running nodes agree", running.len())),
                    Some(w) => (false, format!("{} and {} differ", w[0].id, w[1].id)),
                }
            }
            Expectation::Ops { client, op, key, value, outcome, min, max } => {
                let n = sim
                    .history()
                    .entries()
                    .iter()
                    .enumerate()
                    .filter(|(i, e)| {
                        client.is_none_or(|c| c == e.client)
                            && op.is_none_or(|o| o == e.op)
                            && key.as_ref().is_none_or(|k| *k == e.key)
                            && value.as_ref().is_none_or(|v| Some(v) == e.value.as_ref())
                            && outcome.is_none_or(|o| o == e.outcome && !sim.history().is_open(*i))
                    })
                    .count();
                let lo = min.unwrap_or(if max.is_some() { 0 } else { 1 });
                (n >= lo && max.is_none_or(|hi| n <= hi), format!("{n} matching operations"))
            }
            Expectation::StaleReads { min, max } => {
                let stale = metrics::stale_reads(sim.history().entries());
                let n = stale.len();
                let ok = min.is_none_or(|lo| n >= lo) && max.is_none_or(|hi| n <= hi);
                let detail = match stale.first() {
                    None => "0 stale reads".to_string(),
                    Some(s) => format!(
                        "{n} stale read{}; first: {} read {} = {} at {} ms, {}",
                        if n == 1 { "" } else { "s" },
                        s.client,
                        s.key,
                        s.read.as_deref().unwrap_or("null"),
                        s.invoke_us as f64 / 1000.0,
                        match &s.newer {
                            Some(v) => format!("after the write of {v} had completed"),
                            None => "a value no write wrote".into(),
                        }
                    ),
                };
                (ok, detail)
            }
            Expectation::Availability { min, max } => {
                let a = metrics::of_history(sim.history()).availability;
                match a.availability {
                    None => (false, "no operation finished".into()),
                    Some(share) => (
                        min.is_none_or(|lo| share >= lo) && max.is_none_or(|hi| share <= hi),
                        format!("availability {share:.4}: {} ok, {} fail, {} unknown", a.ok, a.fail, a.unknown),
                    ),
                }
            }
            Expectation::ConvergedMs { min, max } => match facts.converged_ms {
                None if sim.applied_actions().iter().any(|a| a.action == Action::Heal) => {
                    (false, "the run ended before the protocol settled after the last heal".into())
                }
                None => (false, "there was no heal".into()),
                Some(ms) => (
                    min.is_none_or(|lo| ms >= lo) && max.is_none_or(|hi| ms <= hi),
                    format!("converged {ms} ms after the last heal"),
                ),
            },
            Expectation::LeaderlessMs { min, max } => {
                match crate::check::leadership::measure(sim).and_then(|c| c.leaderless_after_crash_ms) {
                    None => (false, "no leader crashed".into()),
                    Some(ms) => (
                        min.is_none_or(|lo| ms >= lo) && max.is_none_or(|hi| ms <= hi),
                        format!("{ms} ms without a leader after the leader crashed"),
                    ),
                }
            }
            Expectation::Figure { name, min, max, .. } => {
                let figures = sim.figures();
                let found = name.split('.').try_fold(&figures, |v, part| match v {
                    serde_json::Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
                    other => other.get(part),
                });
                match found {
                    None => (false, format!("the protocol reports no figure {name}")),
                    Some(v) => match v.as_f64() {
                        None => (false, format!("{name} is {v}, not a number")),
                        Some(x) => {
                            (min.is_none_or(|lo| x >= lo) && max.is_none_or(|hi| x <= hi), format!("{name} = {x}"))
                        }
                    },
                }
            }
            Expectation::Transaction { txn, decisions, atomic, outcome, node, blocked_ms, .. } => {
                judge_transaction(sim, txn, decisions.as_ref(), *atomic, *outcome, *node, blocked_ms.as_ref())
            }
            Expectation::Transactions { atomic, decided, min, max } => {
                let all = txns::summarize(sim);
                let n = all
                    .iter()
                    .filter(|t| atomic.is_none_or(|a| a == t.atomic) && decided.is_none_or(|d| d == t.decided))
                    .count();
                let lo = min.unwrap_or(if max.is_some() { 0 } else { 1 });
                (n >= lo && max.is_none_or(|hi| n <= hi), format!("{n} matching of {} transactions", all.len()))
            }
        };
        ExpectResult { expect: self.describe(), ok, detail }
    }
}

fn judge_transaction(
    sim: &dyn Simulation,
    txn: &str,
    decisions: Option<&BTreeMap<NodeId, Decided>>,
    atomic: Option<bool>,
    outcome: Option<Outcome>,
    node: Option<NodeId>,
    blocked_ms: Option<&Bounds>,
) -> (bool, String) {
    let Some(t) = txns::summarize(sim).into_iter().find(|t| t.txn == txn) else {
        return (false, format!("no node knows of transaction {txn}"));
    };
    let mut wrong = Vec::new();
    for (n, want) in decisions.into_iter().flatten() {
        let got = match t.nodes.get(&n.to_string()).map(|p| p.decision) {
            Some(Some(Decision::Commit)) => Decided::Commit,
            Some(Some(Decision::Abort)) => Decided::Abort,
            Some(None) => Decided::Undecided,
            None => Decided::Absent,
        };
        if got != *want {
            wrong.push(format!("{n} is {got:?}, not {want:?}"));
        }
    }
    if let Some(a) = atomic
        && a != t.atomic
    {
        wrong.push(format!("it is {}atomic", if t.atomic { "" } else { "not " }));
    }
    if let Some(o) = outcome
        && Some(o) != t.outcome
    {
        wrong.push(format!("the client's outcome is {:?}", t.outcome));
    }
    let blocked = match node {
        Some(n) => match t.nodes.get(&n.to_string()) {
            Some(p) => p.blocked_ms,
            None => {
                wrong.push(format!("{n} took no part in {txn}"));
                0.0
            }
        },
        None => t.blocked_ms,
    };
    if let Some(b) = blocked_ms
        && !b.holds(blocked)
    {
        wrong.push(format!("blocked {blocked} ms"));
    }
    let parts: Vec<String> = t
        .nodes
        .iter()
        .map(|(n, p)| {
            let d = p.decision.map_or("undecided".to_string(), |d| format!("{d:?}").to_lowercase());
            format!("{n} {} ({d}, blocked {} ms)", p.state, p.blocked_ms)
        })
        .collect();
    let summary = format!("{txn}: {}", parts.join(", "));
    if wrong.is_empty() { (true, summary) } else { (false, format!("{}; {summary}", wrong.join("; "))) }
}
