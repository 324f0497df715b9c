//! Every input format, ingested into a real DuckDB file from the real data fixtures (or from
//! files written here by hand), checked against an independent reading of the raw text.
// Integration tests are the shell's side: they read files, spawn threads and read the clock.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "ingest_support/mod.rs"]
mod support;

use std::path::Path;
use std::time::Instant;

use liquidationheatmap::engine::Bar;
use liquidationheatmap::ingest::{ingest_file, ChecksumStatus, FileFormat, IngestError};
use liquidationheatmap::store::Store;
use support::{RawKline, TempDir};

const KLINE_HEADER: &str = "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore";
const DAY_MS: i64 = 86_400_000;

fn as_bar(raw: &RawKline) -> Bar {
    Bar {
        open_time_ms: raw.open_time_ms,
        open: raw.open,
        high: raw.high,
        low: raw.low,
        close: raw.close,
        volume: Some(raw.volume),
        quote_volume: Some(raw.quote_volume),
        taker_buy_volume: Some(raw.taker_buy_volume),
        open_interest_usd: None,
    }
}

fn all_bars(store: &Store, symbol: &str) -> Vec<Bar> {
    let (first, last) = store.time_range(symbol).expect("range").expect("has data");
    store.bars(symbol, first, last + 1).expect("bars")
}

#[test]
fn a_real_kline_zip_without_header_is_ingested_and_verified() {
    let dir = TempDir::new("kline-zip");
    let store = Store::open(dir.join("market.duckdb")).expect("open");
    let started = Instant::now();
    let report = ingest_file(&store, &support::kline_zip(1)).expect("ingest");
    println!("1 real kline zip ingested in {:?}", started.elapsed());
    assert_eq!(
        report.format,
        FileFormat::Klines {
            symbol: "BTCUSDT".to_string(),
            interval_ms: 60_000,
            has_header: false
        }
    );
    assert_eq!(report.checksum, ChecksumStatus::Verified);
    assert_eq!((report.rows_read, report.rows_added()), (1440, 1440));
    let expected: Vec<Bar> = support::raw_klines(1).iter().map(as_bar).collect();
    assert_eq!(all_bars(&store, "BTCUSDT"), expected);
}

#[test]
fn a_kline_csv_with_a_header_row_is_ingested() {
    let dir = TempDir::new("kline-header");
    let path = dir.join("BTCUSDT-1m-2020-01-02.csv");
    std::fs::write(
        &path,
        format!("{KLINE_HEADER}\n{}", support::kline_csv_text(2)),
    )
    .expect("write");
    let store = Store::open(dir.join("market.duckdb")).expect("open");
    let report = ingest_file(&store, &path).expect("ingest");
    assert!(matches!(
        report.format,
        FileFormat::Klines {
            has_header: true,
            ..
        }
    ));
    assert_eq!(report.checksum, ChecksumStatus::Missing);
    let expected: Vec<Bar> = support::raw_klines(2).iter().map(as_bar).collect();
    assert_eq!(all_bars(&store, "BTCUSDT"), expected);
}

#[test]
fn microsecond_kline_timestamps_are_stored_as_milliseconds() {
    let dir = TempDir::new("kline-micros");
    let path = dir.join("BTCUSDT-1m-2020-01-03.csv");
    let micros: String = support::kline_csv_text(3)
        .lines()
        .map(|line| {
            let mut f: Vec<String> = line.split(',').map(str::to_string).collect();
            for i in [0, 6] {
                f[i] = format!("{}000", f[i]);
            }
            f.join(",") + "\n"
        })
        .collect();
    assert_eq!(micros.split(',').next().map(str::len), Some(16));
    std::fs::write(&path, micros).expect("write");
    let store = Store::open(dir.join("market.duckdb")).expect("open");
    ingest_file(&store, &path).expect("ingest");
    let expected: Vec<Bar> = support::raw_klines(3).iter().map(as_bar).collect();
    assert_eq!(all_bars(&store, "BTCUSDT"), expected);
}

