//! What one bar (or a sum of bars) did to the open positions, in USD.

/// USD notional opened, liquidated and proportionally closed. Returned per bar by
/// `Engine::apply`; summed over a bucket of bars for a timeseries snapshot and over all bars for
/// `Engine::totals`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BarOutcome {
    pub created_long: f64,
    pub created_short: f64,
    /// Long notional liquidated because the bar's low reached its liquidation price.
    pub consumed_long: f64,
    /// Short notional liquidated because the bar's high reached its liquidation price.
    pub consumed_short: f64,
    /// Notional removed by proportional closing on falling open interest, dust included.
    pub closed: f64,
}

impl BarOutcome {
    /// Adds `other` field by field.
    pub fn accumulate(&mut self, other: &BarOutcome) {
        self.created_long += other.created_long;
        self.created_short += other.created_short;
        self.consumed_long += other.consumed_long;
        self.consumed_short += other.consumed_short;
        self.closed += other.closed;
    }

    pub fn created(&self) -> f64 {
        self.created_long + self.created_short
    }

    pub fn consumed(&self) -> f64 {
        self.consumed_long + self.consumed_short
    }
}
