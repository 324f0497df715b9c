//! The open positions of one side (longs or shorts), ordered by liquidation price.
//!
//! Amounts are stored "raw": the USD notional divided by the engine's global scale factor, so a
//! proportional close of every position is one multiplication of the scale (see state_machine.rs).
//! Positions at exactly the same liquidation price are merged.
//!
//! Dust (positions whose raw amount is below the caller's `dust_raw`, i.e. worth less than
//! DUST_USD) is dropped lazily: callers skip it when reading, liquidation reports it separately
//! from live notional, and a sweep removes it once the book has doubled since the last sweep.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use super::grid_slots::{self, GridSlots};

/// A sweep runs only once the book holds this many positions more than twice its size after the
/// previous sweep, so small books are never swept and sweeps cost O(1) per position amortised.
const SWEEP_SLACK_POSITIONS: usize = 1024;

/// A liquidation price as an ordered integer: for positive finite f64 the IEEE-754 bit pattern
/// orders exactly like the number, so the map key is exact (no rounding of prices).
fn price_key(price: f64) -> u64 {
    debug_assert!(price.is_finite() && price > 0.0);
    price.to_bits()
}

/// Raw amounts taken out by one removal, split into positions still worth at least dust and
/// dust that had not been swept yet.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Removed {
    pub live: f64,
    pub dust: f64,
}

impl Removed {
    fn take(&mut self, raw: f64, dust_raw: f64) {
        if raw < dust_raw {
            self.dust += raw;
        } else {
            self.live += raw;
        }
    }
}

/// A book's positions in ascending liquidation price: (price, raw amount).
pub enum Iter<'a> {
    Exact(std::collections::btree_map::Iter<'a, u64, f64>),
    Grid(grid_slots::Iter<'a>),
}

impl Iterator for Iter<'_> {
    type Item = (f64, f64);

    fn next(&mut self) -> Option<(f64, f64)> {
        match self {
            Iter::Exact(map) => map.next().map(|(&key, &raw)| (f64::from_bits(key), raw)),
            Iter::Grid(slots) => slots.next(),
        }
    }
}

/// Where the positions live.
#[derive(Debug, Clone)]
enum Positions {
    /// Any liquidation price: an ordered map.
    Exact {
        /// Most distinct liquidation prices kept; beyond it a new slice joins the nearest price.
        positions_max: usize,
        /// Liquidation price key -> raw amount (> 0).
        map: BTreeMap<u64, f64>,
    },
    /// Liquidation prices on the price grid: one slot per grid point (O(1) inserts).
    Grid(GridSlots),
}

#[derive(Debug, Clone)]
pub struct SideBook {
    positions: Positions,
    raw_sum: f64,
    /// Size right after the last sweep (or the smallest since): the sweep trigger's baseline.
    swept_len: usize,
}

impl SideBook {
    /// A book for any liquidation price, holding at most `positions_max` distinct prices.
    pub fn new(positions_max: usize) -> Self {
        Self::with(Positions::Exact { positions_max: positions_max.max(1), map: BTreeMap::new() })
    }

    /// A book whose liquidation prices are price-grid points ([`SideBook::add_on_grid`]), spanning
    /// at most `slots_max` grid points.
    pub fn on_grid(slots_max: usize) -> Self {
        Self::with(Positions::Grid(GridSlots::new(slots_max)))
    }

    fn with(positions: Positions) -> Self {
        Self { positions, raw_sum: 0.0, swept_len: 0 }
    }

    /// Stored positions, dust not yet swept included.
    pub fn len(&self) -> usize {
        match &self.positions {
            Positions::Exact { map, .. } => map.len(),
            Positions::Grid(slots) => slots.len(),
        }
    }

    /// Sum of stored raw amounts, dust not yet swept included.
    pub fn raw_sum(&self) -> f64 {
        self.raw_sum
    }

