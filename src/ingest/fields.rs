//! Parsing one CSV field with an error that names the column: `column 3 (high) is not a number: "abc"`.

use crate::store::Candle;

use super::limits::{MICROSECONDS_THRESHOLD, TIME_MS_MAX, TIME_MS_MIN};

/// The comma-separated fields of one line, with the column names used in error messages.
pub(crate) struct Fields<'a> {
    values: &'a [&'a str],
    names: &'a [&'a str],
}

impl<'a> Fields<'a> {
    /// Fails unless the line has exactly one field per column name.
    pub(crate) fn new(values: &'a [&'a str], names: &'a [&'a str]) -> Result<Self, String> {
        if values.len() != names.len() {
            return Err(format!(
                "expected {} columns, found {}",
                names.len(),
                values.len()
            ));
        }
        Ok(Fields { values, names })
    }

    fn text(&self, index: usize) -> &'a str {
        self.values[index].trim()
    }

    fn describe(&self, index: usize) -> String {
        format!("column {} ({})", index + 1, self.names[index])
    }

    /// A finite number.
    pub(crate) fn number(&self, index: usize) -> Result<f64, String> {
        let text = self.text(index);
        match text.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(value),
            Ok(_) => Err(format!("{} is not finite: {text:?}", self.describe(index))),
            Err(_) => Err(format!(
                "{} is not a number: {text:?}",
                self.describe(index)
            )),
        }
    }

    /// Open time (column 1) and open, high, low, close (columns 2-5): the layout every candle
    /// format shares. Volumes are left unknown for the caller to fill in.
    pub(crate) fn time_and_prices(&self) -> Result<Candle, String> {
        Ok(Candle {
            open_time_ms: self.unix_time_ms(0)?,
            open: self.price(1)?,
            high: self.price(2)?,
            low: self.price(3)?,
            close: self.price(4)?,
            volume: None,
            quote_volume: None,
            taker_buy_volume: None,
            trade_count: None,
        })
    }

    /// A finite number above zero (prices).
    pub(crate) fn price(&self, index: usize) -> Result<f64, String> {
        let value = self.number(index)?;
        if value > 0.0 {
            Ok(value)
        } else {
            Err(format!(
                "{} is not above zero: {value}",
                self.describe(index)
            ))
        }
    }

    /// A finite number at least zero (volumes, open interest).
    pub(crate) fn amount(&self, index: usize) -> Result<f64, String> {
        let value = self.number(index)?;
        if value >= 0.0 {
            Ok(value)
        } else {
            Err(format!("{} is negative: {value}", self.describe(index)))
        }
    }

    /// Like [`Fields::amount`], but an empty field means "not recorded".
    pub(crate) fn optional_amount(&self, index: usize) -> Result<Option<f64>, String> {
        if self.text(index).is_empty() {
            return Ok(None);
        }
        self.amount(index).map(Some)
    }

    /// A whole number at least zero (trade counts).
    pub(crate) fn count(&self, index: usize) -> Result<i64, String> {
        let text = self.text(index);
        match text.parse::<i64>() {
            Ok(value) if value >= 0 => Ok(value),
            Ok(value) => Err(format!("{} is negative: {value}", self.describe(index))),
            Err(_) => Err(format!(
                "{} is not a whole number: {text:?}",
                self.describe(index)
            )),
        }
    }

    /// A Unix timestamp in milliseconds, or microseconds (converted), within plausible years.
    pub(crate) fn unix_time_ms(&self, index: usize) -> Result<i64, String> {
        let text = self.text(index);
        let raw = text
            .parse::<i64>()
            .map_err(|_| format!("{} is not a Unix timestamp: {text:?}", self.describe(index)))?;
        let ms = if raw >= MICROSECONDS_THRESHOLD {
            raw / 1000
        } else {
            raw
        };
        self.plausible(index, ms)
    }

    /// A naive UTC `YYYY-MM-DD HH:MM:SS` time, in Unix milliseconds.
    pub(crate) fn utc_datetime_ms(&self, index: usize) -> Result<i64, String> {
        let text = self.text(index);
        let parsed =
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").map_err(|_| {
                format!(
                    "{} is not a YYYY-MM-DD HH:MM:SS time: {text:?}",
                    self.describe(index)
                )
            })?;
        self.plausible(index, parsed.and_utc().timestamp_millis())
    }

    /// A symbol as the exchange writes it.
    pub(crate) fn symbol(&self, index: usize) -> Result<String, String> {
        super::file_name::parse_symbol(self.text(index))
            .map_err(|reason| format!("{}: {reason}", self.describe(index)))
    }

    fn plausible(&self, index: usize, ms: i64) -> Result<i64, String> {
        if (TIME_MS_MIN..TIME_MS_MAX).contains(&ms) {
            Ok(ms)
        } else {
            Err(format!(
                "{} is outside the plausible years 2009-2099: {}",
                self.describe(index),
                self.text(index)
            ))
        }
    }
}
