//! Two files that disagree about the same time: the second file's row is a conflict, reported
//! with file, line, stored and new value (CLI summary, inbox report), and the stored value is kept
//! whatever the format. Real DuckDB files, the real `ingest` command.
// Integration tests are the shell's side: they read files, spawn processes and read the clock.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "ingest_support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use liquidationheatmap::ingest::{ingest_file, process_inbox, PROCESSED_DIR};
use liquidationheatmap::store::Store;
use support::TempDir;

const METRICS_HEADER: &str = "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio";

/// 2024-01-01 00:05:00 UTC.
const T_0005_MS: i64 = 1_704_067_500_000;

/// Day 1's file ends with 00:05; day 2's file (as real daily exports do) repeats 00:05, but with
/// another open interest. Line 3 of each file is the 00:05 row.
fn write_two_days(dir: &TempDir) -> (PathBuf, PathBuf) {
    let day1 = dir.join("BTCUSDT-metrics-2024-01-01.csv");
    std::fs::write(
        &day1,
        format!(
            "{METRICS_HEADER}\n\
             2024-01-01 00:00:00,BTCUSDT,80000,3390000000,1,1,1,1\n\
             2024-01-01 00:05:00,BTCUSDT,80100,3395000000,1,1,1,1\n"
        ),
    )
    .expect("write day 1");
    let day2 = dir.join("BTCUSDT-metrics-2024-01-02.csv");
    std::fs::write(
        &day2,
        format!(
            "{METRICS_HEADER}\n\
             2024-01-01 00:10:00,BTCUSDT,80200,3400000000,1,1,1,1\n\
             2024-01-01 00:05:00,BTCUSDT,80150,3397000000,1,1,1,1\n"
        ),
    )
    .expect("write day 2");
    (day1, day2)
}

fn run_ingest(db: &Path, file: &Path) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_liquidationheatmap"))
        .args(["ingest", "--db"])
        .arg(db)
        .arg(file)
        .output()
        .expect("run ingest");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.code().unwrap_or(-1), stdout)
}

