//! The inbox watched by a running server (`INGEST_DIR`): a file dropped there is ingested by the
//! server's producer while it serves, reaches live subscribers, and moves to `processed/`; a bad
//! file moves to `failed/` with its report and nobody is disturbed.

// Tests drive real processes, sockets, files and clocks; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::*;

const WEEK_FILE: &str = "BTCUSDT-5m-ohlc-oi-2026-06-07_2026-06-14.csv";
/// The inbox waits until a file is 2 s old, and is looked at every 2 s.
const INBOX_TIMEOUT: Duration = Duration::from_secs(30);

fn start_with_inbox() -> (ServerProcess, PathBuf) {
    let dir = TempDir::new("inbox-live");
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let server = ServerProcess::start_in(
        dir,
        &[("DEMO_SEED", "false"), ("INGEST_DIR", inbox.to_str().unwrap()), ("WS_UPDATE_INTERVAL", "0.2")],
    );
    (server, inbox)
}

/// Drops `bytes` into the inbox the way operators are told to: written under a hidden name, then
/// renamed, so the server never sees half a file.
fn drop_into(inbox: &Path, name: &str, bytes: &[u8]) {
    let hidden = inbox.join(format!(".{name}.part"));
    std::fs::write(&hidden, bytes).unwrap();
    std::fs::rename(&hidden, inbox.join(name)).unwrap();
}

fn wait_for_file(path: &Path, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !path.exists() {
        assert!(Instant::now() < deadline, "{} did not appear within {timeout:?}", path.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_file_dropped_into_the_inbox_reaches_live_subscribers_and_moves_to_processed() {
    let (server, inbox) = start_with_inbox();
    let mut ws = ws_connect(server.addr, "/ws/heatmap");
    send_json(&mut ws, r#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
    let health = wait_for_json(server.addr, "/health", Duration::from_secs(20), |h| {
        h["snapshots"]["BTCUSDT"]["status"] == "no_data"
    });
    assert_eq!(health["snapshots"]["BTCUSDT"]["status"], "no_data", "no snapshot before the file: {health}");
    assert!(health["snapshots"]["BTCUSDT"]["seq"].is_null(), "no snapshot before the file: {health}");

    let week = std::fs::read(repo_root().join("src/demo/data").join(WEEK_FILE)).unwrap();
    drop_into(&inbox, WEEK_FILE, &week);

    let live = next_matching(&mut ws, INBOX_TIMEOUT, |m| m["type"] == "snapshot");
    assert_eq!(live["timestamp"], "2026-06-14T14:55:00Z", "the live state is at the file's newest bar");
    assert!(live["data"]["levels"].as_array().unwrap().len() > 20, "a real week leaves many levels");
    wait_for_file(&inbox.join("processed").join(WEEK_FILE), INBOX_TIMEOUT);
    assert!(!inbox.join(WEEK_FILE).exists(), "the file left the inbox");
    // 2,140 lines, each a candle and an open-interest sample.
    let log = server.wait_for_log("event=inbox_ingested", INBOX_TIMEOUT);
    assert!(log.iter().any(|l| l.contains("event=inbox_ingested") && l.contains("rows_added=4280")), "{log:?}");
}

#[test]
fn a_bad_file_in_the_inbox_moves_to_failed_with_its_reason_and_serving_goes_on() {
    let (server, inbox) = start_with_inbox();
    let mut ws = ws_connect(server.addr, "/ws/heatmap");
    send_json(&mut ws, r#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
    let _ = next_matching(&mut ws, Duration::from_secs(10), |m| m["type"] == "subscribed");

    let name = "BTCUSDT-5m-ohlc-oi-broken.csv";
    drop_into(&inbox, name, b"open_time,open,high,low,close,open_interest_value\n1780807200000,61678.4,61810\n");

    let report = inbox.join("failed").join(format!("{name}.error.txt"));
    wait_for_file(&report, INBOX_TIMEOUT);
    assert!(inbox.join("failed").join(name).exists(), "the file sits beside its report");
    let reason = std::fs::read_to_string(&report).unwrap();
    assert!(reason.contains(":2:"), "the report names the line: {reason}");
    // Still serving: HTTP answers and the WebSocket client gets its pong.
    assert_eq!(http_get(server.addr, "/health").status, 200);
    send_json(&mut ws, r#"{"action":"ping"}"#);
    let pong = next_matching(&mut ws, Duration::from_secs(10), |m| m["type"] == "pong");
    assert_eq!(pong["type"], "pong");
}

#[test]
fn a_file_conflicting_with_stored_rows_is_counted_in_metrics_and_reported_beside_it() {
    let (server, inbox) = start_with_inbox();
    let header = "open_time,open,high,low,close,open_interest_value";
    drop_into(&inbox, "BTCUSDT-5m-ohlc-oi-a.csv", format!("{header}\n1780807200000,61678.4,61810,61600,61700,6400000000\n").as_bytes());
    wait_for_file(&inbox.join("processed").join("BTCUSDT-5m-ohlc-oi-a.csv"), INBOX_TIMEOUT);
    // The same bar with another open interest: one conflicting row, the stored one kept.
    drop_into(&inbox, "BTCUSDT-5m-ohlc-oi-b.csv", format!("{header}\n1780807200000,61678.4,61810,61600,61700,6500000000\n").as_bytes());

    let report = inbox.join("processed").join("BTCUSDT-5m-ohlc-oi-b.csv.conflicts.txt");
    wait_for_file(&report, INBOX_TIMEOUT);
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(text.contains(":2: BTCUSDT open interest at 1780807200000") && text.contains("value_usd stored 6400000000, new 6500000000"), "{text}");
    // The log line is written after the counter moved, so the scrape that follows sees it.
    let log = server.wait_for_log("event=inbox_conflicts", INBOX_TIMEOUT);
    assert!(log.iter().any(|l| l.contains("event=inbox_conflicts") && l.contains("conflicts=1")), "{log:?}");
    let metrics = String::from_utf8(http_get(server.addr, "/metrics").body).unwrap();
    assert!(metrics.lines().any(|l| l == "ingest_conflicts_total 1"), "{metrics}");
}
