//! The scenario's description of a service graph (`params`), in the words of the libraries the
//! patterns come from (resilience4j's field names in snake case, Envoy's retry budget), with
//! times in milliseconds; the conversion to the patterns' microsecond configurations; and the
//! live `configure` merge, which names a service or an edge (`"gateway->db"`) and changes
//! only the fields given.

use super::patterns::breaker::{BreakerConfig, WindowKind};
use super::patterns::bulkhead::BulkheadConfig;
use super::patterns::limiter::{LeakyBucketConfig, SlidingWindowConfig, TokenBucketConfig};
use super::patterns::retry::{Jitter, RetryBudgetConfig, RetryConfig};
use crate::sim::protocol::MAX_TIMING_MS;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One service: a node of the graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceSpec {
    pub name: String,
    /// Requests per second sent by the users behind this service: a source (open loop: users
    /// do not wait for one answer before the next request). 0 for a service.
    pub rate: u32,
    /// Requests in progress at once (workers).
    pub capacity: u32,
    /// Requests waiting for a worker; one more is shed (answered at once as overloaded).
    pub queue: u32,
    /// The service's own work per request, drawn uniformly from this range (ms).
    pub service_ms: [u64; 2],
    /// The share of requests that fail after their work, 0 to 1.
    pub error_rate: f64,
    pub limiter: Option<LimiterSpec>,
    /// Deadline propagation (gRPC's): a request whose caller's deadline has passed by the time
    /// a worker takes it is dropped instead of worked on for nobody.
    pub drop_expired: bool,
}

