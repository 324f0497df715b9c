//! The DuckDB-backed workers: the live snapshot producer and the REST query worker.
//!
//! DuckDB never runs on the event-loop thread. The producer owns all writes while the server runs
//! (demo replay, inbox ingestion) and keeps one warm engine per symbol, advancing it only by the
//! bars that are new since the last update: the live heatmap is never recomputed from a short
//! window, which would see almost no positions.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use log::{error, info, warn};

use super::{DemandRx, ProducerSpawn, QuerySpawn, WorkerCtx};
use crate::core::time::iso8601_utc_ms;
use crate::core::{ProducerStatus, SnapshotReady};
use crate::demo::{Replay, ReplayStep};
use crate::engine::{default_bin_size, BarOutcome, Engine, EngineParams};
use crate::feed::{FeedRow, FeedWriter};
use crate::rest::{self, ResponseCache, RestContext};
use crate::driver::{QueryJob, WorkerEvent};
use crate::store::Store;

/// New bars read per symbol per update; a backlog larger than this is worked off over updates.
const BARS_PER_UPDATE_MAX: usize = 50_000;
/// Snapshots sent per symbol per update: one per new bar, so a chart shows every bar's state
/// even when bars close faster than `WS_UPDATE_INTERVAL` (the demo replays one every 3 s,
/// snapshots go out every 5 s). A larger backlog sends only its newest bars' states; clients
/// fetch the skipped ones from REST (the page's gap filler), as they do after conflation.
pub const BAR_SNAPSHOTS_PER_UPDATE_MAX: usize = 12;
/// How often the inbox folder is looked at.
const INBOX_INTERVAL: Duration = Duration::from_secs(2);
/// Longest wait after repeated database errors.
const ERROR_BACKOFF_MAX: Duration = Duration::from_secs(30);
const DAY_MS: i64 = 86_400_000;

/// Settings of the producer thread.
#[derive(Clone)]
pub struct ProducerSettings {
    pub update_interval: Duration,
    pub warmup_days: u32,
    pub engine_params: EngineParams,
    pub inbox: Option<PathBuf>,
    /// Demo replay: one bar per this interval; `None` when the store does not hold the demo.
    pub replay_interval: Option<Duration>,
    pub sources: Vec<(String, String)>,
    /// The live feed's writer end (`FEED=binance`): its rows are stored on this thread, and
    /// engines apply bars only up to what it released.
    pub feed: Option<crate::feed::FeedLink>,
}

/// Builds the producer's spawn function around `store` (cloned for every (re)start).
pub fn producer(store: Store, settings: ProducerSettings, demo: Option<Vec<crate::demo::DemoSeries>>) -> ProducerSpawn {
    let generation_base = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let restarts = std::cell::Cell::new(0u64);
    Box::new(move |ctx, demand, initial| {
        let store = store.try_clone().map_err(|e| std::io::Error::other(e.to_string()))?;
        let settings = settings.clone();
        let demo = demo.clone();
        // A restarted producer starts a new epoch: its engines are rebuilt from scratch.
        let generation = generation_base * 1000 + restarts.get() * 100;
        restarts.set(restarts.get() + 1);
        std::thread::Builder::new()
            .name("snapshot-producer".into())
            .spawn(move || Producer::new(ctx, store, settings, generation, demo).run(demand, initial))
    })
}

/// Builds the query worker's spawn function.
pub fn query_worker(store: Store, rest_ctx: RestContext) -> QuerySpawn {
    Box::new(move |ctx, requests| {
        let store = store.try_clone().map_err(|e| std::io::Error::other(e.to_string()))?;
        let rest_ctx = rest_ctx.clone();
        std::thread::Builder::new()
            .name("query-worker".into())
            .spawn(move || run_queries(ctx, requests, store, rest_ctx))
    })
}

