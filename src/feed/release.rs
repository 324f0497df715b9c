//! Which stored bars the snapshot producer may apply: one symbol's release gate.
//!
//! The producer applies bars strictly in time order, none twice and none missing. Bars arrive
//! from two sources (the stream and REST backfill) in any order, duplicated, and with holes while
//! the stream is down; their open interest arrives separately by REST polling. The gate releases
//! bar `t` only when every bar before it is released, and only once `t`'s open interest is
//! stored, or the exchange has published later open interest (so none will come for `t`), or
//! `t` has waited `oi_wait_ms`. A hole is released (skipped) only when a completed backfill that
//! covered it got no bar there from the exchange.
//!
//! Open interest that arrives for a time at or before the released watermark is refused
//! ([`ReleaseGate::accept_open_interest`] returns false): the bar was applied without it, and
//! storing it now would make the stored bars replay differently from what was streamed.
//!
//! Pure state: every time is handed in (Unix ms), so the rules are tested without a clock.

use std::collections::{BTreeMap, BTreeSet};

/// What one [`ReleaseGate::release`] call released.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Released {
    /// Bars released.
    pub bars: u64,
    /// Of those, bars released without their own open-interest sample (the wait ran out).
    pub without_open_interest: u64,
    /// Bar times skipped because the exchange has no bar there.
    pub holes_skipped: u64,
}

/// One symbol's gate. See the module documentation.
#[derive(Debug, Clone)]
pub struct ReleaseGate {
    interval_ms: i64,
    oi_wait_ms: i64,
    /// Newest bar open time the producer may apply.
    released_ms: Option<i64>,
    /// Stored bars after the watermark: open time -> when it was stored (Unix ms).
    pending: BTreeMap<i64, i64>,
    /// Stored open-interest times after the watermark.
    open_interest: BTreeSet<i64>,
    /// Newest open-interest time ever accepted.
    open_interest_newest_ms: Option<i64>,
    /// Bars closing at or before this were asked of the exchange by a completed backfill.
    covered_until_ms: Option<i64>,
}

impl ReleaseGate {
    /// A gate whose watermark starts at `released_ms` (the newest bar already stored, if any).
    pub fn new(interval_ms: i64, oi_wait_ms: i64, released_ms: Option<i64>) -> ReleaseGate {
        debug_assert!(interval_ms > 0);
        ReleaseGate {
            interval_ms,
            oi_wait_ms: oi_wait_ms.max(0),
            released_ms,
            pending: BTreeMap::new(),
            open_interest: BTreeSet::new(),
            open_interest_newest_ms: None,
            covered_until_ms: None,
        }
    }

    pub fn released_ms(&self) -> Option<i64> {
        self.released_ms
    }

    /// The oldest bar time the exchange should be asked for: the one after the watermark.
    pub fn wanted_from_ms(&self) -> Option<i64> {
        self.released_ms.map(|r| r + self.interval_ms)
    }

    /// True while a stored bar waits for its open interest.
    pub fn waiting_for_open_interest(&self) -> bool {
        self.pending.keys().any(|t| !self.has_open_interest(*t))
    }

    /// A bar opening at `open_ms` is stored (seen at `now_ms`). Bars at or before the watermark
    /// are already applied and ignored.
    pub fn bar_stored(&mut self, open_ms: i64, now_ms: i64) {
        if self.released_ms.is_none_or(|r| open_ms > r) {
            self.pending.entry(open_ms).or_insert(now_ms);
        }
    }

    /// Open interest at `time_ms` arrived. Returns false when it must not be stored (its bar was
    /// already applied).
    pub fn accept_open_interest(&mut self, time_ms: i64) -> bool {
        if self.released_ms.is_some_and(|r| time_ms <= r) {
            return false;
        }
        self.open_interest.insert(time_ms);
        self.open_interest_newest_ms = self.open_interest_newest_ms.max(Some(time_ms));
        true
    }

    /// A backfill asked the exchange for every bar that closed before `until_ms` and stored what
    /// it got.
    pub fn backfill_done(&mut self, until_ms: i64) {
        self.covered_until_ms = self.covered_until_ms.max(Some(until_ms));
    }

    fn has_open_interest(&self, open_ms: i64) -> bool {
        self.open_interest.contains(&open_ms) || self.open_interest_newest_ms.is_some_and(|n| n > open_ms)
    }

