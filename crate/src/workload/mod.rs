//! Clients and what they do: the closed-loop workload, the client actors' retry logic, and the
//! recorded history of operations.

pub mod client;
pub mod history;
pub mod op;

use crate::sim::ids::ClientId;
use crate::sim::rng::{SimRng, probability_to_ppm};
use crate::sim::time::Micros;
use op::{Op, Write};
use serde::{Deserialize, Serialize};

/// The `workload` object of a scenario. With `rate` 0 the clients only run the timeline's
/// `request` actions; the timeout and retry settings apply to those too.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// Operations per second started by each client (closed loop: never more than one in flight).
    #[serde(default)]
    pub rate: f64,
    /// How many distinct keys the generated operations touch.
    #[serde(default = "default_keys")]
    pub keys: u32,
    /// Share of generated operations that are reads, 0 to 1.
    #[serde(default = "default_read_ratio")]
    pub read_ratio: f64,
    /// How long a client waits for one attempt before trying the next node.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// How many more attempts after the first before the client gives up.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// The pause before retrying when a node had no leader to redirect to.
    #[serde(default = "default_backoff")]
    pub retry_backoff_ms: u64,
    #[serde(default)]
    pub start_ms: u64,
    /// When generated operations stop (default: the end of the scenario).
    #[serde(default)]
    pub stop_ms: Option<u64>,
    /// Which clients run the closed loop (default: all).
    #[serde(default)]
    pub clients: Option<Vec<ClientId>>,
    /// With 2 or more, every generated write is a transaction over this many distinct keys
    /// (for the atomic-commitment protocols); 0 (the default): single-key puts.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub txn_keys: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn default_keys() -> u32 {
    3
}
fn default_read_ratio() -> f64 {
    0.5
}
fn default_timeout() -> u64 {
    1000
}
fn default_retries() -> u32 {
    3
}
fn default_backoff() -> u64 {
    100
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        WorkloadSpec {
            rate: 0.0,
            keys: default_keys(),
            read_ratio: default_read_ratio(),
            timeout_ms: default_timeout(),
            retries: default_retries(),
            retry_backoff_ms: default_backoff(),
            start_ms: 0,
            stop_ms: None,
            clients: None,
            txn_keys: 0,
        }
    }
}

impl WorkloadSpec {
    pub fn validate(&self, clients: u16) -> Result<(), String> {
        if !(self.rate.is_finite() && (0.0..=10_000.0).contains(&self.rate)) {
            return Err(format!("rate must be between 0 and 10000 operations per second, not {}", self.rate));
        }
        if !(0.0..=1.0).contains(&self.read_ratio) {
            return Err(format!("read_ratio must be between 0 and 1, not {}", self.read_ratio));
        }
        if self.keys == 0 || self.keys > 10_000 {
            return Err(format!("keys must be between 1 and 10000, not {}", self.keys));
        }
        if self.timeout_ms == 0 {
            return Err("timeout_ms must be above 0".into());
        }
        if self.txn_keys == 1 || self.txn_keys > 16 || self.txn_keys > self.keys {
            return Err(format!(
                "txn_keys must be 0 (no transactions) or from 2 to 16 and at most keys ({}), not {}",
                self.keys, self.txn_keys
            ));
        }
        if self.retries > 100 {
            return Err(format!("retries must be at most 100, not {}", self.retries));
        }
        if let Some(list) = &self.clients {
            for c in list {
                if c.0 >= clients {
                    return Err(format!("client {c} does not exist (the scenario has {clients} clients)"));
                }
            }
        }
        if let Some(stop) = self.stop_ms
            && stop < self.start_ms
        {
            return Err(format!("stop_ms {stop} is before start_ms {}", self.start_ms));
        }
        Ok(())
    }
}

/// The closed-loop generator, with every float of the spec turned into integers once.
#[derive(Clone, Debug)]
pub struct Workload {
    pub interval_us: Micros,
    pub keys: u32,
    pub read_ppm: u32,
    pub start_us: u64,
    pub stop_us: u64,
    pub timeout_us: Micros,
    pub retries: u32,
    pub backoff_us: Micros,
    pub generates: bool,
    pub clients: Option<Vec<ClientId>>,
    pub txn_keys: u32,
    next_value: u64,
}

impl Workload {
    pub fn new(spec: &WorkloadSpec, duration_us: u64) -> Self {
        let generates = spec.rate > 0.0;
        let interval_us = if generates { (1_000_000.0 / spec.rate).round().max(1.0) as u64 } else { 0 };
        Workload {
            interval_us,
            keys: spec.keys,
            read_ppm: probability_to_ppm(spec.read_ratio),
            start_us: spec.start_ms.saturating_mul(1000),
            stop_us: spec.stop_ms.map_or(duration_us, |s| s.saturating_mul(1000)),
            timeout_us: spec.timeout_ms.saturating_mul(1000),
            retries: spec.retries,
            backoff_us: spec.retry_backoff_ms.saturating_mul(1000),
            generates,
            clients: spec.clients.clone(),
            txn_keys: spec.txn_keys,
            next_value: 1,
        }
    }

    /// A fresh value for a write: "1", "2", ... unique across the run, which is what makes a
    /// history checkable.
    pub fn fresh_value(&mut self) -> String {
        let v = self.next_value;
        self.next_value += 1;
        v.to_string()
    }

    pub fn next_op(&mut self, rng: &mut SimRng) -> Op {
        let key = key_name(rng.below(self.keys as u64) as u32);
        if rng.chance(self.read_ppm) {
            return Op::Get { key };
        }
        if self.txn_keys < 2 {
            return Op::Put { key, value: self.fresh_value() };
        }
        // A transaction over `txn_keys` distinct keys, in key order.
        let mut picked: Vec<u32> = Vec::new();
        while picked.len() < self.txn_keys.min(self.keys) as usize {
            let k = rng.below(self.keys as u64) as u32;
            if !picked.contains(&k) {
                picked.push(k);
            }
        }
        picked.sort_unstable();
        Op::Txn { writes: picked.into_iter().map(|k| Write { key: key_name(k), value: self.fresh_value() }).collect() }
    }
}

/// The index of a workload key (`x` → 0, `k7` → 6), `None` for any other key.
pub fn key_index(key: &str) -> Option<u32> {
    const NAMES: [&str; 6] = ["x", "y", "z", "w", "v", "u"];
    if let Some(i) = NAMES.iter().position(|n| *n == key) {
        return Some(i as u32);
    }
    let n: u32 = key.strip_prefix('k')?.parse().ok()?;
    (n >= 7 && key_name(n - 1) == key).then(|| n - 1)
}

/// Keys are x, y, z, w, v, u, then k7, k8, ...
pub fn key_name(i: u32) -> String {
    const NAMES: [&str; 6] = ["x", "y", "z", "w", "v", "u"];
    NAMES.get(i as usize).map_or_else(|| format!("k{}", i + 1), |s| s.to_string())
}
