//! Rejection of bars the model cannot use: the engine refuses them instead of panicking or
//! silently producing NaN levels. The rules are listed in docs/model.md ("Rejected bars").

use super::bar::Bar;
use std::fmt;

/// Prices above this are rejected: a liquidation price must stay finite after multiplying by up to
/// 2, and no traded asset is quoted anywhere near it.
pub const PRICE_MAX: f64 = 1e12;
/// Open interest above this (USD) is rejected: a thousand times any real market, and low enough
/// that stored amounts (USD / scale, scale >= 1e-70) stay far from f64 overflow.
pub const OPEN_INTEREST_MAX_USD: f64 = 1e15;
/// Bar times must lie in [0, this]: 9999-12-31T23:59:59.999Z, so the ISO-8601 year has 4 digits.
pub const OPEN_TIME_MAX_MS: i64 = 253_402_300_799_999;
/// Relative slack allowed when checking the VWAP against [low, high] and the taker-buy volume
/// against the volume: exchanges round volumes to a few decimals.
pub const ROUNDING_SLACK: f64 = 1e-6;

/// Why a bar was rejected. The engine state is unchanged after a rejection.
#[derive(Debug, Clone, PartialEq)]
pub enum BarError {
    /// A field is NaN or infinite.
    NotFinite {
        field: &'static str,
        value: f64,
    },
    /// A price is zero or negative.
    NotPositive {
        field: &'static str,
        value: f64,
    },
    /// A price is above [`PRICE_MAX`] or the open interest above [`OPEN_INTEREST_MAX_USD`].
    TooLarge {
        field: &'static str,
        value: f64,
        limit: f64,
    },
    /// A volume or the open interest is negative.
    Negative {
        field: &'static str,
        value: f64,
    },
    HighBelowLow {
        high: f64,
        low: f64,
    },
    /// Open or close lies outside [low, high].
    OutsideRange {
        field: &'static str,
        value: f64,
        low: f64,
        high: f64,
    },
    /// quote_volume / volume lies outside [low, high] (beyond rounding slack).
    VwapOutsideRange {
        vwap: f64,
        low: f64,
        high: f64,
    },
    TakerBuyExceedsVolume {
        taker_buy_volume: f64,
        volume: f64,
    },
    /// Open time outside [0, OPEN_TIME_MAX_MS].
    TimeOutOfRange {
        open_time_ms: i64,
    },
    /// Bars must arrive in strictly increasing open time.
    TimeNotAfterPrevious {
        open_time_ms: i64,
        previous_ms: i64,
    },
}

impl fmt::Display for BarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFinite { field, value } => {
                write!(f, "{field} is {value}, not a finite number")
            }
            Self::NotPositive { field, value } => write!(f, "{field} is {value}, must be > 0"),
            Self::TooLarge {
                field,
                value,
                limit,
            } => write!(f, "{field} is {value}, above the limit {limit}"),
            Self::Negative { field, value } => write!(f, "{field} is {value}, must be >= 0"),
            Self::HighBelowLow { high, low } => write!(f, "high {high} is below low {low}"),
            Self::OutsideRange {
                field,
                value,
                low,
                high,
            } => {
                write!(f, "{field} {value} lies outside [low {low}, high {high}]")
            }
            Self::VwapOutsideRange { vwap, low, high } => write!(
                f,
                "quote_volume/volume = {vwap} lies outside [low {low}, high {high}]"
            ),
            Self::TakerBuyExceedsVolume {
                taker_buy_volume,
                volume,
            } => write!(
                f,
                "taker_buy_volume {taker_buy_volume} exceeds volume {volume}"
            ),
            Self::TimeOutOfRange { open_time_ms } => write!(
                f,
                "open time {open_time_ms} ms is outside [0, {OPEN_TIME_MAX_MS}] ms"
            ),
            Self::TimeNotAfterPrevious {
                open_time_ms,
                previous_ms,
            } => write!(
                f,
                "open time {open_time_ms} ms is not after the previous bar's {previous_ms} ms"
            ),
        }
    }
}

