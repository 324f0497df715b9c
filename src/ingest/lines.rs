//! Line-by-line reading with a bound on line length and total bytes, numbering lines from 1.

use std::io::{self, BufRead, Read};

use super::limits::{CSV_BYTES_MAX, LINE_BYTES_MAX};

#[derive(Debug)]
pub(crate) enum LineError {
    Io(io::Error),
    TooLong,
    NotUtf8,
    TooManyBytes,
}

impl LineError {
    pub(crate) fn reason(&self) -> String {
        match self {
            LineError::Io(e) => format!("read failed: {e}"),
            LineError::TooLong => format!("line is longer than {LINE_BYTES_MAX} bytes"),
            LineError::NotUtf8 => "line is not valid UTF-8 text".to_string(),
            LineError::TooManyBytes => format!("text exceeds {CSV_BYTES_MAX} bytes"),
        }
    }
}

pub(crate) struct BoundedLines<R> {
    reader: R,
    buf: Vec<u8>,
    line_no: u64,
    bytes_read: u64,
}

impl<R: BufRead> BoundedLines<R> {
    pub(crate) fn new(reader: R) -> Self {
        BoundedLines {
            reader,
            buf: Vec::with_capacity(256),
            line_no: 0,
            bytes_read: 0,
        }
    }

    /// The next line and its 1-based number, without its line ending (and without a leading UTF-8
    /// byte-order mark on line 1); `None` at the end of the text. Errors carry the line number.
    pub(crate) fn next_line(&mut self) -> Result<Option<(u64, &str)>, (u64, LineError)> {
        self.buf.clear();
        let limit = LINE_BYTES_MAX as u64 + 2; // room for "\r\n" after a maximal line
        let n = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| (self.line_no + 1, LineError::Io(e)))?;
        if n == 0 {
            return Ok(None);
        }
        self.line_no += 1;
        self.bytes_read += n as u64;
        if self.bytes_read > CSV_BYTES_MAX {
            return Err((self.line_no, LineError::TooManyBytes));
        }
        let mut line: &[u8] = &self.buf;
        if let Some(rest) = line.strip_suffix(b"\n") {
            line = rest;
        } else if n as u64 == limit {
            return Err((self.line_no, LineError::TooLong));
        }
        line = line.strip_suffix(b"\r").unwrap_or(line);
        if self.line_no == 1 {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        if line.len() > LINE_BYTES_MAX {
            return Err((self.line_no, LineError::TooLong));
        }
        match std::str::from_utf8(line) {
            Ok(text) => Ok(Some((self.line_no, text))),
            Err(_) => Err((self.line_no, LineError::NotUtf8)),
        }
    }
}
