//! Rate limiters. One instance limits one key: per client or global is the caller's choice.
//!
//! - **Token bucket**: holds up to `capacity` tokens, starts full, gains `refill_per_second`
//!   tokens a second; a request takes one token or is rejected. Bursts up to `capacity` pass,
//!   the long-run rate is the refill rate. Tokens are held in millionths so that refilling by the
//!   microsecond stays in integers (a rate of r tokens/s adds r millionths per microsecond).
//! - **Leaky bucket as a queue**: admitted requests wait in a queue of `capacity` and leave it
//!   one every `1 / leak_per_second` (rounded down to whole microseconds), a steady output
//!   whatever the input; a full queue rejects. `offer` answers when the request leaves.
//! - **Sliding-window counter**: the weighted two-window approximation described by Cloudflare
//!   ("How we built rate limiting capable of scaling to millions of domains", 2017): with fixed
//!   windows of `window_us`, the count over the last window is estimated as
//!   `previous * (window - elapsed) / window + current`, where `elapsed` is the time into the
//!   current window; a request is admitted while the estimate is below `limit`.
//!
//! Defaults (10 requests, 5 per second, 1 s window) are ours: no one source has defaults for
//! all three.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::sim::time::{Micros, Time};

/// A request refused by a limiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited;

const MILLIONTHS: u64 = 1_000_000;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenBucketConfig {
    pub capacity: u64,
    pub refill_per_second: u64,
}

impl Default for TokenBucketConfig {
    fn default() -> Self {
        TokenBucketConfig { capacity: 10, refill_per_second: 5 }
    }
}

