//! Client messages compressed with permessage-deflate (RFC 7692), inflated before tungstenite
//! reads them, with a bound on the inflated size.
//!
//! tungstenite's reader knows no extension and fails any frame with RSV1 set. On a connection that
//! negotiated permessage-deflate, [`InflatingReader`] sits between the socket and tungstenite and
//! rewrites the client's byte stream frame by frame:
//! - a compressed message (RSV1 on its first frame) is unmasked and inflated, and its inflated
//!   bytes are handed on as plain frames of at most [`INFLATED_FRAME_BYTES_MAX`] bytes each, the
//!   message's opcode on the first, continuation frames after, FIN on the last; they are masked
//!   with the zero key, as tungstenite requires a mask from a client;
//! - every other frame (control frames, uncompressed messages, and anything malformed, such as
//!   RSV1 on a continuation or control frame, which tungstenite then refuses) passes unchanged.
//!
//! tungstenite then applies its usual checks (UTF-8, fragmentation, control frames) and its
//! message size bound to the inflated message. The inflated size is also counted here, so that a
//! small frame inflating to gigabytes (a "zip bomb") stops at the bound: [`Inflate::failure`] then
//! says to close with 1009, and only this connection is affected.
//!
//! Memory: the server answered `client_no_context_takeover`, so no window is kept between
//! messages: the inflater (about 40 KiB) exists from a compressed message's first frame to its
//! last, and an idle connection holds only the few words of [`Inflate`].

use std::io::{self, Read, Write};

use flate2::{Decompress, FlushDecompress};
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use super::deflate::{SYNC_TAIL, WINDOW_BITS_MAX};
use super::protocol::close_code;

/// Largest plain frame handed to tungstenite for inflated bytes.
pub const INFLATED_FRAME_BYTES_MAX: usize = 16 * 1024;

/// Bytes read from the socket per read call.
const RAW_READ_BYTES: usize = 4096;

/// Longest client frame header: 2 + 8 (64-bit length) + 4 (mask key).
const CLIENT_HEADER_BYTES_MAX: usize = 14;

/// Compressed payload a message may carry beyond its inflated bound: DEFLATE's stored blocks add 5
/// bytes per 64 KiB, so a message within the bound never needs more. Without this bound, empty
/// blocks would let a client stream compressed bytes forever without ever reaching the bound.
const COMPRESSED_SLACK_BYTES: u64 = 1024;

/// Where the reader is within the client's frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// At a frame header.
    Header,
    /// Copying this many more payload bytes unchanged.
    PassThrough { remaining: u64 },
    /// Inflating this many more payload bytes of a compressed frame; `fin` ends the message.
    Compressed { remaining: u64, mask: [u8; 4], offset: u64, fin: bool },
    /// The compressed message's payload is all in; `tail_fed` once [`SYNC_TAIL`] was given.
    Finishing { tail_fed: bool },
}

/// A compressed message being received.
struct Message {
    inflater: Box<Decompress>,
    /// Text or binary: the opcode of the first plain frame handed on.
    kind: Data,
    /// A plain frame of this message was handed on already (the next one is a continuation).
    started: bool,
    inflated_bytes: usize,
    /// Compressed payload bytes of the message so far.
    compressed_bytes: u64,
}

/// Per-connection state of the inbound rewriting. See the module documentation.
pub struct Inflate {
    /// Bytes from the socket not yet rewritten (at most a header or one read's worth).
    raw: Vec<u8>,
    /// Rewritten bytes not yet taken by tungstenite (at most one frame).
    out: Vec<u8>,
    out_read: usize,
    position: Position,
    /// The compressed message in progress, if any.
    message: Option<Message>,
    /// True while an uncompressed fragmented message is in progress (its continuations pass).
    plain_message: bool,
    /// Largest inflated message, bytes.
    message_bytes_max: usize,
    failure: Option<(u16, &'static str)>,
}

impl Inflate {
    /// `early` holds frame bytes that arrived with the handshake request.
    pub fn new(message_bytes_max: usize, early: Vec<u8>) -> Inflate {
        Inflate {
            raw: early,
            out: Vec::new(),
            out_read: 0,
            position: Position::Header,
            message: None,
            plain_message: false,
            message_bytes_max,
            failure: None,
        }
    }

    /// Why the connection must be closed (close code, reason), once the client broke a rule
    /// only this layer sees: a message inflating past its bound (1009) or invalid compressed data.
    pub fn failure(&self) -> Option<(u16, &'static str)> {
        self.failure
    }

