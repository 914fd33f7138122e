//! Retries: exponential back-off with jitter, and a retry budget.
//!
//! **Back-off.** The n-th retry (n = 0 for the first) waits `min(cap, initial * multiplier^n)`,
//! then jitter spreads the waits of clients that failed together, in the four kinds of Marc
//! Brooker's "Exponential Backoff And Jitter" (AWS Architecture Blog, 2015), with
//! `expo = min(cap, base * multiplier^n)`:
//! - `None`: `sleep = expo`;
//! - `Full`: `sleep = random_between(0, expo)`;
//! - `Equal`: `sleep = expo/2 + random_between(0, expo/2)`;
//! - `Decorrelated`: `sleep = min(cap, random_between(base, previous_sleep * 3))`, starting
//!   from `previous_sleep = base` (the multiplier is not used).
//!
//! `random_between` is uniform over whole microseconds, inclusive, from the run's `SimRng`.
//! `max_attempts` counts the first call, as resilience4j's `maxAttempts` does (default 3); the
//! first interval is resilience4j's `waitDuration` default, 500 ms, and the multiplier its
//! `IntervalFunction.DEFAULT_MULTIPLIER`, 1.5. The cap (30 s) is ours: resilience4j's is
//! unbounded by default. Jitter defaults to `None`, resilience4j's default; the blog post
//! recommends `Full` or `Decorrelated`.
//!
//! **Retry budget**, after Envoy's `retry_budget` (config.cluster.v3.CircuitBreakers.Thresholds
//! .RetryBudget): the retries in flight may not exceed `budget_percent` of the requests in flight
//! (Envoy: active plus pending requests; default 20 %), but are always allowed up to
//! `min_retry_concurrency` (default 3). A retry in flight is itself a request in flight.

use serde::{Deserialize, Serialize};

use crate::sim::rng::SimRng;
use crate::sim::time::Micros;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    None,
    Full,
    Equal,
    Decorrelated,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts including the first call. resilience4j `maxAttempts`, 3.
    pub max_attempts: u32,
    /// The first wait. resilience4j `waitDuration`, 500 ms.
    pub initial_interval_us: Micros,
    /// Growth per retry, in thousandths (1500 = x1.5, resilience4j's default multiplier).
    pub multiplier_permille: u32,
    /// No wait is longer. 30 s (ours).
    pub max_interval_us: Micros,
    pub jitter: Jitter,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 3,
            initial_interval_us: 500_000,
            multiplier_permille: 1500,
            max_interval_us: 30_000_000,
            jitter: Jitter::None,
        }
    }
}

impl RetryConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.max_attempts == 0 {
            return Err("max_attempts must be at least 1 (the first call)".into());
        }
        if self.multiplier_permille < 1000 {
            return Err(format!("multiplier_permille must be at least 1000 (x1), not {}", self.multiplier_permille));
        }
        if self.max_interval_us < self.initial_interval_us {
            return Err("max_interval_us must not be below initial_interval_us".into());
        }
        Ok(())
    }
}

/// The back-off of one request: asks, after each failed attempt, how long to wait.
#[derive(Clone, Debug)]
pub struct Backoff {
    config: RetryConfig,
    /// Attempts made so far (the first call included).
    attempts: u32,
    /// The un-jittered interval of the next retry.
    expo: Micros,
    /// Decorrelated jitter's previous sleep.
    previous_sleep: Micros,
}

