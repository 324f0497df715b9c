//! What a format parser produces, and the interface every format implements.

use crate::store::{CandleSeries, ConflictValues, OpenInterestSeries, RealisedSeries};

/// The rows of one file, ready to write in one transaction.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub candles: Vec<CandleSeries>,
    pub open_interest: Vec<OpenInterestSeries>,
    /// The file line of every candle, series by series and row by row (for conflict reports).
    pub candle_lines: Vec<Vec<u64>>,
    /// Likewise for every open-interest point.
    pub open_interest_lines: Vec<Vec<u64>>,
    /// Realised liquidations per bar (the OHLC + OI format with liquidation columns).
    pub realised: Vec<RealisedSeries>,
    /// Likewise for every realised-liquidations row.
    pub realised_lines: Vec<Vec<u64>>,
}

impl Parsed {
    /// The file line a stored row came from, given the table and its position in the input.
    pub fn line_of(&self, values: &ConflictValues, series_index: usize, row_index: usize) -> u64 {
        let lines = match values {
            ConflictValues::Candle { .. } => &self.candle_lines,
            ConflictValues::OpenInterest { .. } => &self.open_interest_lines,
            ConflictValues::RealisedLiquidations { .. } => &self.realised_lines,
        };
        lines
            .get(series_index)
            .and_then(|rows| rows.get(row_index))
            .copied()
            .unwrap_or(0)
    }
}

/// Parses the data rows of one format. Errors are reasons; the caller adds `file:line`.
pub(crate) trait RowParser {
    fn parse_row(&mut self, line: u64, values: &[&str]) -> Result<(), String>;

    /// Orders and de-duplicates the rows; errors carry the offending line.
    fn finish(self: Box<Self>) -> Result<Parsed, (u64, String)>;
}
