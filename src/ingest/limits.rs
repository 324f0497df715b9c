//! Bounds on everything ingestion reads, so one bad or hostile file cannot exhaust memory or disk.

/// Largest file accepted on disk (a zip or a CSV).
pub const FILE_BYTES_MAX: u64 = 512 * 1024 * 1024;

/// Largest uncompressed CSV text read from one file: a month of 1-second klines is ~370 MB.
pub const CSV_BYTES_MAX: u64 = 1024 * 1024 * 1024;

/// Longest accepted line; real kline rows are under 200 bytes.
pub const LINE_BYTES_MAX: usize = 4096;

/// Most data rows in one file: a 31-day month of 1-second klines is 2,678,400 rows.
pub const ROWS_PER_FILE_MAX: usize = 3_000_000;

/// Largest `.CHECKSUM` file read (the real ones are ~90 bytes).
pub const CHECKSUM_FILE_BYTES_MAX: u64 = 4096;

/// Most files one `ingest` run or one inbox pass will consider.
pub const FILES_PER_RUN_MAX: usize = 100_000;

/// Deepest folder nesting walked when a folder is given.
pub const FOLDER_DEPTH_MAX: usize = 16;

/// Earliest plausible market-data time: 2009-01-01T00:00:00Z (before any crypto exchange).
pub const TIME_MS_MIN: i64 = 1_230_768_000_000;

/// Latest plausible market-data time: 2100-01-01T00:00:00Z. Pure parsing code never reads the
/// clock, so "not in the future" is approximated by a fixed far bound.
pub const TIME_MS_MAX: i64 = 4_102_444_800_000;

/// Timestamps above this are microseconds (newer data.binance.vision archives); milliseconds stay
/// below it until the year 5138.
pub const MICROSECONDS_THRESHOLD: i64 = 100_000_000_000_000;
