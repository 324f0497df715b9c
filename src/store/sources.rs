//! Where each symbol's data came from (shown as `source` in REST and snapshots, and marking the
//! bundled demo), and removing bars after a time (the demo replay starting over).

use std::sync::atomic::Ordering;

use duckdb::params;

use super::write::bump_data_version;
use super::{Store, StoreError};

const CREATE_SOURCES: &str = "CREATE TABLE IF NOT EXISTS sources (
    symbol VARCHAR PRIMARY KEY,
    source VARCHAR NOT NULL,
    demo   BOOLEAN NOT NULL
)";

/// The `source` (REST `meta.source`, snapshots' `source`) of a symbol whose origin was never
/// recorded (data ingested from files): the server does not know where it came from, and says so.
pub const SOURCE_UNKNOWN: &str = "unknown";

/// The recorded source of `symbol` in `sources` (`(symbol, source)` pairs from [`Store::sources`]),
/// else [`SOURCE_UNKNOWN`]. The one rule REST answers and snapshots both label their data by.
pub fn source_of<'a>(sources: &'a [(String, String)], symbol: &str) -> &'a str {
    sources.iter().find(|(s, _)| s == symbol).map_or(SOURCE_UNKNOWN, |(_, source)| source.as_str())
}

fn query_error(context: &'static str) -> impl Fn(duckdb::Error) -> StoreError {
    move |source| StoreError::Query { context, source }
}

impl Store {
    /// Records where `symbol`'s data came from, and whether it is the bundled demo.
    pub fn set_source(&self, symbol: &str, source: &str, demo: bool) -> Result<(), StoreError> {
        let context = "recording a data source";
        self.conn.execute_batch(CREATE_SOURCES).map_err(query_error(context))?;
        self.conn
            .execute(
                "INSERT INTO sources (symbol, source, demo) VALUES (?, ?, ?)
                 ON CONFLICT (symbol) DO UPDATE SET source = excluded.source, demo = excluded.demo",
                params![symbol, source, demo],
            )
            .map_err(query_error(context))?;
        Ok(())
    }

    /// `(symbol, source, demo)` for every symbol with a recorded source, by symbol.
    pub fn sources(&self) -> Result<Vec<(String, String, bool)>, StoreError> {
        let context = "reading data sources";
        self.conn.execute_batch(CREATE_SOURCES).map_err(query_error(context))?;
        let mut statement = self
            .conn
            .prepare("SELECT symbol, source, demo FROM sources ORDER BY symbol")
            .map_err(query_error(context))?;
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .map_err(query_error(context))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(query_error(context))
    }

    /// Symbols whose data is the bundled demo.
    pub fn demo_symbols(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.sources()?.into_iter().filter(|(_, _, demo)| *demo).map(|(s, _, _)| s).collect())
    }

    /// Deletes `symbol`'s candles and open interest after `after_ms`. Returns rows deleted.
    pub fn delete_bars_after(&self, symbol: &str, after_ms: i64) -> Result<u64, StoreError> {
        let context = "deleting bars";
        let _one_writer = self.write_lock.lock().unwrap_or_else(|poison| poison.into_inner());
        let tx = self.conn.unchecked_transaction().map_err(query_error(context))?;
        let candles = tx
            .execute("DELETE FROM candles WHERE symbol = ? AND open_time_ms > ?", params![symbol, after_ms])
            .map_err(query_error(context))?;
        let open_interest = tx
            .execute("DELETE FROM open_interest WHERE symbol = ? AND time_ms > ?", params![symbol, after_ms])
            .map_err(query_error(context))?;
        let deleted = (candles + open_interest) as u64;
        let version = if deleted > 0 { Some(bump_data_version(&tx, context)?) } else { None };
        tx.commit().map_err(query_error(context))?;
        if let Some(version) = version {
            self.data_version.fetch_max(version, Ordering::AcqRel);
        }
        Ok(deleted)
    }
}
