//! What travels on the wire, seen from the client: the shared client-side codec of the server's
//! library (`liquidationheatmap::wsclient`, also the load generator's) for the frames a client
//! sends (masked with a seeded key, or deliberately malformed) and the frames it reads, and a
//! decoder for everything the server writes to one connection — HTTP responses, then WebSocket
//! messages, each text message parsed as JSON.

use liquidationheatmap::wsclient::frames::{FrameReader, ReaderEvent};
use liquidationheatmap::wsclient::handshake::{self, parse_response_head, SAMPLE_KEY};
use serde_json::Value;

pub use liquidationheatmap::wsclient::frames::{
    client_frame, client_frame_header, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_TEXT,
};

/// The upgrade request every simulated client sends (fixed key: nothing random outside the seed).
pub fn handshake_request(path: &str) -> Vec<u8> {
    handshake::request("sim", path, SAMPLE_KEY)
}

/// Something the client decoded from the server's bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A complete HTTP response with this status.
    Http { status: u16 },
    /// A WebSocket text message, parsed as JSON, and a hash of its exact bytes (to compare the
    /// bytes different clients received for one snapshot).
    Json(Value, u64),
    /// Any other data or control frame.
    OtherFrame(&'static str),
    /// A close frame with its code.
    Close(Option<u16>),
}

/// Decodes every byte the server writes to one connection, in order.
pub struct Decoder {
    /// Bytes of HTTP responses not yet complete (before the upgrade).
    pending: Vec<u8>,
    /// The WebSocket reader, once a 101 upgraded the connection; it keeps whole messages.
    ws: Option<FrameReader>,
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
            pending: Vec::new(),
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
        let mut out = Vec::new();
        let mut from_pending = false;
        if self.ws.is_none() {
            self.pending.extend_from_slice(bytes);
            while self.ws.is_none() {
                let Some(head) = parse_response_head(&self.pending, SAMPLE_KEY)? else {
                    return Ok(out);
                };
                let body_bytes = if head.status == 101 { 0 } else { head.content_length };
                let total = head.head_bytes + body_bytes;
                if self.pending.len() < total {
                    return Ok(out);
                }
                self.pending.drain(..total);
                out.push(Decoded::Http { status: head.status });
                if head.status == 101 {
                    self.ws = Some(FrameReader::new(usize::MAX));
                    // What followed the 101 in these bytes is already WebSocket frames.
                    from_pending = true;
                }
            }
        }
        let Some(reader) = self.ws.as_mut() else {
            return Ok(out);
        };
        let input = if from_pending { &self.pending[..] } else { bytes };
        let mut failure = None;
        let result = reader.feed(input, |event| match event {
            ReaderEvent::Message { text: true, prefix, .. } => {
                match serde_json::from_slice(prefix) {
                    Ok(value) => out.push(Decoded::Json(value, bytes_hash(prefix))),
                    Err(e) => {
                        failure.get_or_insert(format!(
                            "text message is not JSON ({e}): {:.120}",
                            String::from_utf8_lossy(prefix)
                        ));
                    }
                }
            }
            ReaderEvent::Message { text: false, .. } => out.push(Decoded::OtherFrame("binary")),
            ReaderEvent::Ping(_) => out.push(Decoded::OtherFrame("ping")),
            ReaderEvent::Pong => out.push(Decoded::OtherFrame("pong")),
            ReaderEvent::Close(code) => out.push(Decoded::Close(code)),
        });
        if reader.is_closed() {
            self.close_code = out.iter().find_map(|d| match d {
                Decoded::Close(code) => Some(*code),
                _ => None,
            });
        }
        self.pending.clear();
        match (failure, result) {
            (Some(message), _) => Err(message),
            (None, Err(e)) if e.0.starts_with("after close") => Err(e.0),
            (None, Err(e)) => Err(format!("WebSocket stream does not decode: {}", e.0)),
            (None, Ok(())) => Ok(out),
        }
    }
}

/// A hash of `bytes` that is the same in every run (`DefaultHasher::new` uses fixed keys).
pub fn bytes_hash(bytes: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    hasher.write(bytes);
    hasher.finish()
}
