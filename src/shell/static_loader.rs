//! Loads the frontend folder into memory at startup.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::core::StaticFiles;

/// Most files loaded from the frontend folder.
const FILES_MAX: usize = 4096;
/// Deepest folder nesting followed.
const DEPTH_MAX: usize = 16;

/// Loads every regular file under `root` whose real path stays inside `root`. Symlinks that lead
/// outside are skipped (and logged), so nothing outside the folder can ever be served.
pub fn load_frontend(root: &Path, bytes_max: usize) -> io::Result<StaticFiles> {
    let root = fs::canonicalize(root)
        .map_err(|e| io::Error::new(e.kind(), format!("frontend folder {}: {e}", root.display())))?;
    let mut files = StaticFiles::new();
    let mut total_bytes = 0usize;
    let mut pending: Vec<(PathBuf, usize)> = vec![(root.clone(), 0)];
    while let Some((dir, depth)) = pending.pop() {
        let mut entries: Vec<_> = fs::read_dir(&dir)?.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let Ok(real) = fs::canonicalize(&path) else { continue };
            if !real.starts_with(&root) {
                log::warn!("event=static_skip path={:?} reason=outside_frontend_dir", path);
                continue;
            }
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') || name == "node_modules" {
                continue;
            }
            if real.is_dir() {
                if depth < DEPTH_MAX {
                    pending.push((real, depth + 1));
                }
                continue;
            }
            let relative = path
                .strip_prefix(&root)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            let body = fs::read(&real)?;
            total_bytes += body.len();
            if files.len() >= FILES_MAX || total_bytes > bytes_max {
                return Err(io::Error::other(format!(
                    "frontend folder {} holds more than {FILES_MAX} files or {bytes_max} bytes",
                    root.display()
                )));
            }
            files.insert(relative, body);
        }
    }
    Ok(files)
}
