//! Worker threads behind the event loop: the snapshot producer and the REST query worker.
//!
//! Each runs on its own thread, takes work over bounded crossbeam channels, and hands results to
//! the event loops through the one [`SnapshotFanout`] (bounded channel and `mio::Waker` per loop). The loop supervises them: a
//! worker whose thread ended is restarted (with the current demand) after a short backoff.

#![allow(clippy::disallowed_methods)]

pub mod market;
pub mod synthetic;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use log::{error, info, warn};

use crate::core::QueryRequest;
use crate::driver::{QueryJob, SnapshotFanout, WorkerEvent};

/// REST queries waiting for the query worker.
pub const QUERIES_QUEUE_MAX: usize = 64;
/// Demand updates waiting for a producer (it only ever needs the newest).
const DEMAND_QUEUE_MAX: usize = 16;
/// A worker that died is restarted no sooner than this.
const RESTART_BACKOFF: Duration = Duration::from_secs(1);
/// On shutdown, workers get this long to finish before they are abandoned.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// Running ingestion totals shared by the workers (see [`crate::core::IngestTotals`]).
#[derive(Debug, Default)]
pub struct IngestCounters {
    pub rows: std::sync::atomic::AtomicU64,
    pub conflicts: std::sync::atomic::AtomicU64,
    pub warnings: std::sync::atomic::AtomicU64,
}

impl IngestCounters {
    fn totals(&self) -> crate::core::IngestTotals {
        crate::core::IngestTotals {
            rows: self.rows.load(Ordering::Relaxed),
            conflicts: self.conflicts.load(Ordering::Relaxed),
            warnings: self.warnings.load(Ordering::Relaxed),
        }
    }
}

/// What a worker thread is given.
#[derive(Clone)]
pub struct WorkerCtx {
    /// The one hand-off to the event loops (stamps snapshots once, routes answers).
    fanout: Arc<SnapshotFanout>,
    /// What any worker ingested, for `/metrics`.
    pub ingest: Arc<IngestCounters>,
    stop: Arc<AtomicBool>,
}

impl WorkerCtx {
    /// Hands a result to the loops (every loop, or the one that asked) and wakes them. Returns
    /// false when a loop is gone or stuck.
    pub fn send(&self, event: WorkerEvent) -> bool {
        let wall_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        self.fanout.dispatch(wall_ms, event)
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Receives demand updates, keeping only the newest.
pub struct DemandRx(Receiver<Vec<String>>);

impl DemandRx {
    /// Waits up to `timeout` for an update; returns the newest one received, if any.
    pub fn wait(&self, timeout: Duration) -> Option<Vec<String>> {
        self.wait_with::<()>(None, timeout).0
    }

    /// Waits up to `timeout` for a demand update or a message on `other`, whichever comes
    /// first; returns the newest demand received, if any, and the message, if one came.
    pub fn wait_with<T>(&self, other: Option<&Receiver<T>>, timeout: Duration) -> (Option<Vec<String>>, Option<T>) {
        let mut message = None;
        let mut newest = None;
        match other {
            None => {
                if let Ok(demand) = self.0.recv_timeout(timeout) {
                    newest = Some(demand);
                }
            }
            Some(other) => {
                crossbeam_channel::select! {
                    recv(self.0) -> demand => newest = demand.ok(),
                    recv(other) -> got => message = got.ok(),
                    default(timeout) => {}
                }
            }
        }
        while let Ok(demand) = self.0.try_recv() {
            newest = Some(demand);
        }
        (newest, message)
    }
}

/// How to start a producer thread (called again on restart).
pub type ProducerSpawn = Box<dyn Fn(WorkerCtx, DemandRx, Vec<String>) -> std::io::Result<JoinHandle<()>>>;
/// How to start the query worker thread.
pub type QuerySpawn = Box<dyn Fn(WorkerCtx, Receiver<QueryJob>) -> std::io::Result<JoinHandle<()>>>;

struct Supervised {
    name: &'static str,
    handle: Option<JoinHandle<()>>,
    restart_at: Option<Instant>,
    restarts: u64,
}

impl Supervised {
    fn new(name: &'static str, handle: Option<JoinHandle<()>>) -> Supervised {
        Supervised { name, handle, restart_at: None, restarts: 0 }
    }

    /// Restarts the thread with `spawn` if it ended and its backoff has passed; true on success.
    fn restart_if_due(&mut self, spawn: impl FnOnce() -> std::io::Result<JoinHandle<()>>) -> bool {
        if !self.due_for_restart() {
            return false;
        }
        self.restarts += 1;
        self.restart_at = None;
        match spawn() {
            Ok(handle) => {
                info!("event=worker_restarted worker={} restarts={}", self.name, self.restarts);
                self.handle = Some(handle);
                true
            }
            Err(e) => {
                error!("event=worker_restart_failed worker={} error={:?}", self.name, e.to_string());
                false
            }
        }
    }

    /// True when the thread ended and its restart is due.
    fn due_for_restart(&mut self) -> bool {
        let ended = self.handle.as_ref().is_none_or(|h| h.is_finished());
        if !ended {
            return false;
        }
        if let Some(handle) = self.handle.take() {
            let how = if handle.join().is_err() { "panicked" } else { "exited" };
            error!("event=worker_died worker={} how={how} restart_in_ms={}", self.name, RESTART_BACKOFF.as_millis());
            self.restart_at = Some(Instant::now() + RESTART_BACKOFF);
            return false;
        }
        self.restart_at.is_some_and(|at| Instant::now() >= at)
    }
}

/// The symbols with subscribers, per loop, and their union, which is what the producer computes.
struct DemandState {
    per_loop: Vec<Vec<String>>,
    union: Vec<String>,
    tx: Sender<Vec<String>>,
    /// The newest union could not be sent yet.
    unsent: bool,
    /// What the producer computes instead of the union, when something in front of the loops
    /// decides it (the Redis bus: a leader computes every supported symbol).
    producer_override: Option<Vec<String>>,
    /// Told (without waiting) whenever the union changes.
    on_change: Option<Sender<()>>,
}

impl DemandState {
    /// Sends the current union; if the producer's channel is full, tries again on the next
    /// supervision tick (the producer only ever acts on the newest demand anyway).
    fn send(&mut self) {
        self.unsent = match self.tx.try_send(self.producer_demand()) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => false,
            Err(TrySendError::Full(_)) => true,
        };
    }

    /// What the producer is to compute: the override if one is set, else the union.
    fn producer_demand(&self) -> Vec<String> {
        self.producer_override.clone().unwrap_or_else(|| self.union.clone())
    }
}

/// Lets a component in front of the loops (the Redis bus hub) see the loops' demand union and
/// decide what the producer computes.
#[derive(Clone)]
pub struct DemandControl(Arc<Mutex<DemandState>>);

impl DemandControl {
    /// The symbols some loop's clients subscribe to, in the order the loops first name them.
    pub fn union(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).union.clone()
    }

