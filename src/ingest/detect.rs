//! Which format a file is, from its first line and its name.

use std::fmt;

use super::file_name::{interval_label, NameKind, KLINE_NAME_PATTERN, OHLC_OI_NAME_PATTERN};
use super::kline::{KlineParser, KLINE_COLUMNS};
use super::metrics::{MetricsParser, METRICS_REQUIRED};
use super::ohlc_oi::{OhlcOiParser, OHLC_OI_REQUIRED};
use super::parsed::RowParser;

/// The formats ingestion reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileFormat {
    /// data.binance.vision klines (12 columns), `has_header` when the first line is the header.
    Klines {
        symbol: String,
        interval_ms: i64,
        has_header: bool,
    },
    /// data.binance.vision USDT-M metrics (open interest).
    Metrics,
    /// `open_time,open,high,low,close,open_interest_value[,volume columns]`.
    OhlcOi { symbol: String, interval_ms: i64 },
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileFormat::Klines {
                symbol,
                interval_ms,
                ..
            } => write!(f, "{symbol} {} klines", interval_label(*interval_ms)),
            FileFormat::Metrics => write!(f, "open-interest metrics"),
            FileFormat::OhlcOi {
                symbol,
                interval_ms,
            } => write!(
                f,
                "{symbol} {} OHLC + open interest",
                interval_label(*interval_ms)
            ),
        }
    }
}

pub(crate) struct Detected {
    pub format: FileFormat,
    pub parser: Box<dyn RowParser>,
    /// False when the first line is already a data row (headerless klines).
    pub first_line_is_header: bool,
}

/// Picks the format; the error is a precise reason for rejecting the file.
pub(crate) fn detect(name: &NameKind, first_line: &str) -> Result<Detected, String> {
    let header: Vec<&str> = first_line.split(',').collect();
    if MetricsParser::matches_header(&header) {
        return Ok(Detected {
            format: FileFormat::Metrics,
            parser: Box::new(MetricsParser::new(&header)),
            first_line_is_header: true,
        });
    }
    if OhlcOiParser::matches_header(&header) {
        let NameKind::OhlcOi(series) = name else {
            return Err(format!(
                "the header is OHLC + open interest, but the file name is not \
                 {OHLC_OI_NAME_PATTERN} ({})",
                name_problem(name)
            ));
        };
        let parser = OhlcOiParser::new(series.clone(), &header)?;
        return Ok(Detected {
            format: FileFormat::OhlcOi {
                symbol: series.symbol.clone(),
                interval_ms: series.interval_ms,
            },
            parser: Box::new(parser),
            first_line_is_header: true,
        });
    }
    let is_kline_header = header.iter().map(|c| c.trim()).eq(KLINE_COLUMNS);
    let looks_like_kline_row = header.len() == KLINE_COLUMNS.len()
        && header[0].trim().bytes().all(|b| b.is_ascii_digit())
        && !header[0].trim().is_empty();
    if is_kline_header || looks_like_kline_row {
        let NameKind::Klines(series) = name else {
            return Err(format!(
                "the content is klines, but the file name is not {KLINE_NAME_PATTERN} ({})",
                name_problem(name)
            ));
        };
        return Ok(Detected {
            format: FileFormat::Klines {
                symbol: series.symbol.clone(),
                interval_ms: series.interval_ms,
                has_header: is_kline_header,
            },
            parser: Box::new(KlineParser::new(series.clone())),
            first_line_is_header: is_kline_header,
        });
    }
    Err(format!(
        "first line {:?} matches no known format: expected kline rows ({} columns, optional \
         header {}), a metrics header starting {}, or an OHLC + open-interest header starting {}",
        shorten(first_line),
        KLINE_COLUMNS.len(),
        KLINE_COLUMNS.join(","),
        METRICS_REQUIRED.join(","),
        OHLC_OI_REQUIRED.join(",")
    ))
}

fn name_problem(name: &NameKind) -> String {
    match name {
        NameKind::Other(reason) => reason.clone(),
        NameKind::Klines(_) => "it is named like a kline archive".to_string(),
        NameKind::OhlcOi(_) => "it is named like an OHLC + open-interest file".to_string(),
    }
}

/// Keeps error messages readable when the first line is long binary junk.
fn shorten(line: &str) -> String {
    const SHOWN_CHARS_MAX: usize = 120;
    if line.chars().count() <= SHOWN_CHARS_MAX {
        return line.to_string();
    }
    let mut shown: String = line.chars().take(SHOWN_CHARS_MAX).collect();
    shown.push('…');
    shown
}
