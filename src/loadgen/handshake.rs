//! The client half of the WebSocket opening handshake (RFC 6455 4.1): the request, and the check
//! that the answer is a 101 carrying the right `Sec-WebSocket-Accept`.

use std::net::SocketAddr;

use tungstenite::handshake::derive_accept_key;

/// Longest response head accepted before the upgrade is declared failed.
pub const RESPONSE_HEAD_BYTES_MAX: usize = 4096;
/// Headers parsed in a response head.
const RESPONSE_HEADERS_MAX: usize = 32;

/// The offer a browser sends (Chromium's), made with `--compression`.
pub const DEFLATE_OFFER: &str = "permessage-deflate; client_max_window_bits";

/// The upgrade request for `path` on `target` with the (base64) `key`, offering permessage-deflate
/// when `compression`.
pub fn request(target: SocketAddr, path: &str, key: &str, compression: bool) -> Vec<u8> {
    let offer = if compression { format!("Sec-WebSocket-Extensions: {DEFLATE_OFFER}\r\n") } else { String::new() };
    format!(
        "GET {path} HTTP/1.1\r\nHost: {target}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{offer}User-Agent: liquidationheatmap-loadgen\r\n\r\n"
    )
    .into_bytes()
}

/// A 16-byte nonce in base64, as the handshake key.
pub fn key_from_nonce(nonce: [u8; 16]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(24);
    for chunk in nonce.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The outcome of reading a response head.
#[derive(Debug, PartialEq, Eq)]
pub enum Response {
    /// More bytes are needed.
    Partial,
    /// Upgraded; the head was this many bytes (anything after it is WebSocket frames), and the
    /// server agreed to permessage-deflate.
    Upgraded { head_bytes: usize, deflate: bool },
    /// Refused or malformed: the HTTP status (0 when unparsable) and why.
    Refused { status: u16, reason: String },
}

/// Checks the response head in `buf` (which may hold more bytes than the head).
pub fn check_response(buf: &[u8], key: &str) -> Response {
    let mut headers = [httparse::EMPTY_HEADER; RESPONSE_HEADERS_MAX];
    let mut response = httparse::Response::new(&mut headers);
    let head_bytes = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() < RESPONSE_HEAD_BYTES_MAX => return Response::Partial,
        Ok(httparse::Status::Partial) => return Response::Refused { status: 0, reason: format!("response head over {RESPONSE_HEAD_BYTES_MAX} bytes") },
        Err(e) => return Response::Refused { status: 0, reason: format!("unparsable response: {e}") },
    };
    let status = response.code.unwrap_or(0);
    if status != 101 {
        return Response::Refused { status, reason: format!("HTTP {status} instead of 101") };
    }
    let accept = response.headers.iter().find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept")).map(|h| h.value);
    if accept != Some(derive_accept_key(key.as_bytes()).as_bytes()) {
        return Response::Refused { status, reason: "missing or wrong Sec-WebSocket-Accept".into() };
    }
    let deflate = response
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("sec-websocket-extensions") && h.value.starts_with(b"permessage-deflate"));
    Response::Upgraded { head_bytes, deflate }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_sample_nonce_encodes_to_the_rfc_sample_key() {
        // RFC 6455 1.3's sample key is the base64 of these 16 bytes.
        let nonce = *b"the sample nonce";
        assert_eq!(key_from_nonce(nonce), "dGhlIHNhbXBsZSBub25jZQ==");
    }

    #[test]
    fn a_101_with_the_rfc_accept_value_is_an_upgrade_and_leftover_bytes_are_not_head() {
        let head =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        let mut buf = head.as_bytes().to_vec();
        buf.extend_from_slice(&[0x81, 0x00]);
        assert_eq!(check_response(&buf, "dGhlIHNhbXBsZSBub25jZQ=="), Response::Upgraded { head_bytes: head.len(), deflate: false });
    }

    #[test]
    fn a_503_is_refused_with_its_status() {
        let head = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
        assert!(matches!(check_response(head, "dGhlIHNhbXBsZSBub25jZQ=="), Response::Refused { status: 503, .. }));
    }

    #[test]
    fn a_wrong_accept_value_is_refused() {
        let head = b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: AAAA\r\n\r\n";
        assert!(matches!(check_response(head, "dGhlIHNhbXBsZSBub25jZQ=="), Response::Refused { status: 101, .. }));
    }

    #[test]
    fn an_incomplete_head_asks_for_more() {
        assert_eq!(check_response(b"HTTP/1.1 101 Swi", "k"), Response::Partial);
    }
}
