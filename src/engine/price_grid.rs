//! The geometric grid liquidation prices snap to (`EngineParams::price_step`, docs/model.md
//! "Per-bar steps", step 3): grid point `k` is `exp(k * step_ln)` with `step_ln = ln(1 + price_step)`.
//!
//! Snapping is the engine's hottest arithmetic (every tier slice of every opening, for both
//! sides), so this module keeps it cheap. The grid point is the one `ln(price) / step_ln`
//! rounds to, except where the shortcuts below round an exact half-step differently (a last-bit
//! difference, never seen in the property tests):
//! - the caller passes `ln(entry) + ln(factor)` (one `ln` per entry point, the tiers' `ln(factor)`
//!   precomputed) instead of `ln(entry * factor)` per slice;
//! - `k` is `price_ln * (1 / step_ln)`, a multiplication instead of a division, rounded half away
//!   from zero with integer truncation, not libm's `round` (baseline x86-64 has no `roundsd`);
//! - `exp(k * step_ln)` is remembered in a small direct-mapped cache keyed by `k`: consecutive
//!   bars open at nearly the same prices, so most snaps hit it. The cache holds exactly the value
//!   `exp` returns, so a hit and a miss give the same bits.

/// Slots in the exp cache (a power of two; slot = k mod this). An opening's grid points span
/// about 1,000 steps at the default step (tiers from 25x to 125x, longs and shorts), so fewer
/// slots would make its own points evict each other.
const EXP_CACHE_SLOTS: usize = 2048;

/// Snaps log-prices to grid points; see the module docs.
#[derive(Debug, Clone)]
pub struct PriceGrid {
    /// `ln(1 + price_step)`; 0 means no grid (prices are kept exact).
    step_ln: f64,
    /// `1 / step_ln`: a multiplication per snap instead of a division.
    step_ln_inverse: f64,
    /// `(k, exp(k * step_ln))` per slot; `k == i64::MIN` marks an empty slot.
    exp_cache: Box<[(i64, f64)]>,
}

impl PriceGrid {
    /// A grid with `step_ln = ln(1 + price_step)`; `step_ln == 0` disables snapping.
    pub fn new(step_ln: f64) -> PriceGrid {
        debug_assert!(step_ln.is_finite() && step_ln >= 0.0);
        let slots = if step_ln == 0.0 { 0 } else { EXP_CACHE_SLOTS };
        let step_ln_inverse = if step_ln == 0.0 { 0.0 } else { 1.0 / step_ln };
        PriceGrid { step_ln, step_ln_inverse, exp_cache: vec![(i64::MIN, 0.0); slots].into_boxed_slice() }
    }

    /// True when prices snap to the grid.
    pub fn is_active(&self) -> bool {
        self.step_ln != 0.0
    }

    /// The grid point nearest `exp(price_ln)` in log space (ties away from zero), where
    /// `price_ln` is the natural log of a positive, finite price: its index `k` and its price
    /// `exp(k * step_ln)`.
    pub fn snap_ln(&mut self, price_ln: f64) -> (i64, f64) {
        debug_assert!(self.is_active() && price_ln.is_finite());
        let k = round_half_away(price_ln * self.step_ln_inverse);
        let slot = (k as u64 as usize) & (EXP_CACHE_SLOTS - 1);
        let (cached_k, cached) = self.exp_cache[slot];
        if cached_k == k {
            return (k, cached);
        }
        let price = (k as f64 * self.step_ln).exp();
        debug_assert!(price.is_finite() && price > 0.0);
        self.exp_cache[slot] = (k, price);
        (k, price)
    }
}

/// `x.round()` as an integer, for |x| < 2^52 (prices on any grid step the params allow are far
/// inside it): truncation is exact there, so `x - trunc(x)` is the exact fraction.
fn round_half_away(x: f64) -> i64 {
    debug_assert!(x.abs() < 4.5e15);
    let truncated = x as i64;
    let fraction = x - truncated as f64;
    if fraction >= 0.5 {
        truncated + 1
    } else if fraction <= -0.5 {
        truncated - 1
    } else {
        truncated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn snap_reference(price: f64, step_ln: f64) -> f64 {
        ((price.ln() / step_ln).round() * step_ln).exp()
    }

    #[test]
    fn rounding_matches_f64_round_at_ties_and_signs() {
        for x in [0.0, 0.49999999999999994, 0.5, 1.5, 2.5, -0.5, -1.5, -2.4999, 1e12 + 0.5, -7.0] {
            assert_eq!(round_half_away(x) as f64, x.round(), "x = {x}");
        }
    }

    proptest! {
        #[test]
        fn snapping_a_price_gives_the_same_grid_point_as_ln_round_exp(
            price in 1e-6f64..1e7,
            step in prop::sample::select(vec![1e-4, 5e-4, 1e-3, 1e-2]),
        ) {
            let step_ln = f64::ln_1p(step);
            let mut grid = PriceGrid::new(step_ln);
            let (k, first) = grid.snap_ln(price.ln());
            prop_assert_eq!(k as f64, (price.ln() / step_ln).round());
            // Second call is a cache hit and must give the same bits.
            prop_assert_eq!(grid.snap_ln(price.ln()).1.to_bits(), first.to_bits());
            prop_assert_eq!(first.to_bits(), snap_reference(price, step_ln).to_bits());
        }

        #[test]
        fn a_slot_reused_by_another_k_gives_that_k_grid_point(k in 1i64..1_000_000) {
            let step_ln = f64::ln_1p(1e-4);
            let mut grid = PriceGrid::new(step_ln);
            let (_, a) = grid.snap_ln(k as f64 * step_ln);
            let (_, b) = grid.snap_ln((k + EXP_CACHE_SLOTS as i64) as f64 * step_ln);
            prop_assert!(b > a);
            prop_assert_eq!(grid.snap_ln(k as f64 * step_ln).1.to_bits(), a.to_bits());
        }
    }
}
