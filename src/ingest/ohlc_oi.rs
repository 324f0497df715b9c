//! The plain OHLC + open-interest CSV: `open_time,open,high,low,close,open_interest_value`, then
//! optional volume columns in any order.

use crate::store::{Candle, CandleSeries, OpenInterestPoint, OpenInterestSeries};

use super::fields::Fields;
use super::file_name::SeriesName;
use super::parsed::{Parsed, RowParser};
use super::rows::{check_candle, sort_and_dedup, Keyed};

pub(crate) const OHLC_OI_REQUIRED: [&str; 6] = [
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "open_interest_value",
];

pub(crate) const OHLC_OI_OPTIONAL: [&str; 4] =
    ["volume", "quote_volume", "taker_buy_volume", "trade_count"];

/// Column positions of the optional fields present in this file.
#[derive(Debug, Default)]
struct OptionalColumns {
    volume: Option<usize>,
    quote_volume: Option<usize>,
    taker_buy_volume: Option<usize>,
    trade_count: Option<usize>,
}

pub(crate) struct OhlcOiParser {
    series: SeriesName,
    columns: Vec<&'static str>,
    optional: OptionalColumns,
    rows: Vec<Keyed<(Candle, Option<f64>)>>,
}

impl OhlcOiParser {
    /// Whether a header line announces this format.
    pub(crate) fn matches_header(header: &[&str]) -> bool {
        header.len() >= OHLC_OI_REQUIRED.len()
            && header[..OHLC_OI_REQUIRED.len()]
                .iter()
                .zip(OHLC_OI_REQUIRED)
                .all(|(found, wanted)| found.trim() == wanted)
    }

    pub(crate) fn new(series: SeriesName, header: &[&str]) -> Result<Self, String> {
        let mut columns: Vec<&'static str> = OHLC_OI_REQUIRED.to_vec();
        let mut optional = OptionalColumns::default();
        for (index, name) in header.iter().enumerate().skip(OHLC_OI_REQUIRED.len()) {
            let name = name.trim();
            let Some(known) = OHLC_OI_OPTIONAL.iter().find(|known| **known == name) else {
                return Err(format!(
                    "header column {} `{name}` is not one of {}",
                    index + 1,
                    OHLC_OI_OPTIONAL.join(", ")
                ));
            };
            let slot = match *known {
                "volume" => &mut optional.volume,
                "quote_volume" => &mut optional.quote_volume,
                "taker_buy_volume" => &mut optional.taker_buy_volume,
                _ => &mut optional.trade_count,
            };
            if slot.replace(index).is_some() {
                return Err(format!(
                    "header column {} `{name}` appears twice",
                    index + 1
                ));
            }
            columns.push(known);
        }
        Ok(OhlcOiParser {
            series,
            columns,
            optional,
            rows: Vec::new(),
        })
    }
}

impl RowParser for OhlcOiParser {
    fn parse_row(&mut self, line: u64, values: &[&str]) -> Result<(), String> {
        let f = Fields::new(values, &self.columns)?;
        let amount = |column: Option<usize>| column.map(|i| f.optional_amount(i)).transpose();
        let prices = f.time_and_prices()?;
        let candle = Candle {
            volume: amount(self.optional.volume)?.flatten(),
            quote_volume: amount(self.optional.quote_volume)?.flatten(),
            taker_buy_volume: amount(self.optional.taker_buy_volume)?.flatten(),
            trade_count: self.optional.trade_count.map(|i| f.count(i)).transpose()?,
            ..prices
        };
        check_candle(&candle, self.series.interval_ms)?;
        let open_interest_usd = f.optional_amount(5)?;
        self.rows.push(Keyed {
            time_ms: candle.open_time_ms,
            line,
            value: (candle, open_interest_usd),
        });
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Parsed, (u64, String)> {
        let rows = sort_and_dedup(self.rows, "open_time")?;
        // The open interest was sampled at the bar, so it is stored at the bar's open time.
        let points = rows
            .iter()
            .filter_map(|(candle, value_usd)| {
                value_usd.map(|value_usd| OpenInterestPoint {
                    time_ms: candle.open_time_ms,
                    contracts: None,
                    value_usd: Some(value_usd),
                })
            })
            .collect();
        Ok(Parsed {
            candles: vec![CandleSeries {
                symbol: self.series.symbol.clone(),
                interval_ms: self.series.interval_ms,
                candles: rows.into_iter().map(|(candle, _)| candle).collect(),
            }],
            open_interest: vec![OpenInterestSeries {
                symbol: self.series.symbol,
                points,
            }],
        })
    }
}