impl std::error::Error for BarError {}

/// Checks one bar on its own and against the previous bar's open time.
pub fn check_bar(bar: &Bar, previous_ms: Option<i64>) -> Result<(), BarError> {
    if !(0..=OPEN_TIME_MAX_MS).contains(&bar.open_time_ms) {
        return Err(BarError::TimeOutOfRange {
            open_time_ms: bar.open_time_ms,
        });
    }
    if let Some(previous_ms) = previous_ms {
        if bar.open_time_ms <= previous_ms {
            return Err(BarError::TimeNotAfterPrevious {
                open_time_ms: bar.open_time_ms,
                previous_ms,
            });
        }
    }
    for (field, value) in [
        ("open", bar.open),
        ("high", bar.high),
        ("low", bar.low),
        ("close", bar.close),
    ] {
        check_price(field, value)?;
    }
    if bar.high < bar.low {
        return Err(BarError::HighBelowLow {
            high: bar.high,
            low: bar.low,
        });
    }
    for (field, value) in [("open", bar.open), ("close", bar.close)] {
        if value < bar.low || value > bar.high {
            return Err(BarError::OutsideRange {
                field,
                value,
                low: bar.low,
                high: bar.high,
            });
        }
    }
    let optional = [
        ("volume", bar.volume),
        ("quote_volume", bar.quote_volume),
        ("taker_buy_volume", bar.taker_buy_volume),
        ("open_interest_usd", bar.open_interest_usd),
    ];
    for (field, value) in optional {
        if let Some(value) = value {
            check_amount(field, value)?;
        }
    }
    if let Some(value) = bar
        .open_interest_usd
        .filter(|&value| value > OPEN_INTEREST_MAX_USD)
    {
        return Err(BarError::TooLarge {
            field: "open_interest_usd",
            value,
            limit: OPEN_INTEREST_MAX_USD,
        });
    }
    check_volumes(bar)
}

fn check_price(field: &'static str, value: f64) -> Result<(), BarError> {
    if !value.is_finite() {
        return Err(BarError::NotFinite { field, value });
    }
    if value <= 0.0 {
        return Err(BarError::NotPositive { field, value });
    }
    if value > PRICE_MAX {
        return Err(BarError::TooLarge {
            field,
            value,
            limit: PRICE_MAX,
        });
    }
    Ok(())
}

fn check_amount(field: &'static str, value: f64) -> Result<(), BarError> {
    if !value.is_finite() {
        return Err(BarError::NotFinite { field, value });
    }
    if value < 0.0 {
        return Err(BarError::Negative { field, value });
    }
    Ok(())
}

