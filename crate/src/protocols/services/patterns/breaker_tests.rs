//! Every transition of resilience4j's CircuitBreaker state machine, with exact numbers.

use super::*;

const SEC: u64 = 1_000_000;

fn small() -> BreakerConfig {
    BreakerConfig {
        sliding_window_size: 10,
        minimum_number_of_calls: 10,
        wait_duration_in_open_state_us: 5 * SEC,
        permitted_number_of_calls_in_half_open_state: 3,
        slow_call_duration_threshold_us: SEC,
        ..BreakerConfig::default()
    }
}

fn call(b: &mut CircuitBreaker, now: Time, ok: bool, duration: Micros) -> Result<(), Rejected> {
    b.try_acquire(now)?;
    if ok {
        b.on_success(now, duration)
    } else {
        b.on_error(now, duration)
    }
    Ok(())
}

/// Opens the breaker at t = 0 with 5 failures and 5 successes (rate 50 % = threshold).
fn opened(config: BreakerConfig) -> CircuitBreaker {
    let mut b = CircuitBreaker::new(config).unwrap();
    for i in 0..10 {
        call(&mut b, Time::ZERO, i % 2 == 0, 0).unwrap();
    }
    assert_eq!(b.state(Time::ZERO), BreakerState::Open);
    b
}

#[test]
fn defaults_are_resilience4js() {
    let c = BreakerConfig::default();
    assert_eq!(c.failure_rate_threshold, 50);
    assert_eq!(c.slow_call_rate_threshold, 100);
    assert_eq!(c.slow_call_duration_threshold_us, 60 * SEC);
    assert_eq!(c.window_kind, WindowKind::CountBased);
    assert_eq!(c.sliding_window_size, 100);
    assert_eq!(c.minimum_number_of_calls, 100);
    assert_eq!(c.wait_duration_in_open_state_us, 60 * SEC);
    assert_eq!(c.permitted_number_of_calls_in_half_open_state, 10);
    assert!(!c.automatic_transition_from_open_to_half_open_enabled);
    assert!(c.validate().is_ok());
}

#[test]
fn bad_configurations_are_refused() {
    for bad in [
        BreakerConfig { failure_rate_threshold: 0, ..small() },
        BreakerConfig { slow_call_rate_threshold: 101, ..small() },
        BreakerConfig { sliding_window_size: 0, ..small() },
        BreakerConfig { minimum_number_of_calls: 0, ..small() },
        BreakerConfig { permitted_number_of_calls_in_half_open_state: 0, ..small() },
    ] {
        assert!(CircuitBreaker::new(bad).is_err());
    }
    let unknown: Result<BreakerConfig, _> = serde_json::from_value(serde_json::json!({"nope": 1}));
    assert!(unknown.is_err());
}

#[test]
fn closed_opens_when_failure_rate_reaches_threshold() {
    let b = opened(small());
    assert_eq!(b.transitions(), &[Transition { at: Time::ZERO, from: BreakerState::Closed, to: BreakerState::Open }]);
}

#[test]
fn closed_stays_closed_below_failure_threshold() {
    let mut b = CircuitBreaker::new(small()).unwrap();
    // 4 failures in 10: 40 % < 50 %.
    for i in 0..10 {
        call(&mut b, Time::ZERO, i >= 4, 0).unwrap();
    }
    assert_eq!(b.state(Time::ZERO), BreakerState::Closed);
    assert_eq!(b.tally(Time::ZERO), Tally { calls: 10, failed: 4, slow: 0 });
}

#[test]
fn rate_is_not_judged_before_minimum_number_of_calls() {
    let mut b = CircuitBreaker::new(small()).unwrap();
    for _ in 0..9 {
        call(&mut b, Time::ZERO, false, 0).unwrap();
    }
    // 9 of 9 failed, but the minimum is 10.
    assert_eq!(b.state(Time::ZERO), BreakerState::Closed);
    call(&mut b, Time::ZERO, false, 0).unwrap();
    assert_eq!(b.state(Time::ZERO), BreakerState::Open);
}

#[test]
fn count_based_minimum_is_capped_by_window_size() {
    // resilience4j: a count-based window of 5 cannot wait for 100 calls.
    let mut b =
        CircuitBreaker::new(BreakerConfig { sliding_window_size: 5, minimum_number_of_calls: 100, ..small() }).unwrap();
    for _ in 0..5 {
        call(&mut b, Time::ZERO, false, 0).unwrap();
    }
    assert_eq!(b.state(Time::ZERO), BreakerState::Open);
}

#[test]
fn closed_opens_on_slow_call_rate() {
    let mut b = CircuitBreaker::new(BreakerConfig { slow_call_rate_threshold: 60, ..small() }).unwrap();
    // All succeed; 6 of 10 take longer than 1 s (exactly 1 s is not slow).
    for i in 0..10 {
        let duration = if i < 6 { SEC + 1 } else { SEC };
        call(&mut b, Time::ZERO, true, duration).unwrap();
    }
    assert_eq!(b.state(Time::ZERO), BreakerState::Open);
    assert_eq!(b.tally(Time::ZERO), Tally { calls: 10, failed: 0, slow: 6 });
    // 5 slow of 10 (50 % < 60 %) keeps it closed.
    let mut c = CircuitBreaker::new(BreakerConfig { slow_call_rate_threshold: 60, ..small() }).unwrap();
    for i in 0..10 {
        call(&mut c, Time::ZERO, true, if i < 5 { SEC + 1 } else { 0 }).unwrap();
    }
    assert_eq!(c.state(Time::ZERO), BreakerState::Closed);
}