fn stored_open_interest_at(db: &Path, time_ms: i64) -> (f64, f64) {
    let conn = duckdb::Connection::open(db).expect("open db");
    conn.query_row(
        "SELECT contracts, value_usd FROM open_interest WHERE symbol = 'BTCUSDT' AND time_ms = ?",
        [time_ms],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .expect("stored row")
}

#[test]
fn the_cli_summary_names_a_conflicting_row_and_the_stored_value_is_kept_in_either_order() {
    let dir = TempDir::new("conflict-cli");
    let (day1, day2) = write_two_days(&dir);

    let db = dir.join("forward.duckdb");
    assert_eq!(run_ingest(&db, &day1).0, 0);
    let (code, summary) = run_ingest(&db, &day2);
    assert_eq!(code, 0, "a conflict is reported, not a rejection: {summary}");
    assert!(
        summary.contains("1 rows added, 1 already present (1 of them conflicting"),
        "{summary}"
    );
    let expected = format!(
        "conflict: {}:3: BTCUSDT open interest at {T_0005_MS} (2024-01-01 00:05:00 UTC) differs \
         from the stored row: contracts stored 80100, new 80150, value_usd stored 3395000000, \
         new 3397000000 (stored value kept)",
        day2.display()
    );
    assert!(summary.lines().any(|l| l == expected), "want {expected:?} in:\n{summary}");
    assert_eq!(stored_open_interest_at(&db, T_0005_MS), (80100.0, 3.395e9));

    // The other order: the same conflict is reported (now against day 1) and day 2's value,
    // stored first, is kept. Which value wins depends on order; that is never silent.
    let db = dir.join("backward.duckdb");
    assert_eq!(run_ingest(&db, &day2).0, 0);
    let (code, summary) = run_ingest(&db, &day1);
    assert_eq!(code, 0, "{summary}");
    assert!(
        summary.contains(&format!(
            "conflict: {}:3: BTCUSDT open interest at {T_0005_MS}",
            day1.display()
        )) && summary.contains("contracts stored 80150, new 80100"),
        "{summary}"
    );
    assert_eq!(stored_open_interest_at(&db, T_0005_MS), (80150.0, 3.397e9));
}

#[test]
fn identical_rows_in_a_second_file_are_already_present_without_conflict() {
    let dir = TempDir::new("conflict-none");
    let (day1, _) = write_two_days(&dir);
    let db = dir.join("market.duckdb");
    assert_eq!(run_ingest(&db, &day1).0, 0);
    let (code, summary) = run_ingest(&db, &day1);
    assert_eq!(code, 0);
    assert!(summary.contains("0 rows added, 2 already present"), "{summary}");
    assert!(!summary.contains("conflict"), "{summary}");
}

#[test]
fn a_candle_conflict_in_the_ohlc_oi_format_names_its_line_and_keeps_the_stored_candle() {
    let dir = TempDir::new("conflict-ohlc");
    let header = "open_time,open,high,low,close,open_interest_value";
    let first = dir.join("BTCUSDT-5m-ohlc-oi-a.csv");
    std::fs::write(
        &first,
        format!("{header}\n1780807200000,61678.4,61810,61600,61700,6400000000\n"),
    )
    .expect("write");
    let second = dir.join("BTCUSDT-5m-ohlc-oi-b.csv");
    // Line 3 repeats the bar with another close; its open interest agrees.
    std::fs::write(
        &second,
        format!(
            "{header}\n1780807500000,61700,61750,61650,61720,6410000000\n\
             1780807200000,61678.4,61810,61600,61705.5,6400000000\n"
        ),
    )
    .expect("write");
    let store = Store::open(dir.join("market.duckdb")).expect("open");
    ingest_file(&store, &first).expect("first");
    let report = ingest_file(&store, &second).expect("second");
    assert_eq!(report.counts.conflicts, 1, "{report:?}");
    assert_eq!(report.conflicts.len(), 1);
    assert_eq!(
        report.conflicts[0].to_string(),
        format!(
            "{}:3: BTCUSDT candle at 1780807200000 (2026-06-07 04:40:00 UTC) differs from the \
             stored row: close stored 61700, new 61705.5 (stored value kept)",
            second.display()
        )
    );
    let bars = store.bars("BTCUSDT", 1_780_807_200_000, 1_780_807_200_001).expect("bars");
    assert_eq!(bars[0].close, 61700.0);
}

#[test]
fn the_inbox_writes_a_conflicts_report_next_to_the_processed_file() {
    let dir = TempDir::new("conflict-inbox");
    let (day1, day2) = write_two_days(&dir);
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox).expect("mkdir");
    let store = Store::open(dir.join("market.duckdb")).expect("open");
    for day in [&day1, &day2] {
        let dropped = inbox.join(day.file_name().expect("name"));
        std::fs::copy(day, &dropped).expect("copy");
        support::make_old(&dropped);
    }

    let report = process_inbox(&store, &inbox);

    assert_eq!(report.processed.len(), 2, "{report:?}");
    assert!(report.processed[0].conflicts_report.is_none(), "day 1 conflicts with nothing");
    let written = report.processed[1].conflicts_report.clone().expect("day 2 has a report");
    let processed = inbox.join(PROCESSED_DIR);
    assert_eq!(written, processed.join("BTCUSDT-metrics-2024-01-02.csv.conflicts.txt"));
    let text = std::fs::read_to_string(&written).expect("read report");
    let first = text.lines().next().expect("a line");
    assert!(
        first.starts_with(&format!(
            "{}:3: BTCUSDT open interest at {T_0005_MS}",
            inbox.join("BTCUSDT-metrics-2024-01-02.csv").display()
        )) && first.contains("contracts stored 80100, new 80150"),
        "{text}"
    );
    assert!(text.ends_with("1 conflicting rows (1 listed); the stored values were kept\n"), "{text}");
}
