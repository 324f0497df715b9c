//! The server side of the WebSocket opening handshake (RFC 6455 §4.2): which requests are
//! accepted, the 101 answer, and a precise refusal for every other request.
//!
//! Header fields are read through [`Request::field`] and [`Request::has_token`], so a list-based
//! field sent on several lines (`Connection: keep-alive` then `Connection: Upgrade`) counts as one.
//! The accept key is tungstenite's ([`derive_accept_key`]).

use tungstenite::handshake::derive_accept_key;
use tungstenite::http::{Method, Version};

use super::http::Request;

/// The only protocol version this server speaks (RFC 6455 §4.1).
pub const WEBSOCKET_VERSION: &str = "13";

/// Bytes of a `Sec-WebSocket-Key` once base64-decoded (RFC 6455 §4.1, item 7).
const KEY_BYTES: usize = 16;

/// Why an upgrade request is refused: the HTTP status, the JSON error code and message, and the
/// header fields the status requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub extra_headers: &'static [(&'static str, &'static str)],
}

/// A 426 must say what to upgrade to (RFC 9110 §15.5.22); for an unsupported WebSocket version
/// also which version to speak instead (RFC 6455 §4.2.2).
const UPGRADE_TO_WEBSOCKET: &[(&str, &str)] = &[("Upgrade", "websocket")];
const UPGRADE_TO_WEBSOCKET_13: &[(&str, &str)] = &[("Upgrade", "websocket"), ("Sec-WebSocket-Version", WEBSOCKET_VERSION)];

fn bad_request(message: impl Into<String>) -> Refusal {
    Refusal { status: 400, code: "BAD_REQUEST", message: message.into(), extra_headers: &[] }
}

/// Checks an upgrade request and returns the head of the 101 answer, or why it is refused.
pub fn accept(request: &Request) -> Result<Vec<u8>, Refusal> {
    if !request.has_token("upgrade", "websocket") {
        return Err(Refusal {
            status: 426,
            code: "UPGRADE_REQUIRED",
            message: "this endpoint speaks WebSocket only; send an Upgrade: websocket request".into(),
            extra_headers: UPGRADE_TO_WEBSOCKET,
        });
    }
    if request.head.method() != Method::GET {
        return Err(bad_request("a WebSocket handshake must be a GET request"));
    }
    if request.head.version() != Version::HTTP_11 {
        return Err(bad_request("a WebSocket handshake needs HTTP/1.1"));
    }
    if !request.has_token("connection", "upgrade") {
        return Err(bad_request("a WebSocket handshake needs Upgrade in its Connection header field"));
    }
    match request.field("sec-websocket-version") {
        Some(version) if version.trim() == WEBSOCKET_VERSION => {}
        other => {
            let sent = other.map_or("none".to_string(), |v| format!("{:?}", v.trim()));
            return Err(Refusal {
                status: 426,
                code: "UPGRADE_REQUIRED",
                message: format!("unsupported Sec-WebSocket-Version {sent}; this server speaks version {WEBSOCKET_VERSION}"),
                extra_headers: UPGRADE_TO_WEBSOCKET_13,
            });
        }
    }
    let key = request.field("sec-websocket-key").map(str::trim).unwrap_or("");
    let decoded = data_encoding::BASE64.decode(key.as_bytes());
    if !decoded.is_ok_and(|bytes| bytes.len() == KEY_BYTES) {
        return Err(bad_request(format!(
            "Sec-WebSocket-Key must be {KEY_BYTES} random bytes in base64 (24 characters), got {:?}",
            truncate(key, 64)
        )));
    }
    let accept = derive_accept_key(key.as_bytes());
    Ok(format!(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes())
}

fn truncate(text: &str, chars_max: usize) -> String {
    text.chars().take(chars_max).collect()
}

#[cfg(test)]
mod tests {
    use super::super::http::{parse_request, Parsed};
    use super::*;

    fn request(extra: &str) -> Request {
        let head = format!("GET /ws/echo HTTP/1.1\r\nHost: a\r\n{extra}\r\n");
        match parse_request(head.as_bytes(), 8192) {
            Parsed::Complete(request) => *request,
            other => panic!("not parsed: {other:?}"),
        }
    }

    const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

    #[test]
    fn the_rfc_example_key_gets_the_rfc_example_accept() {
        let head = accept(&request(&format!("Upgrade: websocket\r\nConnection: Upgrade\r\n{KEY}Sec-WebSocket-Version: 13\r\n"))).unwrap();
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        // RFC 6455 §1.3.
        assert!(head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    }

    #[test]
    fn upgrade_token_may_sit_on_any_line_of_a_list() {
        let extra = format!("Upgrade: h2c\r\nUpgrade: WebSocket\r\nConnection: keep-alive\r\nConnection: upgrade\r\n{KEY}Sec-WebSocket-Version: 13\r\n");
        assert!(accept(&request(&extra)).is_ok());
    }

    #[test]
    fn other_versions_get_426_naming_version_13() {
        let refusal = accept(&request(&format!("Upgrade: websocket\r\nConnection: Upgrade\r\n{KEY}Sec-WebSocket-Version: 8\r\n"))).unwrap_err();
        assert_eq!(refusal.status, 426);
        assert!(refusal.extra_headers.contains(&("Sec-WebSocket-Version", "13")));
    }

    #[test]
    fn a_key_that_is_not_16_bytes_is_400() {
        let refusal = accept(&request("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n")).unwrap_err();
        assert_eq!(refusal.status, 400);
        assert!(refusal.message.contains("Sec-WebSocket-Key"));
    }
}
