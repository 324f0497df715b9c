//! Typed store errors: callers tell "another process holds the file" apart from query failures.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug)]
pub enum StoreError {
    /// Another process holds DuckDB's write lock on the file.
    InUse { path: PathBuf, detail: String },
    /// This process already has the file open; share it with [`super::Store::try_clone`] instead.
    AlreadyOpenInThisProcess { path: PathBuf },
    /// The file was written by a newer version of this program.
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// The file is a DuckDB database but not one this program created, or its metadata is damaged.
    NotOurDatabase { path: PathBuf, detail: String },
    /// DuckDB refused to open the file for another reason (permissions, corruption, ...).
    Open {
        path: PathBuf,
        source: duckdb::Error,
    },
    /// A query or write failed; `context` names the operation.
    Query {
        context: &'static str,
        source: duckdb::Error,
    },
    /// `klines` was asked for an interval that the stored bars cannot be aggregated into.
    IntervalNotMultiple { requested_ms: i64, finest_ms: i64 },
    /// A time range or series would return more rows than a query may.
    TooManyRows { rows_max: usize },
}

impl StoreError {
    pub(crate) fn query(context: &'static str) -> impl FnOnce(duckdb::Error) -> StoreError {
        move |source| StoreError::Query { context, source }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::InUse { path, detail } => write!(
                f,
                "database {} is in use by another process (is the server running?): {detail}",
                path.display()
            ),
            StoreError::AlreadyOpenInThisProcess { path } => write!(
                f,
                "database {} is already open in this process; share it with Store::try_clone",
                path.display()
            ),
            StoreError::SchemaTooNew {
                path,
                found,
                supported,
            } => write!(
                f,
                "database {} has schema version {found}, newer than the {supported} this program \
                 supports; upgrade liquidationheatmap",
                path.display()
            ),
            StoreError::NotOurDatabase { path, detail } => write!(
                f,
                "{} is not a liquidationheatmap database: {detail}",
                path.display()
            ),
            StoreError::Open { path, source } => {
                write!(f, "cannot open database {}: {source}", path.display())
            }
            StoreError::Query { context, source } => write!(f, "{context}: {source}"),
            StoreError::IntervalNotMultiple {
                requested_ms,
                finest_ms,
            } => write!(
                f,
                "interval {requested_ms} ms is not a positive multiple of the stored {finest_ms} ms bars"
            ),
            StoreError::TooManyRows { rows_max } => {
                write!(f, "query would return more than {rows_max} rows; narrow the time range")
            }
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Open { source, .. } | StoreError::Query { source, .. } => Some(source),
            _ => None,
        }
    }
}
