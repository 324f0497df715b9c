//! `GET /liquidations/realised?symbol=&start=&end=[&limit=]`: the realised liquidations the live
//! feed stored (the exchange's `forceOrder` stream, at most one per symbol per second: a sample).

use serde::Serialize;

use super::params::{self, QueryParams};
use super::{RestContext, RestError};
use crate::core::time::iso8601_utc_ms;
use crate::store::{RealisedLiquidation, Store, LIQUIDATIONS_PER_QUERY_MAX};

/// `start`/`end` as the issue names them; `start_time`/`end_time` as the other endpoints do.
const ALLOWED: [&str; 6] = ["symbol", "start", "end", "start_time", "end_time", "limit"];
const DEFAULT_LIMIT: usize = 1_000;
const NOTE: &str = "sample: the exchange publishes at most one liquidation per symbol per second";

#[derive(Serialize)]
struct Row<'a> {
    timestamp: String,
    #[serde(flatten)]
    liquidation: &'a RealisedLiquidation,
}

#[derive(Serialize)]
struct Answer<'a> {
    data: Vec<Row<'a>>,
    meta: Meta<'a>,
}

#[derive(Serialize)]
struct Meta<'a> {
    symbol: &'a str,
    start_time: String,
    end_time: String,
    /// Rows in `data`.
    count: usize,
    /// Rows in the window; more than `count` when `limit` cut the answer.
    matched: usize,
    /// Sums over the whole window (all `matched` rows), not only the rows in `data`.
    total_long_usd: f64,
    total_short_usd: f64,
    truncated: bool,
    note: &'static str,
}

pub fn handle(store: &Store, ctx: &RestContext, query: &str) -> Result<Vec<u8>, RestError> {
    let params = QueryParams::parse(query, &ALLOWED)?;
    let symbol = params.symbol(&ctx.supported_symbols)?;
    let start = either(&params, "start", "start_time")?;
    let end = either(&params, "end", "end_time")?;
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(text) => text.parse::<usize>().ok().filter(|n| (1..=LIQUIDATIONS_PER_QUERY_MAX).contains(n)).ok_or_else(|| {
            RestError::bad_request("INVALID_PARAMETER", format!("limit {text:?} must be an integer from 1 to {LIQUIDATIONS_PER_QUERY_MAX}"))
        })?,
    };
    let db = |e: crate::store::StoreError| RestError::internal(format!("database: {e}"));
    // Without an end, up to now-ish: the newest stored bar's close, or the newest liquidation.
    let newest_bar_end = store.time_range(&symbol).map_err(db)?.map(|(_, last)| last + 300_000);
    let end_ms = match end {
        Some(end) => end,
        None => newest_bar_end.unwrap_or(i64::MAX / 2).max(start.unwrap_or(0) + 1),
    };
    let start_ms = start.unwrap_or(end_ms - params::window_ms("48h")?);
    if start_ms >= end_ms {
        return Err(RestError::unprocessable(
            "INVALID_WINDOW",
            format!("start {} is not before end {}", iso8601_utc_ms(start_ms), iso8601_utc_ms(end_ms)),
        ));
    }
    let rows = store.realised_liquidations(&symbol, start_ms, end_ms, limit).map_err(db)?;
    // The totals cover the whole window, not only the rows returned: one bucket [start, end).
    let window = store.realised_totals(&symbol, start_ms, start_ms, end_ms - start_ms).map_err(db)?;
    let window = window.first().map(|(_, totals)| *totals).unwrap_or_default();
    let matched = usize::try_from(window.count).unwrap_or(usize::MAX);
    debug_assert!(matched >= rows.len(), "the window holds at least the rows read from it");
    let answer = Answer {
        data: rows.iter().map(|l| Row { timestamp: iso8601_utc_ms(l.time_ms), liquidation: l }).collect(),
        meta: Meta {
            symbol: &symbol,
            start_time: iso8601_utc_ms(start_ms),
            end_time: iso8601_utc_ms(end_ms),
            count: rows.len(),
            matched,
            total_long_usd: window.long_usd,
            total_short_usd: window.short_usd,
            truncated: matched > rows.len(),
            note: NOTE,
        },
    };
    serde_json::to_vec(&answer).map_err(|e| RestError::internal(format!("serialising the answer: {e}")))
}

