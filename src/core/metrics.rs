//! Prometheus metrics of the core, exposed at `/metrics`.
//!
//! Every metric is registered once, when the core is built; per-symbol handles are created then
//! too and kept by symbol index, so updating a metric on the broadcast path is an atomic add and
//! never allocates. Counters and histograms are process-wide ([`SharedCounters`], one per
//! process, one slot per event loop, see `shards`): each loop adds to its own slot and a scrape
//! answered by any loop sums them. Gauges are set at scrape time from the process-wide figures
//! of the [`super::ConnectionLedger`]. No label ever takes a per-client value: labels are
//! symbols (from the fixed supported list), disconnect reasons and error codes (fixed enums).

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::exponential_buckets_range;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

use super::addresses::ConnKind;
use super::protocol::ErrorCode;
use super::shards::{LoopCounter, LoopHistogram, PerLoop, ShardedCounter, ShardedHistogram};
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

type Counters<L> = Family<L, ShardedCounter, PerLoop>;
type Histograms<L> = Family<L, ShardedHistogram, PerLoop>;

/// The counters and histograms of one process, with one slot per event loop: made once (by the
/// [`super::ConnectionLedger`] the loops share) and registered in every loop's registry, so a
/// scrape answered by any loop reports the whole process. Every label value is created here, so
/// each series shows (at 0) from the first scrape and the loops' handles never touch the
/// families' maps.
#[derive(Debug, Clone)]
pub struct SharedCounters {
    symbols: Vec<String>,
    messages: Counters<SymbolLabel>,
    bytes: Counters<SymbolLabel>,
    slow: Counters<SymbolLabel>,
    dropped: Counters<SymbolLabel>,
    broadcast: Histograms<SymbolLabel>,
    compute: Histograms<SymbolLabel>,
    disconnects: Counters<ReasonLabel>,
    errors: Counters<CodeLabel>,
    refused_per_address: Counters<KindLabel>,
}

impl SharedCounters {
    /// Counters for these symbols (configuration order) and `loops` event loops.
    pub fn new(symbols: &[String], loops: usize) -> SharedCounters {
        let per_loop = PerLoop { loops, bounds: exponential_buckets_range(1e-5, 10.0, LATENCY_BUCKETS).collect() };
        let shared = SharedCounters {
            symbols: symbols.to_vec(),
            messages: family(&per_loop),
            bytes: family(&per_loop),
            slow: family(&per_loop),
            dropped: family(&per_loop),
            broadcast: family(&per_loop),
            compute: family(&per_loop),
            disconnects: family(&per_loop),
            errors: family(&per_loop),
            refused_per_address: family(&per_loop),
        };
        for symbol in symbols {
            let label = SymbolLabel { symbol: symbol.clone() };
            for counters in [&shared.messages, &shared.bytes, &shared.slow, &shared.dropped] {
                let _ = counters.get_or_create(&label);
            }
            let _ = shared.broadcast.get_or_create(&label);
            let _ = shared.compute.get_or_create(&label);
        }
        for reason in DisconnectReason::ALL {
            let _ = shared.disconnects.get_or_create(&ReasonLabel { reason: reason.as_str().to_string() });
        }
        for code in ErrorCode::ALL {
            let _ = shared.errors.get_or_create(&CodeLabel { code: code.as_str().to_string() });
        }
        for kind in [ConnKind::Http, ConnKind::WebSocket] {
            let _ = shared.refused_per_address.get_or_create(&KindLabel { kind: kind.as_str().to_string() });
        }
        shared
    }

    /// The symbols the counters were made for.
    pub fn symbols(&self) -> &[String] {
        &self.symbols
    }
}

fn family<L: Clone + std::hash::Hash + Eq, M>(per_loop: &PerLoop) -> Family<L, M, PerLoop> {
    Family::new_with_constructor(per_loop.clone())
}

fn counter_of<L: Clone + std::hash::Hash + Eq>(family: &Counters<L>, label: &L, loop_index: usize) -> LoopCounter {
    family.get_or_create(label).for_loop(loop_index)
}

