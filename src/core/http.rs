//! HTTP/1.1 request heads in, response heads out. Parsing is httparse's; this module only applies
//! our limits and turns results into typed requests and precise errors.

use tungstenite::http;

/// Most headers accepted in one request; more answers 431.
pub const REQUEST_HEADERS_MAX: usize = 64;

/// A parsed request head. Bodies are never read: every route is GET/HEAD.
#[derive(Debug)]
pub struct Request {
    /// The request as the `http` crate models it (what tungstenite's handshake takes).
    pub head: http::Request<()>,
    /// Bytes of the head, including the blank line.
    pub head_bytes: usize,
    /// True when the connection may serve another request after this one.
    pub keep_alive: bool,
    /// True when the request announces a body, which we do not accept.
    pub has_body: bool,
}

impl Request {
    pub fn path(&self) -> &str {
        self.head.uri().path()
    }

    pub fn query(&self) -> &str {
        self.head.uri().query().unwrap_or("")
    }

    pub fn is_head(&self) -> bool {
        self.head.method() == http::Method::HEAD
    }
}

/// A request that must be answered with an error status and then the connection closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest {
    pub status: u16,
    pub message: String,
}

/// Outcome of parsing the bytes received so far.
#[derive(Debug)]
pub enum Parsed {
    /// Boxed: a parsed head is far larger than the other outcomes.
    Complete(Box<Request>),
    /// Not yet a complete head; keep reading.
    Partial,
    Bad(BadRequest),
}

fn bad(status: u16, message: impl Into<String>) -> Parsed {
    Parsed::Bad(BadRequest { status, message: message.into() })
}

/// Parses a request head from `buf`. `head_bytes_max` bounds the head (431 beyond it).
pub fn parse_request(buf: &[u8], head_bytes_max: usize) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; REQUEST_HEADERS_MAX];
    let mut request = httparse::Request::new(&mut headers);
    let head_bytes = match request.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > head_bytes_max {
                return bad(431, format!("request head exceeds {head_bytes_max} bytes"));
            }
            return Parsed::Partial;
        }
        Err(httparse::Error::TooManyHeaders) => {
            return bad(431, format!("more than {REQUEST_HEADERS_MAX} request headers"));
        }
        Err(e) => return bad(400, format!("malformed request: {e}")),
    };
    if head_bytes > head_bytes_max {
        return bad(431, format!("request head exceeds {head_bytes_max} bytes"));
    }
    let (Some(method), Some(target), Some(minor)) = (request.method, request.path, request.version)
    else {
        return bad(400, "malformed request line");
    };
    let mut builder = http::Request::builder()
        .method(method)
        .uri(target)
        .version(if minor == 0 { http::Version::HTTP_10 } else { http::Version::HTTP_11 });
    let mut connection_close = minor == 0;
    let mut has_body = false;
    for header in request.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("connection") {
            let value = String::from_utf8_lossy(header.value).to_ascii_lowercase();
            if value.split(',').any(|t| t.trim() == "close") {
                connection_close = true;
            }
            if value.split(',').any(|t| t.trim() == "keep-alive") {
                connection_close = false;
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            has_body |= header.value.iter().any(|&b| b != b'0' && !b.is_ascii_whitespace());
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            has_body = true;
        }
        builder = builder.header(name, header.value);
    }
    match builder.body(()) {
        Ok(head) => Parsed::Complete(Box::new(Request {
            head,
            head_bytes,
            keep_alive: !connection_close,
            has_body,
        })),
        Err(e) => bad(400, format!("malformed request: {e}")),
    }
}

/// Builds a response head. `content_length` is the body length even for HEAD requests.
pub fn response_head(
    status: u16,
    content_type: &str,
    content_length: usize,
    keep_alive: bool,
    extra_headers: &[(&str, &str)],
) -> Vec<u8> {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown");
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {content_length}\r\n"
    );
    head.push_str(if keep_alive { "Connection: keep-alive\r\n" } else { "Connection: close\r\n" });
    for (name, value) in extra_headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// `{"error":{"code":..,"message":..}}`, the body of every JSON error response.
pub fn error_body(code: &str, message: &str) -> Vec<u8> {
    serde_json::json!({ "error": { "code": code, "message": message } })
        .to_string()
        .into_bytes()
}

/// The error code string used in JSON bodies for a status.
pub fn status_code_name(status: u16) -> &'static str {
    match status {
        400 => "BAD_REQUEST",
        404 => "NOT_FOUND",
        405 => "METHOD_NOT_ALLOWED",
        408 => "REQUEST_TIMEOUT",
        413 => "PAYLOAD_TOO_LARGE",
        422 => "UNPROCESSABLE",
        426 => "UPGRADE_REQUIRED",
        431 => "REQUEST_HEADER_FIELDS_TOO_LARGE",
        503 => "SERVICE_UNAVAILABLE",
        _ => "ERROR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_get_is_parsed_with_keep_alive() {
        let Parsed::Complete(r) = parse_request(b"GET /health?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", 8192)
        else {
            panic!("not complete")
        };
        assert_eq!(r.path(), "/health");
        assert_eq!(r.query(), "x=1");
        assert!(r.keep_alive);
        assert!(!r.has_body);
    }

    #[test]
    fn partial_head_asks_for_more() {
        assert!(matches!(parse_request(b"GET / HTTP/1.1\r\nHost:", 8192), Parsed::Partial));
    }

    #[test]
    fn head_over_the_bound_is_431() {
        let mut buf = b"GET / HTTP/1.1\r\nX: ".to_vec();
        buf.extend(std::iter::repeat_n(b'a', 9000));
        let Parsed::Bad(e) = parse_request(&buf, 8192) else { panic!() };
        assert_eq!(e.status, 431);
    }

    #[test]
    fn garbage_is_400() {
        let Parsed::Bad(e) = parse_request(b"\x01\x02 nonsense\r\n\r\n", 8192) else { panic!() };
        assert_eq!(e.status, 400);
    }

    #[test]
    fn connection_close_and_http10_disable_keep_alive() {
        let Parsed::Complete(r) = parse_request(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 8192)
        else {
            panic!()
        };
        assert!(!r.keep_alive);
        let Parsed::Complete(r) = parse_request(b"GET / HTTP/1.0\r\n\r\n", 8192) else { panic!() };
        assert!(!r.keep_alive);
    }

    #[test]
    fn response_head_is_well_formed() {
        let head = String::from_utf8(response_head(404, "application/json", 12, true, &[])).unwrap();
        assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(head.contains("Content-Length: 12\r\n"));
        assert!(head.ends_with("\r\n\r\n"));
    }
}
