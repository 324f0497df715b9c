//! A fresh clone must pass its tests: no code, test, script or page may read files from beside the
//! checkout (the project's shared data folder exists next to the CI checkout, not in a user's
//! clone). What a test needs is copied into tests/fixtures.

// Reads the repository's files; the sans-IO lints are for src/core.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};

/// Folders and files whose text is searched, relative to the repository root.
const SEARCHED: [&str; 7] = ["src", "tests", "sim", "frontend", ".ci", "Makefile", "Cargo.toml"];

/// Files larger than this are data, not code (fixtures, archives).
const TEXT_FILE_BYTES_MAX: u64 = 1024 * 1024;

fn files_under(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        if path.file_name().is_some_and(|n| n == "node_modules" || n == "fixtures") {
            return;
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .map(|entry| entry.expect("directory entry").path())
            .collect();
        entries.sort();
        for entry in entries {
            files_under(&entry, out);
        }
    } else if path.is_file() {
        out.push(path.to_path_buf());
    }
}

#[test]
fn no_code_or_test_reads_outside_the_repository() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // Spelled in two parts so this file does not match itself.
    let needle = format!("{}/{}", "..", "shared");
    let mut files = Vec::new();
    for name in SEARCHED {
        files_under(&root.join(name), &mut files);
    }
    assert!(files.len() > 50, "only {} files searched: is the repository root right?", files.len());
    let offenders: Vec<String> = files
        .iter()
        .filter(|file| file.metadata().is_ok_and(|m| m.len() <= TEXT_FILE_BYTES_MAX))
        .filter_map(|file| {
            let bytes = std::fs::read(file).ok()?;
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<String> = text
                .lines()
                .enumerate()
                .filter(|(_, line)| line.contains(&needle))
                .map(|(n, _)| format!("{}:{}", file.strip_prefix(&root).unwrap_or(file).display(), n + 1))
                .collect();
            (!lines.is_empty()).then(|| lines.join(", "))
        })
        .collect();
    assert!(offenders.is_empty(), "files outside the repository are referenced (copy what is needed into tests/fixtures): {offenders:?}");
}
