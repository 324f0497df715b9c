//! The realised-liquidations file: ingested into a real DuckDB file (bars, open interest and the
//! liquidations per bar), and scored by the real `backtest` command, from the file and from the
//! database, deterministically.
// Integration tests are the shell's side: they read files, spawn processes and read the clock.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "ingest_support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use liquidationheatmap::ingest::ingest_file;
use liquidationheatmap::store::Store;
use serde_json::Value;
use support::TempDir;

const REALISED_NAME: &str = "BTCUSDT-30m-ohlc-oi-liquidations-2026-05-21_2026-05-30.csv";
const BARS: usize = 438;

fn realised_csv() -> PathBuf {
    support::fixtures().join("realised-liquidations-30m").join(REALISED_NAME)
}

/// (open time, long USD, short USD) per line, read here independently of the ingest code.
fn raw_realised() -> Vec<(i64, f64, f64)> {
    std::fs::read_to_string(realised_csv())
        .expect("read fixture")
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            (f[0].parse().unwrap(), f[6].parse().unwrap(), f[7].parse().unwrap())
        })
        .collect()
}

fn backtest(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_liquidationheatmap"))
        .arg("backtest")
        .args(args)
        .output()
        .expect("run backtest")
}

fn backtest_json(args: &[&str]) -> Value {
    let output = backtest(args);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON report")
}

fn path_arg(path: &Path) -> String {
    path.to_str().expect("utf-8 path").to_string()
}

#[test]
fn the_realised_file_is_ingested_as_bars_open_interest_and_liquidations_per_bar() {
    let dir = TempDir::new("realised-ingest");
    let store = Store::open(dir.join("market.duckdb")).expect("open");
    let report = ingest_file(&store, &realised_csv()).expect("ingest");
    let counts = report.counts;
    assert_eq!(
        (counts.candles_added, counts.open_interest_added, counts.realised_added),
        (BARS as u64, BARS as u64, BARS as u64)
    );
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let (interval_ms, bars) = store.realised_bars("BTCUSDT").expect("read");
    assert_eq!(interval_ms, 1_800_000);
    let stored: Vec<(i64, f64, f64)> = bars
        .iter()
        .map(|b| (b.bar.open_time_ms, b.liquidated_long_usd, b.liquidated_short_usd))
        .collect();
    assert_eq!(stored, raw_realised());
    assert!(bars.iter().all(|b| b.bar.open_interest_usd.is_some_and(|oi| oi > 7e9)));

    // Ingesting it again adds nothing and finds no conflict.
    let again = ingest_file(&store, &realised_csv()).expect("ingest again");
    assert_eq!((again.rows_added(), again.counts.conflicts), (0, 0));
}

#[test]
fn the_backtest_is_deterministic_and_scores_the_candle_rule_as_computed_independently() {
    let file = path_arg(&realised_csv());
    let args = ["--json", "--resamples", "200", file.as_str()];
    let first = backtest(&args);
    let second = backtest(&args);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(first.stdout, second.stdout, "same data, same seed: the same bytes");
    let report: Value = serde_json::from_slice(&first.stdout).expect("JSON");
    assert_eq!(report["data"]["bars"], BARS);
    assert_eq!(report["data"]["scored_bars"], BARS - 48);
    assert_eq!(report["data"]["last_open_time"], "2026-05-30T12:30:00Z");
    assert_eq!(report["model"]["preset"], "calibrated");
    // Spearman of the candle rule on bars 49..438, computed with a separate script (average
    // ranks for ties): long 0.6805, short 0.6267.
    let candle = |side: &str| report[side]["spearman"]["candle"]["value"].as_f64().unwrap();
    assert!((candle("long") - 0.6805).abs() < 5e-4, "{}", candle("long"));
    assert!((candle("short") - 0.6267).abs() < 5e-4, "{}", candle("short"));
    for side in ["long", "short", "overall"] {
        let s = &report[side]["spearman"];
        for figure in ["model", "candle", "difference"] {
            let (v, lo, hi) = (s[figure]["value"].as_f64().unwrap(), s[figure]["low"].as_f64().unwrap(), s[figure]["high"].as_f64().unwrap());
            assert!(lo <= v && v <= hi, "{side} {figure}: {v} not in [{lo}, {hi}]");
        }
    }
    let other_seed = backtest_json(&["--json", "--resamples", "200", "--seed", "14", file.as_str()]);
    assert_eq!(other_seed["long"]["spearman"]["model"]["value"], report["long"]["spearman"]["model"]["value"]);
    assert_ne!(other_seed["long"]["spearman"]["model"]["low"], report["long"]["spearman"]["model"]["low"]);
}

