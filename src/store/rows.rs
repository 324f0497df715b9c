//! Plain data types crossing the store's API.

use serde::Serialize;

use super::realised::RealisedLiquidations;

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
    pub realised_added: u64,
    pub realised_already_present: u64,
    /// Of the rows already present, those whose stored values differ from the new ones (the
    /// stored values were kept); every one is counted, at most [`CONFLICTS_LISTED_MAX`] listed.
    pub conflicts: u64,
}

impl InsertCounts {
    pub fn rows_added(&self) -> u64 {
        self.candles_added + self.open_interest_added + self.realised_added
    }

    pub fn rows_already_present(&self) -> u64 {
        self.candles_already_present
            + self.open_interest_already_present
            + self.realised_already_present
    }

    pub fn add(&mut self, other: InsertCounts) {
        self.candles_added += other.candles_added;
        self.candles_already_present += other.candles_already_present;
        self.open_interest_added += other.open_interest_added;
        self.open_interest_already_present += other.open_interest_already_present;
        self.realised_added += other.realised_added;
        self.realised_already_present += other.realised_already_present;
        self.conflicts += other.conflicts;
    }
}

/// Most conflicts one write lists in detail; the rest are only counted (a whole file of
/// conflicting rows must not become a list the size of the file).
pub const CONFLICTS_LISTED_MAX: usize = 100;

/// A row whose key was already stored with different values. Policy: the stored row is kept,
/// whatever the format and the order files arrive in (first written wins, nothing is ever
/// overwritten); the conflict is reported so an operator can decide which source is right.
#[derive(Debug, Clone, PartialEq)]
pub struct RowConflict {
    pub symbol: String,
    /// Position of the series in the write's input, and of the row inside that series.
    pub series_index: usize,
    pub row_index: usize,
    pub values: ConflictValues,
}

/// The stored and the new values of a conflicting row.
#[derive(Debug, Clone, PartialEq)]
pub enum ConflictValues {
    Candle { stored: Candle, new: Candle },
    OpenInterest { stored: OpenInterestPoint, new: OpenInterestPoint },
    RealisedLiquidations { stored: RealisedLiquidations, new: RealisedLiquidations },
}

impl ConflictValues {
    /// The row's time key (Unix milliseconds UTC).
    pub fn time_ms(&self) -> i64 {
        match self {
            ConflictValues::Candle { new, .. } => new.open_time_ms,
            ConflictValues::OpenInterest { new, .. } => new.time_ms,
            ConflictValues::RealisedLiquidations { new, .. } => new.open_time_ms,
        }
    }

    /// `candle`, `open interest`: which table the row belongs to.
    pub fn table(&self) -> &'static str {
        match self {
            ConflictValues::Candle { .. } => "candle",
            ConflictValues::OpenInterest { .. } => "open interest",
            ConflictValues::RealisedLiquidations { .. } => "realised liquidations",
        }
    }

    /// `(field, stored, new)` for every field known in both rows whose values differ. A field
    /// one source does not record (`None`) never conflicts.
    pub fn differing_fields(&self) -> Vec<(&'static str, f64, f64)> {
        let fields: Vec<(&'static str, Option<f64>, Option<f64>)> = match self {
            ConflictValues::Candle { stored: s, new: n } => vec![
                ("open", Some(s.open), Some(n.open)),
                ("high", Some(s.high), Some(n.high)),
                ("low", Some(s.low), Some(n.low)),
                ("close", Some(s.close), Some(n.close)),
                ("volume", s.volume, n.volume),
                ("quote_volume", s.quote_volume, n.quote_volume),
                ("taker_buy_volume", s.taker_buy_volume, n.taker_buy_volume),
                ("trade_count", s.trade_count.map(|c| c as f64), n.trade_count.map(|c| c as f64)),
            ],
            ConflictValues::OpenInterest { stored: s, new: n } => vec![
                ("contracts", s.contracts, n.contracts),
                ("value_usd", s.value_usd, n.value_usd),
            ],
            ConflictValues::RealisedLiquidations { stored: s, new: n } => vec![
                ("liquidated_long_usd", Some(s.long_usd), Some(n.long_usd)),
                ("liquidated_short_usd", Some(s.short_usd), Some(n.short_usd)),
            ],
        };
        fields
            .into_iter()
            .filter_map(|(name, stored, new)| match (stored, new) {
                (Some(stored), Some(new)) if stored != new => Some((name, stored, new)),
                _ => None,
            })
            .collect()
    }
}

impl std::fmt::Display for ConflictValues {
    /// `candle at 1704067500000 (2024-01-01 00:05:00 UTC) differs from the stored row: close
    /// stored 42000, new 42001 (stored kept)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let time_ms = self.time_ms();
        write!(f, "{} at {time_ms}", self.table())?;
        if let Some(t) = chrono::DateTime::from_timestamp_millis(time_ms) {
            write!(f, " ({} UTC)", t.format("%Y-%m-%d %H:%M:%S"))?;
        }
        write!(f, " differs from the stored row:")?;
        for (i, (name, stored, new)) in self.differing_fields().into_iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            write!(f, "{sep}{name} stored {stored}, new {new}")?;
        }
        write!(f, " (stored value kept)")
    }
}

/// What one write did, with the conflicts it found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InsertOutcome {
    pub counts: InsertCounts,
    /// The first [`CONFLICTS_LISTED_MAX`] conflicts, in input order; `counts.conflicts` has them all.
    pub conflicts: Vec<RowConflict>,
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
