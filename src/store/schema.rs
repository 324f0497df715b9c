//! Schema creation and version check, run once when a file is opened.

use std::path::Path;

use duckdb::{params, Connection};

use super::query::query_all;
use super::StoreError;

/// Version of the table layout below. Bump it (and add a migration) when the layout changes.
pub const SCHEMA_VERSION: i64 = 1;

pub(crate) const META_SCHEMA_VERSION: &str = "schema_version";
pub(crate) const META_DATA_VERSION: &str = "data_version";

const CREATE_TABLES: &str = "
CREATE TABLE meta (
    key   VARCHAR PRIMARY KEY,
    value BIGINT NOT NULL
);
CREATE TABLE candles (
    symbol           VARCHAR NOT NULL,
    interval_ms      BIGINT  NOT NULL,
    open_time_ms     BIGINT  NOT NULL,
    open             DOUBLE  NOT NULL,
    high             DOUBLE  NOT NULL,
    low              DOUBLE  NOT NULL,
    close            DOUBLE  NOT NULL,
    volume           DOUBLE,
    quote_volume     DOUBLE,
    taker_buy_volume DOUBLE,
    trade_count      BIGINT,
    PRIMARY KEY (symbol, interval_ms, open_time_ms)
);
CREATE TABLE open_interest (
    symbol    VARCHAR NOT NULL,
    time_ms   BIGINT  NOT NULL,
    contracts DOUBLE,
    value_usd DOUBLE,
    PRIMARY KEY (symbol, time_ms)
);
";

/// Creates the tables in an empty database, or checks the version of an existing one.
/// Returns the stored data version.
pub(crate) fn prepare(conn: &Connection, path: &Path) -> Result<u64, StoreError> {
    let tables = table_names(conn)?;
    if !tables.iter().any(|name| name == "meta") {
        if !tables.is_empty() {
            return Err(StoreError::NotOurDatabase {
                path: path.to_path_buf(),
                detail: format!("it has tables ({}) but no `meta` table", tables.join(", ")),
            });
        }
        create(conn)?;
        create_additive(conn)?;
        return Ok(0);
    }
    let found =
        read_meta(conn, META_SCHEMA_VERSION).map_err(|detail| StoreError::NotOurDatabase {
            path: path.to_path_buf(),
            detail,
        })?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found < SCHEMA_VERSION {
        // No older layout was ever released, so there is nothing to migrate from.
        return Err(StoreError::NotOurDatabase {
            path: path.to_path_buf(),
            detail: format!("unknown schema version {found}"),
        });
    }
    create_additive(conn)?;
    let data_version =
        read_meta(conn, META_DATA_VERSION).map_err(|detail| StoreError::NotOurDatabase {
            path: path.to_path_buf(),
            detail,
        })?;
    Ok(u64::try_from(data_version).unwrap_or(0))
}

/// Tables added after version 1 without changing it: created if missing, on every open.
fn create_additive(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(super::liquidations::CREATE_REALISED_LIQUIDATIONS)
        .map_err(StoreError::query("creating the realised_liquidations table"))
}

fn table_names(conn: &Connection) -> Result<Vec<String>, StoreError> {
    query_all(
        conn,
        "inspecting the schema",
        "SELECT table_name FROM duckdb_tables() \
         WHERE NOT temporary AND schema_name = 'main' ORDER BY table_name",
        params![],
        |row| row.get::<_, String>(0),
    )
}

fn create(conn: &Connection) -> Result<(), StoreError> {
    let tx = conn
        .unchecked_transaction()
        .map_err(StoreError::query("creating the schema"))?;
    tx.execute_batch(CREATE_TABLES)
        .map_err(StoreError::query("creating the schema"))?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?), (?, 0)",
        params![META_SCHEMA_VERSION, SCHEMA_VERSION, META_DATA_VERSION],
    )
    .map_err(StoreError::query("creating the schema"))?;
    tx.commit()
        .map_err(StoreError::query("creating the schema"))
}

fn read_meta(conn: &Connection, key: &str) -> Result<i64, String> {
    conn.query_row(
        "SELECT value FROM meta WHERE key = ?",
        params![key],
        |row| row.get(0),
    )
    .map_err(|e| format!("cannot read `{key}` from the meta table: {e}"))
}