impl TokenBucketConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.capacity == 0 || self.capacity > 1_000_000_000 {
            return Err(format!("capacity must be in 1..=1e9, not {}", self.capacity));
        }
        if self.refill_per_second > 1_000_000_000 {
            return Err(format!("refill_per_second must be at most 1e9, not {}", self.refill_per_second));
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct TokenBucket {
    config: TokenBucketConfig,
    /// Tokens in millionths.
    tokens: u64,
    refilled_at: Time,
}

impl TokenBucket {
    pub fn new(config: TokenBucketConfig) -> Result<TokenBucket, String> {
        config.validate()?;
        Ok(TokenBucket { tokens: config.capacity * MILLIONTHS, refilled_at: Time::ZERO, config })
    }

    fn refill(&mut self, now: Time) {
        if now > self.refilled_at {
            let gained = now.since(self.refilled_at).saturating_mul(self.config.refill_per_second);
            self.tokens = self.tokens.saturating_add(gained).min(self.config.capacity * MILLIONTHS);
            self.refilled_at = now;
        }
    }

    /// Whole tokens available at `now`.
    pub fn available(&mut self, now: Time) -> u64 {
        self.refill(now);
        self.tokens / MILLIONTHS
    }

    pub fn try_acquire(&mut self, now: Time) -> Result<(), Limited> {
        self.refill(now);
        if self.tokens < MILLIONTHS {
            return Err(Limited);
        }
        self.tokens -= MILLIONTHS;
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeakyBucketConfig {
    /// Requests the queue holds, the one leaving now included.
    pub capacity: u64,
    pub leak_per_second: u64,
}

impl Default for LeakyBucketConfig {
    fn default() -> Self {
        LeakyBucketConfig { capacity: 10, leak_per_second: 5 }
    }
}

impl LeakyBucketConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.capacity == 0 || self.capacity > 1_000_000 {
            return Err(format!("capacity must be in 1..=1e6, not {}", self.capacity));
        }
        if self.leak_per_second == 0 || self.leak_per_second > 1_000_000 {
            return Err(format!("leak_per_second must be in 1..=1e6, not {}", self.leak_per_second));
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct LeakyBucket {
    capacity: usize,
    interval_us: Micros,
    /// Departure times of the admitted requests not yet gone, in order.
    departures: VecDeque<Time>,
    last_departure: Option<Time>,
}

impl LeakyBucket {
    pub fn new(config: LeakyBucketConfig) -> Result<LeakyBucket, String> {
        config.validate()?;
        Ok(LeakyBucket {
            capacity: config.capacity as usize,
            interval_us: MILLIONTHS / config.leak_per_second,
            departures: VecDeque::new(),
            last_departure: None,
        })
    }

    /// Requests in the queue at `now` (the one leaving at `now` included).
    pub fn queued(&mut self, now: Time) -> usize {
        while self.departures.front().is_some_and(|t| *t < now) {
            self.departures.pop_front();
        }
        self.departures.len()
    }

    /// Offers a request at `now`: the time it leaves the queue, or `Limited` if the queue is full.
    pub fn offer(&mut self, now: Time) -> Result<Time, Limited> {
        if self.queued(now) >= self.capacity {
            return Err(Limited);
        }
        let leaves = match self.last_departure {
            Some(last) => now.max(last.after(self.interval_us)),
            None => now,
        };
        self.last_departure = Some(leaves);
        self.departures.push_back(leaves);
        Ok(leaves)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlidingWindowConfig {
    pub limit: u64,
    pub window_us: Micros,
}

impl Default for SlidingWindowConfig {
    fn default() -> Self {
        SlidingWindowConfig { limit: 10, window_us: 1_000_000 }
    }
}

impl SlidingWindowConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.limit == 0 || self.limit > 1_000_000_000 {
            return Err(format!("limit must be in 1..=1e9, not {}", self.limit));
        }
        if self.window_us == 0 || self.window_us > 1_000_000_000_000 {
            return Err(format!("window_us must be in 1..=1e12, not {}", self.window_us));
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct SlidingWindowCounter {
    config: SlidingWindowConfig,
    /// Index of the current fixed window (`now / window_us`).
    current_window: u64,
    current: u64,
    previous: u64,
}

impl SlidingWindowCounter {
    pub fn new(config: SlidingWindowConfig) -> Result<SlidingWindowCounter, String> {
        config.validate()?;
        Ok(SlidingWindowCounter { config, current_window: 0, current: 0, previous: 0 })
    }

    fn roll(&mut self, now: Time) {
        let index = now.as_us() / self.config.window_us;
        if index == self.current_window + 1 {
            self.previous = self.current;
            self.current = 0;
        } else if index > self.current_window + 1 {
            self.previous = 0;
            self.current = 0;
        }
        self.current_window = self.current_window.max(index);
    }

    /// The weighted count times `window_us` (exact, no division).
    fn scaled_estimate(&mut self, now: Time) -> u128 {
        self.roll(now);
        let w = self.config.window_us as u128;
        let elapsed = (now.as_us() % self.config.window_us) as u128;
        let elapsed = if now.as_us() / self.config.window_us < self.current_window { w } else { elapsed };
        self.previous as u128 * (w - elapsed) + self.current as u128 * w
    }

    /// The weighted count at `now`, rounded down.
    pub fn estimate(&mut self, now: Time) -> u64 {
        (self.scaled_estimate(now) / self.config.window_us as u128) as u64
    }

    pub fn try_acquire(&mut self, now: Time) -> Result<(), Limited> {
        if self.scaled_estimate(now) >= self.config.limit as u128 * self.config.window_us as u128 {
            return Err(Limited);
        }
        self.current += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000;

    fn burst(n: u32, mut admit: impl FnMut() -> bool) -> u32 {
        (0..n).filter(|_| admit()).count() as u32
    }

    #[test]
    fn token_bucket_burst_then_refill() {
        let mut b = TokenBucket::new(TokenBucketConfig { capacity: 10, refill_per_second: 5 }).unwrap();
        assert_eq!(burst(30, || b.try_acquire(Time::ZERO).is_ok()), 10);
        assert_eq!(burst(30, || b.try_acquire(Time(SEC)).is_ok()), 5);
        // 199 999 µs later: 0.999995 token, not yet one.
        assert_eq!(b.try_acquire(Time(SEC + 199_999)), Err(Limited));
        assert_eq!(b.try_acquire(Time(SEC + 200_000)), Ok(()));
        // A long idle time refills to the capacity, no more.
        assert_eq!(b.available(Time(100 * SEC)), 10);
        assert_eq!(burst(30, || b.try_acquire(Time(100 * SEC)).is_ok()), 10);
    }

    #[test]
    fn token_bucket_time_going_backwards_gains_nothing() {
        let mut b = TokenBucket::new(TokenBucketConfig { capacity: 1, refill_per_second: 1 }).unwrap();
        assert!(b.try_acquire(Time(5 * SEC)).is_ok());
        assert!(b.try_acquire(Time(SEC)).is_err());
    }

    #[test]
    fn leaky_bucket_leaves_at_a_steady_rate_and_rejects_when_full() {
        let mut b = LeakyBucket::new(LeakyBucketConfig { capacity: 4, leak_per_second: 5 }).unwrap();
        let out: Vec<_> = (0..6).map(|_| b.offer(Time::ZERO)).collect();
        let ms = |t: u64| Ok(Time(t * 1000));
        assert_eq!(out, [ms(0), ms(200), ms(400), ms(600), Err(Limited), Err(Limited)]);
        // At 250 ms two have left (0, 200): room for two more, at 800 and 1000 ms.
        assert_eq!(b.queued(Time(250_000)), 2);
        assert_eq!(b.offer(Time(250_000)), ms(800));
        assert_eq!(b.offer(Time(250_000)), ms(1000));
        assert_eq!(b.offer(Time(250_000)), Err(Limited));
        // Idle: the next request leaves at once.
        assert_eq!(b.offer(Time(5 * SEC)), Ok(Time(5 * SEC)));
    }

    #[test]
    fn sliding_window_weights_the_previous_window() {
        let mut c = SlidingWindowCounter::new(SlidingWindowConfig { limit: 10, window_us: SEC }).unwrap();
        // 8 in window 0.
        assert_eq!(burst(8, || c.try_acquire(Time(500_000)).is_ok()), 8);
        // At 1.25 s: 8 * 0.75 + 0 = 6, so 4 more admitted (6 + 4 = 10).
        assert_eq!(c.estimate(Time(1_250_000)), 6);
        assert_eq!(burst(10, || c.try_acquire(Time(1_250_000)).is_ok()), 4);
        // At 1.75 s: 8 * 0.25 + 4 = 6: 4 more.
        assert_eq!(c.estimate(Time(1_750_000)), 6);
        assert_eq!(burst(10, || c.try_acquire(Time(1_750_000)).is_ok()), 4);
        // At exactly 2 s (boundary): previous = 8 (window 1), weight 1: 8, so 2 more.
        assert_eq!(c.estimate(Time(2 * SEC)), 8);
        assert_eq!(burst(10, || c.try_acquire(Time(2 * SEC)).is_ok()), 2);
        // Two windows later nothing is remembered.
        assert_eq!(c.estimate(Time(4 * SEC)), 0);
    }

    #[test]
    fn sliding_window_rejects_at_the_limit_within_one_window() {
        let mut c = SlidingWindowCounter::new(SlidingWindowConfig::default()).unwrap();
        assert_eq!(burst(15, || c.try_acquire(Time::ZERO).is_ok()), 10);
    }

    #[test]
    fn bad_configurations_are_refused() {
        assert!(TokenBucket::new(TokenBucketConfig { capacity: 0, ..Default::default() }).is_err());
        assert!(LeakyBucket::new(LeakyBucketConfig { leak_per_second: 0, ..Default::default() }).is_err());
        assert!(SlidingWindowCounter::new(SlidingWindowConfig { window_us: 0, ..Default::default() }).is_err());
        let unknown: Result<TokenBucketConfig, _> = serde_json::from_value(serde_json::json!({"rate": 1}));
        assert!(unknown.is_err());
    }
}
