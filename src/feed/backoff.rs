//! Reconnect delays: exponential backoff with jitter from a seeded generator.
//!
//! Delay n (n = 0, 1, ...) is drawn uniformly from [d/2, d] with d = min(base · 2ⁿ, max) ("equal
//! jitter"): many servers restarted together do not reconnect in lockstep, and the delay never
//! collapses to zero. The generator is seeded by the caller, so a test sees the same delays on
//! every run.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Backoff state of one connection.
#[derive(Debug, Clone)]
pub struct Backoff {
    base_ms: u64,
    max_ms: u64,
    attempt: u32,
    rng: ChaCha8Rng,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration, seed: u64) -> Backoff {
        let base_ms = (base.as_millis() as u64).max(1);
        Backoff { base_ms, max_ms: (max.as_millis() as u64).max(base_ms), attempt: 0, rng: ChaCha8Rng::seed_from_u64(seed) }
    }

    /// The delay before the next attempt; each call doubles the ceiling up to the maximum.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling_ms = self.base_ms.saturating_mul(1u64 << self.attempt.min(32)).min(self.max_ms);
        self.attempt = self.attempt.saturating_add(1);
        let ms = self.rng.random_range(ceiling_ms / 2..=ceiling_ms);
        Duration::from_millis(ms)
    }

    /// A connection worked: the next failure starts from the base delay again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Consecutive attempts since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_maximum_with_jitter_in_the_upper_half() {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(8), 7);
        let ceilings = [500, 1000, 2000, 4000, 8000, 8000, 8000];
        for ceiling in ceilings {
            let d = backoff.next_delay().as_millis() as u64;
            assert!((ceiling / 2..=ceiling).contains(&d), "{d} ms not in [{}, {ceiling}]", ceiling / 2);
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(500));
    }

    #[test]
    fn the_same_seed_gives_the_same_delays_and_another_seed_others() {
        let delays = |seed| {
            let mut b = Backoff::new(Duration::from_millis(1000), Duration::from_secs(60), seed);
            (0..6).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(delays(1), delays(1));
        assert_ne!(delays(1), delays(2));
    }
}
