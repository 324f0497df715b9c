//! `GET /liquidations/heatmap-timeseries`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::params::{self, QueryParams, INTERVALS};
use super::{RestContext, RestError};
use crate::core::time::iso8601_utc_ms;
use crate::engine::{self, timeseries::run, EngineParams, TimeseriesError};
use crate::store::{RealisedTotals, Store};

const ALLOWED: [&str; 7] =
    ["symbol", "time_window", "start_time", "end_time", "interval", "price_bin_size", "leverage_weights"];

/// Snapshots an automatically chosen interval aims to stay under.
const AUTO_SNAPSHOTS_TARGET: i64 = 600;
/// The window used when neither `time_window` nor `start_time`/`end_time` is given.
const DEFAULT_WINDOW: &str = "48h";
const DAY_MS: i64 = 86_400_000;

pub fn handle(store: &Store, ctx: &RestContext, query: &str) -> Result<Vec<u8>, RestError> {
    let params = QueryParams::parse(query, &ALLOWED)?;
    let symbol = params.symbol(&ctx.supported_symbols)?;
    let engine_params = match params.get("leverage_weights") {
        None => ctx.engine_params.clone(),
        Some(text) => {
            let tiers = EngineParams::parse_weights(text)
                .map_err(|e| RestError::bad_request("INVALID_WEIGHTS", format!("leverage_weights: {e}")))?;
            EngineParams { tiers, ..ctx.engine_params.clone() }
        }
    };
    let bin_size = match params.get("price_bin_size") {
        None => None,
        Some(text) => Some(
            text.parse::<f64>()
                .ok()
                .filter(|b| b.is_finite() && *b >= engine::BIN_SIZE_MIN && *b <= engine::BIN_SIZE_MAX)
                .ok_or_else(|| {
                    RestError::bad_request(
                        "INVALID_BIN_SIZE",
                        format!("price_bin_size {text:?} must be a number from {} to {}", engine::BIN_SIZE_MIN, engine::BIN_SIZE_MAX),
                    )
                })?,
        ),
    };
    let db = |e: crate::store::StoreError| RestError::internal(format!("database: {e}"));
    let finest_ms = store.finest_interval_ms(&symbol).map_err(db)?;
    let range = store.time_range(&symbol).map_err(db)?;
    let (Some(finest_ms), Some((_, last_ms))) = (finest_ms, range) else {
        return Ok(empty_answer(&symbol, ctx));
    };
    let (start_ms, end_ms) = window(&params, last_ms)?;
    let (interval_name, interval_ms) = interval(&params, start_ms, end_ms, finest_ms)?;
    let warmup_start_ms = start_ms.saturating_sub(i64::from(ctx.warmup_days) * DAY_MS);
    let bars = store.bars(&symbol, warmup_start_ms, end_ms.saturating_add(1)).map_err(db)?;
    let series = run(&bars, &engine_params, start_ms, end_ms, interval_ms, bin_size, ctx.levels_max).map_err(|e| match e {
        TimeseriesError::TooManyLevels { levels_max } => RestError::unprocessable(
            "ANSWER_TOO_LARGE",
            format!(
                "the answer would hold more than {levels_max} price levels over its snapshots (the server's REST_MAX_LEVELS); \
                 ask for a coarser interval, a larger price_bin_size or a shorter window"
            ),
        ),
        TimeseriesError::Params(p) => RestError::bad_request("INVALID_WEIGHTS", p.to_string()),
        TimeseriesError::BinSizeInvalid { .. } => RestError::bad_request("INVALID_BIN_SIZE", e.to_string()),
        TimeseriesError::Bar { .. } => RestError::internal(format!("stored data rejected by the model: {e}")),
        TimeseriesError::NoPriceForBinSize => RestError::unprocessable("INVALID_WINDOW", format!("{e}; the data starts later")),
        other => RestError::unprocessable("INVALID_WINDOW", other.to_string()),
    })?;
    // Serialised straight from the engine's snapshots: going through a `serde_json::Value`
    // first would build and drop a tree of a million small allocations for a week of levels.
    // Each column's realised liquidations: those in the bars it covers, [t - interval + bar, t + bar).
    let first_bucket_ms = series.snapshots.first().map_or(0, |s| s.timestamp_ms - interval_ms + finest_ms);
    let last_bucket_ms = series.snapshots.last().map_or(-1, |s| s.timestamp_ms - interval_ms + finest_ms);
    let realised: BTreeMap<i64, RealisedTotals> =
        store.realised_totals(&symbol, first_bucket_ms, last_bucket_ms, interval_ms).map_err(db)?.into_iter().collect();
    let columns: Vec<Column<'_>> = series
        .snapshots
        .iter()
        .map(|snapshot| {
            let totals = realised.get(&(snapshot.timestamp_ms - interval_ms + finest_ms)).copied().unwrap_or_default();
            Column { snapshot, realised_long_usd: totals.long_usd, realised_short_usd: totals.short_usd }
        })
        .collect();
    let answer = Answer {
        data: &columns,
        meta: Meta {
            symbol: &symbol,
            start_time: iso8601_utc_ms(start_ms),
            end_time: iso8601_utc_ms(end_ms),
            interval: interval_name,
            total_snapshots: series.snapshots.len(),
            price_range: series.price_range.map(|r| Range { min: r.min, max: r.max }),
            total_long_volume: series.total_long_volume,
            total_short_volume: series.total_short_volume,
            total_consumed: series.total_consumed,
            source: ctx.source_of(&symbol),
            price_bin_size: series.bin_size,
            warmup_start_time: iso8601_utc_ms(warmup_start_ms),
            bars_used: bars.len(),
        },
    };
    serde_json::to_vec(&answer).map_err(|e| RestError::internal(format!("serialising the answer: {e}")))
}

