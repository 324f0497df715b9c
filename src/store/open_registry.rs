//! Files this process has open. DuckDB's file lock is per process, so a second `Store::open` of the
//! same file in one process would not be stopped by the lock and would run two database instances
//! on one file; this registry refuses that instead.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

static OPEN_PATHS: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Holds a path in the registry until dropped (shared by every clone of a store).
#[derive(Debug)]
pub(crate) struct OpenPathGuard {
    path: PathBuf,
}

impl OpenPathGuard {
    /// Registers `path`; `None` when this process already has it open.
    pub(crate) fn acquire(path: &Path) -> Option<OpenPathGuard> {
        let key = canonical(path);
        let mut open = OPEN_PATHS
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if !open.insert(key.clone()) {
            return None;
        }
        Some(OpenPathGuard { path: key })
    }
}

impl Drop for OpenPathGuard {
    fn drop(&mut self) {
        let mut open = OPEN_PATHS
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        open.remove(&self.path);
    }
}

/// The same file reached through different spellings must map to one key; the file itself may not
/// exist yet, so canonicalise its folder.
fn canonical(path: &Path) -> PathBuf {
    if let Ok(full) = path.canonicalize() {
        return full;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            parent
                .canonicalize()
                .map(|dir| dir.join(name))
                .unwrap_or_else(|_| path.to_path_buf())
        }
        _ => path.to_path_buf(),
    }
}
