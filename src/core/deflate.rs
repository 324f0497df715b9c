//! permessage-deflate (RFC 7692): which offers are accepted, and compressing one message.
//!
//! The server always answers with `server_no_context_takeover`, so every message it sends is
//! compressed on its own: a snapshot is deflated once and the same frame bytes go to every
//! subscriber that negotiated the extension (see [`super::sequencer`]). It also always answers
//! with `client_no_context_takeover` (RFC 7692 §7.1.1.2 lets a server do so even when the offer
//! does not name it): each client message is then compressed on its own too, so an inflater (32
//! KiB of window) exists only while a compressed message is being received and an idle
//! connection keeps no compression state at all.
//!
//! Window sizes: the server deflates with the window the client allows (`server_max_window_bits`,
//! 9 to 15; an offer of 8 is declined, as zlib cannot compress with a 256-byte window), and
//! inflates with a 15-bit window, which reads whatever `client_max_window_bits` the client uses,
//! so that parameter is accepted and not answered (RFC 7692 §7.1.2.2 allows leaving it out).

use flate2::{Compress, Compression, FlushCompress, Status};
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use super::frame::SERVER_HEADER_BYTES_MAX;

/// The extension's registered name (RFC 7692 §7).
pub const EXTENSION: &str = "permessage-deflate";

/// The largest LZ77 window, in bits of its size (RFC 1951: 32 KiB).
pub const WINDOW_BITS_MAX: u8 = 15;

/// The smallest window zlib deflates with, in bits (RFC 7692 allows 8; zlib's raw deflate does not).
const SERVER_WINDOW_BITS_MIN: u8 = 9;

/// zlib's default level: about 5:1 on snapshot JSON; higher levels gain little and cost more CPU.
const LEVEL: u32 = 6;

/// The empty stored block a sync flush ends with, removed from every message (RFC 7692 §7.2.1)
/// and appended again before inflating (§7.2.2).
pub const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// What was agreed for one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreed {
    /// Window the server may compress with, in bits (9 to 15).
    pub server_window_bits: u8,
}

impl Agreed {
    /// True when this connection can take frames deflated with the full window (the shared
    /// snapshot frames); a client that asked for a smaller window gets those plain.
    pub fn takes_shared_frames(&self) -> bool {
        self.server_window_bits == WINDOW_BITS_MAX
    }
}

/// Chooses the first acceptable permessage-deflate offer of a `Sec-WebSocket-Extensions` value
/// (RFC 7692 §5, §7.1) and returns what was agreed and the response's extension value. `None`
/// when no offer is acceptable (malformed or unknown parameters, or a window below 9 bits): the
/// connection then goes on without compression, which is always allowed.
pub fn negotiate(offers: &str) -> Option<(Agreed, String)> {
    offers.split(',').find_map(accept_offer)
}

/// One offer: `permessage-deflate *( ";" param [ "=" value ] )`.
fn accept_offer(offer: &str) -> Option<(Agreed, String)> {
    let mut parts = offer.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case(EXTENSION) {
        return None;
    }
    let mut seen: Vec<String> = Vec::new();
    let mut server_window_bits = None;
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim().to_ascii_lowercase(), Some(value.trim().trim_matches('"'))),
            None => (param.to_ascii_lowercase(), None),
        };
        // A parameter named twice makes the offer invalid (RFC 7692 §7, "Declining").
        if seen.contains(&name) {
            return None;
        }
        match (name.as_str(), value) {
            ("server_no_context_takeover" | "client_no_context_takeover", None) => {}
            ("server_max_window_bits", Some(value)) => server_window_bits = Some(window_bits(value)?),
            ("client_max_window_bits", None) => {}
            ("client_max_window_bits", Some(value)) => {
                window_bits(value)?;
            }
            _ => return None,
        }
        seen.push(name);
    }
    let mut response = format!("{EXTENSION}; server_no_context_takeover; client_no_context_takeover");
    let server_window_bits = match server_window_bits {
        Some(bits) if bits < SERVER_WINDOW_BITS_MIN => return None,
        Some(bits) => {
            // An offer that limits the server's window is accepted only by naming that window.
            response.push_str(&format!("; server_max_window_bits={bits}"));
            bits
        }
        None => WINDOW_BITS_MAX,
    };
    Some((Agreed { server_window_bits }, response))
}

/// A window size parameter: one to two digits, 8 to 15 (RFC 7692 §7.1.2).
fn window_bits(value: &str) -> Option<u8> {
    if value.is_empty() || value.len() > 2 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<u8>().ok().filter(|bits| (8..=WINDOW_BITS_MAX).contains(bits))
}