/// One column: the engine's snapshot plus the realised liquidation USD of its interval (a sample,
/// see docs/live_feed.md).
#[derive(Serialize)]
struct Column<'a> {
    #[serde(flatten)]
    snapshot: &'a engine::Snapshot,
    realised_long_usd: f64,
    realised_short_usd: f64,
}

#[derive(Serialize)]
struct Answer<'a> {
    data: &'a [Column<'a>],
    meta: Meta<'a>,
}

#[derive(Serialize)]
struct Meta<'a> {
    symbol: &'a str,
    start_time: String,
    end_time: String,
    interval: &'a str,
    total_snapshots: usize,
    price_range: Option<Range>,
    total_long_volume: f64,
    total_short_volume: f64,
    total_consumed: f64,
    source: &'a str,
    price_bin_size: f64,
    warmup_start_time: String,
    bars_used: usize,
}

#[derive(Serialize)]
struct Range {
    min: f64,
    max: f64,
}

/// `[start, end]` from `start_time`/`end_time` or `time_window` (ending at the newest data, since
/// the stored data may be historical).
fn window(params: &QueryParams, last_ms: i64) -> Result<(i64, i64), RestError> {
    let start = params.time("start_time")?;
    let end = params.time("end_time")?;
    if (start.is_some() || end.is_some()) && params.get("time_window").is_some() {
        return Err(RestError::unprocessable("INVALID_WINDOW", "give either time_window or start_time/end_time, not both"));
    }
    let (start_ms, end_ms) = match (start, end) {
        (None, None) => {
            let length = params::window_ms(params.get("time_window").unwrap_or(DEFAULT_WINDOW))?;
            (last_ms - length, last_ms)
        }
        (start, end) => {
            let end_ms = end.unwrap_or(last_ms);
            let start_ms = start.unwrap_or(end_ms - params::window_ms(DEFAULT_WINDOW)?);
            (start_ms, end_ms)
        }
    };
    if start_ms >= end_ms {
        return Err(RestError::unprocessable("INVALID_WINDOW", format!(
            "start {} is not before end {}",
            iso8601_utc_ms(start_ms),
            iso8601_utc_ms(end_ms)
        )));
    }
    Ok((start_ms, end_ms))
}

/// The requested interval, or the finest named one giving at most about 600 snapshots.
fn interval(params: &QueryParams, start_ms: i64, end_ms: i64, finest_ms: i64) -> Result<(&'static str, i64), RestError> {
    if let Some(name) = params.get("interval") {
        let ms = params::interval_ms(name)?;
        if ms < finest_ms || ms % finest_ms != 0 {
            return Err(RestError::unprocessable(
                "INVALID_INTERVAL",
                format!("interval {name} is finer than, or not a multiple of, the stored {} s bars", finest_ms / 1000),
            ));
        }
        let named = INTERVALS.iter().find(|(n, _)| *n == name).map(|(n, _)| *n).unwrap_or("5m");
        return Ok((named, ms));
    }
    let span = end_ms - start_ms;
    let chosen = INTERVALS
        .iter()
        .find(|(_, ms)| *ms >= finest_ms && ms % finest_ms == 0 && span / ms <= AUTO_SNAPSHOTS_TARGET)
        .unwrap_or(&INTERVALS[INTERVALS.len() - 1]);
    Ok(*chosen)
}

fn empty_answer(symbol: &str, ctx: &RestContext) -> Vec<u8> {
    json!({
        "data": [],
        "meta": {
            "symbol": symbol,
            "start_time": null,
            "end_time": null,
            "interval": null,
            "total_snapshots": 0,
            "price_range": null,
            "total_long_volume": 0.0,
            "total_short_volume": 0.0,
            "total_consumed": 0.0,
            "source": ctx.source_of(symbol),
        },
    })
    .to_string()
    .into_bytes()
}
