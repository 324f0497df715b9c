//! permessage-deflate (RFC 7692) on /ws/heatmap against the real binary over real TCP: the
//! negotiated extension, snapshots deflated once and inflating to the plain message, compressed
//! client messages, and the inflate bound (a bomb closes its own connection with 1009 only).
//! The client side is written by hand (tungstenite has no permessage-deflate) with flate2.

// Tests and benches drive real processes, sockets and clocks; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use serde_json::Value;
use support::*;

const OFFER: &str = "permessage-deflate; client_max_window_bits";

fn server(extra: &[(&str, &str)]) -> ServerProcess {
    let mut env = vec![("DEMO_SEED", "false"), ("DEMO_SNAPSHOT_BYTES", "4096"), ("WS_UPDATE_INTERVAL", "0.1")];
    env.extend_from_slice(extra);
    ServerProcess::start(&env)
}

/// A WebSocket client on a plain socket that reads server frames by hand.
struct RawWs {
    stream: TcpStream,
    /// The `Sec-WebSocket-Extensions` value of the 101 answer, if any.
    extensions: Option<String>,
    buf: Vec<u8>,
}

/// One server frame.
#[derive(Debug)]
struct Frame {
    fin: bool,
    rsv1: bool,
    opcode: u8,
    payload: Vec<u8>,
}

impl RawWs {
    fn open(server: &ServerProcess, offer: Option<&str>) -> RawWs {
        let offer = offer.map_or(String::new(), |o| format!("Sec-WebSocket-Extensions: {o}\r\n"));
        let (stream, head) = raw_upgrade(server.addr, "/ws/heatmap", &offer);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        let extensions = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-extensions").then(|| value.trim().to_string())
        });
        RawWs { stream, extensions, buf: Vec::new() }
    }

    fn send(&mut self, first: u8, payload: &[u8]) {
        self.stream.write_all(&masked_frame(first, payload)).unwrap();
    }

    /// The next frame, or `None` when the connection ended.
    fn frame(&mut self) -> Option<Frame> {
        loop {
            if self.buf.len() >= 2 {
                let (extra, short) = match self.buf[1] & 0x7F {
                    126 => (2, None),
                    127 => (8, None),
                    n => (0, Some(n as usize)),
                };
                if self.buf.len() >= 2 + extra {
                    let len = short.unwrap_or_else(|| self.buf[2..2 + extra].iter().fold(0usize, |n, &b| (n << 8) | b as usize));
                    if self.buf.len() >= 2 + extra + len {
                        let frame = Frame {
                            fin: self.buf[0] & 0x80 != 0,
                            rsv1: self.buf[0] & 0x40 != 0,
                            opcode: self.buf[0] & 0x0F,
                            payload: self.buf[2 + extra..2 + extra + len].to_vec(),
                        };
                        self.buf.drain(..2 + extra + len);
                        return Some(frame);
                    }
                }
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// The next text message as JSON, with whether it came compressed and its bytes on the wire.
    fn json(&mut self) -> (Value, bool, usize) {
        loop {
            let frame = self.frame().expect("connection ended");
            assert!(frame.fin, "the server sends whole messages");
            if frame.opcode != 0x1 {
                continue;
            }
            let wire = frame.payload.len();
            let text = if frame.rsv1 { inflate(&frame.payload) } else { frame.payload };
            return (serde_json::from_slice(&text).unwrap(), frame.rsv1, wire);
        }
    }

    fn snapshot(&mut self) -> (Value, bool, usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let (message, compressed, wire) = self.json();
            if message["type"] == "snapshot" {
                return (message, compressed, wire);
            }
        }
        panic!("no snapshot within 20 s");
    }

    /// The close code of the close frame that ends the connection.
    fn close_code(&mut self) -> u16 {
        while let Some(frame) = self.frame() {
            if frame.opcode == 0x8 {
                return u16::from_be_bytes([frame.payload[0], frame.payload[1]]);
            }
        }
        panic!("connection ended without a close frame");
    }
}

/// RFC 7692 §7.2.2: append the sync tail, inflate.
fn inflate(payload: &[u8]) -> Vec<u8> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(16 << 20);
    Decompress::new(false).decompress_vec(&input, &mut out, FlushDecompress::Sync).unwrap();
    out
}

