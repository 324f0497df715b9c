//! The server side of the WebSocket opening handshake (RFC 6455 §4.2): which requests are
//! accepted, the 101 answer, and a precise refusal for every other request.
//!
//! Header fields are read through [`Request::field`] and [`Request::has_token`], so a list-based
//! field sent on several lines (`Connection: keep-alive` then `Connection: Upgrade`) counts as one.
//! The accept key is tungstenite's ([`derive_accept_key`]).

use tungstenite::handshake::derive_accept_key;
use tungstenite::http::{Method, Version};

use super::deflate::{self, Agreed};
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

/// An accepted upgrade: the head of the 101 answer and the compression agreed, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub head: Vec<u8>,
    /// permessage-deflate was offered, `compression` allows it, and an offer was acceptable.
    pub deflate: Option<Agreed>,
}

/// Checks an upgrade request and returns the 101 answer, or why it is refused. With
/// `compression`, an acceptable permessage-deflate offer is taken (see [`deflate::negotiate`]);
/// an unacceptable one is ignored, as RFC 6455 §9.1 allows.
pub fn accept(request: &Request, compression: bool) -> Result<Accepted, Refusal> {
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
    let agreed = request.field("sec-websocket-extensions").filter(|_| compression).and_then(deflate::negotiate);
    let extensions = agreed.as_ref().map_or(String::new(), |(_, value)| format!("Sec-WebSocket-Extensions: {value}\r\n"));
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {accept}\r\n{extensions}\r\n"
    );
    Ok(Accepted { head: head.into_bytes(), deflate: agreed.map(|(agreed, _)| agreed) })
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
        let head = accept(&request(&format!("Upgrade: websocket\r\nConnection: Upgrade\r\n{KEY}Sec-WebSocket-Version: 13\r\n")), true).unwrap();
        let head = String::from_utf8(head.head).unwrap();
        assert!(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        // RFC 6455 §1.3.
        assert!(head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    }

    #[test]
    fn upgrade_token_may_sit_on_any_line_of_a_list() {
        let extra = format!("Upgrade: h2c\r\nUpgrade: WebSocket\r\nConnection: keep-alive\r\nConnection: upgrade\r\n{KEY}Sec-WebSocket-Version: 13\r\n");
        assert!(accept(&request(&extra), true).is_ok());
    }

    #[test]
    fn other_versions_get_426_naming_version_13() {
        let refusal = accept(&request(&format!("Upgrade: websocket\r\nConnection: Upgrade\r\n{KEY}Sec-WebSocket-Version: 8\r\n")), true).unwrap_err();
        assert_eq!(refusal.status, 426);
        assert!(refusal.extra_headers.contains(&("Sec-WebSocket-Version", "13")));
    }

    #[test]
    fn a_key_that_is_not_16_bytes_is_400() {
        let refusal = accept(&request("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n"), true).unwrap_err();
        assert_eq!(refusal.status, 400);
        assert!(refusal.message.contains("Sec-WebSocket-Key"));
    }

    #[test]
    fn a_deflate_offer_is_answered_only_when_compression_is_on() {
        let extra = format!(
            "Upgrade: websocket\r\nConnection: Upgrade\r\n{KEY}Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        );
        let on = accept(&request(&extra), true).unwrap();
        assert_eq!(on.deflate.map(|a| a.server_window_bits), Some(15));
        let head = String::from_utf8(on.head).unwrap();
        assert!(
            head.contains("\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n\r\n"),
            "{head}"
        );
        let off = accept(&request(&extra), false).unwrap();
        assert_eq!(off.deflate, None);
        assert!(!String::from_utf8(off.head).unwrap().contains("Extensions"));
    }
}
