//! Store queries against a real DuckDB file: as-of open interest, finest interval, klines
//! aggregation, symbol isolation, idempotent writes and the data version.
// Integration tests are the shell's side: they read files, spawn threads and read the clock.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "ingest_support/mod.rs"]
mod support;

use liquidationheatmap::engine::Bar;
use liquidationheatmap::ingest::ingest_file;
use liquidationheatmap::store::{
    Candle, CandleSeries, OpenInterestPoint, OpenInterestSeries, Store, StoreError,
};
use support::TempDir;

const MINUTE_MS: i64 = 60_000;
/// 2024-01-01T00:00:00Z
const T0: i64 = 1_704_067_200_000;

fn candle(open_time_ms: i64, price: f64) -> Candle {
    Candle {
        open_time_ms,
        open: price,
        high: price + 5.0,
        low: price - 5.0,
        close: price + 1.0,
        volume: Some(1.0),
        quote_volume: Some(price),
        taker_buy_volume: Some(0.5),
        trade_count: Some(10),
    }
}

fn minutes(symbol: &str, count: i64, price: f64) -> CandleSeries {
    CandleSeries {
        symbol: symbol.to_string(),
        interval_ms: MINUTE_MS,
        candles: (0..count)
            .map(|i| candle(T0 + i * MINUTE_MS, price + i as f64))
            .collect(),
    }
}

fn oi(symbol: &str, points: &[(i64, f64)]) -> OpenInterestSeries {
    OpenInterestSeries {
        symbol: symbol.to_string(),
        points: points
            .iter()
            .map(|&(time_ms, value)| OpenInterestPoint {
                time_ms,
                contracts: None,
                value_usd: Some(value),
            })
            .collect(),
    }
}

fn file_store(dir: &TempDir) -> Store {
    Store::open(dir.join("market.duckdb")).expect("open store")
}

#[test]
fn each_bar_takes_the_latest_open_interest_at_or_before_its_open_time() {
    let dir = TempDir::new("asof");
    let store = file_store(&dir);
    let five = 5 * MINUTE_MS;
    store
        .insert_series(
            &[minutes("BTCUSDT", 20, 42_000.0)],
            // Samples at 00:00 and 00:05, then none until 00:30 (a gap).
            &[oi("BTCUSDT", &[(T0, 100.0), (T0 + five, 105.0)])],
        )
        .expect("insert");
    let bars = store
        .bars("BTCUSDT", T0, T0 + 20 * MINUTE_MS)
        .expect("bars");
    let oi_at = |minute: usize| bars[minute].open_interest_usd;
    assert_eq!(bars.len(), 20);
    assert_eq!(oi_at(0), Some(100.0), "sample exactly at the open time");
    assert_eq!(oi_at(4), Some(100.0), "00:04 still uses the 00:00 sample");
    assert_eq!(oi_at(5), Some(105.0), "00:05 switches to the new sample");
    assert_eq!(
        oi_at(10),
        Some(105.0),
        "a sample 5 minutes old is still within tolerance"
    );
    assert_eq!(
        oi_at(11),
        None,
        "a sample more than 5 minutes old is too stale"
    );
}

#[test]
fn open_interest_of_another_symbol_is_never_joined() {
    let dir = TempDir::new("asof-symbol");
    let store = file_store(&dir);
    store
        .insert_series(
            &[
                minutes("BTCUSDT", 3, 42_000.0),
                minutes("ETHUSDT", 3, 2_300.0),
            ],
            &[oi("ETHUSDT", &[(T0, 7.0)])],
        )
        .expect("insert");
    let btc = store.bars("BTCUSDT", T0, T0 + 3 * MINUTE_MS).expect("bars");
    assert!(btc.iter().all(|b| b.open_interest_usd.is_none()), "{btc:?}");
    let eth = store.bars("ETHUSDT", T0, T0 + 3 * MINUTE_MS).expect("bars");
    assert!(
        eth.iter().all(|b| b.open_interest_usd == Some(7.0)),
        "{eth:?}"
    );
}

#[test]
fn two_symbols_with_the_same_times_do_not_collide() {
    let dir = TempDir::new("two-symbols");
    let store = file_store(&dir);
    let counts = store
        .insert_series(
            &[
                minutes("ETHUSDT", 10, 2_300.0),
                minutes("BTCUSDT", 10, 42_000.0),
            ],
            &[],
        )
        .expect("insert");
    assert_eq!(counts.candles_added, 20);
    assert_eq!(
        store.symbols().expect("symbols"),
        vec!["BTCUSDT", "ETHUSDT"]
    );
    let btc = store.bars("BTCUSDT", T0, T0 + 10 * MINUTE_MS).expect("btc");
    let eth = store.bars("ETHUSDT", T0, T0 + 10 * MINUTE_MS).expect("eth");
    assert_eq!(btc.len(), 10);
    assert_eq!(eth.len(), 10);
    assert_eq!(btc[3].open, 42_003.0);
    assert_eq!(eth[3].open, 2_303.0);
}