    /// Positions in ascending liquidation price: (liquidation price, raw amount), dust included.
    pub fn iter(&self) -> Iter<'_> {
        match &self.positions {
            Positions::Exact { map, .. } => Iter::Exact(map.iter()),
            Positions::Grid(slots) => Iter::Grid(slots.iter()),
        }
    }

    /// Adds `raw` (> 0, finite) at `liquidation_price` (> 0, finite), merging with an equal price.
    /// A full book merges a new price into the nearest existing one instead (bounded memory).
    /// Only for a book made by [`SideBook::new`].
    pub fn add(&mut self, liquidation_price: f64, raw: f64) {
        let mut key = price_key(liquidation_price);
        let nearest = match &self.positions {
            Positions::Exact { positions_max, map } if map.len() >= *positions_max && !map.contains_key(&key) => {
                self.nearest_key(liquidation_price)
            }
            _ => None,
        };
        key = nearest.unwrap_or(key);
        let Positions::Exact { map, .. } = &mut self.positions else {
            unreachable!("add on a grid book: use add_on_grid");
        };
        match map.entry(key) {
            Entry::Occupied(mut existing) => *existing.get_mut() += raw,
            Entry::Vacant(slot) => {
                slot.insert(raw);
            }
        }
        self.raw_sum += raw;
    }

    /// Adds `raw` (> 0, finite) at grid point `k`, whose price is `liquidation_price` (see
    /// `price_grid.rs`). Only for a book made by [`SideBook::on_grid`].
    pub fn add_on_grid(&mut self, k: i64, liquidation_price: f64, raw: f64) {
        let Positions::Grid(slots) = &mut self.positions else {
            unreachable!("add_on_grid on an exact book: use add");
        };
        slots.add(k, liquidation_price, raw);
        self.raw_sum += raw;
    }

    /// Removes every position with liquidation price >= `price`.
    pub fn remove_at_or_above(&mut self, price: f64, dust_raw: f64) -> Removed {
        let mut removed = Removed::default();
        match &mut self.positions {
            Positions::Exact { map, .. } => {
                let bound = price_key(price);
                while let Some(entry) = map.last_entry() {
                    if *entry.key() < bound {
                        break;
                    }
                    removed.take(entry.remove(), dust_raw);
                }
            }
            Positions::Grid(slots) => slots.remove_at_or_above(price, |raw| removed.take(raw, dust_raw)),
        }
        self.after_removal(removed.live + removed.dust);
        removed
    }

    /// Removes every position with liquidation price <= `price`.
    pub fn remove_at_or_below(&mut self, price: f64, dust_raw: f64) -> Removed {
        let mut removed = Removed::default();
        match &mut self.positions {
            Positions::Exact { map, .. } => {
                let bound = price_key(price);
                while let Some(entry) = map.first_entry() {
                    if *entry.key() > bound {
                        break;
                    }
                    removed.take(entry.remove(), dust_raw);
                }
            }
            Positions::Grid(slots) => slots.remove_at_or_below(price, |raw| removed.take(raw, dust_raw)),
        }
        self.after_removal(removed.live + removed.dust);
        removed
    }

    /// Removes every position below `dust_raw` if the book has more than doubled (plus slack)
    /// since the last sweep; returns the raw amount removed.
    pub fn sweep_dust_if_crowded(&mut self, dust_raw: f64) -> f64 {
        if self.len() > 2 * self.swept_len + SWEEP_SLACK_POSITIONS {
            self.sweep_dust(dust_raw)
        } else {
            0.0
        }
    }

    /// Removes every position below `dust_raw`; returns the raw amount removed. O(n).
    pub fn sweep_dust(&mut self, dust_raw: f64) -> f64 {
        let mut removed = 0.0;
        match &mut self.positions {
            Positions::Exact { map, .. } => map.retain(|_, raw| {
                let dust = *raw < dust_raw;
                if dust {
                    removed += *raw;
                }
                !dust
            }),
            Positions::Grid(slots) => removed = slots.remove_dust(dust_raw),
        }
        self.swept_len = self.len();
        self.after_removal(removed);
        removed
    }

    /// Multiplies every raw amount by `factor` (the engine folding its scale back to 1).
    pub fn rescale(&mut self, factor: f64) {
        match &mut self.positions {
            Positions::Exact { map, .. } => map.values_mut().for_each(|raw| *raw *= factor),
            Positions::Grid(slots) => slots.rescale(factor),
        }
        self.raw_sum = self.iter().map(|(_, raw)| raw).sum();
    }

    /// Removes everything; returns the raw amount removed.
    pub fn clear(&mut self) -> f64 {
        let removed = self.raw_sum;
        match &mut self.positions {
            Positions::Exact { map, .. } => map.clear(),
            Positions::Grid(slots) => slots.clear(),
        }
        self.raw_sum = 0.0;
        self.swept_len = 0;
        removed
    }

    /// The existing liquidation price closest to `price` (the lower one on a tie).
    fn nearest_key(&self, price: f64) -> Option<u64> {
        let Positions::Exact { map, .. } = &self.positions else { return None };
        let key = price_key(price);
        let below = map
            .range(..key)
            .next_back()
            .map(|(&below, _)| below);
        let above = map.range(key..).next().map(|(&above, _)| above);
        match (below, above) {
            (Some(below), Some(above)) => {
                let closer_above = f64::from_bits(above) - price < price - f64::from_bits(below);
                Some(if closer_above { above } else { below })
            }
            (below, above) => below.or(above),
        }
    }

    fn after_removal(&mut self, raw: f64) {
        // An empty book has exactly zero; this also discards accumulated rounding drift.
        self.raw_sum = if self.len() == 0 {
            0.0
        } else {
            (self.raw_sum - raw).max(0.0)
        };
        self.swept_len = self.swept_len.min(self.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOMY: usize = 1_000;
    /// Dust threshold in raw units used by tests that do not care about dust.
    const NO_DUST: f64 = 0.0;

    fn book(entries: &[(f64, f64)]) -> SideBook {
        let mut book = SideBook::new(ROOMY);
        for &(price, raw) in entries {
            book.add(price, raw);
        }
        book
    }

    #[test]
    fn equal_liquidation_prices_merge() {
        let book = book(&[(100.0, 1.0), (100.0, 2.0), (101.0, 4.0)]);
        assert_eq!(
            book.iter().collect::<Vec<_>>(),
            vec![(100.0, 3.0), (101.0, 4.0)]
        );
        assert_eq!(book.raw_sum(), 7.0);
    }

    #[test]
    fn removal_at_or_above_includes_the_boundary() {
        let mut book = book(&[(99.0, 1.0), (100.0, 2.0), (101.0, 4.0)]);
        let removed = book.remove_at_or_above(100.0, NO_DUST);
        assert_eq!(
            removed,
            Removed {
                live: 6.0,
                dust: 0.0
            }
        );
        assert_eq!(book.iter().collect::<Vec<_>>(), vec![(99.0, 1.0)]);
    }

    #[test]
    fn removal_at_or_below_includes_the_boundary() {
        let mut book = book(&[(99.0, 1.0), (100.0, 2.0), (101.0, 4.0)]);
        let removed = book.remove_at_or_below(100.0, NO_DUST);
        assert_eq!(
            removed,
            Removed {
                live: 3.0,
                dust: 0.0
            }
        );
        assert_eq!(book.iter().collect::<Vec<_>>(), vec![(101.0, 4.0)]);
    }

    #[test]
    fn removal_reports_dust_separately() {
        let mut book = book(&[(99.0, 1.0), (100.0, 0.25), (101.0, 4.0)]);
        let removed = book.remove_at_or_above(99.0, 0.5);
        assert_eq!(
            removed,
            Removed {
                live: 5.0,
                dust: 0.25
            }
        );
    }

    #[test]
    fn sweep_takes_only_positions_below_the_threshold() {
        let mut book = book(&[(99.0, 1.0), (100.0, 5.0), (101.0, 0.5)]);
        assert_eq!(book.sweep_dust(1.0), 0.5);
        assert_eq!(
            book.iter().collect::<Vec<_>>(),
            vec![(99.0, 1.0), (100.0, 5.0)]
        );
        assert_eq!(book.raw_sum(), 6.0);
    }

    #[test]
    fn a_small_book_is_not_swept() {
        let mut book = book(&[(99.0, 0.1), (100.0, 5.0)]);
        assert_eq!(book.sweep_dust_if_crowded(1.0), 0.0);
        assert_eq!(book.len(), 2);
    }

    #[test]
    fn a_book_doubled_since_the_last_sweep_is_swept() {
        let mut book = SideBook::new(10_000);
        for step in 0..=SWEEP_SLACK_POSITIONS {
            book.add(100.0 + step as f64, 0.1);
        }
        let swept = book.sweep_dust_if_crowded(1.0);
        assert!((swept - 0.1 * (SWEEP_SLACK_POSITIONS + 1) as f64).abs() < 1e-9);
        assert_eq!(book.len(), 0);
    }

    #[test]
    fn a_full_book_merges_into_the_nearest_price() {
        let mut book = SideBook::new(2);
        book.add(100.0, 1.0);
        book.add(110.0, 1.0);
        book.add(108.0, 5.0);
        book.add(101.0, 7.0);
        book.add(100.0, 2.0);
        assert_eq!(
            book.iter().collect::<Vec<_>>(),
            vec![(100.0, 10.0), (110.0, 6.0)]
        );
        assert_eq!(book.raw_sum(), 16.0);
    }

    /// One step of the equivalence property below.
    #[derive(Debug, Clone)]
    enum Op {
        Add { k: i64, raw: f64 },
        RemoveAbove { k: i64 },
        RemoveBelow { k: i64 },
        Sweep { dust: f64 },
        Rescale { factor: f64 },
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        let k = 10_000i64..10_200;
        prop_oneof![
            4 => (k.clone(), 0.01f64..100.0).prop_map(|(k, raw)| Op::Add { k, raw }),
            1 => k.clone().prop_map(|k| Op::RemoveAbove { k }),
            1 => k.prop_map(|k| Op::RemoveBelow { k }),
            1 => (0.0f64..5.0).prop_map(|dust| Op::Sweep { dust }),
            1 => (0.1f64..2.0).prop_map(|factor| Op::Rescale { factor }),
        ]
    }

    proptest::proptest! {
        /// The grid book is only a faster layout: fed the same grid prices, it holds and returns
        /// exactly (bit for bit) what the ordered map does.
        #[test]
        fn grid_book_behaves_exactly_like_the_ordered_book(ops in proptest::collection::vec(op(), 1..200)) {
            let step_ln = 1e-4_f64.ln_1p();
            let price = |k: i64| (k as f64 * step_ln).exp();
            let mut exact = SideBook::new(ROOMY);
            let mut grid = SideBook::on_grid(ROOMY);
            for op in ops {
                match op {
                    Op::Add { k, raw } => {
                        exact.add(price(k), raw);
                        grid.add_on_grid(k, price(k), raw);
                    }
                    Op::RemoveAbove { k } => {
                        proptest::prop_assert_eq!(exact.remove_at_or_above(price(k), 1.0), grid.remove_at_or_above(price(k), 1.0));
                    }
                    Op::RemoveBelow { k } => {
                        proptest::prop_assert_eq!(exact.remove_at_or_below(price(k), 1.0), grid.remove_at_or_below(price(k), 1.0));
                    }
                    Op::Sweep { dust } => {
                        proptest::prop_assert_eq!(exact.sweep_dust(dust).to_bits(), grid.sweep_dust(dust).to_bits());
                    }
                    Op::Rescale { factor } => {
                        exact.rescale(factor);
                        grid.rescale(factor);
                    }
                }
                proptest::prop_assert_eq!(exact.iter().collect::<Vec<_>>(), grid.iter().collect::<Vec<_>>());
                proptest::prop_assert_eq!(exact.raw_sum().to_bits(), grid.raw_sum().to_bits());
                proptest::prop_assert_eq!(exact.len(), grid.len());
            }
        }
    }

    #[test]
    fn a_grid_book_at_its_span_bound_joins_the_nearest_end() {
        let mut book = SideBook::on_grid(3);
        book.add_on_grid(10, 10.0, 1.0);
        book.add_on_grid(12, 12.0, 1.0);
        book.add_on_grid(20, 20.0, 5.0);
        book.add_on_grid(2, 2.0, 7.0);
        assert_eq!(book.iter().collect::<Vec<_>>(), vec![(10.0, 8.0), (12.0, 6.0)]);
    }
}
