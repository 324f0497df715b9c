//! A client that never reads is warned, then closed, while a fast client beside it keeps its pace.

// Tests and benches drive real processes, sockets and clocks; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::time::{Duration, Instant};

use support::*;

#[test]
fn stalled_client_is_warned_then_closed_and_the_fast_client_keeps_every_snapshot() {
    // 256 KiB snapshots 20 times a second fill the stalled client's kernel buffers in well under a
    // second; then its queue stalls, the warning comes after 0.5 s, the close after 2 s more.
    let server = ServerProcess::start(&[
        ("DEMO_SEED", "false"),
        ("DEMO_SNAPSHOT_BYTES", "262144"),
        ("WS_UPDATE_INTERVAL", "0.05"),
        ("WS_SLOW_CONSUMER_TIMEOUT", "0.5"),
        ("WS_SLOW_CONSUMER_GRACE", "2"),
        ("WS_CLOSE_TIMEOUT", "1"),
        ("WS_MAX_QUEUE_BYTES", "16777216"),
    ]);
    let mut stalled = ws_connect(server.addr, "/ws/heatmap");
    send_json(&mut stalled, r#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
    let mut fast = ws_connect(server.addr, "/ws/heatmap");
    send_json(&mut fast, r#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
    next_json(&mut fast);

    let started = Instant::now();
    let mut last_seq = 0u64;
    let mut received = 0u64;
    let mut gaps = 0u64;
    let mut stats = serde_json::Value::Null;
    while started.elapsed() < Duration::from_secs(8) {
        let m = next_matching(&mut fast, Duration::from_secs(5), |m| m["type"] == "snapshot");
        let seq = m["seq"].as_u64().unwrap();
        if last_seq != 0 && seq != last_seq + 1 {
            gaps += 1;
        }
        last_seq = seq;
        received += 1;
        if received.is_multiple_of(20) {
            stats = http_get(server.addr, "/ws/stats").json();
            if stats["slow_consumers"].as_u64().unwrap_or(0) >= 1 && stats["active_connections"] == 1 {
                break;
            }
        }
    }
    assert_eq!(gaps, 0, "the fast client missed snapshots");
    assert!(received >= 40, "the fast client got only {received} snapshots");
    assert_eq!(stats["slow_consumers"], 1, "stats: {stats}");
    assert_eq!(stats["active_connections"], 1, "the stalled client was not closed: {stats}");
    // The stalled client was cut off: reading now drains what the kernel held, then ends.
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = stalled.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }
    let mut ended = false;
    for _ in 0..10_000 {
        match stalled.read() {
            Ok(_) => continue,
            Err(_) => {
                ended = true;
                break;
            }
        }
    }
    assert!(ended, "the stalled client's connection stayed open");
    let log = server.wait_for_log("event=slow_consumer action=close", Duration::from_secs(5)).join("\n");
    assert!(log.contains("event=slow_consumer action=warn"), "{log}");
    assert!(log.contains("event=slow_consumer action=close"), "{log}");
}
