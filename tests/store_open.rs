//! Opening database files: creation, reopening, version checks, and refusing files in use.
// Integration tests are the shell's side: they read files, spawn threads and read the clock.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "ingest_support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use liquidationheatmap::engine::Bar;
use liquidationheatmap::store::{Store, StoreError, SCHEMA_VERSION};
use support::TempDir;

fn bar(open_time_ms: i64, price: f64) -> Bar {
    Bar {
        open_time_ms,
        open: price,
        high: price + 10.0,
        low: price - 10.0,
        close: price + 1.0,
        volume: Some(2.5),
        quote_volume: None,
        taker_buy_volume: None,
        open_interest_usd: Some(1.0e9),
    }
}

const T0: i64 = 1_780_807_200_000;

#[test]
fn data_written_to_a_file_is_there_after_reopening() {
    let dir = TempDir::new("reopen");
    let path = dir.join("market.duckdb");
    {
        let store = Store::open(&path).expect("create");
        store
            .insert_bars(
                "BTCUSDT",
                300_000,
                &[bar(T0, 61_000.0), bar(T0 + 300_000, 61_100.0)],
            )
            .expect("insert");
    }
    let store = Store::open(&path).expect("reopen");
    let bars = store.bars("BTCUSDT", T0, T0 + 600_000).expect("bars");
    assert_eq!(bars, vec![bar(T0, 61_000.0), bar(T0 + 300_000, 61_100.0)]);
}

#[test]
fn a_file_written_by_a_newer_schema_version_is_refused() {
    let dir = TempDir::new("newer-schema");
    let path = dir.join("market.duckdb");
    drop(Store::open(&path).expect("create"));
    {
        // Simulate a newer release by editing the version with plain DuckDB.
        let raw = duckdb::Connection::open(&path).expect("raw open");
        raw.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'",
            duckdb::params![SCHEMA_VERSION + 1],
        )
        .expect("bump version");
    }
    let err = Store::open(&path).expect_err("must refuse");
    assert!(
        matches!(err, StoreError::SchemaTooNew { found, .. } if found == SCHEMA_VERSION + 1),
        "{err:?}"
    );
    assert!(err.to_string().contains("newer than"), "{err}");
}

#[test]
fn a_duckdb_file_from_another_program_is_not_adopted() {
    let dir = TempDir::new("foreign");
    let path = dir.join("other.duckdb");
    {
        let raw = duckdb::Connection::open(&path).expect("raw open");
        raw.execute_batch("CREATE TABLE invoices (id INTEGER)")
            .expect("create");
    }
    let err = Store::open(&path).expect_err("must refuse");
    assert!(matches!(err, StoreError::NotOurDatabase { .. }), "{err:?}");
}

#[test]
fn opening_the_same_file_twice_in_one_process_is_refused_until_the_first_closes() {
    let dir = TempDir::new("twice");
    let path = dir.join("market.duckdb");
    let first = Store::open(&path).expect("first open");
    let clone = first.try_clone().expect("clone");
    let err = Store::open(dir.path().join(".").join("market.duckdb")).expect_err("second open");
    assert!(
        matches!(err, StoreError::AlreadyOpenInThisProcess { .. }),
        "{err:?}"
    );
    drop(first);
    assert!(
        Store::open(&path).is_err(),
        "a live clone still holds the file"
    );
    drop(clone);
    Store::open(&path).expect("open after every handle closed");
}

/// The child half of the locked-database test: open the file, write a bar, say so, and hold
/// the file until the parent closes our stdin.
const HOLDER_ENV: &str = "LHM_TEST_HOLD_DATABASE";
const HOLDER_READY: &str = "LHM-HOLDER-READY";
const HOLDER_READY_TIMEOUT_S: u64 = 60;

#[test]
fn opening_a_file_held_by_another_process_fails_with_a_clear_error() {
    if let Some(path) = std::env::var_os(HOLDER_ENV) {
        let store = Store::open(&path).expect("holder opens");
        store
            .insert_bars("BTCUSDT", 300_000, &[bar(T0, 61_000.0)])
            .expect("holder writes");
        println!("{HOLDER_READY}");
        std::io::stdout().flush().expect("flush");
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        return;
    }

    let dir = TempDir::new("locked");
    let path = dir.join("market.duckdb");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "opening_a_file_held_by_another_process_fails_with_a_clear_error",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLDER_ENV, &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn holder");
    // Keep draining the holder's stdout so its test harness can print its result at the end.
    let stdout = child.stdout.take().expect("holder stdout");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let drain = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // libtest prints "test NAME ... " on the same line before the marker.
            if line.contains(HOLDER_READY) {
                let _ = ready_tx.send(());
            }
        }
    });
    let ready = ready_rx.recv_timeout(Duration::from_secs(HOLDER_READY_TIMEOUT_S));
    if ready.is_err() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("holder process never became ready");
    }

    let result = Store::open(&path);

    drop(child.stdin.take()); // lets the holder exit
    let status = child.wait().expect("holder exits");
    drain.join().expect("drain thread");
    assert!(status.success(), "holder failed: {status}");

    let err = result.expect_err("open while held must fail");
    assert!(matches!(err, StoreError::InUse { .. }), "{err:?}");
    let message = err.to_string();
    println!("{message}");
    assert!(
        message.contains("in use by another process (is the server running?)"),
        "{message}"
    );
    assert!(
        message.contains("lock"),
        "DuckDB's detail is missing: {message}"
    );

    // Nothing was damaged: once the holder is gone the file opens and holds its bar.
    let store = Store::open(&path).expect("open after holder exit");
    assert_eq!(
        store.bars("BTCUSDT", T0, T0 + 1).expect("bars"),
        vec![bar(T0, 61_000.0)]
    );
}
