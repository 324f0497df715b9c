//! data.binance.vision USDT-M `metrics` CSVs: open interest every 5 minutes, naive UTC times,
//! rows sometimes unsorted or repeated.

use std::collections::BTreeMap;

use crate::store::{OpenInterestPoint, OpenInterestSeries};

use super::fields::Fields;
use super::parsed::{Parsed, RowParser};
use super::rows::{sort_and_dedup, Keyed};

/// The columns this program reads; the ratio columns after them are ignored.
pub(crate) const METRICS_REQUIRED: [&str; 4] = [
    "create_time",
    "symbol",
    "sum_open_interest",
    "sum_open_interest_value",
];

pub(crate) struct MetricsParser {
    /// One name per column; the ignored ones are only counted.
    columns: Vec<&'static str>,
    rows_by_symbol: BTreeMap<String, Vec<Keyed<OpenInterestPoint>>>,
}

impl MetricsParser {
    pub(crate) fn matches_header(header: &[&str]) -> bool {
        header.len() >= METRICS_REQUIRED.len()
            && header[..METRICS_REQUIRED.len()]
                .iter()
                .zip(METRICS_REQUIRED)
                .all(|(found, wanted)| found.trim() == wanted)
    }

    pub(crate) fn new(header: &[&str]) -> Self {
        MetricsParser {
            columns: (0..header.len())
                .map(|i| METRICS_REQUIRED.get(i).copied().unwrap_or("ignored"))
                .collect(),
            rows_by_symbol: BTreeMap::new(),
        }
    }
}

impl RowParser for MetricsParser {
    fn parse_row(&mut self, line: u64, values: &[&str]) -> Result<(), String> {
        let f = Fields::new(values, &self.columns)?;
        let time_ms = f.utc_datetime_ms(0)?;
        let symbol = f.symbol(1)?;
        let point = OpenInterestPoint {
            time_ms,
            contracts: f.optional_amount(2)?,
            value_usd: f.optional_amount(3)?,
        };
        self.rows_by_symbol.entry(symbol).or_default().push(Keyed {
            time_ms,
            line,
            value: point,
        });
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Parsed, (u64, String)> {
        let mut parsed = Parsed::default();
        for (symbol, rows) in self.rows_by_symbol {
            let (points, lines) = sort_and_dedup(rows, "create_time")?;
            parsed.open_interest.push(OpenInterestSeries { symbol, points });
            parsed.open_interest_lines.push(lines);
        }
        Ok(parsed)
    }
}
