//! Realised liquidations per bar (USD force-closed per side during each bar), as aggregated
//! exports publish them: the ground truth the backtest scores the model against.
//!
//! The table is created on first use (`CREATE TABLE IF NOT EXISTS`), so databases made before it
//! existed gain it without a schema-version change.

use duckdb::{params, Connection};

use super::query::query_all;
use super::rows::{ConflictValues, InsertOutcome};
use super::read::bar_from_row;
use super::write::{append_new, NewRows};
use super::{Store, StoreError};
use crate::engine::Bar;

pub(crate) const CREATE_REALISED: &str = "CREATE TABLE IF NOT EXISTS realised_liquidation_bars (
    symbol               VARCHAR NOT NULL,
    interval_ms          BIGINT  NOT NULL,
    open_time_ms         BIGINT  NOT NULL,
    liquidated_long_usd  DOUBLE  NOT NULL,
    liquidated_short_usd DOUBLE  NOT NULL,
    PRIMARY KEY (symbol, interval_ms, open_time_ms)
)";

/// USD notional of long and short positions force-closed during one bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RealisedLiquidations {
    pub open_time_ms: i64,
    pub long_usd: f64,
    pub short_usd: f64,
}

/// Realised liquidations of one symbol at one bar interval, written together.
#[derive(Debug, Clone, PartialEq)]
pub struct RealisedSeries {
    pub symbol: String,
    pub interval_ms: i64,
    pub bars: Vec<RealisedLiquidations>,
}

/// A stored bar with the liquidations that really happened during it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RealisedBar {
    pub bar: Bar,
    pub liquidated_long_usd: f64,
    pub liquidated_short_usd: f64,
}

impl Store {
    /// `symbol`'s bars that have realised liquidations, at the finest interval that has them,
    /// oldest first, each with the open interest stored at its open time (if any). Without
    /// per-bar figures (an ingested export), the live feed's per-order liquidations are summed
    /// per stored bar instead ([`Store::realised_bars_from_orders`]). Empty when neither is
    /// stored. Returns the interval too.
    pub fn realised_bars(&self, symbol: &str) -> Result<(i64, Vec<RealisedBar>), StoreError> {
        let context = "reading realised liquidations";
        self.conn
            .execute_batch(CREATE_REALISED)
            .map_err(StoreError::query(context))?;
        let intervals: Vec<i64> = query_all(
            &self.conn,
            context,
            "SELECT DISTINCT interval_ms FROM realised_liquidation_bars WHERE symbol = ? \
             ORDER BY interval_ms LIMIT 1",
            params![symbol],
            |row| row.get(0),
        )?;
        let Some(&interval_ms) = intervals.first() else {
            return self.realised_bars_from_orders(symbol);
        };
        let bars = query_all(
            &self.conn,
            context,
            "SELECT c.open_time_ms, c.open, c.high, c.low, c.close, c.volume, c.quote_volume,
                    c.taker_buy_volume, o.value_usd, r.liquidated_long_usd, r.liquidated_short_usd
             FROM realised_liquidation_bars r
             JOIN candles c ON c.symbol = r.symbol AND c.interval_ms = r.interval_ms
                            AND c.open_time_ms = r.open_time_ms
             LEFT JOIN open_interest o ON o.symbol = r.symbol AND o.time_ms = r.open_time_ms
             WHERE r.symbol = ? AND r.interval_ms = ?
             ORDER BY r.open_time_ms",
            params![symbol, interval_ms],
            |row| {
                Ok(RealisedBar {
                    // Columns 0-8 are laid out as every bar query lays them out.
                    bar: bar_from_row(row)?,
                    liquidated_long_usd: row.get(9)?,
                    liquidated_short_usd: row.get(10)?,
                })
            },
        )?;
        Ok((interval_ms, bars))
    }

