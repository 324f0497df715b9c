//! Process-wide Prometheus counters and histograms with one slot per event loop.
//!
//! With several event loops (`EVENT_LOOPS`), a scrape answered by any loop must report what the
//! whole process did, yet the send path must stay shared-nothing: a counter bumped once per
//! message by every loop on one shared cache line would bounce that line between cores on every
//! send. So each metric here holds one cache-line-padded slot per loop; loop `i` only ever adds
//! to slot `i` (an uncontended atomic add, no lock), and encoding sums the slots. The text they
//! encode is exactly what `prometheus_client`'s `Counter<u64>` and `Histogram` encode (same
//! type, same bucket bounds, same `_total`/`_sum`/`_count`/`_bucket` series), so one loop's
//! exposition is unchanged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::family::MetricConstructor;
use prometheus_client::metrics::{MetricType, TypedMetric};

/// One loop's slot, alone on its cache line (128 bytes: adjacent-line prefetch pairs lines).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Slot(AtomicU64);

/// A counter summed over the loops' slots. Cloning shares the slots.
#[derive(Debug, Clone)]
pub struct ShardedCounter {
    slots: Arc<[Slot]>,
}

impl ShardedCounter {
    /// A counter with `loops` slots (at least one), all 0.
    pub fn new(loops: usize) -> ShardedCounter {
        ShardedCounter { slots: (0..loops.max(1)).map(|_| Slot::default()).collect() }
    }

    /// The handle loop `index` counts with.
    pub fn for_loop(&self, index: usize) -> LoopCounter {
        assert!(index < self.slots.len(), "loop {index} of a counter for {}", self.slots.len());
        LoopCounter { slots: Arc::clone(&self.slots), index }
    }

    /// The process-wide total.
    pub fn get(&self) -> u64 {
        self.slots.iter().map(|s| s.0.load(Ordering::Relaxed)).fold(0, u64::wrapping_add)
    }
}

