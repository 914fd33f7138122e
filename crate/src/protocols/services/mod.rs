//! # Service graph (issue 10)
//!
//! The service-graph simulation (services calling services, with timeouts, retries, circuit
//! breakers, rate limiters, bulkheads and degradation) is not written yet. For now this folder
//! holds only [`patterns`]: the fault-tolerance patterns as small pure state machines, time
//! passed in and randomness drawn from a [`crate::sim::rng::SimRng`] passed in, so that the
//! simulation can call them and every run replays from its seed.

pub mod patterns;
