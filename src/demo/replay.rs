//! The replay feeder: keeps the demo live by appending one held-back bar per step.

use super::seed::{DemoSeries, REPLAY_BARS};
use crate::store::{Store, StoreError};

/// What one replay step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayStep {
    /// One more bar of every demo symbol is in the store.
    Appended,
    /// The data ran out: the store was reset to the start of the replay; a new epoch begins.
    Restarted,
}

/// Replays the last [`REPLAY_BARS`] bars of each demo series, one per step, then starts over.
#[derive(Debug)]
pub struct Replay {
    series: Vec<DemoSeries>,
    /// Index of the first held-back bar.
    cut: usize,
    /// Index of the next bar to append.
    cursor: usize,
}

impl Replay {
    /// Resets the store to the start of the replay (everything before the held-back bars).
    pub fn start(store: &Store, series: Vec<DemoSeries>) -> Result<Replay, StoreError> {
        let cut = replay_cut(&series);
        let replay = Replay { series, cut, cursor: cut };
        replay.reset(store)?;
        Ok(replay)
    }

    fn reset(&self, store: &Store) -> Result<(), StoreError> {
        for s in &self.series {
            if let Some(last_kept) = s.bars.get(self.cut.saturating_sub(1)) {
                store.delete_bars_after(&s.symbol, last_kept.open_time_ms)?;
            }
        }
        Ok(())
    }

    /// Appends the next bar of every series, or starts over when they are used up.
    pub fn step(&mut self, store: &Store) -> Result<ReplayStep, StoreError> {
        if self.cursor >= self.series.iter().map(|s| s.bars.len()).min().unwrap_or(0) {
            self.reset(store)?;
            self.cursor = self.cut;
            return Ok(ReplayStep::Restarted);
        }
        for s in &self.series {
            store.insert_bars(&s.symbol, s.interval_ms, &s.bars[self.cursor..=self.cursor])?;
        }
        self.cursor += 1;
        Ok(ReplayStep::Appended)
    }

    /// Bars left before the replay starts over.
    pub fn remaining(&self) -> usize {
        self.series.iter().map(|s| s.bars.len()).min().unwrap_or(0).saturating_sub(self.cursor)
    }
}

/// Index of the first held-back (replayed) bar: the last [`REPLAY_BARS`] of the shortest series,
/// keeping at least one bar seeded.
fn replay_cut(series: &[DemoSeries]) -> usize {
    let len = series.iter().map(|s| s.bars.len()).min().unwrap_or(0);
    len.saturating_sub(REPLAY_BARS).max(1).min(len)
}

/// What the demo covers, for `/api/config`: `(first bar open, end of the last bar, first replayed
/// bar open)` in Unix ms, over the series' common bars; `None` without bars.
pub fn demo_period(series: &[DemoSeries]) -> Option<(i64, i64, i64)> {
    let len = series.iter().map(|s| s.bars.len()).min().unwrap_or(0);
    let first = series.first()?;
    let start = first.bars.first()?.open_time_ms;
    let last = first.bars.get(len.checked_sub(1)?)?;
    let replay_from = first.bars.get(replay_cut(series))?.open_time_ms;
    Some((start, last.open_time_ms + first.interval_ms, replay_from))
}
