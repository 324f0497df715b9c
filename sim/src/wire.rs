//! What travels on the wire, seen from the client: frames a client sends (masked with a seeded
//! key, or deliberately malformed) and a decoder for everything the server writes — HTTP
//! responses, then WebSocket frames through tungstenite's client-role codec.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use serde_json::Value;
use tungstenite::protocol::{Role, WebSocketConfig, WebSocketContext};
use tungstenite::Message;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;

/// A client frame. Real clients always mask and set FIN on single-frame messages; hostile ones
/// may not.
pub fn client_frame(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>, fin: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
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

/// A frame header announcing `len` payload bytes, without the payload (oversized frames).
pub fn client_frame_header(opcode: u8, len: u64, mask: [u8; 4]) -> Vec<u8> {
    let mut out = vec![0x80 | opcode, 0x80 | 127];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&mask);
    out
}

pub fn handshake_request(path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: sim\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// Something the client decoded from the server's bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A complete HTTP response with this status.
    Http { status: u16 },
    /// A WebSocket text message, parsed as JSON.
    Json(Value),
    /// Any other data or control frame.
    OtherFrame(&'static str),
    /// A close frame with its code.
    Close(Option<u16>),
}

/// A byte source over the decoder's pending bytes; what the codec writes back is dropped.
struct Pending<'a>(&'a mut VecDeque<u8>);

impl Read for Pending<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.0.len());
        for (slot, byte) in buf.iter_mut().zip(self.0.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
}

impl Write for Pending<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// HTTP heads larger than this are a server bug (ours are a few hundred bytes).
const RESPONSE_HEAD_BYTES_MAX: usize = 16 * 1024;

/// Decodes every byte the server writes to one connection, in order.
pub struct Decoder {
    pending: VecDeque<u8>,
    ws: Option<WebSocketContext>,
    /// The close frame the server sent, once decoded: nothing may follow it.
    pub close_code: Option<Option<u16>>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder {
            pending: VecDeque::new(),
            ws: None,
            close_code: None,
        }
    }

    pub fn is_websocket(&self) -> bool {
        self.ws.is_some()
    }

    /// Decodes `bytes` (just written by the server). `Err` describes a malformed stream;
    /// `Err` starting with "after close" means bytes followed a close frame.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Decoded>, String> {
        if bytes.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(code) = self.close_code {
            return Err(format!(
                "after close: {} bytes followed the close frame (code {code:?})",
                bytes.len()
            ));
        }
        self.pending.extend(bytes);
        let mut out = Vec::new();
        loop {
            if self.ws.is_none() {
                match self.next_http()? {
                    Some(status) => {
                        out.push(Decoded::Http { status });
                        if status == 101 {
                            let config = WebSocketConfig::default()
                                .max_message_size(None)
                                .max_frame_size(None);
                            self.ws = Some(WebSocketContext::new(Role::Client, Some(config)));
                        }
                        continue;
                    }
                    None => return Ok(out),
                }
            }
            let Some(ctx) = self.ws.as_mut() else {
                return Ok(out);
            };
            match ctx.read(&mut Pending(&mut self.pending)) {
                Ok(Message::Text(text)) => {
                    let value = serde_json::from_str(text.as_str()).map_err(|e| {
                        format!("text message is not JSON ({e}): {:.120}", text.as_str())
                    })?;
                    out.push(Decoded::Json(value));
                }
                Ok(Message::Close(frame)) => {
                    let code = frame.map(|f| u16::from(f.code));
                    self.close_code = Some(code);
                    out.push(Decoded::Close(code));
                    if !self.pending.is_empty() {
                        return Err(format!(
                            "after close: {} bytes followed the close frame",
                            self.pending.len()
                        ));
                    }
                    return Ok(out);
                }
                Ok(Message::Binary(_)) => out.push(Decoded::OtherFrame("binary")),
                Ok(Message::Ping(_)) => out.push(Decoded::OtherFrame("ping")),
                Ok(Message::Pong(_)) => out.push(Decoded::OtherFrame("pong")),
                Ok(Message::Frame(_)) => out.push(Decoded::OtherFrame("raw")),
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(out)
                }
                Err(e) => return Err(format!("WebSocket stream does not decode: {e}")),
            }
        }
    }

    /// The next complete HTTP response's status, consuming it; `None` if incomplete.
    fn next_http(&mut self) -> Result<Option<u16>, String> {
        let bytes = self.pending.make_contiguous();
        let Some(head_end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
            if bytes.len() > RESPONSE_HEAD_BYTES_MAX {
                return Err(format!(
                    "HTTP response head longer than {RESPONSE_HEAD_BYTES_MAX} bytes"
                ));
            }
            return Ok(None);
        };
        let head = std::str::from_utf8(&bytes[..head_end])
            .map_err(|_| "HTTP head is not UTF-8".to_string())?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("bad HTTP status line {status_line:?}"))?;
        let mut content_length = 0usize;
        for line in lines {
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value
                        .trim()
                        .parse()
                        .map_err(|_| format!("bad Content-Length {value:?}"))?;
                }
            }
        }
        let body_len = if status == 101 { 0 } else { content_length };
        let total = head_end + 4 + body_len;
        if bytes.len() < total {
            return Ok(None);
        }
        self.pending.drain(..total);
        Ok(Some(status))
    }
}
