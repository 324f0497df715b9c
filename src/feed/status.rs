//! The feed's state, shared by its threads and reported to `/health` and `/metrics`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Mutex;

/// What the feed is doing, as `/health` and `feed_state` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedState {
    /// Opening the stream (first connection or a reconnect).
    Connecting,
    /// Connected; fetching what was missed over REST.
    Backfilling,
    /// Connected and caught up.
    Live,
    /// The last connection attempts failed; retrying with backoff.
    Down,
}

impl FeedState {
    pub const ALL: [FeedState; 4] = [FeedState::Connecting, FeedState::Backfilling, FeedState::Live, FeedState::Down];

    pub fn as_str(self) -> &'static str {
        match self {
            FeedState::Connecting => "connecting",
            FeedState::Backfilling => "backfilling",
            FeedState::Live => "live",
            FeedState::Down => "down",
        }
    }
}

/// The stream connection's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StreamPhase {
    Connecting = 0,
    Connected = 1,
    Down = 2,
}

/// Per-symbol progress the writer publishes for the REST thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SymbolProgress {
    /// The oldest bar the exchange should be asked for (after the applied watermark); `None`
    /// before anything is stored.
    pub wanted_from_ms: Option<i64>,
    /// A stored bar waits for its open interest: poll again soon.
    pub waiting_for_open_interest: bool,
    /// The newest bar released to the producer.
    pub released_ms: Option<i64>,
}

/// Shared between the stream thread, the REST thread and the writer.
#[derive(Debug, Default)]
pub struct SharedStatus {
    stream: AtomicU8,
    backfilling: AtomicBool,
    progress: Mutex<BTreeMap<String, SymbolProgress>>,
}

impl SharedStatus {
    pub fn new() -> SharedStatus {
        SharedStatus::default()
    }

    pub fn set_stream(&self, phase: StreamPhase) {
        self.stream.store(phase as u8, Ordering::Release);
    }

    pub fn set_backfilling(&self, on: bool) {
        self.backfilling.store(on, Ordering::Release);
    }

    /// The state, derived from the stream's phase and whether a backfill runs.
    pub fn state(&self) -> FeedState {
        match self.stream.load(Ordering::Acquire) {
            0 => FeedState::Connecting,
            2 => FeedState::Down,
            _ if self.backfilling.load(Ordering::Acquire) => FeedState::Backfilling,
            _ => FeedState::Live,
        }
    }

    pub fn set_progress(&self, symbol: &str, progress: SymbolProgress) {
        let mut map = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(symbol.to_string(), progress);
    }

    pub fn progress(&self, symbol: &str) -> SymbolProgress {
        let map = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        map.get(symbol).copied().unwrap_or_default()
    }
}
