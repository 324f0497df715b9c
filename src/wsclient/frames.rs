//! The client side of WebSocket framing (RFC 6455 5): client frames, masked as every real client
//! masks them or deliberately malformed (the simulator's hostile clients), and a streaming reader
//! of the server's frames that keeps only the first `keep_bytes` of each message (so 10,000
//! load-generator clients receiving 16 KiB snapshots need kilobytes, not megabytes, of buffers,
//! while the simulator keeps every byte to check it). Frame headers are decoded by tungstenite's
//! `FrameHeader`.

use std::cell::RefCell;
use std::io::Cursor;

use flate2::{Decompress, FlushDecompress};

use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

/// Opcodes (RFC 6455 5.2).
pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xa;

/// The longest frame header (RFC 6455 5.2: 2 + 8 length + 4 mask bytes).
const HEADER_BYTES_MAX: usize = 14;
/// Control frames carry at most 125 payload bytes (RFC 6455 5.5).
const CONTROL_PAYLOAD_BYTES_MAX: usize = 125;
/// Largest message accepted from the server; far above any snapshot (DEMO_SNAPSHOT_BYTES ≤ 16 MiB).
pub const MESSAGE_BYTES_MAX: u64 = 64 * 1024 * 1024;

thread_local! {
    /// One inflater per thread, reset for every compressed message: with the server's
    /// `server_no_context_takeover` each message inflates on its own, so 10,000 load-generator
    /// clients need no 40 KiB inflater each.
    static INFLATER: RefCell<Decompress> = RefCell::new(Decompress::new(false));
}

/// The first `keep_bytes` of what the kept start of a compressed message inflates to (RFC 7692
/// §7.2.2: the payload is raw DEFLATE whose blocks up to the cut inflate on their own).
fn inflate_prefix(compressed: &[u8], keep_bytes: usize) -> Vec<u8> {
    INFLATER.with(|inflater| {
        let mut inflater = inflater.borrow_mut();
        inflater.reset(false);
        let mut out = Vec::with_capacity(keep_bytes.min(1 << 20));
        // A cut stream inflates as far as it goes; the error a cut may cause is irrelevant here.
        let _ = inflater.decompress_vec(compressed, &mut out, FlushDecompress::Sync);
        out.truncate(keep_bytes);
        out
    })
}

/// A complete unit the reader hands out.
#[derive(Debug, PartialEq, Eq)]
pub enum ReaderEvent<'a> {
    /// A complete data message: its first `keep_bytes` bytes (all of them when it is shorter)
    /// and its total length in bytes.
    Message {
        text: bool,
        prefix: &'a [u8],
        bytes: u64,
    },
    Ping(&'a [u8]),
    Pong,
    /// A close frame and its status code, if it carried one.
    Close(Option<u16>),
}

/// Why the server's byte stream is not valid WebSocket.
#[derive(Debug, PartialEq, Eq)]
pub struct FrameError(pub String);

#[derive(Debug)]
struct PartialFrame {
    opcode: OpCode,
    is_final: bool,
    remaining: u64,
}

/// A streaming frame reader for server-to-client frames. It rejects what no server may send: masked
/// or reserved-bit frames, reserved opcodes, long or fragmented control frames, stray
/// continuations, close frames with a 1-byte payload, a code no endpoint may send or a reason that
/// is not UTF-8 (RFC 6455 5.5.1, 7.4), and any byte after the close frame.
#[derive(Debug)]
pub struct FrameReader {
    /// Bytes of each data message kept for [`ReaderEvent::Message`].
    keep_bytes: usize,
    /// A close frame was read: nothing may follow it.
    closed: bool,
    header: [u8; HEADER_BYTES_MAX],
    header_len: usize,
    frame: Option<PartialFrame>,
    /// Some(is_text) while a (possibly fragmented) data message is being read.
    message_text: Option<bool>,
    message_bytes: u64,
    prefix: Vec<u8>,
    control: Vec<u8>,
    /// permessage-deflate was agreed: RSV1 on a message's first frame marks it compressed.
    deflate: bool,
    /// The message being read is compressed (`prefix` holds compressed bytes).
    compressed: bool,
}

/// Initial capacity of the kept bytes; a reader that keeps whole messages grows beyond it.
const KEEP_CAPACITY_BYTES: usize = 512;

impl FrameReader {
    /// A reader that keeps the first `keep_bytes` of each data message (`usize::MAX`: all).
    pub fn new(keep_bytes: usize) -> FrameReader {
        FrameReader {
            keep_bytes,
            closed: false,
            header: [0; HEADER_BYTES_MAX],
            header_len: 0,
            frame: None,
            message_text: None,
            message_bytes: 0,
            prefix: Vec::with_capacity(keep_bytes.min(KEEP_CAPACITY_BYTES)),
            control: Vec::new(),
            deflate: false,
            compressed: false,
        }
    }

