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

#[derive(Debug, Clone)]
pub struct SideBook {
    /// Most distinct liquidation prices kept; beyond it a new slice joins the nearest price.
    positions_max: usize,
    /// Liquidation price key -> raw amount (> 0).
    positions: BTreeMap<u64, f64>,
    raw_sum: f64,
    /// Size right after the last sweep (or the smallest since): the sweep trigger's baseline.
    swept_len: usize,
}

impl SideBook {
    pub fn new(positions_max: usize) -> Self {
        Self {
            positions_max: positions_max.max(1),
            positions: BTreeMap::new(),
            raw_sum: 0.0,
            swept_len: 0,
        }
    }

    /// Stored positions, dust not yet swept included.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// Sum of stored raw amounts, dust not yet swept included.
    pub fn raw_sum(&self) -> f64 {
        self.raw_sum
    }

    /// Positions in ascending liquidation price: (liquidation price, raw amount), dust included.
    pub fn iter(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.positions
            .iter()
            .map(|(&key, &raw)| (f64::from_bits(key), raw))
    }

    /// Adds `raw` (> 0, finite) at `liquidation_price` (> 0, finite), merging with an equal price.
    /// A full book merges a new price into the nearest existing one instead (bounded memory).
    pub fn add(&mut self, liquidation_price: f64, raw: f64) {
        let mut key = price_key(liquidation_price);
        if self.positions.len() >= self.positions_max && !self.positions.contains_key(&key) {
            key = self.nearest_key(liquidation_price).unwrap_or(key);
        }
        match self.positions.entry(key) {
            Entry::Occupied(mut existing) => *existing.get_mut() += raw,
            Entry::Vacant(slot) => {
                slot.insert(raw);
            }
        }
        self.raw_sum += raw;
    }

    /// Removes every position with liquidation price >= `price`.
    pub fn remove_at_or_above(&mut self, price: f64, dust_raw: f64) -> Removed {
        let bound = price_key(price);
        let mut removed = Removed::default();
        while let Some(entry) = self.positions.last_entry() {
            if *entry.key() < bound {
                break;
            }
            removed.take(entry.remove(), dust_raw);
        }
        self.after_removal(removed.live + removed.dust);
        removed
    }

    /// Removes every position with liquidation price <= `price`.
    pub fn remove_at_or_below(&mut self, price: f64, dust_raw: f64) -> Removed {
        let bound = price_key(price);
        let mut removed = Removed::default();
        while let Some(entry) = self.positions.first_entry() {
            if *entry.key() > bound {
                break;
            }
            removed.take(entry.remove(), dust_raw);
        }
        self.after_removal(removed.live + removed.dust);
        removed
    }

    /// Removes every position below `dust_raw` if the book has more than doubled (plus slack)
    /// since the last sweep; returns the raw amount removed.
    pub fn sweep_dust_if_crowded(&mut self, dust_raw: f64) -> f64 {
        if self.positions.len() > 2 * self.swept_len + SWEEP_SLACK_POSITIONS {
            self.sweep_dust(dust_raw)
        } else {
            0.0
        }
    }

    /// Removes every position below `dust_raw`; returns the raw amount removed. O(n).
    pub fn sweep_dust(&mut self, dust_raw: f64) -> f64 {
        let mut removed = 0.0;
        self.positions.retain(|_, raw| {
            let dust = *raw < dust_raw;
            if dust {
                removed += *raw;
            }
            !dust
        });
        self.swept_len = self.positions.len();
        self.after_removal(removed);
        removed
    }

    /// Multiplies every raw amount by `factor` (the engine folding its scale back to 1).
    pub fn rescale(&mut self, factor: f64) {
        for raw in self.positions.values_mut() {
            *raw *= factor;
        }
        self.raw_sum = self.positions.values().sum();
    }

    /// Removes everything; returns the raw amount removed.
    pub fn clear(&mut self) -> f64 {
        let removed = self.raw_sum;
        self.positions.clear();
        self.raw_sum = 0.0;
        self.swept_len = 0;
        removed
    }

    /// The existing liquidation price closest to `price` (the lower one on a tie).
    fn nearest_key(&self, price: f64) -> Option<u64> {
        let key = price_key(price);
        let below = self
            .positions
            .range(..key)
            .next_back()
            .map(|(&below, _)| below);
        let above = self.positions.range(key..).next().map(|(&above, _)| above);
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
        self.raw_sum = if self.positions.is_empty() {
            0.0
        } else {
            (self.raw_sum - raw).max(0.0)
        };
        self.swept_len = self.swept_len.min(self.positions.len());
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
}
