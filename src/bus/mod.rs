//! The Redis bus between nodes (issue 15, `docs/multi_server_deployment.md`).
//!
//! With `REDIS_ENABLED=true` several servers stream the same snapshots: one node, the leader
//! (holder of a Redis lease, [`lease`]), stamps each computed snapshot with its
//! [`crate::core::Sequencer`] and publishes the message, fenced by the lease and appended to a
//! capped per-symbol history in the same atomic step; every node forwards exactly those bytes
//! to its clients ([`wire`]), in order, without duplicates, filling holes from the history
//! ([`follower`], sans-IO).
//!
//! Threads (the synchronous `redis` client never runs on an event loop): `bus-control` (lease,
//! fenced publish, probe), `bus-subscriber` (pub/sub reader: hands off without ever waiting),
//! `bus-history` (reads the history on request), and `bus-hub` ([`hub`]: roles, stamping, the
//! follower). The fan-out ([`crate::driver::SnapshotFanout`]) hands the producer's snapshots to
//! the hub instead of stamping them; the hub gives every loop what to show through
//! `SnapshotFanout::deliver_stamped` and its state as `LoopEvent::Bus`. The bus threads talk to
//! the hub over bounded crossbeam channels and small mutex-guarded hand-offs, and wake it with a
//! tick channel of capacity 1.

#![allow(clippy::disallowed_methods)]

mod control;
pub mod follower;
mod history;
pub mod hub;
pub mod lease;
pub mod lineage;
mod metrics;
pub mod presence;
mod shared;
mod subscriber;
pub mod supervise;
pub mod wire;

use std::sync::Arc;

use crate::core::{frame, protocol, StampedSnapshot};

pub use hub::{BusHandle, BusInlet};
pub use metrics::BusMetrics;

/// Largest bus payload accepted (the largest synthetic snapshot, 16 MiB, plus its envelope).
pub const PAYLOAD_BYTES_MAX: usize = 17 * 1024 * 1024;
/// Reconnect delays start here and double up to `REDIS_RECONNECT_BACKOFF_MAX_MS`.
pub const RECONNECT_BACKOFF_BASE_MS: u64 = 100;

/// The bus's settings (`REDIS_*`, `NODE_ID` in `.env.template`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusSettings {
    pub enabled: bool,
    /// `redis://host:port[/db]`.
    pub url: String,
    pub node_id: String,
    /// How long a lease lasts unless renewed (renewed every third of it), ms.
    pub lease_ttl_ms: u64,
    /// Snapshots kept per symbol in the history stream (exact `MAXLEN`).
    pub history_messages_max: u64,
    /// The subscriber's own probe is published this often, ms.
    pub probe_interval_ms: u64,
    /// A subscription that received nothing (not even its probe) this long is rebuilt, ms.
    pub probe_timeout_ms: u64,
    /// Longest reconnect delay (exponential backoff with jitter), ms.
    pub reconnect_backoff_max_ms: u64,
    /// Connect and command timeout, ms.
    pub command_timeout_ms: u64,
}

impl Default for BusSettings {
    fn default() -> BusSettings {
        BusSettings {
            enabled: false,
            url: "redis://127.0.0.1:6379".into(),
            node_id: "node".into(),
            lease_ttl_ms: 6_000,
            history_messages_max: 64,
            probe_interval_ms: 1_000,
            probe_timeout_ms: 3_000,
            reconnect_backoff_max_ms: 5_000,
            command_timeout_ms: 2_000,
        }
    }
}

/// Redis names the bus uses.
pub mod keys {
    /// The leader lease (one leader for all symbols).
    pub const LEASE: &str = "lhm:leader";

    /// The pub/sub channel of `symbol`'s snapshots.
    pub fn channel(symbol: &str) -> String {
        format!("heatmap:{symbol}")
    }

    /// The capped history stream of `symbol`.
    pub fn history(symbol: &str) -> String {
        format!("heatmap:history:{symbol}")
    }

    /// The channel a node's subscriber probes itself through.
    pub fn probe(node_id: &str) -> String {
        format!("lhm:probe:{node_id}")
    }

    /// The symbol of a snapshot channel name.
    pub fn symbol_of_channel(channel: &str) -> Option<&str> {
        channel.strip_prefix("heatmap:").filter(|s| !s.contains(':'))
    }
}

/// A stamped snapshot with a tiny `data` object, for tests and the simulator.
pub fn follower_snapshot(symbol: &str, epoch: &str, seq: u64) -> StampedSnapshot {
    let message = protocol::snapshot_message(&protocol::SnapshotEnvelope {
        symbol,
        seq,
        epoch,
        timestamp: "2026-06-14T14:55:00Z",
        sent_at_ms: 0,
        source: "test",
        data_json: "{}",
    });
    StampedSnapshot {
        symbol: Arc::from(symbol),
        epoch: Arc::from(epoch),
        seq,
        timestamp: Arc::from("2026-06-14T14:55:00Z"),
        frame: Arc::from(frame::text_frame(message.as_bytes())),
        frame_deflated: None,
        message: Arc::from(message),
        computed_at_unix_ms: 0,
        compute_micros: 0,
    }
}
