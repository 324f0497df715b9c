//! The inbox folder: files dropped there are ingested, then moved to `processed/` or, with a
//! `NAME.error.txt` saying why, to `failed/`. The server's worker calls this periodically.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::store::Store;

use super::checksum::checksum_path;
use super::limits::FILES_PER_RUN_MAX;
use super::run::is_checksum_file;
use super::{ingest_file, FileReport, IngestError};

/// A file modified more recently than this may still be being written; it waits for a later pass.
pub const INBOX_STABLE_MS: u64 = 2_000;

pub const PROCESSED_DIR: &str = "processed";
pub const FAILED_DIR: &str = "failed";

/// A file that went in and was moved to `processed/`.
#[derive(Debug)]
pub struct InboxProcessed {
    pub moved_to: PathBuf,
    pub report: FileReport,
    /// `NAME.conflicts.txt` next to the moved file, written when rows conflicted with stored ones.
    pub conflicts_report: Option<PathBuf>,
    /// `NAME.warnings.txt` next to the moved file, written when rows carried data warnings.
    pub warnings_report: Option<PathBuf>,
}

/// A file that was rejected and moved to `failed/`, next to its `.error.txt` report.
#[derive(Debug)]
pub struct InboxFailed {
    pub moved_to: PathBuf,
    pub error: IngestError,
}

/// What one inbox pass did.
#[derive(Debug, Default)]
pub struct InboxReport {
    pub processed: Vec<InboxProcessed>,
    pub failed: Vec<InboxFailed>,
    /// Left in the inbox because the database write failed (not the file's fault).
    pub retry_later: Vec<IngestError>,
    /// Left in the inbox because they changed within the last [`INBOX_STABLE_MS`].
    pub not_yet_stable: Vec<PathBuf>,
    /// Files or folders that could not be read, created or moved.
    pub io_errors: Vec<(PathBuf, io::Error)>,
}

impl InboxReport {
    /// True when the pass found nothing to do (callers log only passes that did something).
    pub fn is_empty(&self) -> bool {
        self.processed.is_empty()
            && self.failed.is_empty()
            && self.retry_later.is_empty()
            && self.not_yet_stable.is_empty()
            && self.io_errors.is_empty()
    }
}

/// One pass over `dir` (not its subfolders), creating `dir` and its `processed/` and `failed/`
/// folders if needed. A `.CHECKSUM` file moves together with the file it belongs to.
pub fn process_inbox(store: &Store, dir: &Path) -> InboxReport {
    process_inbox_at(store, dir, SystemTime::now())
}

/// [`process_inbox`] with the current time given, so stability is judged against it.
pub fn process_inbox_at(store: &Store, dir: &Path, now: SystemTime) -> InboxReport {
    let mut report = InboxReport::default();
    for sub in [PROCESSED_DIR, FAILED_DIR] {
        if let Err(e) = std::fs::create_dir_all(dir.join(sub)) {
            report.io_errors.push((dir.join(sub), e));
            return report;
        }
    }
    let candidates = match candidates(dir) {
        Ok(files) => files,
        Err(e) => {
            report.io_errors.push((dir.to_path_buf(), e));
            return report;
        }
    };
    let stable_for = Duration::from_millis(INBOX_STABLE_MS);
    for path in candidates.into_iter().take(FILES_PER_RUN_MAX) {
        let companion = checksum_path(&path);
        if !is_stable(&path, now, stable_for) || !is_stable_if_present(&companion, now, stable_for)
        {
            report.not_yet_stable.push(path);
            continue;
        }
        match ingest_file(store, &path) {
            Ok(file_report) => match move_with_companion(&path, &dir.join(PROCESSED_DIR)) {
                Ok(moved_to) => {
                    let mut written = |result: io::Result<Option<PathBuf>>| match result {
                        Ok(path) => path,
                        Err(e) => {
                            report.io_errors.push((moved_to.clone(), e));
                            None
                        }
                    };
                    let conflicts_report = written(write_conflicts(&moved_to, &file_report));
                    let warnings_report = written(write_warnings(&moved_to, &file_report));
                    report.processed.push(InboxProcessed {
                        moved_to,
                        report: file_report,
                        conflicts_report,
                        warnings_report,
                    })
                }
                // Stored but not moved: the next pass re-ingests it as "already present".
                Err(e) => report.io_errors.push((path, e)),
            },
            Err(error) if error.is_retryable() => report.retry_later.push(error),
            Err(error) => match fail(&path, &dir.join(FAILED_DIR), &error) {
                Ok(moved_to) => report.failed.push(InboxFailed { moved_to, error }),
                Err(e) => report.io_errors.push((path, e)),
            },
        }
    }
    report
}

