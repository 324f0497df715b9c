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
        match self.inverse {
            Some(inverse) => (price * inverse).floor(),
            None => (price / self.size).floor(),
        }
    }

    /// Lower edge of bin `index`: the level price.
    pub fn price(&self, index: f64) -> f64 {
        match self.inverse {
            Some(inverse) => index / inverse,
            None => index * self.size,
        }
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
    fn grid_rejects_zero_nan_and_huge_sizes() {
        assert_eq!(BinGrid::new(0.0), None);
        assert_eq!(BinGrid::new(f64::NAN), None);
        assert_eq!(BinGrid::new(1e10), None);
    }
}
