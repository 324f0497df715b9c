//! Bad WebSocket frames and the echo endpoint's message limit, against the real binary over real
//! TCP. Frames are written by hand so that a valid message and a bad frame arrive in one segment,
//! as Autobahn 3.2, 4.1.3 and 5.15 send them.

// Tests and benches drive real processes, sockets and clocks; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::io::Write;
use std::net::TcpStream;

use support::*;
use tungstenite::protocol::Role;
use tungstenite::{Message, WebSocket};

fn server(extra: &[(&str, &str)]) -> ServerProcess {
    let mut env = vec![("DEMO_SEED", "false"), ("WS_ECHO_ENABLED", "true")];
    env.extend_from_slice(extra);
    ServerProcess::start(&env)
}

/// Opens a WebSocket on `path` over a plain socket, so raw bytes can be written to it.
fn open(server: &ServerProcess, path: &str) -> WebSocket<TcpStream> {
    let (stream, head) = raw_upgrade(server.addr, path, "");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    WebSocket::from_raw_socket(stream, Role::Client, None)
}

const TEXT: u8 = 0x81;
const BINARY: u8 = 0x82;

/// Messages until the close frame: the data messages and the close code.
fn read_until_close(ws: &mut WebSocket<TcpStream>) -> (Vec<Message>, u16) {
    let mut messages = Vec::new();
    loop {
        match ws.read() {
            Ok(Message::Close(Some(frame))) => return (messages, u16::from(frame.code)),
            Ok(Message::Close(None)) => panic!("close without a code after {messages:?}"),
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Ok(message) => messages.push(message),
            Err(e) => panic!("connection ended without a close frame after {messages:?}: {e}"),
        }
    }
}

#[test]
fn an_echo_owed_before_a_bad_frame_in_the_same_segment_goes_out_before_the_1002_close() {
    let server = server(&[]);
    // Autobahn 3.2 (reserved bit), 4.1.3 (reserved data opcode), 4.2.3 (reserved control opcode),
    // 5.15 (continuation without a start).
    for (case, bad) in [("rsv2", 0xa1), ("opcode 3", 0x83), ("opcode 11", 0x8b), ("stray continuation", 0x80)] {
        let mut ws = open(&server, "/ws/echo");
        let mut bytes = masked_frame(TEXT, b"Hello, world!");
        bytes.extend(masked_frame(bad, b"bad"));
        bytes.extend(masked_frame(0x89, b"ping after the bad frame"));
        ws.get_mut().write_all(&bytes).unwrap();
        let (messages, code) = read_until_close(&mut ws);
        assert_eq!(messages, vec![Message::text("Hello, world!")], "{case}");
        assert_eq!(code, 1002, "{case}");
    }
}

#[test]
fn heatmap_replies_owed_before_a_bad_frame_go_out_before_the_1002_close() {
    let server = server(&[]);
    let mut ws = open(&server, "/ws/heatmap");
    let mut bytes = masked_frame(TEXT, br#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
    bytes.extend(masked_frame(TEXT, br#"{"action":"ping"}"#));
    bytes.extend(masked_frame(0xc1, b"rsv1 without an extension"));
    ws.get_mut().write_all(&bytes).unwrap();
    let (messages, code) = read_until_close(&mut ws);
    let types: Vec<String> = messages
        .iter()
        .map(|m| serde_json::from_str::<serde_json::Value>(m.to_text().unwrap()).unwrap()["type"].to_string())
        .collect();
    assert_eq!(types, ["\"subscribed\"", "\"pong\""]);
    assert_eq!(code, 1002);
}

#[test]
fn a_64_bit_length_with_its_most_significant_bit_set_closes_with_1002() {
    let server = server(&[]);
    let mut ws = open(&server, "/ws/echo");
    let mut frame = vec![BINARY, 0x80 | 127];
    frame.extend_from_slice(&(1u64 << 63 | 5).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    ws.get_mut().write_all(&frame).unwrap();
    let (messages, code) = read_until_close(&mut ws);
    assert!(messages.is_empty());
    assert_eq!(code, 1002);
}

#[test]
fn echo_message_limit_follows_ws_echo_max_message_bytes() {
    let server = server(&[("WS_ECHO_MAX_MESSAGE_BYTES", "1048576")]);
    let mut ws = open(&server, "/ws/echo");
    let payload: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
    ws.send(Message::Binary(payload.clone().into())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Binary(payload.into()));
    let mut too_big = masked_frame(BINARY, &vec![7u8; 1_048_577]);
    too_big.truncate(64);
    ws.get_mut().write_all(&too_big).unwrap();
    let (messages, code) = read_until_close(&mut ws);
    assert!(messages.is_empty());
    assert_eq!(code, 1009);
}

#[test]
fn echo_message_limit_defaults_to_64_kib_and_heatmap_keeps_4_kib() {
    let server = server(&[]);
    let mut echo = open(&server, "/ws/echo");
    echo.send(Message::Binary(vec![1u8; 65_536].into())).unwrap();
    assert_eq!(echo.read().unwrap(), Message::Binary(vec![1u8; 65_536].into()));
    echo.get_mut().write_all(&masked_frame(BINARY, &vec![1u8; 65_537])).unwrap();
    assert_eq!(read_until_close(&mut echo).1, 1009);
    let mut heatmap = open(&server, "/ws/heatmap");
    heatmap.get_mut().write_all(&masked_frame(TEXT, &vec![b' '; 4097])).unwrap();
    assert_eq!(read_until_close(&mut heatmap).1, 1009);
}

#[test]
fn a_bad_echo_message_limit_exits_with_code_2_naming_the_variable() {
    for (value, queue, expected) in [
        ("16777217", "33554432", "an integer from 1024 to 16777216"),
        ("16777216", "8388608", "WS_MAX_QUEUE_BYTES"),
    ] {
        let dir = TempDir::new("echo-limit");
        let output = std::process::Command::new(binary())
            .current_dir(dir.path())
            .env_clear()
            .env("WS_ECHO_ENABLED", "true")
            .env("WS_ECHO_MAX_MESSAGE_BYTES", value)
            .env("WS_MAX_QUEUE_BYTES", queue)
            .env("DUCKDB_PATH", dir.path().join("never-created.duckdb"))
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("WS_ECHO_MAX_MESSAGE_BYTES") && stderr.contains(expected), "{stderr}");
    }
}
