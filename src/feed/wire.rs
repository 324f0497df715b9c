//! The exchange's wire formats, parsed and validated (Binance USDT-M futures).
//!
//! - Combined stream (`/stream?streams=...`): `{"stream":"btcusdt@kline_5m","data":{...}}`, where
//!   `data` is a kline event `{"e":"kline","E":ms,"s":"BTCUSDT","k":{"t":open_ms,"T":close_ms,
//!   "s":..,"i":"5m","o":"..","h":"..","l":"..","c":"..","v":"..","q":"..","V":"..","n":count,
//!   "x":closed}}` or a liquidation `{"e":"forceOrder","E":ms,"o":{"s":"BTCUSDT","S":"SELL",
//!   "q":"0.014","p":"9910","ap":"9910","X":"FILLED","l":"0.014","z":"0.014","T":ms}}`.
//! - `GET /fapi/v1/klines`: `[[open_ms,"o","h","l","c","v",close_ms,"q",count,"V","Q","0"],...]`.
//! - `GET /futures/data/openInterestHist`: `[{"symbol":..,"sumOpenInterest":"..",
//!   "sumOpenInterestValue":"..","timestamp":ms},...]` (USD value = `sumOpenInterestValue`).
//!
//! Numbers arrive as decimal strings (sometimes as JSON numbers); every one must parse, be finite
//! and lie in range. A message that fails is a [`Rejected`] with a reason from a fixed list, so
//! rejects can be counted by reason without unbounded label values.

use serde_json::Value;

use crate::engine::{check_bar, Bar};
use crate::store::{Candle, LiquidatedSide, OpenInterestPoint, RealisedLiquidation};

/// Why a message was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RejectReason {
    /// Not JSON at all.
    MalformedJson,
    /// JSON, but not the shape of any message we read (missing or mistyped fields).
    UnknownShape,
    /// A stream or event we did not subscribe to.
    UnknownStream,
    /// A symbol outside `SUPPORTED_SYMBOLS`.
    UnsupportedSymbol,
    /// A numeric field that does not parse as a finite number.
    NotNumeric,
    /// A kline the model would refuse (non-positive price, high below low, negative volume, ...).
    InvalidBar,
    /// A kline of another interval than the feed's.
    WrongInterval,
    /// A liquidation with a non-positive price or quantity, or an unknown side.
    InvalidLiquidation,
    /// A message longer than [`MESSAGE_BYTES_MAX`].
    Oversized,
}

impl RejectReason {
    pub const ALL: [RejectReason; 9] = [
        RejectReason::MalformedJson,
        RejectReason::UnknownShape,
        RejectReason::UnknownStream,
        RejectReason::UnsupportedSymbol,
        RejectReason::NotNumeric,
        RejectReason::InvalidBar,
        RejectReason::WrongInterval,
        RejectReason::InvalidLiquidation,
        RejectReason::Oversized,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::MalformedJson => "malformed_json",
            RejectReason::UnknownShape => "unknown_shape",
            RejectReason::UnknownStream => "unknown_stream",
            RejectReason::UnsupportedSymbol => "unsupported_symbol",
            RejectReason::NotNumeric => "not_numeric",
            RejectReason::InvalidBar => "invalid_bar",
            RejectReason::WrongInterval => "wrong_interval",
            RejectReason::InvalidLiquidation => "invalid_liquidation",
            RejectReason::Oversized => "oversized",
        }
    }
}

/// A skipped message: the reason (a metric label) and a human detail for the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub reason: RejectReason,
    pub detail: String,
}

fn reject(reason: RejectReason, detail: impl Into<String>) -> Rejected {
    Rejected { reason, detail: detail.into() }
}

/// Longest stream message read; the exchange's are a few hundred bytes.
pub const MESSAGE_BYTES_MAX: usize = 64 * 1024;

/// One parsed stream message.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamMessage {
    /// A kline update; only `closed` ones are stored.
    Kline { symbol: String, candle: Candle, closed: bool },
    /// A realised liquidation.
    ForceOrder(RealisedLiquidation),
}

impl StreamMessage {
    /// The message type, as counted in metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            StreamMessage::Kline { closed: true, .. } => "kline_closed",
            StreamMessage::Kline { closed: false, .. } => "kline_open",
            StreamMessage::ForceOrder(_) => "force_order",
        }
    }
}

/// The message types counted in metrics (stream message kinds plus control frames).
pub const MESSAGE_KINDS: [&str; 5] = ["kline_closed", "kline_open", "force_order", "ping", "rejected"];