    /// Rewrites as much of `raw` as possible into `out`; false when more raw bytes are needed.
    fn step(&mut self) -> bool {
        match self.position {
            Position::Header => self.read_header(),
            Position::PassThrough { remaining } => {
                let n = (remaining.min(self.raw.len() as u64)) as usize;
                if n == 0 {
                    return false;
                }
                self.out.extend(self.raw.drain(..n));
                let remaining = remaining - n as u64;
                if remaining == 0 {
                    self.position = Position::Header;
                } else {
                    self.position = Position::PassThrough { remaining };
                }
                true
            }
            Position::Compressed { remaining, mask, offset, fin } => {
                if remaining == 0 {
                    self.position = if fin { Position::Finishing { tail_fed: false } } else { Position::Header };
                    return true;
                }
                let n = (remaining.min(self.raw.len() as u64) as usize).min(RAW_READ_BYTES);
                if n == 0 {
                    return false;
                }
                let mut input = [0u8; RAW_READ_BYTES];
                for (i, byte) in self.raw[..n].iter().enumerate() {
                    input[i] = byte ^ mask[((offset + i as u64) % 4) as usize];
                }
                let Some((consumed, produced)) = self.inflate(&input[..n], false) else { return true };
                if consumed == 0 && produced == 0 {
                    // Data after the end of the DEFLATE stream (a final block came before it).
                    self.failure = Some((close_code::PROTOCOL_ERROR, "invalid compressed data"));
                    return true;
                }
                self.raw.drain(..consumed);
                self.position = Position::Compressed {
                    remaining: remaining - consumed as u64,
                    mask,
                    offset: offset + consumed as u64,
                    fin,
                };
                true
            }
            Position::Finishing { tail_fed } => {
                let input: &[u8] = if tail_fed { &[] } else { &SYNC_TAIL };
                let Some((consumed, produced)) = self.inflate(input, true) else { return true };
                // A stream that ended with a final block takes no tail (RFC 7692 §7.2.3.2 lets
                // a client end a message so); the message is complete once nothing more comes out.
                let tail_fed = tail_fed || consumed > 0 || produced == 0;
                if tail_fed && produced == 0 {
                    self.emit(Vec::new(), true);
                    self.message = None;
                    self.position = Position::Header;
                } else {
                    self.position = Position::Finishing { tail_fed };
                }
                true
            }
        }
    }

    /// Parses the next frame header in `raw` and decides how its payload is handled.
    fn read_header(&mut self) -> bool {
        let Some((header_len, payload_len)) = header_extent(&self.raw) else { return false };
        let first = self.raw[0];
        let (fin, rsv1, opcode) = (first & 0x80 != 0, first & 0x40 != 0, first & 0x0F);
        let masked = self.raw[1] & 0x80 != 0;
        let rsv23 = first & 0x30 != 0;
        let compressed = masked
            && !rsv23
            && match opcode {
                0x1 | 0x2 => rsv1 && self.message.is_none() && !self.plain_message,
                0x0 => !rsv1 && self.message.is_some(),
                _ => false,
            };
        if !compressed {
            match opcode {
                0x1 | 0x2 => self.plain_message = !fin,
                0x0 if fin => self.plain_message = false,
                _ => {}
            }
            self.out.extend(self.raw.drain(..header_len));
            self.position = if payload_len == 0 { Position::Header } else { Position::PassThrough { remaining: payload_len } };
            return true;
        }
        if opcode != 0x0 {
            let kind = if opcode == 0x1 { Data::Text } else { Data::Binary };
            self.message = Some(Message {
                inflater: Box::new(Decompress::new_with_window_bits(false, WINDOW_BITS_MAX)),
                kind,
                started: false,
                inflated_bytes: 0,
                compressed_bytes: 0,
            });
        }
        if let Some(message) = self.message.as_mut() {
            message.compressed_bytes = message.compressed_bytes.saturating_add(payload_len);
            if message.compressed_bytes > self.message_bytes_max as u64 + COMPRESSED_SLACK_BYTES {
                self.failure = Some((close_code::MESSAGE_TOO_BIG, "message too big"));
                return true;
            }
        }
        let mask = [self.raw[header_len - 4], self.raw[header_len - 3], self.raw[header_len - 2], self.raw[header_len - 1]];
        self.raw.drain(..header_len);
        self.position = Position::Compressed { remaining: payload_len, mask, offset: 0, fin };
        true
    }

