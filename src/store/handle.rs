//! The `Store` handle: opening a file or an in-memory database, and sharing it between threads.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use duckdb::Connection;

use super::open_registry::OpenPathGuard;
use super::{schema, StoreError};

/// A connection to the market-data database. `Send` but not `Sync`: give each thread its own
/// handle from [`Store::try_clone`].
#[derive(Debug)]
pub struct Store {
    pub(crate) conn: Connection,
    /// Shared by every clone so a write on one thread is visible to cache checks on another.
    pub(crate) data_version: Arc<AtomicU64>,
    /// Shared by every clone: one write transaction at a time, because concurrent writers would
    /// both update the data version row and DuckDB would abort one of them with a conflict.
    pub(crate) write_lock: Arc<Mutex<()>>,
    /// Keeps the file registered as open in this process until the last clone is dropped.
    open_path_guard: Option<Arc<OpenPathGuard>>,
    path: Option<PathBuf>,
}

impl Store {
    /// Opens (creating if needed) the database file at `path`.
    ///
    /// Fails with [`StoreError::InUse`] when another process has the file open,
    /// [`StoreError::SchemaTooNew`] when a newer release wrote it.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref();
        let guard =
            OpenPathGuard::acquire(path).ok_or_else(|| StoreError::AlreadyOpenInThisProcess {
                path: path.to_path_buf(),
            })?;
        let conn = Connection::open(path).map_err(|source| classify_open_error(path, source))?;
        let data_version = schema::prepare(&conn, path)?;
        Ok(Store {
            conn,
            data_version: Arc::new(AtomicU64::new(data_version)),
            write_lock: Arc::new(Mutex::new(())),
            open_path_guard: Some(Arc::new(guard)),
            path: Some(path.to_path_buf()),
        })
    }

    /// A private, empty database that lives as long as this handle and its clones.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let path = Path::new(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let data_version = schema::prepare(&conn, path)?;
        Ok(Store {
            conn,
            data_version: Arc::new(AtomicU64::new(data_version)),
            write_lock: Arc::new(Mutex::new(())),
            open_path_guard: None,
            path: None,
        })
    }

    /// Another connection to the same database, for use on another thread of this process.
    pub fn try_clone(&self) -> Result<Store, StoreError> {
        let conn = self
            .conn
            .try_clone()
            .map_err(StoreError::query("cloning the connection"))?;
        Ok(Store {
            conn,
            data_version: Arc::clone(&self.data_version),
            write_lock: Arc::clone(&self.write_lock),
            open_path_guard: self.open_path_guard.clone(),
            path: self.path.clone(),
        })
    }

    /// The file this store was opened from (`None` for an in-memory store).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// A number that grows whenever a write adds rows (on any clone of this store), so callers can
    /// key caches on it. It is also persisted, so it keeps growing across restarts.
    pub fn data_version(&self) -> u64 {
        self.data_version.load(Ordering::Acquire)
    }
}

/// DuckDB reports a file locked by another process as an IO error "Could not set lock on file";
/// turn that into the typed error the CLI can explain.
fn classify_open_error(path: &Path, source: duckdb::Error) -> StoreError {
    let detail = source.to_string();
    if detail.contains("Could not set lock on file") || detail.contains("Conflicting lock") {
        return StoreError::InUse {
            path: path.to_path_buf(),
            detail,
        };
    }
    StoreError::Open {
        path: path.to_path_buf(),
        source,
    }
}