#[test]
fn bars_come_from_the_finest_interval_stored_for_the_symbol() {
    let dir = TempDir::new("finest");
    let store = file_store(&dir);
    let five_minute = CandleSeries {
        symbol: "BTCUSDT".to_string(),
        interval_ms: 5 * MINUTE_MS,
        candles: vec![candle(T0, 1.0e5), candle(T0 + 5 * MINUTE_MS, 1.0e5)],
    };
    store
        .insert_series(&[five_minute, minutes("BTCUSDT", 7, 42_000.0)], &[])
        .expect("insert");
    assert_eq!(
        store.finest_interval_ms("BTCUSDT").expect("finest"),
        Some(MINUTE_MS)
    );
    let bars = store
        .bars("BTCUSDT", T0, T0 + 60 * MINUTE_MS)
        .expect("bars");
    assert_eq!(bars.len(), 7);
    assert!(bars.iter().all(|b| b.open < 1.0e5));
    assert_eq!(
        store.time_range("BTCUSDT").expect("range"),
        Some((T0, T0 + 6 * MINUTE_MS))
    );
    assert_eq!(store.time_range("NOPEUSDT").expect("range"), None);
}

#[test]
fn bars_after_returns_later_bars_oldest_first_up_to_the_limit() {
    let dir = TempDir::new("bars-after");
    let store = file_store(&dir);
    store
        .insert_series(&[minutes("BTCUSDT", 10, 42_000.0)], &[])
        .expect("insert");
    let bars = store
        .bars_after("BTCUSDT", T0 + 2 * MINUTE_MS, 3)
        .expect("bars_after");
    let times: Vec<i64> = bars.iter().map(|b| b.open_time_ms).collect();
    assert_eq!(
        times,
        vec![T0 + 3 * MINUTE_MS, T0 + 4 * MINUTE_MS, T0 + 5 * MINUTE_MS]
    );
}

#[test]
fn five_real_one_minute_bars_aggregate_into_one_five_minute_kline() {
    let dir = TempDir::new("klines");
    let store = file_store(&dir);
    ingest_file(&store, &support::kline_zip(1)).expect("ingest");
    let raw = support::raw_klines(1);
    // Buckets 00:05 and 00:10 of 2020-01-01, computed here from the raw CSV.
    let expected: Vec<(i64, f64, f64, f64, f64, f64)> = [5usize, 10]
        .iter()
        .map(|&first| {
            let rows = &raw[first..first + 5];
            (
                rows[0].open_time_ms,
                rows[0].open,
                rows.iter().map(|r| r.high).fold(f64::MIN, f64::max),
                rows.iter().map(|r| r.low).fold(f64::MAX, f64::min),
                rows[4].close,
                rows.iter().map(|r| r.volume).sum(),
            )
        })
        .collect();
    let start = raw[5].open_time_ms;
    let klines = store
        .klines("BTCUSDT", 5 * MINUTE_MS, start, start + 10 * MINUTE_MS, 100)
        .expect("klines");
    assert_eq!(klines.len(), 2);
    for (kline, want) in klines.iter().zip(&expected) {
        assert_eq!(
            (
                kline.timestamp_ms,
                kline.open,
                kline.high,
                kline.low,
                kline.close
            ),
            (want.0, want.1, want.2, want.3, want.4)
        );
        let volume = kline.volume.expect("volume");
        assert!((volume - want.5).abs() < 1e-9, "{volume} vs {}", want.5);
    }
}

#[test]
fn klines_of_a_whole_real_day_at_one_hour_are_24_and_respect_the_limit() {
    let dir = TempDir::new("klines-day");
    let store = file_store(&dir);
    ingest_file(&store, &support::kline_zip(1)).expect("ingest");
    let day_start = support::raw_klines(1)[0].open_time_ms;
    let hour = 60 * MINUTE_MS;
    let all = store
        .klines("BTCUSDT", hour, day_start, day_start + 24 * hour, 1000)
        .expect("all");
    assert_eq!(all.len(), 24);
    let limited = store
        .klines("BTCUSDT", hour, day_start, day_start + 24 * hour, 5)
        .expect("5");
    assert_eq!(limited, all[..5].to_vec());
}

#[test]
fn klines_refuse_an_interval_that_is_not_a_multiple_of_the_stored_bars() {
    let dir = TempDir::new("klines-bad");
    let store = file_store(&dir);
    store
        .insert_series(&[minutes("BTCUSDT", 10, 42_000.0)], &[])
        .expect("insert");
    let err = store
        .klines("BTCUSDT", 90_000, T0, T0 + 10 * MINUTE_MS, 10)
        .expect_err("90 s is not a multiple of 1 m");
    assert!(
        matches!(err, StoreError::IntervalNotMultiple { .. }),
        "{err:?}"
    );
}