    /// Feeds `input` to the message's inflater and hands on what comes out as one plain frame.
    /// Returns the input bytes consumed and the bytes produced, or `None` after recording a failure.
    fn inflate(&mut self, input: &[u8], finishing: bool) -> Option<(usize, usize)> {
        let bound = self.message_bytes_max;
        let message = self.message.as_mut()?;
        let room = INFLATED_FRAME_BYTES_MAX.min(bound + 1 - message.inflated_bytes.min(bound));
        let mut chunk = Vec::with_capacity(room);
        let before = message.inflater.total_in();
        let flush = if finishing { FlushDecompress::Sync } else { FlushDecompress::None };
        if message.inflater.decompress_vec(input, &mut chunk, flush).is_err() {
            self.failure = Some((close_code::PROTOCOL_ERROR, "invalid compressed data"));
            return None;
        }
        let consumed = (message.inflater.total_in() - before) as usize;
        message.inflated_bytes += chunk.len();
        if message.inflated_bytes > bound {
            self.failure = Some((close_code::MESSAGE_TOO_BIG, "message too big"));
            return None;
        }
        let produced = chunk.len();
        if produced > 0 {
            self.emit(chunk, false);
        }
        Some((consumed, produced))
    }

    /// Hands on `payload` as a plain, zero-masked frame of the current message.
    fn emit(&mut self, payload: Vec<u8>, fin: bool) {
        let Some(message) = self.message.as_mut() else { return };
        let opcode = if message.started { OpCode::Data(Data::Continue) } else { OpCode::Data(message.kind) };
        message.started = true;
        let header = FrameHeader { is_final: fin, opcode, mask: Some([0; 4]), ..FrameHeader::default() };
        self.out.reserve(payload.len() + CLIENT_HEADER_BYTES_MAX);
        // Writing into a Vec cannot fail.
        let _ = header.format(payload.len() as u64, &mut self.out);
        self.out.extend_from_slice(&payload);
    }
}

/// The header length and payload length of the frame at the start of `bytes`, once its header is
/// complete.
fn header_extent(bytes: &[u8]) -> Option<(usize, u64)> {
    if bytes.len() < 2 {
        return None;
    }
    let mask_bytes = if bytes[1] & 0x80 != 0 { 4 } else { 0 };
    let (length_bytes, short) = match bytes[1] & 0x7F {
        126 => (2, None),
        127 => (8, None),
        n => (0, Some(u64::from(n))),
    };
    let header_len = 2 + length_bytes + mask_bytes;
    if bytes.len() < header_len {
        return None;
    }
    let payload_len = short.unwrap_or_else(|| bytes[2..2 + length_bytes].iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)));
    Some((header_len, payload_len))
}

/// The stream tungstenite reads on a deflate connection: the socket, rewritten by [`Inflate`].
pub struct InflatingReader<'a, S> {
    pub inner: &'a mut S,
    pub state: &'a mut Inflate,
}

impl<S: Read> Read for InflatingReader<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let state = &mut *self.state;
        loop {
            if state.out_read < state.out.len() {
                let n = buf.len().min(state.out.len() - state.out_read);
                buf[..n].copy_from_slice(&state.out[state.out_read..state.out_read + n]);
                state.out_read += n;
                if state.out_read == state.out.len() {
                    state.out.clear();
                    state.out_read = 0;
                    if state.out.capacity() > INFLATED_FRAME_BYTES_MAX + CLIENT_HEADER_BYTES_MAX {
                        state.out = Vec::new();
                    }
                }
                return Ok(n);
            }
            if state.failure.is_some() {
                return Err(io::Error::other("permessage-deflate failure"));
            }
            if state.step() {
                continue;
            }
            if state.raw.is_empty() && state.raw.capacity() > 0 {
                // Idle: give the buffer back.
                state.raw = Vec::new();
            }
            let mut chunk = [0u8; RAW_READ_BYTES];
            let n = self.inner.read(&mut chunk)?;
            if n == 0 {
                return Ok(0);
            }
            state.raw.extend_from_slice(&chunk[..n]);
        }
    }
}

