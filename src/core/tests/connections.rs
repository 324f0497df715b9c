use tungstenite::Message;

use super::harness::Bench;
use super::super::protocol::close_code;
use super::super::{CoreConfig, DisconnectReason, Output};

#[test]
fn websocket_handshake_adds_a_client() {
    let mut bench = Bench::new(CoreConfig::default());
    assert_eq!(bench.core.ws_connections(), 0);
    bench.connect_ws();
    assert_eq!(bench.core.ws_connections(), 1);
}

#[test]
fn disconnect_removes_the_client_from_every_subscription() {
    let mut bench = Bench::new(CoreConfig::default());
    let p = bench.connect_ws();
    bench.subscribe(p, &["BTCUSDT", "ETHUSDT"]);
    assert_eq!(bench.core.subscribers("BTCUSDT").len(), 1);
    bench.peers[p].stream.eof = true;
    let peer = &mut bench.peers[p];
    bench.core.handle_readable(bench.now, peer.id, &mut peer.stream);
    bench.pump();
    assert!(bench.is_released(p));
    assert!(bench.core.subscribers("BTCUSDT").is_empty());
    assert!(bench.core.subscribers("ETHUSDT").is_empty());
    assert_eq!(bench.core.ws_connections(), 0);
}

#[test]
fn client_close_frame_is_echoed_then_the_connection_released() {
    let mut bench = Bench::new(CoreConfig::default());
    let p = bench.connect_ws();
    bench.send_message(p, Message::Close(None));
    let messages = bench.received(p);
    assert!(matches!(messages.last(), Some(Message::Close(_))), "{messages:?}");
    assert!(bench.is_released(p));
}

#[test]
fn websocket_ping_frame_is_answered_with_pong() {
    let mut bench = Bench::new(CoreConfig::default());
    let p = bench.connect_ws();
    bench.send_message(p, Message::Ping(b"hi".to_vec().into()));
    let messages = bench.received(p);
    assert_eq!(messages, vec![Message::Pong(b"hi".to_vec().into())]);
}

#[test]
fn silent_client_is_closed_with_the_idle_code() {
    let config = CoreConfig { idle_timeout_ms: 60_000, ..CoreConfig::default() };
    let mut bench = Bench::new(config);
    let p = bench.connect_ws();
    bench.advance_ms(59_000);
    assert!(bench.received(p).is_empty());
    bench.advance_ms(1_000);
    let messages = bench.received(p);
    let Some(Message::Close(Some(frame))) = messages.last() else { panic!("{messages:?}") };
    assert_eq!(u16::from(frame.code), close_code::IDLE_TIMEOUT);
}

#[test]
fn client_that_pings_stays_open_past_the_idle_timeout() {
    let mut bench = Bench::new(CoreConfig::default());
    let p = bench.connect_ws();
    for _ in 0..4 {
        bench.advance_ms(30_000);
        bench.send_text(p, r#"{"action":"ping"}"#);
    }
    assert!(!bench.is_released(p));
    assert_eq!(bench.core.ws_connections(), 1);
}

#[test]
fn shutdown_sends_going_away_and_releases_everyone() {
    let mut bench = Bench::new(CoreConfig::default());
    let a = bench.connect_ws();
    let b = bench.connect_ws();
    bench.core.handle_shutdown(bench.now);
    bench.pump();
    for p in [a, b] {
        let messages = bench.received(p);
        let Some(Message::Close(Some(frame))) = messages.last() else { panic!("{messages:?}") };
        assert_eq!(u16::from(frame.code), close_code::GOING_AWAY);
        assert!(bench.is_released(p));
    }
    assert!(bench.core.is_finished());
}

#[test]
fn shutdown_drops_a_client_that_never_takes_its_close_frame() {
    let config = CoreConfig { shutdown_timeout_ms: 5_000, ..CoreConfig::default() };
    let mut bench = Bench::new(config);
    let p = bench.connect_ws();
    bench.peers[p].stream.write_room = Some(0);
    bench.core.handle_shutdown(bench.now);
    bench.pump();
    assert!(!bench.is_released(p));
    bench.advance_ms(5_000);
    assert!(bench.is_released(p));
    assert!(bench.core.is_finished());
}

#[test]
fn no_connection_is_accepted_during_shutdown() {
    let mut bench = Bench::new(CoreConfig::default());
    bench.core.handle_shutdown(bench.now);
    assert!(!bench.core.can_accept());
    assert!(bench.core.handle_accept(bench.now, super::harness::peer_addr(0)).is_err());
}

#[test]
fn disconnect_reason_is_counted_once() {
    let mut bench = Bench::new(CoreConfig::default());
    let p = bench.connect_ws();
    bench.send_message(p, Message::Close(None));
    let releases = bench.outputs.iter().filter(|o| matches!(o, Output::Release(_))).count();
    assert_eq!(releases, 1);
    let stats = bench.core.stats.disconnects_total.get(&DisconnectReason::ClientClosed).copied();
    assert_eq!(stats, Some(1));
}

#[test]
fn idle_close_comes_on_time_after_a_snapshot_filed_an_earlier_deadline() {
    // A queued snapshot files the stall deadline (5 s); once written, that entry is left to fire
    // early instead of being moved. The early firing must neither close the client nor lose the
    // idle deadline behind it.
    let config = CoreConfig { idle_timeout_ms: 60_000, slow_consumer_timeout_ms: 5_000, ..CoreConfig::default() };
    let mut bench = Bench::new(config);
    let p = bench.connect_ws();
    bench.subscribe(p, &["BTCUSDT"]);
    bench.publish("BTCUSDT", 1, r#"{"levels":[]}"#);
    assert!(bench.received_types(p).contains(&"snapshot".to_string()));
    bench.advance_ms(10_000);
    assert!(!bench.is_released(p));
    assert!(bench.received(p).is_empty(), "nothing is due at the early deadline");
    bench.advance_ms(49_000);
    assert!(bench.received(p).is_empty(), "the idle close came early");
    bench.advance_ms(1_000);
    let messages = bench.received(p);
    let Some(Message::Close(Some(frame))) = messages.last() else { panic!("{messages:?}") };
    assert_eq!(u16::from(frame.code), close_code::IDLE_TIMEOUT);
}
