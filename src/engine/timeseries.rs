//! Snapshots at regular intervals over a window, for `/liquidations/heatmap-timeseries`.
//!
//! The model runs over every given bar (the caller includes a warm-up period before the window);
//! one snapshot is emitted per interval bucket of the window that contains at least one bar.

use super::bar::Bar;
use super::bar_check::{BarError, OPEN_TIME_MAX_MS};
use super::bins::{default_bin_size, BIN_SIZE_MAX, BIN_SIZE_MIN};
use super::outcome::BarOutcome;
use super::params::{EngineParams, ParamsError};
use super::snapshot::{Snapshot, SnapshotError};
use super::state_machine::Engine;
use serde::Serialize;
use std::fmt;

/// At most this many interval buckets per request (e.g. 7 days of 5-minute buckets is 2,016).
pub const SNAPSHOTS_MAX: i64 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PriceRange {
    pub min: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeseries {
    /// The bin size used: the requested one, or the default for the window's last close.
    pub bin_size: f64,
    /// One per non-empty bucket, ascending in time.
    pub snapshots: Vec<Snapshot>,
    /// Lowest and highest level price over all snapshots; `None` when there are no levels.
    pub price_range: Option<PriceRange>,
    /// Sum of every snapshot's long densities (USD; a position counts once per snapshot).
    pub total_long_volume: f64,
    /// Sum of every snapshot's short densities (USD; a position counts once per snapshot).
    pub total_short_volume: f64,
    /// USD liquidated by the bars inside the window (both sides).
    pub total_consumed: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TimeseriesError {
    Params(ParamsError),
    WindowInvalid {
        start_ms: i64,
        end_ms: i64,
    },
    IntervalInvalid {
        interval_ms: i64,
    },
    TooManySnapshots {
        buckets: i64,
    },
    /// The snapshots would hold more than `levels_max` price levels in total (stopped there).
    TooManyLevels {
        levels_max: usize,
    },
    BinSizeInvalid {
        bin_size: f64,
    },
    /// No bin size was given and no bar lies at or before the window end to derive one from.
    NoPriceForBinSize,
    /// Bar `index` of the input was rejected.
    Bar {
        index: usize,
        open_time_ms: i64,
        error: BarError,
    },
}

impl fmt::Display for TimeseriesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Params(error) => write!(f, "invalid model parameters: {error}"),
            Self::WindowInvalid { start_ms, end_ms } => write!(
                f,
                "window [{start_ms}, {end_ms}] ms is invalid: start must not be after end, and \
                 both must lie in [0, {OPEN_TIME_MAX_MS}] ms"
            ),
            Self::IntervalInvalid { interval_ms } => {
                write!(f, "interval {interval_ms} ms must be positive")
            }
            Self::TooManySnapshots { buckets } => write!(
                f,
                "the window holds {buckets} intervals, at most {SNAPSHOTS_MAX} allowed"
            ),
            Self::BinSizeInvalid { bin_size } => write!(
                f,
                "bin size {bin_size} is invalid: it must be a number in [{BIN_SIZE_MIN}, {BIN_SIZE_MAX}]"
            ),
            Self::TooManyLevels { levels_max } => write!(
                f,
                "the snapshots would hold more than {levels_max} price levels in total"
            ),
            Self::NoPriceForBinSize => {
                write!(f, "no bar at or before the window end to choose a bin size from")
            }
            Self::Bar { index, open_time_ms, error } => {
                write!(f, "bar {index} (open time {open_time_ms} ms): {error}")
            }
        }
    }
}

impl std::error::Error for TimeseriesError {}

/// Runs the model over `bars` (time order) and emits the state at the last bar of every
/// `interval_ms` bucket of [window_start_ms, window_end_ms] (both inclusive; buckets start at
/// window_start_ms). Created/consumed figures are summed over the bucket's bars. Bars after the
/// window end are ignored. The snapshots may hold at most `levels_max` price levels in total
/// (a fine bin size over a long window would otherwise build an answer of any size); beyond it
/// the run stops with [`TimeseriesError::TooManyLevels`].
pub fn run(
    bars: &[Bar],
    params: &EngineParams,
    window_start_ms: i64,
    window_end_ms: i64,
    interval_ms: i64,
    bin_size: Option<f64>,
    levels_max: usize,
) -> Result<Timeseries, TimeseriesError> {
    let representable = 0..=OPEN_TIME_MAX_MS;
    if window_start_ms > window_end_ms
        || !representable.contains(&window_start_ms)
        || !representable.contains(&window_end_ms)
    {
        return Err(TimeseriesError::WindowInvalid {
            start_ms: window_start_ms,
            end_ms: window_end_ms,
        });
    }
    if interval_ms <= 0 {
        return Err(TimeseriesError::IntervalInvalid { interval_ms });
    }
    let buckets = (window_end_ms - window_start_ms) / interval_ms + 1;
    if buckets > SNAPSHOTS_MAX {
        return Err(TimeseriesError::TooManySnapshots { buckets });
    }
    let bin_size = match bin_size {
        Some(size) => size,
        None => bars
            .iter()
            .rev()
            .find(|bar| bar.open_time_ms <= window_end_ms)
            .map(|bar| default_bin_size(bar.close))
            .ok_or(TimeseriesError::NoPriceForBinSize)?,
    };
    let mut engine = Engine::new(params.clone()).map_err(TimeseriesError::Params)?;
    let mut collector = Collector::new(bin_size, levels_max);
    for (index, bar) in bars.iter().enumerate() {
        if bar.open_time_ms > window_end_ms {
            break;
        }
        let bucket = (bar.open_time_ms >= window_start_ms)
            .then(|| (bar.open_time_ms - window_start_ms) / interval_ms);
        if bucket.is_some() && bucket != collector.open_bucket {
            collector.close_bucket(&engine)?;
        }
        let outcome = engine.apply(bar).map_err(|error| TimeseriesError::Bar {
            index,
            open_time_ms: bar.open_time_ms,
            error,
        })?;
        if bucket.is_some() {
            collector.open_bucket = bucket;
            collector.activity.accumulate(&outcome);
        }
    }
    collector.close_bucket(&engine)?;
    Ok(collector.finish())
}

