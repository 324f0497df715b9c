//! Symbol and interval from data.binance.vision style file names:
//! `SYMBOL-INTERVAL-YYYY-MM-DD.zip`, `SYMBOL-INTERVAL-YYYY-MM.zip`, `SYMBOL-INTERVAL-ohlc-oi-....csv`.

/// Longest symbol accepted (Binance's longest are ~20 characters).
const SYMBOL_CHARS_MAX: usize = 32;

/// Longest interval accepted: 1 week.
const INTERVAL_MS_MAX: i64 = 7 * 86_400_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeriesName {
    pub symbol: String,
    pub interval_ms: i64,
}

/// What the name looks like, independent of the file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NameKind {
    /// `SYMBOL-INTERVAL-YYYY-MM[-DD]`
    Klines(SeriesName),
    /// `SYMBOL-INTERVAL-ohlc-oi[-anything]`
    OhlcOi(SeriesName),
    /// Anything else, with the reason it is neither.
    Other(String),
}

pub(crate) const KLINE_NAME_PATTERN: &str = "SYMBOL-INTERVAL-YYYY-MM-DD or SYMBOL-INTERVAL-YYYY-MM";
pub(crate) const OHLC_OI_NAME_PATTERN: &str = "SYMBOL-INTERVAL-ohlc-oi-...";

/// Classifies a file name (without folders); `.zip`/`.csv` extensions are ignored.
pub(crate) fn classify(file_name: &str) -> NameKind {
    let stem = file_name
        .strip_suffix(".zip")
        .or_else(|| file_name.strip_suffix(".csv"))
        .unwrap_or(file_name);
    let stem = stem.strip_suffix(".csv").unwrap_or(stem);
    let parts: Vec<&str> = stem.split('-').collect();
    if parts.len() < 3 {
        return NameKind::Other(format!(
            "`{file_name}` has fewer than 3 dash-separated parts"
        ));
    }
    let series = match (parse_symbol(parts[0]), parse_interval_ms(parts[1])) {
        (Ok(symbol), Ok(interval_ms)) => SeriesName {
            symbol,
            interval_ms,
        },
        (Err(reason), _) | (_, Err(reason)) => return NameKind::Other(reason),
    };
    let rest = &parts[2..];
    if rest.len() >= 2 && rest[0] == "ohlc" && rest[1] == "oi" {
        return NameKind::OhlcOi(series);
    }
    let is_date = match rest {
        [y, m] => is_digits(y, 4) && is_digits(m, 2),
        [y, m, d] => is_digits(y, 4) && is_digits(m, 2) && is_digits(d, 2),
        _ => false,
    };
    if is_date {
        NameKind::Klines(series)
    } else {
        NameKind::Other(format!(
            "`{file_name}` does not end in a YYYY-MM-DD or YYYY-MM date"
        ))
    }
}

fn is_digits(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_digit())
}

/// Exchange symbols are upper-case letters and digits (`BTCUSDT`, `1000PEPEUSDT`).
pub(crate) fn parse_symbol(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.len() <= SYMBOL_CHARS_MAX
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if valid {
        Ok(text.to_string())
    } else {
        Err(format!(
            "symbol `{text}` is not 1 to {SYMBOL_CHARS_MAX} upper-case letters and digits"
        ))
    }
}

/// `1s`, `1m`, `5m`, `1h`, `1d`, `1w`, ... in milliseconds. Months (`1mo`) have no fixed length.
pub(crate) fn parse_interval_ms(text: &str) -> Result<i64, String> {
    let digits_end = text
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(text.len());
    let (count, unit) = text.split_at(digits_end);
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        "mo" | "M" => return Err(format!("interval `{text}` (months) has no fixed length")),
        _ => return Err(format!("`{text}` is not an interval like 1m, 5m, 1h or 1d")),
    };
    let interval_ms = count
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(unit_ms))
        .filter(|ms| *ms <= INTERVAL_MS_MAX);
    interval_ms.ok_or_else(|| format!("`{text}` is not an interval between 1s and 1w"))
}

/// `60000` -> `1m`, for messages.
pub(crate) fn interval_label(interval_ms: i64) -> String {
    const UNITS: [(i64, &str); 5] = [
        (7 * 86_400_000, "w"),
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    for (unit_ms, unit) in UNITS {
        if interval_ms >= unit_ms && interval_ms % unit_ms == 0 {
            return format!("{}{unit}", interval_ms / unit_ms);
        }
    }
    format!("{interval_ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(symbol: &str, interval_ms: i64) -> SeriesName {
        SeriesName {
            symbol: symbol.to_string(),
            interval_ms,
        }
    }

    #[test]
    fn daily_and_monthly_kline_archive_names_give_symbol_and_interval() {
        assert_eq!(
            classify("BTCUSDT-1m-2020-01-01.zip"),
            NameKind::Klines(series("BTCUSDT", 60_000))
        );
        assert_eq!(
            classify("1000PEPEUSDT-4h-2024-03.csv"),
            NameKind::Klines(series("1000PEPEUSDT", 4 * 3_600_000))
        );
    }

    #[test]
    fn ohlc_oi_names_give_symbol_and_interval() {
        assert_eq!(
            classify("BTCUSDT-5m-ohlc-oi-2026-06-07_2026-06-14.csv"),
            NameKind::OhlcOi(series("BTCUSDT", 300_000))
        );
    }

    #[test]
    fn month_intervals_are_refused_because_months_differ_in_length() {
        assert!(parse_interval_ms("1mo").is_err());
    }

    #[test]
    fn names_without_a_date_or_with_lower_case_symbols_are_not_klines() {
        assert!(matches!(
            classify("BTCUSDT-1m-latest.zip"),
            NameKind::Other(_)
        ));
        assert!(matches!(
            classify("btcusdt-1m-2020-01-01.zip"),
            NameKind::Other(_)
        ));
    }

    #[test]
    fn interval_labels_use_the_largest_whole_unit() {
        assert_eq!(interval_label(60_000), "1m");
        assert_eq!(interval_label(7_200_000), "2h");
        assert_eq!(interval_label(90_000), "90s");
    }
}