/// A time given under either of two names; both at once is refused.
fn either(params: &QueryParams, name: &str, alias: &str) -> Result<Option<i64>, RestError> {
    match (params.time(name)?, params.time(alias)?) {
        (Some(_), Some(_)) => Err(RestError::bad_request("INVALID_PARAMETER", format!("give {name} or {alias}, not both"))),
        (a, b) => Ok(a.or(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineParams;
    use crate::store::{LiquidatedSide, RealisedLiquidation};

    fn context() -> RestContext {
        RestContext {
            supported_symbols: vec!["BTCUSDT".into()],
            warmup_days: 0,
            levels_max: 1_000,
            engine_params: EngineParams::default(),
            sources: Vec::new(),
        }
    }

    fn store_with(rows: usize) -> Store {
        let store = Store::open_in_memory().unwrap();
        let liquidations: Vec<RealisedLiquidation> = (0..rows)
            .map(|i| RealisedLiquidation {
                symbol: "BTCUSDT".into(),
                time_ms: 1_000 * i as i64,
                side: if i % 2 == 0 { LiquidatedSide::Long } else { LiquidatedSide::Short },
                price: 100.0,
                quantity: 1.0,
                notional_usd: 100.0,
            })
            .collect();
        store.insert_realised_liquidations(&liquidations).unwrap();
        store
    }

    fn answer(store: &Store, query: &str) -> serde_json::Value {
        serde_json::from_slice(&handle(store, &context(), query).unwrap()).unwrap()
    }

    #[test]
    fn a_truncated_answer_sums_the_whole_window_and_says_how_many_matched() {
        let store = store_with(5);
        let cut = answer(&store, "symbol=BTCUSDT&start=0&end=10000&limit=2");
        assert_eq!(cut["data"].as_array().unwrap().len(), 2, "{cut}");
        assert_eq!(cut["meta"]["count"], 2);
        assert_eq!(cut["meta"]["matched"], 5);
        assert_eq!(cut["meta"]["truncated"], true);
        assert_eq!(cut["meta"]["total_long_usd"], 300.0, "three long rows in the window, one in data");
        assert_eq!(cut["meta"]["total_short_usd"], 200.0);
        let whole = answer(&store, "symbol=BTCUSDT&start=0&end=10000&limit=5");
        assert_eq!(whole["meta"]["truncated"], false, "{whole}");
        assert_eq!(whole["meta"]["total_long_usd"], cut["meta"]["total_long_usd"]);
    }

    #[test]
    fn the_largest_limit_still_reports_truncation() {
        let store = store_with(LIQUIDATIONS_PER_QUERY_MAX + 1);
        let query = format!("symbol=BTCUSDT&start=0&end={}&limit={LIQUIDATIONS_PER_QUERY_MAX}", 1_000 * (LIQUIDATIONS_PER_QUERY_MAX as i64 + 1));
        let cut = answer(&store, &query);
        assert_eq!(cut["meta"]["count"], LIQUIDATIONS_PER_QUERY_MAX);
        assert_eq!(cut["meta"]["matched"], LIQUIDATIONS_PER_QUERY_MAX + 1);
        assert_eq!(cut["meta"]["truncated"], true);
    }

    #[test]
    fn an_empty_window_has_zero_totals_not_negative_zero() {
        let store = store_with(0);
        let empty = handle(&store, &context(), "symbol=BTCUSDT&start=0&end=10000").unwrap();
        let text = String::from_utf8(empty).unwrap();
        assert!(text.contains("\"total_long_usd\":0.0") && text.contains("\"matched\":0"), "{text}");
    }
}
