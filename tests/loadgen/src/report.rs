//! The run's report: JSON for machines, a summary for people, and the threshold checks.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::histogram::LatencySummary;
use super::server_metrics::{broadcast_between, ServerSample};
use super::stats::PhaseStats;

#[derive(Clone, Debug, Serialize)]
pub struct ConnectReport {
    pub attempts: u64,
    pub upgraded: u64,
    pub failed: u64,
    pub retries: u64,
    /// upgraded / attempts, percent (100 when nothing was attempted).
    pub success_percent: f64,
    pub failures: BTreeMap<String, u64>,
    pub handshake: LatencySummary,
}

#[derive(Clone, Debug, Serialize)]
pub struct ServerReport {
    pub rss_start_bytes: f64,
    pub rss_end_bytes: f64,
    pub rss_max_bytes: f64,
    /// Server CPU over the phase, percent of one core (delta CPU seconds / wall seconds).
    pub cpu_percent: f64,
    pub active_connections_end: f64,
    pub open_fds_end: f64,
    pub queue_bytes_max: f64,
    pub slow_consumers: f64,
    pub dropped_snapshots: f64,
    pub messages_sent: f64,
    /// Disconnects during the phase, by reason.
    pub disconnects: BTreeMap<String, f64>,
    /// Snapshots fanned out in the phase, and the server's own fan-out time (arrival at the loop
    /// to the last byte handed to the kernel): mean, and the bucket bound holding the p99.
    pub broadcasts: f64,
    pub broadcast_mean_ms: f64,
    pub broadcast_p99_bucket_ms: f64,
    pub samples: usize,
}

