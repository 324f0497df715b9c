//! Price bins of a snapshot: the default bin size and the mapping of prices to level prices.

/// Smallest accepted bin size, in quote currency (USD).
pub const BIN_SIZE_MIN: f64 = 1e-9;
/// Largest accepted bin size, in quote currency (USD).
pub const BIN_SIZE_MAX: f64 = 1e9;
/// The default bin is about price / this: ~600 levels across the whole price axis, of which the
/// visible band around the price shows a few hundred.
const PRICE_TO_BIN_RATIO: f64 = 600.0;
/// Bin size used when the price is not a positive finite number (no better guess exists).
const FALLBACK_BIN_SIZE: f64 = 1.0;

/// About price / 600 rounded to the nearest 1-2-5 step (nearest on a log scale):
/// 60,000 -> 100, 3,000 -> 5, 100,000 -> 200, 1 -> 0.002. Returns 1 for a price that is not a
/// positive finite number.
pub fn default_bin_size(price: f64) -> f64 {
    if !(price.is_finite() && price > 0.0) {
        return FALLBACK_BIN_SIZE;
    }
    let target = price / PRICE_TO_BIN_RATIO;
    let mut exponent = target.log10().floor() as i32;
    let mut mantissa = target / 10f64.powi(exponent);
    // log10 can be off by one ulp at exact powers of ten.
    if mantissa >= 10.0 {
        mantissa /= 10.0;
        exponent += 1;
    } else if mantissa < 1.0 {
        mantissa *= 10.0;
        exponent -= 1;
    }
    // Boundaries are the geometric means of neighbouring steps: sqrt(2), sqrt(10), sqrt(50).
    let step = if mantissa < 2f64.sqrt() {
        1.0
    } else if mantissa < 10f64.sqrt() {
        2.0
    } else if mantissa < 50f64.sqrt() {
        5.0
    } else {
        10.0
    };
    // Dividing by an exact power of ten keeps decimal bins like 0.002 correctly rounded.
    if exponent >= 0 {
        step * 10f64.powi(exponent)
    } else {
        step / 10f64.powi(-exponent)
    }
}

/// Maps liquidation prices to level prices: floor(price / bin) * bin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinGrid {
    size: f64,
    /// 1 / size when that is an integer (bins like 0.01 or 0.5): multiplying and dividing by an
    /// integer gives level prices like 0.07 instead of 0.07000000000000001.
    inverse: Option<f64>,
}

impl BinGrid {
    /// `None` unless `size` is finite and within [BIN_SIZE_MIN, BIN_SIZE_MAX].
    pub fn new(size: f64) -> Option<Self> {
        if !(size.is_finite() && (BIN_SIZE_MIN..=BIN_SIZE_MAX).contains(&size)) {
            return None;
        }
        let inverse = (1.0 / size).round();
        let exact_inverse = size < 1.0 && ((1.0 / size) - inverse).abs() <= 1e-9 * inverse;
        Some(Self {
            size,
            inverse: exact_inverse.then_some(inverse),
        })
    }

    /// Index of the bin holding `price` (an integer-valued float, so any magnitude is safe).
    pub fn index(&self, price: f64) -> f64 {
        let bins = match self.inverse {
            Some(inverse) => price * inverse,
            None => price / self.size,
        };
        floor_non_negative(bins)
    }

    /// A price below which every price at or above one in bin `index` is still in bin `index`,
    /// or `None` when the bin is too far out for that to be certain. Lets a sorted walk skip the
    /// division for all but the first position of each bin while binning exactly like `index`:
    /// the edge sits 1e-12 (relative) inside the bin, far beyond the 1e-16 rounding of `index`.
    pub fn sure_upper_edge(&self, index: f64) -> Option<f64> {
        (index < SURE_EDGE_INDEX_LIMIT).then(|| self.price(index + 1.0) * (1.0 - SURE_EDGE_MARGIN))
    }

    /// Lower edge of bin `index`: the level price.
    pub fn price(&self, index: f64) -> f64 {
        match self.inverse {
            Some(inverse) => index / inverse,
            None => index * self.size,
        }
    }
}

/// Relative margin of `sure_upper_edge` below the true bin edge.
const SURE_EDGE_MARGIN: f64 = 1e-12;
/// Bin indices from here on are so large that the margin no longer spans a whole unit.
const SURE_EDGE_INDEX_LIMIT: f64 = 1e9;

/// Below this every f64 is exactly representable as an integer and fits an i64.
const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53

/// floor() for prices, which are never negative: truncating through i64 is two instructions,
/// while `f64::floor` is a libm call on baseline x86-64 (snapshot builds floor every position).
fn floor_non_negative(value: f64) -> f64 {
    if value < EXACT_INTEGER_LIMIT {
        (value as i64) as f64
    } else {
        value.floor()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn btc_near_60000_gets_100() {
        assert_eq!(default_bin_size(60_000.0), 100.0);
    }

    #[test]
    fn eth_near_3000_gets_5() {
        assert_eq!(default_bin_size(3_000.0), 5.0);
    }

    #[test]
    fn btc_near_100000_gets_200() {
        // 100,000 / 600 = 166.7, nearer to 200 than to 100 on a log scale.
        assert_eq!(default_bin_size(100_000.0), 200.0);
    }

    #[test]
    fn price_of_one_gets_a_clean_decimal() {
        assert_eq!(default_bin_size(1.0), 0.002);
    }

    #[test]
    fn price_near_300_gets_half() {
        // 300 / 600 = 0.5 exactly.
        assert_eq!(default_bin_size(300.0), 0.5);
    }

    #[test]
    fn invalid_price_gets_the_fallback() {
        assert_eq!(default_bin_size(f64::NAN), 1.0);
        assert_eq!(default_bin_size(-5.0), 1.0);
    }

    #[test]
    fn grid_floors_to_the_lower_edge() {
        let grid = BinGrid::new(100.0).unwrap();
        assert_eq!(grid.price(grid.index(59_999.9)), 59_900.0);
        assert_eq!(grid.price(grid.index(60_000.0)), 60_000.0);
    }

    #[test]
    fn decimal_grid_prints_clean_prices() {
        let grid = BinGrid::new(0.01).unwrap();
        assert_eq!(grid.price(grid.index(0.0712)), 0.07);
    }

    #[test]
    fn flooring_matches_f64_floor() {
        for value in [0.0, 0.3, 1.0, 2.999_999, 12_345.678, 9.1e15, 1e17, 3.5e21] {
            assert_eq!(floor_non_negative(value), value.floor(), "{value}");
        }
    }

    #[test]
    fn prices_below_the_sure_edge_stay_in_the_bin() {
        for size in [100.0, 5.0, 0.3, 0.01, 7e-9] {
            let grid = BinGrid::new(size).unwrap();
            for index in [0.0, 1.0, 599.0, 123_456.0] {
                let edge = grid.sure_upper_edge(index).unwrap();
                assert_eq!(
                    grid.index(edge.next_down()),
                    index,
                    "size {size} index {index}"
                );
                assert!(edge < grid.price(index + 1.0));
            }
        }
    }

    #[test]
    fn grid_rejects_zero_nan_and_huge_sizes() {
        assert_eq!(BinGrid::new(0.0), None);
        assert_eq!(BinGrid::new(f64::NAN), None);
        assert_eq!(BinGrid::new(1e10), None);
    }
}
