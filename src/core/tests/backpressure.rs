use tungstenite::Message;

use super::harness::Bench;
use super::super::protocol::close_code;
use super::super::{CoreConfig, PhaseView};

fn config() -> CoreConfig {
    CoreConfig {
        slow_consumer_timeout_ms: 1_000,
        slow_consumer_grace_ms: 10_000,
        close_timeout_ms: 2_000,
        queue_messages_max: 5,
        ..CoreConfig::default()
    }
}

/// A fast and a stalled subscriber of BTCUSDT, acks already read.
fn fast_and_stalled(bench: &mut Bench) -> (usize, usize) {
    let fast = bench.connect_ws();
    let stalled = bench.connect_ws();
    for p in [fast, stalled] {
        bench.subscribe(p, &["BTCUSDT"]);
        bench.received(p);
    }
    bench.peers[stalled].stream.write_room = Some(0);
    (fast, stalled)
}

#[test]
fn newer_snapshot_replaces_an_unsent_one_of_the_same_symbol() {
    let mut bench = Bench::new(config());
    let (_, stalled) = fast_and_stalled(&mut bench);
    for _ in 0..4 {
        bench.publish("BTCUSDT", 0, "{}");
    }
    let view = bench.core.client_view(bench.peers[stalled].id).unwrap();
    assert_eq!(view.queued_snapshots, 1);
    assert!(matches!(view.phase, PhaseView::WebSocket { dropped_messages: 3, .. }), "{view:?}");
}

#[test]
fn stalled_client_is_warned_after_the_slow_consumer_timeout() {
    let mut bench = Bench::new(config());
    let (_, stalled) = fast_and_stalled(&mut bench);
    bench.publish("BTCUSDT", 0, "{}");
    bench.advance_ms(999);
    assert_eq!(bench.core.slow_consumer_episodes(), 0);
    bench.advance_ms(1);
    assert_eq!(bench.core.slow_consumer_episodes(), 1);
    // The warning is queued ahead of the backlog: it is the first thing the client reads.
    bench.peers[stalled].stream.write_room = None;
    let peer = &mut bench.peers[stalled];
    bench.core.handle_writable(bench.now, peer.id, &mut peer.stream);
    let first = bench.received_json(stalled).into_iter().next().unwrap();
    assert_eq!(first["type"], "warning");
    assert_eq!(first["code"], "SLOW_CONSUMER");
}

#[test]
fn slow_consumer_is_warned_once_per_episode() {
    let mut bench = Bench::new(config());
    let (_, _) = fast_and_stalled(&mut bench);
    for _ in 0..8 {
        bench.publish("BTCUSDT", 0, "{}");
        bench.advance_ms(1_000);
    }
    assert_eq!(bench.core.slow_consumer_episodes(), 1);
}

#[test]
fn slow_consumer_is_closed_after_the_grace_period_not_before() {
    let mut bench = Bench::new(config());
    let (_, stalled) = fast_and_stalled(&mut bench);
    bench.publish("BTCUSDT", 0, "{}");
    bench.advance_ms(1_000); // warned
    bench.advance_ms(9_999);
    let view = bench.core.client_view(bench.peers[stalled].id).unwrap();
    assert_eq!(view.closing, None);
    bench.advance_ms(1);
    let view = bench.core.client_view(bench.peers[stalled].id).unwrap();
    assert!(view.closing.is_some());
}

#[test]
fn slow_consumer_that_never_reads_is_dropped_within_the_close_timeout() {
    let mut bench = Bench::new(config());
    let (_, stalled) = fast_and_stalled(&mut bench);
    bench.publish("BTCUSDT", 0, "{}");
    bench.advance_ms(1_000);
    bench.advance_ms(10_000);
    assert!(!bench.is_released(stalled));
    bench.advance_ms(2_000);
    assert!(bench.is_released(stalled));
}

#[test]
fn slow_consumer_that_reads_its_close_frame_gets_the_slow_consumer_code() {
    let mut bench = Bench::new(config());
    let (_, stalled) = fast_and_stalled(&mut bench);
    bench.publish("BTCUSDT", 0, "{}");
    bench.advance_ms(1_000);
    bench.advance_ms(10_000);
    bench.peers[stalled].stream.write_room = None;
    let peer = &mut bench.peers[stalled];
    bench.core.handle_writable(bench.now, peer.id, &mut peer.stream);
    let messages = bench.received(stalled);
    let Some(Message::Close(Some(frame))) = messages.last() else { panic!("{messages:?}") };
    assert_eq!(u16::from(frame.code), close_code::SLOW_CONSUMER);
}

#[test]
fn fast_client_keeps_receiving_every_snapshot_beside_a_stalled_one() {
    let mut bench = Bench::new(config());
    let (fast, _) = fast_and_stalled(&mut bench);
    for _ in 0..30 {
        bench.publish("BTCUSDT", 0, "{}");
        bench.advance_ms(500);
    }
    let seqs: Vec<u64> = bench
        .received_json(fast)
        .iter()
        .filter(|m| m["type"] == "snapshot")
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=30).collect::<Vec<u64>>());
}

#[test]
fn queue_over_its_byte_bound_closes_the_client_at_once() {
    let config = CoreConfig { queue_bytes_max: 64 * 1024, ..config() };
    let mut bench = Bench::new(config);
    let (_, stalled) = fast_and_stalled(&mut bench);
    bench.publish("BTCUSDT", 0, &format!(r#"{{"pad":"{}"}}"#, "x".repeat(70_000)));
    let view = bench.core.client_view(bench.peers[stalled].id).unwrap();
    assert!(view.closing.is_some());
    assert!(view.queued_bytes < 64 * 1024, "unsent snapshots are dropped on close");
}

#[test]
fn partial_writes_deliver_every_byte_in_order() {
    let mut bench = Bench::new(config());
    let p = bench.connect_ws();
    bench.subscribe(p, &["BTCUSDT"]);
    bench.received(p);
    for n in 0..5 {
        bench.peers[p].stream.write_room = Some(7);
        bench.publish("BTCUSDT", 0, &format!(r#"{{"n":{n}}}"#));
        // Trickle the rest out seven bytes at a time.
        while bench.core.client_view(bench.peers[p].id).unwrap().queued_bytes > 0 {
            bench.peers[p].stream.write_room = Some(7);
            let peer = &mut bench.peers[p];
            bench.core.handle_writable(bench.now, peer.id, &mut peer.stream);
        }
    }
    let ns: Vec<u64> = bench.received_json(p).iter().map(|m| m["data"]["n"].as_u64().unwrap()).collect();
    assert_eq!(ns, vec![0, 1, 2, 3, 4]);
}
