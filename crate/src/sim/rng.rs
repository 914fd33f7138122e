//! The one source of randomness in a run. ChaCha8 is a named, portable algorithm: the same
//! seed gives the same stream natively and in wasm. Every helper here samples with integer
//! arithmetic on `u64` (never `usize`, never floating point), so results do not depend on the
//! platform's word size or float rounding.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

#[derive(Clone, Debug)]
pub struct SimRng {
    inner: ChaCha8Rng,
}

/// Probabilities are held as parts per million so that sampling stays in integers.
pub const PPM: u32 = 1_000_000;

impl SimRng {
    pub fn new(seed: u64) -> Self {
        SimRng { inner: ChaCha8Rng::seed_from_u64(seed) }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in `0..n` (returns 0 when `n` is 0), unbiased by rejection.
    pub fn below(&mut self, n: u64) -> u64 {
        if n <= 1 {
            return 0;
        }
        // Largest multiple of n that fits; values at or above it would bias the modulo.
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }

    /// Uniform in `lo..=hi`; if `hi < lo` the bounds are swapped.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        let (lo, hi) = if hi < lo { (hi, lo) } else { (lo, hi) };
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `ppm / 1_000_000`.
    pub fn chance(&mut self, ppm: u32) -> bool {
        if ppm == 0 {
            return false;
        }
        if ppm >= PPM {
            return true;
        }
        self.below(PPM as u64) < ppm as u64
    }

    /// An index into a slice of length `len`.
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }
}

/// Converts a probability given as a float in a scenario file into parts per million, once,
/// at load time, so that no float ever reaches the sampling path.
pub fn probability_to_ppm(p: f64) -> u32 {
    if p.is_nan() || p <= 0.0 {
        0
    } else if p >= 1.0 {
        PPM
    } else {
        (p * PPM as f64).round() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = SimRng::new(7);
        let mut b = SimRng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    /// ChaCha8 seeded from 1 by `seed_from_u64`, first output.
    const PINNED_FIRST_VALUE_OF_SEED_1: u64 = 7_424_550_030_962_593_201;

    #[test]
    fn known_first_values_pin_the_algorithm() {
        // If the generator or its seeding ever changes, every recorded trace hash changes:
        // this test makes that a deliberate decision rather than an accident.
        let mut r = SimRng::new(1);
        assert_eq!(r.next_u64(), PINNED_FIRST_VALUE_OF_SEED_1);
        assert_ne!(SimRng::new(1).next_u64(), SimRng::new(2).next_u64());
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = SimRng::new(3);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let x = r.below(5);
            assert!(x < 5);
            seen[x as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(r.between(9, 9), 9);
        assert!(!r.chance(0));
        assert!(r.chance(PPM));
    }
}
