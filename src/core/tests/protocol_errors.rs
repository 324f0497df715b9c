use tungstenite::Message;

use super::harness::Bench;
use super::super::protocol::close_code;
use super::super::CoreConfig;

#[test]
fn invalid_symbol_is_reported_and_valid_ones_still_take_effect() {
    let mut bench = Bench::new(CoreConfig::default());
    let p = bench.connect_ws();
    bench.subscribe(p, &["BTCUSDT", "DOGEUSDT"]);
    let replies = bench.received_json(p);
    assert_eq!(replies[0]["type"], "subscribed");
    assert_eq!(replies[0]["symbols"], serde_json::json!(["BTCUSDT"]));
    assert_eq!(replies[1]["type"], "error");
    assert_eq!(replies[1]["code"], "INVALID_SYMBOL");
    assert_eq!(replies[1]["symbols"], serde_json::json!(["DOGEUSDT"]));
    assert_eq!(bench.core.subscribers("BTCUSDT").len(), 1);
}

#[test]
fn unknown_action_is_an_error_and_the_connection_stays_open() {
    let mut bench = Bench::new(CoreConfig::default());
    let p = bench.connect_ws();
    bench.send_text(p, r#"{"action":"explode"}"#);
    let replies = bench.received_json(p);
    assert_eq!(replies[0]["code"], "INVALID_ACTION");
    bench.send_text(p, r#"{"action":"ping"}"#);
    assert_eq!(bench.received_json(p)[0]["type"], "pong");
}

#[test]
fn malformed_json_is_invalid_message() {
    let mut bench = Bench::new(CoreConfig::default());
    let p = bench.connect_ws();
    bench.send_text(p, "{not json");
    assert_eq!(bench.received_json(p)[0]["code"], "INVALID_MESSAGE");
}

#[test]
fn binary_message_is_invalid_message() {
    let mut bench = Bench::new(CoreConfig::default());
    let p = bench.connect_ws();
    bench.send_message(p, Message::Binary(vec![1, 2, 3].into()));
    assert_eq!(bench.received_json(p)[0]["code"], "INVALID_MESSAGE");
    assert!(!bench.is_released(p));
}

#[test]
fn ping_is_answered_with_the_wall_clock() {
    let mut bench = Bench::new(CoreConfig::default());
    let p = bench.connect_ws();
    bench.send_text(p, r#"{"action":"ping"}"#);
    let pong = &bench.received_json(p)[0];
    assert_eq!(pong["type"], "pong");
    assert_eq!(pong["timestamp"], bench.now.wall_unix_ms);
}

#[test]
fn flooding_is_rate_limited_with_one_notice_and_the_connection_stays_open() {
    let config = CoreConfig { rate_limit_messages_per_s: 10, rate_limit_burst_messages: 20, ..CoreConfig::default() };
    let mut bench = Bench::new(config);
    let p = bench.connect_ws();
    for _ in 0..50 {
        bench.send_text(p, r#"{"action":"ping"}"#);
    }
    let types = bench.received_types(p);
    assert_eq!(types.iter().filter(|t| *t == "pong").count(), 20);
    let errors: Vec<_> = types.iter().filter(|t| *t == "error").collect();
    assert_eq!(errors.len(), 1, "{types:?}");
    bench.advance_ms(1_000);
    bench.send_text(p, r#"{"action":"ping"}"#);
    assert_eq!(bench.received_types(p), vec!["pong"]);
}

#[test]
fn message_over_the_size_limit_closes_with_1009() {
    let mut bench = Bench::new(CoreConfig::default());
    let p = bench.connect_ws();
    let big = format!(r#"{{"action":"ping","pad":"{}"}}"#, "x".repeat(5000));
    bench.send_text(p, &big);
    let messages = bench.received(p);
    let Some(Message::Close(Some(frame))) = messages.last() else { panic!("{messages:?}") };
    assert_eq!(u16::from(frame.code), close_code::MESSAGE_TOO_BIG);
}

#[test]
fn bad_input_from_one_client_does_not_disturb_another() {
    let mut bench = Bench::new(CoreConfig::default());
    let bad = bench.connect_ws();
    let good = bench.connect_ws();
    bench.subscribe(good, &["BTCUSDT"]);
    bench.received(good);
    bench.send_raw(bad, &[0x81, 0x85, 0xde, 0xad]); // truncated masked frame
    bench.send_text(bad, &"y".repeat(9000));
    bench.publish("BTCUSDT", 0, "{}");
    let got = bench.received_json(good);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["type"], "snapshot");
}

#[test]
fn unmasked_client_frame_is_a_protocol_error() {
    let mut bench = Bench::new(CoreConfig::default());
    let p = bench.connect_ws();
    bench.send_raw(p, &[0x81, 0x02, b'h', b'i']);
    let messages = bench.received(p);
    let Some(Message::Close(Some(frame))) = messages.last() else { panic!("{messages:?}") };
    assert_eq!(u16::from(frame.code), close_code::PROTOCOL_ERROR);
}

/// A masked client frame with first byte `first` (FIN, RSV bits, opcode) and a short payload.
fn masked_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![first, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

#[test]
fn replies_owed_before_a_bad_frame_in_the_same_read_go_out_before_the_close() {
    let mut bench = Bench::new(CoreConfig::default());
    let p = bench.connect_ws();
    bench.publish("BTCUSDT", 0, "{}");
    let mut bytes = masked_frame(0x81, br#"{"action":"ping"}"#);
    bytes.extend(masked_frame(0x81, br#"{"action":"subscribe","symbols":["BTCUSDT"]}"#));
    bytes.extend(masked_frame(0x80, b"stray continuation"));
    bench.send_raw(p, &bytes);
    let messages = bench.received(p);
    let kinds: Vec<String> = messages
        .iter()
        .map(|m| match m {
            Message::Text(t) => serde_json::from_str::<serde_json::Value>(t.as_str()).unwrap()["type"].as_str().unwrap().to_string(),
            Message::Close(Some(frame)) => format!("close {}", u16::from(frame.code)),
            other => format!("{other:?}"),
        })
        .collect();
    // The snapshot queued behind `subscribed` may be dropped; the replies may not.
    assert_eq!(kinds, ["pong", "subscribed", "close 1002"]);
}