    /// Advances the watermark as far as the rules allow at `now_ms`.
    pub fn release(&mut self, now_ms: i64) -> Released {
        let mut out = Released::default();
        // Nothing is released before the first backfill: until then, a hole cannot be told from
        // a bar still to be fetched.
        if self.covered_until_ms.is_none() {
            return out;
        }
        while let Some(&first) = self.pending.keys().next() {
            let next = self.released_ms.map_or(first, |r| r + self.interval_ms);
            debug_assert!(first >= next, "pending bars are after the watermark");
            if first > next {
                // A hole from `next` up to `first`: the bars of it that closed before a completed
                // backfill asked the exchange (and got nothing) are skipped; the rest wait.
                let covered = self.covered_until_ms.map_or(0, |c| (c - next).div_euclid(self.interval_ms).max(0));
                let skip = covered.min((first - next) / self.interval_ms);
                if skip == 0 {
                    break;
                }
                out.holes_skipped += skip as u64;
                self.released_ms = Some(next + (skip - 1) * self.interval_ms);
                continue;
            }
            let seen_at = self.pending[&first];
            let has_oi = self.has_open_interest(first);
            if !has_oi && now_ms.saturating_sub(seen_at) < self.oi_wait_ms {
                break;
            }
            self.pending.remove(&first);
            self.released_ms = Some(first);
            out.bars += 1;
            if !has_oi {
                out.without_open_interest += 1;
            }
        }
        if let Some(r) = self.released_ms {
            self.open_interest = self.open_interest.split_off(&(r + 1));
        }
        debug_assert!(self.pending.keys().all(|t| self.released_ms.is_none_or(|r| *t > r)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const I: i64 = 300_000;
    const WAIT: i64 = 60_000;
    const T0: i64 = 1_781_448_000_000;

    #[test]
    fn nothing_is_released_before_the_first_backfill() {
        let mut gate = ReleaseGate::new(I, WAIT, None);
        gate.bar_stored(T0, 0);
        gate.accept_open_interest(T0);
        assert_eq!(gate.release(10 * WAIT).bars, 0);
        gate.backfill_done(T0 + I);
        assert_eq!(gate.release(10 * WAIT).bars, 1);
        assert_eq!(gate.released_ms(), Some(T0));
    }

    #[test]
    fn bars_are_released_in_order_once_each_with_duplicates_and_reordering() {
        let mut gate = ReleaseGate::new(I, WAIT, Some(T0));
        gate.backfill_done(T0 + I);
        for t in [T0 + 3 * I, T0 + I, T0 + 2 * I, T0 + I, T0] {
            gate.bar_stored(t, 0);
            gate.accept_open_interest(t);
        }
        let released = gate.release(0);
        assert_eq!(released.bars, 3, "T0 was already applied; T0+I..T0+3I once each");
        assert_eq!(gate.released_ms(), Some(T0 + 3 * I));
        gate.bar_stored(T0 + 2 * I, 0);
        assert_eq!(gate.release(0).bars, 0, "a late duplicate changes nothing");
    }

    #[test]
    fn a_hole_waits_for_backfill_unless_a_backfill_covered_it() {
        let mut gate = ReleaseGate::new(I, WAIT, Some(T0));
        gate.backfill_done(T0 + I);
        gate.bar_stored(T0 + 2 * I, 0);
        gate.accept_open_interest(T0 + 2 * I);
        assert_eq!(gate.release(10 * WAIT).bars, 0, "T0+I is missing and no backfill asked for it");
        assert_eq!(gate.wanted_from_ms(), Some(T0 + I));
        // The backfill brings the missing bar.
        gate.bar_stored(T0 + I, 0);
        gate.accept_open_interest(T0 + I);
        assert_eq!(gate.release(0).bars, 2);
        // A backfill that covered T0+3I without finding it: the exchange has no such bar.
        gate.bar_stored(T0 + 4 * I, 0);
        gate.accept_open_interest(T0 + 4 * I);
        gate.backfill_done(T0 + 5 * I);
        let released = gate.release(0);
        assert_eq!((released.bars, released.holes_skipped), (1, 1));
        assert_eq!(gate.released_ms(), Some(T0 + 4 * I));
    }

    #[test]
    fn a_bar_waits_for_its_open_interest_for_a_bounded_time() {
        let mut gate = ReleaseGate::new(I, WAIT, Some(T0));
        gate.backfill_done(T0 + I);
        gate.bar_stored(T0 + I, 1_000);
        assert!(gate.waiting_for_open_interest());
        assert_eq!(gate.release(1_000 + WAIT - 1).bars, 0);
        let released = gate.release(1_000 + WAIT);
        assert_eq!((released.bars, released.without_open_interest), (1, 1));
        // Open interest for it now comes too late and must not be stored.
        assert!(!gate.accept_open_interest(T0 + I));
        assert!(gate.accept_open_interest(T0 + 2 * I));
    }

    #[test]
    fn later_open_interest_means_none_will_come_for_an_older_bar() {
        let mut gate = ReleaseGate::new(I, WAIT, Some(T0));
        gate.backfill_done(T0 + I);
        gate.accept_open_interest(T0 + 2 * I);
        gate.bar_stored(T0 + I, 0);
        let released = gate.release(0);
        assert_eq!((released.bars, released.without_open_interest), (1, 0));
    }
}
