//! Plain data types crossing the store's API.

use serde::Serialize;

/// One candle as stored (times in Unix milliseconds UTC).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candle {
    pub open_time_ms: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: Option<f64>,
    pub quote_volume: Option<f64>,
    pub taker_buy_volume: Option<f64>,
    pub trade_count: Option<i64>,
}

/// Candles of one symbol at one interval, written together.
#[derive(Debug, Clone, PartialEq)]
pub struct CandleSeries {
    pub symbol: String,
    pub interval_ms: i64,
    pub candles: Vec<Candle>,
}

/// One open-interest sample: contracts (base asset) and/or USD notional.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenInterestPoint {
    pub time_ms: i64,
    pub contracts: Option<f64>,
    pub value_usd: Option<f64>,
}

/// Open-interest samples of one symbol, written together.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenInterestSeries {
    pub symbol: String,
    pub points: Vec<OpenInterestPoint>,
}

/// What one write did: new rows, and rows whose key was already stored (left unchanged).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertCounts {
    pub candles_added: u64,
    pub candles_already_present: u64,
    pub open_interest_added: u64,
    pub open_interest_already_present: u64,
}

impl InsertCounts {
    pub fn rows_added(&self) -> u64 {
        self.candles_added + self.open_interest_added
    }

    pub fn rows_already_present(&self) -> u64 {
        self.candles_already_present + self.open_interest_already_present
    }

    pub fn add(&mut self, other: InsertCounts) {
        self.candles_added += other.candles_added;
        self.candles_already_present += other.candles_already_present;
        self.open_interest_added += other.open_interest_added;
        self.open_interest_already_present += other.open_interest_already_present;
    }
}

/// Rows stored per table, all symbols together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RowCounts {
    pub candles: u64,
    pub open_interest: u64,
}

/// An OHLC(V) candle aggregated to a requested interval; `volume` is `None` when any bar in the
/// bucket lacks volume (a partial sum would understate it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Kline {
    pub timestamp_ms: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: Option<f64>,
}
