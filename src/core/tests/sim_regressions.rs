//! Regressions for bugs the simulator found (seeds in sim/seeds.txt), as plain bench tests.

use super::harness::Bench;
use super::super::{CoreConfig, PhaseView};

#[test]
fn client_pipelining_requests_without_reading_holds_one_response_at_a_time() {
    let mut bench = Bench::new(CoreConfig { queue_bytes_max: 4096, ..CoreConfig::default() });
    let p = bench.accept();
    bench.peers[p].stream.write_room = Some(0);
    let request = "GET /js/websocket-client.js HTTP/1.1\r\nHost: x\r\n\r\n";
    bench.send_raw(p, request.repeat(1000).as_bytes());
    let id = bench.peers[p].id;
    let view = bench.core.client_view(id).expect("a pipelining client is answered, not dropped");
    assert!(view.queued_entries <= 2, "{} entries queued: more than one response", view.queued_entries);
    // At most a head's worth plus one read is taken in; the rest waits in the kernel.
    let taken = request.len() * 1000 - bench.peers[p].stream.inbound.len();
    assert!(taken <= CoreConfig::default().http_head_bytes_max + 4096, "{taken} bytes of requests read ahead");
    // Once the client reads, every request is answered, in order.
    bench.peers[p].stream.write_room = None;
    let now = bench.now;
    bench.core.handle_writable(now, id, &mut bench.peers[p].stream);
    bench.pump();
    let answers = bench.take_http(p);
    assert_eq!(answers.matches("HTTP/1.1 200 OK").count(), 1000);
    assert!(bench.peers[p].stream.inbound.is_empty());
}

#[test]
fn stalled_client_keeps_the_latest_snapshot_of_every_symbol_above_the_message_bound() {
    let symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"];
    let config = CoreConfig {
        supported_symbols: symbols.iter().map(|s| s.to_string()).collect(),
        queue_messages_max: 1,
        ..CoreConfig::default()
    };
    let mut bench = Bench::new(config);
    let p = bench.connect_ws();
    bench.subscribe(p, &symbols);
    bench.received(p);
    bench.peers[p].stream.write_room = Some(0);
    for symbol in symbols {
        bench.publish(symbol, 0, "{}");
    }
    let view = bench.core.client_view(bench.peers[p].id).unwrap();
    assert!(matches!(view.phase, PhaseView::WebSocket { dropped_messages: 0, .. }), "{view:?}");
    bench.peers[p].stream.write_room = None;
    let peer = &mut bench.peers[p];
    bench.core.handle_writable(bench.now, peer.id, &mut peer.stream);
    let received: Vec<String> = bench
        .received_json(p)
        .iter()
        .filter(|m| m["type"] == "snapshot")
        .map(|m| m["symbol"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(received, symbols.to_vec());
}

#[test]
fn slow_consumer_warning_never_pushes_a_queue_past_its_byte_bound() {
    let config = CoreConfig { queue_bytes_max: 4096, slow_consumer_timeout_ms: 1000, ..CoreConfig::default() };
    let mut bench = Bench::new(config);
    let p = bench.connect_ws();
    bench.subscribe(p, &["BTCUSDT"]);
    bench.received(p);
    bench.peers[p].stream.write_room = Some(0);
    // A snapshot that leaves less room than a warning takes.
    bench.publish("BTCUSDT", 0, &format!(r#"{{"pad":"{}"}}"#, "x".repeat(3900)));
    bench.advance_ms(1000);
    let view = bench.core.client_view(bench.peers[p].id).unwrap();
    assert!(view.closing.is_some() || view.queued_bytes <= 4096, "{view:?}");
}

#[test]
fn longest_slow_consumer_warning_fits_the_reserved_room() {
    let text = super::super::protocol::slow_consumer_warning(u64::MAX, u64::MAX);
    let frame = super::super::frame::text_frame(text.as_bytes());
    assert!(frame.len() <= super::super::lifecycle::WARNING_FRAME_BYTES_MAX, "{}", frame.len());
}

/// A client that has not read its 101 yet, stalled until the slow-consumer machinery acts.
fn stalled_before_its_handshake(bench: &mut Bench) -> usize {
    let p = bench.accept();
    bench.peers[p].stream.write_room = Some(0);
    let request = "GET /ws/heatmap HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    bench.send_raw(p, request.as_bytes());
    p
}

fn unblock_and_take(bench: &mut Bench, p: usize) -> String {
    bench.peers[p].stream.write_room = None;
    let peer = &mut bench.peers[p];
    bench.core.handle_writable(bench.now, peer.id, &mut peer.stream);
    bench.take_http(p)
}

#[test]
fn slow_consumer_warning_never_overtakes_the_handshake_response() {
    let config = CoreConfig { slow_consumer_timeout_ms: 1000, ..CoreConfig::default() };
    let mut bench = Bench::new(config);
    let p = stalled_before_its_handshake(&mut bench);
    bench.advance_ms(1000);
    assert_eq!(bench.core.slow_consumer_episodes(), 1);
    let bytes = unblock_and_take(&mut bench, p);
    assert!(bytes.starts_with("HTTP/1.1 101"), "{bytes:?}");
}

#[test]
fn close_frame_never_replaces_an_unsent_handshake_response() {
    let config = CoreConfig { slow_consumer_timeout_ms: 1000, slow_consumer_grace_ms: 1000, ..CoreConfig::default() };
    let mut bench = Bench::new(config);
    let p = stalled_before_its_handshake(&mut bench);
    bench.advance_ms(1000);
    bench.advance_ms(1000);
    assert!(bench.core.client_view(bench.peers[p].id).unwrap().closing.is_some());
    let bytes = unblock_and_take(&mut bench, p);
    assert!(bytes.starts_with("HTTP/1.1 101"), "{bytes:?}");
}

#[test]
fn client_that_creeps_forward_holds_one_warning_however_many_episodes() {
    let config = CoreConfig { slow_consumer_timeout_ms: 1000, slow_consumer_grace_ms: 10_000, ..CoreConfig::default() };
    let mut bench = Bench::new(config);
    let p = bench.connect_ws();
    bench.subscribe(p, &["BTCUSDT"]);
    bench.received(p);
    bench.peers[p].stream.write_room = Some(0);
    bench.publish("BTCUSDT", 0, &format!(r#"{{"pad":"{}"}}"#, "x".repeat(1000)));
    for _ in 0..5 {
        // Stalled for the timeout: an episode begins. Then one byte moves: it ends.
        bench.advance_ms(1000);
        bench.peers[p].stream.write_room = Some(1);
        let peer = &mut bench.peers[p];
        bench.core.handle_writable(bench.now, peer.id, &mut peer.stream);
        bench.peers[p].stream.write_room = Some(0);
    }
    assert_eq!(bench.core.slow_consumer_episodes(), 5);
    let view = bench.core.client_view(bench.peers[p].id).unwrap();
    assert_eq!(view.queued_entries, 2, "the snapshot and one warning: {view:?}");
}
