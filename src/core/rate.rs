//! Per-client message rate limit: a token bucket on the monotonic clock.

use super::time::MonoTime;

/// Tokens are kept in thousandths so that refill needs no floating point.
const MILLI: u64 = 1000;

#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens_milli: u64,
    capacity_milli: u64,
    refill_milli_per_ms: u64,
    updated_at: MonoTime,
}

impl TokenBucket {
    /// A full bucket of `burst` messages refilling at `per_s` messages per second.
    pub fn new(per_s: u32, burst: u32, now: MonoTime) -> TokenBucket {
        let capacity_milli = u64::from(burst.max(1)) * MILLI;
        TokenBucket {
            tokens_milli: capacity_milli,
            capacity_milli,
            // per_s messages per 1000 ms == per_s milli-messages per ms.
            refill_milli_per_ms: u64::from(per_s),
            updated_at: now,
        }
    }

    /// Takes one message's token if there is one.
    pub fn try_take(&mut self, now: MonoTime) -> bool {
        let elapsed_ms = now.since(self.updated_at).as_millis() as u64;
        if elapsed_ms > 0 {
            let refill = elapsed_ms.saturating_mul(self.refill_milli_per_ms);
            self.tokens_milli = (self.tokens_milli.saturating_add(refill)).min(self.capacity_milli);
            // Advance by whole milliseconds only, so sub-millisecond remainders are not lost.
            self.updated_at = self.updated_at.plus_ms(elapsed_ms);
        }
        if self.tokens_milli >= MILLI {
            self.tokens_milli -= MILLI;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_is_allowed_then_refused() {
        let t0 = MonoTime::from_millis(0);
        let mut bucket = TokenBucket::new(10, 20, t0);
        assert!((0..20).all(|_| bucket.try_take(t0)));
        assert!(!bucket.try_take(t0));
    }

    #[test]
    fn tokens_refill_at_the_sustained_rate() {
        let t0 = MonoTime::from_millis(0);
        let mut bucket = TokenBucket::new(10, 20, t0);
        while bucket.try_take(t0) {}
        // 10 per second: one token every 100 ms.
        assert!(!bucket.try_take(MonoTime::from_millis(99)));
        assert!(bucket.try_take(MonoTime::from_millis(100)));
        assert!(!bucket.try_take(MonoTime::from_millis(150)));
    }
}
