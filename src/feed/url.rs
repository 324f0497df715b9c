//! Base URLs of the exchange (`FEED_WS_URL`, `FEED_REST_URL`), checked once at startup.
//!
//! Plain `ws://`/`http://` are for loopback (a local fake exchange, a tunnel); `wss://`/`https://`
//! are served over rustls. A base URL carries no query or fragment: the feed appends its own path.

use std::fmt;

/// A checked base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// True for `wss`/`https`.
    pub secure: bool,
    pub host: String,
    pub port: u16,
    /// Path prefix without a trailing slash ("" or "/prefix").
    pub path: String,
}

/// Which of the two base URLs is being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlKind {
    WebSocket,
    Rest,
}

impl UrlKind {
    fn schemes(self) -> (&'static str, &'static str) {
        match self {
            UrlKind::WebSocket => ("ws", "wss"),
            UrlKind::Rest => ("http", "https"),
        }
    }
}

impl BaseUrl {
    /// Parses `raw` as a base URL of `kind`. Errors say what is accepted.
    pub fn parse(raw: &str, kind: UrlKind) -> Result<BaseUrl, String> {
        let (plain, secure) = kind.schemes();
        let accepted = format!("a {plain}:// or {secure}:// URL with a host and no query, e.g. {secure}://host:port/path");
        let (scheme, rest) = raw.split_once("://").ok_or_else(|| accepted.clone())?;
        let is_secure = match scheme.to_ascii_lowercase() {
            s if s == plain => false,
            s if s == secure => true,
            _ => return Err(accepted),
        };
        if rest.contains(['?', '#', ' ']) || rest.contains('@') {
            return Err(accepted);
        }
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], rest[at..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let default_port = if is_secure { 443 } else { 80 };
        let (host, port) = split_host_port(authority, default_port).ok_or_else(|| accepted.clone())?;
        if host.is_empty() {
            return Err(accepted);
        }
        Ok(BaseUrl { secure: is_secure, host, port, path: path.to_string() })
    }

    /// `host:port` for connecting (IPv6 hosts in brackets).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The full URL of `path_and_query` (which starts with '/') under this base.
    pub fn join(&self, kind: UrlKind, path_and_query: &str) -> String {
        let (plain, secure) = kind.schemes();
        let scheme = if self.secure { secure } else { plain };
        let default_port = if self.secure { 443 } else { 80 };
        let host = if self.port == default_port { self.host_for_url() } else { self.authority() };
        format!("{scheme}://{host}{}{}", self.path, path_and_query)
    }

    fn host_for_url(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", if self.secure { "(tls) " } else { "" }, self.authority(), self.path)
    }
}

fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_string(), port.parse().ok()?)),
        None => Some((authority.to_string(), default_port)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_defaults_and_loopback_urls_parse() {
        let ws = BaseUrl::parse("wss://fstream.binance.com", UrlKind::WebSocket).unwrap();
        assert_eq!((ws.secure, ws.host.as_str(), ws.port, ws.path.as_str()), (true, "fstream.binance.com", 443, ""));
        assert_eq!(ws.join(UrlKind::WebSocket, "/stream?streams=a"), "wss://fstream.binance.com/stream?streams=a");
        let rest = BaseUrl::parse("http://127.0.0.1:9000/mirror/", UrlKind::Rest).unwrap();
        assert_eq!((rest.secure, rest.port, rest.path.as_str()), (false, 9000, "/mirror"));
        assert_eq!(rest.join(UrlKind::Rest, "/fapi/v1/klines"), "http://127.0.0.1:9000/mirror/fapi/v1/klines");
        let v6 = BaseUrl::parse("ws://[::1]:9001", UrlKind::WebSocket).unwrap();
        assert_eq!(v6.authority(), "[::1]:9001");
    }

    #[test]
    fn wrong_scheme_query_or_missing_host_is_refused() {
        assert!(BaseUrl::parse("https://fapi.binance.com", UrlKind::WebSocket).is_err());
        assert!(BaseUrl::parse("ftp://x", UrlKind::Rest).is_err());
        assert!(BaseUrl::parse("http://host/path?x=1", UrlKind::Rest).is_err());
        assert!(BaseUrl::parse("http://:80", UrlKind::Rest).is_err());
        assert!(BaseUrl::parse("http://host:notaport", UrlKind::Rest).is_err());
        assert!(BaseUrl::parse("fapi.binance.com", UrlKind::Rest).is_err());
    }
}
