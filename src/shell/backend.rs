//! What the event loop needs from the worker threads behind it.

use crate::core::{BusReport, FeedReport, ProducerStatus, QueryRequest, QueryResponse, SnapshotReady, StampedSnapshot};

/// Something a worker thread finished.
#[derive(Debug)]
pub enum BackendEvent {
    Snapshot(SnapshotReady),
    /// A snapshot whose position and bytes were decided upstream (the Redis bus: stamped by the
    /// leader, or by this node as leader/standalone); queued as it is, never renumbered.
    Stamped(StampedSnapshot),
    /// The Redis bus's state for `/health` and `/ws/stats`.
    Bus(BusReport),
    Status { symbol: String, status: ProducerStatus },
    QueryDone { conn: usize, token: u64, response: QueryResponse },
    /// The live feed's state changed.
    Feed(FeedReport),
    /// A realised liquidation was stored: the `{"type":"liquidation",...}` message for the
    /// symbol's subscribers.
    Liquidation { symbol: String, message_json: String },
}

/// The worker threads, seen from the loop. Implementations talk to their threads over bounded
/// crossbeam channels and wake the loop with its `mio::Waker` whenever an event is ready.
pub trait Backend {
    /// Next finished event, without blocking.
    fn poll_event(&mut self) -> Option<BackendEvent>;
    /// The symbols that have subscribers now.
    fn set_demand(&mut self, symbols: Vec<String>);
    /// Hands a REST query to a worker; gives it back when the worker's queue is full.
    fn submit_query(&mut self, request: QueryRequest) -> Result<(), QueryRequest>;
    /// Called about once a second: detect dead workers and restart them.
    fn supervise(&mut self);
    /// What the workers have ingested since start (for the `ingest_*_total` metrics).
    fn ingest_totals(&self) -> crate::core::IngestTotals;
    /// Adds metrics the workers keep (the live feed's) to the `/metrics` registry; called once.
    fn register_metrics(&self, _registry: &mut prometheus_client::registry::Registry) {}
    /// Stops the workers (shutdown); returns once they have stopped or been abandoned.
    fn stop(&mut self);
}
