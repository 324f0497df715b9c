//! data.binance.vision kline CSVs (spot and USDT-M): 12 columns, header row optional.

use crate::store::{Candle, CandleSeries};

use super::fields::Fields;
use super::file_name::SeriesName;
use super::parsed::{Parsed, RowParser};
use super::rows::{check_candle, sort_and_dedup, Keyed};

pub(crate) const KLINE_COLUMNS: [&str; 12] = [
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
];

pub(crate) struct KlineParser {
    series: SeriesName,
    rows: Vec<Keyed<Candle>>,
}

impl KlineParser {
    pub(crate) fn new(series: SeriesName) -> Self {
        KlineParser {
            series,
            rows: Vec::new(),
        }
    }
}

impl RowParser for KlineParser {
    fn parse_row(&mut self, line: u64, values: &[&str]) -> Result<(), String> {
        let f = Fields::new(values, &KLINE_COLUMNS)?;
        let prices = f.time_and_prices()?;
        let candle = Candle {
            volume: Some(f.amount(5)?),
            quote_volume: Some(f.amount(7)?),
            trade_count: Some(f.count(8)?),
            taker_buy_volume: Some(f.amount(9)?),
            ..prices
        };
        check_candle(&candle, self.series.interval_ms)?;
        self.rows.push(Keyed {
            time_ms: candle.open_time_ms,
            line,
            value: candle,
        });
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Parsed, (u64, String)> {
        let (candles, lines) = sort_and_dedup(self.rows, "open_time")?;
        Ok(Parsed {
            candles: vec![CandleSeries {
                symbol: self.series.symbol,
                interval_ms: self.series.interval_ms,
                candles,
            }],
            candle_lines: vec![lines],
            ..Parsed::default()
        })
    }
}
