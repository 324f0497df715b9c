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

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lhm-static-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn files_inside_the_folder_are_loaded_by_relative_path() {
        let root = temp_dir("inside");
        fs::create_dir_all(root.join("js")).unwrap();
        fs::write(root.join("coinglass_heatmap.html"), b"<html>").unwrap();
        fs::write(root.join("js/app.js"), b"x").unwrap();
        let files = load_frontend(&root, 1 << 20).unwrap();
        assert!(files.lookup("/coinglass_heatmap.html").is_ok());
        assert!(files.lookup("/js/app.js").is_ok());
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn a_symlink_leading_out_of_the_folder_is_not_loaded() {
        let root = temp_dir("symlink");
        let outside = temp_dir("symlink-target");
        fs::write(outside.join("secret.txt"), b"do not serve").unwrap();
        std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("secret.txt")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
        let files = load_frontend(&root, 1 << 20).unwrap();
        assert!(files.is_empty(), "nothing inside the folder is a regular file of its own");
        let _ = fs::remove_dir_all(&root);
        let _ = fs::remove_dir_all(&outside);
    }

    #[test]
    fn a_folder_over_the_byte_bound_is_refused() {
        let root = temp_dir("bound");
        fs::write(root.join("big.bin"), vec![0u8; 2048]).unwrap();
        assert!(load_frontend(&root, 1024).is_err());
        let _ = fs::remove_dir_all(&root);
    }
}
