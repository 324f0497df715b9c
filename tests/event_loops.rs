//! Several event loops in one process (`EVENT_LOOPS=2`), with real sockets: clients spread over
//! the loops receive the same bytes for the same snapshot, the connection bounds hold for the
//! process, and shutdown closes every loop's clients with 1001.

// Tests drive real processes, sockets and clocks; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::*;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::Message;

/// Small synthetic snapshots ten times a second, no demo data.
fn two_loops(extra: &[(&'static str, &'static str)]) -> ServerProcess {
    let mut env = vec![
        ("EVENT_LOOPS", "2"),
        ("DEMO_SEED", "false"),
        ("DEMO_SNAPSHOT_BYTES", "2048"),
        ("WS_UPDATE_INTERVAL", "0.1"),
    ];
    env.extend_from_slice(extra);
    ServerProcess::start(&env)
}

/// The raw text of every snapshot `ws` receives within `window`, by (epoch, seq).
fn snapshots_for(ws: &mut Ws, window: Duration) -> BTreeMap<(String, u64), String> {
    let mut seen = BTreeMap::new();
    let deadline = Instant::now() + window;
    while Instant::now() < deadline {
        let Message::Text(text) = ws.read().expect("read") else { continue };
        let value: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
        if value["type"] == "snapshot" {
            let key = (value["epoch"].as_str().unwrap().to_string(), value["seq"].as_u64().unwrap());
            seen.insert(key, text.as_str().to_string());
        }
    }
    seen
}

/// Four WebSockets plus the stats request's own connection: 2 and 3, in either order.
fn assert_balanced(stats: &serde_json::Value) {
    let mut per_loop: Vec<u64> = stats["connections_per_loop"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).collect();
    per_loop.sort();
    assert_eq!(per_loop, vec![2, 3], "the acceptor balances the loops: {stats}");
}

#[test]
fn clients_on_different_loops_receive_identical_bytes_for_each_snapshot() {
    let server = two_loops(&[]);
    let mut clients: Vec<Ws> = (0..4).map(|_| ws_connect(server.addr, "/ws/heatmap")).collect();
    for ws in &mut clients {
        send_json(ws, r#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
        next_matching(ws, Duration::from_secs(10), |m| m["type"] == "subscribed");
    }
    std::thread::sleep(Duration::from_millis(300));
    let stats = http_get(server.addr, "/ws/stats").json();
    assert_balanced(&stats);
    assert_eq!(stats["active_connections"], 4, "process-wide: {stats}");
    assert_eq!(stats["subscriptions_by_symbol"]["BTCUSDT"], 4, "process-wide: {stats}");
    assert_eq!(stats["connections_total"], 4, "process-wide: {stats}");
    let health = http_get(server.addr, "/health").json();
    assert_eq!(health["connections"]["websocket"], 4, "process-wide: {health}");

    let streams: Vec<_> = clients.iter_mut().map(|ws| snapshots_for(ws, Duration::from_secs(2))).collect();
    let first = &streams[0];
    assert!(first.len() >= 5, "only {} snapshots in 2 s", first.len());
    let mut compared = 0;
    for other in &streams[1..] {
        for (key, text) in other {
            if let Some(mine) = first.get(key) {
                assert_eq!(mine, text, "different bytes for {key:?}");
                compared += 1;
            }
        }
    }
    assert!(compared >= 10, "only {compared} snapshots in common");
    // One epoch and one run of seq for every client: the position is given once, before the loops.
    for stream in &streams {
        let seqs: Vec<u64> = stream.keys().map(|(_, seq)| *seq).collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "gaps or repeats: {seqs:?}");
        assert_eq!(stream.keys().map(|(e, _)| e).collect::<std::collections::BTreeSet<_>>().len(), 1);
    }
}

