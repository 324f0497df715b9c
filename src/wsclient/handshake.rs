//! The client half of the WebSocket opening handshake (RFC 6455 4.1): the request, and the parse
//! of the server's response head (an upgrade must be a 101 carrying the right
//! `Sec-WebSocket-Accept`, RFC 6455 4.2.2).

use std::fmt::Display;

use tungstenite::handshake::derive_accept_key;

/// Longest response head accepted; the server's are a few hundred bytes.
pub const RESPONSE_HEAD_BYTES_MAX: usize = 4096;
/// Headers parsed in a response head.
const RESPONSE_HEADERS_MAX: usize = 32;
/// RFC 6455 1.3's sample key: the base64 of the nonce "the sample nonce" (a fixed key suits the
/// simulator, whose runs must not depend on randomness it did not draw from the seed).
pub const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The permessage-deflate offer Chromium sends (RFC 7692 §7.1), made by [`request_offering`].
pub const DEFLATE_OFFER: &str = "permessage-deflate; client_max_window_bits";

/// The upgrade request for `path` on `host` (the `Host` header) with the (base64) `key`.
pub fn request(host: impl Display, path: &str, key: &str) -> Vec<u8> {
    request_offering(host, path, key, false)
}

/// [`request`], offering permessage-deflate ([`DEFLATE_OFFER`]) when `deflate`.
pub fn request_offering(host: impl Display, path: &str, key: &str, deflate: bool) -> Vec<u8> {
    let offer = if deflate { format!("Sec-WebSocket-Extensions: {DEFLATE_OFFER}\r\n") } else { String::new() };
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
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

/// A complete HTTP response head.
#[derive(Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    /// Length of the head including its blank line; the body or WebSocket frames follow it.
    pub head_bytes: usize,
    /// The `Content-Length`, 0 when absent.
    pub content_length: usize,
    /// Whether `Sec-WebSocket-Accept` is the one RFC 6455 4.2.2 derives from `key`.
    pub accept_matches: bool,
    /// The server agreed to permessage-deflate (`Sec-WebSocket-Extensions`, RFC 7692 §5).
    pub deflate: bool,
}

/// Parses the response head at the start of `buf` (which may hold more bytes than the head):
/// `Ok(None)` while it is incomplete, `Err` when it is unparsable or longer than
/// [`RESPONSE_HEAD_BYTES_MAX`].
pub fn parse_response_head(buf: &[u8], key: &str) -> Result<Option<ResponseHead>, String> {
    let mut headers = [httparse::EMPTY_HEADER; RESPONSE_HEADERS_MAX];
    let mut response = httparse::Response::new(&mut headers);
    let head_bytes = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() < RESPONSE_HEAD_BYTES_MAX => return Ok(None),
        Ok(httparse::Status::Partial) => return Err(format!("response head over {RESPONSE_HEAD_BYTES_MAX} bytes")),
        Err(e) => return Err(format!("unparsable response: {e}")),
    };
    let header = |name: &str| response.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value);
    let content_length = match header("content-length") {
        None => 0,
        Some(value) => std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| format!("bad Content-Length {:?}", String::from_utf8_lossy(value)))?,
    };
    let accept_matches = header("sec-websocket-accept") == Some(derive_accept_key(key.as_bytes()).as_bytes());
    let deflate = header("sec-websocket-extensions").is_some_and(|value| value.starts_with(b"permessage-deflate"));
    Ok(Some(ResponseHead { status: response.code.unwrap_or(0), head_bytes, content_length, accept_matches, deflate }))
}

/// The outcome of reading a response head.
#[derive(Debug, PartialEq, Eq)]
pub enum Response {
    /// More bytes are needed.
    Partial,
    /// Upgraded; the head was this many bytes (anything after it is WebSocket frames), and the
    /// server agreed to permessage-deflate or not.
    Upgraded { head_bytes: usize, deflate: bool },
    /// Refused or malformed: the HTTP status (0 when unparsable) and why.
    Refused { status: u16, reason: String },
}

/// Checks that the response head in `buf` (which may hold more bytes than the head) upgrades.
pub fn check_response(buf: &[u8], key: &str) -> Response {
    match parse_response_head(buf, key) {
        Ok(None) => Response::Partial,
        Err(reason) => Response::Refused { status: 0, reason },
        Ok(Some(head)) if head.status != 101 => Response::Refused { status: head.status, reason: format!("HTTP {} instead of 101", head.status) },
        Ok(Some(head)) if !head.accept_matches => Response::Refused { status: 101, reason: "missing or wrong Sec-WebSocket-Accept".into() },
        Ok(Some(head)) => Response::Upgraded { head_bytes: head.head_bytes, deflate: head.deflate },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_sample_nonce_encodes_to_the_rfc_sample_key() {
        // RFC 6455 1.3's sample key is the base64 of these 16 bytes.
        let nonce = *b"the sample nonce";
        assert_eq!(key_from_nonce(nonce), SAMPLE_KEY);
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

    #[test]
    fn a_refusal_with_a_body_reports_its_length_so_the_body_can_be_skipped() {
        let head = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 17\r\n\r\n";
        let mut buf = head.as_bytes().to_vec();
        buf.extend_from_slice(b"{\"error\":\"BUSY\"}");
        let parsed = parse_response_head(&buf, SAMPLE_KEY).unwrap().unwrap();
        assert_eq!(parsed, ResponseHead { status: 503, head_bytes: head.len(), content_length: 17, accept_matches: false, deflate: false });
    }

    #[test]
    fn an_endless_head_is_an_error_not_a_wait() {
        let buf = vec![b'x'; RESPONSE_HEAD_BYTES_MAX];
        assert!(parse_response_head(b"HTTP/1.1 200 OK\r\nX: ".iter().chain(&buf).copied().collect::<Vec<_>>().as_slice(), SAMPLE_KEY).is_err());
    }

    #[test]
    fn an_offer_is_sent_only_when_asked_and_an_agreed_extension_is_reported() {
        let plain = String::from_utf8(request("h", "/ws", SAMPLE_KEY)).unwrap();
        assert!(!plain.contains("Sec-WebSocket-Extensions"));
        let offering = String::from_utf8(request_offering("h", "/ws", SAMPLE_KEY, true)).unwrap();
        assert!(offering.contains(&format!("Sec-WebSocket-Extensions: {DEFLATE_OFFER}\r\n")), "{offering}");
        assert!(offering.ends_with("\r\n\r\n"));
        let head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                    Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
                    Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n\r\n";
        assert_eq!(check_response(head.as_bytes(), SAMPLE_KEY), Response::Upgraded { head_bytes: head.len(), deflate: true });
    }
}
