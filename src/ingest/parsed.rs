//! What a format parser produces, and the interface every format implements.

use crate::store::{CandleSeries, OpenInterestSeries};

/// The rows of one file, ready to write in one transaction.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub candles: Vec<CandleSeries>,
    pub open_interest: Vec<OpenInterestSeries>,
}

/// Parses the data rows of one format. Errors are reasons; the caller adds `file:line`.
pub(crate) trait RowParser {
    fn parse_row(&mut self, line: u64, values: &[&str]) -> Result<(), String>;

    /// Orders and de-duplicates the rows; errors carry the offending line.
    fn finish(self: Box<Self>) -> Result<Parsed, (u64, String)>;
}