fn run_queries(ctx: WorkerCtx, requests: Receiver<QueryJob>, store: Store, rest_ctx: RestContext) {
    let mut cache = ResponseCache::new();
    loop {
        match requests.recv_timeout(Duration::from_millis(200)) {
            Ok(job) => {
                let request = &job.request;
                let started = Instant::now();
                let response = rest::handle(&store, &rest_ctx, &mut cache, request);
                // What was computed; what reached the client is the core's event=http_response.
                info!(
                    "event=rest_answer_computed path={} status={} bytes={} duration_ms={:.3}",
                    request.path,
                    response.status,
                    response.body.len(),
                    started.elapsed().as_secs_f64() * 1000.0
                );
                ctx.send(WorkerEvent::QueryDone { loop_index: job.loop_index, conn: request.conn, token: request.token, response });
            }
            Err(RecvTimeoutError::Timeout) if !ctx.stopping() => {}
            Err(_) => return,
        }
    }
}

/// One symbol's warm model.
struct LiveEngine {
    engine: Engine,
    bin_size: f64,
    last_outcome: BarOutcome,
    last_hash: Option<u64>,
}

struct Producer {
    ctx: WorkerCtx,
    store: Store,
    settings: ProducerSettings,
    generation: u64,
    engines: BTreeMap<String, LiveEngine>,
    replay: Option<Replay>,
    demo: Option<Vec<crate::demo::DemoSeries>>,
    backoff: Duration,
    feed: Option<FeedWriter>,
}

impl Producer {
    fn new(ctx: WorkerCtx, store: Store, settings: ProducerSettings, generation: u64, demo: Option<Vec<crate::demo::DemoSeries>>) -> Producer {
        let feed = settings.feed.clone().and_then(|link| match FeedWriter::new(link, &store) {
            Ok(writer) => Some(writer),
            Err(e) => {
                // The producer dies and is restarted by the supervisor, which tries again.
                error!("event=feed_writer_error error={:?}", e.to_string());
                None
            }
        });
        Producer { ctx, store, settings, generation, engines: BTreeMap::new(), replay: None, demo, backoff: Duration::ZERO, feed }
    }

    fn run(mut self, demand: DemandRx, initial: Vec<String>) {
        if let (Some(_), Some(series)) = (self.settings.replay_interval, self.demo.take()) {
            match Replay::start(&self.store, series) {
                Ok(replay) => {
                    info!("event=demo_replay_start bars={}", replay.remaining());
                    self.replay = Some(replay);
                }
                Err(e) => error!("event=demo_replay_error error={:?}", e.to_string()),
            }
        }
        let mut symbols = initial;
        let now = Instant::now();
        let mut next_update = now;
        let mut next_replay = self.settings.replay_interval.map(|i| now + i);
        let mut next_inbox = self.settings.inbox.as_ref().map(|_| now);
        while !self.ctx.stopping() {
            let mut due = next_update;
            for at in [next_replay, next_inbox].into_iter().flatten() {
                due = due.min(at);
            }
            let wait = due.saturating_duration_since(Instant::now()).min(Duration::from_millis(250));
            let (newest_demand, row) = demand.wait_with(self.feed.as_ref().map(|w| &w.link().rows), wait);
            if self.feed_step(row) {
                // New bars are applied at once, not at the next update tick.
                next_update = Instant::now();
            }
            if let Some(newest) = newest_demand {
                let added = newest.iter().any(|s| !symbols.contains(s));
                symbols = newest;
                if added {
                    // A new subscriber should not wait a whole interval for its first snapshot.
                    next_update = Instant::now();
                }
            }
            let now = Instant::now();
            if let (Some(at), Some(interval)) = (next_replay, self.settings.replay_interval) {
                if now >= at {
                    next_replay = Some(at + interval);
                    self.replay_step();
                }
            }
            if let Some(at) = next_inbox {
                if now >= at {
                    next_inbox = Some(now + INBOX_INTERVAL);
                    self.inbox_step();
                }
            }
            if now >= next_update {
                let failed = self.update(&symbols);
                self.backoff = if failed {
                    (self.backoff * 2).clamp(Duration::from_secs(1), ERROR_BACKOFF_MAX)
                } else {
                    Duration::ZERO
                };
                next_update = now + self.settings.update_interval.max(self.backoff);
            }
        }
    }

