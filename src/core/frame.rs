//! Server-to-client WebSocket frames, encoded with tungstenite's frame codec.
//!
//! Server frames are never masked (RFC 6455 5.1), so one encoding of a message is byte-for-byte
//! what every client must receive: snapshots are framed once and shared.

use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::{Frame, FrameHeader};
use tungstenite::protocol::CloseFrame;

/// Longest header of an unmasked server frame.
pub(super) const SERVER_HEADER_BYTES_MAX: usize = 10;

/// A complete FIN text frame carrying `payload` (which must be UTF-8 JSON).
pub fn text_frame(payload: &[u8]) -> Vec<u8> {
    data_frame(Data::Text, payload)
}

/// A complete FIN binary frame carrying `payload` (the echo endpoint's reply).
pub fn binary_frame(payload: &[u8]) -> Vec<u8> {
    data_frame(Data::Binary, payload)
}

/// A complete, unmasked FIN data frame, in one allocation.
fn data_frame(kind: Data, payload: &[u8]) -> Vec<u8> {
    let header = FrameHeader { opcode: OpCode::Data(kind), ..FrameHeader::default() };
    let mut out = Vec::with_capacity(payload.len() + SERVER_HEADER_BYTES_MAX);
    // Writing into a Vec cannot fail.
    let _ = header.format(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

/// A close frame with a status code and a short reason (at most 123 bytes, per RFC 6455 5.5).
pub fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let reason = truncate_utf8(reason, 123);
    let frame = Frame::close(Some(CloseFrame { code: CloseCode::from(code), reason: reason.into() }));
    let mut out = Vec::with_capacity(frame.len());
    let _ = frame.format(&mut out);
    out
}

fn truncate_utf8(text: &str, bytes_max: usize) -> &str {
    if text.len() <= bytes_max {
        return text;
    }
    let mut end = bytes_max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_frame_has_two_byte_header() {
        let frame = text_frame(b"{}");
        assert_eq!(frame, vec![0x81, 0x02, b'{', b'}']);
    }

    #[test]
    fn long_text_frame_uses_extended_length() {
        let payload = vec![b'a'; 70_000];
        let frame = text_frame(&payload);
        assert_eq!(frame[0], 0x81);
        assert_eq!(frame[1], 127, "64-bit length marker, unmasked");
        assert_eq!(u64::from_be_bytes(frame[2..10].try_into().unwrap()), 70_000);
        assert_eq!(frame.len(), 70_010);
    }

    #[test]
    fn close_frame_carries_code_and_reason() {
        let frame = close_frame(4001, "slow consumer");
        assert_eq!(frame[0], 0x88);
        assert_eq!(usize::from(frame[1]), 2 + "slow consumer".len());
        assert_eq!(u16::from_be_bytes([frame[2], frame[3]]), 4001);
        assert_eq!(&frame[4..], b"slow consumer");
    }

    #[test]
    fn close_reason_is_cut_at_a_character_boundary() {
        let reason = "é".repeat(100);
        let frame = close_frame(1001, &reason);
        assert!(frame.len() - 4 <= 123);
        assert!(std::str::from_utf8(&frame[4..]).is_ok());
    }
}