/// Per-symbol handles, created once.
pub struct SymbolMetrics {
    pub subscriptions: Gauge,
    pub messages_sent: LoopCounter,
    pub bytes_sent: LoopCounter,
    pub slow_consumers: LoopCounter,
    pub dropped_snapshots: LoopCounter,
    pub broadcast_seconds: LoopHistogram,
    pub compute_seconds: LoopHistogram,
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
    /// By kind: [`ConnKind::Http`], [`ConnKind::WebSocket`].
    refused_per_address: [LoopCounter; 2],
    pub symbols: Vec<SymbolMetrics>,
    /// In [`DisconnectReason::ALL`] order.
    disconnects: Vec<LoopCounter>,
    /// In [`ErrorCode::ALL`] order.
    errors: Vec<LoopCounter>,
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
    /// Loop `loop_index`'s metrics: its own gauges, and its handles on the process's `shared`
    /// counters (registered here too, in the order the exposition has always had).
    pub fn new(shared: &SharedCounters, loop_index: usize) -> Metrics {
        let symbols = shared.symbols();
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
        registry.register(
            "connections_refused_per_address",
            "Connections refused because their client address held its bound (kind=ws: WS_MAX_CONNECTIONS_PER_ADDRESS, 429; kind=http: HTTP_MAX_CONNECTIONS_PER_ADDRESS, closed at accept)",
            shared.refused_per_address.clone(),
        );
        let refused_per_address =
            [ConnKind::Http, ConnKind::WebSocket].map(|kind| counter_of(&shared.refused_per_address, &KindLabel { kind: kind.as_str().to_string() }, loop_index));

        let subscriptions = Family::<SymbolLabel, Gauge>::default();
        registry.register("ws_subscriptions", "Subscribed clients per symbol", subscriptions.clone());
        registry.register("ws_messages_sent", "Snapshot messages completely handed to the kernel", shared.messages.clone());
        registry.register("ws_bytes_sent", "Snapshot bytes handed to the kernel", shared.bytes.clone());
        registry.register("ws_slow_consumers", "Slow-consumer episodes of subscribers of the symbol", shared.slow.clone());
        registry.register("ws_dropped_snapshots", "Snapshots dropped from client queues (conflated or over the bound)", shared.dropped.clone());
        registry.register_with_unit(
            "ws_broadcast_duration",
            "From a snapshot's arrival at the loop to its last byte handed to the kernel",
            Unit::Seconds,
            shared.broadcast.clone(),
        );
        registry.register_with_unit("heatmap_snapshot_compute", "Time the producer took to compute a snapshot", Unit::Seconds, shared.compute.clone());
        let age = Family::<SymbolLabel, Gauge<f64, AtomicU64>>::default();
        registry.register_with_unit("heatmap_snapshot_age", "Age of the newest snapshot of the symbol", Unit::Seconds, age.clone());

        let symbols = symbols
            .iter()
            .map(|s| {
                let label = SymbolLabel { symbol: s.clone() };
                SymbolMetrics {
                    subscriptions: subscriptions.get_or_create(&label).clone(),
                    messages_sent: counter_of(&shared.messages, &label, loop_index),
                    bytes_sent: counter_of(&shared.bytes, &label, loop_index),
                    slow_consumers: counter_of(&shared.slow, &label, loop_index),
                    dropped_snapshots: counter_of(&shared.dropped, &label, loop_index),
                    broadcast_seconds: shared.broadcast.get_or_create(&label).for_loop(loop_index),
                    compute_seconds: shared.compute.get_or_create(&label).for_loop(loop_index),
                    snapshot_age_seconds: age.get_or_create(&label).clone(),
                }
            })
            .collect();

        registry.register("ws_disconnects", "WebSocket disconnections by reason", shared.disconnects.clone());
        let disconnects = DisconnectReason::ALL
            .iter()
            .map(|reason| counter_of(&shared.disconnects, &ReasonLabel { reason: reason.as_str().to_string() }, loop_index))
            .collect();
        registry.register("ws_errors", "Error messages sent to clients by code", shared.errors.clone());
        let errors =
            ErrorCode::ALL.iter().map(|code| counter_of(&shared.errors, &CodeLabel { code: code.as_str().to_string() }, loop_index)).collect();
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
        if let Some(i) = DisconnectReason::ALL.iter().position(|r| *r == reason) {
            self.disconnects[i].inc();
        }
    }

    pub fn refused_per_address(&self, kind: ConnKind) {
        self.refused_per_address[kind as usize].inc();
    }

    pub fn error_sent(&self, code: ErrorCode) {
        if let Some(i) = ErrorCode::ALL.iter().position(|c| *c == code) {
            self.errors[i].inc();
        }
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
