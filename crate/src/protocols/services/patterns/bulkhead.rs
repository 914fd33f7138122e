//! Semaphore bulkhead after resilience4j's `SemaphoreBulkhead` (resilience4j.readme.io/docs/bulkhead).
//!
//! At most `max_concurrent_calls` calls run at once (default 25). A call that finds them all
//! taken waits up to `max_wait_us` for one to finish (default 0: rejected at once, resilience4j's
//! `BulkheadFullException`). Waiters are served first come, first served (a fair semaphore);
//! a waiter whose wait runs out is rejected. The caller names each call by an id of its own, and
//! learns from [`Bulkhead::release`] which waiter got the freed permit, and from
//! [`Bulkhead::expire`] which waiters gave up.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::sim::time::{Micros, Time};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BulkheadConfig {
    /// resilience4j `maxConcurrentCalls`, 25.
    pub max_concurrent_calls: u32,
    /// resilience4j `maxWaitDuration`, 0.
    pub max_wait_us: Micros,
}

impl Default for BulkheadConfig {
    fn default() -> Self {
        BulkheadConfig { max_concurrent_calls: 25, max_wait_us: 0 }
    }
}

impl BulkheadConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.max_concurrent_calls == 0 {
            return Err("max_concurrent_calls must be at least 1".into());
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Runs now; call `release` when it completes.
    Admitted,
    /// Waits until `release` hands it a permit or `expire` at its deadline gives it up.
    Queued { deadline: Time },
    /// The bulkhead is full and the call may not wait.
    Rejected,
}

#[derive(Clone, Debug)]
pub struct Bulkhead {
    config: BulkheadConfig,
    running: u32,
    /// Waiting calls, oldest first: (id, deadline).
    waiting: VecDeque<(u64, Time)>,
}

impl Bulkhead {
    pub fn new(config: BulkheadConfig) -> Result<Bulkhead, String> {
        config.validate()?;
        Ok(Bulkhead { config, running: 0, waiting: VecDeque::new() })
    }

    pub fn running(&self) -> u32 {
        self.running
    }

    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// A waiter gives up (its caller's own deadline, or a restart): it leaves the queue.
    pub fn cancel(&mut self, id: u64) {
        self.waiting.retain(|(w, _)| *w != id);
    }

    pub fn try_enter(&mut self, now: Time, id: u64) -> Admission {
        self.expire(now);
        if self.running < self.config.max_concurrent_calls && self.waiting.is_empty() {
            self.running += 1;
            Admission::Admitted
        } else if self.config.max_wait_us > 0 {
            let deadline = now.after(self.config.max_wait_us);
            self.waiting.push_back((id, deadline));
            Admission::Queued { deadline }
        } else {
            Admission::Rejected
        }
    }

    /// A running call completed at `now`: its permit goes to the oldest waiter still within its
    /// deadline, whose id is returned (that call now runs).
    pub fn release(&mut self, now: Time) -> Option<u64> {
        self.running = self.running.saturating_sub(1);
        self.expire(now);
        let (id, _) = self.waiting.pop_front()?;
        self.running += 1;
        Some(id)
    }

    /// Removes the waiters whose deadline is before `now` and returns their ids, oldest first.
    pub fn expire(&mut self, now: Time) -> Vec<u64> {
        let mut gone = Vec::new();
        self.waiting.retain(|(id, deadline)| {
            let keep = *deadline >= now;
            if !keep {
                gone.push(*id);
            }
            keep
        });
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_resilience4js() {
        let c = BulkheadConfig::default();
        assert_eq!((c.max_concurrent_calls, c.max_wait_us), (25, 0));
        assert!(Bulkhead::new(BulkheadConfig { max_concurrent_calls: 0, max_wait_us: 0 }).is_err());
    }

    #[test]
    fn the_call_past_the_limit_is_rejected_without_wait_and_admitted_after_release() {
        let mut b = Bulkhead::new(BulkheadConfig { max_concurrent_calls: 3, max_wait_us: 0 }).unwrap();
        for id in 0..3 {
            assert_eq!(b.try_enter(Time::ZERO, id), Admission::Admitted);
        }
        assert_eq!(b.try_enter(Time::ZERO, 3), Admission::Rejected);
        assert_eq!(b.running(), 3);
        assert_eq!(b.release(Time(10)), None);
        assert_eq!(b.running(), 2);
        assert_eq!(b.try_enter(Time(10), 4), Admission::Admitted);
    }

    #[test]
    fn the_call_past_the_limit_waits_and_gets_the_freed_permit_in_order() {
        let mut b = Bulkhead::new(BulkheadConfig { max_concurrent_calls: 2, max_wait_us: 100 }).unwrap();
        b.try_enter(Time::ZERO, 0);
        b.try_enter(Time::ZERO, 1);
        assert_eq!(b.try_enter(Time(5), 2), Admission::Queued { deadline: Time(105) });
        assert_eq!(b.try_enter(Time(6), 3), Admission::Queued { deadline: Time(106) });
        assert_eq!(b.release(Time(50)), Some(2));
        assert_eq!(b.running(), 2);
        assert_eq!(b.release(Time(106)), Some(3), "a deadline is inclusive");
        assert_eq!(b.waiting(), 0);
    }

    #[test]
    fn a_waiter_past_its_deadline_is_rejected_and_skipped() {
        let mut b = Bulkhead::new(BulkheadConfig { max_concurrent_calls: 1, max_wait_us: 100 }).unwrap();
        b.try_enter(Time::ZERO, 0);
        b.try_enter(Time::ZERO, 1);
        b.try_enter(Time(50), 2);
        assert_eq!(b.expire(Time(101)), vec![1]);
        assert_eq!(b.release(Time(120)), Some(2));
        assert_eq!(b.release(Time(200)), None);
        assert_eq!(b.running(), 0);
    }

    #[test]
    fn a_newcomer_does_not_overtake_waiters() {
        let mut b = Bulkhead::new(BulkheadConfig { max_concurrent_calls: 1, max_wait_us: 100 }).unwrap();
        b.try_enter(Time::ZERO, 0);
        b.try_enter(Time::ZERO, 1);
        assert!(matches!(b.try_enter(Time(1), 2), Admission::Queued { .. }));
    }
}
