//! The heatmap at one bar: open positions binned by liquidation price (model step 5).
//!
//! `serde_json::to_string(&snapshot)` is exactly the `data` object sent to browsers and returned
//! over REST, so the field names are part of the public contract.

use super::bins::{BinGrid, BIN_SIZE_MAX, BIN_SIZE_MIN};
use super::outcome::BarOutcome;
use serde::Serialize;
use std::fmt;

/// One price level; densities are open notional in USD, rounded to cents.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Level {
    pub price: f64,
    pub long_density: f64,
    pub short_density: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// Open time of the snapshot's bar, ISO-8601 UTC, e.g. "2026-06-14T14:55:00Z".
    pub timestamp: String,
    pub timestamp_ms: i64,
    /// Non-empty levels, ascending by price.
    pub levels: Vec<Level>,
    /// Close of the snapshot's bar.
    pub current_price: f64,
    /// USD opened during the bar(s) the snapshot covers (long + short).
    pub positions_created: f64,
    /// USD liquidated during the bar(s) the snapshot covers (long + short).
    pub positions_consumed: f64,
    pub positions_created_long: f64,
    pub positions_created_short: f64,
    pub positions_consumed_long: f64,
    pub positions_consumed_short: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SnapshotError {
    /// No bar has been applied, so there is no time or price to report.
    NoBarYet,
    BinSizeInvalid {
        bin_size: f64,
    },
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoBarYet => write!(f, "no bar has been applied yet"),
            Self::BinSizeInvalid { bin_size } => write!(
                f,
                "bin size {bin_size} is invalid: it must be a number in [{BIN_SIZE_MIN}, {BIN_SIZE_MAX}]"
            ),
        }
    }
}

impl std::error::Error for SnapshotError {}

/// The bar a snapshot describes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BarMark {
    pub open_time_ms: i64,
    pub close: f64,
}

/// Builds a snapshot. `longs` and `shorts` yield (liquidation price, USD) in ascending price.
pub fn build(
    mark: BarMark,
    longs: impl Iterator<Item = (f64, f64)>,
    shorts: impl Iterator<Item = (f64, f64)>,
    grid: BinGrid,
    activity: &BarOutcome,
) -> Snapshot {
    let long_bins = bin_sorted(longs, grid);
    let short_bins = bin_sorted(shorts, grid);
    Snapshot {
        timestamp: crate::core::time::iso8601_utc_ms(mark.open_time_ms),
        timestamp_ms: mark.open_time_ms,
        levels: merge_sides(&long_bins, &short_bins, grid),
        current_price: mark.close,
        positions_created: cents(activity.created_long + activity.created_short),
        positions_consumed: cents(activity.consumed_long + activity.consumed_short),
        positions_created_long: cents(activity.created_long),
        positions_created_short: cents(activity.created_short),
        positions_consumed_long: cents(activity.consumed_long),
        positions_consumed_short: cents(activity.consumed_short),
    }
}

/// Sums ascending (price, USD) pairs per bin; the output is ascending by bin index.
fn bin_sorted(positions: impl Iterator<Item = (f64, f64)>, grid: BinGrid) -> Vec<(f64, f64)> {
    let mut bins: Vec<(f64, f64)> = Vec::new();
    // Prices below this are in the last bin; NEG_INFINITY until the first position.
    let mut sure_edge = f64::NEG_INFINITY;
    for (price, usd) in positions {
        if let (true, Some((_, sum))) = (price < sure_edge, bins.last_mut()) {
            *sum += usd;
            continue;
        }
        let index = grid.index(price);
        match bins.last_mut() {
            Some((last_index, sum)) if *last_index == index => *sum += usd,
            _ => bins.push((index, usd)),
        }
        sure_edge = grid.sure_upper_edge(index).unwrap_or(f64::NEG_INFINITY);
    }
    bins
}

/// Merges the two ascending bin lists into levels, one per bin index present on either side.
fn merge_sides(longs: &[(f64, f64)], shorts: &[(f64, f64)], grid: BinGrid) -> Vec<Level> {
    let mut levels = Vec::with_capacity(longs.len() + shorts.len());
    let (mut l, mut s) = (0, 0);
    while l < longs.len() || s < shorts.len() {
        let long = longs.get(l).copied();
        let short = shorts.get(s).copied();
        let (index, long_usd, short_usd) = match (long, short) {
            (Some((li, lu)), Some((si, su))) if li == si => {
                l += 1;
                s += 1;
                (li, lu, su)
            }
            (Some((li, lu)), Some((si, _))) if li < si => {
                l += 1;
                (li, lu, 0.0)
            }
            (Some((li, lu)), None) => {
                l += 1;
                (li, lu, 0.0)
            }
            (_, Some((si, su))) => {
                s += 1;
                (si, 0.0, su)
            }
            (None, None) => break,
        };
        levels.push(Level {
            price: grid.price(index),
            long_density: cents(long_usd),
            short_density: cents(short_usd),
        });
    }
    levels
}

/// Rounds USD to cents: keeps the JSON short and claims no precision the model does not have.
fn cents(usd: f64) -> f64 {
    (usd * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(size: f64) -> BinGrid {
        BinGrid::new(size).unwrap()
    }

    #[test]
    fn positions_in_one_bin_are_summed() {
        let bins = bin_sorted(
            [(100.0, 1.0), (150.0, 2.0), (199.9, 3.0), (200.0, 4.0)].into_iter(),
            grid(100.0),
        );
        assert_eq!(bins, vec![(1.0, 6.0), (2.0, 4.0)]);
    }

    #[test]
    fn sides_sharing_a_bin_share_a_level() {
        let levels = merge_sides(
            &[(1.0, 5.0), (3.0, 1.0)],
            &[(2.0, 7.0), (3.0, 2.0)],
            grid(10.0),
        );
        let expected = vec![
            Level {
                price: 10.0,
                long_density: 5.0,
                short_density: 0.0,
            },
            Level {
                price: 20.0,
                long_density: 0.0,
                short_density: 7.0,
            },
            Level {
                price: 30.0,
                long_density: 1.0,
                short_density: 2.0,
            },
        ];
        assert_eq!(levels, expected);
    }

    #[test]
    fn snapshot_json_has_the_contract_field_names() {
        let mark = BarMark {
            open_time_ms: 1_781_448_900_000,
            close: 60_000.5,
        };
        let activity = BarOutcome {
            created_long: 1.0,
            created_short: 2.0,
            consumed_long: 3.0,
            consumed_short: 4.0,
            closed: 0.0,
        };
        let snapshot = build(
            mark,
            [(59_000.0, 10.0)].into_iter(),
            std::iter::empty(),
            grid(100.0),
            &activity,
        );
        let json = serde_json::to_string(&snapshot).unwrap();
        assert_eq!(
            json,
            "{\"timestamp\":\"2026-06-14T14:55:00Z\",\"timestamp_ms\":1781448900000,\
             \"levels\":[{\"price\":59000.0,\"long_density\":10.0,\"short_density\":0.0}],\
             \"current_price\":60000.5,\"positions_created\":3.0,\"positions_consumed\":7.0,\
             \"positions_created_long\":1.0,\"positions_created_short\":2.0,\
             \"positions_consumed_long\":3.0,\"positions_consumed_short\":4.0}"
        );
    }
}
