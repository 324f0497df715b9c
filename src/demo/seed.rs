//! Seeding an empty database with the bundled demo series.

use std::fmt;
use std::path::PathBuf;

use log::info;

use super::synthetic::correlated_bars;
use crate::engine::Bar;
use crate::ingest::ingest_file;
use crate::store::{Store, StoreError};

/// The real week, compiled into the binary.
const BTC_WEEK_CSV: &[u8] = include_bytes!("data/BTCUSDT-5m-ohlc-oi-2026-06-07_2026-06-14.csv");
/// The name the ingester needs to learn symbol and interval from.
const BTC_WEEK_FILE_NAME: &str = "BTCUSDT-5m-ohlc-oi-2026-06-07_2026-06-14.csv";
const BAR_MS: i64 = 300_000;
/// Bars held back from the seed and replayed one by one: the last day of the week.
pub const REPLAY_BARS: usize = 288;
/// Seed of the synthetic ETHUSDT series: fixed, so every install shows the same demo.
const ETH_SEED: u64 = 0xE7A5_EED5;

/// One demo symbol's complete series.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoSeries {
    pub symbol: String,
    pub source: &'static str,
    pub interval_ms: i64,
    pub bars: Vec<Bar>,
}

#[derive(Debug)]
pub enum SeedError {
    Store(StoreError),
    Ingest(String),
    Io(std::io::Error),
}

impl fmt::Display for SeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeedError::Store(e) => write!(f, "seeding demo data: {e}"),
            SeedError::Ingest(e) => write!(f, "seeding demo data: {e}"),
            SeedError::Io(e) => write!(f, "seeding demo data: {e}"),
        }
    }
}

impl From<StoreError> for SeedError {
    fn from(e: StoreError) -> Self {
        SeedError::Store(e)
    }
}

/// The demo series for the supported symbols that have one (BTCUSDT real, ETHUSDT synthetic).
/// BTCUSDT is read through the real ingest path into `store` if it is not there yet.
pub fn demo_series(store: &Store, supported: &[String]) -> Result<Vec<DemoSeries>, SeedError> {
    let btc = load_btc_week(store)?;
    let wants = |symbol: &str| supported.iter().any(|s| s == symbol);
    // A market that moves with the real week (see correlated_bars: an independent walk ends
    // every band in walls).
    let eth = (wants("ETHUSDT") && !btc.is_empty()).then(|| correlated_bars(&btc, ETH_SEED, 3_000.0, 3.0e9));
    let mut series = Vec::new();
    if wants("BTCUSDT") {
        series.push(DemoSeries { symbol: "BTCUSDT".into(), source: "binance", interval_ms: BAR_MS, bars: btc });
    }
    if let Some(bars) = eth {
        series.push(DemoSeries { symbol: "ETHUSDT".into(), source: "synthetic", interval_ms: BAR_MS, bars });
    }
    Ok(series)
}

/// Ingests the embedded week (idempotent) and reads it back as bars.
fn load_btc_week(store: &Store) -> Result<Vec<Bar>, SeedError> {
    let dir = std::env::temp_dir().join(format!("liquidationheatmap-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(SeedError::Io)?;
    let path: PathBuf = dir.join(BTC_WEEK_FILE_NAME);
    std::fs::write(&path, BTC_WEEK_CSV).map_err(SeedError::Io)?;
    let result = ingest_file(store, &path).map_err(|e| SeedError::Ingest(e.to_string()));
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    Ok(store.bars("BTCUSDT", i64::MIN, i64::MAX)?)
}

/// Seeds an empty store with the demo series. Returns the series when the store holds the demo
/// (seeded now or earlier), `None` when it holds other data and must be left alone.
pub fn seed_if_empty(store: &Store, supported: &[String]) -> Result<Option<Vec<DemoSeries>>, SeedError> {
    let counts = store.row_counts()?;
    let is_demo = store.demo_symbols()?;
    if counts.candles > 0 && is_demo.is_empty() {
        return Ok(None);
    }
    let series = demo_series(store, supported)?;
    for s in &series {
        store.insert_bars(&s.symbol, s.interval_ms, &s.bars)?;
        store.set_source(&s.symbol, s.source, true)?;
        info!("event=demo_seeded symbol={} source={} bars={}", s.symbol, s.source, s.bars.len());
    }
    Ok(Some(series))
}