/// Parses one text message of the combined stream.
pub fn parse_stream_message(text: &str, symbols: &[String], interval_ms: i64) -> Result<StreamMessage, Rejected> {
    if text.len() > MESSAGE_BYTES_MAX {
        return Err(reject(RejectReason::Oversized, format!("{} bytes, more than {MESSAGE_BYTES_MAX}", text.len())));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| reject(RejectReason::MalformedJson, e.to_string()))?;
    let stream = value.get("stream").and_then(Value::as_str).ok_or_else(|| reject(RejectReason::UnknownShape, "no \"stream\" string"))?;
    let data = value.get("data").filter(|d| d.is_object()).ok_or_else(|| reject(RejectReason::UnknownShape, "no \"data\" object"))?;
    let event = data.get("e").and_then(Value::as_str).unwrap_or("");
    match event {
        "kline" => parse_kline_event(data, symbols, interval_ms),
        "forceOrder" => parse_force_order(data, symbols),
        other => Err(reject(RejectReason::UnknownStream, format!("stream {stream:?} event {other:?}"))),
    }
}

fn parse_kline_event(data: &Value, symbols: &[String], interval_ms: i64) -> Result<StreamMessage, Rejected> {
    let k = data.get("k").filter(|k| k.is_object()).ok_or_else(|| reject(RejectReason::UnknownShape, "kline without \"k\""))?;
    let symbol = supported_symbol(k.get("s").or_else(|| data.get("s")), symbols)?;
    let open_time_ms = integer(k, "t")?;
    let close_time_ms = integer(k, "T")?;
    if close_time_ms - open_time_ms + 1 != interval_ms {
        return Err(reject(RejectReason::WrongInterval, format!("kline {:?} spans {} ms, not {interval_ms}", k.get("i"), close_time_ms - open_time_ms + 1)));
    }
    let closed = k.get("x").and_then(Value::as_bool).ok_or_else(|| reject(RejectReason::UnknownShape, "kline without boolean \"x\""))?;
    let candle = Candle {
        open_time_ms,
        open: number(k, "o")?,
        high: number(k, "h")?,
        low: number(k, "l")?,
        close: number(k, "c")?,
        volume: Some(number(k, "v")?),
        quote_volume: Some(number(k, "q")?),
        taker_buy_volume: Some(number(k, "V")?),
        trade_count: k.get("n").and_then(Value::as_i64),
    };
    check_candle(&candle, interval_ms)?;
    Ok(StreamMessage::Kline { symbol, candle, closed })
}

fn parse_force_order(data: &Value, symbols: &[String]) -> Result<StreamMessage, Rejected> {
    let o = data.get("o").filter(|o| o.is_object()).ok_or_else(|| reject(RejectReason::UnknownShape, "forceOrder without \"o\""))?;
    let symbol = supported_symbol(o.get("s"), symbols)?;
    // S is the liquidation order's side: a SELL closes a long position.
    let side = match o.get("S").and_then(Value::as_str) {
        Some("SELL") => LiquidatedSide::Long,
        Some("BUY") => LiquidatedSide::Short,
        other => return Err(reject(RejectReason::InvalidLiquidation, format!("side {other:?} is neither BUY nor SELL"))),
    };
    let time_ms = integer(o, "T")?;
    // Filled quantity at the average price when the order filled; the order's own otherwise.
    let filled = optional_number(o, "z")?.filter(|z| *z > 0.0);
    let (quantity, price) = match filled {
        Some(z) => (z, optional_number(o, "ap")?.filter(|p| *p > 0.0).map_or_else(|| number(o, "p"), Ok)?),
        None => (number(o, "q")?, number(o, "p")?),
    };
    if !(price > 0.0 && quantity > 0.0 && price < crate::engine::PRICE_MAX) || time_ms < 0 {
        return Err(reject(RejectReason::InvalidLiquidation, format!("price {price} quantity {quantity} time {time_ms}")));
    }
    Ok(StreamMessage::ForceOrder(RealisedLiquidation { symbol, time_ms, side, price, quantity, notional_usd: price * quantity }))
}

/// Closed klines of a `GET /fapi/v1/klines` answer: the bar still open at `now_ms` (the exchange
/// always includes it) is left out. Returns the candles and the rows rejected (with the first
/// rejection, for the log).
pub fn parse_rest_klines(body: &str, interval_ms: i64, now_ms: i64) -> Result<(Vec<Candle>, Vec<Rejected>), Rejected> {
    let value: Value = serde_json::from_str(body).map_err(|e| reject(RejectReason::MalformedJson, e.to_string()))?;
    let rows = value.as_array().ok_or_else(|| reject(RejectReason::UnknownShape, "klines answer is not an array"))?;
    let mut candles = Vec::with_capacity(rows.len());
    let mut rejected = Vec::new();
    for row in rows {
        match rest_kline(row, interval_ms) {
            Ok((candle, close_time_ms)) if close_time_ms < now_ms => candles.push(candle),
            Ok(_) => {}
            Err(e) => rejected.push(e),
        }
    }
    Ok((candles, rejected))
}

