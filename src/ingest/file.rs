//! Ingesting one file: size and checksum checks, zip extraction, parsing, one transaction.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::store::{ConflictValues, InsertCounts, Store};

use super::checksum::{self, ChecksumStatus};
use super::detect::{detect, FileFormat};
use super::file_name::{classify, NameKind};
use super::limits::{CSV_BYTES_MAX, FILE_BYTES_MAX, ROWS_PER_FILE_MAX};
use super::lines::BoundedLines;
use super::parsed::Parsed;
use super::warnings::{open_interest_warnings, IngestWarning};
use super::IngestError;

/// What ingesting one file did.
#[derive(Debug, Clone, PartialEq)]
pub struct FileReport {
    pub path: PathBuf,
    pub format: FileFormat,
    pub checksum: ChecksumStatus,
    /// Data lines read (header and blank lines excluded).
    pub rows_read: u64,
    /// Table rows written and skipped; an OHLC + OI line yields a candle and an open-interest row.
    /// `counts.conflicts` counts every conflicting row.
    pub counts: InsertCounts,
    /// Rows whose time was already stored with other values (the stored values were kept), at
    /// most [`crate::store::CONFLICTS_LISTED_MAX`] of them.
    pub conflicts: Vec<IngestConflict>,
    /// Rows stored but flagged as data the model will not trust (open interest of 0 or an
    /// implausible one-bar jump), at most `WARNINGS_LISTED_MAX` (100) of them.
    pub warnings: Vec<IngestWarning>,
    /// Every flagged row, listed or not.
    pub warnings_total: u64,
}

/// A row of a file that disagrees with the row already stored for the same key. The stored row
/// is kept (for every format): see docs/ingest.md, "Rows already stored, and conflicts".
#[derive(Debug, Clone, PartialEq)]
pub struct IngestConflict {
    pub path: PathBuf,
    /// 1-based line of the file.
    pub line: u64,
    pub symbol: String,
    pub values: ConflictValues,
}

impl std::fmt::Display for IngestConflict {
    /// `FILE:LINE: BTCUSDT open interest at 1704067500000 (...) differs from the stored row:
    /// contracts stored 80100, new 99999 (stored value kept)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {} {}", self.path.display(), self.line, self.symbol, self.values)
    }
}

impl FileReport {
    pub fn rows_added(&self) -> u64 {
        self.counts.rows_added()
    }

    pub fn rows_already_present(&self) -> u64 {
        self.counts.rows_already_present()
    }
}

/// Ingests one file (`.zip` holding one CSV, or `.csv`) in one transaction: either every row is
/// stored (rows already present are skipped and counted) or, on any error, nothing is.
pub fn ingest_file(store: &Store, path: &Path) -> Result<FileReport, IngestError> {
    let io_error = |source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(io_error)?;
    if !metadata.is_file() {
        return Err(IngestError::UnknownFormat {
            path: path.to_path_buf(),
            reason: "not a regular file".to_string(),
        });
    }
    if metadata.len() > FILE_BYTES_MAX {
        return Err(IngestError::TooLarge {
            path: path.to_path_buf(),
            bytes: metadata.len(),
            bytes_max: FILE_BYTES_MAX,
        });
    }
    let checksum = checksum::verify(path)?;
    let (format, rows_read, parsed) = read_rows(path)?;
    let (warnings, warnings_total) = open_interest_warnings(path, &parsed);
    let outcome = store
        .insert_series_reporting(&parsed.candles, &parsed.open_interest, &parsed.realised)
        .map_err(|source| IngestError::Store {
            path: path.to_path_buf(),
            source,
        })?;
    let conflicts = outcome
        .conflicts
        .into_iter()
        .map(|c| IngestConflict {
            path: path.to_path_buf(),
            line: parsed.line_of(&c.values, c.series_index, c.row_index),
            symbol: c.symbol,
            values: c.values,
        })
        .collect();
    Ok(FileReport {
        path: path.to_path_buf(),
        format,
        checksum,
        rows_read,
        counts: outcome.counts,
        conflicts,
        warnings,
        warnings_total,
    })
}