#[test]
fn inserting_the_same_bars_twice_adds_nothing_and_keeps_the_data_version() {
    let dir = TempDir::new("idempotent-bars");
    let store = file_store(&dir);
    let bars: Vec<Bar> = (0..5)
        .map(|i| Bar {
            open_time_ms: T0 + i * MINUTE_MS,
            open: 10.0,
            high: 11.0,
            low: 9.0,
            close: 10.5,
            volume: None,
            quote_volume: None,
            taker_buy_volume: None,
            open_interest_usd: Some(5.0e9),
        })
        .collect();
    let before = store.data_version();
    let first = store
        .insert_bars("BTCUSDT", MINUTE_MS, &bars)
        .expect("first");
    assert_eq!((first.candles_added, first.open_interest_added), (5, 5));
    let after_first = store.data_version();
    assert!(after_first > before);
    let second = store
        .insert_bars("BTCUSDT", MINUTE_MS, &bars)
        .expect("second");
    assert_eq!(second.rows_added(), 0);
    assert_eq!(second.rows_already_present(), 10);
    assert_eq!(store.data_version(), after_first);
    assert_eq!(
        store.bars("BTCUSDT", T0, T0 + 5 * MINUTE_MS).expect("bars"),
        bars
    );
}

#[test]
fn a_write_on_a_cloned_handle_in_another_thread_is_seen_with_a_new_data_version() {
    let dir = TempDir::new("clone");
    let store = file_store(&dir);
    let clone = store.try_clone().expect("clone");
    let before = store.data_version();
    std::thread::spawn(move || {
        clone
            .insert_series(&[minutes("BTCUSDT", 3, 42_000.0)], &[])
            .expect("insert");
    })
    .join()
    .expect("writer thread");
    assert!(store.data_version() > before);
    assert_eq!(store.row_counts().expect("counts").candles, 3);
}

#[test]
fn the_data_version_keeps_growing_across_reopening() {
    let dir = TempDir::new("version-persist");
    let path = dir.join("market.duckdb");
    let version = {
        let store = Store::open(&path).expect("open");
        store
            .insert_series(&[minutes("BTCUSDT", 3, 42_000.0)], &[])
            .expect("insert");
        store.data_version()
    };
    let store = Store::open(&path).expect("reopen");
    assert_eq!(store.data_version(), version);
    store
        .insert_series(&[minutes("ETHUSDT", 3, 2_300.0)], &[])
        .expect("insert");
    assert!(store.data_version() > version);
}

#[test]
fn writers_on_cloned_handles_in_parallel_threads_all_succeed() {
    let dir = TempDir::new("parallel-writers");
    let store = file_store(&dir);
    let writers: Vec<_> = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
        .into_iter()
        .map(|symbol| {
            let handle = store.try_clone().expect("clone");
            std::thread::spawn(move || {
                for i in 0..20 {
                    let one = CandleSeries {
                        symbol: symbol.to_string(),
                        interval_ms: MINUTE_MS,
                        candles: vec![candle(T0 + i * MINUTE_MS, 100.0)],
                    };
                    handle
                        .insert_series(&[one], &[oi(symbol, &[(T0 + i * MINUTE_MS, 1.0)])])
                        .expect("insert");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer thread");
    }
    let counts = store.row_counts().expect("counts");
    assert_eq!((counts.candles, counts.open_interest), (60, 60));
}

#[test]
fn asking_from_the_beginning_of_time_returns_the_first_bars() {
    let dir = TempDir::new("from-the-start");
    let store = file_store(&dir);
    store
        .insert_series(&[minutes("BTCUSDT", 5, 42_000.0)], &[])
        .expect("insert");
    let first_two = store
        .bars_after("BTCUSDT", i64::MIN, 2)
        .expect("bars_after");
    assert_eq!(first_two.len(), 2);
    assert_eq!(first_two[0].open_time_ms, T0);
    let all = store.bars("BTCUSDT", i64::MIN, i64::MAX).expect("bars");
    assert_eq!(all.len(), 5);
}

#[test]
fn an_in_memory_store_keeps_rows_for_its_lifetime() {
    let store = Store::open_in_memory().expect("in-memory store");
    store
        .insert_series(&[minutes("BTCUSDT", 4, 42_000.0)], &[])
        .expect("insert");
    assert_eq!(store.path(), None);
    assert_eq!(store.row_counts().expect("counts").candles, 4);
    let clone = store.try_clone().expect("clone");
    assert_eq!(clone.symbols().expect("symbols"), vec!["BTCUSDT"]);
}
