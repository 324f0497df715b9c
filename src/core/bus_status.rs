//! What the Redis bus (`src/bus`, issue 15) tells the loop about itself, for `/health` and
//! `/ws/stats`. Plain data: the bus threads keep the figures, the loop hands the newest report
//! to the core, which only renders it (the counters also appear in `/metrics`, registered by the
//! bus itself).

use serde_json::{json, Value};

use super::time::Now;
use super::{Core, MutationPolicy};

/// The bus as last reported.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BusReport {
    /// `NODE_ID`.
    pub node_id: String,
    /// `leader` (holds the lease, publishes), `follower` (forwards the leader's snapshots) or
    /// `standalone` (Redis unreachable: serves what it computes itself).
    pub role: String,
    /// The node id written in the lease, `None` when nobody holds it or Redis is unreachable.
    pub lease_holder: Option<String>,
    /// `up`, `connecting` or `down` (the subscriber connection).
    pub state: String,
    /// Wall time the subscriber last received anything (a snapshot or its own probe), Unix ms.
    pub last_message_unix_ms: Option<i64>,
    /// Longest silence (probe interval plus timeout) before the bus counts as silent, ms.
    pub silence_ms: u64,
    pub published_total: u64,
    pub publish_refused_total: u64,
    pub received_total: u64,
    pub recovered_total: u64,
    pub duplicates_total: u64,
    pub gaps_total: u64,
    pub reconnects_total: u64,
    pub stale_rebuilds_total: u64,
    /// Leader publish (`sent_at_ms`) to this node's receive, of the newest snapshot, ms.
    pub lag_ms: Option<i64>,
    /// Symbols whose epoch this node continued when it took the lease (same data).
    pub continued_epochs_total: u64,
    /// Snapshots published once Redis answered again, held back by an outage the lease outlived.
    pub republished_total: u64,
    /// Bus threads that died and wait for their restart (degraded while not 0).
    pub threads_restarting: u64,
    pub thread_restarts_total: u64,
    /// Another running process uses this `NODE_ID` (degraded while true).
    pub duplicate_node_id: bool,
}

impl BusReport {
    /// The `bus` object of `/health` and `/ws/stats` at `wall_unix_ms`, and whether the bus is
    /// degraded (not `up`, silent longer than `silence_ms`, or a bus thread being restarted).
    pub fn to_json(&self, wall_unix_ms: i64) -> (Value, bool) {
        let age_ms = self.last_message_unix_ms.map(|at| (wall_unix_ms - at).max(0));
        let silent = age_ms.is_none_or(|age| age > self.silence_ms as i64);
        let degraded = self.state != "up" || silent || self.threads_restarting > 0 || self.duplicate_node_id;
        let value = json!({
            "node_id": self.node_id,
            "role": self.role,
            "lease_holder": self.lease_holder,
            "state": self.state,
            "degraded": degraded,
            "last_message_age_s": age_ms.map(|ms| ms as f64 / 1000.0),
            "lag_ms": self.lag_ms,
            "published": self.published_total,
            "publish_refused": self.publish_refused_total,
            "received": self.received_total,
            "recovered_from_history": self.recovered_total,
            "duplicates_dropped": self.duplicates_total,
            "gaps_let_through": self.gaps_total,
            "reconnects": self.reconnects_total,
            "stale_rebuilds": self.stale_rebuilds_total,
            "continued_epochs": self.continued_epochs_total,
            "republished": self.republished_total,
            "threads_restarting": self.threads_restarting,
            "thread_restarts": self.thread_restarts_total,
            "duplicate_node_id": self.duplicate_node_id,
        });
        (value, degraded)
    }
}

impl<M: MutationPolicy> Core<M> {
    /// The bus reported its state.
    pub fn handle_bus_report(&mut self, now: Now, report: BusReport) {
        self.advance_clock(now);
        self.bus = Some(report);
    }

    /// `/health`'s and `/ws/stats`' `bus` object and whether it makes the node degraded; `None`
    /// without a bus (`REDIS_ENABLED=false`).
    pub(crate) fn bus_json(&self, now: Now) -> Option<(Value, bool)> {
        self.bus.as_ref().map(|report| report.to_json(now.wall_unix_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(state: &str, last: Option<i64>) -> BusReport {
        BusReport { node_id: "a".into(), role: "follower".into(), state: state.into(), last_message_unix_ms: last, silence_ms: 3000, ..BusReport::default() }
    }

    #[test]
    fn bus_is_degraded_when_down_or_silent_past_the_limit() {
        assert!(!report("up", Some(10_000)).to_json(12_000).1);
        assert!(report("up", Some(10_000)).to_json(13_001).1, "silent 3.001 s");
        assert!(report("up", None).to_json(1).1, "never heard from");
        assert!(report("down", Some(10_000)).to_json(10_001).1);
        let (value, _) = report("up", Some(10_000)).to_json(11_500);
        assert_eq!(value["last_message_age_s"], 1.5);
        let restarting = BusReport { threads_restarting: 1, ..report("up", Some(10_000)) };
        assert!(restarting.to_json(10_001).1, "a bus thread waiting for its restart");
        let duplicate = BusReport { duplicate_node_id: true, ..report("up", Some(10_000)) };
        let (value, degraded) = duplicate.to_json(10_001);
        assert!(degraded && value["duplicate_node_id"] == true, "another process uses this NODE_ID");
    }
}
