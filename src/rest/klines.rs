//! `GET /prices/klines`.

use serde_json::json;

use super::params::{self, QueryParams};
use super::{RestContext, RestError};
use crate::core::time::iso8601_utc_ms;
use crate::store::{Store, KLINES_PER_QUERY_MAX};

const ALLOWED: [&str; 5] = ["symbol", "interval", "limit", "start_time", "end_time"];
const DEFAULT_INTERVAL: &str = "5m";
const DEFAULT_LIMIT: usize = 500;

pub fn handle(store: &Store, ctx: &RestContext, query: &str) -> Result<Vec<u8>, RestError> {
    let params = QueryParams::parse(query, &ALLOWED)?;
    let symbol = params.symbol(&ctx.supported_symbols)?;
    let interval_name = params.get("interval").unwrap_or(DEFAULT_INTERVAL);
    let interval_ms = params::interval_ms(interval_name)?;
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=KLINES_PER_QUERY_MAX).contains(n))
            .ok_or_else(|| RestError::bad_request("INVALID_PARAMETER", format!("limit {text:?} must be an integer from 1 to {KLINES_PER_QUERY_MAX}")))?,
    };
    let db = |e: crate::store::StoreError| RestError::internal(format!("database: {e}"));
    let finest = store.finest_interval_ms(&symbol).map_err(db)?;
    let range = store.time_range(&symbol).map_err(db)?;
    let (Some(finest_ms), Some((_, last_ms))) = (finest, range) else {
        return Ok(answer(&symbol, interval_name, &[]));
    };
    if interval_ms < finest_ms || interval_ms % finest_ms != 0 {
        return Err(RestError::unprocessable(
            "INVALID_INTERVAL",
            format!("interval {interval_name} is finer than, or not a multiple of, the stored {} s bars", finest_ms / 1000),
        ));
    }
    let end_ms = params.time("end_time")?.unwrap_or(last_ms + finest_ms);
    // Without a start, the newest `limit` candles up to the end.
    let start_ms = params.time("start_time")?.unwrap_or(end_ms - interval_ms * limit as i64);
    if start_ms >= end_ms {
        return Err(RestError::unprocessable("INVALID_WINDOW", "start_time is not before end_time"));
    }
    let klines = store.klines(&symbol, interval_ms, start_ms, end_ms, limit).map_err(db)?;
    Ok(answer(&symbol, interval_name, &klines))
}

fn answer(symbol: &str, interval: &str, klines: &[crate::store::Kline]) -> Vec<u8> {
    let data: Vec<_> = klines
        .iter()
        .map(|k| {
            json!({
                "timestamp": iso8601_utc_ms(k.timestamp_ms),
                "timestamp_ms": k.timestamp_ms,
                "open": k.open,
                "high": k.high,
                "low": k.low,
                "close": k.close,
                "volume": k.volume,
            })
        })
        .collect();
    json!({ "symbol": symbol, "interval": interval, "count": data.len(), "data": data }).to_string().into_bytes()
}