/// Gathers snapshots and the meta numbers while the engine runs.
struct Collector {
    bin_size: f64,
    /// Price levels the snapshots may hold in total, and how many they hold so far.
    levels_max: usize,
    levels: usize,
    /// Bucket of the bars applied since the last snapshot, `None` before the window.
    open_bucket: Option<i64>,
    activity: BarOutcome,
    snapshots: Vec<Snapshot>,
}

impl Collector {
    fn new(bin_size: f64, levels_max: usize) -> Self {
        Self {
            bin_size,
            levels_max,
            levels: 0,
            open_bucket: None,
            activity: BarOutcome::default(),
            snapshots: Vec::new(),
        }
    }

    /// Emits the snapshot of the open bucket (the engine is at its last bar), if any.
    fn close_bucket(&mut self, engine: &Engine) -> Result<(), TimeseriesError> {
        if self.open_bucket.take().is_none() {
            return Ok(());
        }
        let snapshot =
            engine
                .snapshot(self.bin_size, &self.activity)
                .map_err(|error| match error {
                    SnapshotError::BinSizeInvalid { bin_size } => {
                        TimeseriesError::BinSizeInvalid { bin_size }
                    }
                    // A bucket is only open after a bar was applied.
                    SnapshotError::NoBarYet => TimeseriesError::NoPriceForBinSize,
                })?;
        self.levels += snapshot.levels.len();
        if self.levels > self.levels_max {
            return Err(TimeseriesError::TooManyLevels { levels_max: self.levels_max });
        }
        self.snapshots.push(snapshot);
        self.activity = BarOutcome::default();
        Ok(())
    }

