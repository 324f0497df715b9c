//! Realised liquidations (the exchange's `forceOrder` stream): one row per liquidation order, stored
//! once each, read back for `GET /liquidations/realised`, the per-interval sums of the
//! heatmap timeseries, and the page's markers.
//!
//! The exchange pushes at most one liquidation per symbol per second on this stream, so the table
//! is a sample of what was liquidated, not a total.

use std::sync::atomic::Ordering;

use duckdb::params;
use serde::Serialize;

use super::query::query_all;
use super::write::bump_data_version;
use super::{Store, StoreError};

/// Table of single liquidation orders. Additive to schema version 1: created when any database is
/// opened (see `schema::prepare`), so older files gain it without a migration.
pub(crate) const CREATE_REALISED_LIQUIDATIONS: &str = "CREATE TABLE IF NOT EXISTS realised_liquidations (
    symbol       VARCHAR NOT NULL,
    time_ms      BIGINT  NOT NULL,
    side         VARCHAR NOT NULL,
    price        DOUBLE  NOT NULL,
    quantity     DOUBLE  NOT NULL,
    notional_usd DOUBLE  NOT NULL,
    PRIMARY KEY (symbol, time_ms, side, price, quantity)
)";

/// Most rows one `realised_liquidations` call returns.
pub const LIQUIDATIONS_PER_QUERY_MAX: usize = 10_000;

/// Which side's position was force-closed. The exchange's order side is the opposite: a SELL
/// order liquidates a long position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LiquidatedSide {
    Long,
    Short,
}

impl LiquidatedSide {
    pub fn as_str(self) -> &'static str {
        match self {
            LiquidatedSide::Long => "long",
            LiquidatedSide::Short => "short",
        }
    }

    fn parse(text: &str) -> Option<LiquidatedSide> {
        match text {
            "long" => Some(LiquidatedSide::Long),
            "short" => Some(LiquidatedSide::Short),
            _ => None,
        }
    }
}

/// One realised liquidation: time is the exchange's trade time (Unix ms UTC), price the average
/// fill price (USDT), quantity the filled base-asset quantity, notional = price × quantity (USD).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RealisedLiquidation {
    pub symbol: String,
    pub time_ms: i64,
    pub side: LiquidatedSide,
    pub price: f64,
    pub quantity: f64,
    pub notional_usd: f64,
}

/// Realised liquidation USD of one time bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RealisedTotals {
    pub long_usd: f64,
    pub short_usd: f64,
    pub count: u64,
}

impl Store {
    /// Stores liquidations whose key (symbol, time, side, price, quantity) is not stored yet, in
    /// one transaction; returns the ones that were new, in input order (a repeated message is
    /// stored and returned once).
    pub fn insert_realised_liquidations(
        &self,
        rows: &[RealisedLiquidation],
    ) -> Result<Vec<RealisedLiquidation>, StoreError> {
        let context = "inserting realised liquidations";
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let _one_writer = self.write_lock.lock().unwrap_or_else(|poison| poison.into_inner());
        let tx = self.conn.unchecked_transaction().map_err(StoreError::query(context))?;
        let mut added = Vec::new();
        for row in rows {
            let inserted = tx
                .execute(
                    "INSERT INTO realised_liquidations (symbol, time_ms, side, price, quantity, notional_usd)
                     VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    params![row.symbol, row.time_ms, row.side.as_str(), row.price, row.quantity, row.notional_usd],
                )
                .map_err(StoreError::query(context))?;
            if inserted > 0 {
                added.push(row.clone());
            }
        }
        let version = if added.is_empty() { None } else { Some(bump_data_version(&tx, context)?) };
        tx.commit().map_err(StoreError::query(context))?;
        if let Some(version) = version {
            self.data_version.fetch_max(version, Ordering::AcqRel);
        }
        Ok(added)
    }

