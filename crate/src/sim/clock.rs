//! Each node's own clock. The engine keeps one true virtual time (`Sim::now`), which decides the
//! order of events; a node never sees it. What a node sees is its local clock: true time scaled
//! by a drift rate and shifted by an offset, the way a quartz oscillator runs fast or slow and
//! NTP steps a wall clock. Leases and failure detectors judge time by these clocks, which is how
//! time itself becomes a fault.
//!
//! A clock is kept as an anchor and a rate: at true time `anchor` it read `reading`, and since
//! then it has advanced `1 + drift` local microseconds per true microsecond. Everything is in
//! integers (drift in parts per million) so that a run is the same natively and in wasm.

use super::engine::Sim;
use super::ids::NodeId;
use super::protocol::Protocol;
use super::queue::Due;
use super::time::{Micros, Time};
use serde::{Deserialize, Serialize};

/// One million: drift is kept in parts per million of the true rate.
const PPM: i128 = 1_000_000;
/// The slowest a clock may run: a tenth of true speed (drift -0.9).
pub const MIN_DRIFT: f64 = -0.9;
/// The fastest: ten times true speed (drift 9).
pub const MAX_DRIFT: f64 = 9.0;
/// The largest offset, either way: a day.
pub const MAX_OFFSET_MS: i64 = 86_400_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    anchor: Time,
    /// The reading at `anchor`, in microseconds (may be below zero before it is clamped).
    reading: i64,
    drift_ppm: i64,
}

/// What the page and `caplab run --json` show of a node's clock.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ClockView {
    /// What the clock reads now.
    pub reading_us: u64,
    /// How far it is ahead of true time now (negative: behind).
    pub offset_us: i64,
    /// 0.2: runs 20 % fast.
    pub drift: f64,
}

/// A scenario's starting clock for one node (`"clocks": {"n2": {"offset_ms": -200, "drift": 0.3}}`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockSetting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<f64>,
}

impl ClockSetting {
    pub fn validate(&self) -> Result<(), String> {
        if let Some(d) = self.drift
            && !(d.is_finite() && (MIN_DRIFT..=MAX_DRIFT).contains(&d))
        {
            return Err(format!("drift must be from {MIN_DRIFT} to {MAX_DRIFT} (0.2 = 20 % fast), not {d}"));
        }
        if let Some(o) = self.offset_ms
            && o.abs() > MAX_OFFSET_MS
        {
            return Err(format!("offset_ms must be from -{MAX_OFFSET_MS} to {MAX_OFFSET_MS}, not {o}"));
        }
        Ok(())
    }
}

fn drift_to_ppm(drift: f64) -> i64 {
    (drift.clamp(MIN_DRIFT, MAX_DRIFT) * 1e6).round() as i64
}

impl Clock {
    fn raw(&self, now: Time) -> i64 {
        // Most clocks never drift: skip the 128-bit division (a library call natively and in
        // wasm, read for every node at every step). The same value as the general formula.
        if self.drift_ppm == 0 {
            let elapsed = now.0.saturating_sub(self.anchor.0).min(i64::MAX as u64) as i64;
            return self.reading.saturating_add(elapsed);
        }
        let elapsed = now.0.saturating_sub(self.anchor.0) as i128;
        let advanced = elapsed * (PPM + self.drift_ppm as i128) / PPM;
        (self.reading as i128 + advanced).clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }

    /// The reading at true time `now` (never below zero).
    pub fn read(&self, now: Time) -> Time {
        Time(self.raw(now).max(0) as u64)
    }

    pub fn is_true(&self) -> bool {
        *self == Clock::default()
    }

    pub fn drift(&self) -> f64 {
        self.drift_ppm as f64 / 1e6
    }

    /// How much true time passes while this clock advances `local` microseconds (rounded up,
    /// so a timer never fires before its clock says it is due).
    pub fn true_span(&self, local: Micros) -> Micros {
        if self.drift_ppm == 0 {
            return local;
        }
        let rate = PPM + self.drift_ppm as i128;
        let span = (local as i128 * PPM + rate - 1) / rate;
        span.clamp(0, u64::MAX as i128) as u64
    }

    /// How much this clock advances in `span` microseconds of true time.
    pub fn local_span(&self, span: Micros) -> Micros {
        if self.drift_ppm == 0 {
            return span;
        }
        (span as i128 * (PPM + self.drift_ppm as i128) / PPM).clamp(0, u64::MAX as i128) as u64
    }

    /// From `now` on, run at `drift`.
    pub fn set_drift(&mut self, now: Time, drift: f64) {
        self.reading = self.raw(now);
        self.anchor = now;
        self.drift_ppm = drift_to_ppm(drift);
    }

