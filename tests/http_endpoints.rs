//! HTTP on the WebSocket port, against the real binary over real TCP.

// Tests and benches drive real processes, sockets and clocks; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::*;
use tungstenite::Message;

fn quiet_server(extra: &[(&str, &str)]) -> ServerProcess {
    let mut env = vec![("DEMO_SEED", "false")];
    env.extend_from_slice(extra);
    ServerProcess::start(&env)
}

#[test]
fn root_serves_the_heatmap_page() {
    let server = quiet_server(&[]);
    let response = http_get(server.addr, "/");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type").unwrap(), "text/html; charset=utf-8");
    let page = std::fs::read(repo_root().join("frontend/coinglass_heatmap.html")).unwrap();
    assert_eq!(response.body, page);
}

#[test]
fn frontend_files_are_served_with_their_content_type() {
    let server = quiet_server(&[]);
    let response = http_get(server.addr, "/js/websocket-client.js");
    assert_eq!(response.status, 200);
    assert!(response.header("content-type").unwrap().starts_with("text/javascript"));
}

#[test]
fn path_traversal_attempts_never_escape_the_frontend_folder() {
    let server = quiet_server(&[]);
    for path in ["/../Cargo.toml", "/js/../../Cargo.toml", "/%2e%2e/Cargo.toml", "/..%2fCargo.toml", "/%2e%2e%2f%2e%2e%2fetc%2fpasswd"] {
        let response = http_get(server.addr, path);
        assert!(response.status == 400 || response.status == 404, "{path}: {}", response.status);
        assert!(!String::from_utf8_lossy(&response.body).contains("[package]"), "{path} leaked Cargo.toml");
    }
}

#[test]
fn a_traversal_attempt_is_answered_400_and_the_connection_closed_like_every_400() {
    let server = quiet_server(&[]);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let response = read_response(&mut stream);
    assert_eq!(response.status, 400);
    assert_eq!(response.header("connection").unwrap(), "close");
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "nothing after the 400, then end of stream: {rest:?}");
}

#[test]
fn a_frontend_folder_without_the_page_is_named_in_a_warning_at_startup() {
    let empty = TempDir::new("frontend-without-page");
    let server = quiet_server(&[("FRONTEND_DIR", &empty.0.display().to_string())]);
    let log = server.wait_for_log("event=frontend_without_page", Duration::from_secs(5));
    let warning = log.iter().find(|l| l.contains("event=frontend_without_page")).unwrap_or_else(|| panic!("no warning in {log:#?}"));
    assert!(warning.contains("missing=coinglass_heatmap.html") && warning.contains("FRONTEND_DIR"), "{warning}");
    assert_eq!(http_get(server.addr, "/").status, 404, "the server still serves its API");
    assert_eq!(http_get(server.addr, "/health").status, 200);
    let repo = quiet_server(&[]);
    // Every startup line up to `event=listening` (logged after the frontend is loaded).
    let startup = repo.wait_for_log("event=listening", Duration::from_secs(5));
    assert!(startup.iter().any(|l| l.contains("event=frontend_loaded")), "{startup:#?}");
    assert!(!startup.iter().any(|l| l.contains("frontend_without_page")), "no warning with the repository's folder");
}

#[test]
fn unknown_path_is_404_json() {
    let server = quiet_server(&[]);
    let response = http_get(server.addr, "/no/such/thing");
    assert_eq!(response.status, 404);
    assert_eq!(response.json()["error"]["code"], "NOT_FOUND");
}

#[test]
fn wrong_method_is_405() {
    let server = quiet_server(&[]);
    let response = http_raw(server.addr, b"DELETE /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow").unwrap(), "GET, HEAD");
}

#[test]
fn malformed_request_is_400() {
    let server = quiet_server(&[]);
    let response = http_raw(server.addr, b"THIS IS NOT HTTP\r\n\r\n");
    assert_eq!(response.status, 400);
}

#[test]
fn oversized_headers_are_431() {
    let server = quiet_server(&[]);
    let request = format!("GET / HTTP/1.1\r\nX-Filler: {}\r\n\r\n", "z".repeat(10_000));
    assert_eq!(http_raw(server.addr, request.as_bytes()).status, 431);
}

#[test]
fn slow_request_head_is_closed_after_the_timeout() {
    let server = quiet_server(&[("HTTP_REQUEST_TIMEOUT", "1")]);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nX-Slow: ").unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "expected the server to close the connection");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(800) && waited < Duration::from_secs(5), "{waited:?}");
}

#[test]
fn keep_alive_serves_two_requests_on_one_connection() {
    let server = quiet_server(&[]);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut stream).status, 200);
    stream.write_all(b"GET /ws/stats HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let second = read_response(&mut stream);
    assert_eq!(second.status, 200);
    assert!(second.json()["active_connections"].is_number());
}

#[test]
fn health_reports_status_uptime_and_connections() {
    let server = quiet_server(&[]);
    let health = http_get(server.addr, "/health").json();
    assert_eq!(health["status"], "ok");
    assert!(health["uptime_s"].is_number());
    assert_eq!(health["connections"]["websocket"], 0);
    assert!(health["snapshots"]["BTCUSDT"].is_object());
}

