//! The exchange's REST limits, kept on our side.
//!
//! Binance USDT-M futures allow 2,400 request weight per minute per IP (`REQUEST_WEIGHT`, reported
//! back in `X-MBX-USED-WEIGHT-1M`); a 429 answer means slow down and a 418 means the IP is banned,
//! both with `Retry-After` in seconds. The budget here spends at most [`WEIGHT_PER_MINUTE_MAX`]
//! (half the limit, leaving room for other clients on the same IP), trusts the exchange's own
//! count when it is higher than ours, and stops every request until a `Retry-After` has passed.
//!
//! Pure state: times are handed in as milliseconds of a monotonic clock.

use std::collections::VecDeque;

/// Weight this process spends per rolling minute.
pub const WEIGHT_PER_MINUTE_MAX: u32 = 1_200;
/// A 429/418 without a usable `Retry-After` waits this long.
pub const RETRY_AFTER_DEFAULT_MS: u64 = 60_000;
/// A `Retry-After` longer than this is capped (a ban is also logged loudly).
pub const RETRY_AFTER_MAX_MS: u64 = 3_600_000;
const MINUTE_MS: u64 = 60_000;

/// Request weights of the endpoints the feed uses (from the exchange's API documentation).
pub fn klines_weight(limit: u32) -> u32 {
    match limit {
        0..=99 => 1,
        100..=499 => 2,
        500..=1000 => 5,
        _ => 10,
    }
}

/// `openInterestHist` has its own limit of 1,000 requests per 5 minutes and weighs 0 in the
/// minute budget; counting it as 1 keeps it bounded here too.
pub const OPEN_INTEREST_HIST_WEIGHT: u32 = 1;

#[derive(Debug, Clone, Default)]
pub struct WeightBudget {
    /// (time spent, weight) over the last minute.
    spent: VecDeque<(u64, u32)>,
    /// The exchange's own count at the last answer, and when.
    reported: Option<(u64, u32)>,
    /// No request before this time.
    blocked_until_ms: Option<u64>,
}

impl WeightBudget {
    pub fn new() -> WeightBudget {
        WeightBudget::default()
    }

    /// How long to wait before a request of `weight` may be sent at `now_ms` (zero: send now).
    pub fn wait_ms(&mut self, weight: u32, now_ms: u64) -> u64 {
        if let Some(until) = self.blocked_until_ms {
            if now_ms < until {
                return until - now_ms;
            }
            self.blocked_until_ms = None;
        }
        while self.spent.front().is_some_and(|(at, _)| now_ms.saturating_sub(*at) >= MINUTE_MS) {
            self.spent.pop_front();
        }
        let ours: u32 = self.spent.iter().map(|(_, w)| w).sum();
        let theirs = self.reported.filter(|(at, _)| now_ms.saturating_sub(*at) < MINUTE_MS).map_or(0, |(_, w)| w);
        if ours.max(theirs) + weight <= WEIGHT_PER_MINUTE_MAX {
            return 0;
        }
        // Wait until the oldest spend leaves the window (or a whole minute for the exchange's count).
        match self.spent.front() {
            Some((at, _)) if ours >= theirs => (at + MINUTE_MS).saturating_sub(now_ms).max(1),
            _ => MINUTE_MS,
        }
    }

    /// A request of `weight` was sent at `now_ms`.
    pub fn spend(&mut self, weight: u32, now_ms: u64) {
        self.spent.push_back((now_ms, weight));
    }

    /// The exchange reported its count of our weight (`X-MBX-USED-WEIGHT-1M`).
    pub fn reported(&mut self, used: u32, now_ms: u64) {
        self.reported = Some((now_ms, used));
    }

    /// A 429 or 418 answer: nothing is sent for `retry_after_ms` (capped).
    pub fn back_off(&mut self, retry_after_ms: Option<u64>, now_ms: u64) -> u64 {
        let wait = retry_after_ms.unwrap_or(RETRY_AFTER_DEFAULT_MS).min(RETRY_AFTER_MAX_MS);
        self.blocked_until_ms = Some(self.blocked_until_ms.unwrap_or(0).max(now_ms + wait));
        wait
    }
}

/// `Retry-After` in seconds (the exchange never sends an HTTP date here).
pub fn parse_retry_after_ms(value: Option<&str>) -> Option<u64> {
    value?.trim().parse::<u64>().ok().map(|s| s.saturating_mul(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weight_per_minute_stays_within_the_budget() {
        let mut budget = WeightBudget::new();
        let mut now = 0;
        let mut sent = 0u32;
        while now < MINUTE_MS {
            let wait = budget.wait_ms(10, now);
            if wait == 0 {
                budget.spend(10, now);
                sent += 10;
            } else {
                now += wait;
                continue;
            }
            now += 10;
        }
        assert_eq!(sent, WEIGHT_PER_MINUTE_MAX, "exactly the budget in the first minute");
        assert!(budget.wait_ms(10, MINUTE_MS) == 0, "the first spends leave the window after a minute");
    }

    #[test]
    fn retry_after_blocks_every_request_until_it_passes() {
        let mut budget = WeightBudget::new();
        assert_eq!(budget.back_off(parse_retry_after_ms(Some("7")), 1_000), 7_000);
        assert_eq!(budget.wait_ms(1, 1_000), 7_000);
        assert_eq!(budget.wait_ms(1, 7_999), 1);
        assert_eq!(budget.wait_ms(1, 8_000), 0);
        assert_eq!(budget.back_off(None, 0), RETRY_AFTER_DEFAULT_MS);
        assert_eq!(parse_retry_after_ms(Some("soon")), None);
    }

    #[test]
    fn the_exchanges_own_count_is_trusted_when_higher() {
        let mut budget = WeightBudget::new();
        budget.reported(WEIGHT_PER_MINUTE_MAX, 0);
        assert!(budget.wait_ms(1, 10) > 0);
        assert_eq!(budget.wait_ms(1, MINUTE_MS + 10), 0, "a minute-old count no longer applies");
    }

    #[test]
    fn klines_weight_follows_the_limit_tiers() {
        assert_eq!([klines_weight(99), klines_weight(100), klines_weight(500), klines_weight(1500)], [1, 2, 5, 10]);
    }
}
