//! # Fault-tolerance patterns, as pure state machines
//!
//! Each pattern is a small struct driven by the caller: time comes in as a [`Time`] argument,
//! randomness from a [`SimRng`] passed in, and nothing is read from a clock, so a simulation
//! replays from its seed natively and in wasm. State is held in integers (percent, permille,
//! millionths of a token, microseconds). Every configuration has `validate()`; bad input gives
//! an error, never a panic.
//!
//! | Module | Pattern | Source | Defaults |
//! |---|---|---|---|
//! | [`breaker`] | circuit breaker | resilience4j `CircuitBreaker` | failure rate 50 %, slow-call rate 100 %, slow call > 60 s, count window 100, minimum 100 calls, open 60 s, 10 half-open calls, no automatic half-open |
//! | [`retry`] | exponential back-off, jitter | resilience4j `Retry` / `IntervalFunction`; Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog 2015 | 3 attempts, 500 ms, x1.5, cap 30 s (ours), no jitter |
//! | [`retry`] | retry budget | Envoy `RetryBudget` | 20 % of requests in flight, at least 3 |
//! | [`limiter`] | token bucket, leaky bucket (queue), sliding-window counter | Cloudflare's sliding-window post (2017) | ours: 10 requests, 5 per second, 1 s window |
//! | [`bulkhead`] | semaphore bulkhead | resilience4j `SemaphoreBulkhead` | 25 concurrent calls, no wait |
//!
//! [`Time`]: crate::sim::time::Time
//! [`SimRng`]: crate::sim::rng::SimRng

pub mod breaker;
pub mod bulkhead;
pub mod limiter;
pub mod retry;