/// RFC 7692 §7.2.1: raw deflate, sync flush, tail removed.
fn deflate(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 1024);
    Compress::new(Compression::best(), false).compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

const TEXT_COMPRESSED: u8 = 0xC1;
const TEXT: u8 = 0x81;

#[test]
fn snapshots_go_deflated_to_clients_that_negotiated_it_and_inflate_to_the_plain_message() {
    let server = server(&[]);
    let mut deflating = RawWs::open(&server, Some(OFFER));
    assert_eq!(
        deflating.extensions.as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    );
    let mut plain = RawWs::open(&server, None);
    assert_eq!(plain.extensions, None);
    for ws in [&mut deflating, &mut plain] {
        ws.send(TEXT, br#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
    }
    let (compressed, was_compressed, compressed_bytes) = deflating.snapshot();
    assert!(was_compressed, "a 4 KiB snapshot goes compressed");
    // The same snapshot (same seq) reaches the plain client as plain text with identical content.
    let (uncompressed, plain_bytes) = loop {
        let (message, was_compressed, wire) = plain.snapshot();
        assert!(!was_compressed);
        if message["seq"].as_u64() >= compressed["seq"].as_u64() {
            break (message, wire);
        }
    };
    if uncompressed["seq"] == compressed["seq"] {
        assert_eq!(uncompressed, compressed);
        assert!(compressed_bytes * 2 < plain_bytes, "{compressed_bytes} of {plain_bytes} bytes");
    }
}

#[test]
fn a_compressed_client_message_is_inflated_and_answered() {
    let server = server(&[]);
    let mut ws = RawWs::open(&server, Some(OFFER));
    ws.send(TEXT_COMPRESSED, &deflate(br#"{"action":"subscribe","symbols":["ETHUSDT"]}"#));
    let (reply, _, _) = ws.json();
    assert_eq!(reply["type"], "subscribed", "{reply}");
    assert_eq!(ws.snapshot().0["symbol"], "ETHUSDT");
}

#[test]
fn an_inflate_bomb_closes_with_1009_and_other_clients_keep_receiving() {
    let server = server(&[]);
    let mut other = RawWs::open(&server, Some(OFFER));
    other.send(TEXT, br#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
    let first = other.snapshot().0["seq"].as_u64().unwrap();
    let mut bomber = RawWs::open(&server, Some(OFFER));
    // 64 MiB of spaces deflate to about 64 KiB; the inflated bound is 4 KiB.
    let bomb = deflate(&vec![b' '; 64 << 20]);
    assert!(bomb.len() < 100_000, "{}", bomb.len());
    bomber.send(TEXT_COMPRESSED, &bomb);
    assert_eq!(bomber.close_code(), 1009);
    // A message that is small compressed but over 4 KiB inflated is refused the same way.
    let mut over = RawWs::open(&server, Some(OFFER));
    over.send(TEXT_COMPRESSED, &deflate(format!(r#"{{"action":"ping","pad":"{}"}}"#, "x".repeat(5000)).as_bytes()));
    assert_eq!(over.close_code(), 1009);
    let later = other.snapshot().0["seq"].as_u64().unwrap();
    assert!(later > first, "the other client still gets snapshots ({first} then {later})");
}

#[test]
fn with_ws_compression_false_the_offer_is_declined_and_rsv1_is_a_protocol_error() {
    let server = server(&[("WS_COMPRESSION", "false")]);
    let mut ws = RawWs::open(&server, Some(OFFER));
    assert_eq!(ws.extensions, None);
    ws.send(TEXT, br#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
    assert!(!ws.snapshot().1, "plain snapshots without the extension");
    ws.send(TEXT_COMPRESSED, &deflate(br#"{"action":"ping"}"#));
    assert_eq!(ws.close_code(), 1002);
}
