//! The client side of WebSocket framing, reduced to what a load generator needs: a streaming
//! reader that keeps only the first [`PREFIX_BYTES_MAX`] bytes of each message (so 10,000 clients
//! receiving 16 KiB snapshots need kilobytes, not megabytes, of buffers), and masked client frames.
//! Frame headers are decoded and encoded by tungstenite's `FrameHeader`.

use std::cell::RefCell;
use std::io::Cursor;

use flate2::{Decompress, FlushDecompress};

use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::{Frame, FrameHeader};

use super::envelope::PREFIX_BYTES_MAX;

/// The longest frame header (RFC 6455 5.2: 2 + 8 length + 4 mask bytes).
const HEADER_BYTES_MAX: usize = 14;
/// Control frames carry at most 125 payload bytes (RFC 6455 5.5).
const CONTROL_PAYLOAD_BYTES_MAX: usize = 125;
/// Largest message accepted from the server; far above any snapshot (DEMO_SNAPSHOT_BYTES ≤ 16 MiB).
pub const MESSAGE_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// Compressed bytes kept of a permessage-deflate message: enough to inflate the first
/// [`PREFIX_BYTES_MAX`] bytes of JSON (deflate never expands text by more than a few bytes).
const COMPRESSED_PREFIX_BYTES_MAX: usize = 2 * PREFIX_BYTES_MAX;

thread_local! {
    /// One inflater per swarm thread, reset for every compressed message: with
    /// `server_no_context_takeover` each message inflates on its own, so 10,000 clients need no
    /// 40 KiB inflater each.
    static INFLATER: RefCell<Decompress> = RefCell::new(Decompress::new(false));
}

/// The first [`PREFIX_BYTES_MAX`] bytes of the text a compressed message's first bytes inflate to.
fn inflate_prefix(compressed: &[u8]) -> Vec<u8> {
    INFLATER.with(|inflater| {
        let mut inflater = inflater.borrow_mut();
        inflater.reset(false);
        let mut out = Vec::with_capacity(PREFIX_BYTES_MAX);
        // A cut stream inflates as far as it goes; the error a cut may cause is irrelevant here.
        let _ = inflater.decompress_vec(compressed, &mut out, FlushDecompress::Sync);
        out
    })
}

/// A complete unit the reader hands out.
#[derive(Debug, PartialEq, Eq)]
pub enum ReaderEvent<'a> {
    /// A complete data message: its first bytes and its total length.
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

/// A streaming frame reader for server-to-client frames.
#[derive(Debug)]
pub struct FrameReader {
    header: [u8; HEADER_BYTES_MAX],
    header_len: usize,
    frame: Option<PartialFrame>,
    /// Some(is_text) while a (possibly fragmented) data message is being read.
    message_text: Option<bool>,
    message_bytes: u64,
    prefix: Vec<u8>,
    control: Vec<u8>,
    /// permessage-deflate was agreed: RSV1 marks a compressed message.
    deflate: bool,
    /// The message being read is compressed (`prefix` holds compressed bytes).
    compressed: bool,
}

impl Default for FrameReader {
    fn default() -> Self {
        FrameReader {
            header: [0; HEADER_BYTES_MAX],
            header_len: 0,
            frame: None,
            message_text: None,
            message_bytes: 0,
            prefix: Vec::with_capacity(PREFIX_BYTES_MAX),
            control: Vec::new(),
            deflate: false,
            compressed: false,
        }
    }
}

impl FrameReader {
    /// The handshake agreed to permessage-deflate.
    pub fn set_deflate(&mut self, deflate: bool) {
        self.deflate = deflate;
    }

