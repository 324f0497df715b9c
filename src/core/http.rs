//! HTTP/1.1 request heads in, response heads out. Parsing is httparse's; this module only applies
//! our limits and turns results into typed requests and precise errors.

use tungstenite::http;

use super::header_fields;

/// Most headers accepted in one request; more answers 431.
pub const REQUEST_HEADERS_MAX: usize = 64;

/// A parsed request head. Bodies are never read: every route is GET/HEAD.
#[derive(Debug)]
pub struct Request {
    /// The request as the `http` crate models it, each field's lines already combined by its kind
    /// ([`header_fields::combine`]). Read fields with [`Request::field`] and [`Request::has_token`].
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

    /// The value of header field `name` (any case): for a list-based field every line joined with
    /// ", ", for a singleton its one value (see [`header_fields`]). `None` when absent or not
    /// visible ASCII. Every reader of request headers goes through here or [`Request::has_token`].
    pub fn field(&self, name: &str) -> Option<&str> {
        debug_assert!(header_fields::kind(name) != header_fields::FieldKind::Other, "{name} has no kind in header_fields");
        self.head.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// True when list-based field `name` holds `token` among its elements (case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        debug_assert_eq!(header_fields::kind(name), header_fields::FieldKind::List, "{name} is not a list");
        self.field(name).is_some_and(|value| header_fields::list_has_token(value, token))
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
    let version = if minor == 0 { http::Version::HTTP_10 } else { http::Version::HTTP_11 };
    let fields = match header_fields::combine(request.headers.iter().map(|h| (h.name, h.value))) {
        Ok(fields) => fields,
        Err(message) => return bad(400, message),
    };
    let mut builder = http::Request::builder().method(method).uri(target).version(version);
    for field in fields {
        builder = builder.header(field.name, field.value);
    }
    let head = match builder.body(()) {
        Ok(head) => head,
        Err(e) => return bad(400, format!("malformed request: {e}")),
    };
    let mut request = Request { head, head_bytes, keep_alive: false, has_body: false };
    if version == http::Version::HTTP_11 && !request.head.headers().contains_key("host") {
        return bad(400, "an HTTP/1.1 request must carry a Host header field (RFC 9112 §3.2)");
    }
    // HTTP/1.0 closes unless asked to keep alive; HTTP/1.1 keeps alive unless asked to close.
    request.keep_alive = if request.has_token("connection", "close") {
        false
    } else {
        version == http::Version::HTTP_11 || request.has_token("connection", "keep-alive")
    };
    let content_length = request.field("content-length").map(str::trim);
    request.has_body = content_length.is_some_and(|length| length.bytes().any(|b| b != b'0'))
        || request.head.headers().contains_key("transfer-encoding");
    Parsed::Complete(Box::new(request))
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
    let mut head = if status == 304 {
        // RFC 9110 §8.6, §15.4.5: a 304 has no content, and a Content-Length of 0 would misstate
        // the length of the representation it stands for.
        format!("HTTP/1.1 {status} {reason}\r\n")
    } else {
        format!("HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {content_length}\r\n")
    };
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
        let Parsed::Complete(r) = parse_request(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 8192)
        else {
            panic!()
        };
        assert!(!r.keep_alive);
        let Parsed::Complete(r) = parse_request(b"GET / HTTP/1.0\r\n\r\n", 8192) else { panic!() };
        assert!(!r.keep_alive);
    }

    #[test]
    fn http11_without_host_is_400_and_http10_may_omit_it() {
        let Parsed::Bad(e) = parse_request(b"GET /health HTTP/1.1\r\n\r\n", 8192) else { panic!() };
        assert_eq!(e.status, 400);
        assert!(e.message.contains("Host"), "{}", e.message);
        assert!(matches!(parse_request(b"GET /health HTTP/1.0\r\n\r\n", 8192), Parsed::Complete(_)));
    }

    #[test]
    fn connection_lines_are_read_together() {
        let head = b"GET / HTTP/1.0\r\nConnection: x-foo\r\nConnection: keep-alive\r\n\r\n";
        let Parsed::Complete(r) = parse_request(head, 8192) else { panic!() };
        assert!(r.keep_alive);
        assert_eq!(r.field("connection"), Some("x-foo, keep-alive"));
    }

    #[test]
    fn conflicting_content_length_is_400_naming_it() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n";
        let Parsed::Bad(e) = parse_request(head, 8192) else { panic!() };
        assert_eq!(e.status, 400);
        assert!(e.message.contains("Content-Length"), "{}", e.message);
    }

    #[test]
    fn response_head_is_well_formed() {
        let head = String::from_utf8(response_head(404, "application/json", 12, true, &[])).unwrap();
        assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(head.contains("Content-Length: 12\r\n"));
        assert!(head.ends_with("\r\n\r\n"));
    }
}
