//! Queries: bars for the engine, aggregated klines for charts, and catalogue information.

use duckdb::{params, Row};

use super::query::query_all;
use super::{
    Kline, RowCounts, Store, StoreError, BARS_PER_QUERY_MAX, KLINES_PER_QUERY_MAX,
    OPEN_INTEREST_PERIOD_MS,
};
use crate::engine::Bar;

/// Bars are stored at Unix times, never before 1970; clamping the caller's lower bound keeps the
/// `$4 - $1` arithmetic in SQL from overflowing for "from the beginning" requests like `i64::MIN`.
const EARLIEST_TIME_MS: i64 = 0;

/// Bars at one interval joined as-of with open interest: each bar takes the latest known USD open
/// interest at or before its open time, unless that sample is older than the tolerance (`$1`).
/// `$2` symbol, `$3` interval, `$4` the earliest time of interest. `candle_filter` and `limit`
/// narrow the candles before the join so that the join only touches the rows asked for.
fn bars_sql(candle_filter: &str, limit: &str) -> String {
    format!(
        "SELECT c.open_time_ms, c.open, c.high, c.low, c.close,
                c.volume, c.quote_volume, c.taker_buy_volume,
                CASE WHEN c.open_time_ms - o.time_ms <= $1 THEN o.value_usd END
         FROM (
             SELECT * FROM candles
             WHERE symbol = $2 AND interval_ms = $3 AND {candle_filter}
             ORDER BY open_time_ms LIMIT {limit}
         ) c
         ASOF LEFT JOIN (
             SELECT time_ms, value_usd FROM open_interest
             WHERE symbol = $2 AND value_usd IS NOT NULL AND time_ms >= $4 - $1
         ) o ON c.open_time_ms >= o.time_ms
         ORDER BY c.open_time_ms"
    )
}

impl Store {
    /// Bars of `symbol` at its finest stored interval with open time in `[start_ms, end_ms)`,
    /// ordered by time. Each bar carries the latest USD open interest at or before its open time,
    /// unless that sample is older than one bar interval (and at least
    /// [`OPEN_INTEREST_PERIOD_MS`]). Unknown symbol: empty.
    pub fn bars(&self, symbol: &str, start_ms: i64, end_ms: i64) -> Result<Vec<Bar>, StoreError> {
        let Some(interval_ms) = self.finest_interval_ms(symbol)? else {
            return Ok(Vec::new());
        };
        let sql = bars_sql("open_time_ms >= $4 AND open_time_ms < $5", "$6");
        let bars = self.query_bars(
            &sql,
            params![
                oi_tolerance_ms(interval_ms),
                symbol,
                interval_ms,
                start_ms.max(EARLIEST_TIME_MS),
                end_ms,
                (BARS_PER_QUERY_MAX + 1) as i64
            ],
        )?;
        if bars.len() > BARS_PER_QUERY_MAX {
            return Err(StoreError::TooManyRows {
                rows_max: BARS_PER_QUERY_MAX,
            });
        }
        Ok(bars)
    }

    /// Up to `limit` (at most [`BARS_PER_QUERY_MAX`]) bars opening strictly after `after_ms`,
    /// oldest first: how a live feed asks "what is new since the last bar I saw".
    pub fn bars_after(
        &self,
        symbol: &str,
        after_ms: i64,
        limit: usize,
    ) -> Result<Vec<Bar>, StoreError> {
        let Some(interval_ms) = self.finest_interval_ms(symbol)? else {
            return Ok(Vec::new());
        };
        let sql = bars_sql("open_time_ms > $4", "$5");
        self.query_bars(
            &sql,
            params![
                oi_tolerance_ms(interval_ms),
                symbol,
                interval_ms,
                after_ms.max(EARLIEST_TIME_MS - 1),
                limit.min(BARS_PER_QUERY_MAX) as i64
            ],
        )
    }

    fn query_bars(&self, sql: &str, params: &[&dyn duckdb::ToSql]) -> Result<Vec<Bar>, StoreError> {
        query_all(&self.conn, "reading bars", sql, params, bar_from_row)
    }

