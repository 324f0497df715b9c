//! A test bench for the core: in-memory streams and a scripted WebSocket client built on
//! tungstenite's client role, so every byte the core writes is decoded by a real codec.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

use serde_json::Value;
use tungstenite::protocol::{Role, WebSocketContext};
use tungstenite::Message;

use super::super::{ConnId, Core, CoreConfig, MonoTime, Now, Output, SnapshotReady, StaticFiles};

/// An in-memory socket: what the client sent waits in `inbound`; what the core wrote lands in
/// `outbound`. `write_room` models the kernel send buffer: `Some(0)` blocks every write.
#[derive(Debug, Default)]
pub struct MemStream {
    pub inbound: VecDeque<u8>,
    pub outbound: Vec<u8>,
    pub write_room: Option<usize>,
    pub eof: bool,
    pub broken: bool,
}

impl Read for MemStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.broken {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        if self.inbound.is_empty() {
            return if self.eof { Ok(0) } else { Err(io::ErrorKind::WouldBlock.into()) };
        }
        let n = buf.len().min(self.inbound.len());
        for (slot, byte) in buf.iter_mut().zip(self.inbound.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
}

impl Write for MemStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.broken {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let n = match self.write_room {
            Some(0) => return Err(io::ErrorKind::WouldBlock.into()),
            Some(room) => room.min(buf.len()),
            None => buf.len(),
        };
        self.outbound.extend_from_slice(&buf[..n]);
        if let Some(room) = self.write_room.as_mut() {
            *room -= n;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads server bytes for the client-side codec; swallows what the client codec writes back.
struct ClientSide<'a> {
    input: &'a mut VecDeque<u8>,
}

impl Read for ClientSide<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.input.len());
        for (slot, byte) in buf.iter_mut().zip(self.input.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
}

impl Write for ClientSide<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Collects what a codec writes.
struct Sink(Vec<u8>);

impl Read for Sink {
    fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One connected peer as the test sees it.
pub struct Peer {
    pub id: ConnId,
    pub stream: MemStream,
    codec: Option<WebSocketContext>,
    /// Server bytes not yet decoded.
    pending: VecDeque<u8>,
    pub released: bool,
}

/// The core plus its peers and a clock the test moves.
pub struct Bench {
    pub core: Core,
    pub peers: Vec<Peer>,
    pub now: Now,
    pub outputs: Vec<Output>,
}

pub fn peer_addr(n: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40_000 + n as u16))
}

impl Bench {
    pub fn new(config: CoreConfig) -> Bench {
        let mut files = StaticFiles::new();
        files.insert("coinglass_heatmap.html".into(), b"<!doctype html><title>heatmap</title>".to_vec());
        files.insert("js/websocket-client.js".into(), b"export class HeatmapWebSocket {}".to_vec());
        let now = Now::new(MonoTime::from_millis(1_000), 1_750_000_000_000);
        Bench { core: Core::new(config, files, "boot".into(), now), peers: Vec::new(), now, outputs: Vec::new() }
    }

    pub fn advance_ms(&mut self, ms: u64) {
        self.now = Now::new(self.now.mono.plus_ms(ms), self.now.wall_unix_ms + ms as i64);
        self.core.handle_timeout(self.now);
        self.pump();
    }

    /// Accepts a TCP connection; returns the peer index.
    pub fn accept(&mut self) -> usize {
        self.accept_from(peer_addr(self.peers.len())).expect("accepted")
    }

    /// Accepts a TCP connection from `peer`; returns the peer index, or the core's refusal.
    pub fn accept_from(&mut self, peer: SocketAddr) -> Result<usize, super::super::AcceptError> {
        let id = self.core.handle_accept(self.now, peer)?;
        self.peers.push(Peer {
            id,
            stream: MemStream::default(),
            codec: None,
            pending: VecDeque::new(),
            released: false,
        });
        Ok(self.peers.len() - 1)
    }

    /// Sends raw bytes from peer `p` and lets the core read them.
    pub fn send_raw(&mut self, p: usize, bytes: &[u8]) {
        self.peers[p].stream.inbound.extend(bytes);
        let peer = &mut self.peers[p];
        self.core.handle_readable(self.now, peer.id, &mut peer.stream);
        self.pump();
    }

    /// Opens a WebSocket on `path`; panics unless the handshake succeeds.
    pub fn connect_ws_path(&mut self, path: &str) -> usize {
        let p = self.accept();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        self.send_raw(p, request.as_bytes());
        let response = self.take_http(p);
        assert!(response.starts_with("HTTP/1.1 101"), "handshake failed: {response}");
        self.peers[p].codec = Some(WebSocketContext::new(Role::Client, None));
        p
    }