/// `payload` compressed as one permessage-deflate message: raw DEFLATE (RFC 1951) with a window
/// of `window_bits`, ended by a sync flush whose 4-byte tail is removed (RFC 7692 §7.2.1).
pub fn deflate_message(payload: &[u8], window_bits: u8) -> Vec<u8> {
    let mut compress = Compress::new_with_window_bits(Compression::new(LEVEL), false, window_bits);
    let mut out = Vec::with_capacity(payload.len() / 2 + 64);
    loop {
        let consumed = compress.total_in() as usize;
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(64));
        }
        // Writing into spare capacity of a Vec cannot fail; Status::BufError only means "no room".
        let status = compress.compress_vec(&payload[consumed..], &mut out, FlushCompress::Sync);
        let done = compress.total_in() as usize == payload.len() && out.len() < out.capacity();
        if done || matches!(status, Err(_) | Ok(Status::StreamEnd)) {
            break;
        }
    }
    if out.ends_with(&SYNC_TAIL) {
        out.truncate(out.len() - SYNC_TAIL.len());
    }
    out
}

/// A complete, unmasked FIN data frame of `payload` compressed, with RSV1 set (RFC 7692 §6).
pub fn deflated_frame(kind: Data, payload: &[u8], window_bits: u8) -> Vec<u8> {
    let compressed = deflate_message(payload, window_bits);
    let header = FrameHeader { opcode: OpCode::Data(kind), rsv1: true, ..FrameHeader::default() };
    let mut out = Vec::with_capacity(compressed.len() + SERVER_HEADER_BYTES_MAX);
    // Writing into a Vec cannot fail.
    let _ = header.format(compressed.len() as u64, &mut out);
    out.extend_from_slice(&compressed);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Decompress, FlushDecompress};

    fn inflate(data: &[u8]) -> Vec<u8> {
        let mut input = data.to_vec();
        input.extend_from_slice(&SYNC_TAIL);
        let mut inflater = Decompress::new(false);
        let mut out = Vec::with_capacity(1 << 20);
        inflater.decompress_vec(&input, &mut out, FlushDecompress::Sync).unwrap();
        out
    }

    #[test]
    fn a_browser_offer_is_accepted_with_both_no_context_takeover_parameters() {
        let (agreed, response) = negotiate("permessage-deflate; client_max_window_bits").unwrap();
        assert_eq!(agreed.server_window_bits, 15);
        assert!(agreed.takes_shared_frames());
        assert_eq!(response, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    }

    #[test]
    fn a_smaller_server_window_is_accepted_by_naming_it_and_8_bits_is_declined() {
        let (agreed, response) = negotiate("permessage-deflate; server_max_window_bits=9; client_no_context_takeover").unwrap();
        assert_eq!(agreed.server_window_bits, 9);
        assert!(!agreed.takes_shared_frames());
        assert!(response.ends_with("; server_max_window_bits=9"), "{response}");
        assert_eq!(negotiate("permessage-deflate; server_max_window_bits=8"), None);
        // The next offer of the list is taken when the first is declined.
        let (agreed, _) = negotiate("permessage-deflate; server_max_window_bits=8, permessage-deflate").unwrap();
        assert_eq!(agreed.server_window_bits, 15);
    }

    #[test]
    fn malformed_or_unknown_offers_are_declined() {
        for offer in [
            "x-webkit-deflate-frame",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=010",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; mystery",
            "permessage-deflate; server_no_context_takeover=1",
            "",
        ] {
            assert_eq!(negotiate(offer), None, "{offer}");
        }
    }

    #[test]
    fn a_deflated_message_inflates_back_and_lacks_the_sync_tail() {
        let text = br#"{"type":"snapshot","data":{"levels":[1,2,3,1,2,3,1,2,3,1,2,3]}}"#.repeat(50);
        let compressed = deflate_message(&text, 15);
        assert!(compressed.len() * 5 < text.len(), "{} of {}", compressed.len(), text.len());
        assert!(!compressed.ends_with(&SYNC_TAIL));
        assert_eq!(inflate(&compressed), text);
        assert_eq!(inflate(&deflate_message(b"", 15)), b"");
    }

    #[test]
    fn a_deflated_frame_has_rsv1_and_the_compressed_length() {
        let frame = deflated_frame(Data::Text, &b"a".repeat(1000), 15);
        assert_eq!(frame[0], 0xC1, "FIN, RSV1, text");
        assert_eq!(usize::from(frame[1]), frame.len() - 2);
        assert_eq!(inflate(&frame[2..]), b"a".repeat(1000));
    }
}