impl TypedMetric for ShardedCounter {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for ShardedCounter {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_counter::<NoLabelSet, _, u64>(&self.get(), None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// One loop's handle on a [`ShardedCounter`]: adds to that loop's slot only.
#[derive(Debug, Clone)]
pub struct LoopCounter {
    slots: Arc<[Slot]>,
    index: usize,
}

impl LoopCounter {
    pub fn inc(&self) {
        self.inc_by(1);
    }

    pub fn inc_by(&self, n: u64) {
        self.slots[self.index].0.fetch_add(n, Ordering::Relaxed);
    }
}

/// One loop's observations: the count per bucket (not cumulative), their number and their sum.
#[derive(Debug)]
#[repr(align(128))]
struct HistogramSlot {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    /// The sum's `f64` bits.
    sum_bits: AtomicU64,
}

/// A histogram summed over the loops' slots, with fixed upper bounds (the last is `+Inf`).
/// Cloning shares the slots.
#[derive(Debug, Clone)]
pub struct ShardedHistogram {
    bounds: Arc<[f64]>,
    slots: Arc<[HistogramSlot]>,
}

impl ShardedHistogram {
    /// A histogram with these finite upper bounds (ascending; `+Inf` is added, as
    /// `prometheus_client::metrics::histogram::Histogram::new` does) and `loops` slots.
    pub fn new(bounds: impl IntoIterator<Item = f64>, loops: usize) -> ShardedHistogram {
        let bounds: Arc<[f64]> = bounds.into_iter().filter(|b| b.is_finite()).chain(std::iter::once(f64::INFINITY)).collect();
        let slots = (0..loops.max(1))
            .map(|_| HistogramSlot {
                buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
                count: AtomicU64::new(0),
                sum_bits: AtomicU64::new(0f64.to_bits()),
            })
            .collect();
        ShardedHistogram { bounds, slots }
    }

    /// The handle loop `index` observes with.
    pub fn for_loop(&self, index: usize) -> LoopHistogram {
        assert!(index < self.slots.len(), "loop {index} of a histogram for {}", self.slots.len());
        LoopHistogram { histogram: self.clone(), index }
    }

    /// Process-wide (sum, count, per-bucket counts with their upper bounds, not cumulative).
    fn totals(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut buckets: Vec<(f64, u64)> = self.bounds.iter().map(|&b| (b, 0)).collect();
        let (mut sum, mut count) = (0.0, 0u64);
        for slot in self.slots.iter() {
            sum += f64::from_bits(slot.sum_bits.load(Ordering::Relaxed));
            count = count.wrapping_add(slot.count.load(Ordering::Relaxed));
            for (total, n) in buckets.iter_mut().zip(slot.buckets.iter()) {
                total.1 = total.1.wrapping_add(n.load(Ordering::Relaxed));
            }
        }
        (sum, count, buckets)
    }
}

impl TypedMetric for ShardedHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for ShardedHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (sum, count, buckets) = self.totals();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// One loop's handle on a [`ShardedHistogram`]: observes into that loop's slot only.
#[derive(Debug, Clone)]
pub struct LoopHistogram {
    histogram: ShardedHistogram,
    index: usize,
}

impl LoopHistogram {
    /// Counts `v` in the first bucket whose upper bound is at least `v` (NaN: the last), as
    /// `prometheus_client`'s histogram does.
    pub fn observe(&self, v: f64) {
        let bounds = &self.histogram.bounds;
        let bucket = if v.is_nan() { bounds.len() - 1 } else { bounds.iter().position(|&b| b >= v).unwrap_or(bounds.len() - 1) };
        let slot = &self.histogram.slots[self.index];
        slot.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        slot.count.fetch_add(1, Ordering::Relaxed);
        // Only this loop writes its slot; the update loop is there for a core used alone by
        // several threads in tests.
        let _ = slot.sum_bits.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| Some((f64::from_bits(bits) + v).to_bits()));
    }
}

/// Builds the metrics of a `Family` with one slot per loop.
#[derive(Debug, Clone)]
pub struct PerLoop {
    pub loops: usize,
    /// A histogram's finite upper bounds.
    pub bounds: Arc<[f64]>,
}

impl MetricConstructor<ShardedCounter> for PerLoop {
    fn new_metric(&self) -> ShardedCounter {
        ShardedCounter::new(self.loops)
    }
}

impl MetricConstructor<ShardedHistogram> for PerLoop {
    fn new_metric(&self) -> ShardedHistogram {
        ShardedHistogram::new(self.bounds.iter().copied(), self.loops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::histogram::Histogram;
    use prometheus_client::registry::{Metric, Registry, Unit};

    #[test]
    fn every_loops_slot_counts_toward_the_total() {
        let counter = ShardedCounter::new(3);
        counter.for_loop(0).inc();
        counter.for_loop(2).inc_by(5);
        counter.for_loop(2).inc();
        assert_eq!(counter.get(), 7);
    }

    #[test]
    fn the_text_is_that_of_prometheus_client_for_one_loop() {
        let bounds = [0.001, 0.01, 0.1];
        let (plain_counter, plain_histogram) = (Counter::<u64>::default(), Histogram::new(bounds));
        let (counter, histogram) = (ShardedCounter::new(1), ShardedHistogram::new(bounds, 1));
        let (mine, mine_h) = (counter.for_loop(0), histogram.for_loop(0));
        for v in [0.0005, 0.01, 0.05, 3.0, f64::NAN] {
            plain_histogram.observe(v);
            mine_h.observe(v);
        }
        plain_counter.inc_by(42);
        mine.inc_by(42);
        fn render(counter: impl Metric, histogram: impl Metric) -> String {
            let mut registry = Registry::default();
            registry.register("messages", "help", counter);
            registry.register_with_unit("latency", "help", Unit::Seconds, histogram);
            let mut out = String::new();
            encode(&mut out, &registry).unwrap();
            out
        }
        // NaN observations make the sums NaN in both, which compare unequal as numbers but
        // render identically.
        assert_eq!(render(counter, histogram), render(plain_counter, plain_histogram));
    }

    #[test]
    fn a_histogram_sums_the_observations_of_every_loop() {
        let histogram = ShardedHistogram::new([1.0, 2.0], 2);
        histogram.for_loop(0).observe(0.5);
        histogram.for_loop(1).observe(1.5);
        histogram.for_loop(1).observe(9.0);
        let (sum, count, buckets) = histogram.totals();
        assert_eq!((sum, count), (11.0, 3));
        assert_eq!(buckets, vec![(1.0, 1), (2.0, 1), (f64::INFINITY, 1)]);
    }
}
