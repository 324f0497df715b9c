//! Query-string parameters: decoded once, checked against the names each endpoint accepts.

use std::collections::BTreeMap;

use super::RestError;

/// Longest query string accepted (the request head is bounded anyway; this bounds the work).
const QUERY_BYTES_MAX: usize = 2048;

/// Decoded parameters of one request.
#[derive(Debug, Clone, Default)]
pub struct QueryParams {
    values: BTreeMap<String, String>,
}

impl QueryParams {
    /// Decodes `query`, refusing parameters outside `allowed` and repeated ones.
    pub fn parse(query: &str, allowed: &[&str]) -> Result<QueryParams, RestError> {
        if query.len() > QUERY_BYTES_MAX {
            return Err(RestError::bad_request("INVALID_PARAMETER", format!("query string longer than {QUERY_BYTES_MAX} bytes")));
        }
        let mut values = BTreeMap::new();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            if !allowed.contains(&key.as_ref()) {
                return Err(RestError::bad_request(
                    "INVALID_PARAMETER",
                    format!("unknown parameter {key:?}; accepted: {}", allowed.join(", ")),
                ));
            }
            if values.insert(key.to_string(), value.to_string()).is_some() {
                return Err(RestError::bad_request("INVALID_PARAMETER", format!("parameter {key:?} given twice")));
            }
        }
        Ok(QueryParams { values })
    }

    /// The value, or `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// A time parameter (ISO-8601 or Unix ms), if given; 422 when it is neither.
    pub fn time(&self, name: &str) -> Result<Option<i64>, RestError> {
        self.get(name)
            .map(|text| {
                parse_time(text).ok_or_else(|| {
                    RestError::unprocessable("INVALID_WINDOW", format!("{name} {text:?} is neither ISO-8601 nor Unix milliseconds"))
                })
            })
            .transpose()
    }

    /// The `symbol` parameter, checked against the supported list (400 otherwise).
    pub fn symbol(&self, supported: &[String]) -> Result<String, RestError> {
        let Some(symbol) = self.get("symbol") else {
            return Err(RestError::bad_request("INVALID_SYMBOL", format!("parameter \"symbol\" is required; supported: {}", supported.join(","))));
        };
        if !supported.iter().any(|s| s == symbol) {
            return Err(RestError::bad_request(
                "INVALID_SYMBOL",
                format!("unsupported symbol {symbol:?}; supported: {}", supported.join(",")),
            ));
        }
        Ok(symbol.to_string())
    }
}

/// Parses a time given as ISO-8601 (`2026-06-14T12:00:00Z`, offsets allowed, or a naive UTC
/// `2026-06-14T12:00:00` / `2026-06-14`) or as Unix milliseconds.
pub fn parse_time(text: &str) -> Option<i64> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

/// Named intervals and their length in milliseconds.
pub const INTERVALS: [(&str, i64); 9] = [
    ("5m", 300_000),
    ("15m", 900_000),
    ("30m", 1_800_000),
    ("1h", 3_600_000),
    ("2h", 7_200_000),
    ("4h", 14_400_000),
    ("8h", 28_800_000),
    ("12h", 43_200_000),
    ("1d", 86_400_000),
];

/// Named windows for `time_window`.
pub const WINDOWS: [(&str, i64); 5] = [
    ("48h", 48 * 3_600_000),
    ("3d", 3 * 86_400_000),
    ("7d", 7 * 86_400_000),
    ("14d", 14 * 86_400_000),
    ("30d", 30 * 86_400_000),
];

pub fn interval_ms(name: &str) -> Result<i64, RestError> {
    lookup(&INTERVALS, name).ok_or_else(|| {
        RestError::unprocessable("INVALID_INTERVAL", format!("interval {name:?} is not one of {}", names(&INTERVALS)))
    })
}

pub fn window_ms(name: &str) -> Result<i64, RestError> {
    lookup(&WINDOWS, name).ok_or_else(|| {
        RestError::unprocessable("INVALID_WINDOW", format!("time_window {name:?} is not one of {}", names(&WINDOWS)))
    })
}

fn lookup(table: &[(&str, i64)], name: &str) -> Option<i64> {
    table.iter().find(|(n, _)| *n == name).map(|(_, ms)| *ms)
}

fn names(table: &[(&str, i64)]) -> String {
    table.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_from_iso_and_unix_ms() {
        assert_eq!(parse_time("1781448900000"), Some(1_781_448_900_000));
        assert_eq!(parse_time("2026-06-14T14:55:00Z"), Some(1_781_448_900_000));
        assert_eq!(parse_time("2026-06-14T16:55:00+02:00"), Some(1_781_448_900_000));
        assert_eq!(parse_time("2026-06-14T14:55:00"), Some(1_781_448_900_000));
        assert_eq!(parse_time("2026-06-14"), Some(1_781_395_200_000));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn unknown_parameter_is_refused_with_the_accepted_list() {
        let e = QueryParams::parse("symbol=BTCUSDT&colour=red", &["symbol"]).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("colour"));
    }

    #[test]
    fn repeated_parameter_is_refused() {
        assert!(QueryParams::parse("symbol=A&symbol=B", &["symbol"]).is_err());
    }
}
