//! The inbox folder: ingested files move to `processed/`, rejected ones to `failed/` with a
//! report, files still being written wait.
// Integration tests are the shell's side: they read files, spawn threads and read the clock.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "ingest_support/mod.rs"]
mod support;

use liquidationheatmap::ingest::{process_inbox, FAILED_DIR, PROCESSED_DIR};
use liquidationheatmap::store::Store;
use support::TempDir;

#[test]
fn an_ingested_archive_moves_to_processed_together_with_its_checksum() {
    let dir = TempDir::new("inbox-ok");
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox).expect("mkdir");
    let zip = support::copy_with_checksum(&support::kline_zip(1), &inbox);
    support::make_old(&zip);
    support::make_old(&inbox.join("BTCUSDT-1m-2020-01-01.zip.CHECKSUM"));
    let store = Store::open(dir.join("market.duckdb")).expect("open");

    let report = process_inbox(&store, &inbox);

    assert_eq!(report.processed.len(), 1, "{report:?}");
    assert_eq!(report.processed[0].report.rows_added(), 1440);
    let processed = inbox.join(PROCESSED_DIR);
    assert_eq!(
        report.processed[0].moved_to,
        processed.join("BTCUSDT-1m-2020-01-01.zip")
    );
    assert!(processed.join("BTCUSDT-1m-2020-01-01.zip").is_file());
    assert!(processed
        .join("BTCUSDT-1m-2020-01-01.zip.CHECKSUM")
        .is_file());
    assert!(!zip.exists());
    assert!(!inbox.join("BTCUSDT-1m-2020-01-01.zip.CHECKSUM").exists());
    assert_eq!(store.row_counts().expect("counts").candles, 1440);
}

#[test]
fn a_rejected_file_moves_to_failed_with_a_report_of_why() {
    let dir = TempDir::new("inbox-bad");
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox).expect("mkdir");
    let bad = inbox.join("BTCUSDT-1m-2020-01-01.csv");
    let mut text = support::kline_csv_text(1);
    text.push_str("1577923200000,7200.1,oops,7190,7195,1,1577923259999,1,1,1,1,0\n");
    std::fs::write(&bad, text).expect("write");
    support::make_old(&bad);
    let store = Store::open(dir.join("market.duckdb")).expect("open");

    let report = process_inbox(&store, &inbox);

    assert_eq!(report.failed.len(), 1, "{report:?}");
    let failed = inbox.join(FAILED_DIR);
    assert!(failed.join("BTCUSDT-1m-2020-01-01.csv").is_file());
    assert!(!bad.exists());
    let why = std::fs::read_to_string(failed.join("BTCUSDT-1m-2020-01-01.csv.error.txt"))
        .expect("error report");
    assert_eq!(
        why,
        format!(
            "{}:1441: column 3 (high) is not a number: \"oops\"\n",
            bad.display()
        )
    );
    assert_eq!(store.row_counts().expect("counts").candles, 0);
}

#[test]
fn a_file_modified_just_now_waits_for_a_later_pass() {
    let dir = TempDir::new("inbox-fresh");
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox).expect("mkdir");
    let fresh = inbox.join(support::WEEK_NAME);
    std::fs::copy(support::week_csv(), &fresh).expect("copy");
    let store = Store::open(dir.join("market.duckdb")).expect("open");

    let first = process_inbox(&store, &inbox);
    assert_eq!(first.not_yet_stable, vec![fresh.clone()]);
    assert!(fresh.exists());
    assert_eq!(store.row_counts().expect("counts").candles, 0);

    support::make_old(&fresh);
    let second = process_inbox(&store, &inbox);
    assert_eq!(second.processed.len(), 1, "{second:?}");
    assert_eq!(store.row_counts().expect("counts").candles, 2140);
}

#[test]
fn an_empty_inbox_pass_reports_nothing_to_do() {
    let dir = TempDir::new("inbox-empty");
    let inbox = dir.join("inbox");
    let store = Store::open(dir.join("market.duckdb")).expect("open");
    let report = process_inbox(&store, &inbox);
    assert!(report.is_empty(), "{report:?}");
    assert!(inbox.join(PROCESSED_DIR).is_dir() && inbox.join(FAILED_DIR).is_dir());
}
