//! Swarm testing: every seed draws its own world — server limits, fault probabilities, client mix,
//! producer script, clock faults and shutdown plan — so different seeds explore different worlds.

use liquidationheatmap::core::CoreConfig;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::client::Kind;

/// Symbols the simulated server may support (a seed uses a prefix of 1 to 4 of them).
pub const SYMBOL_POOL: [&str; 4] = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"];

/// Clients a world may start with (reconnect storms open more connections than this).
pub const CLIENTS_MAX: usize = 40;

/// Independent random streams, so that e.g. changing how the wall clock behaves does not change
/// which faults the network injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    World = 1,
    Faults = 2,
    Clients = 3,
    Producer = 4,
    MonoClock = 5,
    WallClock = 6,
    Queries = 7,
    /// The process's shape: event loops, a stalled loop, bus deliveries (drawn on their own
    /// stream so adding them left every other choice of existing seeds unchanged).
    Shape = 8,
    /// The simulated Redis bus's faults.
    Bus = 9,
    /// Which loop receives a hand-off first.
    Loops = 10,
}

/// A ChaCha8 generator for one purpose of one seed (and one sub-index, e.g. a connection).
pub fn rng_for(seed: u64, stream: Stream, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((stream as u64) << 48) | index);
    rng
}

/// Fault probabilities of one world. Each applies per call or per event as documented.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRates {
    /// Per read or write call: fails with `Interrupted` (EINTR).
    pub eintr: f64,
    /// Per read or write call that moves bytes: moves fewer (never zero).
    pub short_io: f64,
    /// Per write call: `WouldBlock` although the buffer has room (re-signalled later).
    pub write_would_block: f64,
    /// Per readiness edge: an extra, spurious readiness event.
    pub spurious_readiness: f64,
    /// Readiness events arrive up to this late.
    pub readiness_delay_ms_max: u64,
    /// Client bytes reach the server up to this late.
    pub latency_ms_max: u64,
    /// Per connection: a tiny kernel send buffer.
    pub tiny_sndbuf: f64,
    /// Per readiness: a reset reported as an error event rather than a readable one.
    pub reset_as_error_event: f64,
    /// Per REST query: the worker is busy and the shell answers 503 at once.
    pub query_busy: f64,
    /// Per client step: a well-behaved client vanishes with a reset.
    pub client_reset: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProducerPlan {
    pub interval_ms: Vec<u64>,
    pub burst: f64,
    pub stall: f64,
    pub large: f64,
    /// A snapshot near or over the queue byte bound: it closes its subscribers, fast or not.
    pub huge: f64,
    pub new_generation: f64,
    pub unsupported_symbol: f64,
    pub dies_at_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClockPlan {
    pub fault_every_ms: u64,
    pub wall_drift_ppm: i64,
    pub mono_regression: bool,
}

/// Snapshots arrive as the Redis bus delivers them to a follower node (issue 15): stamped by a
/// simulated leader, lost, repeated, delayed, cut off, failed over to a new leader (a new epoch),
/// with a capped history the production `Follower` fills holes from.
#[derive(Debug, Clone, PartialEq)]
pub struct BusPlan {
    /// Per snapshot on the bus: lost (the leader's publish reached the history only).
    pub loss: f64,
    /// Per snapshot on the bus: delivered twice.
    pub duplicate: f64,
    /// Bus deliveries and history answers take up to this long (channel order kept).
    pub delay_ms_max: u64,
    /// Per publish: the subscription is cut (resubscribed 20 to 500 ms later).
    pub cut: f64,
    /// Per publish event: the lease moves to a new leader, which stamps a new epoch.
    pub failover: f64,
    /// Snapshots the history keeps per symbol (Redis `MAXLEN`).
    pub history_max: usize,
}

/// Event loops of the simulated process, and how its snapshots arrive (issue 14, issue 15).
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// `EVENT_LOOPS`: 1 to [`LOOPS_MAX`].
    pub loops: usize,
    /// Every client this loop adopts stops reading until faults stop (so every client of that
    /// loop stalls); the others must not be delayed by it.
    pub stalled_loop: Option<usize>,
    /// `Some`: snapshots come over the bus; `None`: from the local producer through the fan-out.
    pub bus: Option<BusPlan>,
}

