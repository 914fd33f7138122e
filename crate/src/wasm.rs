//! The JavaScript face of the simulator: one `Playground` class built from a scenario. This file
//! only translates — JSON text in, JSON text out, errors as exceptions with the message a person
//! should read — and is the only file that knows about wasm-bindgen.

use crate::scenario::{Scenario, library};
use crate::sim::action::Action;
use crate::sim::dynamic::Simulation;
use crate::sim::ids::{ActorId, parse_actor};
use crate::sim::time::Time;
use crate::{check, protocols, scenario};
use wasm_bindgen::prelude::*;

/// Decided transactions per node in `nodes()` (every open one is there too): the page's
/// Transactions panel shows the last 14 rows.
const PAGE_DECIDED_TXNS: usize = 16;

fn js_err(message: impl std::fmt::Display) -> JsError {
    JsError::new(&message.to_string())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, JsError> {
    serde_json::to_string(value).map_err(js_err)
}

/// Milliseconds from JS (a double) to whole microseconds, refusing what is not a time.
fn ms_to_time(ms: f64) -> Result<Time, JsError> {
    let limit = scenario::MAX_DURATION_MS as f64;
    if !(0.0..=limit).contains(&ms) {
        return Err(js_err(format!("{ms} is not a time from 0 to {limit} milliseconds")));
    }
    Ok(Time(scenario::ms_to_us(ms)))
}

/// A tour's steps are its notes, those at the same time making one.
fn tour_steps(s: &Scenario) -> usize {
    let mut times: Vec<u64> =
        s.timeline.iter().filter(|e| e.action.name() == "note").map(|e| scenario::ms_to_us(e.at_ms)).collect();
    times.dedup();
    times.len()
}

#[wasm_bindgen]
pub struct Playground {
    scenario: Scenario,
    sim: Box<dyn Simulation>,
}

#[wasm_bindgen]
impl Playground {
    /// Builds a playground from a scenario's name or its JSON text, with its own seed or `seed`.
    #[wasm_bindgen(constructor)]
    pub fn new(scenario: &str, seed: Option<f64>) -> Result<Playground, JsError> {
        let parsed = if scenario.trim_start().starts_with('{') {
            Scenario::from_json(scenario).map_err(js_err)?
        } else {
            library::get(scenario.trim()).map_err(js_err)?
        };
        let seed = match seed {
            Some(s) if (0.0..=9_007_199_254_740_991.0).contains(&s) && s.fract() == 0.0 => Some(s as u64),
            Some(s) => return Err(js_err(format!("the seed must be a whole number from 0 to 2^53-1, not {s}"))),
            None => None,
        };
        let mut sim = protocols::build(&parsed, seed).map_err(js_err)?;
        sim.set_recording(true);
        Ok(Playground { scenario: parsed, sim })
    }

    /// Every built-in scenario as a JSON array of {name, title, description, topic, protocol,
    /// nodes, tour, steps} (`steps`: how many tour steps its notes make).
    pub fn scenarios() -> String {
        let list: Vec<serde_json::Value> = library::in_order()
            .into_iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name, "title": s.title, "description": s.description,
                    "topic": s.topic, "protocol": s.protocol, "nodes": s.nodes, "tour": s.tour,
                    "steps": tour_steps(&s),
                    "sides": s.compare.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::Value::Array(list).to_string()
    }

    /// One side of a scenario that compares two systems (`compare`), as the JSON of a scenario
    /// that runs it: that side's protocol, params and expectations. `scenario` is a name or
    /// JSON text; `side` is the side's name or its index.
    #[wasm_bindgen(js_name = sideJson)]
    pub fn side_json(scenario: &str, side: &str) -> Result<String, JsError> {
        let parsed = if scenario.trim_start().starts_with('{') {
            Scenario::from_json(scenario).map_err(js_err)?
        } else {
            library::get(scenario.trim()).map_err(js_err)?
        };
        let index = parsed.side_index(side).map_err(js_err)?;
        Ok(parsed.side(index).map_err(js_err)?.to_json())
    }

    /// The scenario this playground runs, as JSON.
    #[wasm_bindgen(js_name = scenarioJson)]
    pub fn scenario_json(&self) -> String {
        self.scenario.to_json()
    }

    pub fn protocol(&self) -> String {
        self.sim.protocol().to_string()
    }

    pub fn seed(&self) -> f64 {
        self.sim.seed() as f64
    }

    #[wasm_bindgen(js_name = durationMs)]
    pub fn duration_ms(&self) -> f64 {
        self.scenario.duration_ms as f64
    }

    /// The current virtual time in milliseconds.
    #[wasm_bindgen(js_name = nowMs)]
    pub fn now_ms(&self) -> f64 {
        self.sim.now().0 as f64 / 1000.0
    }

    /// The time of the next event in milliseconds, or -1 when nothing is left.
    #[wasm_bindgen(js_name = nextMs)]
    pub fn next_ms(&self) -> f64 {
        self.sim.next_time().map_or(-1.0, |t| t.0 as f64 / 1000.0)
    }

    /// Runs every event up to `ms` and returns how many ran.
    #[wasm_bindgen(js_name = runUntil)]
    pub fn run_until(&mut self, ms: f64) -> Result<f64, JsError> {
        let t = ms_to_time(ms)?;
        Ok(self.sim.run_until(t) as f64)
    }

    /// Runs events up to `ms`, at most `maxSteps` of them; true when it reached `ms`.
    #[wasm_bindgen(js_name = runUntilBounded)]
    pub fn run_until_bounded(&mut self, ms: f64, max_steps: f64) -> Result<bool, JsError> {
        let t = ms_to_time(ms)?;
        Ok(self.sim.run_until_bounded(t, max_steps.max(0.0) as u64))
    }

    /// Applies exactly one event; false when there is none.
    pub fn step(&mut self) -> bool {
        self.sim.step()
    }

    /// Applies a user action given as JSON, e.g. `{"action":"crash","node":"n2"}`, now.
    pub fn apply(&mut self, action_json: &str) -> Result<(), JsError> {
        let action: Action = serde_json::from_str(action_json).map_err(|e| js_err(format!("bad action: {e}")))?;
        self.sim.apply_now(action).map_err(js_err)
    }

    /// Removes one message from the wire: the same as applying `{"action":"drop","message":id}`.
    #[wasm_bindgen(js_name = dropMessage)]
    pub fn drop_message(&mut self, id: f64) -> Result<(), JsError> {
        self.sim.remove_message(id as u64).map_err(js_err)
    }

    /// Whether to keep trace events for `takeEvents` (on by default; the benchmark turns it off
    /// to measure what the native benchmark measures).
    #[wasm_bindgen(js_name = setRecording)]
    pub fn set_recording(&mut self, on: bool) {
        self.sim.set_recording(on);
    }

    /// Leave the message, timer and role-change events out of `takeEvents` (`false`) or keep
    /// them (`true`, the default): the page of a large cluster keeps only notes, faults and
    /// operations. The trace hash covers every event either way.
    #[wasm_bindgen(js_name = setRecordingMessages)]
    pub fn set_recording_messages(&mut self, on: bool) {
        self.sim.set_recording_messages(on);
    }

    /// The trace events since the last call, as a JSON array.
    #[wasm_bindgen(js_name = takeEvents)]
    pub fn take_events(&mut self) -> String {
        format!("[{}]", self.sim.take_events_json().join(","))
    }

    /// How to draw each node: `{id, role, term, leader, log_terms, commit_index, store, txns}`
    /// (`txns`: open transactions and the last few decided, see `NodeView::recent`).
    /// `role` is what the page should show (`crashed` and `paused` win over the protocol's role,
    /// which stays in `protocol_role`). Built by hand because the view flattens a second `role`.
    pub fn nodes(&self) -> Result<String, JsError> {
        let views: Vec<_> = self
            .sim
            .node_views()
            .into_iter()
            .map(|mut v| {
                v.view = v.view.recent(PAGE_DECIDED_TXNS);
                v
            })
            .collect();
        to_json(&views)
    }

    /// The timers each node has set, `{"n1": [{"timer": ..., "fires_us": ...}], ...}`, so the
    /// page can draw countdowns without asking for the whole state of every node.
    pub fn timers(&self) -> Result<String, JsError> {
        to_json(&self.sim.timers())
    }

    /// How many steps (events and applied actions) have run: one `step()` adds exactly one.
    pub fn steps(&self) -> f64 {
        self.sim.stats().steps as f64
    }

    pub fn clients(&self) -> Result<String, JsError> {
        to_json(&self.sim.client_views())
    }

    /// The full state of one node (`"n3"`), for the inspector.
    pub fn inspect(&self, node: &str) -> Result<String, JsError> {
        match parse_actor(node).map_err(js_err)? {
            ActorId::Node(n) => to_json(&self.sim.inspect(n).map_err(js_err)?),
            ActorId::Client(c) => Err(js_err(format!("{c} is a client, not a node"))),
        }
    }

    /// Every node–node and client–node pair, with whether each direction is up.
    pub fn links(&self) -> Result<String, JsError> {
        to_json(&self.sim.links())
    }

    /// Messages on the wire with their send and deliver times.
    #[wasm_bindgen(js_name = inFlight)]
    pub fn in_flight(&self) -> Result<String, JsError> {
        to_json(&self.sim.in_flight())
    }

    pub fn invariants(&self) -> Result<String, JsError> {
        to_json(&self.sim.invariants())
    }

    pub fn history(&self) -> String {
        self.sim.history().to_json()
    }

    /// The history as the CAP lab draws it: `{entries, open, gave_up_us}`: the entries in the
    /// shared format, the indices still in flight, and `[index, µs]` pairs saying when the
    /// client gave up on each `unknown` operation.
    #[wasm_bindgen(js_name = historyLive)]
    pub fn history_live(&self) -> Result<String, JsError> {
        to_json(&self.sim.history().live())
    }

    pub fn stats(&self) -> Result<String, JsError> {
        to_json(self.sim.stats())
    }

    /// Every action applied so far (timeline and user) with its time: what a share link carries.
    pub fn actions(&self) -> Result<String, JsError> {
        to_json(&self.sim.applied_actions())
    }

    /// The last action applied, with its time (`{"at_us": ..., "action": ...}`), or `null`.
    #[wasm_bindgen(js_name = lastAction)]
    pub fn last_action(&self) -> Result<String, JsError> {
        to_json(&self.sim.applied_actions().last())
    }

    #[wasm_bindgen(js_name = traceHash)]
    pub fn trace_hash(&self) -> String {
        self.sim.trace_hash()
    }

    /// A copy of the whole simulation, to come back to (time travel, forks).
    pub fn snapshot(&self) -> Playground {
        Playground { scenario: self.scenario.clone(), sim: self.sim.snapshot() }
    }

    /// The consistency and availability measures of the run so far, as JSON (see
    /// `check::metrics::Live`): `{now_ms, linearizable, witness, stale_reads, availability,
    /// per_client, over_time, bucket_ms, latency_ms, siblings, sibling_keys}`, with
    /// availability buckets `bucketMs` wide (1 to 3,600,000 ms, at most 10,000 buckets).
    pub fn metrics(&self, bucket_ms: f64) -> Result<String, JsError> {
        to_json(&check::metrics::live(self.sim.as_ref(), bucket_ms).map_err(js_err)?)
    }

    /// The leader figures of the run so far (see `check::leadership::Consensus`): messages per
    /// committed write, write latency, the gaps without a leader; `null` when no node ever led.
    pub fn consensus(&self) -> Result<String, JsError> {
        to_json(&check::leadership::measure(self.sim.as_ref()))
    }

    /// Runs forwards to each multiple of `stepMs` up to `untilMs` and returns the first of those
    /// times (now included, if it is one) at which the protocol's settled check holds, or -1.
    /// The CAP lab calls it on a copy taken at a heal to time convergence as `caplab run` does.
    #[wasm_bindgen(js_name = firstSettledMs)]
    pub fn first_settled_ms(&mut self, until_ms: f64, step_ms: f64) -> Result<f64, JsError> {
        let until = ms_to_time(until_ms)?;
        if !(step_ms.is_finite() && (1.0..=60_000.0).contains(&step_ms)) {
            return Err(js_err(format!("the probing step must be from 1 to 60000 ms, not {step_ms}")));
        }
        let info = protocols::info(self.sim.protocol()).map_err(js_err)?;
        let step_us = scenario::ms_to_us(step_ms);
        Ok(check::metrics::first_settled(self.sim.as_mut(), info.settled, until, step_us)
            .map_or(-1.0, |t| t.0 as f64 / 1000.0))
    }

    /// Why the protocol's `settled` check does not hold now (NWR: replicas disagree; Raft: no
    /// single agreed leader), or `undefined` when it holds: the page times convergence after a
    /// heal by asking this as it plays.
    #[wasm_bindgen(js_name = settledError)]
    pub fn settled_error(&self) -> Result<Option<String>, JsError> {
        let info = protocols::info(self.sim.protocol()).map_err(js_err)?;
        Ok((info.settled)(self.sim.as_ref()).err())
    }

    /// One byte per node, in node order, for the canvas drawing of a large cluster (see
    /// `Protocol::shades`; 255 crashed, 254 paused, the rest the protocol's own codes), as a
    /// `Uint8Array`: a frame reads thousands of nodes without JSON.
    pub fn shades(&self) -> Vec<u8> {
        self.sim.shades()
    }

    /// Node-to-node messages on the wire as a `Uint32Array` of node index pairs (from, to,
    /// from, to, ...), at most `max` pairs (0 to 100,000), oldest first.
    pub fn wires(&self, max: f64) -> Result<Vec<u32>, JsError> {
        if !(max.is_finite() && (0.0..=100_000.0).contains(&max)) {
            return Err(js_err(format!("max must be from 0 to 100000, not {max}")));
        }
        Ok(self.sim.wires(max as usize))
    }

    /// The protocol's own measurements of the run so far (see `Protocol::figures`), as JSON;
    /// `null` when it has none.
    pub fn figures(&self) -> Result<String, JsError> {
        to_json(&self.sim.figures())
    }
}