    /// The handshake agreed to permessage-deflate (RFC 7692): compressed messages are inflated
    /// as far as the kept bytes go, and `bytes` counts them as they travelled (compressed).
    pub fn set_deflate(&mut self, deflate: bool) {
        self.deflate = deflate;
    }

    /// Whether the server's close frame has been read.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Consumes `input`, calling `on_event` for every complete message or control frame.
    /// `Err` describes a stream no server may send; one starting with "after close" means bytes
    /// followed the close frame.
    pub fn feed(&mut self, mut input: &[u8], mut on_event: impl FnMut(ReaderEvent<'_>)) -> Result<(), FrameError> {
        while !input.is_empty() {
            if self.closed {
                return Err(FrameError(format!("after close: {} bytes followed the close frame", input.len())));
            }
            match self.frame.as_mut() {
                None => {
                    let take = (HEADER_BYTES_MAX - self.header_len).min(input.len());
                    let buffered = self.header_len;
                    self.header[buffered..buffered + take].copy_from_slice(&input[..take]);
                    let mut cursor = Cursor::new(&self.header[..buffered + take]);
                    match FrameHeader::parse(&mut cursor) {
                        Ok(None) => {
                            self.header_len += take;
                            input = &input[take..];
                        }
                        Ok(Some((header, length))) => {
                            let used = cursor.position() as usize - buffered;
                            input = &input[used..];
                            self.header_len = 0;
                            self.start_frame(header, length)?;
                            if length == 0 {
                                self.finish_frame(&mut on_event)?;
                            }
                        }
                        Err(e) => return Err(FrameError(format!("bad frame header: {e}"))),
                    }
                }
                Some(frame) => {
                    let take = frame.remaining.min(input.len() as u64) as usize;
                    let (payload, rest) = input.split_at(take);
                    input = rest;
                    frame.remaining -= take as u64;
                    let done = frame.remaining == 0;
                    if matches!(frame.opcode, OpCode::Control(_)) {
                        self.control.extend_from_slice(payload);
                    } else {
                        // A compressed message keeps twice the bytes: enough to inflate to at least
                        // `keep_bytes` of JSON text (deflate never expands text by much).
                        let kept = if self.compressed { self.keep_bytes.saturating_mul(2) } else { self.keep_bytes };
                        let room = kept.saturating_sub(self.prefix.len());
                        self.prefix.extend_from_slice(&payload[..room.min(payload.len())]);
                    }
                    if done {
                        self.finish_frame(&mut on_event)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn start_frame(&mut self, header: FrameHeader, length: u64) -> Result<(), FrameError> {
        if header.mask.is_some() {
            return Err(FrameError("server frame is masked".into()));
        }
        let compressed_start = header.rsv1 && self.deflate && matches!(header.opcode, OpCode::Data(Data::Text | Data::Binary));
        if (header.rsv1 && !compressed_start) || header.rsv2 || header.rsv3 {
            return Err(FrameError("reserved bits set without an extension".into()));
        }
        match header.opcode {
            OpCode::Data(Data::Reserved(code)) | OpCode::Control(Control::Reserved(code)) => {
                return Err(FrameError(format!("reserved opcode {code}")));
            }
            OpCode::Control(_) => {
                if length > CONTROL_PAYLOAD_BYTES_MAX as u64 || !header.is_final {
                    return Err(FrameError("control frame too long or fragmented".into()));
                }
                self.control.clear();
            }
            OpCode::Data(Data::Continue) => {
                if self.message_text.is_none() {
                    return Err(FrameError("continuation frame outside a message".into()));
                }
            }
            OpCode::Data(Data::Text | Data::Binary) => {
                if self.message_text.is_some() {
                    return Err(FrameError("new message inside a fragmented message".into()));
                }
                self.message_text = Some(header.opcode == OpCode::Data(Data::Text));
                self.message_bytes = 0;
                self.prefix.clear();
                self.compressed = compressed_start;
            }
        }
        if matches!(header.opcode, OpCode::Data(_)) {
            self.message_bytes += length;
            if self.message_bytes > MESSAGE_BYTES_MAX {
                return Err(FrameError(format!("message longer than {MESSAGE_BYTES_MAX} bytes")));
            }
        }
        self.frame = Some(PartialFrame { opcode: header.opcode, is_final: header.is_final, remaining: length });
        Ok(())
    }

    fn finish_frame(&mut self, on_event: &mut impl FnMut(ReaderEvent<'_>)) -> Result<(), FrameError> {
        let Some(frame) = self.frame.take() else { return Ok(()) };
        match frame.opcode {
            OpCode::Control(Control::Ping) => on_event(ReaderEvent::Ping(&self.control)),
            OpCode::Control(Control::Pong) => on_event(ReaderEvent::Pong),
            OpCode::Control(Control::Close) => {
                let code = close_code(&self.control)?;
                self.closed = true;
                on_event(ReaderEvent::Close(code));
            }
            OpCode::Data(_) if frame.is_final => {
                let text = self.message_text.take().unwrap_or(true);
                // `bytes` stays the payload as it travelled (compressed or not): bytes on the wire.
                if std::mem::take(&mut self.compressed) {
                    let prefix = inflate_prefix(&self.prefix, self.keep_bytes);
                    on_event(ReaderEvent::Message { text, prefix: &prefix, bytes: self.message_bytes });
                } else {
                    on_event(ReaderEvent::Message { text, prefix: &self.prefix, bytes: self.message_bytes });
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The status code of a close frame's payload (`None` when empty), checked as RFC 6455 5.5.1 and
/// 7.4 require: no 1-byte payload, no code an endpoint may not send, a UTF-8 reason.
fn close_code(payload: &[u8]) -> Result<Option<u16>, FrameError> {
    match payload {
        [] => Ok(None),
        [_] => Err(FrameError("close frame with a 1-byte payload".into())),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if !CloseCode::from(code).is_allowed() {
                return Err(FrameError(format!("close code {code} may not be sent")));
            }
            if std::str::from_utf8(reason).is_err() {
                return Err(FrameError("close reason is not UTF-8".into()));
            }
            Ok(Some(code))
        }
    }
}

/// A client frame of `opcode` carrying `payload`. Real clients always mask (RFC 6455 5.3) and set
/// FIN on single-frame messages; the simulator's hostile ones pass `mask: None`, `fin: false` or a
/// reserved opcode on purpose. Lengths are encoded as RFC 6455 5.2 (7, 16 or 64 bits).
pub fn client_frame(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>, fin: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + HEADER_BYTES_MAX);
    out.push(if fin { 0x80 } else { 0 } | (opcode & 0x0f));
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        len @ 0..=125 => out.push(mask_bit | len as u8),
        len @ 126..=0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A masked FIN frame header announcing `len` payload bytes, without the payload (the simulator's
/// oversized frames).
pub fn client_frame_header(opcode: u8, len: u64, mask: [u8; 4]) -> Vec<u8> {
    let mut out = vec![0x80 | opcode, 0x80 | 127];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&mask);
    out
}

/// A masked text frame.
pub fn text_frame(text: &str, mask: [u8; 4]) -> Vec<u8> {
    client_frame(OP_TEXT, text.as_bytes(), Some(mask), true)
}

/// A masked pong echoing a ping's payload.
pub fn pong_frame(payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    client_frame(OP_PONG, payload, Some(mask), true)
}

/// A masked close frame with a status code and no reason.
pub fn close_frame(code: u16, mask: [u8; 4]) -> Vec<u8> {
    client_frame(OP_CLOSE, &code.to_be_bytes(), Some(mask), true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tungstenite::protocol::frame::Frame;

    /// What the load generator keeps of a message in these tests.
    const KEEP_BYTES: usize = 320;

    fn server_frame(opcode: OpCode, is_final: bool, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        Frame::message(payload.to_vec(), opcode, is_final).format(&mut out).unwrap();
        out
    }

    fn collect(reader: &mut FrameReader, bytes: &[u8], chunk: usize) -> Vec<String> {
        let mut seen = Vec::new();
        for piece in bytes.chunks(chunk) {
            reader
                .feed(piece, |event| {
                    seen.push(match event {
                        ReaderEvent::Message { text, prefix, bytes } => format!("msg text={text} bytes={bytes} prefix={}", String::from_utf8_lossy(prefix)),
                        ReaderEvent::Ping(p) => format!("ping {}", String::from_utf8_lossy(p)),
                        ReaderEvent::Pong => "pong".into(),
                        ReaderEvent::Close(code) => format!("close {code:?}"),
                    })
                })
                .unwrap();
        }
        seen
    }

    #[test]
    fn a_deflated_message_reports_its_inflated_prefix_and_its_compressed_bytes() {
        let body = format!("{{\"type\":\"snapshot\",\"seq\":7,{}}}", "\"x\":1,".repeat(2000));
        // The server's own shared deflated frame (RSV1 set).
        let wire = crate::core::deflate::deflated_frame(Data::Text, body.as_bytes(), 15);
        assert!(wire[1] < 126, "a short frame: two header bytes");
        let compressed_bytes = wire.len() - 2;
        let mut reader = FrameReader::new(KEEP_BYTES);
        reader.set_deflate(true);
        let seen = collect(&mut reader, &wire, 7);
        assert_eq!(seen, vec![format!("msg text=true bytes={compressed_bytes} prefix={}", &body[..KEEP_BYTES])]);
    }

    #[test]
    fn rsv1_without_an_agreed_extension_is_an_error() {
        let wire = crate::core::deflate::deflated_frame(Data::Text, b"{}", 15);
        let mut reader = FrameReader::new(KEEP_BYTES);
        assert!(reader.feed(&wire, |_| {}).is_err());
    }

    #[test]
    fn a_large_message_split_into_one_byte_reads_keeps_only_its_prefix() {
        let body = format!("{{\"type\":\"snapshot\",{}}}", "x".repeat(70_000));
        let wire = server_frame(OpCode::Data(Data::Text), true, body.as_bytes());
        let seen = collect(&mut FrameReader::new(KEEP_BYTES), &wire, 1);
        assert_eq!(seen.len(), 1);
        assert!(seen[0].starts_with(&format!("msg text=true bytes={} prefix={{\"type\":\"snapshot\"", body.len())));
        assert_eq!(seen[0].len(), format!("msg text=true bytes={} prefix=", body.len()).len() + KEEP_BYTES);
    }

    #[test]
    fn a_ping_between_fragments_of_a_message_is_reported_on_its_own() {
        let mut wire = server_frame(OpCode::Data(Data::Text), false, b"hel");
        wire.extend(server_frame(OpCode::Control(Control::Ping), true, b"p1"));
        wire.extend(server_frame(OpCode::Data(Data::Continue), true, b"lo"));
        let seen = collect(&mut FrameReader::new(KEEP_BYTES), &wire, 3);
        assert_eq!(seen, vec!["ping p1".to_string(), "msg text=true bytes=5 prefix=hello".to_string()]);
    }

    #[test]
    fn a_close_frame_reports_its_status_code() {
        let wire = server_frame(OpCode::Control(Control::Close), true, &4001u16.to_be_bytes());
        assert_eq!(collect(&mut FrameReader::new(KEEP_BYTES), &wire, 64), vec!["close Some(4001)".to_string()]);
    }

    #[test]
    fn a_masked_server_frame_is_a_protocol_error() {
        let wire = text_frame("hi", [1, 2, 3, 4]);
        let result = FrameReader::new(KEEP_BYTES).feed(&wire, |_| {});
        assert_eq!(result, Err(FrameError("server frame is masked".into())));
    }

    #[test]
    fn client_frames_are_masked_and_unmask_to_the_payload() {
        let mask = [0x11, 0x22, 0x33, 0x44];
        let wire = text_frame("{\"action\":\"ping\"}", mask);
        assert_eq!(wire[1] & 0x80, 0x80, "mask bit");
        assert_eq!(&wire[2..6], &mask);
        let unmasked: Vec<u8> = wire[6..].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
        assert_eq!(unmasked, b"{\"action\":\"ping\"}");
    }

    #[test]
    fn a_reader_that_keeps_everything_hands_out_the_whole_message() {
        let body = "y".repeat(100_000);
        let wire = server_frame(OpCode::Data(Data::Text), true, body.as_bytes());
        let mut kept = Vec::new();
        FrameReader::new(usize::MAX)
            .feed(&wire, |event| {
                if let ReaderEvent::Message { prefix, .. } = event {
                    kept = prefix.to_vec();
                }
            })
            .unwrap();
        assert_eq!(kept, body.as_bytes());
    }

    #[test]
    fn a_byte_after_the_close_frame_is_an_error() {
        let mut wire = server_frame(OpCode::Control(Control::Close), true, &1000u16.to_be_bytes());
        wire.push(0x81);
        let result = FrameReader::new(KEEP_BYTES).feed(&wire, |_| {});
        assert_eq!(result, Err(FrameError("after close: 1 bytes followed the close frame".into())));
    }

    #[test]
    fn a_close_code_no_endpoint_may_send_is_an_error() {
        let wire = server_frame(OpCode::Control(Control::Close), true, &1006u16.to_be_bytes());
        assert_eq!(FrameReader::new(KEEP_BYTES).feed(&wire, |_| {}), Err(FrameError("close code 1006 may not be sent".into())));
    }

    #[test]
    fn client_frame_matches_tungstenite_for_every_length_encoding() {
        let mask = [9, 8, 7, 6];
        for len in [0, 125, 126, 0xffff, 0x10000] {
            let payload = vec![b'a'; len];
            let mut frame = Frame::message(payload.clone(), OpCode::Data(Data::Binary), true);
            frame.header_mut().mask = Some(mask);
            let mut expected = Vec::new();
            frame.format(&mut expected).unwrap();
            assert_eq!(client_frame(OP_BINARY, &payload, Some(mask), true), expected, "length {len}");
        }
    }
}