#[test]
fn ws_stats_has_the_documented_fields() {
    let server = quiet_server(&[]);
    let stats = http_get(server.addr, "/ws/stats").json();
    for field in ["active_connections", "messages_sent_1m", "slow_consumers", "subscriptions_by_symbol"] {
        assert!(!stats[field].is_null(), "missing {field}: {stats}");
    }
}

#[test]
fn disabled_websocket_answers_503_json() {
    let server = quiet_server(&[("WS_ENABLED", "false")]);
    let response = http_raw(
        server.addr,
        b"GET /ws/heatmap HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert_eq!(response.status, 503);
    assert_eq!(response.json()["error"]["code"], "WS_DISABLED");
    let log = server.wait_for_log("event=ws_disabled", Duration::from_secs(5)).join("\n");
    assert!(log.contains("event=ws_disabled"), "startup should warn: {log}");
}

#[test]
fn upgrade_beyond_ws_max_connections_answers_503() {
    let server = quiet_server(&[("WS_MAX_CONNECTIONS", "1")]);
    let _first = ws_connect(server.addr, "/ws/heatmap");
    match tungstenite::connect(format!("ws://{}/ws/heatmap", server.addr)) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("expected 503, got {other:?}"),
    }
}

#[test]
fn echo_endpoint_echoes_text_and_binary_when_enabled() {
    let server = quiet_server(&[("WS_ECHO_ENABLED", "true")]);
    let mut ws = ws_connect(server.addr, "/ws/echo");
    ws.send(Message::text("hello")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("hello"));
    ws.send(Message::Binary(vec![0, 1, 2].into())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Binary(vec![0, 1, 2].into()));
}

#[test]
fn sigterm_sends_close_1001_and_exits_zero() {
    let mut server = quiet_server(&[]);
    let mut ws = ws_connect(server.addr, "/ws/heatmap");
    send_json(&mut ws, r#"{"action":"ping"}"#);
    next_json(&mut ws);
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    loop {
        match ws.read() {
            Ok(Message::Close(Some(frame))) => {
                assert_eq!(u16::from(frame.code), 1001);
                break;
            }
            Ok(_) => continue,
            Err(e) => panic!("expected close 1001, got {e}"),
        }
    }
    assert_eq!(server.terminate(Duration::from_secs(10)), Some(0));
}

#[test]
fn bad_configuration_exits_with_code_2_naming_the_variable() {
    let output = std::process::Command::new(binary())
        .env("PORT", "not-a-port")
        .env("DUCKDB_PATH", std::env::temp_dir().join("never-created.duckdb"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("PORT") && stderr.contains("0 to 65535"), "{stderr}");
}

#[test]
fn health_says_no_data_for_a_subscribed_symbol_with_an_empty_database() {
    let server = quiet_server(&[("WS_UPDATE_INTERVAL", "0.1")]);
    let mut ws = ws_connect(server.addr, "/ws/heatmap");
    send_json(&mut ws, r#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
    next_json(&mut ws);
    let health = wait_for_json(server.addr, "/health", Duration::from_secs(10), |h| {
        h["snapshots"]["BTCUSDT"]["status"] == "no_data"
    });
    assert_eq!(health["snapshots"]["BTCUSDT"]["status"], "no_data", "health never said no_data: {health}");
    assert!(health["snapshots"]["BTCUSDT"]["age_s"].is_null());
}

#[test]
fn metrics_are_exposed_in_prometheus_text_after_real_traffic() {
    let server = quiet_server(&[("DEMO_SNAPSHOT_BYTES", "1024"), ("WS_UPDATE_INTERVAL", "0.1")]);
    let mut ws = ws_connect(server.addr, "/ws/heatmap");
    send_json(&mut ws, r#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
    next_matching(&mut ws, Duration::from_secs(10), |m| m["type"] == "snapshot");
    send_json(&mut ws, r#"{"action":"nope"}"#);
    next_matching(&mut ws, Duration::from_secs(10), |m| m["type"] == "error");
    let response = http_get(server.addr, "/metrics");
    assert_eq!(response.status, 200);
    assert!(response.header("content-type").unwrap().starts_with("text/plain"));
    let text = String::from_utf8(response.body).unwrap();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert!(text.contains("# TYPE ws_broadcast_duration_seconds histogram"));
    assert_eq!(value("ws_active_connections "), 1.0);
    assert_eq!(value("ws_subscriptions{symbol=\"BTCUSDT\"} "), 1.0);
    assert!(value("ws_messages_sent_total{symbol=\"BTCUSDT\"} ") >= 1.0);
    assert!(value("ws_bytes_sent_total{symbol=\"BTCUSDT\"} ") > 1000.0);
    assert_eq!(value("ws_errors_total{code=\"INVALID_ACTION\"} "), 1.0);
    assert!(value("heatmap_snapshot_compute_seconds_count{symbol=\"BTCUSDT\"} ") >= 1.0);
    assert!(value("process_resident_memory_bytes ") > 1_000_000.0);
    assert!(value("process_open_fds ") > 3.0);
}
