//! Rejections and idempotency: a bad file is refused whole with a precise reason, the others
//! still go in, and ingesting again adds nothing.
// Integration tests are the shell's side: they read files, spawn threads and read the clock.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "ingest_support/mod.rs"]
mod support;

use std::path::PathBuf;

use liquidationheatmap::ingest::{ingest_file, ingest_paths, ChecksumStatus, IngestError};
use liquidationheatmap::store::Store;
use support::TempDir;

/// The real day-1 CSV with one field replaced: (1-based line, 0-based column, new text).
fn day1_with(line: usize, column: usize, value: &str) -> String {
    support::kline_csv_text(1)
        .lines()
        .enumerate()
        .map(|(i, row)| {
            let mut fields: Vec<&str> = row.split(',').collect();
            if i + 1 == line {
                fields[column] = value;
            }
            fields.join(",") + "\n"
        })
        .collect()
}

#[test]
fn a_non_numeric_field_rejects_the_file_naming_file_line_and_column() {
    let dir = TempDir::new("bad-number");
    let path = dir.join("BTCUSDT-1m-2020-01-01.csv");
    std::fs::write(&path, day1_with(17, 2, "abc")).expect("write");
    let store = Store::open(dir.join("market.duckdb")).expect("open");
    let err = ingest_file(&store, &path).expect_err("bad row");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:17: column 3 (high) is not a number: \"abc\"",
            path.display()
        )
    );
    assert_eq!(
        store.row_counts().expect("counts").candles,
        0,
        "nothing from the file is stored"
    );
}

#[test]
fn a_high_below_the_low_rejects_the_file() {
    let dir = TempDir::new("high-below-low");
    let path = dir.join("BTCUSDT-1m-2020-01-01.csv");
    let raw = support::raw_klines(1);
    // High 1 below the real low of line 5.
    let high = raw[4].low - 1.0;
    std::fs::write(&path, day1_with(5, 2, &high.to_string())).expect("write");
    let store = Store::open(dir.join("market.duckdb")).expect("open");
    let err = ingest_file(&store, &path).expect_err("bad row");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:5: high {high} is below low {}",
            path.display(),
            raw[4].low
        )
    );
}

#[test]
fn a_row_with_a_missing_column_is_rejected() {
    let dir = TempDir::new("short-row");
    let path = dir.join("BTCUSDT-1m-2020-01-01.csv");
    let mut text = support::kline_csv_text(1);
    text.push_str("1577923200000,7200.1,7201.0\n");
    std::fs::write(&path, text).expect("write");
    let store = Store::open(dir.join("market.duckdb")).expect("open");
    let err = ingest_file(&store, &path).expect_err("short row");
    assert_eq!(
        err.to_string(),
        format!("{}:1441: expected 12 columns, found 3", path.display())
    );
}

#[test]
fn an_overlong_line_is_rejected_without_reading_it_whole() {
    let dir = TempDir::new("long-line");
    let path = dir.join("BTCUSDT-1m-2020-01-01.csv");
    let mut text = support::kline_csv_text(1);
    text.push_str(&"9".repeat(liquidationheatmap::ingest::limits::LINE_BYTES_MAX * 3));
    text.push('\n');
    std::fs::write(&path, text).expect("write");
    let store = Store::open(dir.join("market.duckdb")).expect("open");
    let err = ingest_file(&store, &path).expect_err("long line");
    assert!(
        err.to_string()
            .starts_with(&format!("{}:1441: line is longer than", path.display())),
        "{err}"
    );
}

#[test]
fn a_checksum_mismatch_rejects_the_archive_and_stores_nothing() {
    let dir = TempDir::new("bad-checksum");
    let zip = support::copy_with_checksum(&support::kline_zip(1), dir.path());
    // The real checksum of day 2, presented as day 1's.
    let day2_sum = std::fs::read_to_string(support::kline_zip(2).with_extension("zip.CHECKSUM"))
        .expect("day 2 checksum");
    std::fs::write(dir.join("BTCUSDT-1m-2020-01-01.zip.CHECKSUM"), day2_sum).expect("write");
    let store = Store::open(dir.join("market.duckdb")).expect("open");
    let err = ingest_file(&store, &zip).expect_err("mismatch");
    assert!(
        matches!(err, IngestError::ChecksumMismatch { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
    assert_eq!(store.row_counts().expect("counts").candles, 0);
}

#[test]
fn an_archive_without_a_checksum_file_is_accepted_unverified() {
    let dir = TempDir::new("no-checksum");
    let zip = dir.join("BTCUSDT-1m-2020-01-01.zip");
    std::fs::copy(support::kline_zip(1), &zip).expect("copy");
    let store = Store::open(dir.join("market.duckdb")).expect("open");
    let report = ingest_file(&store, &zip).expect("ingest");
    assert_eq!(report.checksum, ChecksumStatus::Missing);
    assert_eq!(report.rows_added(), 1440);
}

/// A folder with the three real archives (with checksums) and one broken CSV.
fn folder_with_one_bad_file(dir: &TempDir) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(data.join("nested")).expect("mkdir");
    for day in 1..=2 {
        support::copy_with_checksum(&support::kline_zip(day), &data);
    }
    support::copy_with_checksum(&support::kline_zip(3), &data.join("nested"));
    std::fs::write(
        data.join("ETHUSDT-1m-2020-01-01.csv"),
        day1_with(3, 4, "-1"),
    )
    .expect("write");
    data
}

#[test]
fn one_bad_file_is_rejected_while_the_others_in_the_folder_go_in() {
    let dir = TempDir::new("folder");
    let data = folder_with_one_bad_file(&dir);
    let store = Store::open(dir.join("market.duckdb")).expect("open");
    let summary = ingest_paths(&store, std::slice::from_ref(&data), false);
    println!("{summary}");
    assert_eq!((summary.files(), summary.ingested.len()), (4, 3));
    assert_eq!(summary.rows_added(), 3 * 1440);
    assert_eq!(summary.rejected.len(), 1);
    assert_eq!(
        summary.rejected[0].to_string(),
        format!(
            "{}:3: column 5 (close) is not above zero: -1",
            data.join("ETHUSDT-1m-2020-01-01.csv").display()
        )
    );
    assert_eq!(store.symbols().expect("symbols"), vec!["BTCUSDT"]);
}

#[test]
fn ingesting_the_same_files_again_adds_no_rows() {
    let dir = TempDir::new("again");
    let data = folder_with_one_bad_file(&dir);
    let store = Store::open(dir.join("market.duckdb")).expect("open");
    let first = ingest_paths(&store, std::slice::from_ref(&data), false);
    let version = store.data_version();
    let second = ingest_paths(&store, &[data], false);
    assert_eq!(first.rows_added(), 3 * 1440);
    assert_eq!(
        (second.rows_added(), second.rows_already_present()),
        (0, 3 * 1440)
    );
    assert_eq!(store.data_version(), version, "no new rows, no new version");
    assert_eq!(store.row_counts().expect("counts").candles, 3 * 1440);
}

#[test]
fn a_missing_path_is_reported_as_rejected() {
    let dir = TempDir::new("missing");
    let store = Store::open(dir.join("market.duckdb")).expect("open");
    let summary = ingest_paths(&store, &[dir.join("nope.zip")], false);
    assert_eq!(summary.rejected.len(), 1);
    assert!(matches!(summary.rejected[0], IngestError::Io { .. }));
}