    /// Candles of `symbol` aggregated from its finest stored interval to `interval_ms` buckets
    /// (aligned to the Unix epoch) whose start lies in `[start_ms, end_ms)`: first open, highest
    /// high, lowest low, last close, summed volume. Oldest first, at most `limit` (clamped to
    /// [`KLINES_PER_QUERY_MAX`]). `interval_ms` must be a multiple of the stored interval.
    pub fn klines(
        &self,
        symbol: &str,
        interval_ms: i64,
        start_ms: i64,
        end_ms: i64,
        limit: usize,
    ) -> Result<Vec<Kline>, StoreError> {
        let Some(finest_ms) = self.finest_interval_ms(symbol)? else {
            return Ok(Vec::new());
        };
        if interval_ms <= 0 || interval_ms % finest_ms != 0 {
            return Err(StoreError::IntervalNotMultiple {
                requested_ms: interval_ms,
                finest_ms,
            });
        }
        // A bucket starting in [start, end) holds the bars in [ceil(start), ceil(end)).
        let first_bar_ms = ceil_to_multiple(start_ms, interval_ms);
        let end_bar_ms = ceil_to_multiple(end_ms, interval_ms);
        query_all(
            &self.conn,
            "reading klines",
            "SELECT open_time_ms - (open_time_ms % $1) AS bucket,
                    arg_min(open, open_time_ms), max(high), min(low),
                    arg_max(close, open_time_ms),
                    CASE WHEN count(volume) = count(*) THEN sum(volume) END
             FROM candles
             WHERE symbol = $2 AND interval_ms = $3
               AND open_time_ms >= $4 AND open_time_ms < $5
             GROUP BY bucket ORDER BY bucket LIMIT $6",
            params![
                interval_ms,
                symbol,
                finest_ms,
                first_bar_ms,
                end_bar_ms,
                limit.min(KLINES_PER_QUERY_MAX) as i64
            ],
            |row| {
                Ok(Kline {
                    timestamp_ms: row.get(0)?,
                    open: row.get(1)?,
                    high: row.get(2)?,
                    low: row.get(3)?,
                    close: row.get(4)?,
                    volume: row.get(5)?,
                })
            },
        )
    }

    /// Every symbol that has candles, sorted.
    pub fn symbols(&self) -> Result<Vec<String>, StoreError> {
        query_all(
            &self.conn,
            "listing symbols",
            "SELECT DISTINCT symbol FROM candles ORDER BY symbol",
            params![],
            |row| row.get::<_, String>(0),
        )
    }

    /// Open times of the first and last bar [`Store::bars`] can return for `symbol`.
    pub fn time_range(&self, symbol: &str) -> Result<Option<(i64, i64)>, StoreError> {
        let Some(interval_ms) = self.finest_interval_ms(symbol)? else {
            return Ok(None);
        };
        let range: (Option<i64>, Option<i64>) = self
            .conn
            .query_row(
                "SELECT min(open_time_ms), max(open_time_ms) FROM candles \
                 WHERE symbol = ? AND interval_ms = ?",
                params![symbol, interval_ms],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(StoreError::query("reading the time range"))?;
        Ok(range.0.zip(range.1))
    }

    /// The smallest candle interval stored for `symbol`, in milliseconds.
    pub fn finest_interval_ms(&self, symbol: &str) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT min(interval_ms) FROM candles WHERE symbol = ?",
                params![symbol],
                |row| row.get(0),
            )
            .map_err(StoreError::query("reading the finest interval"))
    }

    /// Rows stored per table.
    pub fn row_counts(&self) -> Result<RowCounts, StoreError> {
        let count = |sql: &str| -> Result<u64, StoreError> {
            self.conn
                .query_row(sql, [], |row| row.get::<_, i64>(0))
                .map(|n| u64::try_from(n).unwrap_or(0))
                .map_err(StoreError::query("counting rows"))
        };
        Ok(RowCounts {
            candles: count("SELECT count(*) FROM candles")?,
            open_interest: count("SELECT count(*) FROM open_interest")?,
        })
    }
}

/// A bar from columns 0-8: open time, OHLC, volume, quote volume, taker-buy volume, USD OI.
pub(crate) fn bar_from_row(row: &Row<'_>) -> duckdb::Result<Bar> {
    Ok(Bar {
        open_time_ms: row.get(0)?,
        open: row.get(1)?,
        high: row.get(2)?,
        low: row.get(3)?,
        close: row.get(4)?,
        volume: row.get(5)?,
        quote_volume: row.get(6)?,
        taker_buy_volume: row.get(7)?,
        open_interest_usd: row.get(8)?,
    })
}

/// How old an open-interest sample may be and still describe a bar: one bar interval, but never
/// less than the exchange's publication period.
fn oi_tolerance_ms(interval_ms: i64) -> i64 {
    interval_ms.max(OPEN_INTEREST_PERIOD_MS)
}

fn ceil_to_multiple(value: i64, step: i64) -> i64 {
    let floor = value.div_euclid(step).saturating_mul(step);
    if floor == value {
        value
    } else {
        floor.saturating_add(step)
    }
}