#[test]
fn the_real_ohlc_oi_week_is_ingested_with_open_interest_on_every_bar() {
    let dir = TempDir::new("week");
    let store = Store::open(dir.join("market.duckdb")).expect("open");
    let started = Instant::now();
    let report = ingest_file(&store, &support::week_csv()).expect("ingest");
    println!("real OHLC+OI week ingested in {:?}", started.elapsed());
    assert_eq!(
        report.format,
        FileFormat::OhlcOi {
            symbol: "BTCUSDT".to_string(),
            interval_ms: 300_000
        }
    );
    assert_eq!(report.rows_read, 2140);
    assert_eq!(
        (
            report.counts.candles_added,
            report.counts.open_interest_added
        ),
        (2140, 2140)
    );
    let text = std::fs::read_to_string(support::week_csv()).expect("read");
    let expected: Vec<Bar> = text
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<f64> = line
                .split(',')
                .map(|v| v.parse().expect("number"))
                .collect();
            Bar {
                open_time_ms: f[0] as i64,
                open: f[1],
                high: f[2],
                low: f[3],
                close: f[4],
                volume: None,
                quote_volume: None,
                taker_buy_volume: None,
                open_interest_usd: Some(f[5]),
            }
        })
        .collect();
    assert_eq!(all_bars(&store, "BTCUSDT"), expected);
}

#[test]
fn ohlc_oi_extra_volume_columns_are_read_in_any_order() {
    let dir = TempDir::new("ohlc-extra");
    let path = dir.join("ETHUSDT-5m-ohlc-oi-sample.csv");
    std::fs::write(
        &path,
        "open_time,open,high,low,close,open_interest_value,trade_count,taker_buy_volume,volume\n\
         1704067200000,2300,2310,2290,2305,1500000000,812,40.5,90.25\n\
         1704067500000,2305,2320,2300,2301,,77,1.5,3\n",
    )
    .expect("write");
    let store = Store::open(dir.join("market.duckdb")).expect("open");
    let report = ingest_file(&store, &path).expect("ingest");
    assert_eq!(
        (
            report.counts.candles_added,
            report.counts.open_interest_added
        ),
        (2, 1)
    );
    let bars = store.bars("ETHUSDT", 0, i64::MAX).expect("bars");
    assert_eq!(bars.len(), 2);
    assert_eq!(
        (
            bars[0].volume,
            bars[0].taker_buy_volume,
            bars[0].quote_volume
        ),
        (Some(90.25), Some(40.5), None)
    );
    assert_eq!(bars[0].open_interest_usd, Some(1.5e9));
    // The second bar has no sample of its own; the first one (5 minutes old) still applies.
    assert_eq!(bars[1].open_interest_usd, Some(1.5e9));
}

/// Reads the open-interest table with plain DuckDB after the store is closed.
fn stored_open_interest(db: &Path) -> Vec<(String, i64, Option<f64>, Option<f64>)> {
    let raw = duckdb::Connection::open(db).expect("raw open");
    let mut stmt = raw
        .prepare("SELECT symbol, time_ms, contracts, value_usd FROM open_interest ORDER BY symbol, time_ms")
        .expect("prepare");
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    rows
}

const METRICS_HEADER: &str = "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio";

