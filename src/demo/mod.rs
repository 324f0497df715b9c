//! The embedded default: with an empty database the server seeds itself from data compiled into
//! the binary (nothing outside the repository is read), then a replay feeder appends one bar every few
//! seconds so the live heatmap moves; when the data runs out it starts over under a new epoch.
//!
//! - BTCUSDT: the real 5-minute week with open interest (2026-06-07 to 2026-06-14), source
//!   `binance`.
//! - ETHUSDT: a deterministic synthetic series over the same times that moves with the real week
//!   (`synthetic::correlated_bars`), source `synthetic`.

mod replay;
mod seed;
pub mod synthetic;

pub use replay::{demo_period, Replay, ReplayStep};
pub use seed::{demo_series, seed_if_empty, DemoSeries, SeedError, REPLAY_BARS};