#[test]
fn open_rejects_until_the_wait_is_over_then_half_open_on_next_call() {
    let mut b = opened(small());
    assert_eq!(b.try_acquire(Time(5 * SEC - 1)), Err(Rejected { state: BreakerState::Open }));
    assert_eq!(b.state(Time(5 * SEC)), BreakerState::Open, "no automatic transition");
    assert_eq!(b.try_acquire(Time(7 * SEC)), Ok(()));
    assert_eq!(b.state(Time(7 * SEC)), BreakerState::HalfOpen);
    assert_eq!(
        b.transitions()[1],
        Transition { at: Time(7 * SEC), from: BreakerState::Open, to: BreakerState::HalfOpen }
    );
}

#[test]
fn open_goes_half_open_by_itself_at_the_end_of_the_wait_when_automatic() {
    let mut b = opened(BreakerConfig { automatic_transition_from_open_to_half_open_enabled: true, ..small() });
    assert_eq!(b.state(Time(5 * SEC - 1)), BreakerState::Open);
    assert_eq!(b.state(Time(9 * SEC)), BreakerState::HalfOpen);
    // Stamped at the end of the wait, not when observed.
    assert_eq!(
        b.transitions()[1],
        Transition { at: Time(5 * SEC), from: BreakerState::Open, to: BreakerState::HalfOpen }
    );
}

#[test]
fn half_open_permits_exactly_n_calls_then_rejects() {
    let mut b = opened(small());
    let t = Time(5 * SEC);
    for _ in 0..3 {
        assert_eq!(b.try_acquire(t), Ok(()));
    }
    assert_eq!(b.try_acquire(t), Err(Rejected { state: BreakerState::HalfOpen }));
    assert_eq!(b.state(t), BreakerState::HalfOpen);
}

#[test]
fn half_open_closes_when_trials_are_under_threshold() {
    let mut b = opened(small());
    let t = Time(5 * SEC);
    for _ in 0..3 {
        b.try_acquire(t).unwrap();
    }
    b.on_error(t, 0);
    b.on_success(t, 0);
    assert_eq!(b.state(t), BreakerState::HalfOpen, "judged only once all 3 completed");
    b.on_success(t, 0); // 1 of 3 = 33 % < 50 %
    assert_eq!(b.state(t), BreakerState::Closed);
    assert_eq!(b.tally(t), Tally::default(), "closed starts with an empty window");
    let to: Vec<_> = b.transitions().iter().map(|x| x.to).collect();
    assert_eq!(to, [BreakerState::Open, BreakerState::HalfOpen, BreakerState::Closed]);
}

#[test]
fn half_open_reopens_when_trials_reach_threshold_and_waits_again() {
    let mut b = opened(small());
    let t = Time(6 * SEC);
    for _ in 0..3 {
        b.try_acquire(t).unwrap();
    }
    b.on_error(t, 0);
    b.on_error(t, 0);
    b.on_success(t, 0); // 2 of 3 = 67 % >= 50 %
    assert_eq!(b.state(t), BreakerState::Open);
    assert!(b.try_acquire(Time(11 * SEC - 1)).is_err());
    assert!(b.try_acquire(Time(11 * SEC)).is_ok());
}

#[test]
fn count_based_window_drops_the_oldest_outcome() {
    let mut b = CircuitBreaker::new(small()).unwrap();
    for _ in 0..4 {
        call(&mut b, Time::ZERO, false, 0).unwrap();
    }
    for _ in 0..16 {
        call(&mut b, Time::ZERO, true, 0).unwrap();
    }
    // The 4 failures were pushed out by the last 10 successes.
    assert_eq!(b.tally(Time::ZERO), Tally { calls: 10, failed: 0, slow: 0 });
    assert_eq!(b.state(Time::ZERO), BreakerState::Closed);
}

#[test]
fn time_based_window_drops_outcomes_older_than_its_seconds() {
    let config = BreakerConfig { window_kind: WindowKind::TimeBased, sliding_window_size: 10, ..small() };
    let mut b = CircuitBreaker::new(config).unwrap();
    // 4 failures in second 0 and 5 successes in second 9: 9 calls, below the minimum of 10.
    for _ in 0..4 {
        call(&mut b, Time(SEC / 2), false, 0).unwrap();
    }
    for _ in 0..5 {
        call(&mut b, Time(9 * SEC), true, 0).unwrap();
    }
    assert_eq!(b.tally(Time(9 * SEC)), Tally { calls: 9, failed: 4, slow: 0 });
    // At 10 s, second 0 has left the 10-second window.
    assert_eq!(b.tally(Time(10 * SEC)), Tally { calls: 5, failed: 0, slow: 0 });
    for _ in 0..5 {
        call(&mut b, Time(10 * SEC), false, 0).unwrap();
    }
    // 10 calls in window (5 ok at 9 s, 5 failed at 10 s): 50 % -> open.
    assert_eq!(b.state(Time(10 * SEC)), BreakerState::Open);
}

#[test]
fn time_based_minimum_is_not_capped() {
    let config = BreakerConfig {
        window_kind: WindowKind::TimeBased,
        sliding_window_size: 2,
        minimum_number_of_calls: 20,
        ..small()
    };
    let mut b = CircuitBreaker::new(config).unwrap();
    for _ in 0..19 {
        call(&mut b, Time::ZERO, false, 0).unwrap();
    }
    assert_eq!(b.state(Time::ZERO), BreakerState::Closed);
    call(&mut b, Time::ZERO, false, 0).unwrap();
    assert_eq!(b.state(Time::ZERO), BreakerState::Open);
}

#[test]
fn outcomes_arriving_while_open_are_ignored() {
    let mut b = opened(small());
    b.on_success(Time(SEC), 0);
    b.on_error(Time(SEC), 0);
    assert_eq!(b.state(Time(SEC)), BreakerState::Open);
    assert_eq!(b.transitions().len(), 1);
}
