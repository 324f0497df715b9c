//! What the clients observe during one phase of a run.

use std::collections::BTreeMap;

use super::histogram::Histogram;

/// Distinct event kinds counted by name (close reasons, server errors, ...); a bound against a
/// misbehaving server inventing endless distinct reasons.
const EVENT_KINDS_MAX: usize = 64;

#[derive(Clone, Debug, Default)]
pub struct PhaseStats {
    /// Connection attempts started (retries included).
    pub attempts: u64,
    /// Attempts that reached an upgraded WebSocket.
    pub upgraded: u64,
    /// Attempts that failed before upgrading, by reason.
    pub failures: BTreeMap<String, u64>,
    /// Attempts that were retries of failed ones (storm).
    pub retries: u64,
    /// Connect start to the 101, µs.
    pub handshake: Histogram,
    /// Connect start to the first snapshot after `subscribed`, µs.
    pub served: Histogram,
    /// Server `sent_at_ms` to receipt of the last byte, µs, for clients outside the slow group.
    pub delivery: Histogram,
    /// The same for the slow group while it still reads.
    pub delivery_slow_group: Histogram,
    pub snapshots: u64,
    pub snapshot_bytes: u64,
    /// Snapshots skipped by `seq` within an epoch.
    pub lost: u64,
    /// Snapshots whose `seq` did not increase within an epoch.
    pub reordered: u64,
    pub epoch_changes: u64,
    pub pongs: u64,
    /// Open WebSockets ended by the server, by close code or reason.
    pub server_closes: BTreeMap<String, u64>,
    /// Everything else worth counting, by name.
    pub events: BTreeMap<String, u64>,
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    if let Some(n) = map.get_mut(key) {
        *n += 1;
    } else if map.len() < EVENT_KINDS_MAX {
        map.insert(key.to_string(), 1);
    } else {
        *map.entry("(other)".to_string()).or_default() += 1;
    }
}

impl PhaseStats {
    pub fn count(&mut self, what: &str) {
        bump(&mut self.events, what);
    }

    pub fn failure(&mut self, reason: &str) {
        bump(&mut self.failures, reason);
    }

    pub fn server_close(&mut self, reason: &str) {
        bump(&mut self.server_closes, reason);
    }

    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }
}
