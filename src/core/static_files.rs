//! The frontend's files, loaded into memory once at startup and served from there.
//!
//! Serving only from this map makes path traversal impossible by construction: a request can
//! only ever name a file that was loaded, and the loader (in the shell) only loads regular files
//! that resolve inside the frontend folder. Lookups still reject `..`, encoded or not, so that a
//! traversal attempt gets a clear 400 rather than an ambiguous 404.

use std::collections::BTreeMap;
use std::sync::Arc;

use percent_encoding::percent_decode_str;

use super::http_encoding::{compressible, Encoded};

/// A file ready to send: its bytes, and its gzip bytes when worth having, built once at load and
/// shared by every response, with its strong ETag.
#[derive(Debug, Clone)]
pub struct StaticFile {
    pub content_type: &'static str,
    pub body: Encoded,
}

/// Files keyed by their path relative to the frontend folder, with `/` separators.
#[derive(Debug, Clone, Default)]
pub struct StaticFiles {
    files: BTreeMap<String, StaticFile>,
}

/// Why a path cannot name a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// A traversal or otherwise malformed path (400).
    BadPath(&'static str),
    /// A well-formed path naming no file (404).
    NotFound,
}

impl StaticFiles {
    pub fn new() -> StaticFiles {
        StaticFiles::default()
    }

    pub fn insert(&mut self, relative_path: String, body: Vec<u8>) {
        let content_type = content_type_for(&relative_path);
        let body = Encoded::new(Arc::from(body), compressible(content_type));
        self.files.insert(relative_path, StaticFile { content_type, body });
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Finds the file a URL path (e.g. `/js/app.js`, percent-encoded) names.
    pub fn lookup(&self, url_path: &str) -> Result<&StaticFile, LookupError> {
        let decoded = percent_decode_str(url_path)
            .decode_utf8()
            .map_err(|_| LookupError::BadPath("path is not valid UTF-8"))?;
        if decoded.contains('\0') {
            return Err(LookupError::BadPath("path contains a NUL byte"));
        }
        if decoded.contains('\\') {
            return Err(LookupError::BadPath("path contains a backslash"));
        }
        let relative = decoded.trim_start_matches('/');
        if relative.split('/').any(|segment| segment == ".." || segment == ".") {
            return Err(LookupError::BadPath("path contains a '.' or '..' segment"));
        }
        if relative.split('/').any(|segment| segment.is_empty()) {
            return Err(LookupError::NotFound);
        }
        self.files.get(relative).ok_or(LookupError::NotFound)
    }
}

/// Content type by file extension; unknown types are served as opaque bytes.
pub fn content_type_for(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match extension.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> StaticFiles {
        let mut files = StaticFiles::new();
        files.insert("coinglass_heatmap.html".into(), b"<html>".to_vec());
        files.insert("js/app.js".into(), b"x".to_vec());
        files
    }

    #[test]
    fn nested_file_is_found_with_its_content_type() {
        let file = files().lookup("/js/app.js").unwrap().clone();
        assert_eq!(file.content_type, "text/javascript; charset=utf-8");
    }

    #[test]
    fn percent_encoded_path_is_decoded() {
        assert!(files().lookup("/js%2fapp.js").is_ok());
    }

    #[test]
    fn traversal_is_rejected_plain_and_encoded() {
        for path in ["/../etc/passwd", "/js/../../x", "/%2e%2e/etc/passwd", "/%2E%2E%2Fetc", "/..%5c..%5cx"] {
            assert!(matches!(files().lookup(path), Err(LookupError::BadPath(_))), "{path}");
        }
    }

    #[test]
    fn unknown_file_is_not_found() {
        assert_eq!(files().lookup("/nope.js").unwrap_err(), LookupError::NotFound);
    }
}
