//! Writes: every call is one transaction, and rows whose key is already stored are left unchanged
//! and counted, which makes re-ingesting a file a no-op.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use duckdb::{params, Connection};

use super::query::query_all;
use super::schema::META_DATA_VERSION;
use super::realised::{insert_realised, RealisedSeries};
use super::rows::{ConflictValues, InsertOutcome, RowConflict, CONFLICTS_LISTED_MAX};
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
        self.insert_series_reporting(candles, open_interest, &[])
            .map(|outcome| outcome.counts)
    }

    /// [`Store::insert_series`], also listing the rows whose key was stored with other values
    /// (conflicts). The stored row is always kept; see [`RowConflict`] for the policy.
    pub fn insert_series_reporting(
        &self,
        candles: &[CandleSeries],
        open_interest: &[OpenInterestSeries],
        realised: &[RealisedSeries],
    ) -> Result<InsertOutcome, StoreError> {
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
        let mut outcome = InsertOutcome::default();
        for (index, series) in candles.iter().enumerate() {
            let (added, present) = insert_candles(&self.conn, index, series, &mut outcome)?;
            outcome.counts.candles_added += added;
            outcome.counts.candles_already_present += present;
        }
        for (index, series) in open_interest.iter().enumerate() {
            let (added, present) = insert_open_interest(&self.conn, index, series, &mut outcome)?;
            outcome.counts.open_interest_added += added;
            outcome.counts.open_interest_already_present += present;
        }
        for (index, series) in realised.iter().enumerate() {
            let (added, present) = insert_realised(&self.conn, index, series, &mut outcome)?;
            outcome.counts.realised_added += added;
            outcome.counts.realised_already_present += present;
        }
        let counts = outcome.counts;
        let new_version = if counts.rows_added() > 0 {
            Some(bump_data_version(&tx, context)?)
        } else {
            None
        };
        tx.commit().map_err(StoreError::query(context))?;
        if let Some(version) = new_version {
            self.data_version.fetch_max(version, Ordering::AcqRel);
        }
        Ok(outcome)
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

/// Returns (added, already present).
fn insert_candles(
    conn: &Connection,
    series_index: usize,
    series: &CandleSeries,
    outcome: &mut InsertOutcome,
) -> Result<(u64, u64), StoreError> {
    let context = "inserting candles";
    let Some((first, last)) = time_span(series.candles.iter().map(|c| c.open_time_ms)) else {
        return Ok((0, 0));
    };
    let stored: BTreeMap<i64, Candle> = query_all(
        conn,
        "reading stored candles",
        "SELECT open_time_ms, open, high, low, close, volume, quote_volume, taker_buy_volume, \
         trade_count FROM candles \
         WHERE symbol = ? AND interval_ms = ? AND open_time_ms BETWEEN ? AND ?",
        params![series.symbol, series.interval_ms, first, last],
        |row| {
            let candle = Candle {
                open_time_ms: row.get(0)?,
                open: row.get(1)?,
                high: row.get(2)?,
                low: row.get(3)?,
                close: row.get(4)?,
                volume: row.get(5)?,
                quote_volume: row.get(6)?,
                taker_buy_volume: row.get(7)?,
                trade_count: row.get(8)?,
            };
            Ok((candle.open_time_ms, candle))
        },
    )?;
    let rows = NewRows { table: "candles", context, symbol: &series.symbol, series_index, rows: &series.candles };
    append_new(
        conn,
        rows,
        stored,
        |c| c.open_time_ms,
        |stored, new| ConflictValues::Candle { stored, new },
        |appender, c| {
            appender.append_row(params![
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
        },
        outcome,
    )
}

/// Returns (added, already present).
fn insert_open_interest(
    conn: &Connection,
    series_index: usize,
    series: &OpenInterestSeries,
    outcome: &mut InsertOutcome,
) -> Result<(u64, u64), StoreError> {
    let context = "inserting open interest";
    let Some((first, last)) = time_span(series.points.iter().map(|p| p.time_ms)) else {
        return Ok((0, 0));
    };
    let stored: BTreeMap<i64, OpenInterestPoint> = query_all(
        conn,
        "reading stored open interest",
        "SELECT time_ms, contracts, value_usd FROM open_interest \
         WHERE symbol = ? AND time_ms BETWEEN ? AND ?",
        params![series.symbol, first, last],
        |row| {
            let point = OpenInterestPoint {
                time_ms: row.get(0)?,
                contracts: row.get(1)?,
                value_usd: row.get(2)?,
            };
            Ok((point.time_ms, point))
        },
    )?;
    let rows = NewRows { table: "open_interest", context, symbol: &series.symbol, series_index, rows: &series.points };
    append_new(
        conn,
        rows,
        stored,
        |p| p.time_ms,
        |stored, new| ConflictValues::OpenInterest { stored, new },
        |appender, p| appender.append_row(params![series.symbol, p.time_ms, p.contracts, p.value_usd]),
        outcome,
    )
}

/// One series' rows bound for one table.
pub(crate) struct NewRows<'a, T> {
    pub table: &'static str,
    pub context: &'static str,
    pub symbol: &'a str,
    pub series_index: usize,
    pub rows: &'a [T],
}

/// Appends the rows whose key (`key`) is not in `stored`; a row whose key is stored is counted
/// as already present and, when its values differ, noted as a conflict. Returns (added,
/// already present). Repeated keys within `rows` after the first count as already present.
pub(crate) fn append_new<T: Copy>(
    conn: &Connection,
    new: NewRows<'_, T>,
    mut stored: BTreeMap<i64, T>,
    key: impl Fn(&T) -> i64,
    conflict: impl Fn(T, T) -> ConflictValues,
    append: impl Fn(&mut duckdb::Appender<'_>, &T) -> duckdb::Result<()>,
    outcome: &mut InsertOutcome,
) -> Result<(u64, u64), StoreError> {
    let mut appender = conn.appender(new.table).map_err(StoreError::query(new.context))?;
    let mut added = 0u64;
    for (row_index, row) in new.rows.iter().enumerate() {
        if let Some(kept) = stored.get(&key(row)) {
            note_conflict(outcome, new.symbol, new.series_index, row_index, conflict(*kept, *row));
            continue;
        }
        stored.insert(key(row), *row);
        append(&mut appender, row).map_err(StoreError::query(new.context))?;
        added += 1;
    }
    appender.flush().map_err(StoreError::query(new.context))?;
    Ok((added, new.rows.len() as u64 - added))
}

/// Counts (and, up to the bound, lists) a row already present with other values. Identical
/// rows, and rows differing only in fields one side does not record, are no conflict.
fn note_conflict(
    outcome: &mut InsertOutcome,
    symbol: &str,
    series_index: usize,
    row_index: usize,
    values: ConflictValues,
) {
    if values.differing_fields().is_empty() {
        return;
    }
    outcome.counts.conflicts += 1;
    if outcome.conflicts.len() < CONFLICTS_LISTED_MAX {
        outcome.conflicts.push(RowConflict {
            symbol: symbol.to_string(),
            series_index,
            row_index,
            values,
        });
    }
}

fn time_span(times: impl Iterator<Item = i64>) -> Option<(i64, i64)> {
    times.fold(None, |span, t| match span {
        None => Some((t, t)),
        Some((lo, hi)) => Some((lo.min(t), hi.max(t))),
    })
}
