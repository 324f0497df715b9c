//! The /ws/heatmap protocol over real TCP against the real binary, with the synthetic producer
//! publishing small snapshots every 100 ms.

// Tests and benches drive real processes, sockets and clocks; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

fn server() -> ServerProcess {
    ServerProcess::start(&[
        ("DEMO_SEED", "false"),
        ("DEMO_SNAPSHOT_BYTES", "2048"),
        ("WS_UPDATE_INTERVAL", "0.1"),
    ])
}

fn is_snapshot(m: &serde_json::Value) -> bool {
    m["type"] == "snapshot"
}

#[test]
fn subscribe_then_receive_snapshots_with_increasing_seq() {
    let server = server();
    let mut ws = ws_connect(server.addr, "/ws/heatmap");
    send_json(&mut ws, r#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
    assert_eq!(next_json(&mut ws), json!({"type":"subscribed","symbols":["BTCUSDT"]}));
    let first = next_matching(&mut ws, Duration::from_secs(10), is_snapshot);
    let second = next_matching(&mut ws, Duration::from_secs(10), is_snapshot);
    assert_eq!(first["symbol"], "BTCUSDT");
    assert_eq!(second["seq"].as_u64().unwrap(), first["seq"].as_u64().unwrap() + 1);
    assert_eq!(first["epoch"], second["epoch"]);
    assert!(first["data"]["levels"].as_array().unwrap().len() > 10);
}

#[test]
fn unsubscribe_stops_snapshots() {
    let server = server();
    let mut ws = ws_connect(server.addr, "/ws/heatmap");
    send_json(&mut ws, r#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
    next_matching(&mut ws, Duration::from_secs(10), is_snapshot);
    send_json(&mut ws, r#"{"action":"unsubscribe","symbols":["BTCUSDT"]}"#);
    next_matching(&mut ws, Duration::from_secs(10), |m| m["type"] == "unsubscribed");
    // Half a second is five update intervals: nothing may arrive.
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    }
    match ws.read() {
        Err(tungstenite::Error::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
        other => panic!("expected silence after unsubscribe, got {other:?}"),
    }
}

#[test]
fn invalid_symbol_is_reported_and_valid_ones_still_take_effect() {
    let server = server();
    let mut ws = ws_connect(server.addr, "/ws/heatmap");
    send_json(&mut ws, r#"{"action":"subscribe","symbols":["ETHUSDT","NOPEUSDT"]}"#);
    assert_eq!(next_json(&mut ws)["symbols"], json!(["ETHUSDT"]));
    let error = next_json(&mut ws);
    assert_eq!(error["code"], "INVALID_SYMBOL");
    assert_eq!(error["symbols"], json!(["NOPEUSDT"]));
    assert_eq!(next_matching(&mut ws, Duration::from_secs(10), is_snapshot)["symbol"], "ETHUSDT");
}

#[test]
fn ping_is_answered_with_pong() {
    let server = server();
    let mut ws = ws_connect(server.addr, "/ws/heatmap");
    send_json(&mut ws, r#"{"action":"ping"}"#);
    let pong = next_json(&mut ws);
    assert_eq!(pong["type"], "pong");
    assert!(pong["timestamp"].as_i64().unwrap() > 1_700_000_000_000);
}

#[test]
fn bad_messages_get_errors_and_the_connection_stays_open() {
    let server = server();
    let mut ws = ws_connect(server.addr, "/ws/heatmap");
    send_json(&mut ws, r#"{"action":"fly"}"#);
    assert_eq!(next_json(&mut ws)["code"], "INVALID_ACTION");
    send_json(&mut ws, "not json at all");
    assert_eq!(next_json(&mut ws)["code"], "INVALID_MESSAGE");
    send_json(&mut ws, r#"{"action":"subscribe","symbols":"BTCUSDT"}"#);
    assert_eq!(next_json(&mut ws)["code"], "INVALID_MESSAGE");
    ws.send(Message::Binary(vec![1, 2, 3].into())).unwrap();
    assert_eq!(next_json(&mut ws)["code"], "INVALID_MESSAGE");
    send_json(&mut ws, r#"{"action":"ping"}"#);
    assert_eq!(next_json(&mut ws)["type"], "pong");
}

#[test]
fn flooding_is_rate_limited_and_the_connection_stays_open() {
    let server = ServerProcess::start(&[("DEMO_SEED", "false"), ("WS_RATE_LIMIT", "5"), ("WS_RATE_BURST", "5")]);
    let mut ws = ws_connect(server.addr, "/ws/heatmap");
    for _ in 0..30 {
        send_json(&mut ws, r#"{"action":"ping"}"#);
    }
    let limited = next_matching(&mut ws, Duration::from_secs(10), |m| m["type"] == "error");
    assert_eq!(limited["code"], "RATE_LIMITED");
    std::thread::sleep(Duration::from_millis(1100));
    send_json(&mut ws, r#"{"action":"ping"}"#);
    next_matching(&mut ws, Duration::from_secs(10), |m| m["type"] == "pong");
}

#[test]
fn oversized_message_closes_with_1009() {
    let server = server();
    let mut ws = ws_connect(server.addr, "/ws/heatmap");
    let big = format!(r#"{{"action":"ping","pad":"{}"}}"#, "x".repeat(8192));
    ws.send(Message::text(big)).unwrap();
    loop {
        match ws.read() {
            Ok(Message::Close(Some(frame))) => {
                assert_eq!(frame.code, CloseCode::Size);
                break;
            }
            Ok(_) => continue,
            Err(e) => panic!("expected a 1009 close frame, got {e}"),
        }
    }
}

#[test]
fn several_clients_on_one_symbol_all_receive_the_same_snapshot() {
    let server = server();
    let mut clients: Vec<Ws> = (0..3).map(|_| ws_connect(server.addr, "/ws/heatmap")).collect();
    for ws in clients.iter_mut() {
        send_json(ws, r#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
        next_json(ws);
    }
    // Every client sees a common seq with identical bytes: one frame, shared.
    let seqs: Vec<serde_json::Value> = clients
        .iter_mut()
        .map(|ws| {
            let mut last = next_matching(ws, Duration::from_secs(10), is_snapshot);
            while last["seq"].as_u64().unwrap() < 5 {
                last = next_matching(ws, Duration::from_secs(10), is_snapshot);
            }
            assert_eq!(last["seq"], 5, "a client skipped seq 5");
            last
        })
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn one_client_on_several_symbols_receives_each() {
    let server = server();
    let mut ws = ws_connect(server.addr, "/ws/heatmap");
    send_json(&mut ws, r#"{"action":"subscribe","symbols":["BTCUSDT","ETHUSDT"]}"#);
    assert_eq!(next_json(&mut ws)["symbols"], json!(["BTCUSDT", "ETHUSDT"]));
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 2 {
        let snapshot = next_matching(&mut ws, Duration::from_secs(10), is_snapshot);
        seen.insert(snapshot["symbol"].as_str().unwrap().to_string());
    }
}

#[test]
fn disconnect_cleans_up_the_subscription() {
    let server = server();
    let mut ws = ws_connect(server.addr, "/ws/heatmap");
    send_json(&mut ws, r#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
    next_json(&mut ws);
    let stats = wait_for_json(server.addr, "/ws/stats", Duration::from_secs(5), |s| s["active_connections"] == 1);
    assert_eq!(stats["subscriptions_by_symbol"]["BTCUSDT"], 1);
    drop(ws);
    let stats = wait_for_json(server.addr, "/ws/stats", Duration::from_secs(5), |s| s["active_connections"] == 0);
    assert_eq!(stats["active_connections"], 0);
    assert_eq!(stats["subscriptions_by_symbol"]["BTCUSDT"], 0);
}