#[test]
fn the_websocket_limit_bounds_the_process_not_each_loop() {
    let server = two_loops(&[("WS_MAX_CONNECTIONS", "3")]);
    let _kept: Vec<Ws> = (0..3).map(|_| ws_connect(server.addr, "/ws/heatmap")).collect();
    let upgrade = format!(
        "GET /ws/heatmap HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    );
    let refused = http_raw(server.addr, upgrade.as_bytes());
    assert_eq!(refused.status, 503, "a fourth WebSocket over two loops: {}", refused.head);
    assert_eq!(refused.json()["error"]["code"], "SERVER_FULL");
    let stats = http_get(server.addr, "/ws/stats").json();
    assert_eq!(stats["active_connections"], 3, "{stats}");
}

#[test]
fn the_http_limit_pauses_accepting_for_the_process_until_a_slot_frees() {
    let server = two_loops(&[("HTTP_MAX_CONNECTIONS", "2"), ("HTTP_REQUEST_TIMEOUT", "30")]);
    // Two idle connections hold the process's two slots (one on each loop).
    let idle_a = TcpStream::connect(server.addr).unwrap();
    let _idle_b = TcpStream::connect(server.addr).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut waiting = TcpStream::connect(server.addr).unwrap();
    waiting.set_read_timeout(Some(Duration::from_millis(800))).unwrap();
    waiting.write_all(format!("GET /health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", server.addr).as_bytes()).unwrap();
    let mut byte = [0u8; 1];
    let early = waiting.read(&mut byte);
    assert!(early.is_err(), "a third connection was served while the process was full: {early:?}");
    drop(idle_a);
    waiting.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let answer = read_response(&mut waiting);
    assert_eq!(answer.status, 200, "served once a slot freed: {}", answer.head);
}

#[test]
fn shutdown_closes_the_clients_of_every_loop_with_1001() {
    let mut server = two_loops(&[("SHUTDOWN_TIMEOUT", "5")]);
    let mut clients: Vec<Ws> = (0..4).map(|_| ws_connect(server.addr, "/ws/heatmap")).collect();
    for ws in &mut clients {
        send_json(ws, r#"{"action":"ping"}"#);
        next_json(ws);
    }
    assert_balanced(&http_get(server.addr, "/ws/stats").json());
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    for (i, ws) in clients.iter_mut().enumerate() {
        loop {
            match ws.read() {
                Ok(Message::Close(Some(frame))) => {
                    assert_eq!(u16::from(frame.code), 1001, "client {i}");
                    break;
                }
                Ok(_) => continue,
                Err(e) => panic!("client {i}: expected close 1001, got {e}"),
            }
        }
    }
    assert_eq!(server.terminate(Duration::from_secs(10)), Some(0));
}

/// The value of the `/metrics` series that starts with `series` (name and labels).
fn series_value(exposition: &str, series: &str) -> f64 {
    let line = exposition.lines().find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '));
    let line = line.unwrap_or_else(|| panic!("{series} not in /metrics:\n{exposition}"));
    line[series.len()..].trim().parse().unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// Snapshots `ws` receives until it reads the reply of type `until`, then for `trailing` more.
fn count_snapshots_until(ws: &mut Ws, until: &str, trailing: Duration) -> u64 {
    let mut snapshots = 0;
    let mut deadline: Option<Instant> = None;
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return snapshots;
        }
        let value = match ws.read() {
            Ok(Message::Text(text)) => serde_json::from_str::<serde_json::Value>(text.as_str()).unwrap(),
            Ok(_) => continue,
            Err(tungstenite::Error::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
            Err(e) => panic!("reading: {e}"),
        };
        if value["type"] == "snapshot" {
            snapshots += 1;
        } else if value["type"] == until && deadline.is_none() {
            deadline = Some(Instant::now() + trailing);
        }
    }
}

#[test]
fn metrics_count_messages_sent_by_every_loop() {
    let server = two_loops(&[("HTTP_REQUEST_TIMEOUT", "60")]);
    let mut clients: Vec<Ws> = (0..2).map(|_| ws_connect(server.addr, "/ws/heatmap")).collect();
    // Two kept-alive scrapers after the two clients: each loop holds two of the four, so at least
    // one scrape is answered by a loop without one of the clients (or without either).
    let mut scrapers: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(server.addr).unwrap()).collect();
    for scraper in &scrapers {
        scraper.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let stats = get_on(&mut scrapers[0], "/ws/stats").json();
    assert_eq!(stats["connections_per_loop"], serde_json::json!([2, 2]), "{stats}");

    for ws in &mut clients {
        if let MaybeTlsStream::Plain(stream) = ws.get_ref() {
            stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        }
        send_json(ws, r#"{"action":"subscribe","symbols":["BTCUSDT","NOPE"]}"#);
    }
    std::thread::sleep(Duration::from_millis(1000));
    let mut received = 0;
    for ws in &mut clients {
        send_json(ws, r#"{"action":"unsubscribe","symbols":["BTCUSDT"]}"#);
        // Unsent snapshots are dropped at the unsubscribe, so after its reply none is owed.
        received += count_snapshots_until(ws, "unsubscribed", Duration::from_millis(300));
    }
    assert!(received >= 10, "only {received} snapshots in 1 s");
    for ws in &mut clients {
        ws.close(None).unwrap();
        while ws.read().is_ok() {}
    }

    let deadline = Instant::now() + Duration::from_secs(10);
    let scrapes = loop {
        let scrapes: Vec<String> = scrapers.iter_mut().map(|s| String::from_utf8(get_on(s, "/metrics").body).unwrap()).collect();
        let closed = |text: &String| series_value(text, "ws_disconnects_total{reason=\"client_closed\"}") >= 2.0;
        if scrapes.iter().all(closed) || Instant::now() >= deadline {
            break scrapes;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    for text in &scrapes {
        assert_eq!(series_value(text, "ws_messages_sent_total{symbol=\"BTCUSDT\"}"), received as f64, "every loop's messages");
        assert_eq!(series_value(text, "ws_errors_total{code=\"INVALID_SYMBOL\"}"), 2.0, "both clients' errors");
        assert_eq!(series_value(text, "ws_disconnects_total{reason=\"client_closed\"}"), 2.0, "both clients' closes");
        // One observation per loop per snapshot fanned out to its subscriber: all received but
        // each client's first (sent at its subscribe, not fanned out) and one on its way at
        // each unsubscribe. One loop alone saw about half.
        let broadcasts = series_value(text, "ws_broadcast_duration_seconds_count{symbol=\"BTCUSDT\"}");
        assert!(broadcasts >= (received - 4) as f64, "{broadcasts} broadcasts for {received} snapshots received");
        assert_eq!(series_value(text, "ws_active_connections"), 0.0);
    }
    let bytes: Vec<f64> = scrapes.iter().map(|t| series_value(t, "ws_bytes_sent_total{symbol=\"BTCUSDT\"}")).collect();
    assert_eq!(bytes[0], bytes[1], "both loops report the same process-wide bytes");
}
