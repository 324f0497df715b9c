//! DuckDB store: schema, inserts and the queries the engine and the REST endpoints need.
//!
//! One embedded DuckDB file holds every symbol. Candles are keyed by (symbol, interval, open time),
//! open interest by (symbol, time); inserts never overwrite a row that is already stored, so
//! ingesting the same data twice changes nothing.
//!
//! DuckDB lets one process open a file for writing. [`Store::open`] reports a file held by another
//! process as [`StoreError::InUse`]; threads of the same process share the database through
//! [`Store::try_clone`].

mod error;
mod handle;
mod liquidations;
mod open_registry;
mod query;
mod read;
mod realised;
mod rows;
mod schema;
mod sources;
mod write;

pub use error::StoreError;
pub use handle::Store;
pub use liquidations::{LiquidatedSide, RealisedLiquidation, RealisedTotals, LIQUIDATIONS_PER_QUERY_MAX};
pub use rows::{
    Candle, CandleSeries, ConflictValues, InsertCounts, InsertOutcome, Kline, OpenInterestPoint,
    OpenInterestSeries, RowConflict, RowCounts, CONFLICTS_LISTED_MAX,
};
pub use realised::{RealisedBar, RealisedLiquidations, RealisedSeries};
pub use schema::SCHEMA_VERSION;
pub use sources::{source_of, SOURCE_UNKNOWN};

/// Most bars one `bars`/`bars_after` call returns: about four years of 1-minute bars (~150 MB).
pub const BARS_PER_QUERY_MAX: usize = 2_000_000;

/// Most klines one `klines` call returns; larger limits are clamped to this.
pub const KLINES_PER_QUERY_MAX: usize = 10_000;

/// Open interest is published every 5 minutes; the as-of join never tolerates less than this gap,
/// or 1-minute bars would see open interest on only one bar in five.
pub const OPEN_INTEREST_PERIOD_MS: i64 = 300_000;
