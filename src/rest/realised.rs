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
    count: usize,
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
    let rows = store.realised_liquidations(&symbol, start_ms, end_ms, limit + 1).map_err(db)?;
    let truncated = rows.len() > limit;
    let rows = &rows[..rows.len().min(limit)];
    // fold from +0.0: `Sum for f64` starts at -0.0, which an empty window would print as "-0.0".
    let total = |side: crate::store::LiquidatedSide| rows.iter().filter(|r| r.side == side).fold(0.0, |sum, r| sum + r.notional_usd);
    let answer = Answer {
        data: rows.iter().map(|l| Row { timestamp: iso8601_utc_ms(l.time_ms), liquidation: l }).collect(),
        meta: Meta {
            symbol: &symbol,
            start_time: iso8601_utc_ms(start_ms),
            end_time: iso8601_utc_ms(end_ms),
            count: rows.len(),
            total_long_usd: total(crate::store::LiquidatedSide::Long),
            total_short_usd: total(crate::store::LiquidatedSide::Short),
            truncated,
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
