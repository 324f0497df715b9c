//! The plain OHLC + open-interest CSV: `open_time,open,high,low,close,open_interest_value`, then
//! optional volume columns and the realised liquidations per bar (`liquidated_long_usd`,
//! `liquidated_short_usd`, both or neither) in any order.

use crate::store::{
    Candle, CandleSeries, OpenInterestPoint, OpenInterestSeries, RealisedLiquidations,
    RealisedSeries,
};

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

pub(crate) const OHLC_OI_OPTIONAL: [&str; 6] = [
    "volume",
    "quote_volume",
    "taker_buy_volume",
    "trade_count",
    "liquidated_long_usd",
    "liquidated_short_usd",
];

/// Column positions of the optional fields present in this file.
#[derive(Debug, Default)]
struct OptionalColumns {
    volume: Option<usize>,
    quote_volume: Option<usize>,
    taker_buy_volume: Option<usize>,
    trade_count: Option<usize>,
    liquidated_long_usd: Option<usize>,
    liquidated_short_usd: Option<usize>,
}

/// One parsed line: the candle, its open interest and its realised liquidations (long, short).
type OhlcOiRow = (Candle, Option<f64>, Option<(f64, f64)>);

pub(crate) struct OhlcOiParser {
    series: SeriesName,
    columns: Vec<&'static str>,
    optional: OptionalColumns,
    rows: Vec<Keyed<OhlcOiRow>>,
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
                "trade_count" => &mut optional.trade_count,
                "liquidated_long_usd" => &mut optional.liquidated_long_usd,
                _ => &mut optional.liquidated_short_usd,
            };
            if slot.replace(index).is_some() {
                return Err(format!(
                    "header column {} `{name}` appears twice",
                    index + 1
                ));
            }
            columns.push(known);
        }
        if optional.liquidated_long_usd.is_some() != optional.liquidated_short_usd.is_some() {
            return Err(
                "the header has only one of liquidated_long_usd and liquidated_short_usd; \
                 realised liquidations need both"
                    .to_string(),
            );
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
        let realised = match (self.optional.liquidated_long_usd, self.optional.liquidated_short_usd) {
            (Some(long), Some(short)) => Some((f.amount(long)?, f.amount(short)?)),
            _ => None,
        };
        self.rows.push(Keyed {
            time_ms: candle.open_time_ms,
            line,
            value: (candle, open_interest_usd, realised),
        });
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Parsed, (u64, String)> {
        let (rows, lines) = sort_and_dedup(self.rows, "open_time")?;
        // The open interest was sampled at the bar, so it is stored at the bar's open time.
        let (points, point_lines): (Vec<OpenInterestPoint>, Vec<u64>) = rows
            .iter()
            .zip(&lines)
            .filter_map(|((candle, value_usd, _), line)| {
                value_usd.map(|value_usd| {
                    let point = OpenInterestPoint {
                        time_ms: candle.open_time_ms,
                        contracts: None,
                        value_usd: Some(value_usd),
                    };
                    (point, *line)
                })
            })
            .unzip();
        let has_realised = self.optional.liquidated_long_usd.is_some();
        let realised_bars: Vec<RealisedLiquidations> = rows
            .iter()
            .filter_map(|(candle, _, realised)| {
                realised.map(|(long_usd, short_usd)| RealisedLiquidations {
                    open_time_ms: candle.open_time_ms,
                    long_usd,
                    short_usd,
                })
            })
            .collect();
        let (realised, realised_lines) = if has_realised {
            let series = RealisedSeries {
                symbol: self.series.symbol.clone(),
                interval_ms: self.series.interval_ms,
                bars: realised_bars,
            };
            (vec![series], vec![lines.clone()])
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(Parsed {
            candles: vec![CandleSeries {
                symbol: self.series.symbol.clone(),
                interval_ms: self.series.interval_ms,
                candles: rows.into_iter().map(|(candle, _, _)| candle).collect(),
            }],
            open_interest: vec![OpenInterestSeries {
                symbol: self.series.symbol,
                points,
            }],
            candle_lines: vec![lines],
            open_interest_lines: vec![point_lines],
            realised,
            realised_lines,
        })
    }
}
