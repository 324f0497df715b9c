//! The `ingest PATH...` run: expand folders, ingest each file, summarise.

use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::store::Store;

use super::checksum::ChecksumStatus;
use super::limits::{FILES_PER_RUN_MAX, FOLDER_DEPTH_MAX};
use super::{ingest_file, FileReport, IngestError};

/// Runs shorter than this many files finish too fast for a progress bar to help.
const PROGRESS_FILES_MIN: usize = 2;

/// The outcome of an `ingest` run.
#[derive(Debug, Default)]
pub struct IngestSummary {
    /// Files ingested (including those whose rows were all already present).
    pub ingested: Vec<FileReport>,
    /// Files rejected, with the reason; nothing from them was stored.
    pub rejected: Vec<IngestError>,
    /// Files found beyond [`FILES_PER_RUN_MAX`] and not looked at.
    pub files_over_limit: usize,
}

impl IngestSummary {
    pub fn files(&self) -> usize {
        self.ingested.len() + self.rejected.len()
    }

    pub fn rows_added(&self) -> u64 {
        self.ingested.iter().map(FileReport::rows_added).sum()
    }

    pub fn rows_already_present(&self) -> u64 {
        self.ingested
            .iter()
            .map(FileReport::rows_already_present)
            .sum()
    }

    /// Rows already stored with other values (the stored values were kept).
    pub fn conflicts(&self) -> u64 {
        self.ingested.iter().map(|r| r.counts.conflicts).sum()
    }

    /// Rows stored with a data warning (open interest the model treats as missing).
    pub fn warnings(&self) -> u64 {
        self.ingested.iter().map(|r| r.warnings_total).sum()
    }
}

impl fmt::Display for IngestSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} files: {} ingested, {} rejected; {} rows added, {} already present",
            self.files(),
            self.ingested.len(),
            self.rejected.len(),
            self.rows_added(),
            self.rows_already_present()
        )?;
        if self.conflicts() > 0 {
            write!(
                f,
                " ({} of them conflicting: stored with other values, stored values kept)",
                self.conflicts()
            )?;
        }
        if self.files_over_limit > 0 {
            write!(
                f,
                "\n{} more files not looked at (at most {FILES_PER_RUN_MAX} per run)",
                self.files_over_limit
            )?;
        }
        if self.warnings() > 0 {
            write!(
                f,
                "\n{} rows with implausible open interest (stored; the model treats them as missing)",
                self.warnings()
            )?;
        }
        for report in &self.ingested {
            for warning in &report.warnings {
                write!(f, "\nwarning: {warning}")?;
            }
            let unlisted = report.warnings_total - report.warnings.len() as u64;
            if unlisted > 0 {
                write!(
                    f,
                    "\nwarning: {}: {unlisted} more warnings not listed",
                    report.path.display()
                )?;
            }
            for conflict in &report.conflicts {
                write!(f, "\nconflict: {conflict}")?;
            }
            let unlisted = report.counts.conflicts - report.conflicts.len() as u64;
            if unlisted > 0 {
                write!(
                    f,
                    "\nconflict: {}: {unlisted} more conflicting rows not listed",
                    report.path.display()
                )?;
            }
        }
        for error in &self.rejected {
            write!(f, "\nrejected: {error}")?;
        }
        Ok(())
    }
}

/// Ingests files and folders (folders recursively, in sorted order, their `.zip` and `.csv`
/// files; `.CHECKSUM` files are read with the file they belong to, not on their own). One bad file never stops the others.
/// With `progress`, shows a progress bar when stderr is a terminal.
pub fn ingest_paths(store: &Store, paths: &[PathBuf], progress: bool) -> IngestSummary {
    let mut summary = IngestSummary::default();
    let mut files = Vec::new();
    for path in paths {
        collect_files(path, 0, &mut files, &mut summary);
    }
    if files.len() > FILES_PER_RUN_MAX {
        summary.files_over_limit = files.len() - FILES_PER_RUN_MAX;
        files.truncate(FILES_PER_RUN_MAX);
    }
    let bar = progress_bar(progress, files.len());
    for path in &files {
        bar.set_message(path.display().to_string());
        match ingest_file(store, path) {
            Ok(report) => {
                bar.suspend(|| log_ingested(&report));
                summary.ingested.push(report);
            }
            Err(error) => {
                bar.suspend(|| log::warn!("{error}"));
                summary.rejected.push(error);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    summary
}

fn log_ingested(report: &FileReport) {
    log::info!(
        "{}: {}, {} rows added, {} already present, {} conflicting",
        report.path.display(),
        report.format,
        report.rows_added(),
        report.rows_already_present(),
        report.counts.conflicts
    );
    let is_zip = report
        .path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("zip"));
    if is_zip && report.checksum == ChecksumStatus::Missing {
        log::info!(
            "{}: no .CHECKSUM file next to it; accepted unverified",
            report.path.display()
        );
    }
}

fn progress_bar(wanted: bool, files: usize) -> ProgressBar {
    if !wanted || files < PROGRESS_FILES_MIN || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(files as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} files {wide_msg}") {
        bar.set_style(style);
    }
    bar
}

/// Appends the `.zip`/`.csv` files under `path` (or `path` itself, if it is a file), sorted.
/// Unreadable paths become rejections.
fn collect_files(path: &Path, depth: usize, files: &mut Vec<PathBuf>, summary: &mut IngestSummary) {
    if files.len() > FILES_PER_RUN_MAX {
        return;
    }
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(source) => {
            summary.rejected.push(IngestError::Io {
                path: path.to_path_buf(),
                source,
            });
            return;
        }
    };
    if !metadata.is_dir() {
        // A file named explicitly is always tried; inside folders only data files are, so a
        // README or licence next to the archives is not reported as a rejected file.
        let named_explicitly = depth == 0;
        if !is_checksum_file(path) && (named_explicitly || is_data_file_name(path)) {
            files.push(path.to_path_buf());
        }
        return;
    }
    if depth >= FOLDER_DEPTH_MAX {
        log::warn!(
            "{}: not descending, folders nest deeper than {FOLDER_DEPTH_MAX}",
            path.display()
        );
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(source) => {
            summary.rejected.push(IngestError::Io {
                path: path.to_path_buf(),
                source,
            });
            return;
        }
    };
    let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    children.sort();
    for child in children {
        collect_files(&child, depth + 1, files, summary);
    }
}

fn is_data_file_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("zip") || ext.eq_ignore_ascii_case("csv"))
}

pub(crate) fn is_checksum_file(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "CHECKSUM")
}
