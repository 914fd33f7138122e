//! Judging runs: the linearizability checker for the shared history format, the client-side
//! metrics (stale reads, availability, latency), and the fuzzer that drives protocols through
//! random fault schedules with invariants checked after every step.

pub mod fuzz;
pub mod leadership;
pub mod linearizability;
pub mod metrics;
pub mod txns;
