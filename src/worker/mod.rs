//! Worker threads behind the event loop: the snapshot producer and the REST query worker.
//!
//! Each runs on its own thread, takes work over bounded crossbeam channels, and hands results back
//! over one bounded channel, waking the loop with its `mio::Waker`. The loop supervises them: a
//! worker whose thread ended is restarted (with the current demand) after a short backoff.

#![allow(clippy::disallowed_methods)]

pub mod market;
pub mod synthetic;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use log::{error, info, warn};
use mio::Waker;

use crate::core::QueryRequest;
use crate::shell::{Backend, BackendEvent};

/// Results waiting for the loop.
pub const EVENTS_QUEUE_MAX: usize = 256;
/// REST queries waiting for the query worker.
pub const QUERIES_QUEUE_MAX: usize = 64;
/// Demand updates waiting for a producer (it only ever needs the newest).
const DEMAND_QUEUE_MAX: usize = 16;
/// A worker that died is restarted no sooner than this.
const RESTART_BACKOFF: Duration = Duration::from_secs(1);
/// A worker blocked this long on a full result channel drops the result.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);
/// On shutdown, workers get this long to finish before they are abandoned.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// Running ingestion totals shared by the workers (see [`crate::core::IngestTotals`]).
#[derive(Debug, Default)]
pub struct IngestCounters {
    pub rows: std::sync::atomic::AtomicU64,
    pub conflicts: std::sync::atomic::AtomicU64,
    pub warnings: std::sync::atomic::AtomicU64,
}

/// What a worker thread is given.
#[derive(Clone)]
pub struct WorkerCtx {
    events: Sender<BackendEvent>,
    /// What any worker ingested, for `/metrics`.
    pub ingest: Arc<IngestCounters>,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
}

impl WorkerCtx {
    /// Hands a result to the loop and wakes it. Returns false when the loop is gone or stuck.
    pub fn send(&self, event: BackendEvent) -> bool {
        match self.events.send_timeout(event, SEND_TIMEOUT) {
            Ok(()) => {
                let _ = self.waker.wake();
                true
            }
            Err(_) => {
                warn!("event=worker_send_dropped reason=loop_not_draining");
                false
            }
        }
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
pub type QuerySpawn = Box<dyn Fn(WorkerCtx, Receiver<QueryRequest>) -> std::io::Result<JoinHandle<()>>>;

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

/// The production [`Backend`]: a producer thread and an optional query worker thread.
pub struct Workers {
    ctx: WorkerCtx,
    events_rx: Receiver<BackendEvent>,
    demand: Vec<String>,
    demand_tx: Sender<Vec<String>>,
    /// The newest demand could not be sent yet.
    demand_unsent: bool,
    producer: Option<(Supervised, ProducerSpawn)>,
    queries_tx: Option<Sender<QueryRequest>>,
    query_worker: Option<(Supervised, QuerySpawn, Receiver<QueryRequest>)>,
    /// The live feed's threads and metrics, when `FEED=binance`.
    feed: Option<(crate::feed::FeedHandle, crate::feed::FeedMetrics)>,
}

impl Workers {
    /// Starts the given threads. `producer` is `None` when streaming is disabled.
    pub fn start(waker: Arc<Waker>, producer: Option<ProducerSpawn>, queries: Option<QuerySpawn>) -> std::io::Result<Workers> {
        let (events_tx, events_rx) = bounded(EVENTS_QUEUE_MAX);
        let ctx = WorkerCtx {
            events: events_tx,
            ingest: Arc::new(IngestCounters::default()),
            waker,
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (demand_tx, demand_rx) = bounded(DEMAND_QUEUE_MAX);
        let mut workers = Workers {
            ctx: ctx.clone(),
            events_rx,
            demand: Vec::new(),
            demand_tx,
            demand_unsent: false,
            producer: None,
            queries_tx: None,
            query_worker: None,
            feed: None,
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
}

impl Workers {
    /// Hands the live feed's threads to the workers: its metrics join `/metrics` and it is
    /// stopped with them.
    pub fn with_feed(mut self, handle: crate::feed::FeedHandle, metrics: crate::feed::FeedMetrics) -> Workers {
        self.feed = Some((handle, metrics));
        self
    }
}

impl Backend for Workers {
    fn poll_event(&mut self) -> Option<BackendEvent> {
        self.events_rx.try_recv().ok()
    }

    fn set_demand(&mut self, symbols: Vec<String>) {
        self.demand = symbols;
        self.send_demand();
    }

    fn submit_query(&mut self, request: QueryRequest) -> Result<(), QueryRequest> {
        match &self.queries_tx {
            Some(tx) => tx.try_send(request).map_err(|e| e.into_inner()),
            None => Err(request),
        }
    }

    fn supervise(&mut self) {
        if self.demand_unsent {
            self.send_demand();
        }
        if let Some((supervised, spawn)) = self.producer.as_mut() {
            // A restarted producer gets a fresh demand channel and the current demand.
            let mut demand_tx = None;
            let restarted = supervised.restart_if_due(|| {
                let (tx, rx) = bounded(DEMAND_QUEUE_MAX);
                demand_tx = Some(tx);
                spawn(self.ctx.clone(), DemandRx(rx), self.demand.clone())
            });
            if let (true, Some(tx)) = (restarted, demand_tx) {
                self.demand_tx = tx;
            }
        }
        if let Some((supervised, spawn, rx)) = self.query_worker.as_mut() {
            supervised.restart_if_due(|| spawn(self.ctx.clone(), rx.clone()));
        }
    }

    fn ingest_totals(&self) -> crate::core::IngestTotals {
        crate::core::IngestTotals {
            rows: self.ctx.ingest.rows.load(Ordering::Relaxed),
            conflicts: self.ctx.ingest.conflicts.load(Ordering::Relaxed),
            warnings: self.ctx.ingest.warnings.load(Ordering::Relaxed),
        }
    }

    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        if let Some((_, metrics)) = &self.feed {
            metrics.register(registry);
        }
    }

    fn stop(&mut self) {
        self.ctx.stop.store(true, Ordering::Relaxed);
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

impl Workers {
    /// Sends the current demand; if the producer's channel is full, tries again on the next
    /// supervision tick (the producer only ever acts on the newest demand anyway).
    fn send_demand(&mut self) {
        self.demand_unsent = match self.demand_tx.try_send(self.demand.clone()) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => false,
            Err(TrySendError::Full(_)) => true,
        };
    }
}

#[cfg(test)]
mod tests;
