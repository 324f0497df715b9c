//! Checks shared by the candle formats, and ordering/de-duplication of parsed rows.

use crate::store::Candle;

use super::file_name::interval_label;

/// Intervals that divide a day start on multiples of themselves since the Unix epoch.
const DAY_MS: i64 = 86_400_000;

/// OHLC must be self-consistent: low <= open, close <= high.
pub(crate) fn check_candle(candle: &Candle, interval_ms: i64) -> Result<(), String> {
    let Candle {
        open_time_ms,
        open,
        high,
        low,
        close,
        ..
    } = *candle;
    if high < low {
        return Err(format!("high {high} is below low {low}"));
    }
    for (name, price) in [("open", open), ("close", close)] {
        if price < low || price > high {
            return Err(format!(
                "{name} {price} is outside low {low} .. high {high}"
            ));
        }
    }
    if DAY_MS % interval_ms == 0 && open_time_ms % interval_ms != 0 {
        return Err(format!(
            "open_time {open_time_ms} is not on a {} boundary",
            interval_label(interval_ms)
        ));
    }
    Ok(())
}

/// A parsed row with its time key and the line it came from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keyed<T> {
    pub time_ms: i64,
    pub line: u64,
    pub value: T,
}

/// Sorts rows by time. A repeated time with identical values is dropped (exports repeat rows);
/// a repeated time with different values rejects the file, because there is no way to know
/// which one is right. Returns the rows and, index for index, the line each came from; errors
/// are `(line, reason)`.
pub(crate) fn sort_and_dedup<T: PartialEq>(
    mut rows: Vec<Keyed<T>>,
    time_name: &str,
) -> Result<(Vec<T>, Vec<u64>), (u64, String)> {
    rows.sort_by_key(|row| (row.time_ms, row.line));
    let mut out: Vec<T> = Vec::with_capacity(rows.len());
    let mut lines: Vec<u64> = Vec::with_capacity(rows.len());
    let mut previous: Option<(i64, u64)> = None;
    for row in rows {
        if let Some((time_ms, line)) = previous {
            if time_ms == row.time_ms {
                let kept = out.last();
                if kept == Some(&row.value) {
                    continue;
                }
                return Err((
                    row.line,
                    format!(
                        "{time_name} {} repeats line {line} with different values",
                        describe_time(row.time_ms)
                    ),
                ));
            }
        }
        previous = Some((row.time_ms, row.line));
        out.push(row.value);
        lines.push(row.line);
    }
    Ok((out, lines))
}

/// `1577836800000 (2020-01-01 00:00:00 UTC)`: the raw value and a readable one.
fn describe_time(time_ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(time_ms) {
        Some(t) => format!("{time_ms} ({} UTC)", t.format("%Y-%m-%d %H:%M:%S")),
        None => time_ms.to_string(),
    }
}
