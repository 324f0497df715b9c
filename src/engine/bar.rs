//! One bar of market data as the engine consumes it.

/// A bar at the finest stored resolution, joined with the open interest recorded at its open time.
///
/// Optional fields are `None` when the source did not carry them (the 5-minute OHLC + OI export has
/// no volume; spot kline archives have no open interest).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    /// Bar open time, Unix milliseconds UTC.
    pub open_time_ms: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    /// Base-asset volume.
    pub volume: Option<f64>,
    /// Quote-asset (USD) volume.
    pub quote_volume: Option<f64>,
    /// Base-asset volume bought by takers.
    pub taker_buy_volume: Option<f64>,
    /// Total open interest in USD notional at this bar.
    pub open_interest_usd: Option<f64>,
}
