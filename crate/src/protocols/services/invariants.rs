//! The service graph's safety properties, each the documented promise of a pattern, checked
//! after every step on the node that step touched:
//!
//! - capacity: a service never works on more requests than it has workers, nor holds more
//!   waiting than its queue (Hystrix's thread pool: `coreSize`, `maxQueueSize`);
//! - bulkhead: no more calls on an edge hold a permit than `max_concurrent_calls`
//!   (resilience4j `SemaphoreBulkhead`);
//! - open breaker: no attempt goes out while its edge's breaker is open (resilience4j
//!   `CircuitBreaker`: "the CircuitBreaker rejects calls with a CallNotPermittedException"
//!   while OPEN);
//! - retries: no call makes more attempts than its edge's `max_attempts` (resilience4j `Retry`).

use super::Services;
use super::patterns::breaker::BreakerState;
use crate::sim::protocol::{InvariantInfo, Invariants, NodeRef, Violation};
use crate::sim::time::Time;

#[derive(Clone, Debug, Default)]
pub struct ServicesInvariants;

const LIST: &[InvariantInfo] = &[
    InvariantInfo {
        name: "capacity_respected",
        source: "Hystrix thread-pool isolation (coreSize, maxQueueSize)",
        statement: "A service never has more requests in progress than its capacity, nor more waiting than its queue",
    },
    InvariantInfo {
        name: "bulkhead_respected",
        source: "resilience4j SemaphoreBulkhead (maxConcurrentCalls)",
        statement: "No more calls on an edge hold a bulkhead permit than its max_concurrent_calls, and every permit the bulkhead gave out is held by a call",
    },
    InvariantInfo {
        name: "open_breaker_blocks",
        source: "resilience4j CircuitBreaker: OPEN rejects every call",
        statement: "No attempt is sent on an edge while its circuit breaker is open",
    },
    InvariantInfo {
        name: "retries_bounded",
        source: "resilience4j Retry (maxAttempts)",
        statement: "No call makes more attempts than its edge's max_attempts",
    },
];

impl Invariants<Services> for ServicesInvariants {
    const LOCAL: bool = true;