    /// Consumes `input`, calling `on_event` for every complete message or control frame.
    pub fn feed(&mut self, mut input: &[u8], mut on_event: impl FnMut(ReaderEvent<'_>)) -> Result<(), FrameError> {
        while !input.is_empty() {
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
                        let kept = if self.compressed { COMPRESSED_PREFIX_BYTES_MAX } else { PREFIX_BYTES_MAX };
                        let room = kept - self.prefix.len();
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
                let code = (self.control.len() >= 2).then(|| u16::from_be_bytes([self.control[0], self.control[1]]));
                on_event(ReaderEvent::Close(code));
            }
            OpCode::Data(_) if frame.is_final => {
                let text = self.message_text.take().unwrap_or(true);
                // `bytes` stays the payload as it travelled (compressed or not): bytes on the wire.
                if std::mem::take(&mut self.compressed) {
                    let prefix = inflate_prefix(&self.prefix);
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

/// A masked client frame: text, ping, pong or close (RFC 6455 5.3: clients mask every frame).
pub fn client_frame(opcode: OpCode, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut frame = Frame::message(payload.to_vec(), opcode, true);
    frame.header_mut().mask = Some(mask);
    let mut out = Vec::with_capacity(payload.len() + HEADER_BYTES_MAX);
    // Writing into a Vec cannot fail.
    let _ = frame.format(&mut out);
    out
}

pub fn text_frame(text: &str, mask: [u8; 4]) -> Vec<u8> {
    client_frame(OpCode::Data(Data::Text), text.as_bytes(), mask)
}

pub fn pong_frame(payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    client_frame(OpCode::Control(Control::Pong), payload, mask)
}

pub fn close_frame(code: u16, mask: [u8; 4]) -> Vec<u8> {
    client_frame(OpCode::Control(Control::Close), &code.to_be_bytes(), mask)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_large_message_split_into_one_byte_reads_keeps_only_its_prefix() {
        let body = format!("{{\"type\":\"snapshot\",{}}}", "x".repeat(70_000));
        let wire = server_frame(OpCode::Data(Data::Text), true, body.as_bytes());
        let seen = collect(&mut FrameReader::default(), &wire, 1);
        assert_eq!(seen.len(), 1);
        assert!(seen[0].starts_with(&format!("msg text=true bytes={} prefix={{\"type\":\"snapshot\"", body.len())));
        assert_eq!(seen[0].len(), format!("msg text=true bytes={} prefix=", body.len()).len() + PREFIX_BYTES_MAX);
    }

    #[test]
    fn a_deflated_message_reports_its_inflated_prefix_and_its_compressed_bytes() {
        let body = format!("{{\"type\":\"snapshot\",\"seq\":7,{}}}", "\"x\":1,".repeat(2000));
        // The server's own shared deflated frame (RSV1 set).
        let wire = crate::core::deflate::deflated_frame(Data::Text, body.as_bytes(), 15);
        assert!(wire[1] < 126, "a short frame: two header bytes");
        let compressed_bytes = wire.len() - 2;
        let mut reader = FrameReader::default();
        reader.set_deflate(true);
        let seen = collect(&mut reader, &wire, 7);
        assert_eq!(seen.len(), 1);
        let expected = format!("msg text=true bytes={compressed_bytes} prefix={}", &body[..PREFIX_BYTES_MAX]);
        assert_eq!(seen[0], expected);
    }

    #[test]
    fn rsv1_without_an_agreed_extension_is_an_error() {
        let wire = crate::core::deflate::deflated_frame(Data::Text, b"{}", 15);
        let mut reader = FrameReader::default();
        assert!(reader.feed(&wire, |_| {}).is_err());
    }

    #[test]
    fn a_ping_between_fragments_of_a_message_is_reported_on_its_own() {
        let mut wire = server_frame(OpCode::Data(Data::Text), false, b"hel");
        wire.extend(server_frame(OpCode::Control(Control::Ping), true, b"p1"));
        wire.extend(server_frame(OpCode::Data(Data::Continue), true, b"lo"));
        let seen = collect(&mut FrameReader::default(), &wire, 3);
        assert_eq!(seen, vec!["ping p1".to_string(), "msg text=true bytes=5 prefix=hello".to_string()]);
    }

    #[test]
    fn a_close_frame_reports_its_status_code() {
        let wire = server_frame(OpCode::Control(Control::Close), true, &4001u16.to_be_bytes());
        assert_eq!(collect(&mut FrameReader::default(), &wire, 64), vec!["close Some(4001)".to_string()]);
    }

    #[test]
    fn a_masked_server_frame_is_a_protocol_error() {
        let wire = text_frame("hi", [1, 2, 3, 4]);
        let result = FrameReader::default().feed(&wire, |_| {});
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
}