    fn finish(self) -> Timeseries {
        let levels = self
            .snapshots
            .iter()
            .flat_map(|snapshot| snapshot.levels.iter());
        let mut price_range: Option<PriceRange> = None;
        let (mut total_long_volume, mut total_short_volume) = (0.0, 0.0);
        for level in levels {
            total_long_volume += level.long_density;
            total_short_volume += level.short_density;
            let range = price_range.get_or_insert(PriceRange {
                min: level.price,
                max: level.price,
            });
            range.min = range.min.min(level.price);
            range.max = range.max.max(level.price);
        }
        let total_consumed = self
            .snapshots
            .iter()
            .map(|snapshot| snapshot.positions_consumed)
            .sum();
        Timeseries {
            bin_size: self.bin_size,
            snapshots: self.snapshots,
            price_range,
            total_long_volume,
            total_short_volume,
            total_consumed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_780_790_400_000; // 2026-06-07T00:00:00Z
    const FIVE_MINUTES_MS: i64 = 300_000;
    const HOUR_MS: i64 = 3_600_000;

    /// `count` 5-minute bars from T0 around 60,000 with open interest growing 1 million per bar.
    fn bars(count: i64) -> Vec<Bar> {
        (0..count)
            .map(|step| {
                let close = 60_000.0 + (step % 12) as f64 * 10.0;
                Bar {
                    open_time_ms: T0 + step * FIVE_MINUTES_MS,
                    open: close - 5.0,
                    high: close + 20.0,
                    low: close - 25.0,
                    close,
                    volume: None,
                    quote_volume: None,
                    taker_buy_volume: None,
                    open_interest_usd: Some(1e9 + step as f64 * 1e6),
                }
            })
            .collect()
    }

    #[test]
    fn a_day_of_5m_bars_gives_24_hourly_snapshots() {
        let bars = bars(24 * 12);
        let end = T0 + 24 * HOUR_MS - 1;
        let series = run(&bars, &EngineParams::default(), T0, end, HOUR_MS, None, usize::MAX).unwrap();
        assert_eq!(series.snapshots.len(), 24);
        assert_eq!(series.snapshots[0].timestamp, "2026-06-07T00:55:00Z");
        assert_eq!(series.snapshots[23].timestamp, "2026-06-07T23:55:00Z");
    }

    #[test]
    fn warm_up_bars_build_state_but_emit_nothing() {
        let bars = bars(24 * 12);
        let start = T0 + 12 * HOUR_MS;
        let series = run(
            &bars,
            &EngineParams::default(),
            start,
            T0 + 24 * HOUR_MS,
            HOUR_MS,
            None,
            usize::MAX,
        )
        .unwrap();
        assert_eq!(series.snapshots.len(), 12);
        assert!(!series.snapshots[0].levels.is_empty());
    }

    #[test]
    fn bucket_activity_is_summed_over_its_bars() {
        let bars = bars(12);
        // Legacy mechanics: only open-interest increases open positions (no turnover).
        let series = run(
            &bars,
            &EngineParams::legacy(),
            T0,
            T0 + HOUR_MS - 1,
            HOUR_MS,
            None,
            usize::MAX,
        )
        .unwrap();
        // Eleven increases of 1,000,000 follow the first bar.
        assert!((series.snapshots[0].positions_created - 11e6).abs() < 1e-3);
    }

    #[test]
    fn default_bin_comes_from_the_window_last_close() {
        let bars = bars(12);
        let series = run(
            &bars,
            &EngineParams::default(),
            T0,
            T0 + HOUR_MS,
            HOUR_MS,
            None,
            usize::MAX,
        )
        .unwrap();
        assert_eq!(series.bin_size, 100.0);
    }

    #[test]
    fn meta_totals_match_the_snapshots() {
        let bars = bars(48);
        let series = run(
            &bars,
            &EngineParams::default(),
            T0,
            T0 + 4 * HOUR_MS,
            HOUR_MS,
            Some(50.0),
            usize::MAX,
        )
        .unwrap();
        let long: f64 = series
            .snapshots
            .iter()
            .flat_map(|s| &s.levels)
            .map(|l| l.long_density)
            .sum();
        let lowest = series
            .snapshots
            .iter()
            .flat_map(|s| &s.levels)
            .map(|l| l.price)
            .fold(f64::MAX, f64::min);
        assert_eq!(series.total_long_volume, long);
        assert_eq!(series.price_range.unwrap().min, lowest);
    }

    #[test]
    fn too_many_buckets_are_refused() {
        let result = run(
            &bars(2),
            &EngineParams::default(),
            0,
            SNAPSHOTS_MAX * 1000,
            1000,
            None,
            usize::MAX,
        );
        assert_eq!(
            result,
            Err(TimeseriesError::TooManySnapshots {
                buckets: SNAPSHOTS_MAX + 1
            })
        );
    }

    #[test]
    fn a_window_before_1970_is_refused() {
        let result = run(
            &bars(2),
            &EngineParams::default(),
            -HOUR_MS,
            T0,
            HOUR_MS,
            None,
            usize::MAX,
        );
        assert_eq!(
            result,
            Err(TimeseriesError::WindowInvalid {
                start_ms: -HOUR_MS,
                end_ms: T0
            })
        );
    }

    #[test]
    fn a_bad_bar_is_reported_with_its_index() {
        let mut bars = bars(5);
        bars[3].low = -1.0;
        let result = run(
            &bars,
            &EngineParams::default(),
            T0,
            T0 + HOUR_MS,
            HOUR_MS,
            None,
            usize::MAX,
        );
        assert!(
            matches!(result, Err(TimeseriesError::Bar { index: 3, .. })),
            "{result:?}"
        );
    }

    #[test]
    fn an_empty_window_yields_no_snapshots() {
        let series = run(
            &bars(5),
            &EngineParams::default(),
            T0 + 10 * HOUR_MS,
            T0 + 11 * HOUR_MS,
            HOUR_MS,
            None,
            usize::MAX,
        )
        .unwrap();
        assert!(series.snapshots.is_empty());
        assert_eq!(series.price_range, None);
    }

    #[test]
    fn an_answer_over_the_level_bound_is_refused() {
        let bars = bars(48);
        let whole = run(&bars, &EngineParams::default(), T0, T0 + 4 * HOUR_MS, HOUR_MS, Some(50.0), usize::MAX).unwrap();
        let levels: usize = whole.snapshots.iter().map(|s| s.levels.len()).sum();
        assert!(levels > 10, "{levels} levels");
        let exact = run(&bars, &EngineParams::default(), T0, T0 + 4 * HOUR_MS, HOUR_MS, Some(50.0), levels);
        assert_eq!(exact.map(|s| s.snapshots.len()), Ok(whole.snapshots.len()));
        let result = run(&bars, &EngineParams::default(), T0, T0 + 4 * HOUR_MS, HOUR_MS, Some(50.0), levels - 1);
        assert_eq!(result, Err(TimeseriesError::TooManyLevels { levels_max: levels - 1 }));
    }
}
