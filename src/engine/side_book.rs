//! The open positions of one side (longs or shorts), ordered by liquidation price.
//!
//! Amounts are stored "raw": the USD notional divided by the engine's global scale factor, so a
//! proportional close of every position is one multiplication of the scale (see state_machine.rs).
//! Positions at exactly the same liquidation price are merged.

use std::cmp::Reverse;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BinaryHeap};

/// The dust index may hold this many stale entries beyond twice the live count before it is rebuilt.
const DUST_INDEX_SLACK_ENTRIES: usize = 1024;

/// A liquidation price as an ordered integer: for positive finite f64 the IEEE-754 bit pattern
/// orders exactly like the number, so the map key is exact (no rounding of prices).
fn price_key(price: f64) -> u64 {
    debug_assert!(price.is_finite() && price > 0.0);
    price.to_bits()
}

/// A dust index entry: the raw amount's bits above the price key, so one integer comparison
/// orders by amount (then price).
fn dust_entry(raw: f64, key: u64) -> u128 {
    (u128::from(raw.to_bits()) << 64) | u128::from(key)
}

#[derive(Debug, Clone)]
pub struct SideBook {
    /// Most distinct liquidation prices kept; beyond it a new slice joins the nearest price.
    positions_max: usize,
    /// Liquidation price key -> raw amount (> 0).
    positions: BTreeMap<u64, f64>,
    /// Min-heap of (raw amount bits, price key) so dust can be found without scanning the book.
    /// Entries go stale when a position is merged or removed; a stale entry no longer matches the
    /// book and is discarded when popped. Every live position has a matching entry.
    dust_index: BinaryHeap<Reverse<u128>>,
    raw_sum: f64,
}

impl SideBook {
    pub fn new(positions_max: usize) -> Self {
        Self {
            positions_max: positions_max.max(1),
            positions: BTreeMap::new(),
            dust_index: BinaryHeap::new(),
            raw_sum: 0.0,
        }
    }

    pub fn len(&self) -> usize {
        self.positions.len()
    }

    pub fn raw_sum(&self) -> f64 {
        self.raw_sum
    }

    /// Positions in ascending liquidation price: (liquidation price, raw amount).
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
        let merged = match self.positions.entry(key) {
            Entry::Occupied(mut existing) => {
                *existing.get_mut() += raw;
                *existing.get()
            }
            Entry::Vacant(slot) => *slot.insert(raw),
        };
        self.raw_sum += raw;
        self.dust_index.push(Reverse(dust_entry(merged, key)));
        if self.dust_index.len() > 2 * self.positions.len() + DUST_INDEX_SLACK_ENTRIES {
            self.rebuild_dust_index();
        }
    }

    /// Removes every position with liquidation price >= `price`; returns the raw amount removed.
    pub fn remove_at_or_above(&mut self, price: f64) -> f64 {
        let bound = price_key(price);
        let mut removed = 0.0;
        while let Some(entry) = self.positions.last_entry() {
            if *entry.key() < bound {
                break;
            }
            removed += entry.remove();
        }
        self.subtract(removed);
        removed
    }

    /// Removes every position with liquidation price <= `price`; returns the raw amount removed.
    pub fn remove_at_or_below(&mut self, price: f64) -> f64 {
        let bound = price_key(price);
        let mut removed = 0.0;
        while let Some(entry) = self.positions.first_entry() {
            if *entry.key() > bound {
                break;
            }
            removed += entry.remove();
        }
        self.subtract(removed);
        removed
    }

    /// Removes every position whose USD value `raw * scale` is below `dust_usd`; returns the raw
    /// amount removed. Costs O(log n) per removed position plus stale index entries popped.
    pub fn remove_dust(&mut self, scale: f64, dust_usd: f64) -> f64 {
        let mut removed = 0.0;
        while let Some(&Reverse(entry)) = self.dust_index.peek() {
            let (raw_bits, key) = ((entry >> 64) as u64, entry as u64);
            if f64::from_bits(raw_bits) * scale >= dust_usd {
                break;
            }
            self.dust_index.pop();
            if let Entry::Occupied(live) = self.positions.entry(key) {
                if live.get().to_bits() == raw_bits {
                    removed += live.remove();
                }
            }
        }
        self.subtract(removed);
        removed
    }

    /// Multiplies every raw amount by `factor` (the engine folding its scale back to 1).
    pub fn rescale(&mut self, factor: f64) {
        for raw in self.positions.values_mut() {
            *raw *= factor;
        }
        self.raw_sum = self.positions.values().sum();
        self.rebuild_dust_index();
    }

    /// Removes everything; returns the raw amount removed.
    pub fn clear(&mut self) -> f64 {
        let removed = self.raw_sum;
        self.positions.clear();
        self.dust_index.clear();
        self.raw_sum = 0.0;
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

    fn subtract(&mut self, raw: f64) {
        // An empty book has exactly zero; this also discards accumulated rounding drift.
        self.raw_sum = if self.positions.is_empty() {
            0.0
        } else {
            (self.raw_sum - raw).max(0.0)
        };
    }

    fn rebuild_dust_index(&mut self) {
        let entries: Vec<_> = self
            .positions
            .iter()
            .map(|(&key, &raw)| Reverse(dust_entry(raw, key)))
            .collect();
        self.dust_index = BinaryHeap::from(entries);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOMY: usize = 1_000;

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
        assert_eq!(book.remove_at_or_above(100.0), 6.0);
        assert_eq!(book.iter().collect::<Vec<_>>(), vec![(99.0, 1.0)]);
    }

    #[test]
    fn removal_at_or_below_includes_the_boundary() {
        let mut book = book(&[(99.0, 1.0), (100.0, 2.0), (101.0, 4.0)]);
        assert_eq!(book.remove_at_or_below(100.0), 3.0);
        assert_eq!(book.iter().collect::<Vec<_>>(), vec![(101.0, 4.0)]);
    }

    #[test]
    fn dust_removal_takes_only_positions_below_the_threshold() {
        let mut book = book(&[(99.0, 1.0), (100.0, 5.0), (101.0, 0.5)]);
        // At scale 0.01 the values are 0.01, 0.05 and 0.005 USD.
        assert_eq!(book.remove_dust(0.01, 0.01), 0.5);
        assert_eq!(
            book.iter().collect::<Vec<_>>(),
            vec![(99.0, 1.0), (100.0, 5.0)]
        );
    }

    #[test]
    fn dust_removal_judges_a_merged_position_by_its_merged_amount() {
        // The first entry for 100.0 (raw 0.5) goes stale when 10.0 is merged in.
        let mut book = book(&[(100.0, 0.5), (100.0, 10.0)]);
        assert_eq!(book.remove_dust(0.01, 0.01), 0.0);
        assert_eq!(book.len(), 1);
    }

    #[test]
    fn dust_index_stays_bounded_under_churn() {
        let mut book = SideBook::new(ROOMY);
        for step in 0..100_000 {
            book.add(100.0 + f64::from(step % 7), 1.0);
            book.remove_at_or_above(50.0);
        }
        // Rebuilt once it exceeds 2 * live (1) + slack, so it never grows past that plus the new entry.
        assert!(book.dust_index.len() <= 2 + DUST_INDEX_SLACK_ENTRIES + 1);
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
