//! Per-symbol state: who subscribes, and the latest framed snapshot.

use std::collections::BTreeSet;
use std::rc::Rc;

use super::time::MonoTime;
use super::ConnId;

/// The newest snapshot of a symbol, framed once and shared by every queue it is put in.
#[derive(Debug, Clone)]
pub struct LatestSnapshot {
    pub seq: u64,
    pub epoch: Rc<str>,
    /// The complete WebSocket frame.
    pub frame: Rc<[u8]>,
    /// Data time of the snapshot (ISO-8601), as reported by the producer.
    pub timestamp: Rc<str>,
    pub arrived_at: MonoTime,
    /// Wall time the producer finished computing it.
    pub computed_at_unix_ms: i64,
    pub compute_micros: u64,
}

/// What the producer last said about a symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProducerStatus {
    /// Nothing heard yet.
    Unknown,
    /// Snapshots are flowing.
    Ok,
    /// The store has no bars for this symbol.
    NoData,
    /// The last attempt failed; the loop keeps serving the last snapshot.
    Error(String),
}

#[derive(Debug)]
pub struct SymbolState {
    pub name: String,
    /// Subscribed clients, in a deterministic order.
    pub subscribers: BTreeSet<ConnId>,
    pub latest: Option<LatestSnapshot>,
    pub status: ProducerStatus,
    /// Counters for /ws/stats and /metrics.
    pub messages_sent_total: u64,
    pub bytes_sent_total: u64,
    pub dropped_total: u64,
    pub slow_consumers_total: u64,
}

impl SymbolState {
    pub fn new(name: String) -> SymbolState {
        SymbolState {
            name,
            subscribers: BTreeSet::new(),
            latest: None,
            status: ProducerStatus::Unknown,
            messages_sent_total: 0,
            bytes_sent_total: 0,
            dropped_total: 0,
            slow_consumers_total: 0,
        }
    }
}
