//! Time as the core sees it: passed in by the caller, never read from the system.
//!
//! The core keeps two clocks apart on purpose. Every timeout decision uses the monotonic clock
//! ([`MonoTime`]); the wall clock is only ever *printed* (pong timestamps, `sent_at_ms`), so a wall
//! clock that steps, drifts or jumps can never close a connection early or keep one open too long.

use std::time::Duration;

/// A point on a monotonic clock, in nanoseconds from an origin chosen by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MonoTime(u64);

impl MonoTime {
    pub const ZERO: MonoTime = MonoTime(0);

    pub const fn from_nanos(nanos: u64) -> MonoTime {
        MonoTime(nanos)
    }

    pub const fn from_millis(millis: u64) -> MonoTime {
        MonoTime(millis.saturating_mul(1_000_000))
    }

    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }

    /// `self + ms`, saturating instead of wrapping so a huge configured timeout means "never".
    pub const fn plus_ms(self, ms: u64) -> MonoTime {
        MonoTime(self.0.saturating_add(ms.saturating_mul(1_000_000)))
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: MonoTime) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

/// The current time as handed to the core with every input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time: the only clock timeouts are computed from.
    pub mono: MonoTime,
    /// Wall-clock Unix time in milliseconds: only ever reported, never compared.
    pub wall_unix_ms: i64,
}

impl Now {
    pub const fn new(mono: MonoTime, wall_unix_ms: i64) -> Now {
        Now { mono, wall_unix_ms }
    }
}

/// Formats Unix milliseconds as ISO-8601 UTC, the one format of every time the server writes (REST
/// answers, snapshots, docs/rest_api.md): `2026-06-14T14:55:00Z` on a whole second, else with
/// milliseconds, `2026-06-14T14:55:00.250Z`, so no precision is dropped. A time outside chrono's
/// range (±262,000 years; no bar or clock reading is) is written as its milliseconds, visibly not
/// a date.
pub fn iso8601_utc_ms(unix_ms: i64) -> String {
    match chrono::DateTime::<chrono::Utc>::from_timestamp_millis(unix_ms) {
        Some(t) if unix_ms % 1000 == 0 => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => unix_ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::iso8601_utc_ms;

    #[test]
    fn iso_time_of_a_whole_minute_has_no_fraction() {
        // 2026-06-14T14:55:00Z = 1781448900 s since the epoch (date -u -d @1781448900).
        assert_eq!(iso8601_utc_ms(1_781_448_900_000), "2026-06-14T14:55:00Z");
    }

    #[test]
    fn iso_time_keeps_milliseconds() {
        assert_eq!(iso8601_utc_ms(1_500), "1970-01-01T00:00:01.500Z");
        assert_eq!(iso8601_utc_ms(-1), "1969-12-31T23:59:59.999Z");
    }
}
