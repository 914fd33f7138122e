//! Virtual time. Nothing in the simulator reads a wall clock: time only moves when the event
//! queue says so, which is what makes a run replayable from its seed.

use serde::{Deserialize, Serialize};

/// An instant of virtual time, in microseconds since the start of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Time(pub u64);

/// A span of virtual time in microseconds.
pub type Micros = u64;

impl Time {
    pub const ZERO: Time = Time(0);

    pub fn from_ms(ms: u64) -> Time {
        Time(ms.saturating_mul(1000))
    }

    pub fn as_us(self) -> u64 {
        self.0
    }

    /// Whole milliseconds, rounded down.
    pub fn as_ms(self) -> u64 {
        self.0 / 1000
    }

    pub fn after(self, span: Micros) -> Time {
        Time(self.0.saturating_add(span))
    }

    pub fn since(self, earlier: Time) -> Micros {
        self.0.saturating_sub(earlier.0)
    }
}

impl std::fmt::Display for Time {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:03} ms", self.0 / 1000, self.0 % 1000)
    }
}
