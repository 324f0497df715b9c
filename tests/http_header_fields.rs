//! Request header fields and the WebSocket opening handshake as the RFCs define them, against the
//! real binary over real TCP: list-based fields on several lines (RFC 9110 §5.3), repeated
//! singleton fields, a missing Host (RFC 9112 §3.2), an unsupported WebSocket version (RFC 6455
//! §4.2.2).

// Tests and benches drive real processes, sockets and clocks; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use support::*;

/// A server of its own per test, stopped when the test ends (also on failure).
fn server() -> ServerProcess {
    ServerProcess::start(&[("DEMO_SEED", "false"), ("WS_ECHO_ENABLED", "true")])
}

const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
const VERSION: &str = "Sec-WebSocket-Version: 13\r\n";

/// A GET of `path` with these header lines (each ending in CRLF), on a new connection.
fn get(server: &ServerProcess, path: &str, lines: &str) -> HttpResponse {
    http_raw(server.addr, format!("GET {path} HTTP/1.1\r\n{lines}\r\n").as_bytes())
}

fn error_message(response: &HttpResponse) -> String {
    response.json()["error"]["message"].as_str().unwrap_or_default().to_string()
}

#[test]
fn connection_sent_on_two_lines_upgrades_in_either_order() {
    let server = server();
    for connection in ["Connection: keep-alive\r\nConnection: Upgrade\r\n", "Connection: Upgrade\r\nConnection: keep-alive\r\n"] {
        let response = get(&server, "/ws/echo", &format!("Host: x\r\nUpgrade: websocket\r\n{connection}{KEY}{VERSION}"));
        assert_eq!(response.status, 101, "{connection:?}: {}", response.head);
        assert_eq!(response.header("sec-websocket-accept").as_deref(), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    }
}

#[test]
fn upgrade_sent_on_two_lines_upgrades() {
    let server = server();
    let response = get(&server, "/ws/echo", &format!("Host: x\r\nUpgrade: h2c\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{KEY}{VERSION}"));
    assert_eq!(response.status, 101, "{}", response.head);
}

#[test]
fn a_singleton_field_repeated_with_different_values_is_400_naming_it() {
    let server = server();
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
    let cases = [
        ("Host", format!("Host: a\r\nHost: b\r\n{upgrade}{KEY}{VERSION}")),
        ("Content-Length", "Host: a\r\nContent-Length: 0\r\nContent-Length: 7\r\n".to_string()),
        ("Sec-WebSocket-Key", format!("Host: a\r\n{upgrade}{KEY}Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n{VERSION}")),
        ("Sec-WebSocket-Version", format!("Host: a\r\n{upgrade}{KEY}{VERSION}Sec-WebSocket-Version: 8\r\n")),
    ];
    for (field, lines) in cases {
        let response = get(&server, "/ws/echo", &lines);
        assert_eq!(response.status, 400, "{field}: {}", response.head);
        assert!(error_message(&response).contains(field), "{field}: {}", error_message(&response));
    }
}

#[test]
fn a_singleton_field_repeated_with_the_same_value_counts_once() {
    let server = server();
    let response = get(&server, "/ws/echo", &format!("Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{KEY}{KEY}{VERSION}{VERSION}"));
    assert_eq!(response.status, 101, "{}", response.head);
}

#[test]
fn an_unsupported_websocket_version_is_426_naming_version_13() {
    let server = server();
    let response = get(&server, "/ws/echo", &format!("Host: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{KEY}Sec-WebSocket-Version: 8\r\n"));
    assert_eq!(response.status, 426, "{}", response.head);
    assert_eq!(response.header("sec-websocket-version").as_deref(), Some("13"));
    assert_eq!(response.header("upgrade").as_deref(), Some("websocket"));
    assert_eq!(response.json()["error"]["code"], "UPGRADE_REQUIRED");
}

#[test]
fn an_http11_request_without_host_is_400() {
    let server = server();
    let plain = get(&server, "/health", "");
    assert_eq!(plain.status, 400, "{}", plain.head);
    assert!(error_message(&plain).contains("Host"), "{}", error_message(&plain));
    let upgrade = get(&server, "/ws/echo", &format!("Upgrade: websocket\r\nConnection: Upgrade\r\n{KEY}{VERSION}"));
    assert_eq!(upgrade.status, 400, "{}", upgrade.head);
}

#[test]
fn an_http10_request_may_omit_host() {
    let server = server();
    let response = http_raw(server.addr, b"GET /health HTTP/1.0\r\n\r\n");
    assert_eq!(response.status, 200);
}
