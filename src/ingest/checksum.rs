//! Verification of data.binance.vision `.CHECKSUM` files (`<sha256>  <filename>`).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::limits::CHECKSUM_FILE_BYTES_MAX;
use super::IngestError;

/// Whether a file's integrity was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumStatus {
    /// A `.CHECKSUM` file was present and matched.
    Verified,
    /// No `.CHECKSUM` file was present; the file was accepted unverified.
    Missing,
}

/// `NAME.zip` -> `NAME.zip.CHECKSUM`.
pub fn checksum_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".CHECKSUM");
    PathBuf::from(name)
}

/// Checks `path` against the `.CHECKSUM` file next to it, if there is one.
pub(crate) fn verify(path: &Path) -> Result<ChecksumStatus, IngestError> {
    let sum_path = checksum_path(path);
    let text = match read_small(&sum_path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ChecksumStatus::Missing),
        Err(source) => {
            return Err(IngestError::Io {
                path: sum_path,
                source,
            })
        }
    };
    let expected = text
        .split_whitespace()
        .next()
        .filter(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| IngestError::ChecksumMalformed {
            path: sum_path.clone(),
            detail: "expected `<64 hex digits>  <filename>`".to_string(),
        })?
        .to_ascii_lowercase();
    let actual = sha256_hex(path).map_err(|source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if actual != expected {
        return Err(IngestError::ChecksumMismatch {
            path: path.to_path_buf(),
            expected,
            actual,
        });
    }
    Ok(ChecksumStatus::Verified)
}

fn read_small(path: &Path) -> io::Result<String> {
    let mut text = String::new();
    File::open(path)?
        .take(CHECKSUM_FILE_BYTES_MAX)
        .read_to_string(&mut text)?;
    Ok(text)
}

fn sha256_hex(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}
