//! HTTP content coding and validators: gzip bodies built once, strong ETags, `If-None-Match`.
//!
//! A body is compressed once — a static file when it is loaded, a REST answer on the query worker
//! when it is computed (and kept with it in the answer cache) — and each request picks the
//! representation its `Accept-Encoding` allows (RFC 9110 §12.5.3). Bodies under
//! [`GZIP_MIN_BYTES`], and bodies gzip does not make smaller, have no gzip representation. Each
//! representation has its own strong ETag (RFC 9110 §8.8.3.3: a content coding is a different
//! representation): the SHA-256 of the plain body, cut to 128 bits, with `-gzip` for the gzip one.
//! Brotli is not offered: no crate the project already uses provides it, and gzip already takes the
//! history answer from 1.9 MB to about 240 KB.

use std::io::Write;
use std::sync::Arc;

use flate2::write::GzEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};

use super::header_fields::list_has_token;

/// Bodies shorter than this are sent plain: gzip's 18-byte frame and the CPU are not worth it.
pub const GZIP_MIN_BYTES: usize = 1024;

/// The encodings of one body, each built once and shared by every response that sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub plain: Arc<[u8]>,
    /// The gzip representation (RFC 1952), when the body is long and gzip makes it smaller.
    pub gzip: Option<Arc<[u8]>>,
    /// The strong ETag of the plain representation, quotes included.
    pub etag: Arc<str>,
}

impl Encoded {
    /// Compresses `body` (when worth it) and derives its ETag. `compressible` is false for
    /// formats that are compressed already (images, fonts).
    pub fn new(body: Arc<[u8]>, compressible: bool) -> Encoded {
        let gzip = if compressible && body.len() >= GZIP_MIN_BYTES { gzip(&body).map(Arc::from) } else { None };
        let digest = Sha256::digest(&body);
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        Encoded { plain: body, gzip, etag: format!("\"{hex}\"").into() }
    }

    /// The representation for a request: (body, its ETag, whether it is gzip).
    pub fn select(&self, accept_encoding: Option<&str>) -> (Arc<[u8]>, String, bool) {
        match &self.gzip {
            Some(gzip) if accepts_gzip(accept_encoding) => {
                (Arc::clone(gzip), format!("{}-gzip\"", &self.etag[..self.etag.len() - 1]), true)
            }
            _ => (Arc::clone(&self.plain), self.etag.to_string(), false),
        }
    }
}

/// gzip of `body` at zlib's default level, or `None` when that is not smaller.
pub fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4 + 64), Compression::default());
    encoder.write_all(body).ok()?;
    let out = encoder.finish().ok()?;
    (out.len() < body.len()).then_some(out)
}

/// True when an `Accept-Encoding` value allows gzip: `gzip` (or `x-gzip`, or `*`) listed with a
/// non-zero quality and not refused by a `gzip;q=0` (RFC 9110 §12.5.3).
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(value) = accept_encoding else { return false };
    let mut star = false;
    for element in value.split(',') {
        let mut parts = element.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            let p = p.trim().to_ascii_lowercase();
            p.strip_prefix("q=").is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
        });
        match coding.as_str() {
            "gzip" | "x-gzip" => return !refused,
            "*" => star = !refused,
            _ => {}
        }
    }
    star
}

/// True when an `If-None-Match` value names `etag` or is `*` (RFC 9110 §13.1.2, weak comparison:
/// a `W/` prefix is ignored).
pub fn none_match_hits(if_none_match: Option<&str>, etag: &str) -> bool {
    let Some(value) = if_none_match else { return false };
    list_has_token(value, "*") || value.split(',').any(|tag| tag.trim().trim_start_matches("W/") == etag)
}

/// Content types worth compressing: text, JSON, JavaScript, SVG.
pub fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || content_type.starts_with("application/json")
        || content_type.starts_with("image/svg")
        || content_type.starts_with("application/wasm")
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    #[test]
    fn a_long_body_gets_a_gzip_representation_that_decodes_back() {
        let body: Arc<[u8]> = Arc::from(br#"{"t":1,"levels":[1,2,3]}"#.repeat(200));
        let encoded = Encoded::new(Arc::clone(&body), true);
        let gzip = encoded.gzip.clone().expect("gzip");
        assert!(gzip.len() * 5 < body.len());
        let mut plain = Vec::new();
        GzDecoder::new(&gzip[..]).read_to_end(&mut plain).unwrap();
        assert_eq!(plain, &body[..]);
        let (chosen, etag, is_gzip) = encoded.select(Some("gzip, deflate, br"));
        assert!(is_gzip && Arc::ptr_eq(&chosen, &gzip));
        assert_eq!(etag, format!("{}-gzip\"", &encoded.etag[..encoded.etag.len() - 1]));
        let (chosen, etag, is_gzip) = encoded.select(None);
        assert!(!is_gzip && Arc::ptr_eq(&chosen, &body));
        assert_eq!(etag, *encoded.etag);
    }

    #[test]
    fn short_or_incompressible_bodies_stay_plain() {
        assert_eq!(Encoded::new(Arc::from(&b"{}"[..]), true).gzip, None);
        assert_eq!(Encoded::new(Arc::from(vec![b'a'; 5000]), false).gzip, None);
    }

    #[test]
    fn accept_encoding_is_read_with_qualities() {
        assert!(accepts_gzip(Some("gzip, deflate, br, zstd")));
        assert!(accepts_gzip(Some("br;q=1.0, GZIP;q=0.5")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0, *")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(Some("*;q=0")));
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn if_none_match_compares_weakly_and_knows_the_star() {
        assert!(none_match_hits(Some("\"a\", W/\"b\""), "\"b\""));
        assert!(none_match_hits(Some("*"), "\"x\""));
        assert!(!none_match_hits(Some("\"a\""), "\"b\""));
        assert!(!none_match_hits(None, "\"b\""));
    }

    #[test]
    fn the_etag_depends_on_the_content_only() {
        let a = Encoded::new(Arc::from(&b"same"[..]), true);
        let b = Encoded::new(Arc::from(&b"same"[..]), true);
        let c = Encoded::new(Arc::from(&b"other"[..]), true);
        assert_eq!(a.etag, b.etag);
        assert_ne!(a.etag, c.etag);
        assert_eq!(a.etag.len(), 34);
    }
}