#[test]
fn the_backtest_reads_the_same_figures_from_the_database() {
    let dir = TempDir::new("realised-db");
    let db = dir.join("market.duckdb");
    {
        let store = Store::open(&db).expect("open");
        ingest_file(&store, &realised_csv()).expect("ingest");
    }
    let file = path_arg(&realised_csv());
    let from_file = backtest_json(&["--json", "--resamples", "100", file.as_str()]);
    let from_db = backtest_json(&["--json", "--resamples", "100", "--db", path_arg(&db).as_str()]);
    for key in ["long", "short", "overall", "model"] {
        assert_eq!(from_file[key], from_db[key], "{key}");
    }
    assert_eq!(from_db["data"]["source"], path_arg(&db));
}

#[test]
fn the_calibrated_model_beats_the_candle_rule_on_both_sides_where_the_legacy_one_does_not() {
    let file = path_arg(&realised_csv());
    let calibrated = backtest_json(&["--json", "--resamples", "300", file.as_str()]);
    let legacy = backtest_json(&["--json", "--resamples", "300", "--preset", "legacy", file.as_str()]);
    for side in ["long", "short"] {
        let diff = |report: &Value| report[side]["spearman"]["difference"]["value"].as_f64().unwrap();
        assert!(diff(&calibrated) > 0.0, "calibrated {side}: {}", calibrated[side]);
        assert!(diff(&legacy) < 0.0, "legacy {side}: {}", legacy[side]);
    }
    assert_eq!(legacy["model"]["preset"], "legacy");
}

#[test]
fn model_options_change_the_model_and_invalid_ones_exit_2_naming_the_option() {
    let file = path_arg(&realised_csv());
    let custom = backtest_json(&["--json", "--resamples", "50", "--turnover-per-hour", "0", "--entry-points", "1", file.as_str()]);
    assert_eq!(custom["model"]["preset"], "custom");
    assert_eq!(custom["model"]["entry_points"], 1);
    for (args, named) in [
        (vec!["--turnover-per-hour", "1.5"], "turnover_per_hour 1.5 is out of range"),
        (vec!["--split", "random"], "--split"),
        (vec!["--leverage-weights", "10:x"], "--leverage-weights"),
        (vec!["--oi-jump-max", "big"], "--oi-jump-max"),
        (vec!["--preset", "best"], "calibrated, legacy"),
    ] {
        let mut all = args.clone();
        all.push(file.as_str());
        let output = backtest(&all);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
}

#[test]
fn implausible_open_interest_is_stored_but_named_as_a_warning_by_file_and_line() {
    let dir = TempDir::new("oi-warnings");
    let path = dir.join("BTCUSDT-5m-ohlc-oi-lies.csv");
    // Line 3 is a zero, line 5 a 50x spike; lines 4 and 6 are back at the real level.
    std::fs::write(
        &path,
        "open_time,open,high,low,close,open_interest_value\n\
         1780807200000,61678.4,61810,61600,61700,6400000000\n\
         1780807500000,61700,61750,61650,61720,0\n\
         1780807800000,61720,61760,61700,61740,6410000000\n\
         1780808100000,61740,61800,61700,61760,320000000000\n\
         1780808400000,61760,61790,61720,61750,6405000000\n",
    )
    .expect("write");
    let db = dir.join("market.duckdb");
    let output = Command::new(env!("CARGO_BIN_EXE_liquidationheatmap"))
        .args(["ingest", "--db"])
        .arg(&db)
        .arg(&path)
        .output()
        .expect("ingest");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "warnings are not rejections: {stdout}");
    assert!(stdout.contains("2 rows with implausible open interest"), "{stdout}");
    let zero = format!("warning: {}:3: BTCUSDT open interest 0 at 1780807500000 is not positive; the model treats it as missing", path.display());
    assert!(stdout.lines().any(|l| l == zero), "want {zero:?} in:\n{stdout}");
    let spike = format!("warning: {}:5: BTCUSDT open interest 320000000000 at 1780808100000 is 49.",
        path.display());
    assert!(stdout.lines().any(|l| l.starts_with(&spike) && l.ends_with("the model treats it as missing")), "{stdout}");
    let store = Store::open(&db).expect("open");
    assert_eq!(store.row_counts().expect("counts").open_interest, 5, "stored unchanged");
}

