use std::io::ErrorKind;

use super::harness::Bench;
use super::super::CoreConfig;

#[test]
fn subscribe_is_acknowledged_with_every_subscribed_symbol() {
    let mut bench = Bench::new(CoreConfig::default());
    let p = bench.connect_ws();
    bench.subscribe(p, &["BTCUSDT"]);
    bench.subscribe(p, &["ETHUSDT"]);
    let replies = bench.received_json(p);
    assert_eq!(replies[0]["symbols"], serde_json::json!(["BTCUSDT"]));
    assert_eq!(replies[1]["type"], "subscribed");
    assert_eq!(replies[1]["symbols"], serde_json::json!(["BTCUSDT", "ETHUSDT"]));
}

#[test]
fn broadcast_reaches_every_subscriber_and_nobody_else() {
    let mut bench = Bench::new(CoreConfig::default());
    let a = bench.connect_ws();
    let b = bench.connect_ws();
    let other = bench.connect_ws();
    bench.subscribe(a, &["BTCUSDT"]);
    bench.subscribe(b, &["BTCUSDT"]);
    bench.subscribe(other, &["ETHUSDT"]);
    for p in [a, b, other] {
        bench.received(p);
    }
    bench.publish("BTCUSDT", 0, r#"{"levels":[]}"#);
    for p in [a, b] {
        let messages = bench.received_json(p);
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0]["type"], "snapshot");
        assert_eq!(messages[0]["symbol"], "BTCUSDT");
        assert_eq!(messages[0]["seq"], 1);
    }
    assert!(bench.received_json(other).is_empty());
}

#[test]
fn subscribing_delivers_the_latest_snapshot_at_once() {
    let mut bench = Bench::new(CoreConfig::default());
    bench.publish("BTCUSDT", 0, r#"{"n":1}"#);
    bench.publish("BTCUSDT", 0, r#"{"n":2}"#);
    let p = bench.connect_ws();
    bench.subscribe(p, &["BTCUSDT"]);
    let messages = bench.received_json(p);
    assert_eq!(messages[0]["type"], "subscribed");
    assert_eq!(messages[1]["type"], "snapshot");
    assert_eq!(messages[1]["seq"], 2);
    assert_eq!(messages[1]["data"]["n"], 2);
}

#[test]
fn unsubscribe_stops_snapshots() {
    let mut bench = Bench::new(CoreConfig::default());
    let p = bench.connect_ws();
    bench.subscribe(p, &["BTCUSDT"]);
    bench.send_text(p, r#"{"action":"unsubscribe","symbols":["BTCUSDT"]}"#);
    let replies = bench.received_json(p);
    assert_eq!(replies[1]["type"], "unsubscribed");
    assert_eq!(replies[1]["symbols"], serde_json::json!(["BTCUSDT"]));
    bench.publish("BTCUSDT", 0, "{}");
    assert!(bench.received_json(p).is_empty());
}

#[test]
fn seq_increases_per_symbol_and_restarts_with_a_new_epoch() {
    let mut bench = Bench::new(CoreConfig::default());
    let p = bench.connect_ws();
    bench.subscribe(p, &["BTCUSDT"]);
    bench.received(p);
    bench.publish("BTCUSDT", 0, "{}");
    bench.publish("BTCUSDT", 0, "{}");
    bench.publish("BTCUSDT", 1, "{}");
    let messages = bench.received_json(p);
    let seqs: Vec<u64> = messages.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, vec![1, 2, 1]);
    assert_eq!(messages[0]["epoch"], messages[1]["epoch"]);
    assert_ne!(messages[1]["epoch"], messages[2]["epoch"]);
}

#[test]
fn a_client_whose_socket_broke_is_dropped_during_broadcast_and_others_still_receive() {
    let mut bench = Bench::new(CoreConfig::default());
    let broken = bench.connect_ws();
    let healthy = bench.connect_ws();
    bench.subscribe(broken, &["BTCUSDT"]);
    bench.subscribe(healthy, &["BTCUSDT"]);
    bench.received(broken);
    bench.received(healthy);
    bench.peers[broken].stream.broken = true;
    bench.publish("BTCUSDT", 0, "{}");
    assert!(bench.is_released(broken));
    assert_eq!(bench.core.subscribers("BTCUSDT").len(), 1);
    assert_eq!(bench.received_json(healthy).len(), 1);
    let _ = ErrorKind::BrokenPipe;
}

#[test]
fn a_snapshot_is_framed_once_and_shared_by_every_queue() {
    let mut bench = Bench::new(CoreConfig::default());
    let stalled: Vec<usize> = (0..3).map(|_| bench.connect_ws()).collect();
    for &p in &stalled {
        bench.subscribe(p, &["BTCUSDT"]);
        bench.received(p);
        bench.peers[p].stream.write_room = Some(0);
    }
    bench.publish("BTCUSDT", 0, &format!(r#"{{"pad":"{}"}}"#, "x".repeat(10_000)));
    // One handle in the symbol's "latest" slot plus one per stalled client's queue: the bytes
    // exist once, however many subscribers hold them.
    assert_eq!(bench.core.latest_frame_handles("BTCUSDT"), Some(1 + stalled.len()));
}

#[test]
fn stats_count_connections_subscriptions_and_messages() {
    let mut bench = Bench::new(CoreConfig::default());
    let a = bench.connect_ws();
    let b = bench.connect_ws();
    bench.subscribe(a, &["BTCUSDT", "ETHUSDT"]);
    bench.subscribe(b, &["BTCUSDT"]);
    bench.publish("BTCUSDT", 0, "{}");
    bench.publish("ETHUSDT", 0, "{}");
    let now = bench.now;
    let stats = bench.core.stats_json(now);
    assert_eq!(stats["active_connections"], 2);
    assert_eq!(stats["subscriptions_by_symbol"]["BTCUSDT"], 2);
    assert_eq!(stats["subscriptions_by_symbol"]["ETHUSDT"], 1);
    assert_eq!(stats["messages_sent_1m"], 3);
    assert_eq!(stats["slow_consumers"], 0);
    bench.advance_ms(61_000);
    let now = bench.now;
    assert_eq!(bench.core.stats_json(now)["messages_sent_1m"], 0);
}
