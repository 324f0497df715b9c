//! A side's positions when liquidation prices lie on the price grid (`price_grid.rs`): one slot
//! per grid point over the span between the lowest and the highest open position.
//!
//! With the grid on, every liquidation price is a grid point `k`, so a position is found by
//! indexing (`k - front_k`) instead of a tree search: an opening's 20 to 40 inserts per bar cost
//! O(1) each. Liquidations take positions off the ends, exactly as the ordered map does. The
//! slots between the ends may be empty; memory is bounded by `slots_max` (a new position beyond
//! it joins the nearest end, as a full ordered book joins the nearest price).

use std::collections::VecDeque;

/// An empty slot. Liquidation prices are > 0, so price 0 marks "no position".
const EMPTY: (f64, f64) = (0.0, 0.0);

/// The occupied slots in ascending price (a nameable type, so `SideBook::iter` needs no `Box`).
pub type Iter<'a> = std::iter::Filter<std::iter::Copied<std::collections::vec_deque::Iter<'a, (f64, f64)>>, fn(&(f64, f64)) -> bool>;

fn is_occupied(slot: &(f64, f64)) -> bool {
    slot.0 != 0.0
}

#[derive(Debug, Clone)]
pub struct GridSlots {
    /// Most slots kept, empty ones included (16 bytes each).
    slots_max: usize,
    /// Grid index of `slots[0]`.
    front_k: i64,
    /// (liquidation price, raw amount) per grid point from `front_k` up; both ends are
    /// occupied unless the deque is empty.
    slots: VecDeque<(f64, f64)>,
    /// Non-empty slots.
    occupied: usize,
}

impl GridSlots {
    pub fn new(slots_max: usize) -> GridSlots {
        GridSlots { slots_max: slots_max.max(1), front_k: 0, slots: VecDeque::new(), occupied: 0 }
    }

    pub fn len(&self) -> usize {
        self.occupied
    }

    /// Positions in ascending liquidation price: (price, raw).
    pub fn iter(&self) -> Iter<'_> {
        self.slots.iter().copied().filter(is_occupied as fn(&(f64, f64)) -> bool)
    }

    /// Adds `raw` at grid point `k` whose price is `price` (> 0; the same `k` always comes with
    /// the same price).
    pub fn add(&mut self, k: i64, price: f64, raw: f64) {
        debug_assert!(price > 0.0 && price.is_finite());
        if self.slots.is_empty() {
            self.front_k = k;
            self.slots.push_back((price, raw));
            self.occupied = 1;
            return;
        }
        let back_k = self.back_k();
        let span_after = (back_k.max(k) - self.front_k.min(k)) as u64 + 1;
        let k = if span_after > self.slots_max as u64 {
            // Beyond the memory bound: join the nearest end (both ends are occupied).
            if k < self.front_k { self.front_k } else { back_k }
        } else {
            k
        };
        while k < self.front_k {
            self.slots.push_front(EMPTY);
            self.front_k -= 1;
        }
        if k > back_k {
            self.slots.resize(self.slots.len() + (k - back_k) as usize, EMPTY);
        }
        let slot = &mut self.slots[(k - self.front_k) as usize];
        if slot.0 == 0.0 {
            *slot = (price, raw);
            self.occupied += 1;
        } else {
            slot.1 += raw;
        }
        debug_assert!(self.slots.len() <= self.slots_max);
    }

    /// Takes every position with price >= `bound` off the top; calls `take(raw)` for each.
    pub fn remove_at_or_above(&mut self, bound: f64, mut take: impl FnMut(f64)) {
        while let Some(&(price, raw)) = self.slots.back() {
            if price < bound {
                break;
            }
            self.slots.pop_back();
            self.occupied -= 1;
            take(raw);
            self.trim();
        }
    }

    /// Takes every position with price <= `bound` off the bottom; calls `take(raw)` for each.
    pub fn remove_at_or_below(&mut self, bound: f64, mut take: impl FnMut(f64)) {
        while let Some(&(price, raw)) = self.slots.front() {
            if price > bound {
                break;
            }
            self.slots.pop_front();
            self.front_k += 1;
            self.occupied -= 1;
            take(raw);
            self.trim();
        }
    }

    /// Removes every position whose raw amount is below `dust_raw`; returns the raw removed.
    pub fn remove_dust(&mut self, dust_raw: f64) -> f64 {
        let mut removed = 0.0;
        for slot in self.slots.iter_mut() {
            if slot.0 != 0.0 && slot.1 < dust_raw {
                removed += slot.1;
                *slot = EMPTY;
                self.occupied -= 1;
            }
        }
        self.trim();
        removed
    }

    /// Multiplies every raw amount by `factor`.
    pub fn rescale(&mut self, factor: f64) {
        for slot in self.slots.iter_mut().filter(|slot| slot.0 != 0.0) {
            slot.1 *= factor;
        }
    }

    pub fn clear(&mut self) {
        self.slots.clear();
        self.occupied = 0;
    }

    fn back_k(&self) -> i64 {
        self.front_k + self.slots.len() as i64 - 1
    }

    /// Drops empty slots at both ends (keeps the "ends are occupied" invariant).
    fn trim(&mut self) {
        while self.slots.back().is_some_and(|slot| slot.0 == 0.0) {
            self.slots.pop_back();
        }
        while self.slots.front().is_some_and(|slot| slot.0 == 0.0) {
            self.slots.pop_front();
            self.front_k += 1;
        }
        debug_assert_eq!(self.occupied == 0, self.slots.is_empty());
    }
}