/// Regular, visible files directly in `dir`, sorted; `.CHECKSUM` companions excluded (dot-files
/// are how uploads usually mark themselves incomplete).
fn candidates(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if hidden || !entry.file_type()?.is_file() || is_checksum_file(&path) {
            continue;
        }
        files.push(path);
        if files.len() > FILES_PER_RUN_MAX {
            break;
        }
    }
    files.sort();
    Ok(files)
}

fn is_stable(path: &Path, now: SystemTime, stable_for: Duration) -> bool {
    let modified = std::fs::metadata(path).and_then(|m| m.modified());
    match modified {
        // A modification time in the future also counts as "not yet".
        Ok(modified) => now
            .duration_since(modified)
            .is_ok_and(|age| age >= stable_for),
        Err(_) => false,
    }
}

fn is_stable_if_present(path: &Path, now: SystemTime, stable_for: Duration) -> bool {
    !path.exists() || is_stable(path, now, stable_for)
}

/// Moves `path` (and its `.CHECKSUM`, if any) into `to_dir`, replacing same-named files there.
fn move_with_companion(path: &Path, to_dir: &Path) -> io::Result<PathBuf> {
    let target = to_dir.join(path.file_name().unwrap_or_default());
    std::fs::rename(path, &target)?;
    let companion = checksum_path(path);
    if companion.exists() {
        std::fs::rename(&companion, checksum_path(&target))?;
    }
    Ok(target)
}

/// Writes `NAME.conflicts.txt` next to a processed file whose rows conflicted with stored ones:
/// one line per listed conflict (file, line, stored and new values), then the total.
fn write_conflicts(moved_to: &Path, report: &FileReport) -> io::Result<Option<PathBuf>> {
    if report.counts.conflicts == 0 {
        return Ok(None);
    }
    let mut text = String::new();
    for conflict in &report.conflicts {
        text.push_str(&format!("{conflict}\n"));
    }
    text.push_str(&format!(
        "{} conflicting rows ({} listed); the stored values were kept\n",
        report.counts.conflicts,
        report.conflicts.len()
    ));
    write_beside(moved_to, ".conflicts.txt", &text).map(Some)
}

/// Writes `NAME.warnings.txt` next to a processed file with rows the model treats as missing.
fn write_warnings(moved_to: &Path, report: &FileReport) -> io::Result<Option<PathBuf>> {
    if report.warnings_total == 0 {
        return Ok(None);
    }
    let mut text = String::new();
    for warning in &report.warnings {
        text.push_str(&format!("{warning}\n"));
    }
    text.push_str(&format!(
        "{} rows with implausible open interest ({} listed); stored, treated as missing by the model\n",
        report.warnings_total,
        report.warnings.len()
    ));
    write_beside(moved_to, ".warnings.txt", &text).map(Some)
}

/// Writes `text` to `FILE<suffix>` next to `file`.
fn write_beside(file: &Path, suffix: &str, text: &str) -> io::Result<PathBuf> {
    let mut name = file.as_os_str().to_owned();
    name.push(suffix);
    let path = PathBuf::from(name);
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Moves a rejected file to `failed/` with `NAME.error.txt` explaining why.
fn fail(path: &Path, failed_dir: &Path, error: &IngestError) -> io::Result<PathBuf> {
    let target = move_with_companion(path, failed_dir)?;
    let mut report_name = target.as_os_str().to_owned();
    report_name.push(".error.txt");
    std::fs::write(PathBuf::from(report_name), format!("{error}\n"))?;
    Ok(target)
}