    /// Stores what the feed handed over and passes its messages to the loop; true when bars were
    /// released for the engines.
    fn feed_step(&mut self, row: Option<FeedRow>) -> bool {
        let Some(writer) = self.feed.as_mut() else { return false };
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        match writer.step(&self.store, row, now_ms) {
            Ok(step) => {
                for (symbol, message_json) in step.liquidation_messages {
                    self.ctx.send(WorkerEvent::Liquidation { symbol, message_json });
                }
                if let Some(report) = step.report {
                    self.ctx.send(WorkerEvent::Feed(report));
                }
                step.released
            }
            Err(e) => {
                error!("event=feed_write_error error={:?}", e.to_string());
                false
            }
        }
    }

    /// Starts a new epoch: every engine is rebuilt from the store on its next update.
    fn reset(&mut self, why: &str) {
        self.generation += 1;
        self.engines.clear();
        info!("event=stream_reset reason={why} generation={}", self.generation);
    }

    fn replay_step(&mut self) {
        let Some(replay) = self.replay.as_mut() else { return };
        match replay.step(&self.store) {
            Ok(ReplayStep::Appended) => {}
            Ok(ReplayStep::Restarted) => self.reset("demo_replay_wrapped"),
            Err(e) => error!("event=demo_replay_error error={:?}", e.to_string()),
        }
    }

    fn inbox_step(&mut self) {
        let Some(dir) = self.settings.inbox.clone() else { return };
        let report = crate::ingest::process_inbox(&self.store, &dir);
        for done in &report.processed {
            let relaxed = std::sync::atomic::Ordering::Relaxed;
            self.ctx.ingest.rows.fetch_add(done.report.rows_added(), relaxed);
            self.ctx.ingest.conflicts.fetch_add(done.report.counts.conflicts, relaxed);
            self.ctx.ingest.warnings.fetch_add(done.report.warnings_total, relaxed);
            info!("event=inbox_ingested file={:?} rows_added={}", done.moved_to, done.report.rows_added());
            if let Some(conflicts) = &done.conflicts_report {
                warn!(
                    "event=inbox_conflicts file={:?} conflicts={} report={conflicts:?}",
                    done.moved_to, done.report.counts.conflicts
                );
            }
            if let Some(warnings) = &done.warnings_report {
                warn!(
                    "event=inbox_warnings file={:?} warnings={} report={warnings:?}",
                    done.moved_to, done.report.warnings_total
                );
            }
        }
        for failed in &report.failed {
            warn!("event=inbox_rejected file={:?} reason={:?}", failed.moved_to, failed.error.to_string());
        }
        for error in &report.retry_later {
            warn!("event=inbox_retry_later reason={:?}", error.to_string());
        }
        if report.processed.iter().any(|p| p.report.rows_added() > 0) {
            // Bars may have landed before what the engines have seen: rebuild them.
            self.reset("inbox_ingest");
        }
    }

    /// Updates every demanded symbol; returns true when a database error occurred.
    fn update(&mut self, symbols: &[String]) -> bool {
        let mut failed = false;
        for symbol in symbols {
            match self.update_symbol(symbol) {
                Ok(snapshots) => {
                    for snapshot in snapshots {
                        self.ctx.send(WorkerEvent::Snapshot(snapshot));
                    }
                }
                Err(UpdateError::NoData) => {
                    self.ctx.send(WorkerEvent::Status { symbol: symbol.clone(), status: ProducerStatus::NoData });
                }
                Err(UpdateError::Store(message)) => {
                    failed = true;
                    error!("event=snapshot_error symbol={symbol} error={message:?} backoff_ms={}", self.backoff.as_millis());
                    self.ctx.send(WorkerEvent::Status { symbol: symbol.clone(), status: ProducerStatus::Error(message) });
                }
            }
        }
        failed
    }