    /// Makes the producer compute `symbols` (`None`: the union again) and tells it now.
    pub fn set_producer_demand(&self, symbols: Option<Vec<String>>) {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if state.producer_override != symbols {
            state.producer_override = symbols;
            state.send();
        }
    }

    /// `tick` gets a message (dropped when one is already waiting) whenever the union changes.
    pub fn notify_on_change(&self, tick: Sender<()>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).on_change = Some(tick);
    }
}

/// What one event loop holds of the workers: where to send its queries and its demand.
#[derive(Clone)]
pub struct WorkerLink {
    loop_index: usize,
    queries_tx: Option<Sender<QueryJob>>,
    demand: Arc<Mutex<DemandState>>,
    ingest: Arc<IngestCounters>,
    feed_metrics: Option<crate::feed::FeedMetrics>,
    bus_metrics: Option<crate::bus::BusMetrics>,
}

impl WorkerLink {
    /// Hands a REST query to the query worker; gives it back when its queue is full.
    pub fn submit_query(&self, request: QueryRequest) -> Result<(), QueryRequest> {
        match &self.queries_tx {
            Some(tx) => tx.try_send(QueryJob { loop_index: self.loop_index, request }).map_err(|e| e.into_inner().request),
            None => Err(request),
        }
    }

    /// This loop's symbols with subscribers; the producer is told the union over all loops (in
    /// the order the loops first name them) whenever it changes.
    pub fn set_demand(&self, symbols: Vec<String>) {
        let mut state = self.demand.lock().unwrap_or_else(|e| e.into_inner());
        state.per_loop[self.loop_index] = symbols;
        let mut union: Vec<String> = Vec::new();
        for symbol in state.per_loop.iter().flatten() {
            if !union.contains(symbol) {
                union.push(symbol.clone());
            }
        }
        if union != state.union || state.unsent {
            if union != state.union {
                if let Some(tick) = &state.on_change {
                    let _ = tick.try_send(());
                }
            }
            state.union = union;
            state.send();
        }
    }

    /// What the workers have ingested since start (for the `ingest_*_total` metrics).
    pub fn ingest_totals(&self) -> crate::core::IngestTotals {
        self.ingest.totals()
    }

    /// Adds metrics the workers keep (the live feed's) to a loop's `/metrics` registry.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        if let Some(metrics) = &self.feed_metrics {
            metrics.register(registry);
        }
        if let Some(metrics) = &self.bus_metrics {
            metrics.register(registry);
        }
    }
}

/// The worker threads: a producer thread and an optional query worker thread, supervised from
/// the thread that started the loops.
pub struct Workers {
    ctx: WorkerCtx,
    demand: Arc<Mutex<DemandState>>,
    producer: Option<(Supervised, ProducerSpawn)>,
    queries_tx: Option<Sender<QueryJob>>,
    query_worker: Option<(Supervised, QuerySpawn, Receiver<QueryJob>)>,
    /// The live feed's threads and metrics, when `FEED=binance`.
    feed: Option<(crate::feed::FeedHandle, crate::feed::FeedMetrics)>,
    /// The Redis bus's threads, when `REDIS_ENABLED=true`.
    bus: Option<crate::bus::BusHandle>,
}

