//! The per-address connection bounds and `TRUSTED_PROXIES`, over real loopback sockets from
//! distinct source addresses (127.0.0.x) against the real server.

// Tests drive real processes, sockets and clocks; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::time::Duration;

use support::{http_get, read_response, HttpResponse, ServerProcess};

/// A TCP connection to `server` from loopback source `source`.
fn connect_from(source: Ipv4Addr, server: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddrV4::new(source, 0).into()).unwrap();
    socket.connect(&server.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

/// Sends a WebSocket upgrade from `source` (plus `extra` header lines); returns the answer and
/// the open stream (a 101 keeps the WebSocket open as long as the stream lives).
fn upgrade_from(source: Ipv4Addr, server: SocketAddr, extra: &str) -> (HttpResponse, TcpStream) {
    let mut stream = connect_from(source, server);
    let request = format!(
        "GET /ws/heatmap HTTP/1.1\r\nHost: {server}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let response = read_response(&mut stream);
    (response, stream)
}

fn metric_line(server: &ServerProcess, start: &str) -> String {
    let body = String::from_utf8(http_get(server.addr, "/metrics").body).unwrap();
    body.lines().find(|l| l.starts_with(start)).unwrap_or_else(|| panic!("{start} not in /metrics")).to_string()
}

/// A request from `source` gets no answer: the connection is closed at accept.
fn assert_closed_unanswered(source: Ipv4Addr, server: SocketAddr, which: &str) {
    let mut refused = connect_from(source, server);
    let _ = refused.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut buf = [0u8; 64];
    let read = refused.read(&mut buf);
    assert!(matches!(read, Ok(0) | Err(_)), "{which} must be closed unanswered, got {read:?}");
}

/// A request from `source` is answered 200.
fn assert_served(source: Ipv4Addr, server: SocketAddr) {
    let mut other = connect_from(source, server);
    other.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut other).status, 200);
}

const A: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const B: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

#[test]
fn one_source_address_gets_429_past_its_websocket_bound_and_others_still_connect() {
    let server = ServerProcess::start(&[("DEMO_SEED", "false"), ("WS_MAX_CONNECTIONS_PER_ADDRESS", "2")]);
    let (first, _keep1) = upgrade_from(A, server.addr, "");
    let (second, _keep2) = upgrade_from(A, server.addr, "");
    assert_eq!((first.status, second.status), (101, 101));
    let (third, _) = upgrade_from(A, server.addr, "");
    assert_eq!(third.status, 429);
    assert_eq!(third.json()["error"]["code"], "TOO_MANY_CONNECTIONS");
    assert_eq!(third.header("retry-after").as_deref(), Some("5"));
    let (other, _keep3) = upgrade_from(B, server.addr, "");
    assert_eq!(other.status, 101, "another address is not affected");
    assert_eq!(metric_line(&server, "connections_refused_per_address_total{kind=\"ws\"}"), "connections_refused_per_address_total{kind=\"ws\"} 1");
    let log = server.wait_for_log("event=refused reason=address_full kind=ws", Duration::from_secs(5)).join("\n");
    assert!(log.contains("client=127.0.0.2"), "{log}");
}

#[test]
fn http_connections_past_the_address_bound_are_closed_at_accept() {
    let server = ServerProcess::start(&[("DEMO_SEED", "false"), ("HTTP_MAX_CONNECTIONS_PER_ADDRESS", "2")]);
    let _held: Vec<TcpStream> = (0..2).map(|_| connect_from(A, server.addr)).collect();
    // Both idle connections are accepted before the third arrives (the loop accepts in order).
    std::thread::sleep(Duration::from_millis(300));
    assert_closed_unanswered(A, server.addr, "the third connection");
    // Another address is served.
    assert_served(B, server.addr);
    assert_eq!(metric_line(&server, "connections_refused_per_address_total{kind=\"http\"}"), "connections_refused_per_address_total{kind=\"http\"} 1");
}

#[test]
fn forwarded_for_names_the_client_only_when_the_peer_is_a_trusted_proxy() {
    let server = ServerProcess::start(&[
        ("DEMO_SEED", "false"),
        ("WS_MAX_CONNECTIONS_PER_ADDRESS", "1"),
        ("HTTP_MAX_CONNECTIONS_PER_ADDRESS", "1"),
        ("TRUSTED_PROXIES", "127.0.0.2"),
    ]);
    // From the trusted proxy A: two clients, each its own address, even past the HTTP bound of 1.
    let (one, _k1) = upgrade_from(A, server.addr, "X-Forwarded-For: 203.0.113.1\r\n");
    let (two, _k2) = upgrade_from(A, server.addr, "X-Forwarded-For: 203.0.113.2\r\n");
    assert_eq!((one.status, two.status), (101, 101));
    let (again, _) = upgrade_from(A, server.addr, "X-Forwarded-For: 1.2.3.4, 203.0.113.1\r\n");
    assert_eq!(again.status, 429, "203.0.113.1 holds its one WebSocket, whatever it wrote to the left");
    let log = server.wait_for_log("client=203.0.113.2", Duration::from_secs(5)).join("\n");
    assert!(log.contains("event=ws_connect peer=127.0.0.2:") && log.contains("client=203.0.113.1"), "{log}");
    // From untrusted B the header is ignored: the client is B itself.
    let (forged, _k3) = upgrade_from(B, server.addr, "X-Forwarded-For: 203.0.113.9\r\n");
    assert_eq!(forged.status, 101);
    let log = server.wait_for_log("client=127.0.0.3", Duration::from_secs(5)).join("\n");
    assert!(!log.contains("client=203.0.113.9"), "{log}");
}

#[test]
fn one_address_is_bounded_across_loops() {
    let bounds = [("WS_MAX_CONNECTIONS_PER_ADDRESS", "2"), ("HTTP_MAX_CONNECTIONS_PER_ADDRESS", "2"), ("HTTP_MAX_CONNECTIONS", "4")];
    let server = ServerProcess::start(&[&bounds[..], &[("DEMO_SEED", "false"), ("EVENT_LOOPS", "2"), ("HTTP_REQUEST_TIMEOUT", "60")]].concat());
    // The acceptor hands consecutive connections to alternate loops: one WebSocket on each.
    let (first, _keep1) = upgrade_from(A, server.addr, "");
    let (second, _keep2) = upgrade_from(A, server.addr, "");
    assert_eq!((first.status, second.status), (101, 101));
    let (third, _) = upgrade_from(A, server.addr, "");
    assert_eq!(third.status, 429, "the address holds two WebSockets over the two loops: {}", third.head);
    assert_eq!(third.json()["error"]["code"], "TOO_MANY_CONNECTIONS");

    // Plain HTTP: two idle connections from A (one per loop), then more from A are closed at
    // accept, whichever loop takes them.
    let _held: Vec<TcpStream> = (0..2).map(|_| connect_from(A, server.addr)).collect();
    std::thread::sleep(Duration::from_millis(300));
    for attempt in 0..6 {
        assert_closed_unanswered(A, server.addr, &format!("connection {attempt} past the bound"));
    }
    // Six refusals gave their slots back: B is still served under HTTP_MAX_CONNECTIONS=4 (two
    // idle connections of A held).
    assert_served(B, server.addr);
    assert_eq!(metric_line(&server, "connections_refused_per_address_total{kind=\"ws\"}"), "connections_refused_per_address_total{kind=\"ws\"} 1");
    assert_eq!(metric_line(&server, "connections_refused_per_address_total{kind=\"http\"}"), "connections_refused_per_address_total{kind=\"http\"} 6");
}
