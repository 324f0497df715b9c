//! End to end on the real week: ingest it with the CLI, start the server, subscribe over
//! WebSocket, and check that the live snapshot's levels equal the REST answer for the same bar.

// Tests and benches drive real processes, sockets and clocks; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::process::Command;
use std::time::Duration;

use support::*;

#[test]
fn live_snapshot_levels_match_the_rest_answer_for_the_same_bar() {
    let dir = TempDir::new("e2e");
    let db = dir.path().join("week.duckdb");
    let week = repo_root().join("src/demo/data/BTCUSDT-5m-ohlc-oi-2026-06-07_2026-06-14.csv");
    let ingest = Command::new(binary()).args(["ingest", "--db"]).arg(&db).arg(&week).output().unwrap();
    assert!(ingest.status.success(), "{}", String::from_utf8_lossy(&ingest.stderr));
    // 2,140 lines, each a candle and an open-interest sample.
    let summary = String::from_utf8_lossy(&ingest.stdout);
    assert!(summary.contains("1 ingested") && summary.contains("4280 rows added"), "{summary}");

    let server = ServerProcess::start_in(
        dir,
        &[("DUCKDB_PATH", db.to_str().unwrap()), ("DEMO_SEED", "false"), ("WS_UPDATE_INTERVAL", "0.2")],
    );
    let mut ws = ws_connect(server.addr, "/ws/heatmap");
    send_json(&mut ws, r#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
    let live = next_matching(&mut ws, Duration::from_secs(30), |m| m["type"] == "snapshot");
    assert_eq!(live["timestamp"], "2026-06-14T14:55:00Z", "the live state is at the newest bar");
    // An ingested file's origin is not recorded: both the stream and REST say so, alike.
    assert_eq!(live["source"], "unknown");

    let rest = http_get(
        server.addr,
        "/liquidations/heatmap-timeseries?symbol=BTCUSDT&start_time=2026-06-14T14:50:00Z&end_time=2026-06-14T14:55:00Z&interval=5m",
    );
    assert_eq!(rest.status, 200);
    let rest = rest.json();
    assert_eq!(rest["meta"]["source"], live["source"], "one source label for REST and the stream");
    let same_bar = rest["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(same_bar["timestamp"], live["data"]["timestamp"]);
    assert_eq!(same_bar["current_price"], live["data"]["current_price"]);
    let live_levels = live["data"]["levels"].as_array().unwrap();
    assert!(live_levels.len() > 20, "a real week leaves many levels");
    assert_eq!(&same_bar["levels"], &live["data"]["levels"]);
}

#[test]
fn ingest_beside_a_running_server_fails_clearly() {
    let server = ServerProcess::start(&[("DEMO_SEED", "false")]);
    let db = server.dir.path().join("test.duckdb");
    let week = repo_root().join("src/demo/data/BTCUSDT-5m-ohlc-oi-2026-06-07_2026-06-14.csv");
    let output = Command::new(binary()).args(["ingest", "--db"]).arg(&db).arg(&week).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("in use by another process"), "{stderr}");
    // The server is unharmed.
    assert_eq!(http_get(server.addr, "/health").status, 200);
}
