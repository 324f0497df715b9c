//! Per-symbol state: who subscribes, and the latest framed snapshot.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::time::MonoTime;
use super::ConnId;

/// The newest snapshot of a symbol, framed once and shared by every queue it is put in.
#[derive(Debug, Clone)]
pub struct LatestSnapshot {
    pub seq: u64,
    pub epoch: Arc<str>,
    /// The complete WebSocket frame.
    pub frame: Arc<[u8]>,
    /// The complete permessage-deflate frame, when one was built.
    pub frame_deflated: Option<Arc<[u8]>>,
    /// Data time of the snapshot (ISO-8601), as reported by the producer.
    pub timestamp: Arc<str>,
    pub arrived_at: MonoTime,
    /// Wall time the producer finished computing it.
    pub computed_at_unix_ms: i64,
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

/// Times one snapshot's fan-out: from its arrival to its last byte handed to the kernel.
#[derive(Debug, Default)]
pub struct BroadcastTrack {
    current: Option<Track>,
}

#[derive(Debug)]
struct Track {
    seq: u64,
    started: MonoTime,
    pending: usize,
    last_delivery: Option<MonoTime>,
}

impl BroadcastTrack {
    /// A snapshot with this seq was queued for `subscribers` clients.
    pub fn start(&mut self, seq: u64, now: MonoTime, subscribers: usize) {
        self.current = (subscribers > 0).then_some(Track { seq, started: now, pending: subscribers, last_delivery: None });
    }

    /// One client finished receiving `seq`; returns the fan-out's duration once the last has.
    pub fn delivered(&mut self, seq: u64, now: MonoTime) -> Option<std::time::Duration> {
        let track = self.current.as_mut().filter(|t| t.seq == seq)?;
        track.pending = track.pending.saturating_sub(1);
        track.last_delivery = Some(now);
        if track.pending > 0 {
            return None;
        }
        let started = track.started;
        self.current = None;
        Some(now.since(started))
    }

    /// A newer snapshot arrived before every client had this one: its duration up to the last
    /// client it did reach, if any.
    pub fn superseded(&mut self) -> Option<std::time::Duration> {
        let track = self.current.take()?;
        track.last_delivery.map(|last| last.since(track.started))
    }
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
    pub broadcast: BroadcastTrack,
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
            broadcast: BroadcastTrack::default(),
        }
    }
}