impl Default for ServiceSpec {
    fn default() -> Self {
        ServiceSpec {
            name: String::new(),
            rate: 0,
            capacity: 10,
            queue: 20,
            service_ms: [5, 15],
            error_rate: 0.0,
            limiter: None,
            drop_expired: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimiterKind {
    TokenBucket,
    LeakyBucket,
    SlidingWindow,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitPer {
    /// One limiter for every caller together.
    Global,
    /// One limiter per caller (an upstream service or a client).
    Caller,
}

/// A rate limiter in front of a service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimiterSpec {
    pub kind: LimiterKind,
    /// Token bucket: tokens held at most; leaky bucket: requests queued at most.
    pub capacity: u64,
    /// Token bucket: tokens added per second; leaky bucket: requests let through per second.
    pub per_second: u64,
    /// Sliding window: requests allowed per window.
    pub limit: u64,
    pub window_ms: u64,
    pub per: LimitPer,
}

impl Default for LimiterSpec {
    fn default() -> Self {
        LimiterSpec {
            kind: LimiterKind::TokenBucket,
            capacity: 10,
            per_second: 5,
            limit: 10,
            window_ms: 1000,
            per: LimitPer::Global,
        }
    }
}

/// Retries of one call edge (resilience4j `Retry` with an `IntervalFunction`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySpec {
    pub max_attempts: u32,
    pub wait_duration_ms: u64,
    pub multiplier: f64,
    pub max_wait_duration_ms: u64,
    pub jitter: Jitter,
    /// Envoy's retry budget; none: every failure may be retried.
    pub budget: Option<BudgetSpec>,
}

impl Default for RetrySpec {
    fn default() -> Self {
        let d = RetryConfig::default();
        RetrySpec {
            max_attempts: d.max_attempts,
            wait_duration_ms: d.initial_interval_us / 1000,
            multiplier: f64::from(d.multiplier_permille) / 1000.0,
            max_wait_duration_ms: d.max_interval_us / 1000,
            jitter: d.jitter,
            budget: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetSpec {
    pub budget_percent: u32,
    pub min_retry_concurrency: u32,
}

impl Default for BudgetSpec {
    fn default() -> Self {
        let d = RetryBudgetConfig::default();
        BudgetSpec { budget_percent: d.budget_percent, min_retry_concurrency: d.min_retry_concurrency }
    }
}

/// resilience4j's `CircuitBreakerConfig`, durations in ms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerSpec {
    pub failure_rate_threshold: u32,
    pub slow_call_rate_threshold: u32,
    pub slow_call_duration_threshold_ms: u64,
    pub sliding_window_type: WindowKind,
    pub sliding_window_size: u32,
    pub minimum_number_of_calls: u32,
    pub wait_duration_in_open_state_ms: u64,
    pub permitted_number_of_calls_in_half_open_state: u32,
    pub automatic_transition_from_open_to_half_open_enabled: bool,
}

impl Default for BreakerSpec {
    fn default() -> Self {
        let d = BreakerConfig::default();
        BreakerSpec {
            failure_rate_threshold: d.failure_rate_threshold,
            slow_call_rate_threshold: d.slow_call_rate_threshold,
            slow_call_duration_threshold_ms: d.slow_call_duration_threshold_us / 1000,
            sliding_window_type: d.window_kind,
            sliding_window_size: d.sliding_window_size,
            minimum_number_of_calls: d.minimum_number_of_calls,
            wait_duration_in_open_state_ms: d.wait_duration_in_open_state_us / 1000,
            permitted_number_of_calls_in_half_open_state: d.permitted_number_of_calls_in_half_open_state,
            automatic_transition_from_open_to_half_open_enabled: d.automatic_transition_from_open_to_half_open_enabled,
        }
    }
}

/// resilience4j's `BulkheadConfig` (the semaphore one), in ms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BulkheadSpec {
    pub max_concurrent_calls: u32,
    pub max_wait_duration_ms: u64,
}

impl Default for BulkheadSpec {
    fn default() -> Self {
        let d = BulkheadConfig::default();
        BulkheadSpec { max_concurrent_calls: d.max_concurrent_calls, max_wait_duration_ms: d.max_wait_us / 1000 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// The last good answer from this dependency, if there was one.
    Cache,
    /// A default answer, always.
    Default,
}

/// One edge of the call graph: `from` calls `to` for every request it works on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallSpec {
    pub from: String,
    pub to: String,
    pub timeout_ms: Option<u64>,
    pub retry: Option<RetrySpec>,
    pub breaker: Option<BreakerSpec>,
    pub bulkhead: Option<BulkheadSpec>,
    pub fallback: Option<Fallback>,
}

impl CallSpec {
    pub fn edge(&self) -> String {
        format!("{}->{}", self.from, self.to)
    }
}

/// The `params` of a services scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServicesParams {
    pub services: Vec<ServiceSpec>,
    pub calls: Vec<CallSpec>,
}

impl Default for ServicesParams {
    fn default() -> Self {
        let svc = |name: &str, capacity, service_ms| ServiceSpec {
            name: name.into(),
            capacity,
            service_ms,
            ..ServiceSpec::default()
        };
        // users -> gateway -> {api, search} -> db: fan-out at the gateway, fan-in at the db.
        let call = |from: &str, to: &str, ms| CallSpec {
            from: from.into(),
            to: to.into(),
            timeout_ms: Some(ms),
            ..CallSpec::default()
        };
        ServicesParams {
            services: vec![
                ServiceSpec { name: "users".into(), rate: 20, ..ServiceSpec::default() },
                svc("gateway", 40, [1, 3]),
                svc("api", 20, [5, 15]),
                svc("search", 20, [5, 15]),
                svc("db", 10, [10, 30]),
            ],
            calls: vec![
                call("users", "gateway", 2000),
                call("gateway", "api", 1000),
                call("gateway", "search", 1000),
                call("api", "db", 500),
                call("search", "db", 500),
            ],
        }
    }
}

fn ms_to_us(ms: u64) -> u64 {
    ms.saturating_mul(1000)
}

impl RetrySpec {
    pub fn config(&self) -> Result<RetryConfig, String> {
        if !(1.0..=100.0).contains(&self.multiplier) {
            return Err(format!("multiplier must be from 1 to 100, not {}", self.multiplier));
        }
        let c = RetryConfig {
            max_attempts: self.max_attempts,
            initial_interval_us: ms_to_us(self.wait_duration_ms),
            multiplier_permille: (self.multiplier * 1000.0).round() as u32,
            max_interval_us: ms_to_us(self.max_wait_duration_ms),
            jitter: self.jitter,
        };
        if self.max_attempts > 100 {
            return Err(format!("max_attempts must be at most 100, not {}", self.max_attempts));
        }
        c.validate()?;
        Ok(c)
    }

    pub fn budget_config(&self) -> Option<RetryBudgetConfig> {
        self.budget.as_ref().map(|b| RetryBudgetConfig {
            budget_percent: b.budget_percent,
            min_retry_concurrency: b.min_retry_concurrency,
        })
    }
}

impl BreakerSpec {
    pub fn config(&self) -> BreakerConfig {
        BreakerConfig {
            failure_rate_threshold: self.failure_rate_threshold,
            slow_call_rate_threshold: self.slow_call_rate_threshold,
            slow_call_duration_threshold_us: ms_to_us(self.slow_call_duration_threshold_ms),
            window_kind: self.sliding_window_type,
            sliding_window_size: self.sliding_window_size,
            minimum_number_of_calls: self.minimum_number_of_calls,
            wait_duration_in_open_state_us: ms_to_us(self.wait_duration_in_open_state_ms),
            permitted_number_of_calls_in_half_open_state: self.permitted_number_of_calls_in_half_open_state,
            automatic_transition_from_open_to_half_open_enabled: self
                .automatic_transition_from_open_to_half_open_enabled,
        }
    }
}

impl BulkheadSpec {
    pub fn config(&self) -> BulkheadConfig {
        BulkheadConfig {
            max_concurrent_calls: self.max_concurrent_calls,
            max_wait_us: ms_to_us(self.max_wait_duration_ms),
        }
    }
}

impl LimiterSpec {
    pub fn token(&self) -> TokenBucketConfig {
        TokenBucketConfig { capacity: self.capacity, refill_per_second: self.per_second }
    }
    pub fn leaky(&self) -> LeakyBucketConfig {
        LeakyBucketConfig { capacity: self.capacity, leak_per_second: self.per_second }
    }
    pub fn window(&self) -> SlidingWindowConfig {
        SlidingWindowConfig { limit: self.limit, window_us: ms_to_us(self.window_ms) }
    }
    fn validate(&self) -> Result<(), String> {
        match self.kind {
            LimiterKind::TokenBucket => self.token().validate(),
            LimiterKind::LeakyBucket => self.leaky().validate(),
            LimiterKind::SlidingWindow => self.window().validate(),
        }
    }
}

fn check_ms(name: &str, ms: u64) -> Result<(), String> {
    if ms > MAX_TIMING_MS {
        return Err(format!("{name} must be at most {MAX_TIMING_MS}, not {ms}"));
    }
    Ok(())
}

impl ServiceSpec {
    pub fn is_source(&self) -> bool {
        self.rate > 0
    }

    fn validate(&self) -> Result<(), String> {
        let at = |e: String| format!("service {}: {e}", self.name);
        if self.name.is_empty() || self.name.contains("->") || self.name.len() > 24 {
            return Err(format!("a service needs a name of 1 to 24 characters without \"->\", not {:?}", self.name));
        }
        if self.rate > 10_000 {
            return Err(at(format!("rate must be at most 10000 requests per second, not {}", self.rate)));
        }
        if !self.is_source() && !(1..=10_000).contains(&self.capacity) {
            return Err(at(format!("capacity must be from 1 to 10000, not {}", self.capacity)));
        }
        if self.queue > 100_000 {
            return Err(at(format!("queue must be at most 100000, not {}", self.queue)));
        }
        let [lo, hi] = self.service_ms;
        if lo > hi {
            return Err(at(format!("service_ms [{lo}, {hi}]: the first must not be above the second")));
        }
        check_ms("service_ms", hi).map_err(at)?;
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(at(format!("error_rate must be from 0 to 1, not {}", self.error_rate)));
        }
        if let Some(l) = &self.limiter {
            l.validate().map_err(|e| at(format!("limiter: {e}")))?;
        }
        Ok(())
    }
}

impl CallSpec {
    fn validate(&self) -> Result<(), String> {
        let at = |e: String| format!("call {}: {e}", self.edge());
        if let Some(t) = self.timeout_ms {
            if t == 0 {
                return Err(at("timeout_ms must be at least 1 (leave it out for no timeout)".into()));
            }
            check_ms("timeout_ms", t).map_err(at)?;
        }
        if let Some(r) = &self.retry {
            check_ms("wait_duration_ms", r.wait_duration_ms).map_err(at)?;
            check_ms("max_wait_duration_ms", r.max_wait_duration_ms).map_err(at)?;
            r.config().map_err(|e| at(format!("retry: {e}")))?;
            if let Some(b) = r.budget_config() {
                b.validate().map_err(|e| at(format!("retry budget: {e}")))?;
            }
        }
        if let Some(b) = &self.breaker {
            check_ms("wait_duration_in_open_state_ms", b.wait_duration_in_open_state_ms).map_err(at)?;
            check_ms("slow_call_duration_threshold_ms", b.slow_call_duration_threshold_ms).map_err(at)?;
            b.config().validate().map_err(|e| at(format!("breaker: {e}")))?;
        }
        if let Some(b) = &self.bulkhead {
            check_ms("max_wait_duration_ms", b.max_wait_duration_ms).map_err(at)?;
            b.config().validate().map_err(|e| at(format!("bulkhead: {e}")))?;
        }
        Ok(())
    }
}

impl ServicesParams {
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.services.iter().position(|s| s.name == name)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.services.is_empty() {
            return Err("name at least one service".into());
        }
        for (i, s) in self.services.iter().enumerate() {
            s.validate()?;
            if self.services[..i].iter().any(|o| o.name == s.name) {
                return Err(format!("two services are named {}", s.name));
            }
        }
        if !self.services.iter().any(ServiceSpec::is_source) {
            return Err(
                "no service has a rate: give the users' service (the first, usually) a rate of requests per second"
                    .into(),
            );
        }
        for (i, c) in self.calls.iter().enumerate() {
            for end in [&c.from, &c.to] {
                if self.index_of(end).is_none() {
                    let names: Vec<&str> = self.services.iter().map(|s| s.name.as_str()).collect();
                    return Err(format!(
                        "call {}: there is no service {end} (there are {})",
                        c.edge(),
                        names.join(", ")
                    ));
                }
            }
            if c.from == c.to {
                return Err(format!("call {}: a service cannot call itself", c.edge()));
            }
            if self.calls[..i].iter().any(|o| o.from == c.from && o.to == c.to) {
                return Err(format!("call {} is listed twice", c.edge()));
            }
            if self.index_of(&c.to).is_some_and(|t| self.services[t].is_source()) {
                return Err(format!("call {}: {} is a source of requests and takes no calls", c.edge(), c.to));
            }
            c.validate()?;
        }
        if let Some(cycle) = self.cycle() {
            return Err(format!("the calls go round in a circle through {cycle}: a request would never end"));
        }
        Ok(())
    }

    /// A service on a cycle of calls, if there is one.
    fn cycle(&self) -> Option<String> {
        let n = self.services.len();
        // Kahn's algorithm: whatever is never freed of incoming edges is on (or behind) a cycle.
        let mut incoming = vec![0usize; n];
        let edges: Vec<(usize, usize)> =
            self.calls.iter().filter_map(|c| Some((self.index_of(&c.from)?, self.index_of(&c.to)?))).collect();
        for &(_, t) in &edges {
            incoming[t] += 1;
        }
        let mut ready: Vec<usize> = (0..n).filter(|&i| incoming[i] == 0).collect();
        let mut seen = 0;
        while let Some(i) = ready.pop() {
            seen += 1;
            for &(f, t) in &edges {
                if f == i {
                    incoming[t] -= 1;
                    if incoming[t] == 0 {
                        ready.push(t);
                    }
                }
            }
        }
        (seen < n).then(|| {
            let stuck = (0..n).find(|&i| incoming[i] > 0).unwrap_or(0);
            self.services[stuck].name.clone()
        })
    }
}

/// The `configure` action's merge: `{"services": {"db": {...}}, "calls": {"api->db": {...}}}`.
pub fn reconfigure(current: &ServicesParams, change: &Map<String, Value>) -> Result<ServicesParams, String> {
    let mut next = current.clone();
    for (field, value) in change {
        if field != "services" && field != "calls" {
            return Err(format!("services has no parameter `{field}` to change (it has services, calls)"));
        }
        let Value::Object(items) = value else {
            return Err(format!("{field} must be an object keyed by service name or edge (\"api->db\")"));
        };
        match field.as_str() {
            "services" => {
                for (name, partial) in items {
                    let i = next.index_of(name).ok_or_else(|| {
                        let names: Vec<&str> = next.services.iter().map(|s| s.name.as_str()).collect();
                        format!("there is no service {name} (there are {})", names.join(", "))
                    })?;
                    next.services[i] = merge(&next.services[i], partial, &format!("services.{name}"))?;
                    if next.services[i].name != *name {
                        return Err(format!("services.{name}: a service cannot be renamed while it runs"));
                    }
                    if next.services[i].is_source() != current.services[i].is_source() {
                        return Err(format!(
                            "services.{name}: a source cannot become a service or the other way round while it runs (a rate of 0 would make it one)"
                        ));
                    }
                }
            }
            "calls" => {
                for (edge, partial) in items {
                    let i = next.calls.iter().position(|c| c.edge() == *edge).ok_or_else(|| {
                        let edges: Vec<String> = next.calls.iter().map(CallSpec::edge).collect();
                        format!("there is no call {edge} (there are {})", edges.join(", "))
                    })?;
                    next.calls[i] = merge(&next.calls[i], partial, &format!("calls.{edge}"))?;
                    if next.calls[i].edge() != *edge {
                        return Err(format!("calls.{edge}: from and to cannot change while it runs"));
                    }
                }
            }
            other => return Err(format!("services has no parameter `{other}` to change (it has services, calls)")),
        }
    }
    next.validate()?;
    Ok(next)
}

/// `partial`'s fields laid over `current`'s, one level deep.
fn merge<T: Serialize + serde::de::DeserializeOwned>(current: &T, partial: &Value, path: &str) -> Result<T, String> {
    let Value::Object(fields) = partial else {
        return Err(format!("{path} must be an object of fields to change"));
    };
    let Ok(Value::Object(mut merged)) = serde_json::to_value(current) else {
        return Err(format!("{path}: the current settings cannot be read"));
    };
    for (k, v) in fields {
        if !merged.contains_key(k) {
            let known: Vec<&str> = merged.keys().map(String::as_str).collect();
            return Err(format!("{path} has no field `{k}` (it has {})", known.join(", ")));
        }
        merged.insert(k.clone(), v.clone());
    }
    serde_path_to_error::deserialize(Value::Object(merged)).map_err(|e| format!("{path}.{}: {}", e.path(), e.inner()))
}
