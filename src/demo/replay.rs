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
        let len = series.iter().map(|s| s.bars.len()).min().unwrap_or(0);
        let cut = len.saturating_sub(REPLAY_BARS).max(1).min(len);
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