    pub fn connect_ws(&mut self) -> usize {
        self.connect_ws_path("/ws/heatmap")
    }

    /// Takes everything the server wrote to `p` as text (for HTTP responses).
    pub fn take_http(&mut self, p: usize) -> String {
        let bytes = std::mem::take(&mut self.peers[p].stream.outbound);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Sends a WebSocket message from peer `p`, masked as a real client must.
    pub fn send_message(&mut self, p: usize, message: Message) {
        let mut sink = Sink(Vec::new());
        let codec = self.peers[p].codec.as_mut().expect("websocket peer");
        codec.write(&mut sink, message).expect("encode");
        codec.flush(&mut sink).expect("flush");
        let bytes = sink.0;
        self.send_raw(p, &bytes);
    }

    pub fn send_text(&mut self, p: usize, text: &str) {
        self.send_message(p, Message::text(text));
    }

    pub fn subscribe(&mut self, p: usize, symbols: &[&str]) {
        let list: Vec<String> = symbols.iter().map(|s| format!("\"{s}\"")).collect();
        self.send_text(p, &format!(r#"{{"action":"subscribe","symbols":[{}]}}"#, list.join(",")));
    }

    /// Decodes every complete message the server has written to `p`.
    pub fn received(&mut self, p: usize) -> Vec<Message> {
        let peer = &mut self.peers[p];
        let bytes = std::mem::take(&mut peer.stream.outbound);
        peer.pending.extend(bytes);
        let codec = peer.codec.as_mut().expect("websocket peer");
        let mut messages = Vec::new();
        loop {
            let mut side = ClientSide { input: &mut peer.pending };
            match codec.read(&mut side) {
                Ok(message) => messages.push(message),
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(tungstenite::Error::ConnectionClosed) => break,
                Err(e) => panic!("client codec failed: {e}"),
            }
        }
        messages
    }

    /// The JSON text messages the server has written to `p`.
    pub fn received_json(&mut self, p: usize) -> Vec<Value> {
        self.received(p)
            .into_iter()
            .filter_map(|m| match m {
                Message::Text(t) => Some(serde_json::from_str(t.as_str()).expect("server sent JSON")),
                _ => None,
            })
            .collect()
    }

    /// Delivers a snapshot from the producer.
    pub fn publish(&mut self, symbol: &str, generation: u64, data_json: &str) {
        self.core.handle_snapshot(
            self.now,
            SnapshotReady {
                symbol: symbol.into(),
                generation,
                timestamp: "2026-06-14T14:55:00Z".into(),
                source: "test".into(),
                data_json: data_json.into(),
                computed_at_unix_ms: self.now.wall_unix_ms,
                compute_micros: 10,
            },
        );
        self.pump();
    }

    /// Does what the shell does after every input: writes, re-reads, outputs.
    pub fn pump(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(id) = self.core.poll_transmit() {
                progressed = true;
                if let Some(peer) = self.peers.iter_mut().find(|p| p.id == id && !p.released) {
                    self.core.handle_writable(self.now, id, &mut peer.stream);
                }
            }
            while let Some(id) = self.core.poll_read_again() {
                progressed = true;
                if let Some(peer) = self.peers.iter_mut().find(|p| p.id == id && !p.released) {
                    self.core.handle_readable(self.now, id, &mut peer.stream);
                }
            }
            while let Some(output) = self.core.poll_output() {
                progressed = true;
                if let Output::Release(id) = &output {
                    for peer in self.peers.iter_mut().filter(|p| p.id == *id && !p.released) {
                        peer.released = true;
                    }
                }
                self.outputs.push(output);
            }
            if !progressed {
                break;
            }
        }
    }

    pub fn is_released(&self, p: usize) -> bool {
        self.peers[p].released
    }

    /// Types of the JSON messages `p` received, in order.
    pub fn received_types(&mut self, p: usize) -> Vec<String> {
        self.received_json(p).iter().map(|v| v["type"].as_str().unwrap_or("?").to_string()).collect()
    }
}

/// `loops` benches whose cores are the loops of one process: they share one ledger.
pub fn process_of(loops: usize, config: CoreConfig) -> Vec<Bench> {
    let ledger = std::sync::Arc::new(super::super::ConnectionLedger::new(loops));
    (0..loops)
        .map(|index| {
            let mut bench = Bench::new(config.clone());
            bench.core.share_ledger(std::sync::Arc::clone(&ledger), index);
            bench
        })
        .collect()
}