fn rest_kline(row: &Value, interval_ms: i64) -> Result<(Candle, i64), Rejected> {
    let fields = row.as_array().filter(|a| a.len() >= 11).ok_or_else(|| reject(RejectReason::UnknownShape, "kline row is not an array of 12"))?;
    let at = |i: usize| &fields[i];
    let open_time_ms = at(0).as_i64().ok_or_else(|| reject(RejectReason::NotNumeric, "open time"))?;
    let close_time_ms = at(6).as_i64().ok_or_else(|| reject(RejectReason::NotNumeric, "close time"))?;
    if close_time_ms - open_time_ms + 1 != interval_ms {
        return Err(reject(RejectReason::WrongInterval, format!("kline row spans {} ms", close_time_ms - open_time_ms + 1)));
    }
    let num = |i: usize, name: &str| decimal(at(i)).ok_or_else(|| reject(RejectReason::NotNumeric, format!("{name} {}", at(i))));
    let candle = Candle {
        open_time_ms,
        open: num(1, "open")?,
        high: num(2, "high")?,
        low: num(3, "low")?,
        close: num(4, "close")?,
        volume: Some(num(5, "volume")?),
        quote_volume: Some(num(7, "quote volume")?),
        taker_buy_volume: Some(num(9, "taker buy volume")?),
        trade_count: at(8).as_i64(),
    };
    check_candle(&candle, interval_ms)?;
    Ok((candle, close_time_ms))
}

/// USD open interest of a `GET /futures/data/openInterestHist` answer, for `symbol`.
pub fn parse_open_interest_hist(body: &str, symbol: &str) -> Result<(Vec<OpenInterestPoint>, Vec<Rejected>), Rejected> {
    let value: Value = serde_json::from_str(body).map_err(|e| reject(RejectReason::MalformedJson, e.to_string()))?;
    let rows = value.as_array().ok_or_else(|| reject(RejectReason::UnknownShape, "openInterestHist answer is not an array"))?;
    let mut points = Vec::with_capacity(rows.len());
    let mut rejected = Vec::new();
    for row in rows {
        let point = (|| {
            if row.get("symbol").and_then(Value::as_str).is_some_and(|s| s != symbol) {
                return Err(reject(RejectReason::UnsupportedSymbol, format!("{:?} in the answer for {symbol}", row.get("symbol"))));
            }
            let time_ms = row.get("timestamp").and_then(decimal_i64).ok_or_else(|| reject(RejectReason::UnknownShape, "no timestamp"))?;
            let value_usd = number(row, "sumOpenInterestValue")?;
            let contracts = optional_number(row, "sumOpenInterest")?;
            if !(0.0..=crate::engine::OPEN_INTEREST_MAX_USD).contains(&value_usd) || time_ms < 0 {
                return Err(reject(RejectReason::InvalidBar, format!("open interest {value_usd} USD at {time_ms}")));
            }
            Ok(OpenInterestPoint { time_ms, contracts, value_usd: Some(value_usd) })
        })();
        match point {
            Ok(p) => points.push(p),
            Err(e) => rejected.push(e),
        }
    }
    Ok((points, rejected))
}

/// The model's own rules (one source: `engine::check_bar`) plus the interval grid.
fn check_candle(candle: &Candle, interval_ms: i64) -> Result<(), Rejected> {
    if candle.open_time_ms.rem_euclid(interval_ms) != 0 {
        return Err(reject(RejectReason::WrongInterval, format!("open time {} is not on the {interval_ms} ms grid", candle.open_time_ms)));
    }
    let bar = Bar {
        open_time_ms: candle.open_time_ms,
        open: candle.open,
        high: candle.high,
        low: candle.low,
        close: candle.close,
        volume: candle.volume,
        quote_volume: candle.quote_volume,
        taker_buy_volume: candle.taker_buy_volume,
        open_interest_usd: None,
    };
    check_bar(&bar, None).map_err(|e| reject(RejectReason::InvalidBar, e.to_string()))
}

fn supported_symbol(value: Option<&Value>, symbols: &[String]) -> Result<String, Rejected> {
    let symbol = value.and_then(Value::as_str).ok_or_else(|| reject(RejectReason::UnknownShape, "no symbol \"s\""))?;
    if !symbols.iter().any(|s| s == symbol) {
        let shown: String = symbol.chars().take(24).collect();
        return Err(reject(RejectReason::UnsupportedSymbol, format!("symbol {shown:?}")));
    }
    Ok(symbol.to_string())
}

fn integer(object: &Value, key: &str) -> Result<i64, Rejected> {
    match object.get(key) {
        None => Err(reject(RejectReason::UnknownShape, format!("no field {key:?}"))),
        Some(v) => decimal_i64(v).ok_or_else(|| reject(RejectReason::NotNumeric, format!("{key} = {v}"))),
    }
}

fn number(object: &Value, key: &str) -> Result<f64, Rejected> {
    optional_number(object, key)?.ok_or_else(|| reject(RejectReason::UnknownShape, format!("no field {key:?}")))
}

fn optional_number(object: &Value, key: &str) -> Result<Option<f64>, Rejected> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => decimal(v).map(Some).ok_or_else(|| reject(RejectReason::NotNumeric, format!("{key} = {v}"))),
    }
}

/// A finite number given as a JSON number or a decimal string.
fn decimal(value: &Value) -> Option<f64> {
    let x = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    x.is_finite().then_some(x)
}

fn decimal_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
