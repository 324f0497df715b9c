//! The model over a real week of Binance BTCUSDT 5-minute bars with open interest.

// The test reads the real data file; the sans-IO lints are for src/core.
#![allow(clippy::disallowed_methods)]

use liquidationheatmap::engine::timeseries;
use liquidationheatmap::engine::{
    default_bin_size, Bar, BarOutcome, Engine, EngineParams, Snapshot,
};
use std::path::PathBuf;

const WEEK_CSV: &str =
    "tests/fixtures/binance-um-5m-ohlc-oi/BTCUSDT-5m-ohlc-oi-2026-06-07_2026-06-14.csv";
const WEEK_ROWS: usize = 2_140;
const HOUR_MS: i64 = 3_600_000;

/// Reads `open_time,open,high,low,close,open_interest_value` rows; panics with `file:line: reason`.
fn week_bars() -> Vec<Bar> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(WEEK_CSV);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, line)| line);
    assert_eq!(
        header,
        Some("open_time,open,high,low,close,open_interest_value")
    );
    lines
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            let fields: Vec<&str> = line.split(',').collect();
            let at = |column: usize| -> f64 {
                let text = fields.get(column).unwrap_or_else(|| {
                    panic!("{}:{}: missing column {column}", path.display(), index + 1)
                });
                text.parse().unwrap_or_else(|error| {
                    panic!(
                        "{}:{}: column {column} {text:?}: {error}",
                        path.display(),
                        index + 1
                    )
                })
            };
            Bar {
                open_time_ms: at(0) as i64,
                open: at(1),
                high: at(2),
                low: at(3),
                close: at(4),
                volume: None,
                quote_volume: None,
                taker_buy_volume: None,
                open_interest_usd: Some(at(5)),
            }
        })
        .collect()
}

fn run_week() -> (Vec<Bar>, Engine, BarOutcome) {
    let bars = week_bars();
    let mut engine = Engine::new(EngineParams::default()).expect("default params are valid");
    let mut last = BarOutcome::default();
    for (index, bar) in bars.iter().enumerate() {
        last = engine
            .apply(bar)
            .unwrap_or_else(|error| panic!("row {}: {error}", index + 2));
    }
    (bars, engine, last)
}

fn final_snapshot() -> (Vec<Bar>, Engine, Snapshot) {
    let (bars, engine, last) = run_week();
    let close = bars.last().expect("the week has bars").close;
    let snapshot = engine
        .snapshot(default_bin_size(close), &last)
        .expect("bars were applied");
    (bars, engine, snapshot)
}

#[test]
fn every_row_of_the_week_is_accepted() {
    let (bars, engine, _) = run_week();
    assert_eq!(bars.len(), WEEK_ROWS);
    assert_eq!(engine.last_bar_time_ms(), Some(1_781_448_900_000));
}

#[test]
fn btc_near_60000_uses_100_usd_bins() {
    let (_, _, snapshot) = final_snapshot();
    assert!((50_000.0..80_000.0).contains(&snapshot.current_price));
    assert!(snapshot
        .levels
        .iter()
        .all(|level| level.price % 100.0 == 0.0));
}

#[test]
fn surviving_longs_lie_below_the_price_and_shorts_above() {
    // A surviving long's liquidation price is below every later low, so below the close; a
    // surviving short's is above every later high, so its 100 USD bin ends above the close.
    let (_, _, snapshot) = final_snapshot();
    let price = snapshot.current_price;
    let longs: Vec<_> = snapshot
        .levels
        .iter()
        .filter(|level| level.long_density > 0.0)
        .collect();
    let shorts: Vec<_> = snapshot
        .levels
        .iter()
        .filter(|level| level.short_density > 0.0)
        .collect();
    assert!(
        longs.len() > 10 && shorts.len() > 10,
        "{} long and {} short levels",
        longs.len(),
        shorts.len()
    );
    assert!(longs.iter().all(|level| level.price < price));
    assert!(shorts.iter().all(|level| level.price + 100.0 > price));
}

#[test]
fn liquidation_levels_cluster_within_leverage_reach_of_the_price() {
    // Tiers reach from 1% (100x) to 20% (5x) away from entry, and the week moved a few percent,
    // so nearly all notional sits within 25% of the final price.
    let (_, engine, snapshot) = final_snapshot();
    let price = snapshot.current_price;
    let near: f64 = snapshot
        .levels
        .iter()
        .filter(|level| (level.price - price).abs() <= 0.25 * price)
        .map(|level| level.long_density + level.short_density)
        .sum();
    let open = engine.open_long_usd() + engine.open_short_usd();
    assert!(open > 1e8, "open notional {open}");
    assert!(near >= 0.99 * open, "near {near} of {open}");
}

#[test]
fn no_density_is_negative() {
    let (_, _, snapshot) = final_snapshot();
    assert!(snapshot
        .levels
        .iter()
        .all(|level| level.long_density >= 0.0 && level.short_density >= 0.0));
}

#[test]
fn the_week_conserves_notional() {
    let (_, engine, _) = run_week();
    let totals = engine.totals();
    let accounted =
        engine.open_long_usd() + engine.open_short_usd() + totals.consumed() + totals.closed;
    assert!(totals.created() > 1e9, "opened {}", totals.created());
    assert!(totals.consumed() > 0.0);
    assert!((totals.created() - accounted).abs() <= 1e-9 * totals.created());
}

#[test]
fn hourly_timeseries_of_the_last_day_ends_at_the_incremental_state() {
    let bars = week_bars();
    let end = bars.last().expect("the week has bars").open_time_ms;
    let start = end - 24 * HOUR_MS + 1;
    let series = timeseries::run(&bars, &EngineParams::default(), start, end, HOUR_MS, None)
        .expect("valid request");
    // 288 bars of 5 minutes in the last 24 hours, 12 per hour.
    assert_eq!(series.snapshots.len(), 24);
    assert_eq!(series.bin_size, 100.0);

    let mut engine = Engine::new(EngineParams::default()).expect("default params are valid");
    let mut last_hour = BarOutcome::default();
    for bar in &bars {
        let outcome = engine.apply(bar).expect("week bars are valid");
        if bar.open_time_ms > end - HOUR_MS {
            last_hour.accumulate(&outcome);
        }
    }
    let incremental = engine
        .snapshot(100.0, &last_hour)
        .expect("bars were applied");
    assert_eq!(series.snapshots.last(), Some(&incremental));
}
