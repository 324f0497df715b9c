//! A log-bucketed latency histogram (HDR style): fixed memory whatever the sample count, values
//! below 128 µs kept exactly and larger ones with a relative error under 1/64 (1.6 %). Percentiles are reported as the upper edge
//! of the bucket that holds the ranked sample (never below the true value), capped by the exact max.

use serde::Serialize;

/// Sub-buckets per power of two, as a bit count: each octave above 128 µs is split into 64 buckets,
/// so a bucket is at most 1/64 of the values it holds wide.
const SUB_BUCKET_BITS: u32 = 7;
const SUB_BUCKETS: u64 = 1 << SUB_BUCKET_BITS;
const HALF_SUB_BUCKETS: u64 = SUB_BUCKETS / 2;
/// Largest value recorded as itself: 2^40 µs (about 12.7 days); larger values are clamped.
const VALUE_MAX_US: u64 = (1 << 40) - 1;
const BUCKETS: usize = ((40 - SUB_BUCKET_BITS as u64 + 2) * HALF_SUB_BUCKETS) as usize;

/// Latency samples in microseconds.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum_us: u128,
    min_us: u64,
    max_us: u64,
}

/// The summary a report carries, in milliseconds.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: vec![0; BUCKETS], count: 0, sum_us: 0, min_us: u64::MAX, max_us: 0 }
    }
}

fn bucket_of(value_us: u64) -> usize {
    if value_us < SUB_BUCKETS {
        return value_us as usize;
    }
    let magnitude = 63 - value_us.leading_zeros();
    let shift = magnitude - (SUB_BUCKET_BITS - 1);
    (shift as u64 * HALF_SUB_BUCKETS + (value_us >> shift)) as usize
}

/// The largest value that falls into `bucket`.
fn bucket_upper_us(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    if bucket < SUB_BUCKETS {
        return bucket;
    }
    let shift = bucket / HALF_SUB_BUCKETS - 1;
    let sub = bucket - shift * HALF_SUB_BUCKETS;
    ((sub + 1) << shift) - 1
}

impl Histogram {
    pub fn record(&mut self, value_us: u64) {
        let value_us = value_us.min(VALUE_MAX_US);
        self.counts[bucket_of(value_us)] += 1;
        self.count += 1;
        self.sum_us += value_us as u128;
        self.min_us = self.min_us.min(value_us);
        self.max_us = self.max_us.max(value_us);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.count += other.count;
        self.sum_us += other.sum_us;
        self.min_us = self.min_us.min(other.min_us);
        self.max_us = self.max_us.max(other.max_us);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max_us(&self) -> u64 {
        self.max_us
    }

    /// The value at or below which `percent` of the samples lie (nearest-rank), in microseconds:
    /// the upper edge of the holding bucket, never above the exact maximum. 0 when empty.
    pub fn percentile_us(&self, percent: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((percent / 100.0) * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bucket, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return bucket_upper_us(bucket).min(self.max_us);
            }
        }
        self.max_us
    }

    pub fn summary(&self) -> LatencySummary {
        let ms = |us: u64| us as f64 / 1000.0;
        LatencySummary {
            count: self.count,
            mean_ms: if self.count == 0 { 0.0 } else { self.sum_us as f64 / self.count as f64 / 1000.0 },
            p50_ms: ms(self.percentile_us(50.0)),
            p95_ms: ms(self.percentile_us(95.0)),
            p99_ms: ms(self.percentile_us(99.0)),
            max_ms: ms(self.max_us),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lands_in_a_bucket_whose_upper_edge_is_within_one_64th() {
        for value in (0..2_000_000u64).step_by(7).chain([VALUE_MAX_US]) {
            let upper = bucket_upper_us(bucket_of(value));
            assert!(upper >= value, "{value} -> {upper}");
            assert!((upper - value) as f64 <= value as f64 / 64.0, "{value} -> {upper}");
        }
    }

    #[test]
    fn buckets_are_contiguous_and_increasing() {
        let mut previous = bucket_of(0);
        for value in 1..300_000u64 {
            let bucket = bucket_of(value);
            assert!(bucket == previous || bucket == previous + 1, "gap at {value}");
            previous = bucket;
        }
        assert!(bucket_of(VALUE_MAX_US) < BUCKETS);
    }

    #[test]
    fn small_values_give_exact_nearest_rank_percentiles() {
        let mut h = Histogram::default();
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.percentile_us(50.0), 50);
        assert_eq!(h.percentile_us(99.0), 99);
        assert_eq!(h.percentile_us(100.0), 100);
    }

    #[test]
    fn percentile_never_exceeds_the_exact_maximum() {
        let mut h = Histogram::default();
        h.record(1_000_001);
        assert_eq!(h.percentile_us(99.0), 1_000_001);
    }

    #[test]
    fn merging_equals_recording_into_one() {
        let (mut a, mut b, mut both) = (Histogram::default(), Histogram::default(), Histogram::default());
        for v in [5u64, 900, 70_000] {
            a.record(v);
            both.record(v);
        }
        for v in [3u64, 12_345_678] {
            b.record(v);
            both.record(v);
        }
        a.merge(&b);
        assert_eq!(a.summary(), both.summary());
    }
}
