//! What the worker threads (and, later, a bus) hand to an event loop.
//!
//! The type belongs to the loop that consumes it, not to the shell that owns sockets, so the
//! workers depend on the driver's vocabulary only and never import `crate::shell`.

use crate::core::{BusReport, FeedReport, ProducerStatus, QueryResponse, StampedSnapshot};

/// Something a worker thread finished, for one loop.
#[derive(Debug, Clone)]
pub enum LoopEvent {
    /// A snapshot already stamped (epoch, seq, frame) by the process's one [`crate::core::Sequencer`]:
    /// every loop queues these same bytes.
    Snapshot(StampedSnapshot),
    Status { symbol: String, status: ProducerStatus },
    /// A REST answer for the connection `conn` of the loop that asked.
    QueryDone { conn: usize, token: u64, response: QueryResponse },
    /// The live feed's state changed.
    Feed(FeedReport),
    /// A realised liquidation was stored: the `{"type":"liquidation",...}` message for the
    /// symbol's subscribers.
    Liquidation { symbol: String, message_json: String },
    /// The Redis bus's state (role, link, counters) for `/health` and `/ws/stats`.
    Bus(BusReport),
}

/// Something a worker thread finished, before it reaches the loops: a snapshot is not stamped
/// yet, a REST answer names the loop that asked. [`super::fanout::SnapshotFanout::dispatch`]
/// turns it into the [`LoopEvent`]s of the loops.
#[derive(Debug)]
pub enum WorkerEvent {
    Snapshot(crate::core::SnapshotReady),
    Status { symbol: String, status: ProducerStatus },
    QueryDone { loop_index: usize, conn: usize, token: u64, response: QueryResponse },
    Feed(FeedReport),
    Liquidation { symbol: String, message_json: String },
}

/// A REST query on its way to the query worker, with the loop its answer goes back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryJob {
    pub loop_index: usize,
    pub request: crate::core::QueryRequest,
}