#[test]
fn a_metrics_csv_with_unsorted_and_repeated_rows_stores_each_sample_once() {
    let dir = TempDir::new("metrics");
    let path = dir.join("BTCUSDT-metrics-2024-01-01.csv");
    std::fs::write(
        &path,
        format!(
            "{METRICS_HEADER}\n\
             2024-01-01 00:10:00,BTCUSDT,80200.5,3400000000.5,1.5,1.4,1.3,0.9\n\
             2024-01-01 00:00:00,BTCUSDT,80000,3390000000,1.5,1.4,1.3,0.9\n\
             2024-01-01 00:05:00,BTCUSDT,80100.25,3395000000.25,,,,\n\
             2024-01-01 00:00:00,BTCUSDT,80000,3390000000,1.5,1.4,1.3,0.9\n"
        ),
    )
    .expect("write");
    let db = dir.join("market.duckdb");
    {
        let store = Store::open(&db).expect("open");
        let report = ingest_file(&store, &path).expect("ingest");
        assert_eq!(report.format, FileFormat::Metrics);
        assert_eq!(
            (report.rows_read, report.counts.open_interest_added),
            (4, 3)
        );
    }
    // 2024-01-01T00:00:00Z = 1704067200000
    let t0 = 1_704_067_200_000;
    let btc = "BTCUSDT".to_string();
    assert_eq!(
        stored_open_interest(&db),
        vec![
            (btc.clone(), t0, Some(80000.0), Some(3.39e9)),
            (
                btc.clone(),
                t0 + 300_000,
                Some(80100.25),
                Some(3395000000.25)
            ),
            (btc, t0 + 600_000, Some(80200.5), Some(3400000000.5)),
        ]
    );
}

#[test]
fn a_metrics_csv_repeating_a_time_with_different_values_is_rejected() {
    let dir = TempDir::new("metrics-conflict");
    let path = dir.join("BTCUSDT-metrics-2024-01-01.csv");
    std::fs::write(
        &path,
        format!(
            "{METRICS_HEADER}\n\
             2024-01-01 00:05:00,BTCUSDT,80100,3395000000,1,1,1,1\n\
             2024-01-01 00:00:00,BTCUSDT,80000,3390000000,1,1,1,1\n\
             2024-01-01 00:05:00,BTCUSDT,99999,3395000000,1,1,1,1\n"
        ),
    )
    .expect("write");
    let store = Store::open(dir.join("market.duckdb")).expect("open");
    let err = ingest_file(&store, &path).expect_err("conflict");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:4: create_time 1704067500000 (2024-01-01 00:05:00 UTC) repeats line 2 with different values",
            path.display()
        )
    );
    assert_eq!(store.row_counts().expect("counts").open_interest, 0);
}

#[test]
fn a_file_in_no_known_format_is_rejected_with_the_reason() {
    let dir = TempDir::new("unknown");
    let path = dir.join("BTCUSDT-trades-2024-01-01.csv");
    std::fs::write(
        &path,
        "id,price,qty,quote_qty,time,is_buyer_maker\n1,42000,0.1,4200,1704067200000,true\n",
    )
    .expect("write");
    let store = Store::open(dir.join("market.duckdb")).expect("open");
    let err = ingest_file(&store, &path).expect_err("unknown");
    assert!(matches!(err, IngestError::UnknownFormat { .. }), "{err:?}");
    assert!(err.to_string().contains("matches no known format"), "{err}");
}

#[test]
fn kline_content_under_a_name_without_symbol_and_interval_is_rejected() {
    let dir = TempDir::new("kline-badname");
    let path = dir.join("klines.csv");
    std::fs::write(&path, support::kline_csv_text(1)).expect("write");
    let store = Store::open(dir.join("market.duckdb")).expect("open");
    let err = ingest_file(&store, &path).expect_err("no symbol in name");
    assert!(
        err.to_string()
            .contains("the file name is not SYMBOL-INTERVAL-YYYY-MM-DD"),
        "{err}"
    );
}

#[test]
fn three_real_days_give_consecutive_minutes_across_day_boundaries() {
    let dir = TempDir::new("three-days");
    let store = Store::open(dir.join("market.duckdb")).expect("open");
    let started = Instant::now();
    for day in 1..=3 {
        ingest_file(&store, &support::kline_zip(day)).expect("ingest");
    }
    println!("3 real kline zips ingested in {:?}", started.elapsed());
    let bars = all_bars(&store, "BTCUSDT");
    assert_eq!(bars.len(), 3 * 1440);
    assert_eq!(bars[0].open_time_ms % DAY_MS, 0, "starts at midnight");
    assert!(bars
        .windows(2)
        .all(|w| w[1].open_time_ms - w[0].open_time_ms == 60_000));
}
