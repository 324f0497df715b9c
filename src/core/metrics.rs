//! Prometheus metrics of the core, exposed at `/metrics`.
//!
//! Every metric is registered once, when the core is built; per-symbol handles are created then
//! too and kept by symbol index, so updating a metric on the broadcast path is an atomic add and
//! never allocates. No label ever takes a per-client value: labels are symbols (from the fixed
//! supported list), disconnect reasons and error codes (fixed enums).

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets_range, Histogram};
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

use super::addresses::ConnKind;
use super::protocol::ErrorCode;
use super::stats::DisconnectReason;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SymbolLabel {
    symbol: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: String,
}

/// Buckets from 10 microseconds to 10 seconds.
const LATENCY_BUCKETS: u16 = 25;

/// Per-symbol handles, created once.
pub struct SymbolMetrics {
    pub subscriptions: Gauge,
    pub messages_sent: Counter,
    pub bytes_sent: Counter,
    pub slow_consumers: Counter,
    pub dropped_snapshots: Counter,
    pub broadcast_seconds: Histogram,
    pub compute_seconds: Histogram,
    pub snapshot_age_seconds: Gauge<f64, AtomicU64>,
}

/// What only the process around the core knows, read at scrape time by the shell.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    pub resident_memory_bytes: u64,
    pub cpu_seconds_total: f64,
    pub open_fds: u64,
    pub max_fds: u64,
    pub ingest: IngestTotals,
}

/// Running totals of the server's ingestion (inbox) since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestTotals {
    /// Rows written.
    pub rows: u64,
    /// Rows whose key was already stored with other values (stored values kept).
    pub conflicts: u64,
    /// Rows accepted with a data warning (for example an implausible open interest).
    pub warnings: u64,
}

/// A counter that mirrors a running total kept elsewhere: it advances by what the total grew.
struct MirroredCounter {
    counter: Counter,
    seen: u64,
}

impl MirroredCounter {
    fn register(registry: &mut Registry, name: &str, help: &str) -> MirroredCounter {
        let counter = Counter::default();
        registry.register(name, help, counter.clone());
        MirroredCounter { counter, seen: 0 }
    }

    fn advance_to(&mut self, total: u64) {
        if total > self.seen {
            self.counter.inc_by(total - self.seen);
            self.seen = total;
        }
    }
}

pub struct Metrics {
    registry: Registry,
    pub active_connections: Gauge,
    pub queue_bytes: Gauge,
    pub http_pending_bytes: Gauge,
    /// Distinct client addresses holding counted connections.
    pub connection_addresses: Gauge,
    refused_per_address: Family<KindLabel, Counter>,
    pub symbols: Vec<SymbolMetrics>,
    disconnects: Family<ReasonLabel, Counter>,
    errors: Family<CodeLabel, Counter>,
    resident_memory: Gauge,
    cpu_seconds: Counter<f64, AtomicU64>,
    cpu_seconds_seen: f64,
    open_fds: Gauge,
    max_fds: Gauge,
    ingest_rows: MirroredCounter,
    ingest_conflicts: MirroredCounter,
    ingest_warnings: MirroredCounter,
}

