//! Where and in which direction a bar's new open interest is opened (model step 3).

use super::bar::Bar;

/// Entry price of positions opened during a checked bar: the VWAP when volume is known and
/// positive, otherwise the close. The VWAP is clamped into [low, high] because the check lets it
/// stray by rounding slack only, and a trade cannot have happened outside the bar's range.
pub fn entry_price(bar: &Bar) -> f64 {
    match (bar.volume, bar.quote_volume) {
        (Some(volume), Some(quote_volume)) if volume > 0.0 => {
            (quote_volume / volume).clamp(bar.low, bar.high)
        }
        _ => bar.close,
    }
}

/// The entry prices of one opening: with `points == 1` the single [`entry_price`]; otherwise
/// `points` prices spread evenly over [low, high] at `low + (high - low) * (i + 0.5) / points`
/// (the bar traded through its whole range, and its close is only where it stopped).
pub fn entry_prices(bar: &Bar, points: u32) -> impl Iterator<Item = f64> + '_ {
    let single = (points <= 1).then(|| entry_price(bar));
    let spread = (points > 1).then_some(points).into_iter().flat_map(move |n| {
        (0..n).map(move |i| bar.low + (bar.high - bar.low) * (f64::from(i) + 0.5) / f64::from(n))
    });
    single.into_iter().chain(spread)
}

/// Fraction of the new notional that opens long: the taker-buy share of volume when known,
/// otherwise 1 for a rising bar, 0 for a falling bar and 0.5 for a flat bar.
pub fn long_share(bar: &Bar) -> f64 {
    match (bar.volume, bar.taker_buy_volume) {
        (Some(volume), Some(taker_buy_volume)) if volume > 0.0 => {
            (taker_buy_volume / volume).clamp(0.0, 1.0)
        }
        _ if bar.close > bar.open => 1.0,
        _ if bar.close < bar.open => 0.0,
        _ => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(open: f64, close: f64) -> Bar {
        Bar {
            open_time_ms: 0,
            open,
            high: open.max(close) + 1.0,
            low: open.min(close) - 1.0,
            close,
            volume: None,
            quote_volume: None,
            taker_buy_volume: None,
            open_interest_usd: None,
        }
    }

    #[test]
    fn entry_is_the_vwap_when_volume_is_known() {
        let with_volume = Bar {
            volume: Some(4.0),
            quote_volume: Some(402.0),
            ..bar(100.0, 101.0)
        };
        assert_eq!(entry_price(&with_volume), 100.5);
    }

    #[test]
    fn entry_is_the_close_without_volume() {
        assert_eq!(entry_price(&bar(100.0, 101.0)), 101.0);
    }

    #[test]
    fn entry_is_the_close_when_volume_is_zero() {
        let idle = Bar {
            volume: Some(0.0),
            quote_volume: Some(0.0),
            ..bar(100.0, 101.0)
        };
        assert_eq!(entry_price(&idle), 101.0);
    }

    #[test]
    fn long_share_is_the_taker_buy_share_when_known() {
        let with_taker = Bar {
            volume: Some(8.0),
            taker_buy_volume: Some(2.0),
            ..bar(100.0, 90.0)
        };
        assert_eq!(long_share(&with_taker), 0.25);
    }

    #[test]
    fn rising_bar_without_volume_opens_only_longs() {
        assert_eq!(long_share(&bar(100.0, 101.0)), 1.0);
    }

    #[test]
    fn falling_bar_without_volume_opens_only_shorts() {
        assert_eq!(long_share(&bar(100.0, 99.0)), 0.0);
    }

    #[test]
    fn flat_bar_without_volume_opens_both_sides_equally() {
        assert_eq!(long_share(&bar(100.0, 100.0)), 0.5);
    }
}