    /// Step the clock so that it reads true time plus `offset_ms` now.
    pub fn set_offset(&mut self, now: Time, offset_ms: i64) {
        self.reading = (now.0 as i64).saturating_add(offset_ms.saturating_mul(1000));
        self.anchor = now;
    }

    pub fn view(&self, now: Time) -> ClockView {
        ClockView {
            reading_us: self.read(now).0,
            offset_us: self.raw(now).saturating_sub(now.0 as i64),
            drift: self.drift(),
        }
    }
}

impl<P: Protocol> Sim<P> {
    /// A node's clock reading now.
    pub fn clock_of(&self, n: NodeId) -> Time {
        self.nodes.get(n.index()).map_or(self.now, |s| s.clock.read(self.now))
    }

    /// Every node's clock, in node order.
    pub fn clocks(&self) -> Vec<ClockView> {
        self.nodes.iter().map(|s| s.clock.view(self.now)).collect()
    }

    /// Whether any node's clock differs from true time (the page shows clocks only then).
    pub fn clocks_differ(&self) -> bool {
        self.nodes.iter().any(|s| !s.clock.is_true())
    }

    /// The `clock` action: step a node's clock and/or change its rate. A change of rate moves
    /// the node's pending timers, which were set on its own clock: each fires when the clock,
    /// now at its new rate, reaches the reading it was due at.
    pub(crate) fn set_clock(&mut self, n: NodeId, setting: ClockSetting) {
        let now = self.now;
        let Some(slot) = self.nodes.get_mut(n.index()) else { return };
        if let Some(offset) = setting.offset_ms {
            slot.clock.set_offset(now, offset);
        }
        let Some(drift) = setting.drift else { return };
        let old = slot.clock;
        slot.clock.set_drift(now, drift);
        if old.drift_ppm == slot.clock.drift_ppm {
            return;
        }
        let new = slot.clock;
        let pending: Vec<(P::Timer, Time)> = slot.timers.iter().map(|(t, (_, at))| (t.clone(), *at)).collect();
        for (timer, at) in pending {
            let left = old.local_span(at.since(now));
            let at = now.after(new.true_span(left));
            let generation = self.seq + 1;
            self.nodes[n.index()].timers.insert(timer.clone(), (generation, at));
            self.push(at, 0, Due::Timer { node: n, timer, generation });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_true_clock_reads_true_time() {
        let c = Clock::default();
        assert_eq!(c.read(Time(1_234)), Time(1_234));
        assert_eq!(c.true_span(500), 500);
    }

    #[test]
    fn a_fast_clock_runs_ahead_and_its_timers_fire_early() {
        let mut c = Clock::default();
        c.set_drift(Time(1_000_000), 0.25);
        assert_eq!(c.read(Time(1_000_000)), Time(1_000_000));
        assert_eq!(c.read(Time(2_000_000)), Time(2_250_000));
        // 1 s on a clock 25 % fast is 0.8 s of true time.
        assert_eq!(c.true_span(1_000_000), 800_000);
        assert_eq!(c.local_span(800_000), 1_000_000);
        assert!((c.drift() - 0.25).abs() < 1e-9);
    }

    #[test]
    fn a_step_shifts_the_reading_and_a_clock_behind_reads_zero_at_most() {
        let mut c = Clock::default();
        c.set_offset(Time(1_000_000), 500);
        assert_eq!(c.read(Time(1_000_000)), Time(1_500_000));
        assert_eq!(c.view(Time(2_000_000)).offset_us, 500_000);
        c.set_offset(Time(1_000_000), -5_000);
        assert_eq!(c.read(Time(2_000_000)), Time(0));
        assert_eq!(c.view(Time(2_000_000)).offset_us, -5_000_000);
    }

    #[test]
    fn a_slow_clock_rounds_timers_up() {
        let mut c = Clock::default();
        c.set_drift(Time(0), -0.5);
        assert_eq!(c.true_span(1_000), 2_000);
        assert_eq!(c.true_span(1), 2);
        assert_eq!(c.read(Time(3)), Time(1));
    }

    #[test]
    fn settings_are_checked() {
        assert!(ClockSetting { drift: Some(-1.0), offset_ms: None }.validate().is_err());
        assert!(ClockSetting { drift: Some(f64::NAN), offset_ms: None }.validate().is_err());
        assert!(ClockSetting { drift: None, offset_ms: Some(MAX_OFFSET_MS + 1) }.validate().is_err());
        assert!(ClockSetting { drift: Some(0.3), offset_ms: Some(-200) }.validate().is_ok());
    }
}
