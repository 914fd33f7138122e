//! What the fuzzer needs of `services`: a graph of five services (the fuzzer's cluster size)
//! with patterns drawn per edge, and the check that users are answered again once the faults
//! are healed.

use crate::sim::dynamic::Simulation;
use crate::sim::rng::SimRng;
use serde_json::{Value, json};

fn maybe(on: bool, v: Value) -> Value {
    if on { v } else { Value::Null }
}

fn edge(rng: &mut SimRng, from: &str, to: &str, timeout_ms: u64) -> Value {
    let jitter = ["none", "full", "equal", "decorrelated"][rng.index(4)];
    let fallback = ["cache", "default"][rng.index(2)];
    let budget = maybe(
        rng.chance(500_000),
        json!({ "budget_percent": rng.between(0, 50), "min_retry_concurrency": rng.between(0, 5) }),
    );
    json!({
        "from": from,
        "to": to,
        // Timeouts always on: without them a crashed callee holds its callers' workers forever,
        // which is the cascading-failure lesson, not a bug to look for.
        "timeout_ms": timeout_ms,
        "retry": maybe(rng.chance(500_000), json!({
            "max_attempts": rng.between(1, 4), "wait_duration_ms": rng.between(5, 200),
            "multiplier": 2.0, "max_wait_duration_ms": 1000, "jitter": jitter, "budget": budget,
        })),
        "breaker": maybe(rng.chance(500_000), json!({
            "failure_rate_threshold": rng.between(20, 80), "sliding_window_size": rng.between(5, 30),
            "minimum_number_of_calls": rng.between(2, 10), "wait_duration_in_open_state_ms": rng.between(100, 2000),
            "permitted_number_of_calls_in_half_open_state": rng.between(1, 5),
            "sliding_window_type": if rng.chance(500_000) { "count_based" } else { "time_based" },
            "automatic_transition_from_open_to_half_open_enabled": rng.chance(500_000),
            "slow_call_duration_threshold_ms": rng.between(50, 500),
        })),
        "bulkhead": maybe(rng.chance(500_000), json!({ "max_concurrent_calls": rng.between(1, 10), "max_wait_duration_ms": rng.between(0, 100) })),
        "fallback": maybe(rng.chance(500_000), json!(fallback)),
    })
}

/// users -> gateway -> {api, search} -> db: fan-out at the gateway, fan-in at the database.
pub fn fuzz_params(rng: &mut SimRng) -> Value {
    // A limiter that lets the users' rate through with room to spare: faults, not the limit,
    // are what the fuzzer is after.
    let rate = rng.between(5, 40);
    let kind = ["token_bucket", "leaky_bucket", "sliding_window"][rng.index(3)];
    let window_ms = rng.between(200, 2000);
    let limiter = maybe(
        rng.chance(500_000),
        json!({
            "kind": kind,
            "capacity": rng.between(2, 20), "per_second": rng.between(3 * rate, 6 * rate),
            "limit": rng.between(3 * rate * window_ms / 1000 + 2, 6 * rate * window_ms / 1000 + 4),
            "window_ms": window_ms, "per": if rng.chance(500_000) { "global" } else { "caller" },
        }),
    );
    json!({
        "services": [
            { "name": "users", "rate": rate },
            { "name": "gateway", "capacity": rng.between(5, 40), "queue": rng.between(0, 20), "service_ms": [1, 3] },
            { "name": "api", "capacity": rng.between(2, 20), "queue": rng.between(0, 20), "service_ms": [2, 20],
              "error_rate": rng.between(0, 10) as f64 / 100.0, "drop_expired": rng.chance(500_000) },
            { "name": "search", "capacity": rng.between(2, 20), "queue": rng.between(0, 20), "service_ms": [2, 20], "limiter": limiter },
            { "name": "db", "capacity": rng.between(2, 20), "queue": rng.between(0, 20), "service_ms": [1, 10] },
        ],
        "calls": [
            edge(rng, "users", "gateway", 2000),
            edge(rng, "gateway", "api", 800),
            edge(rng, "gateway", "search", 800),
            edge(rng, "api", "db", 300),
            edge(rng, "search", "db", 300),
        ],
    })
}

/// After the faults, users get answers again: some user request that arrived in the last two
/// seconds was answered well or degraded (the newest requests may still be on their way), or
/// nothing was asked. The fuzzer keeps the load low enough that even naive retries recover.
pub fn settled(sim: &dyn Simulation) -> Result<(), String> {
    let f = sim.figures();
    let Some(series) = f["series"].as_array() else { return Ok(()) };
    let recent = &series[series.len().saturating_sub(4)..];
    let asked = recent.iter().any(|b| b["success"].is_number());
    if !asked || recent.iter().any(|b| b["success"].as_f64().is_some_and(|p| p > 0.0)) {
        return Ok(());
    }
    Err(format!(
        "no user request that arrived from {} ms on succeeded",
        recent.first().map_or(json!(0), |b| b["t_ms"].clone())
    ))
}
