//! The live market-data feed: Binance USDT-M futures into DuckDB, driving the snapshot producer
//! (`FEED=binance`; see docs/live_feed.md).
//!
//! Threads and data flow:
//!
//! ```text
//!  exchange ──wss── stream thread (stream.rs) ──┐ closed klines, liquidations
//!           ──https─ REST thread (rest.rs) ─────┤ backfilled klines, open interest, "covered until"
//!                                               ▼ bounded channel (FEED_ROWS_QUEUE_MAX)
//!                   snapshot producer thread: FeedWriter (writer.rs) writes DuckDB, releases bars
//!                   in order (release.rs), then the producer advances its engines as before
//! ```
//!
//! The event loop sees only what it saw before (snapshots), plus liquidation messages for
//! subscribers and the feed's state for `/health`. The feed's threads never touch DuckDB.

pub mod backoff;
pub mod metrics;
pub mod rate;
pub mod release;
pub mod rest;
pub mod status;
pub mod stream;
pub mod tls;
pub mod url;
pub mod wire;
pub mod writer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

use crate::store::{Candle, OpenInterestPoint, RealisedLiquidation};
pub use metrics::FeedMetrics;
pub use status::{FeedState, SharedStatus};
pub use url::{BaseUrl, UrlKind};
pub use writer::FeedWriter;

/// Rows waiting for the writer. The stream blocks (and the exchange's TCP buffers fill) rather
/// than dropping a bar when the writer falls behind.
pub const FEED_ROWS_QUEUE_MAX: usize = 4_096;
/// Backfill requests waiting for the REST thread (one pending request is enough).
const BACKFILL_REQUESTS_QUEUE_MAX: usize = 1;
/// The bar interval: 5-minute klines, as the bundled data the model was checked on.
pub const BAR_INTERVAL_MS: i64 = 300_000;

/// Where market data comes from (`FEED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedKind {
    /// Seed an empty database with the bundled data and replay it (the default; no network).
    Demo,
    /// Binance USDT-M futures, live.
    Binance,
    /// Only what `ingest` and `INGEST_DIR` bring.
    None,
}

impl FeedKind {
    pub fn parse(text: &str) -> Option<FeedKind> {
        match text.to_ascii_lowercase().as_str() {
            "demo" => Some(FeedKind::Demo),
            "binance" => Some(FeedKind::Binance),
            "none" => Some(FeedKind::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FeedKind::Demo => "demo",
            FeedKind::Binance => "binance",
            FeedKind::None => "none",
        }
    }
}

/// Settings of the live feed (from `FEED_*`, `SUPPORTED_SYMBOLS`, `WARMUP_DAYS`).
#[derive(Debug, Clone, PartialEq)]
pub struct FeedSettings {
    pub ws_url: BaseUrl,
    pub rest_url: BaseUrl,
    pub symbols: Vec<String>,
    pub interval_ms: i64,
    /// Days of bars fetched on an empty database.
    pub warmup_days: u32,
    /// How long a stored bar waits for its open interest before it is applied without it.
    pub oi_wait_ms: i64,
    /// The stream is renewed after this, before the exchange's 24-hour cut.
    pub connection_max_age: Duration,
    /// Seed of the reconnect jitter.
    pub jitter_seed: u64,
}

/// One thing the feed's threads hand the writer.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedRow {
    /// Closed bars (any order, possibly already stored).
    Klines { symbol: String, candles: Vec<Candle> },
    /// USD open interest samples.
    OpenInterest { symbol: String, points: Vec<OpenInterestPoint> },
    /// Realised liquidations.
    Liquidations(Vec<RealisedLiquidation>),
    /// A backfill asked for every bar closed before `covered_until_ms` and handed over what it got.
    BackfillDone { symbol: String, covered_until_ms: i64 },
    /// The state changed (stream connected, backfill started, ...): the writer reports it.
    StateChanged,
}

/// What the feed's threads share.
#[derive(Clone)]
pub struct FeedCtx {
    pub settings: Arc<FeedSettings>,
    pub status: Arc<SharedStatus>,
    pub metrics: FeedMetrics,
    rows: Sender<FeedRow>,
    backfill_requests: Sender<()>,
    stop: Arc<AtomicBool>,
}

impl FeedCtx {
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sleeps `duration` in short steps; false when stopping.
    pub fn sleep(&self, duration: Duration) -> bool {
        let until = Instant::now() + duration;
        while !self.stopping() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
        false
    }

    /// Hands a row to the writer, waiting while its queue is full (never dropping a bar).
    pub fn send_row(&self, mut row: FeedRow) {
        loop {
            match self.rows.try_send(row) {
                Ok(()) => return,
                Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(back)) => {
                    row = back;
                    if !self.sleep(Duration::from_millis(20)) {
                        return;
                    }
                }
            }
        }
    }

    /// Tells the writer the state changed, so `/health` and `/metrics` follow at once.
    pub fn publish_state(&self) {
        self.metrics.set_state(self.status.state());
        if let Err(TrySendError::Full(_)) = self.rows.try_send(FeedRow::StateChanged) {
            // The writer is busy with rows and reports the state after them anyway.
        }
    }
}

/// The writer's end of the feed, handed to the snapshot producer (cloned on its restart).
#[derive(Clone)]
pub struct FeedLink {
    pub settings: Arc<FeedSettings>,
    pub status: Arc<SharedStatus>,
    pub metrics: FeedMetrics,
    pub rows: Receiver<FeedRow>,
}

/// The running feed threads.
pub struct FeedHandle {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl FeedHandle {
    /// Sets the stop flag and waits up to `timeout` for the threads.
    pub fn stop(self, timeout: Duration) {
        self.stop.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + timeout;
        for thread in self.threads {
            crate::worker::join_before(thread, deadline, "feed");
        }
    }
}

/// Starts the stream and REST threads. Returns the writer's link and the handle that stops them.
pub fn start(settings: FeedSettings) -> std::io::Result<(FeedLink, FeedHandle)> {
    let settings = Arc::new(settings);
    let status = Arc::new(SharedStatus::new());
    let metrics = FeedMetrics::new(&settings.symbols);
    metrics.set_state(status.state());
    let (rows_tx, rows_rx) = bounded(FEED_ROWS_QUEUE_MAX);
    let (backfill_tx, backfill_rx) = bounded(BACKFILL_REQUESTS_QUEUE_MAX);
    let stop = Arc::new(AtomicBool::new(false));
    let ctx = FeedCtx {
        settings: Arc::clone(&settings),
        status: Arc::clone(&status),
        metrics: metrics.clone(),
        rows: rows_tx,
        backfill_requests: backfill_tx,
        stop: Arc::clone(&stop),
    };
    let stream_ctx = ctx.clone();
    let stream = std::thread::Builder::new().name("feed-stream".into()).spawn(move || stream::run(stream_ctx))?;
    let rest = std::thread::Builder::new().name("feed-rest".into()).spawn(move || rest::run(ctx, backfill_rx))?;
    let link = FeedLink { settings, status, metrics, rows: rows_rx };
    Ok((link, FeedHandle { stop, threads: vec![stream, rest] }))
}