impl Workers {
    /// Starts the given threads, which hand their results to `fanout`. `producer` is `None` when
    /// streaming is disabled.
    pub fn start(fanout: Arc<SnapshotFanout>, producer: Option<ProducerSpawn>, queries: Option<QuerySpawn>) -> std::io::Result<Workers> {
        let loops = fanout.loops();
        let ctx = WorkerCtx { fanout, ingest: Arc::new(IngestCounters::default()), stop: Arc::new(AtomicBool::new(false)) };
        let (demand_tx, demand_rx) = bounded(DEMAND_QUEUE_MAX);
        let demand = DemandState { per_loop: vec![Vec::new(); loops], union: Vec::new(), tx: demand_tx, unsent: false, producer_override: None, on_change: None };
        let mut workers = Workers {
            ctx: ctx.clone(),
            demand: Arc::new(Mutex::new(demand)),
            producer: None,
            queries_tx: None,
            query_worker: None,
            feed: None,
            bus: None,
        };
        if let Some(spawn) = producer {
            let handle = spawn(ctx.clone(), DemandRx(demand_rx), Vec::new())?;
            workers.producer = Some((Supervised::new("snapshot_producer", Some(handle)), spawn));
        }
        if let Some(spawn) = queries {
            let (queries_tx, queries_rx) = bounded(QUERIES_QUEUE_MAX);
            let handle = spawn(ctx.clone(), queries_rx.clone())?;
            workers.queries_tx = Some(queries_tx);
            workers.query_worker = Some((Supervised::new("query_worker", Some(handle)), spawn, queries_rx));
        }
        Ok(workers)
    }

    /// Hands the live feed's threads to the workers: its metrics join `/metrics` and it is
    /// stopped with them.
    pub fn with_feed(mut self, handle: crate::feed::FeedHandle, metrics: crate::feed::FeedMetrics) -> Workers {
        self.feed = Some((handle, metrics));
        self
    }

    /// Hands the Redis bus's threads to the workers: its metrics join `/metrics` and it is
    /// stopped with them.
    pub fn with_bus(mut self, bus: crate::bus::BusHandle) -> Workers {
        self.bus = Some(bus);
        self
    }

    /// Where the loops' demand union can be watched and the producer's demand decided.
    pub fn demand_control(&self) -> DemandControl {
        DemandControl(Arc::clone(&self.demand))
    }

    /// What loop `loop_index` holds of the workers.
    pub fn link(&self, loop_index: usize) -> WorkerLink {
        WorkerLink {
            loop_index,
            queries_tx: self.queries_tx.clone(),
            demand: Arc::clone(&self.demand),
            ingest: Arc::clone(&self.ctx.ingest),
            feed_metrics: self.feed.as_ref().map(|(_, metrics)| metrics.clone()),
            bus_metrics: self.bus.as_ref().map(|bus| bus.metrics()),
        }
    }

    /// Called about once a second: resend demand that did not fit, detect dead workers and
    /// restart them (a restarted producer gets a fresh demand channel and the current union).
    pub fn supervise(&mut self) {
        {
            let mut demand = self.demand.lock().unwrap_or_else(|e| e.into_inner());
            if demand.unsent {
                demand.send();
            }
        }
        if let Some((supervised, spawn)) = self.producer.as_mut() {
            let demand = Arc::clone(&self.demand);
            let ctx = self.ctx.clone();
            supervised.restart_if_due(|| {
                let (tx, rx) = bounded(DEMAND_QUEUE_MAX);
                let mut state = demand.lock().unwrap_or_else(|e| e.into_inner());
                let handle = spawn(ctx, DemandRx(rx), state.producer_demand())?;
                state.tx = tx;
                Ok(handle)
            });
        }
        if let Some((supervised, spawn, rx)) = self.query_worker.as_mut() {
            supervised.restart_if_due(|| spawn(self.ctx.clone(), rx.clone()));
        }
    }

    /// Stops the workers (shutdown); returns once they have stopped or been abandoned.
    pub fn stop(&mut self) {
        self.ctx.stop.store(true, Ordering::Relaxed);
        if let Some(mut bus) = self.bus.take() {
            bus.stop();
        }
        if let Some((handle, _)) = self.feed.take() {
            handle.stop(STOP_TIMEOUT);
        }
        self.queries_tx = None;
        let deadline = Instant::now() + STOP_TIMEOUT;
        let handles = [
            self.producer.as_mut().and_then(|(s, _)| s.handle.take()),
            self.query_worker.as_mut().and_then(|(s, _, _)| s.handle.take()),
        ];
        for handle in handles.into_iter().flatten() {
            join_before(handle, deadline, "worker");
        }
    }
}

/// Joins `handle` if its thread ends before `deadline`; otherwise abandons it with a warning
/// (shutdown must not hang on a thread stuck in a call).
pub fn join_before(handle: JoinHandle<()>, deadline: Instant, what: &str) {
    while !handle.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if handle.is_finished() {
        let _ = handle.join();
    } else {
        warn!("event=thread_abandoned thread={what} reason=stop_timeout");
    }
}

#[cfg(test)]
mod tests;
