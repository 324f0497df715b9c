//! Why a file was rejected. Every message names the file; row errors read `file:line: reason`.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::store::StoreError;

#[derive(Debug)]
pub enum IngestError {
    /// The file (or its checksum file) could not be read.
    Io { path: PathBuf, source: io::Error },
    /// The file is larger than a limit allows.
    TooLarge {
        path: PathBuf,
        bytes: u64,
        bytes_max: u64,
    },
    /// The zip archive is unreadable or does not hold exactly one CSV.
    Archive { path: PathBuf, detail: String },
    /// The `.CHECKSUM` file next to the file names a different SHA-256.
    ChecksumMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    /// The `.CHECKSUM` file is not `<sha256>  <filename>`.
    ChecksumMalformed { path: PathBuf, detail: String },
    /// The file matches none of the formats ingestion reads.
    UnknownFormat { path: PathBuf, reason: String },
    /// A row is invalid; the whole file is rejected.
    BadRow {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    /// Writing to the database failed; the file may be retried later.
    Store { path: PathBuf, source: StoreError },
}

impl fmt::Display for IngestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IngestError::Io { path, source } => {
                write!(f, "{}: cannot read: {source}", path.display())
            }
            IngestError::TooLarge {
                path,
                bytes,
                bytes_max,
            } => write!(
                f,
                "{}: too large: {bytes} bytes (at most {bytes_max} accepted)",
                path.display()
            ),
            IngestError::Archive { path, detail } => {
                write!(f, "{}: bad zip archive: {detail}", path.display())
            }
            IngestError::ChecksumMismatch {
                path,
                expected,
                actual,
            } => write!(
                f,
                "{}: checksum mismatch: .CHECKSUM says sha256 {expected}, file has {actual}",
                path.display()
            ),
            IngestError::ChecksumMalformed { path, detail } => {
                write!(f, "{}: malformed checksum file: {detail}", path.display())
            }
            IngestError::UnknownFormat { path, reason } => {
                write!(f, "{}: unrecognised file: {reason}", path.display())
            }
            IngestError::BadRow { path, line, reason } => {
                write!(f, "{}:{line}: {reason}", path.display())
            }
            IngestError::Store { path, source } => {
                write!(f, "{}: database write failed: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for IngestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IngestError::Io { source, .. } => Some(source),
            IngestError::Store { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl IngestError {
    /// Database failures are about the database, not the file: worth retrying later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, IngestError::Store { .. })
    }
}
