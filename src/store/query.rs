//! The one place rows are collected from a prepared statement, with errors naming the operation.

use duckdb::{Connection, Row, ToSql};

use super::StoreError;

/// Runs `sql` with `params` and collects every row mapped by `map`.
pub(crate) fn query_all<T, C: FromIterator<T>>(
    conn: &Connection,
    context: &'static str,
    sql: &str,
    params: &[&dyn ToSql],
    map: impl FnMut(&Row<'_>) -> duckdb::Result<T>,
) -> Result<C, StoreError> {
    let mut stmt = conn.prepare(sql).map_err(StoreError::query(context))?;
    let rows = stmt
        .query_map(params, map)
        .map_err(StoreError::query(context))?;
    let collected = rows
        .collect::<Result<C, _>>()
        .map_err(StoreError::query(context))?;
    Ok(collected)
}
