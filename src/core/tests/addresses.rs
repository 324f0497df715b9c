//! The per-address connection bounds and the trusted-proxy rule, through the core's inputs.

use std::net::SocketAddr;

use super::harness::Bench;
use super::super::{AcceptError, CoreConfig, TrustedProxies};

const UPGRADE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// Sends a WebSocket upgrade from `peer` (with `extra` header lines) and returns the answer head.
fn upgrade_from(bench: &mut Bench, peer: &str, extra: &str) -> (usize, String) {
    let p = bench.accept_from(addr(peer)).expect("accepted");
    bench.send_raw(p, format!("GET /ws/heatmap HTTP/1.1\r\nHost: h\r\n{UPGRADE}{extra}\r\n").as_bytes());
    let answer = bench.take_http(p);
    (p, answer)
}

fn metric(bench: &mut Bench, line_start: &str) -> String {
    let text = bench.core.render_metrics(bench.now, Default::default());
    text.lines().find(|l| l.starts_with(line_start)).unwrap_or_else(|| panic!("{line_start} missing:\n{text}")).to_string()
}

#[test]
fn one_address_cannot_take_more_websockets_than_its_bound() {
    let mut bench = Bench::new(CoreConfig { ws_connections_per_address_max: 2, ..CoreConfig::default() });
    for port in [1, 2] {
        let (_, answer) = upgrade_from(&mut bench, &format!("192.0.2.1:{port}"), "");
        assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
    }
    let (p, answer) = upgrade_from(&mut bench, "192.0.2.1:3", "");
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(answer.contains("TOO_MANY_CONNECTIONS") && answer.contains("WS_MAX_CONNECTIONS_PER_ADDRESS"), "{answer}");
    assert!(answer.contains("Retry-After: 5"), "{answer}");
    bench.pump();
    assert!(bench.is_released(p), "the refused connection is closed after its answer");
    // Another address is not affected.
    let (_, answer) = upgrade_from(&mut bench, "192.0.2.2:1", "");
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
    assert_eq!(metric(&mut bench, "connections_refused_per_address_total{kind=\"ws\"}"), "connections_refused_per_address_total{kind=\"ws\"} 1");
    assert_eq!(metric(&mut bench, "connection_addresses "), "connection_addresses 2");
}

#[test]
fn a_closed_websocket_frees_its_address_slot() {
    let mut bench = Bench::new(CoreConfig { ws_connections_per_address_max: 1, ..CoreConfig::default() });
    let (p, answer) = upgrade_from(&mut bench, "192.0.2.1:1", "");
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
    bench.peers[p].stream.eof = true;
    let peer = &mut bench.peers[p];
    bench.core.handle_readable(bench.now, peer.id, &mut peer.stream);
    bench.pump();
    assert!(bench.is_released(p));
    let (_, answer) = upgrade_from(&mut bench, "192.0.2.1:2", "");
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
}

#[test]
fn refused_handshake_does_not_keep_the_address_slot() {
    let mut bench = Bench::new(CoreConfig { ws_connections_per_address_max: 1, ..CoreConfig::default() });
    let p = bench.accept_from(addr("192.0.2.1:1")).unwrap();
    // No Sec-WebSocket-Key: the handshake is refused after the address check passed.
    bench.send_raw(p, b"GET /ws/heatmap HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n");
    assert!(bench.take_http(p).starts_with("HTTP/1.1 400"));
    let (_, answer) = upgrade_from(&mut bench, "192.0.2.1:2", "");
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
}

#[test]
fn http_connections_over_the_address_bound_are_refused_at_accept() {
    let mut bench = Bench::new(CoreConfig { http_connections_per_address_max: 2, ..CoreConfig::default() });
    let first = bench.accept_from(addr("192.0.2.1:1")).unwrap();
    bench.accept_from(addr("192.0.2.1:2")).unwrap();
    assert_eq!(bench.accept_from(addr("192.0.2.1:3")), Err(AcceptError::AddressFull));
    assert!(bench.accept_from(addr("192.0.2.9:1")).is_ok());
    assert_eq!(metric(&mut bench, "connections_refused_per_address_total{kind=\"http\"}"), "connections_refused_per_address_total{kind=\"http\"} 1");
    // An upgraded connection moves from the HTTP count to the WebSocket count.
    bench.send_raw(first, format!("GET /ws/heatmap HTTP/1.1\r\nHost: h\r\n{UPGRADE}\r\n").as_bytes());
    assert!(bench.take_http(first).starts_with("HTTP/1.1 101"));
    assert!(bench.accept_from(addr("192.0.2.1:4")).is_ok());
}