    /// The live feed's `forceOrder` liquidations (`realised_liquidations`) summed per stored bar
    /// of `symbol` at its finest interval: every bar from the one holding the first stored
    /// liquidation to the one holding the last (a bar in between with none scores 0 USD), each
    /// with its open interest as the engine reads it ([`Store::bars`]). The stream is a sample
    /// (the exchange sends at most one liquidation per symbol per second), so the sums are lower
    /// bounds of what really happened. Returns `(interval_ms, bars)`; empty when none are stored.
    pub fn realised_bars_from_orders(&self, symbol: &str) -> Result<(i64, Vec<RealisedBar>), StoreError> {
        let context = "reading the live feed's realised liquidations";
        self.conn
            .execute_batch(super::liquidations::CREATE_REALISED_LIQUIDATIONS)
            .map_err(StoreError::query(context))?;
        let Some(interval_ms) = self.finest_interval_ms(symbol)? else {
            return Ok((0, Vec::new()));
        };
        let span: Vec<(Option<i64>, Option<i64>)> = query_all(
            &self.conn,
            context,
            "SELECT min(time_ms), max(time_ms) FROM realised_liquidations WHERE symbol = ?",
            params![symbol],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        let Some(&(Some(first_liquidation_ms), Some(last_ms))) = span.first() else {
            return Ok((interval_ms, Vec::new()));
        };
        // Bars open on multiples of their interval: bucket from the first one's open time.
        let first_ms = first_liquidation_ms - first_liquidation_ms.rem_euclid(interval_ms);
        let end_ms = last_ms - last_ms.rem_euclid(interval_ms) + interval_ms;
        let sums: std::collections::BTreeMap<i64, super::RealisedTotals> =
            self.realised_totals(symbol, first_ms, last_ms, interval_ms)?.into_iter().collect();
        let bars = self
            .bars(symbol, first_ms, end_ms)?
            .into_iter()
            .map(|bar| {
                let totals = sums.get(&bar.open_time_ms).copied().unwrap_or_default();
                RealisedBar { bar, liquidated_long_usd: totals.long_usd, liquidated_short_usd: totals.short_usd }
            })
            .collect();
        Ok((interval_ms, bars))
    }
}

/// Inserts one series inside the caller's transaction; returns (added, already present).
pub(crate) fn insert_realised(
    conn: &Connection,
    series_index: usize,
    series: &RealisedSeries,
    outcome: &mut InsertOutcome,
) -> Result<(u64, u64), StoreError> {
    let context = "inserting realised liquidations";
    conn.execute_batch(CREATE_REALISED)
        .map_err(StoreError::query(context))?;
    let (Some(first), Some(last)) = (
        series.bars.iter().map(|b| b.open_time_ms).min(),
        series.bars.iter().map(|b| b.open_time_ms).max(),
    ) else {
        return Ok((0, 0));
    };
    let stored: std::collections::BTreeMap<i64, RealisedLiquidations> = query_all(
        conn,
        context,
        "SELECT open_time_ms, liquidated_long_usd, liquidated_short_usd \
         FROM realised_liquidation_bars \
         WHERE symbol = ? AND interval_ms = ? AND open_time_ms BETWEEN ? AND ?",
        params![series.symbol, series.interval_ms, first, last],
        |row| {
            let bar = RealisedLiquidations {
                open_time_ms: row.get(0)?,
                long_usd: row.get(1)?,
                short_usd: row.get(2)?,
            };
            Ok((bar.open_time_ms, bar))
        },
    )?;
    let rows = NewRows {
        table: "realised_liquidation_bars",
        context,
        symbol: &series.symbol,
        series_index,
        rows: &series.bars,
    };
    append_new(
        conn,
        rows,
        stored,
        |b| b.open_time_ms,
        |stored, new| ConflictValues::RealisedLiquidations { stored, new },
        |appender, b| {
            appender.append_row(params![
                series.symbol,
                series.interval_ms,
                b.open_time_ms,
                b.long_usd,
                b.short_usd
            ])
        },
        outcome,
    )
}