impl<S: Write> Write for InflatingReader<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::super::deflate::deflate_message;
    use super::*;
    use tungstenite::protocol::{Role, WebSocketConfig, WebSocketContext};
    use tungstenite::Message as WsMessage;

    /// A masked client frame; `rsv1` marks a compressed first frame.
    fn client_frame(fin: bool, rsv1: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x11, 0x22, 0x33, 0x44];
        let mut out = vec![(u8::from(fin) << 7) | (u8::from(rsv1) << 6) | opcode];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n < 65536 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    /// Reads every message tungstenite sees in `wire` through the rewriting layer.
    fn read_all(wire: &[u8], bound: usize) -> (Vec<WsMessage>, Option<(u16, &'static str)>, String) {
        let mut state = Inflate::new(bound, Vec::new());
        let mut socket = io::Cursor::new(wire.to_vec());
        let config = WebSocketConfig::default().max_message_size(Some(bound)).max_frame_size(Some(bound));
        let mut ctx = WebSocketContext::new(Role::Server, Some(config));
        let mut messages = Vec::new();
        let error = loop {
            let mut reader = InflatingReader { inner: &mut socket, state: &mut state };
            match ctx.read(&mut reader) {
                Ok(message) => messages.push(message),
                Err(e) => break e.to_string(),
            }
        };
        (messages, state.failure(), error)
    }

    #[test]
    fn a_compressed_text_message_is_read_as_its_inflated_text() {
        let text = "{\"type\":\"subscribe\",\"symbols\":[\"BTCUSDT\"]}".repeat(3);
        let wire = client_frame(true, true, 0x1, &deflate_message(text.as_bytes(), 15));
        let (messages, failure, _) = read_all(&wire, 4096);
        assert_eq!(messages, vec![WsMessage::Text(text.into())]);
        assert_eq!(failure, None);
    }

    #[test]
    fn a_fragmented_compressed_message_with_a_ping_between_is_reassembled() {
        let data: Vec<u8> = (0..60_000u32).map(|i| (i % 251) as u8).collect();
        let compressed = deflate_message(&data, 15);
        let (a, b) = compressed.split_at(compressed.len() / 2);
        let mut wire = client_frame(false, true, 0x2, a);
        wire.extend(client_frame(true, false, 0x9, b"hi"));
        wire.extend(client_frame(true, false, 0x0, b));
        wire.extend(client_frame(true, false, 0x1, b"plain"));
        let (messages, failure, _) = read_all(&wire, 1 << 20);
        assert_eq!(failure, None);
        assert_eq!(messages, vec![WsMessage::Ping(b"hi".to_vec().into()), WsMessage::Binary(data.into()), WsMessage::Text("plain".into())]);
    }

    #[test]
    fn a_bomb_stops_at_the_bound_with_1009() {
        let bomb = deflate_message(&vec![b'a'; 10 << 20], 15);
        assert!(bomb.len() < 20_000, "{}", bomb.len());
        let (messages, failure, _) = read_all(&client_frame(true, true, 0x1, &bomb), 4096);
        assert!(messages.is_empty());
        assert_eq!(failure, Some((close_code::MESSAGE_TOO_BIG, "message too big")));
    }

    #[test]
    fn compressed_bytes_that_inflate_to_nothing_are_bounded_too() {
        // Empty stored blocks (BFINAL 0, type 00, LEN 0, NLEN 0xffff) inflate to nothing.
        let filler = [0x00, 0x00, 0x00, 0xff, 0xff].repeat(2000);
        let (messages, failure, _) = read_all(&client_frame(true, true, 0x1, &filler), 4096);
        assert!(messages.is_empty());
        assert_eq!(failure, Some((close_code::MESSAGE_TOO_BIG, "message too big")));
    }

    #[test]
    fn rsv1_on_a_continuation_or_control_frame_is_refused_by_tungstenite() {
        let mut wire = client_frame(false, false, 0x1, b"a");
        wire.extend(client_frame(true, true, 0x0, b"b"));
        let (_, failure, error) = read_all(&wire, 4096);
        assert_eq!(failure, None);
        assert!(error.contains("Reserved bits"), "{error}");
        let (_, _, error) = read_all(&client_frame(true, true, 0x9, b"x"), 4096);
        assert!(error.contains("Reserved bits"), "{error}");
    }

    #[test]
    fn garbage_in_a_compressed_frame_fails_with_1002() {
        let (_, failure, _) = read_all(&client_frame(true, true, 0x1, &[0xff; 40]), 4096);
        assert_eq!(failure.map(|f| f.0), Some(close_code::PROTOCOL_ERROR));
    }
}