impl ServerReport {
    /// From the scrapes at the phase's start and end and the periodic samples in between.
    pub fn from_samples(start: &ServerSample, end: &ServerSample, between: &[ServerSample]) -> ServerReport {
        let wall_s = (end.at_ms.saturating_sub(start.at_ms)) as f64 / 1000.0;
        let all = || std::iter::once(start).chain(between).chain(std::iter::once(end));
        let mut disconnects = BTreeMap::new();
        for (reason, &count) in &end.disconnects {
            let delta = count - start.disconnects.get(reason).copied().unwrap_or(0.0);
            if delta > 0.0 {
                disconnects.insert(reason.clone(), delta);
            }
        }
        let (broadcasts, broadcast_mean_s, broadcast_p99_s) = broadcast_between(start, end).unwrap_or((0.0, f64::NAN, f64::NAN));
        ServerReport {
            rss_start_bytes: start.rss_bytes,
            rss_end_bytes: end.rss_bytes,
            rss_max_bytes: all().map(|s| s.rss_bytes).fold(0.0, f64::max),
            cpu_percent: if wall_s > 0.0 { (end.cpu_seconds - start.cpu_seconds) / wall_s * 100.0 } else { f64::NAN },
            active_connections_end: end.active_connections,
            open_fds_end: end.open_fds,
            queue_bytes_max: all().map(|s| s.queue_bytes).fold(0.0, f64::max),
            slow_consumers: end.slow_consumers_total - start.slow_consumers_total,
            dropped_snapshots: end.dropped_snapshots_total - start.dropped_snapshots_total,
            messages_sent: end.messages_sent_total - start.messages_sent_total,
            disconnects,
            broadcasts,
            broadcast_mean_ms: broadcast_mean_s * 1000.0,
            broadcast_p99_bucket_ms: broadcast_p99_s * 1000.0,
            samples: between.len() + 2,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct PhaseReport {
    pub name: String,
    pub seconds: f64,
    pub clients_open_end: usize,
    pub connect: ConnectReport,
    /// Connect start to the first snapshot.
    pub served: LatencySummary,
    /// Delivery latency of clients outside the slow group (all clients in other scenarios).
    pub delivery: LatencySummary,
    /// Delivery latency of the slow group while it still read (slow scenario only).
    pub delivery_slow_group: LatencySummary,
    pub snapshots: u64,
    pub snapshot_bytes: u64,
    pub lost: u64,
    pub reordered: u64,
    pub epoch_changes: u64,
    pub pongs: u64,
    pub server_closes: BTreeMap<String, u64>,
    pub events: BTreeMap<String, u64>,
    pub server: Option<ServerReport>,
    /// This process's CPU over the phase, percent of one core.
    pub loadgen_cpu_percent: f64,
}

impl PhaseReport {
    pub fn new(name: &str, seconds: f64, clients_open_end: usize, stats: PhaseStats, server: Option<ServerReport>, loadgen_cpu_percent: f64) -> PhaseReport {
        let failed = stats.failed();
        PhaseReport {
            name: name.to_string(),
            seconds,
            clients_open_end,
            connect: ConnectReport {
                attempts: stats.attempts,
                upgraded: stats.upgraded,
                failed,
                retries: stats.retries,
                success_percent: if stats.attempts == 0 { 100.0 } else { stats.upgraded as f64 / stats.attempts as f64 * 100.0 },
                failures: stats.failures,
                handshake: stats.handshake.summary(),
            },
            served: stats.served.summary(),
            delivery: stats.delivery.summary(),
            delivery_slow_group: stats.delivery_slow_group.summary(),
            snapshots: stats.snapshots,
            snapshot_bytes: stats.snapshot_bytes,
            lost: stats.lost,
            reordered: stats.reordered,
            epoch_changes: stats.epoch_changes,
            pongs: stats.pongs,
            server_closes: stats.server_closes,
            events: stats.events,
            server,
            loadgen_cpu_percent,
        }
    }
}

/// One threshold and how the run did against it.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub limit: f64,
    pub measured: f64,
    pub passed: bool,
}

impl Check {
    /// Passes when `measured <= limit` (a NaN measurement fails: nothing was measured).
    pub fn at_most(name: &str, limit: f64, measured: f64) -> Check {
        Check { name: name.into(), limit, measured, passed: measured <= limit }
    }

    pub fn at_least(name: &str, limit: f64, measured: f64) -> Check {
        Check { name: name.into(), limit, measured, passed: measured >= limit }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub scenario: super::args::Scenario,
    pub target: String,
    pub connections: usize,
    pub symbols: Vec<String>,
    pub symbols_per_client: usize,
    pub phases: Vec<PhaseReport>,
    /// Scenario-specific results (e.g. `storm_served_s`, `idle_rss_per_connection_bytes`).
    pub findings: BTreeMap<String, f64>,
    pub checks: Vec<Check>,
    pub passed: bool,
}

fn mib(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

impl Report {
    /// A few lines per phase for a terminal.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "loadgen {:?}: {} connections to {} ({} of {:?} each)",
            self.scenario, self.connections, self.target, self.symbols_per_client, self.symbols
        );
        for phase in &self.phases {
            let c = &phase.connect;
            let _ = writeln!(out, "\n[{}] {:.1} s, {} clients open at the end", phase.name, phase.seconds, phase.clients_open_end);
            if c.attempts > 0 {
                let _ = writeln!(
                    out,
                    "  connect: {}/{} upgraded ({:.2} %), {} retries; handshake p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
                    c.upgraded, c.attempts, c.success_percent, c.retries, c.handshake.p50_ms, c.handshake.p99_ms, c.handshake.max_ms
                );
                for (reason, n) in &c.failures {
                    let _ = writeln!(out, "    failed: {n} x {reason}");
                }
            }
            if phase.served.count > 0 {
                let s = &phase.served;
                let _ = writeln!(
                    out,
                    "  served (connect to first snapshot): {} clients, p50 {:.1} ms p99 {:.1} ms max {:.1} ms",
                    s.count, s.p50_ms, s.p99_ms, s.max_ms
                );
            }
            for (label, d) in [("delivery", &phase.delivery), ("delivery (slow group)", &phase.delivery_slow_group)] {
                if d.count > 0 {
                    let _ = writeln!(
                        out,
                        "  {label}: {} snapshots, p50 {:.2} ms p95 {:.2} ms p99 {:.2} ms max {:.2} ms",
                        d.count, d.p50_ms, d.p95_ms, d.p99_ms, d.max_ms
                    );
                }
            }
            if phase.snapshots > 0 {
                let _ = writeln!(
                    out,
                    "  snapshots: {} ({:.1} MiB), lost {}, reordered {}, epoch changes {}",
                    phase.snapshots,
                    mib(phase.snapshot_bytes as f64),
                    phase.lost,
                    phase.reordered,
                    phase.epoch_changes
                );
            }
            for (reason, n) in phase.server_closes.iter().chain(&phase.events) {
                let _ = writeln!(out, "  {n} x {reason}");
            }
            if let Some(s) = &phase.server {
                let _ = writeln!(
                    out,
                    "  server: RSS {:.1} -> {:.1} MiB (max {:.1}), CPU {:.1} % of a core, {} WebSockets, queue max {:.1} MiB, slow consumers {}, dropped {}",
                    mib(s.rss_start_bytes),
                    mib(s.rss_end_bytes),
                    mib(s.rss_max_bytes),
                    s.cpu_percent,
                    s.active_connections_end,
                    mib(s.queue_bytes_max),
                    s.slow_consumers,
                    s.dropped_snapshots
                );
                if s.broadcasts > 0.0 {
                    let _ = writeln!(
                        out,
                        "  server fan-out: {} snapshots, mean {:.2} ms, p99 <= {} ms (arrival to last byte handed to the kernel)",
                        s.broadcasts, s.broadcast_mean_ms, s.broadcast_p99_bucket_ms
                    );
                }
            }
            let _ = writeln!(out, "  loadgen CPU {:.1} % of a core", phase.loadgen_cpu_percent);
        }
        if !self.findings.is_empty() {
            let _ = writeln!(out);
            for (name, value) in &self.findings {
                let _ = writeln!(out, "{name}: {value:.3}");
            }
        }
        let _ = writeln!(out);
        for check in &self.checks {
            let _ = writeln!(out, "{} {}: measured {:.3}, limit {:.3}", if check.passed { "PASS" } else { "FAIL" }, check.name, check.measured, check.limit);
        }
        let _ = writeln!(out, "{}", if self.passed { "result: PASS" } else { "result: FAIL" });
        out
    }
}