fn read_rows(path: &Path) -> Result<(FileFormat, u64, Parsed), IngestError> {
    let file = File::open(path).map_err(|source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let outer_name = file_name(path);
    if !outer_name.to_ascii_lowercase().ends_with(".zip") {
        return parse_csv(path, &classify(&outer_name), BufReader::new(file));
    }
    let archive_error = |detail: String| IngestError::Archive {
        path: path.to_path_buf(),
        detail,
    };
    let mut archive = zip::ZipArchive::new(file).map_err(|e| archive_error(e.to_string()))?;
    let mut csv_index = None;
    for index in 0..archive.len() {
        let entry = archive
            .by_index(index)
            .map_err(|e| archive_error(e.to_string()))?;
        if entry.is_dir() {
            continue;
        }
        if csv_index.is_some() {
            return Err(archive_error("holds more than one file".to_string()));
        }
        csv_index = Some(index);
    }
    let csv_index = csv_index.ok_or_else(|| archive_error("holds no file".to_string()))?;
    let entry = archive
        .by_index(csv_index)
        .map_err(|e| archive_error(e.to_string()))?;
    if entry.size() > CSV_BYTES_MAX {
        return Err(IngestError::TooLarge {
            path: path.to_path_buf(),
            bytes: entry.size(),
            bytes_max: CSV_BYTES_MAX,
        });
    }
    // The archive's own name normally says what it holds; fall back to the entry's name.
    let name = match classify(&outer_name) {
        NameKind::Other(_) => classify(entry.name().rsplit('/').next().unwrap_or_default()),
        known => known,
    };
    // `take` bounds the text even if the archive lies about its uncompressed size.
    parse_csv(path, &name, BufReader::new(entry.take(CSV_BYTES_MAX + 1)))
}

fn parse_csv(
    path: &Path,
    name: &NameKind,
    reader: impl BufRead,
) -> Result<(FileFormat, u64, Parsed), IngestError> {
    let bad_row = |line: u64, reason: String| IngestError::BadRow {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut lines = BoundedLines::new(reader);
    let first_line = match lines.next_line() {
        Ok(Some((_, line))) => line.to_string(),
        Ok(None) => {
            return Err(IngestError::UnknownFormat {
                path: path.to_path_buf(),
                reason: "the file is empty".to_string(),
            })
        }
        Err((line, e)) => return Err(bad_row(line, e.reason())),
    };
    let detected = detect(name, &first_line).map_err(|reason| IngestError::UnknownFormat {
        path: path.to_path_buf(),
        reason,
    })?;
    let mut parser = detected.parser;
    let mut rows_read = 0u64;
    if !detected.first_line_is_header {
        let values: Vec<&str> = first_line.split(',').collect();
        parser.parse_row(1, &values).map_err(|r| bad_row(1, r))?;
        rows_read += 1;
    }
    loop {
        let (line_no, line) = match lines.next_line() {
            Ok(Some(next)) => next,
            Ok(None) => break,
            Err((line, e)) => return Err(bad_row(line, e.reason())),
        };
        if line.trim().is_empty() {
            continue;
        }
        rows_read += 1;
        if rows_read > ROWS_PER_FILE_MAX as u64 {
            return Err(bad_row(
                line_no,
                format!("more than {ROWS_PER_FILE_MAX} data rows in one file"),
            ));
        }
        let values: Vec<&str> = line.split(',').collect();
        parser
            .parse_row(line_no, &values)
            .map_err(|r| bad_row(line_no, r))?;
    }
    let parsed = parser
        .finish()
        .map_err(|(line, reason)| bad_row(line, reason))?;
    Ok((detected.format, rows_read, parsed))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}
