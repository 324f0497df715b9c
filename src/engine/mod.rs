//! The liquidation heatmap model: a pure, incremental state machine over bars (see docs/model.md).
//!
//! Depends on no other module of this crate, only on serde and chrono.

// Pure code: no clock, no threads, no filesystem (lib.rs allows these for the shell).
#![deny(clippy::disallowed_methods, clippy::disallowed_types)]

mod bar;
mod bar_check;
mod bins;
mod grid_slots;
mod open_interest_check;
mod opening;
mod outcome;
mod params;
mod price_grid;
mod side_book;
mod snapshot;
mod state_machine;
pub mod timeseries;

pub use bar::Bar;
pub use bar_check::{check_bar, BarError, OPEN_INTEREST_MAX_USD, OPEN_TIME_MAX_MS, PRICE_MAX};
pub use bins::{default_bin_size, BIN_SIZE_MAX, BIN_SIZE_MIN};
pub use outcome::BarOutcome;
pub use open_interest_check::{
    OpenInterestCheck, OpenInterestVerdict, OPEN_INTEREST_JUMP_MAX_DEFAULT,
};
pub use params::{
    EngineParams, LeverageTier, OpeningSplit, ParamsError, ENTRY_POINTS_MAX, LEVERAGE_MAX,
    MMR_LIMIT, PRESET_NAMES, PRICE_STEP_MAX, TIERS_MAX, WEIGHT_MAX,
};
pub use snapshot::{Level, Snapshot, SnapshotError};
pub use state_machine::{Engine, DUST_USD, GRID_SLOTS_MAX_PER_SIDE, POSITIONS_MAX_PER_SIDE};
pub use timeseries::{PriceRange, Timeseries, TimeseriesError};