#[test]
fn behind_a_trusted_proxy_websockets_are_counted_by_forwarded_address() {
    let config = CoreConfig {
        ws_connections_per_address_max: 1,
        http_connections_per_address_max: 1,
        trusted_proxies: TrustedProxies::parse("10.0.0.1").unwrap(),
        ..CoreConfig::default()
    };
    let mut bench = Bench::new(config);
    // The proxy's many connections are not held to the HTTP bound.
    let (_, a) = upgrade_from(&mut bench, "10.0.0.1:1", "X-Forwarded-For: 203.0.113.1\r\n");
    let (_, b) = upgrade_from(&mut bench, "10.0.0.1:2", "X-Forwarded-For: 203.0.113.2\r\n");
    assert!(a.starts_with("HTTP/1.1 101") && b.starts_with("HTTP/1.1 101"), "{a}\n{b}");
    // The second WebSocket of 203.0.113.1, whatever it claims to the left, is refused.
    let (_, c) = upgrade_from(&mut bench, "10.0.0.1:3", "X-Forwarded-For: 198.51.100.7, 203.0.113.1\r\n");
    assert!(c.starts_with("HTTP/1.1 429"), "{c}");
}

#[test]
fn forwarded_for_from_an_untrusted_peer_does_not_change_its_address() {
    let config = CoreConfig { ws_connections_per_address_max: 1, trusted_proxies: TrustedProxies::parse("10.0.0.1").unwrap(), ..CoreConfig::default() };
    let mut bench = Bench::new(config);
    let (_, a) = upgrade_from(&mut bench, "192.0.2.1:1", "X-Forwarded-For: 203.0.113.1\r\n");
    let (_, b) = upgrade_from(&mut bench, "192.0.2.1:2", "X-Forwarded-For: 203.0.113.2\r\n");
    assert!(a.starts_with("HTTP/1.1 101"), "{a}");
    assert!(b.starts_with("HTTP/1.1 429"), "a forged header must not split one host into two: {b}");
}

#[test]
fn the_address_bounds_hold_across_the_loops_of_a_process() {
    let config = CoreConfig { ws_connections_per_address_max: 1, http_connections_per_address_max: 2, ..CoreConfig::default() };
    let mut loops = super::harness::process_of(2, config);
    let (_, first) = upgrade_from(&mut loops[0], "192.0.2.7:1", "");
    assert!(first.starts_with("HTTP/1.1 101"), "{first}");
    let (_, second) = upgrade_from(&mut loops[1], "192.0.2.7:2", "");
    assert!(second.starts_with("HTTP/1.1 429"), "the other loop sees the address's WebSocket: {second}");
    // Two plain connections of the address (the upgraded ones no longer count as HTTP)...
    loops[0].accept_from(addr("192.0.2.7:3")).expect("accepted");
    loops[1].accept_from(addr("192.0.2.7:4")).expect("accepted");
    let open_before = loops[0].core.ledger().http_open();
    // ...and a third is refused on either loop, giving its process slot back.
    assert_eq!(loops[0].accept_from(addr("192.0.2.7:5")).err(), Some(AcceptError::AddressFull));
    assert_eq!(loops[1].accept_from(addr("192.0.2.7:6")).err(), Some(AcceptError::AddressFull));
    assert_eq!(loops[0].core.ledger().http_open(), open_before, "a refused connection holds no slot");
    for bench in &mut loops {
        assert_eq!(metric(bench, "connections_refused_per_address_total{kind=\"http\"}"), "connections_refused_per_address_total{kind=\"http\"} 2");
        assert_eq!(metric(bench, "connections_refused_per_address_total{kind=\"ws\"}"), "connections_refused_per_address_total{kind=\"ws\"} 1");
    }
}
