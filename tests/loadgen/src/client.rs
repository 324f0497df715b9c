//! One load-generator connection: its socket, its handshake, and what it has received.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Instant;

use mio::net::TcpStream;
use socket2::{Domain, Protocol, Socket, Type};

use liquidationheatmap::wsclient::frames::{close_frame, pong_frame, text_frame, FrameReader, ReaderEvent};
use liquidationheatmap::wsclient::handshake::{self, Response, RESPONSE_HEAD_BYTES_MAX};

use super::envelope::{classify, Kind, PREFIX_BYTES_MAX};
use super::stats::PhaseStats;

/// Bytes a client may have waiting to be written (handshake, subscribe, pings, pongs, close).
const OUT_BYTES_MAX: usize = 4096;
/// First loopback source address; 127.0.0.1 is left to everything else on the host.
const SOURCE_FIRST: u32 = u32::from_be_bytes([127, 0, 0, 2]);
/// Last usable loopback source address.
const SOURCE_LAST: u32 = u32::from_be_bytes([127, 255, 255, 254]);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Connecting,
    Handshaking,
    Open,
}

/// The sequence position of one subscribed symbol on this connection.
#[derive(Clone, Debug)]
struct SymbolStream {
    symbol: usize,
    epoch_hash: u64,
    last_seq: u64,
    seen: bool,
}

/// Why a client is gone.
#[derive(Debug)]
pub enum Ended {
    /// Never upgraded: connect error, refused upgrade, or the connection died during the handshake.
    Failed(String),
    /// The server closed an open WebSocket (close code, or "eof"/"reset").
    ClosedByServer(String),
}

pub struct Client {
    /// The logical client (symbol mix, slow selection, source address).
    pub id: usize,
    pub stage: Stage,
    pub started: Instant,
    pub served: bool,
    /// Stops reading (slow scenario); the socket stays open.
    pub stalled: bool,
    /// Belongs to the share that stalls in the slow scenario; its latency is kept apart so the
    /// clean and slow phases compare the same (fast) clients.
    pub slow_group: bool,
    pub retries: u32,
    pub next_ping: Option<Instant>,
    stream: TcpStream,
    key: String,
    mask: [u8; 4],
    head: Vec<u8>,
    out: Vec<u8>,
    reader: FrameReader,
    subscribe: Option<String>,
    streams: Vec<SymbolStream>,
    subscribed: bool,
}

/// The loopback source address of client `id` (`per_source` clients share one address).
pub fn source_address(id: usize, per_source: usize) -> Ipv4Addr {
    let offset = (id / per_source) as u64;
    Ipv4Addr::from((SOURCE_FIRST as u64 + offset).min(SOURCE_LAST as u64) as u32)
}

/// Starts a non-blocking connect from `source` to `target`.
/// `rcvbuf_bytes` (if any) is set before connecting, so the window it implies is negotiated.
pub fn connect(source: Ipv4Addr, target: SocketAddr, rcvbuf_bytes: Option<usize>) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    if let Some(bytes) = rcvbuf_bytes {
        socket.set_recv_buffer_size(bytes)?;
    }
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&SocketAddrV4::new(source, 0).into())?;
    match socket.connect(&target.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}

/// What a client needs to start.
pub struct ClientSetup {
    pub id: usize,
    pub stream: TcpStream,
    pub nonce: [u8; 16],
    pub mask: [u8; 4],
    /// The subscribe message, or `None` for an idle client.
    pub subscribe: Option<String>,
    /// Indexes (into the run's symbols) this client subscribes to.
    pub symbols: Vec<usize>,
    pub retries: u32,
    pub slow_group: bool,
}

/// What every client's event handling reads.
pub struct Context<'a> {
    pub symbols: &'a [String],
    pub path: &'a str,
    /// Offer permessage-deflate in the handshake.
    pub compression: bool,
    pub now: Instant,
    /// Reads the wall clock in microseconds (delivery latency is wall time against `sent_at_ms`).
    pub wall_us: &'a dyn Fn() -> i64,
}