    /// Advances `symbol`'s engine by the bars that are new and builds the snapshots to send: one
    /// per new bar (at most [`BAR_SNAPSHOTS_PER_UPDATE_MAX`], the newest), in bar order. A fresh
    /// engine sends only its newest state; a state equal to the last one sent is not sent again.
    fn update_symbol(&mut self, symbol: &str) -> Result<Vec<SnapshotReady>, UpdateError> {
        let update_started = Instant::now();
        let db = |e: crate::store::StoreError| UpdateError::Store(e.to_string());
        let source = crate::store::source_of(&self.settings.sources, symbol).to_string();
        let mut out = Vec::new();
        // With a live feed, only bars it released (complete, in order) are applied.
        let released = self.feed.as_ref().map(|w| w.released_ms(symbol));
        if released == Some(None) {
            return Ok(out);
        }
        let limit_ms = released.flatten().unwrap_or(i64::MAX);
        if !self.engines.contains_key(symbol) {
            let Some((_, last_ms)) = self.store.time_range(symbol).map_err(db)? else {
                return Err(UpdateError::NoData);
            };
            let last_ms = last_ms.min(limit_ms);
            let warmup_ms = i64::from(self.settings.warmup_days) * DAY_MS;
            let bars = self.store.bars(symbol, last_ms.saturating_sub(warmup_ms), last_ms.saturating_add(1)).map_err(db)?;
            let Some(last) = bars.last() else { return Err(UpdateError::NoData) };
            let engine = Engine::new(self.settings.engine_params.clone()).map_err(|e| UpdateError::Store(e.to_string()))?;
            let mut live = LiveEngine { engine, bin_size: default_bin_size(last.close), last_outcome: BarOutcome::default(), last_hash: None };
            apply_bars(&mut live, symbol, &bars);
            out.extend(live.changed_snapshot(symbol, &source, self.generation, update_started)?);
            self.engines.insert(symbol.to_string(), live);
        } else if let Some(live) = self.engines.get_mut(symbol) {
            let after = live.engine.last_bar_time_ms().unwrap_or(i64::MIN);
            let mut bars = self.store.bars_after(symbol, after, BARS_PER_UPDATE_MAX).map_err(db)?;
            bars.retain(|bar| bar.open_time_ms <= limit_ms);
            let silent = bars.len().saturating_sub(BAR_SNAPSHOTS_PER_UPDATE_MAX);
            apply_bars(live, symbol, &bars[..silent]);
            for bar in &bars[silent..] {
                let started = Instant::now();
                apply_bars(live, symbol, std::slice::from_ref(bar));
                out.extend(live.changed_snapshot(symbol, &source, self.generation, started)?);
            }
            if bars.is_empty() {
                // Nothing new; still sent if it was never sent (e.g. an earlier error).
                out.extend(live.changed_snapshot(symbol, &source, self.generation, update_started)?);
            }
        }
        debug_assert!(out.len() <= BAR_SNAPSHOTS_PER_UPDATE_MAX);
        Ok(out)
    }
}

impl LiveEngine {
    /// The engine's current state as a snapshot to send, or `None` when it equals the last one
    /// sent. `started` is when the work for this state began (for the compute-time metric).
    fn changed_snapshot(&mut self, symbol: &str, source: &str, generation: u64, started: Instant) -> Result<Option<SnapshotReady>, UpdateError> {
        let Ok(snapshot) = self.engine.snapshot(self.bin_size, &self.last_outcome) else {
            return Err(UpdateError::NoData);
        };
        let data_json = serde_json::to_string(&snapshot).map_err(|e| UpdateError::Store(e.to_string()))?;
        let mut hasher = DefaultHasher::new();
        data_json.hash(&mut hasher);
        let hash = hasher.finish();
        if self.last_hash == Some(hash) {
            return Ok(None);
        }
        self.last_hash = Some(hash);
        Ok(Some(SnapshotReady {
            symbol: symbol.to_string(),
            generation,
            timestamp: iso8601_utc_ms(snapshot.timestamp_ms),
            source: source.to_string(),
            data_json,
            computed_at_unix_ms: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0),
            compute_micros: started.elapsed().as_micros() as u64,
        }))
    }
}

enum UpdateError {
    NoData,
    Store(String),
}

/// Applies bars in order; a bar the model rejects is logged and skipped.
fn apply_bars(live: &mut LiveEngine, symbol: &str, bars: &[crate::engine::Bar]) {
    for bar in bars {
        match live.engine.apply(bar) {
            Ok(outcome) => live.last_outcome = outcome,
            Err(e) => warn!("event=bar_rejected symbol={symbol} open_time_ms={} error={:?}", bar.open_time_ms, e.to_string()),
        }
    }
}
