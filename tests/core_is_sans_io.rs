//! The core must stay sans-IO: no clock reads, no threads, no mio, no filesystem, no sockets.
//! Clippy's `disallowed_methods` (denied in src/core) catches calls; this test also catches
//! imports and paths, and runs with `make test` even where clippy does not.

// Tests and benches drive real processes, sockets and clocks; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::fs;
use std::path::{Path, PathBuf};

const FORBIDDEN: [&str; 9] = [
    "Instant::now",
    "SystemTime",
    "mio::",
    "std::thread",
    "std::fs",
    "std::net::TcpStream",
    "std::net::TcpListener",
    "std::process",
    "std::env",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src/core exists") {
        let path = entry.expect("readable entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn core_source_names_no_clock_thread_socket_or_filesystem_api() {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core"), &mut files);
    assert!(files.len() > 10, "expected the core's files, found {}", files.len());
    let mut violations = Vec::new();
    for file in files {
        let text = fs::read_to_string(&file).expect("readable source");
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for needle in FORBIDDEN {
                if code.contains(needle) {
                    violations.push(format!("{}:{}: {}", file.display(), number + 1, line.trim()));
                }
            }
        }
    }
    assert!(violations.is_empty(), "the core must stay sans-IO:\n{}", violations.join("\n"));
}

#[test]
fn core_denies_the_disallowed_method_lints() {
    let module = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core/mod.rs")).unwrap();
    assert!(module.contains("#![deny(clippy::disallowed_methods, clippy::disallowed_types)]"));
}