impl Client {
    pub fn new(setup: ClientSetup, now: Instant) -> Client {
        Client {
            id: setup.id,
            stage: Stage::Connecting,
            started: now,
            served: false,
            stalled: false,
            slow_group: setup.slow_group,
            retries: setup.retries,
            next_ping: None,
            stream: setup.stream,
            key: handshake::key_from_nonce(setup.nonce),
            mask: setup.mask,
            head: Vec::new(),
            out: Vec::new(),
            reader: FrameReader::new(PREFIX_BYTES_MAX),
            subscribe: setup.subscribe,
            streams: setup.symbols.into_iter().map(|symbol| SymbolStream { symbol, epoch_hash: 0, last_seq: 0, seen: false }).collect(),
            subscribed: false,
        }
    }

    pub fn stream_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Queues `bytes` for writing and writes what the socket takes.
    fn send(&mut self, bytes: &[u8]) -> Result<(), Ended> {
        if self.out.len() + bytes.len() > OUT_BYTES_MAX {
            return Err(Ended::ClosedByServer("client write backlog full".into()));
        }
        self.out.extend_from_slice(bytes);
        self.flush()
    }

    /// Writes queued bytes until the socket would block.
    pub fn flush(&mut self) -> Result<(), Ended> {
        while !self.out.is_empty() {
            match self.stream.write(&self.out) {
                Ok(0) => return Err(self.ended("write returned 0".into())),
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.ended(format!("write: {}", e.kind()))),
            }
        }
        Ok(())
    }

    fn ended(&self, reason: String) -> Ended {
        if self.stage == Stage::Open {
            Ended::ClosedByServer(reason)
        } else {
            Ended::Failed(reason)
        }
    }

    /// Sends the application-level ping that keeps the server's idle timer from firing.
    pub fn ping(&mut self) -> Result<(), Ended> {
        let frame = text_frame("{\"action\":\"ping\"}", self.mask);
        self.send(&frame)
    }

    /// Sends a close frame (best effort) before the socket is dropped.
    pub fn say_goodbye(&mut self) {
        let frame = close_frame(1000, self.mask);
        let _ = self.send(&frame);
    }

    /// Handles readiness: finishes the connect, the handshake, and reads until the socket is empty.
    pub fn on_ready(&mut self, scratch: &mut [u8], ctx: &Context<'_>, stats: &mut PhaseStats) -> Result<(), Ended> {
        if self.stage == Stage::Connecting {
            if let Some(e) = self.stream.take_error().ok().flatten() {
                return Err(Ended::Failed(format!("connect: {}", e.kind())));
            }
            match self.stream.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotConnected => return Ok(()),
                Err(e) => return Err(Ended::Failed(format!("connect: {}", e.kind()))),
            }
            self.stage = Stage::Handshaking;
            let target = self.stream.peer_addr().map_err(|e| Ended::Failed(format!("connect: {}", e.kind())))?;
            let request = handshake::request_offering(target, ctx.path, &self.key, ctx.compression);
            self.send(&request)?;
        }
        self.flush()?;
        if self.stalled {
            return Ok(());
        }
        loop {
            let read = match self.stream.read(scratch) {
                Ok(0) => return Err(self.ended("eof".into())),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.ended(format!("read: {}", e.kind()))),
            };
            let mut bytes = &scratch[..read];
            if self.stage == Stage::Handshaking {
                let room = RESPONSE_HEAD_BYTES_MAX.saturating_sub(self.head.len()).max(1);
                let take = room.min(bytes.len());
                self.head.extend_from_slice(&bytes[..take]);
                match handshake::check_response(&self.head, &self.key) {
                    Response::Partial => {
                        bytes = &bytes[take..];
                        if bytes.is_empty() {
                            continue;
                        }
                        return Err(Ended::Failed(format!("response head over {RESPONSE_HEAD_BYTES_MAX} bytes")));
                    }
                    Response::Refused { status, reason } => {
                        return Err(Ended::Failed(if status == 0 { reason } else { format!("HTTP {status}") }));
                    }
                    Response::Upgraded { head_bytes, deflate } => {
                        self.reader.set_deflate(deflate);
                        let leftover_in_head = self.head.len() - head_bytes;
                        let consumed_here = take - leftover_in_head;
                        bytes = &bytes[consumed_here..];
                        self.head = Vec::new();
                        self.stage = Stage::Open;
                        stats.handshake.record(ctx.now.duration_since(self.started).as_micros() as u64);
                        stats.upgraded += 1;
                        if let Some(subscribe) = self.subscribe.clone() {
                            let frame = text_frame(&subscribe, self.mask);
                            self.send(&frame)?;
                        }
                    }
                }
            }
            if !bytes.is_empty() {
                self.consume(bytes, ctx, stats)?;
            }
            if read < scratch.len() {
                // A short read emptied the socket. Bytes arriving after it raise a new edge, so
                // the read that would only say `WouldBlock` is skipped: one system call less per
                // message, on the two cores the server shares with us.
                return Ok(());
            }
        }
    }

    fn consume(&mut self, bytes: &[u8], ctx: &Context<'_>, stats: &mut PhaseStats) -> Result<(), Ended> {
        let mut replies: Vec<Vec<u8>> = Vec::new();
        let mut closed: Option<String> = None;
        let received_us = (ctx.wall_us)();
        let Client { reader, streams, subscribed, served, started, mask, slow_group, .. } = self;
        let result = reader.feed(bytes, |event| match event {
            ReaderEvent::Message { text: false, .. } => stats.count("binary message"),
            ReaderEvent::Message { prefix, bytes, .. } => match classify(prefix) {
                Ok(Kind::Snapshot(envelope)) => {
                    stats.snapshots += 1;
                    stats.snapshot_bytes += bytes;
                    let Some(symbol) = ctx.symbols.iter().position(|s| s == envelope.symbol) else {
                        stats.count("snapshot of an unsubscribed symbol");
                        return;
                    };
                    let Some(stream) = streams.iter_mut().find(|s| s.symbol == symbol) else {
                        stats.count("snapshot of an unsubscribed symbol");
                        return;
                    };
                    let epoch_hash = fnv1a(envelope.epoch.as_bytes());
                    if !stream.seen {
                        // The first snapshot after subscribing is the server's latest, framed
                        // before this client asked: its age is not delivery latency.
                        stream.seen = true;
                    } else if stream.epoch_hash != epoch_hash {
                        stats.epoch_changes += 1;
                    } else if envelope.seq <= stream.last_seq {
                        stats.reordered += 1;
                        return;
                    } else {
                        stats.lost += envelope.seq - stream.last_seq - 1;
                        let latency_us = received_us - envelope.sent_at_ms * 1000;
                        if latency_us < 0 {
                            stats.count("sent_at_ms in the future");
                        }
                        if *slow_group {
                            stats.delivery_slow_group.record(latency_us.max(0) as u64);
                        } else {
                            stats.delivery.record(latency_us.max(0) as u64);
                        }
                    }
                    stream.epoch_hash = epoch_hash;
                    stream.last_seq = envelope.seq;
                    if *subscribed && !*served {
                        *served = true;
                        stats.served.record(ctx.now.duration_since(*started).as_micros() as u64);
                    }
                }
                Ok(Kind::Subscribed) => *subscribed = true,
                Ok(Kind::Pong) => stats.pongs += 1,
                Ok(Kind::Warning) => stats.count("server warning SLOW_CONSUMER"),
                Ok(Kind::Error(code)) => stats.count(&format!("server error {code}")),
                Ok(Kind::Other(kind)) => stats.count(&format!("unknown message type {kind}")),
                Err(e) => stats.count(&format!("unreadable message: {}", e.0)),
            },
            ReaderEvent::Ping(payload) => replies.push(pong_frame(payload, *mask)),
            ReaderEvent::Pong => {}
            ReaderEvent::Close(code) => closed = Some(code.map_or("close without code".into(), |c| format!("close {c}"))),
        });
        if let Err(e) = result {
            return Err(Ended::ClosedByServer(format!("protocol error: {}", e.0)));
        }
        for reply in replies {
            self.send(&reply)?;
        }
        if let Some(reason) = closed {
            self.say_goodbye();
            return Err(Ended::ClosedByServer(reason));
        }
        Ok(())
    }
}

/// FNV-1a: a stable, dependency-free hash to compare epochs without keeping their text.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_share_a_source_address_in_blocks_of_per_source() {
        assert_eq!(source_address(0, 5000), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(source_address(4999, 5000), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(source_address(5000, 5000), Ipv4Addr::new(127, 0, 0, 3));
        assert_eq!(source_address(300, 1), Ipv4Addr::new(127, 0, 1, 46));
    }

    #[test]
    fn source_addresses_never_leave_loopback() {
        assert_eq!(source_address(usize::MAX / 2, 1), Ipv4Addr::new(127, 255, 255, 254));
    }
}
