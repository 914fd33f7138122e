//! Circuit breaker after resilience4j's `CircuitBreaker` (resilience4j.readme.io/docs/circuitbreaker).
//!
//! Three states. **Closed**: every call goes through and its outcome is recorded in a sliding
//! window, count-based (the last `sliding_window_size` calls) or time-based (the calls of the
//! last `sliding_window_size` seconds, in one-second buckets). Once the window holds at least
//! `minimum_number_of_calls` outcomes, the breaker judges two rates: if the failure rate or the
//! slow-call rate is *equal to or greater than* its threshold, it goes **Open**. A call is slow
//! when it took longer than `slow_call_duration_threshold_us`. Open: every call is rejected
//! (resilience4j's `CallNotPermittedException`) for `wait_duration_in_open_state_us`; then it goes
//! **HalfOpen**, either by itself at that instant
//! (`automatic_transition_from_open_to_half_open_enabled`) or on the first call attempted after
//! it. HalfOpen: exactly `permitted_number_of_calls_in_half_open_state` calls are let through,
//! further ones rejected; once that many have completed, the same rates are judged over them
//! alone: over a threshold -> Open again (a new wait), else -> Closed with an empty window.
//!
//! Defaults are resilience4j's documented ones (CircuitBreakerConfig table, confirmed against
//! the Apache Camel Resilience4j EIP reference): failure rate 50 %, slow-call rate 100 %,
//! slow-call duration 60 s, count-based window of 100, minimum 100 calls, open wait 60 s,
//! 10 calls in half-open, automatic transition off.
//!
//! As in resilience4j's source (`CircuitBreakerConfig.Builder#slidingWindow` and
//! `CircuitBreakerMetrics`), a count-based window never asks for more calls than it can hold:
//! its minimum is `min(minimum_number_of_calls, sliding_window_size)`; a time-based one is not
//! capped. Half-open trials are judged in a fresh count-based window of the permitted number
//! (`CircuitBreakerMetrics.forHalfOpen`).
//! Simplifications: outcomes that arrive while Open (calls let through before it opened) are
//! ignored; resilience4j's `maxWaitDurationInHalfOpenState`, ignored/recorded exception lists
//! and forced/disabled states are not modelled.

use serde::{Deserialize, Serialize};

use crate::sim::time::{Micros, Time};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    /// The last `sliding_window_size` calls.
    CountBased,
    /// The calls of the last `sliding_window_size` seconds.
    TimeBased,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Percent, 1..=100; opens at or above it. resilience4j `failureRateThreshold`, 50.
    pub failure_rate_threshold: u32,
    /// Percent, 1..=100. resilience4j `slowCallRateThreshold`, 100.
    pub slow_call_rate_threshold: u32,
    /// A call longer than this is slow. resilience4j `slowCallDurationThreshold`, 60 s.
    pub slow_call_duration_threshold_us: Micros,
    /// resilience4j `slidingWindowType`, COUNT_BASED.
    pub window_kind: WindowKind,
    /// Calls (count-based) or seconds (time-based). resilience4j `slidingWindowSize`, 100.
    pub sliding_window_size: u32,
    /// resilience4j `minimumNumberOfCalls`, 100.
    pub minimum_number_of_calls: u32,
    /// resilience4j `waitDurationInOpenState`, 60 s.
    pub wait_duration_in_open_state_us: Micros,
    /// resilience4j `permittedNumberOfCallsInHalfOpenState`, 10.
    pub permitted_number_of_calls_in_half_open_state: u32,
    /// resilience4j `automaticTransitionFromOpenToHalfOpenEnabled`, false.
    pub automatic_transition_from_open_to_half_open_enabled: bool,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_rate_threshold: 50,
            slow_call_rate_threshold: 100,
            slow_call_duration_threshold_us: 60_000_000,
            window_kind: WindowKind::CountBased,
            sliding_window_size: 100,
            minimum_number_of_calls: 100,
            wait_duration_in_open_state_us: 60_000_000,
            permitted_number_of_calls_in_half_open_state: 10,
            automatic_transition_from_open_to_half_open_enabled: false,
        }
    }
}