    fn list() -> &'static [InvariantInfo] {
        LIST
    }

    fn check(&mut self, nodes: &[NodeRef<'_, Services>], _now: Time, out: &mut Vec<Violation>) {
        for r in nodes {
            let Some(s) = r.live else { continue };
            let spec = s.spec();
            let ceiling = spec.capacity.max(s.grace_running);
            if !spec.is_source() && s.running > ceiling {
                out.push(Violation {
                    invariant: "capacity_respected",
                    detail: format!(
                        "{} ({}) works on {} requests with capacity {}",
                        spec.name, r.id, s.running, spec.capacity
                    ),
                });
            }
            if s.queue.len() as u64 > u64::from(spec.queue) {
                out.push(Violation {
                    invariant: "capacity_respected",
                    detail: format!(
                        "{} ({}) holds {} waiting with a queue of {}",
                        spec.name,
                        r.id,
                        s.queue.len(),
                        spec.queue
                    ),
                });
            }
            for (i, e) in s.edges.iter().enumerate() {
                let calls = s.calls.values().filter(|c| c.edge == i);
                if let (Some(b), Some(state)) = (&e.spec.bulkhead, &e.bulkhead) {
                    let holding = calls.clone().filter(|c| c.holds_bulkhead).count();
                    if holding as u64 > u64::from(b.max_concurrent_calls) {
                        out.push(Violation {
                            invariant: "bulkhead_respected",
                            detail: format!(
                                "{} calls on {} hold a permit of a bulkhead of {}",
                                holding,
                                e.spec.edge(),
                                b.max_concurrent_calls
                            ),
                        });
                    }
                    // A permit given out must be held by a call: none leaks.
                    if state.running() as usize != holding {
                        out.push(Violation {
                            invariant: "bulkhead_respected",
                            detail: format!(
                                "the bulkhead on {} counts {} permits out, but {} calls hold one",
                                e.spec.edge(),
                                state.running(),
                                holding
                            ),
                        });
                    }
                }
                for c in calls {
                    if c.in_flight && c.breaker_at_send == Some(BreakerState::Open) {
                        out.push(Violation {
                            invariant: "open_breaker_blocks",
                            detail: format!("{} sent attempt {} while its breaker was open", e.spec.edge(), c.attempt),
                        });
                    }
                    if c.attempt > c.max_attempts {
                        out.push(Violation {
                            invariant: "retries_bounded",
                            detail: format!(
                                "a call on {} made {} attempts, more than {}",
                                e.spec.edge(),
                                c.attempt,
                                c.max_attempts
                            ),
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Each invariant has teeth: a node put by hand into the state it forbids is reported.
    use super::*;
    use crate::protocols::services::spec::{BulkheadSpec, ServicesParams};
    use crate::protocols::services::state::Call;
    use crate::sim::ids::NodeId;
    use crate::sim::protocol::{Ctx, Outbox, Protocol};
    use crate::sim::rng::SimRng;

    /// The default graph's api (n3), which calls db with a bulkhead of 1.
    fn api() -> Services {
        let mut params = ServicesParams::default();
        params.calls[3].bulkhead = Some(BulkheadSpec { max_concurrent_calls: 1, max_wait_duration_ms: 0 });
        let (mut rng, mut out) = (SimRng::new(1), Outbox::default());
        let mut ctx = Ctx { now: Time(0), clock: Time(0), id: NodeId(2), rng: &mut rng, out: &mut out };
        Services::start(NodeId(2), 5, &params, None, &mut ctx)
    }

    fn call(attempt: u32, max_attempts: u32, breaker: Option<BreakerState>, holds: bool) -> Call {
        Call {
            job: 1,
            edge: 0,
            attempt,
            began: 0,
            waiting_bulkhead: false,
            in_flight: true,
            backoff: None,
            retrying: false,
            holds_bulkhead: holds,
            breaker_at_send: breaker,
            max_attempts,
        }
    }

    fn broken(node: &Services) -> Vec<&'static str> {
        let mut out = Vec::new();
        ServicesInvariants.check(&[NodeRef::live(NodeId(2), node, Time(0))], Time(0), &mut out);
        out.iter().map(|v| v.invariant).collect()
    }

    #[test]
    fn a_fresh_node_breaks_nothing() {
        assert!(broken(&api()).is_empty());
    }

    #[test]
    fn more_work_than_workers_or_queue_is_caught() {
        let mut n = api();
        n.running = n.spec().capacity + 1;
        assert_eq!(broken(&n), ["capacity_respected"]);
        n.grace_running = n.running;
        assert!(broken(&n).is_empty(), "the workers busy when capacity was lowered may finish");
        let mut n = api();
        n.queue.extend(0..=u64::from(n.spec().queue));
        assert_eq!(broken(&n), ["capacity_respected"]);
    }

    #[test]
    fn a_full_bulkhead_an_open_breaker_and_extra_attempts_are_caught() {
        let mut n = api();
        let permit = |n: &mut Services, id| n.edges[0].bulkhead.as_mut().map(|b| b.try_enter(Time(0), id));
        permit(&mut n, 1);
        n.calls.insert(1, call(1, 3, None, true));
        assert!(broken(&n).is_empty());
        // A second holder beyond the bulkhead's one permit.
        n.calls.insert(2, call(1, 3, None, true));
        assert_eq!(broken(&n), ["bulkhead_respected", "bulkhead_respected"]);
        // A permit given out that no call holds: leaked.
        let mut n = api();
        permit(&mut n, 1);
        assert_eq!(broken(&n), ["bulkhead_respected"]);
        let mut n = api();
        n.calls.insert(1, call(1, 3, Some(BreakerState::Open), false));
        assert_eq!(broken(&n), ["open_breaker_blocks"]);
        n.calls.insert(1, call(1, 3, Some(BreakerState::HalfOpen), false));
        assert!(broken(&n).is_empty());
        n.calls.insert(1, call(4, 3, None, false));
        assert_eq!(broken(&n), ["retries_bounded"]);
    }
}
