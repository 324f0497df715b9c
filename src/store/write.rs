//! Writes: every call is one transaction, and rows whose key is already stored are left unchanged
//! and counted, which makes re-ingesting a file a no-op.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use duckdb::{params, Connection};

use super::query::query_all;
use super::schema::META_DATA_VERSION;
use super::{
    Candle, CandleSeries, InsertCounts, OpenInterestPoint, OpenInterestSeries, Store, StoreError,
};
use crate::engine::Bar;

impl Store {
    /// Inserts candles and open interest in one transaction. Keys already stored (and repeated keys
    /// within the input after their first occurrence) are skipped and counted as already present.
    pub fn insert_series(
        &self,
        candles: &[CandleSeries],
        open_interest: &[OpenInterestSeries],
    ) -> Result<InsertCounts, StoreError> {
        let context = "inserting rows";
        // A panic while holding the lock cannot leave shared state half-written (the transaction
        // rolls back), so a poisoned lock is still usable.
        let _one_writer = self
            .write_lock
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(StoreError::query(context))?;
        let mut counts = InsertCounts::default();
        for series in candles {
            let (added, present) = insert_candles(&self.conn, series)?;
            counts.candles_added += added;
            counts.candles_already_present += present;
        }
        for series in open_interest {
            let (added, present) = insert_open_interest(&self.conn, series)?;
            counts.open_interest_added += added;
            counts.open_interest_already_present += present;
        }
        let new_version = if counts.rows_added() > 0 {
            Some(bump_data_version(&tx, context)?)
        } else {
            None
        };
        tx.commit().map_err(StoreError::query(context))?;
        if let Some(version) = new_version {
            self.data_version.fetch_max(version, Ordering::AcqRel);
        }
        Ok(counts)
    }

    /// Stores engine bars (the demo seeder and replay feeder use this): each bar becomes a candle,
    /// and its open interest, when known, a sample at the bar's open time. Idempotent.
    pub fn insert_bars(
        &self,
        symbol: &str,
        interval_ms: i64,
        bars: &[Bar],
    ) -> Result<InsertCounts, StoreError> {
        let candles = bars
            .iter()
            .map(|bar| Candle {
                open_time_ms: bar.open_time_ms,
                open: bar.open,
                high: bar.high,
                low: bar.low,
                close: bar.close,
                volume: bar.volume,
                quote_volume: bar.quote_volume,
                taker_buy_volume: bar.taker_buy_volume,
                trade_count: None,
            })
            .collect();
        let points = bars
            .iter()
            .filter_map(|bar| {
                bar.open_interest_usd.map(|value_usd| OpenInterestPoint {
                    time_ms: bar.open_time_ms,
                    contracts: None,
                    value_usd: Some(value_usd),
                })
            })
            .collect();
        self.insert_series(
            &[CandleSeries {
                symbol: symbol.to_string(),
                interval_ms,
                candles,
            }],
            &[OpenInterestSeries {
                symbol: symbol.to_string(),
                points,
            }],
        )
    }
}

/// Returns (added, already present).
/// Increments the stored data version inside `tx` and returns the new value; every write that
/// changes rows does this so cached answers are invalidated.
pub(crate) fn bump_data_version(tx: &duckdb::Transaction<'_>, context: &'static str) -> Result<u64, StoreError> {
    let version: i64 = tx
        .query_row(
            "UPDATE meta SET value = value + 1 WHERE key = ? RETURNING value",
            params![META_DATA_VERSION],
            |row| row.get(0),
        )
        .map_err(StoreError::query(context))?;
    Ok(u64::try_from(version).unwrap_or(0))
}

fn insert_candles(conn: &Connection, series: &CandleSeries) -> Result<(u64, u64), StoreError> {
    let context = "inserting candles";
    let Some((first, last)) = time_span(series.candles.iter().map(|c| c.open_time_ms)) else {
        return Ok((0, 0));
    };
    let mut taken = keys_in_span(
        conn,
        "SELECT open_time_ms FROM candles \
         WHERE symbol = ? AND interval_ms = ? AND open_time_ms BETWEEN ? AND ?",
        params![series.symbol, series.interval_ms, first, last],
    )?;
    let mut appender = conn
        .appender("candles")
        .map_err(StoreError::query(context))?;
    let mut added = 0u64;
    for c in &series.candles {
        if !taken.insert(c.open_time_ms) {
            continue;
        }
        appender
            .append_row(params![
                series.symbol,
                series.interval_ms,
                c.open_time_ms,
                c.open,
                c.high,
                c.low,
                c.close,
                c.volume,
                c.quote_volume,
                c.taker_buy_volume,
                c.trade_count,
            ])
            .map_err(StoreError::query(context))?;
        added += 1;
    }
    appender.flush().map_err(StoreError::query(context))?;
    Ok((added, series.candles.len() as u64 - added))
}

/// Returns (added, already present).
fn insert_open_interest(
    conn: &Connection,
    series: &OpenInterestSeries,
) -> Result<(u64, u64), StoreError> {
    let context = "inserting open interest";
    let Some((first, last)) = time_span(series.points.iter().map(|p| p.time_ms)) else {
        return Ok((0, 0));
    };
    let mut taken = keys_in_span(
        conn,
        "SELECT time_ms FROM open_interest WHERE symbol = ? AND time_ms BETWEEN ? AND ?",
        params![series.symbol, first, last],
    )?;
    let mut appender = conn
        .appender("open_interest")
        .map_err(StoreError::query(context))?;
    let mut added = 0u64;
    for p in &series.points {
        if !taken.insert(p.time_ms) {
            continue;
        }
        appender
            .append_row(params![series.symbol, p.time_ms, p.contracts, p.value_usd])
            .map_err(StoreError::query(context))?;
        added += 1;
    }
    appender.flush().map_err(StoreError::query(context))?;
    Ok((added, series.points.len() as u64 - added))
}

fn time_span(times: impl Iterator<Item = i64>) -> Option<(i64, i64)> {
    times.fold(None, |span, t| match span {
        None => Some((t, t)),
        Some((lo, hi)) => Some((lo.min(t), hi.max(t))),
    })
}

/// The stored times in the span a write covers, so the write can skip them without relying on
/// constraint errors (which would abort the whole transaction).
fn keys_in_span(
    conn: &Connection,
    sql: &str,
    params: &[&dyn duckdb::ToSql],
) -> Result<BTreeSet<i64>, StoreError> {
    query_all(conn, "reading stored keys", sql, params, |row| {
        row.get::<_, i64>(0)
    })
}