impl Metrics {
    pub fn new(symbols: &[String]) -> Metrics {
        let mut registry = Registry::default();
        let active_connections = Gauge::default();
        registry.register("ws_active_connections", "Open WebSocket connections", active_connections.clone());
        let queue_bytes = Gauge::default();
        registry.register("ws_queue_bytes", "Bytes queued for clients, over all clients", queue_bytes.clone());
        let http_pending_bytes = Gauge::default();
        registry.register(
            "http_pending_bytes",
            "Bytes of distinct HTTP answers not yet sent, counted once however many clients share them (bound: HTTP_MAX_PENDING_BYTES)",
            http_pending_bytes.clone(),
        );

        let connection_addresses = Gauge::default();
        registry.register(
            "connection_addresses",
            "Distinct client addresses holding connections counted against the per-address bounds (IPv6 by /64)",
            connection_addresses.clone(),
        );
        let refused_per_address = Family::<KindLabel, Counter>::default();
        registry.register(
            "connections_refused_per_address",
            "Connections refused because their client address held its bound (kind=ws: WS_MAX_CONNECTIONS_PER_ADDRESS, 429; kind=http: HTTP_MAX_CONNECTIONS_PER_ADDRESS, closed at accept)",
            refused_per_address.clone(),
        );
        for kind in [ConnKind::Http, ConnKind::WebSocket] {
            let _ = refused_per_address.get_or_create(&KindLabel { kind: kind.as_str().to_string() });
        }

        let subscriptions = Family::<SymbolLabel, Gauge>::default();
        registry.register("ws_subscriptions", "Subscribed clients per symbol", subscriptions.clone());
        let messages = Family::<SymbolLabel, Counter>::default();
        registry.register("ws_messages_sent", "Snapshot messages completely handed to the kernel", messages.clone());
        let bytes = Family::<SymbolLabel, Counter>::default();
        registry.register("ws_bytes_sent", "Snapshot bytes handed to the kernel", bytes.clone());
        let slow = Family::<SymbolLabel, Counter>::default();
        registry.register("ws_slow_consumers", "Slow-consumer episodes of subscribers of the symbol", slow.clone());
        let dropped = Family::<SymbolLabel, Counter>::default();
        registry.register("ws_dropped_snapshots", "Snapshots dropped from client queues (conflated or over the bound)", dropped.clone());
        let broadcast = Family::<SymbolLabel, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register_with_unit(
            "ws_broadcast_duration",
            "From a snapshot's arrival at the loop to its last byte handed to the kernel",
            Unit::Seconds,
            broadcast.clone(),
        );
        let compute = Family::<SymbolLabel, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register_with_unit("heatmap_snapshot_compute", "Time the producer took to compute a snapshot", Unit::Seconds, compute.clone());
        let age = Family::<SymbolLabel, Gauge<f64, AtomicU64>>::default();
        registry.register_with_unit("heatmap_snapshot_age", "Age of the newest snapshot of the symbol", Unit::Seconds, age.clone());

        let symbols = symbols
            .iter()
            .map(|s| {
                let label = SymbolLabel { symbol: s.clone() };
                SymbolMetrics {
                    subscriptions: subscriptions.get_or_create(&label).clone(),
                    messages_sent: messages.get_or_create(&label).clone(),
                    bytes_sent: bytes.get_or_create(&label).clone(),
                    slow_consumers: slow.get_or_create(&label).clone(),
                    dropped_snapshots: dropped.get_or_create(&label).clone(),
                    broadcast_seconds: broadcast.get_or_create(&label).clone(),
                    compute_seconds: compute.get_or_create(&label).clone(),
                    snapshot_age_seconds: age.get_or_create(&label).clone(),
                }
            })
            .collect();

        let disconnects = Family::<ReasonLabel, Counter>::default();
        registry.register("ws_disconnects", "WebSocket disconnections by reason", disconnects.clone());
        for reason in DisconnectReason::ALL {
            let _ = disconnects.get_or_create(&ReasonLabel { reason: reason.as_str().to_string() });
        }
        let errors = Family::<CodeLabel, Counter>::default();
        registry.register("ws_errors", "Error messages sent to clients by code", errors.clone());
        for code in ErrorCode::ALL {
            // Pre-created so every code shows (at 0) from the first scrape.
            let _ = errors.get_or_create(&CodeLabel { code: code.as_str().to_string() });
        }
        let ingest_rows = MirroredCounter::register(&mut registry, "ingest_rows", "Rows ingested into the database by the server");
        let ingest_conflicts = MirroredCounter::register(
            &mut registry,
            "ingest_conflicts",
            "Ingested rows whose time was already stored with other values (the stored values were kept)",
        );
        let ingest_warnings = MirroredCounter::register(
            &mut registry,
            "ingest_warnings",
            "Ingested rows accepted with a data warning (open interest of 0 or an implausible jump)",
        );
        let resident_memory = Gauge::default();
        registry.register_with_unit("process_resident_memory", "Resident memory of the process", Unit::Bytes, resident_memory.clone());
        let cpu_seconds = Counter::<f64, AtomicU64>::default();
        registry.register_with_unit("process_cpu", "User and system CPU time of the process", Unit::Seconds, cpu_seconds.clone());
        let open_fds = Gauge::default();
        registry.register("process_open_fds", "Open file descriptors", open_fds.clone());
        let max_fds = Gauge::default();
        registry.register("process_max_fds", "The open-files limit", max_fds.clone());
        Metrics {
            registry,
            active_connections,
            queue_bytes,
            http_pending_bytes,
            connection_addresses,
            refused_per_address,
            symbols,
            disconnects,
            errors,
            resident_memory,
            cpu_seconds,
            cpu_seconds_seen: 0.0,
            open_fds,
            max_fds,
            ingest_rows,
            ingest_conflicts,
            ingest_warnings,
        }
    }

    /// The registry rendered at `/metrics`, for metrics kept outside the core (the live feed's).
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    pub fn disconnected(&self, reason: DisconnectReason) {
        self.disconnects.get_or_create(&ReasonLabel { reason: reason.as_str().to_string() }).inc();
    }

    pub fn refused_per_address(&self, kind: ConnKind) {
        self.refused_per_address.get_or_create(&KindLabel { kind: kind.as_str().to_string() }).inc();
    }

    pub fn error_sent(&self, code: ErrorCode) {
        self.errors.get_or_create(&CodeLabel { code: code.as_str().to_string() }).inc();
    }

    /// Sets the scrape-time values and renders the text exposition.
    pub fn render(&mut self, process: ProcessStats) -> String {
        self.resident_memory.set(process.resident_memory_bytes as i64);
        if process.cpu_seconds_total > self.cpu_seconds_seen {
            self.cpu_seconds.inc_by(process.cpu_seconds_total - self.cpu_seconds_seen);
            self.cpu_seconds_seen = process.cpu_seconds_total;
        }
        self.open_fds.set(process.open_fds as i64);
        self.max_fds.set(process.max_fds as i64);
        self.ingest_rows.advance_to(process.ingest.rows);
        self.ingest_conflicts.advance_to(process.ingest.conflicts);
        self.ingest_warnings.advance_to(process.ingest.warnings);
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets_range(1e-5, 10.0, LATENCY_BUCKETS))
}