impl BreakerConfig {
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("failure_rate_threshold", self.failure_rate_threshold),
            ("slow_call_rate_threshold", self.slow_call_rate_threshold),
        ] {
            if !(1..=100).contains(&v) {
                return Err(format!("{name} must be a percentage in 1..=100, not {v}"));
            }
        }
        if self.sliding_window_size == 0 || self.sliding_window_size > 100_000 {
            return Err(format!("sliding_window_size must be in 1..=100000, not {}", self.sliding_window_size));
        }
        if self.minimum_number_of_calls == 0 {
            return Err("minimum_number_of_calls must be at least 1".into());
        }
        if self.permitted_number_of_calls_in_half_open_state == 0 {
            return Err("permitted_number_of_calls_in_half_open_state must be at least 1".into());
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

/// A call refused by an open breaker, or by a half-open one whose trial calls are taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub state: BreakerState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub at: Time,
    pub from: BreakerState,
    pub to: BreakerState,
}

/// Counts of recorded outcomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub calls: u64,
    pub failed: u64,
    pub slow: u64,
}

#[derive(Clone, Debug)]
enum Window {
    /// Outcomes of the last calls, oldest first: (failed, slow).
    Count { size: usize, outcomes: std::collections::VecDeque<(bool, bool)> },
    /// One bucket per second, oldest first: (epoch second, tally).
    Time { seconds: u64, buckets: std::collections::VecDeque<(u64, Tally)> },
}

impl Window {
    fn new(kind: WindowKind, size: u32) -> Window {
        match kind {
            WindowKind::CountBased => Window::Count { size: size as usize, outcomes: Default::default() },
            WindowKind::TimeBased => Window::Time { seconds: size as u64, buckets: Default::default() },
        }
    }

    fn record(&mut self, now: Time, failed: bool, slow: bool) {
        match self {
            Window::Count { size, outcomes } => {
                if outcomes.len() >= *size {
                    outcomes.pop_front();
                }
                outcomes.push_back((failed, slow));
            }
            Window::Time { buckets, .. } => {
                let second = now.as_us() / 1_000_000;
                if buckets.back().is_none_or(|(s, _)| *s != second) {
                    buckets.push_back((second, Tally::default()));
                }
                if let Some((_, t)) = buckets.back_mut() {
                    t.calls += 1;
                    t.failed += failed as u64;
                    t.slow += slow as u64;
                }
            }
        }
    }

