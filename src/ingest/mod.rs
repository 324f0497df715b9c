//! Parsers for the market-data files the product ingests, and the `ingest` command.
//!
//! Formats (detected from the first line and the file name):
//! - data.binance.vision kline archives/CSVs `SYMBOL-INTERVAL-YYYY-MM[-DD].zip|.csv`, any
//!   interval, header row optional, millisecond or microsecond times;
//! - USDT-M `metrics` CSVs (open interest), rows in any order, identical repeats ignored;
//! - the plain `open_time,open,high,low,close,open_interest_value[,volume columns]
//!   [,liquidated_long_usd,liquidated_short_usd]` CSV named `SYMBOL-INTERVAL-ohlc-oi-....csv`
//!   (with the liquidation columns: realised liquidations per bar, for the backtest).
//!
//! Open interest of 0 or an implausible one-bar jump is stored but reported as a warning
//! (`FILE:LINE`), since the model treats it as missing.
//!
//! Each file is one transaction: a bad row rejects the whole file (`file:line: reason`) and
//! nothing from it is stored. Rows already stored are skipped and counted, so re-ingesting is a
//! no-op. Two rows of one file with the same time but different values reject the file (there is
//! no way to know which is right); a row already stored is never overwritten. A row whose key is
//! already stored with other values (two daily files disagreeing) is a *conflict*: the stored
//! value is kept, for every format, and the conflict is reported with file, line, stored and new
//! values (CLI summary, inbox `NAME.conflicts.txt`, the `ingest_conflicts_total` metric).

mod checksum;
mod detect;
mod error;
mod fields;
mod file;
mod file_name;
mod inbox;
mod kline;
pub mod limits;
mod lines;
mod metrics;
mod ohlc_oi;
mod parsed;
mod rows;
mod run;
mod warnings;

pub use checksum::{checksum_path, ChecksumStatus};
pub use detect::FileFormat;
pub use error::IngestError;
pub use file::{ingest_file, FileReport, IngestConflict};
pub use inbox::{
    process_inbox, process_inbox_at, InboxFailed, InboxProcessed, InboxReport, FAILED_DIR,
    INBOX_STABLE_MS, PROCESSED_DIR,
};
pub use run::{ingest_paths, IngestSummary};
pub use warnings::{IngestWarning, WARNINGS_LISTED_MAX};