impl Backoff {
    pub fn new(config: RetryConfig) -> Result<Backoff, String> {
        config.validate()?;
        Ok(Backoff {
            expo: config.initial_interval_us,
            previous_sleep: config.initial_interval_us,
            attempts: 1,
            config,
        })
    }

    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// After a failed attempt: the wait before the next one, or `None` when the attempts are spent.
    pub fn next_delay(&mut self, rng: &mut SimRng) -> Option<Micros> {
        if self.attempts >= self.config.max_attempts {
            return None;
        }
        self.attempts += 1;
        let cap = self.config.max_interval_us;
        let base = self.config.initial_interval_us;
        let expo = self.expo.min(cap);
        let grown = (expo as u128 * self.config.multiplier_permille as u128 / 1000).min(cap as u128);
        self.expo = grown as Micros;
        Some(match self.config.jitter {
            Jitter::None => expo,
            Jitter::Full => rng.between(0, expo),
            Jitter::Equal => expo / 2 + rng.between(0, expo / 2),
            Jitter::Decorrelated => {
                let sleep = rng.between(base, self.previous_sleep.saturating_mul(3)).min(cap);
                self.previous_sleep = sleep;
                sleep
            }
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryBudgetConfig {
    /// Percent of requests in flight that may be retries. Envoy `budget_percent`, 20.
    pub budget_percent: u32,
    /// Retries always allowed in flight. Envoy `min_retry_concurrency`, 3.
    pub min_retry_concurrency: u32,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        RetryBudgetConfig { budget_percent: 20, min_retry_concurrency: 3 }
    }
}

impl RetryBudgetConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.budget_percent > 100 {
            return Err(format!("budget_percent must be in 0..=100, not {}", self.budget_percent));
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetExhausted {
    pub active_retries: u64,
    pub allowed: u64,
}

/// Counts requests and retries in flight to one upstream.
#[derive(Clone, Debug)]
pub struct RetryBudget {
    config: RetryBudgetConfig,
    active_requests: u64,
    active_retries: u64,
}

impl RetryBudget {
    pub fn new(config: RetryBudgetConfig) -> Result<RetryBudget, String> {
        config.validate()?;
        Ok(RetryBudget { config, active_requests: 0, active_retries: 0 })
    }

    /// Retries allowed in flight now.
    pub fn allowed(&self) -> u64 {
        (self.active_requests * self.config.budget_percent as u64 / 100).max(self.config.min_retry_concurrency as u64)
    }

    pub fn active_retries(&self) -> u64 {
        self.active_retries
    }

    pub fn on_request_start(&mut self) {
        self.active_requests += 1;
    }

    pub fn on_request_end(&mut self) {
        self.active_requests = self.active_requests.saturating_sub(1);
    }

    /// Asks to send a retry; if allowed it is counted in flight until `on_retry_end`.
    pub fn try_retry(&mut self) -> Result<(), BudgetExhausted> {
        let allowed = self.allowed();
        if self.active_retries >= allowed {
            return Err(BudgetExhausted { active_retries: self.active_retries, allowed });
        }
        self.active_retries += 1;
        self.active_requests += 1;
        Ok(())
    }

    pub fn on_retry_end(&mut self) {
        self.active_retries = self.active_retries.saturating_sub(1);
        self.active_requests = self.active_requests.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1000;

    fn delays(config: RetryConfig, seed: u64) -> Vec<Micros> {
        let mut b = Backoff::new(config).unwrap();
        let mut rng = SimRng::new(seed);
        std::iter::from_fn(|| b.next_delay(&mut rng)).collect()
    }

    fn config(jitter: Jitter) -> RetryConfig {
        RetryConfig {
            max_attempts: 8,
            initial_interval_us: 100 * MS,
            multiplier_permille: 2000,
            max_interval_us: 1000 * MS,
            jitter,
        }
    }

    #[test]
    fn defaults_are_resilience4js_and_envoys() {
        let c = RetryConfig::default();
        assert_eq!((c.max_attempts, c.initial_interval_us, c.multiplier_permille), (3, 500 * MS, 1500));
        assert_eq!(c.jitter, Jitter::None);
        // Default: 2 retries after 500 ms and 750 ms.
        assert_eq!(delays(c, 1), [500 * MS, 750 * MS]);
        let b = RetryBudgetConfig::default();
        assert_eq!((b.budget_percent, b.min_retry_concurrency), (20, 3));
    }

    #[test]
    fn exponential_sequence_without_jitter_is_capped() {
        // 100, 200, 400, 800, then the 1000 ms cap; 8 attempts = 7 retries.
        let d: Vec<_> = delays(config(Jitter::None), 1).iter().map(|d| d / MS).collect();
        assert_eq!(d, [100, 200, 400, 800, 1000, 1000, 1000]);
    }

    #[test]
    fn max_attempts_counts_the_first_call() {
        let mut b = Backoff::new(RetryConfig { max_attempts: 1, ..RetryConfig::default() }).unwrap();
        assert_eq!(b.next_delay(&mut SimRng::new(1)), None);
        assert_eq!(delays(RetryConfig { max_attempts: 4, ..config(Jitter::Full) }, 3).len(), 3);
        assert_eq!(b.attempts(), 1);
    }

    #[test]
    fn bad_configurations_are_refused() {
        assert!(Backoff::new(RetryConfig { max_attempts: 0, ..RetryConfig::default() }).is_err());
        assert!(Backoff::new(RetryConfig { multiplier_permille: 999, ..RetryConfig::default() }).is_err());
        assert!(Backoff::new(RetryConfig { max_interval_us: 1, ..RetryConfig::default() }).is_err());
        assert!(RetryBudget::new(RetryBudgetConfig { budget_percent: 101, ..Default::default() }).is_err());
    }

    /// Each jitter kind within its documented range over many seeds; the un-jittered
    /// sequence is 100, 200, 400, 800, 1000, 1000, 1000 ms.
    #[test]
    fn each_jitter_kind_stays_in_its_range() {
        let expo = [100, 200, 400, 800, 1000, 1000, 1000].map(|x| x * MS);
        for seed in 0..500 {
            for (i, d) in delays(config(Jitter::Full), seed).iter().enumerate() {
                assert!(*d <= expo[i], "full, seed {seed}, retry {i}: {d}");
            }
            for (i, d) in delays(config(Jitter::Equal), seed).iter().enumerate() {
                assert!(*d >= expo[i] / 2 && *d <= expo[i], "equal, seed {seed}, retry {i}: {d}");
            }
            let mut previous = 100 * MS;
            for (i, d) in delays(config(Jitter::Decorrelated), seed).iter().enumerate() {
                assert!(*d >= 100 * MS && *d <= (previous * 3).min(1000 * MS), "decorrelated, seed {seed}, retry {i}");
                previous = *d;
            }
        }
    }

    #[test]
    fn jitter_covers_its_range() {
        // Full jitter over the first retry (0..=100 ms) reaches both the bottom and top tenth.
        let firsts: Vec<_> = (0..500).map(|s| delays(config(Jitter::Full), s)[0]).collect();
        assert!(firsts.iter().any(|d| *d < 10 * MS) && firsts.iter().any(|d| *d > 90 * MS));
    }

    #[test]
    fn jitter_is_deterministic_for_a_seed() {
        for j in [Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
            assert_eq!(delays(config(j), 42), delays(config(j), 42));
            assert_ne!(delays(config(j), 42), delays(config(j), 43), "{j:?}");
        }
    }

    #[test]
    fn budget_allows_min_retry_concurrency_when_idle() {
        let mut b = RetryBudget::new(RetryBudgetConfig::default()).unwrap();
        b.on_request_start();
        for _ in 0..3 {
            assert!(b.try_retry().is_ok());
        }
        assert_eq!(b.try_retry(), Err(BudgetExhausted { active_retries: 3, allowed: 3 }));
        b.on_retry_end();
        assert!(b.try_retry().is_ok());
    }

    #[test]
    fn budget_scales_with_requests_in_flight() {
        let mut b = RetryBudget::new(RetryBudgetConfig::default()).unwrap();
        for _ in 0..50 {
            b.on_request_start();
        }
        // 20 % of 50 = 10; each retry is itself in flight, so 20 % of 50 + k grows slowly:
        // 10 retries make 60 in flight, allowing 12; then 62 -> 12: 12 retries in all.
        let mut granted = 0;
        while b.try_retry().is_ok() {
            granted += 1;
        }
        assert_eq!(granted, 12);
        assert_eq!(b.active_retries(), 12);
        for _ in 0..50 {
            b.on_request_end();
        }
        // 12 retries left in flight: 20 % of 12 = 2 < 3, so min 3, which 12 exceeds.
        assert_eq!(b.allowed(), 3);
        assert!(b.try_retry().is_err());
    }
}