/// The bundled 5-minute week (bars and open interest, no realised liquidations).
fn week_csv() -> PathBuf {
    support::fixtures().join("binance-um-5m-ohlc-oi").join("BTCUSDT-5m-ohlc-oi-2026-06-07_2026-06-14.csv")
}

#[test]
fn the_live_feeds_liquidations_are_summed_per_stored_bar_and_scored_from_the_database() {
    use liquidationheatmap::store::{LiquidatedSide, RealisedLiquidation};
    const FIVE_MINUTES_MS: i64 = 300_000;
    let dir = TempDir::new("realised-orders");
    let db = dir.join("market.duckdb");
    let opens: Vec<i64> = std::fs::read_to_string(week_csv())
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| line.split(',').next().unwrap().parse().unwrap())
        .collect();
    // What the live feed would store: in bars 100..400, two long liquidations and one short per
    // bar, none in every seventh bar (a quiet bar scores 0 USD, it is not left out).
    let mut orders = Vec::new();
    let mut expected = Vec::new();
    for (i, &open) in opens.iter().enumerate().take(400).skip(100) {
        let quiet = i % 7 == 0 && i != 100 && i != 399;
        let (long, short) = if quiet { (0.0, 0.0) } else { (1000.0 * i as f64 + 2.0 * 50.0, 10.0 * i as f64) };
        if !quiet {
            for (offset, side, price, quantity) in [
                (1_000, LiquidatedSide::Long, 100.0, 10.0 * i as f64 / 2.0),
                (2_000, LiquidatedSide::Long, 100.0, 10.0 * i as f64 / 2.0 + 1.0),
                (FIVE_MINUTES_MS - 1, LiquidatedSide::Short, 10.0, i as f64),
            ] {
                orders.push(RealisedLiquidation {
                    symbol: "BTCUSDT".into(),
                    time_ms: open + offset,
                    side,
                    price,
                    quantity,
                    notional_usd: price * quantity,
                });
            }
        }
        expected.push((open, long, short));
    }
    {
        let store = Store::open(&db).expect("open");
        ingest_file(&store, &week_csv()).expect("ingest the week");
        assert_eq!(store.realised_bars("BTCUSDT").expect("read").1.len(), 0, "no liquidations yet");
        store.insert_realised_liquidations(&orders).expect("store liquidations");
        let (interval_ms, bars) = store.realised_bars("BTCUSDT").expect("read");
        assert_eq!(interval_ms, FIVE_MINUTES_MS);
        let got: Vec<(i64, f64, f64)> =
            bars.iter().map(|b| (b.bar.open_time_ms, b.liquidated_long_usd, b.liquidated_short_usd)).collect();
        assert_eq!(got, expected);
        assert!(bars.iter().all(|b| b.bar.open_interest_usd.is_some()), "each bar keeps its open interest");
    }
    let report = backtest_json(&["--json", "--resamples", "50", "--db", path_arg(&db).as_str()]);
    assert_eq!(report["data"]["bars"], 300, "{}", report["data"]);
    assert_eq!(report["data"]["symbol"], "BTCUSDT");
    assert!(report["long"]["spearman"]["difference"]["value"].as_f64().is_some_and(f64::is_finite), "{}", report["long"]);
}