    /// The outcomes still inside the window at `now`.
    fn tally(&mut self, now: Time) -> Tally {
        match self {
            Window::Count { outcomes, .. } => outcomes.iter().fold(Tally::default(), |t, (f, s)| Tally {
                calls: t.calls + 1,
                failed: t.failed + *f as u64,
                slow: t.slow + *s as u64,
            }),
            Window::Time { seconds, buckets } => {
                let second = now.as_us() / 1_000_000;
                while buckets.front().is_some_and(|(s, _)| s + *seconds <= second) {
                    buckets.pop_front();
                }
                buckets.iter().fold(Tally::default(), |t, (_, b)| Tally {
                    calls: t.calls + b.calls,
                    failed: t.failed + b.failed,
                    slow: t.slow + b.slow,
                })
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: BreakerState,
    window: Window,
    /// When the open state ends (valid while Open).
    open_until: Time,
    /// Trial calls let through in the current half-open state.
    half_open_permitted: u32,
    transitions: Vec<Transition>,
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> Result<CircuitBreaker, String> {
        config.validate()?;
        let window = Window::new(config.window_kind, config.sliding_window_size);
        Ok(CircuitBreaker {
            config,
            state: BreakerState::Closed,
            window,
            open_until: Time::ZERO,
            half_open_permitted: 0,
            transitions: Vec::new(),
        })
    }

    /// The state at `now`, making the automatic open -> half-open transition if it is due.
    pub fn state(&mut self, now: Time) -> BreakerState {
        if self.state == BreakerState::Open
            && self.config.automatic_transition_from_open_to_half_open_enabled
            && now >= self.open_until
        {
            // The scheduled transition happens at the end of the wait, not when it is observed.
            self.go(self.open_until, BreakerState::HalfOpen);
        }
        self.state
    }

    /// Whether a call asking at `now` would be refused because the breaker is open (the wait
    /// in the open state not over yet).
    pub fn refuses_at(&mut self, now: Time) -> bool {
        self.state(now) == BreakerState::Open && now < self.open_until
    }

    /// Every state change so far, oldest first, for a timeline.
    pub fn transitions(&self) -> &[Transition] {
        &self.transitions
    }

    /// The outcomes the current state judges (the closed window, or the half-open trials).
    pub fn tally(&mut self, now: Time) -> Tally {
        self.window.tally(now)
    }

    /// Asks to make a call at `now`.
    pub fn try_acquire(&mut self, now: Time) -> Result<(), Rejected> {
        match self.state(now) {
            BreakerState::Closed => Ok(()),
            BreakerState::Open if now >= self.open_until => {
                self.go(now, BreakerState::HalfOpen);
                self.try_acquire(now)
            }
            BreakerState::Open => Err(Rejected { state: BreakerState::Open }),
            BreakerState::HalfOpen => {
                if self.half_open_permitted < self.config.permitted_number_of_calls_in_half_open_state {
                    self.half_open_permitted += 1;
                    Ok(())
                } else {
                    Err(Rejected { state: BreakerState::HalfOpen })
                }
            }
        }
    }

    pub fn on_success(&mut self, now: Time, duration: Micros) {
        self.record(now, false, duration);
    }

    pub fn on_error(&mut self, now: Time, duration: Micros) {
        self.record(now, true, duration);
    }

    fn record(&mut self, now: Time, failed: bool, duration: Micros) {
        let slow = duration > self.config.slow_call_duration_threshold_us;
        let minimum = match self.state(now) {
            BreakerState::Open => return,
            BreakerState::Closed => match self.config.window_kind {
                WindowKind::CountBased => self.config.minimum_number_of_calls.min(self.config.sliding_window_size),
                WindowKind::TimeBased => self.config.minimum_number_of_calls,
            },
            BreakerState::HalfOpen => self.config.permitted_number_of_calls_in_half_open_state,
        };
        self.window.record(now, failed, slow);
        let t = self.window.tally(now);
        if t.calls < minimum as u64 {
            return;
        }
        let over = |count: u64, threshold: u32| count * 100 >= threshold as u64 * t.calls;
        let tripped =
            over(t.failed, self.config.failure_rate_threshold) || over(t.slow, self.config.slow_call_rate_threshold);
        match (self.state, tripped) {
            (_, true) => self.go(now, BreakerState::Open),
            (BreakerState::HalfOpen, false) => self.go(now, BreakerState::Closed),
            _ => {}
        }
    }

    fn go(&mut self, at: Time, to: BreakerState) {
        self.transitions.push(Transition { at, from: self.state, to });
        self.state = to;
        match to {
            BreakerState::Open => self.open_until = at.after(self.config.wait_duration_in_open_state_us),
            BreakerState::HalfOpen => {
                self.half_open_permitted = 0;
                self.window =
                    Window::new(WindowKind::CountBased, self.config.permitted_number_of_calls_in_half_open_state);
            }
            BreakerState::Closed => {
                self.window = Window::new(self.config.window_kind, self.config.sliding_window_size);
            }
        }
    }
}

#[cfg(test)]
#[path = "breaker_tests.rs"]
mod tests;