    /// Liquidations of `symbol` with time in `[start_ms, end_ms)`, oldest first, at most `limit`
    /// (clamped to [`LIQUIDATIONS_PER_QUERY_MAX`]).
    pub fn realised_liquidations(
        &self,
        symbol: &str,
        start_ms: i64,
        end_ms: i64,
        limit: usize,
    ) -> Result<Vec<RealisedLiquidation>, StoreError> {
        let context = "reading realised liquidations";
        let rows: Vec<Option<RealisedLiquidation>> = query_all(
            &self.conn,
            context,
            "SELECT symbol, time_ms, side, price, quantity, notional_usd FROM realised_liquidations
             WHERE symbol = ? AND time_ms >= ? AND time_ms < ?
             ORDER BY time_ms, side, price, quantity LIMIT ?",
            params![symbol, start_ms, end_ms, limit.min(LIQUIDATIONS_PER_QUERY_MAX) as i64],
            |row| {
                let side: String = row.get(2)?;
                let read = RealisedLiquidation {
                    symbol: row.get(0)?,
                    time_ms: row.get(1)?,
                    side: LiquidatedSide::Long,
                    price: row.get(3)?,
                    quantity: row.get(4)?,
                    notional_usd: row.get(5)?,
                };
                Ok(LiquidatedSide::parse(&side).map(|side| RealisedLiquidation { side, ..read }))
            },
        )?;
        // Only this module writes the side column; an unknown value would be skipped, not fatal.
        Ok(rows.into_iter().flatten().collect())
    }

    /// Realised long and short USD of `symbol` per bucket `[t, t + interval_ms)` for the bucket
    /// starts `first_ms, first_ms + interval_ms, ...` up to `last_ms` inclusive; one entry per
    /// bucket with liquidations, keyed by bucket start.
    pub fn realised_totals(
        &self,
        symbol: &str,
        first_ms: i64,
        last_ms: i64,
        interval_ms: i64,
    ) -> Result<Vec<(i64, RealisedTotals)>, StoreError> {
        let context = "summing realised liquidations";
        if interval_ms <= 0 || last_ms < first_ms {
            return Ok(Vec::new());
        }
        query_all(
            &self.conn,
            context,
            "SELECT $1 + ((time_ms - $1) // $2) * $2 AS bucket,
                    coalesce(sum(notional_usd) FILTER (WHERE side = 'long'), 0),
                    coalesce(sum(notional_usd) FILTER (WHERE side = 'short'), 0),
                    count(*)
             FROM realised_liquidations
             WHERE symbol = $3 AND time_ms >= $1 AND time_ms < $4
             GROUP BY bucket ORDER BY bucket",
            params![first_ms, interval_ms, symbol, last_ms.saturating_add(interval_ms)],
            |row| {
                let count: i64 = row.get(3)?;
                Ok((row.get(0)?, RealisedTotals { long_usd: row.get(1)?, short_usd: row.get(2)?, count: count.max(0) as u64 }))
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn liquidation(time_ms: i64, side: LiquidatedSide, price: f64, quantity: f64) -> RealisedLiquidation {
        RealisedLiquidation { symbol: "BTCUSDT".into(), time_ms, side, price, quantity, notional_usd: price * quantity }
    }

    #[test]
    fn each_liquidation_is_stored_once_and_only_new_ones_are_returned() {
        let store = Store::open_in_memory().unwrap();
        let a = liquidation(1_000, LiquidatedSide::Long, 100.0, 2.0);
        let b = liquidation(1_000, LiquidatedSide::Short, 100.0, 2.0);
        let before = store.data_version();
        assert_eq!(store.insert_realised_liquidations(&[a.clone(), a.clone()]).unwrap(), vec![a.clone()]);
        assert_eq!(store.insert_realised_liquidations(&[a.clone(), b.clone()]).unwrap(), vec![b.clone()]);
        assert!(store.data_version() > before, "a new row invalidates cached answers");
        assert_eq!(store.realised_liquidations("BTCUSDT", 0, 2_000, 10).unwrap(), vec![a, b]);
        assert!(store.realised_liquidations("BTCUSDT", 1_001, 2_000, 10).unwrap().is_empty(), "end is exclusive of earlier rows");
        assert!(store.realised_liquidations("ETHUSDT", 0, 2_000, 10).unwrap().is_empty());
    }

    #[test]
    fn totals_are_summed_per_bucket_by_side() {
        let store = Store::open_in_memory().unwrap();
        store
            .insert_realised_liquidations(&[
                liquidation(0, LiquidatedSide::Long, 10.0, 1.0),
                liquidation(299_999, LiquidatedSide::Long, 10.0, 2.0),
                liquidation(300_000, LiquidatedSide::Short, 5.0, 1.0),
                liquidation(900_000, LiquidatedSide::Long, 1.0, 1.0),
            ])
            .unwrap();
        let totals = store.realised_totals("BTCUSDT", 0, 600_000, 300_000).unwrap();
        assert_eq!(totals.len(), 2, "{totals:?}");
        assert_eq!(totals[0], (0, RealisedTotals { long_usd: 30.0, short_usd: 0.0, count: 2 }));
        assert_eq!(totals[1], (300_000, RealisedTotals { long_usd: 0.0, short_usd: 5.0, count: 1 }));
    }
}
