//! `liquidationheatmap ingest PATH...`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::AppConfig;
use crate::ingest::ingest_paths;
use crate::store::Store;

/// Ingests `paths` into the database; exit 0 when every file went in, 1 when any was rejected or
/// the database could not be opened (for example because the server holds it).
pub fn ingest_command(config: &AppConfig, db: Option<PathBuf>, paths: &[PathBuf]) -> ExitCode {
    let db_path = db.unwrap_or_else(|| config.duckdb_path.clone());
    let store = match Store::open(&db_path) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("liquidationheatmap ingest: {e}");
            return ExitCode::FAILURE;
        }
    };
    let summary = ingest_paths(&store, paths, std::io::stderr().is_terminal());
    println!("{summary}");
    if summary.rejected.is_empty() && summary.files() > 0 {
        ExitCode::SUCCESS
    } else {
        if summary.files() == 0 {
            eprintln!("liquidationheatmap ingest: no files found under {}", display_paths(paths));
        }
        ExitCode::FAILURE
    }
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths.iter().map(|p: &PathBuf| Path::display(p).to_string()).collect::<Vec<_>>().join(", ")
}