/// Most event loops a simulated process runs.
pub const LOOPS_MAX: usize = 4;

impl Shape {
    fn draw(seed: u64) -> Shape {
        let mut rng = rng_for(seed, Stream::Shape, 0);
        let loops = pick(&mut rng, &[1, 1, 2, 3, LOOPS_MAX]);
        let stalled_loop = (loops > 1 && rng.random_bool(0.4)).then(|| rng.random_range(0..loops));
        let bus = rng.random_bool(0.3).then(|| BusPlan {
            loss: maybe(&mut rng, 0.2),
            duplicate: maybe(&mut rng, 0.2),
            delay_ms_max: pick(&mut rng, &[0, 2, 20, 100]),
            cut: maybe(&mut rng, 0.05),
            failover: maybe(&mut rng, 0.03),
            history_max: pick(&mut rng, &[1, 3, 16, 100_000]),
        });
        Shape { loops, stalled_loop, bus }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownPlan {
    /// No shutdown: the run ends after the liveness check.
    Never,
    /// Shutdown once liveness has been checked.
    AfterLiveness,
    /// Shutdown during the fault phase, under load (liveness is not checked).
    UnderLoad { at_ms: u64 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClientPlan {
    pub kind: Kind,
    pub start_ms: u64,
}

#[derive(Debug, Clone)]
pub struct Params {
    pub seed: u64,
    pub config: CoreConfig,
    pub faults: FaultRates,
    pub producer: ProducerPlan,
    pub clock: ClockPlan,
    pub clients: Vec<ClientPlan>,
    /// Faults and hostile clients stop at this time.
    pub fault_phase_ms: u64,
    pub shutdown: ShutdownPlan,
    /// Kernel send buffer of a connection without the tiny-buffer fault.
    pub sndbuf_bytes: usize,
    pub tiny_sndbuf_bytes: usize,
    /// Pending connections the listener holds before refusing more.
    pub backlog_max: usize,
    pub shape: Shape,
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// A probability that is zero for about a third of the seeds (so some worlds lack the fault).
fn maybe(rng: &mut ChaCha8Rng, max: f64) -> f64 {
    if rng.random_bool(0.35) {
        0.0
    } else {
        rng.random_range(0.0..max)
    }
}

impl Params {
    pub fn draw(seed: u64) -> Params {
        let mut rng = rng_for(seed, Stream::World, 0);
        let symbols = rng.random_range(1..=SYMBOL_POOL.len());
        let queue_bytes_max = pick(&mut rng, &[4096usize, 16 * 1024, 64 * 1024, 1024 * 1024]);
        let config = CoreConfig {
            supported_symbols: SYMBOL_POOL[..symbols]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            ws_enabled: true,
            ws_echo_enabled: false,
            ws_connections_max: rng.random_range(2..=20),
            http_connections_max: rng.random_range(3..=40),
            // Not drawn (keeps every seed's world as recorded): each simulated client has its own
            // address (World::peer_addr), so the per-address bounds never bind here; the core's
            // unit tests and tests/deploy_client_address.rs cover them.
            ws_connections_per_address_max: 1_000_000,
            http_connections_per_address_max: 1_000_000,
            trusted_proxies: Default::default(),
            queue_messages_max: rng.random_range(1..=6),
            queue_bytes_max,
            // Not drawn (keeps every seed's world as recorded): from one to a few hundred of the
            // simulated answers (at most 2000 bytes each), so some seeds answer 503 BUSY.
            http_pending_bytes_max: queue_bytes_max,
            slow_consumer_timeout_ms: rng.random_range(200..=2000),
            slow_consumer_grace_ms: rng.random_range(0..=4000),
            close_timeout_ms: rng.random_range(100..=3000),
            idle_timeout_ms: rng.random_range(3000..=30_000),
            http_request_timeout_ms: rng.random_range(500..=5000),
            shutdown_timeout_ms: rng.random_range(0..=5000),
            message_bytes_max: rng.random_range(256..=4096),
            // The echo endpoint is off in the simulation; no draw, so seeds keep their worlds.
            echo_message_bytes_max: 64 * 1024,
            // Simulated clients offer no compression; no draw, so seeds keep their worlds.
            ws_compression: false,
            ws_compression_min_bytes: 512,
            http_head_bytes_max: rng.random_range(512..=8192),
            rate_limit_messages_per_s: rng.random_range(1..=50),
            rate_limit_burst_messages: rng.random_range(1..=40),
            symbols_per_request_max: rng.random_range(1..=4),
            read_bytes_per_turn_max: pick(&mut rng, &[64usize, 256, 1024, 64 * 1024]),
            queries_in_flight_max: rng.random_range(1..=8),
            update_interval_ms: 1000,
            feed: Default::default(),
        };
        let faults = FaultRates {
            eintr: maybe(&mut rng, 0.2),
            short_io: maybe(&mut rng, 0.6),
            write_would_block: maybe(&mut rng, 0.3),
            spurious_readiness: maybe(&mut rng, 0.3),
            readiness_delay_ms_max: pick(&mut rng, &[0, 0, 2, 20, 200]),
            latency_ms_max: pick(&mut rng, &[0, 1, 5, 50]),
            tiny_sndbuf: maybe(&mut rng, 0.8),
            reset_as_error_event: rng.random_range(0.0..1.0),
            query_busy: maybe(&mut rng, 0.5),
            client_reset: maybe(&mut rng, 0.05),
        };
        let producer = ProducerPlan {
            interval_ms: (0..symbols).map(|_| rng.random_range(50..=2000)).collect(),
            burst: maybe(&mut rng, 0.2),
            stall: maybe(&mut rng, 0.1),
            large: maybe(&mut rng, 0.3),
            huge: 0.0,
            new_generation: maybe(&mut rng, 0.05),
            unsupported_symbol: maybe(&mut rng, 0.05),
            dies_at_ms: rng
                .random_bool(0.2)
                .then(|| rng.random_range(1000..=15_000)),
        };
        let clock = ClockPlan {
            fault_every_ms: pick(&mut rng, &[0, 500, 3000]),
            wall_drift_ppm: rng.random_range(-500..=500),
            mono_regression: rng.random_bool(0.2),
        };
        let fault_phase_ms = rng.random_range(4000..=30_000);
        // Swarm: each seed enables a subset of client kinds with its own weights.
        let weights: Vec<(Kind, u32)> = Kind::ALL
            .iter()
            .map(|&kind| {
                (
                    kind,
                    if rng.random_bool(0.6) {
                        rng.random_range(1..=10)
                    } else {
                        0
                    },
                )
            })
            .collect();
        let total: u32 = weights.iter().map(|(_, w)| w).sum();
        let count = rng.random_range(1..=CLIENTS_MAX);
        let clients = (0..count)
            .map(|_| {
                let kind = if total == 0 {
                    Kind::FastReader
                } else {
                    let mut ticket = rng.random_range(0..total);
                    let mut chosen = Kind::FastReader;
                    for &(kind, w) in &weights {
                        if ticket < w {
                            chosen = kind;
                            break;
                        }
                        ticket -= w;
                    }
                    chosen
                };
                ClientPlan {
                    kind,
                    start_ms: rng.random_range(0..fault_phase_ms / 2),
                }
            })
            .collect();
        let shutdown = match rng.random_range(0..3) {
            0 => ShutdownPlan::Never,
            1 => ShutdownPlan::AfterLiveness,
            _ => ShutdownPlan::UnderLoad {
                at_ms: rng.random_range(fault_phase_ms / 4..fault_phase_ms),
            },
        };
        let mut producer = producer;
        // Drawn last so that adding it left every other choice of existing seeds unchanged.
        producer.huge = if rng.random_bool(0.15) {
            rng.random_range(0.0..0.05)
        } else {
            0.0
        };
        Params {
            seed,
            config,
            faults,
            producer,
            clock,
            clients,
            fault_phase_ms,
            shutdown,
            sndbuf_bytes: pick(&mut rng, &[4096usize, 64 * 1024, 256 * 1024]),
            tiny_sndbuf_bytes: rng.random_range(1..=512),
            backlog_max: rng.random_range(1..=32),
            shape: Shape::draw(seed),
        }
    }

    pub fn symbols(&self) -> &[String] {
        &self.config.supported_symbols
    }
}