fn check_volumes(bar: &Bar) -> Result<(), BarError> {
    let Some(volume) = bar.volume else {
        return Ok(());
    };
    if let Some(taker_buy_volume) = bar.taker_buy_volume {
        if taker_buy_volume > volume * (1.0 + ROUNDING_SLACK) {
            return Err(BarError::TakerBuyExceedsVolume {
                taker_buy_volume,
                volume,
            });
        }
    }
    if let (Some(quote_volume), true) = (bar.quote_volume, volume > 0.0) {
        let vwap = quote_volume / volume;
        let inside =
            vwap >= bar.low * (1.0 - ROUNDING_SLACK) && vwap <= bar.high * (1.0 + ROUNDING_SLACK);
        if !inside {
            return Err(BarError::VwapOutsideRange {
                vwap,
                low: bar.low,
                high: bar.high,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good_bar() -> Bar {
        Bar {
            open_time_ms: 1_780_807_200_000,
            open: 100.0,
            high: 110.0,
            low: 90.0,
            close: 105.0,
            volume: Some(10.0),
            quote_volume: Some(1000.0),
            taker_buy_volume: Some(6.0),
            open_interest_usd: Some(1e6),
        }
    }

    #[test]
    fn a_consistent_bar_is_accepted() {
        assert_eq!(check_bar(&good_bar(), None), Ok(()));
    }

    #[test]
    fn nan_close_is_rejected() {
        let bar = Bar {
            close: f64::NAN,
            ..good_bar()
        };
        assert!(matches!(
            check_bar(&bar, None),
            Err(BarError::NotFinite { field: "close", .. })
        ));
    }

    #[test]
    fn infinite_high_is_rejected() {
        let bar = Bar {
            high: f64::INFINITY,
            ..good_bar()
        };
        assert!(matches!(
            check_bar(&bar, None),
            Err(BarError::NotFinite { field: "high", .. })
        ));
    }

    #[test]
    fn zero_low_is_rejected() {
        let bar = Bar {
            low: 0.0,
            ..good_bar()
        };
        assert_eq!(
            check_bar(&bar, None),
            Err(BarError::NotPositive {
                field: "low",
                value: 0.0
            })
        );
    }

    #[test]
    fn high_below_low_is_rejected() {
        let bar = Bar {
            high: 95.0,
            low: 96.0,
            open: 95.5,
            close: 95.5,
            volume: None,
            ..good_bar()
        };
        assert_eq!(
            check_bar(&bar, None),
            Err(BarError::HighBelowLow {
                high: 95.0,
                low: 96.0
            })
        );
    }

    #[test]
    fn close_above_high_is_rejected() {
        let bar = Bar {
            close: 111.0,
            ..good_bar()
        };
        assert!(matches!(
            check_bar(&bar, None),
            Err(BarError::OutsideRange { field: "close", .. })
        ));
    }

    #[test]
    fn negative_open_interest_is_rejected() {
        let bar = Bar {
            open_interest_usd: Some(-1.0),
            ..good_bar()
        };
        assert_eq!(
            check_bar(&bar, None),
            Err(BarError::Negative {
                field: "open_interest_usd",
                value: -1.0
            })
        );
    }

    #[test]
    fn absurd_open_interest_is_rejected() {
        let bar = Bar {
            open_interest_usd: Some(1e300),
            ..good_bar()
        };
        assert_eq!(
            check_bar(&bar, None),
            Err(BarError::TooLarge {
                field: "open_interest_usd",
                value: 1e300,
                limit: OPEN_INTEREST_MAX_USD
            })
        );
    }

    #[test]
    fn taker_buy_above_volume_is_rejected() {
        let bar = Bar {
            taker_buy_volume: Some(11.0),
            ..good_bar()
        };
        assert!(matches!(
            check_bar(&bar, None),
            Err(BarError::TakerBuyExceedsVolume { .. })
        ));
    }

    #[test]
    fn vwap_outside_the_range_is_rejected() {
        let bar = Bar {
            quote_volume: Some(2000.0),
            ..good_bar()
        };
        assert!(matches!(
            check_bar(&bar, None),
            Err(BarError::VwapOutsideRange { .. })
        ));
    }

    #[test]
    fn a_bar_not_after_the_previous_is_rejected() {
        let bar = good_bar();
        assert_eq!(
            check_bar(&bar, Some(bar.open_time_ms)),
            Err(BarError::TimeNotAfterPrevious {
                open_time_ms: bar.open_time_ms,
                previous_ms: bar.open_time_ms
            })
        );
    }

    #[test]
    fn a_negative_time_is_rejected() {
        let bar = Bar {
            open_time_ms: -1,
            ..good_bar()
        };
        assert_eq!(
            check_bar(&bar, None),
            Err(BarError::TimeOutOfRange { open_time_ms: -1 })
        );
    }

    #[test]
    fn error_message_names_field_and_value() {
        let error = BarError::NotPositive {
            field: "low",
            value: -3.0,
        };
        assert_eq!(error.to_string(), "low is -3, must be > 0");
    }
}
