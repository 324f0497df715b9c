//! State the bus threads and the loop share. Every lock is held for a few pointer moves only,
//! so the bus reader never waits on the loop's work.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::Sender;

use super::metrics::BusMetrics;
use super::wire::Received;
use super::BusSettings;
use crate::core::{BusReport, SnapshotReady, StampedSnapshot};

/// What the control thread knows about the lease.
#[derive(Debug, Clone, Default)]
pub struct LeaseView {
    /// This node holds the lease until then (judged from before the command was sent, so never
    /// later than Redis's own expiry).
    pub held_until: Option<Instant>,
    /// Counts this node's acquisitions: a new one means a new epoch.
    pub term: u64,
    /// Who holds it, as last read.
    pub holder: Option<String>,
    /// Redis was last answered then (`None`: never).
    pub reachable_at: Option<Instant>,
    /// The newest history entry of every supported symbol, read right after this node took the
    /// lease for `term` (final then: the previous holder is fenced off). The hub decides from it
    /// whether to continue an epoch (`lineage.rs`); `None` when it could not be read.
    pub tails: Option<(u64, BTreeMap<String, StampedSnapshot>)>,
}

/// What became of a snapshot the hub handed to `bus-control` for publishing.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Published (fenced, in the history) under this lease term: it may be shown now.
    Published(u64, StampedSnapshot),
    /// Not published (lease gone, position already taken, or shutting down): never shown.
    NotPublished(StampedSnapshot),
}

/// Subscriber → loop hand-off.
#[derive(Default)]
pub struct Inbox {
    /// Per symbol, in arrival order; bounded (the oldest is dropped and counted).
    pub snapshots: BTreeMap<String, VecDeque<Received>>,
    /// Symbols (re)subscribed since the loop last looked.
    pub resubscribed: Vec<String>,
    /// History answers: symbol and its entries in append order.
    pub history: VecDeque<(String, Vec<StampedSnapshot>)>,
    /// Publish outcomes, in the order the hub handed the snapshots over.
    pub outcomes: VecDeque<Outcome>,
}

/// Most computed snapshots of one symbol waiting for the hub (unit: snapshots). The producer
/// hands over up to `BAR_SNAPSHOTS_PER_UPDATE_MAX` (12) per update at once and the hub takes
/// them all on its next turn (at most `HUB_TICK_MAX_MS` later), so this is reached only when
/// the hub stalls for several updates; then clients see a seq-continuous stream that misses the
/// dropped bars' states (like the producer's own cut to the newest 12 after it fell behind).
pub const COMPUTED_PER_SYMBOL_MAX: usize = 64;

pub const SUB_CONNECTING: u64 = 0;
pub const SUB_UP: u64 = 1;
pub const SUB_DOWN: u64 = 2;

pub struct Shared {
    pub settings: BusSettings,
    /// Wakes the bus hub (capacity 1: one waiting tick is as good as many).
    pub tick: Sender<()>,
    /// `WS_COMPRESSION_MIN_BYTES` when compression is on: received snapshots get a deflated
    /// frame as the node's own would.
    pub deflate_min_bytes: Option<usize>,
    /// The producer's snapshots per symbol, in the order computed, not yet taken by the hub.
    /// Every one is stamped and published (one snapshot per bar, `docs/websocket_api.md`);
    /// at most [`COMPUTED_PER_SYMBOL_MAX`] wait per symbol, past it the oldest is dropped and
    /// counted (`bus_computed_dropped_total`).
    pub computed: Mutex<BTreeMap<String, VecDeque<SnapshotReady>>>,
    pub stop: AtomicBool,
    pub metrics: BusMetrics,
    pub inbox: Mutex<Inbox>,
    /// Symbols this node's clients want, with a version the subscriber compares.
    pub wanted: Mutex<Vec<String>>,
    pub wanted_version: AtomicU64,
    pub lease: Mutex<LeaseView>,
    pub sub_state: AtomicU64,
    /// Wall time the subscriber last received anything, Unix ms (0 = never).
    pub last_message_unix_ms: AtomicI64,
    /// Newest bus lag observed, ms (-1 = none yet).
    pub last_lag_ms: AtomicI64,
    /// Every symbol the node supports (a leader computes and publishes all of them).
    pub supported: Vec<String>,
    /// Bus threads that died and wait for their restart (`supervise.rs`); `/health` is degraded
    /// while it is not 0.
    pub threads_down: AtomicU64,
    /// Another running process holds this `NODE_ID`'s presence key (`presence.rs`).
    pub duplicate_node: AtomicBool,
    /// The hub's newest report, re-sent with `threads_down` while a thread (the hub itself
    /// included) is being restarted.
    pub last_report: Mutex<Option<BusReport>>,
}

impl Shared {
    pub fn new(settings: BusSettings, tick: Sender<()>, deflate_min_bytes: Option<usize>, supported: Vec<String>) -> Shared {
        Shared {
            settings,
            tick,
            deflate_min_bytes,
            computed: Mutex::new(BTreeMap::new()),
            stop: AtomicBool::new(false),
            metrics: BusMetrics::default(),
            inbox: Mutex::new(Inbox::default()),
            wanted: Mutex::new(Vec::new()),
            wanted_version: AtomicU64::new(0),
            lease: Mutex::new(LeaseView::default()),
            sub_state: AtomicU64::new(SUB_CONNECTING),
            last_message_unix_ms: AtomicI64::new(0),
            last_lag_ms: AtomicI64::new(-1),
            supported,
            threads_down: AtomicU64::new(0),
            duplicate_node: AtomicBool::new(false),
            last_report: Mutex::new(None),
        }
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    pub fn inbox(&self) -> MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn lease(&self) -> MutexGuard<'_, LeaseView> {
        self.lease.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn wanted(&self) -> (u64, Vec<String>) {
        let wanted = self.wanted.lock().unwrap_or_else(|e| e.into_inner());
        (self.wanted_version.load(Ordering::Acquire), wanted.clone())
    }

    pub fn set_wanted(&self, symbols: Vec<String>) {
        let mut wanted = self.wanted.lock().unwrap_or_else(|e| e.into_inner());
        *wanted = symbols;
        self.wanted_version.fetch_add(1, Ordering::AcqRel);
    }

    /// Wakes the hub without waiting (a tick already waiting is enough).
    pub fn wake(&self) {
        let _ = self.tick.try_send(());
    }

    /// The producer computed `snapshot` (called from the fan-out, never blocks for long). It
    /// waits behind the symbol's earlier ones; past [`COMPUTED_PER_SYMBOL_MAX`] the oldest is
    /// dropped, counted and logged.
    pub fn computed(&self, snapshot: SnapshotReady) {
        let dropped = {
            let mut computed = self.computed.lock().unwrap_or_else(|e| e.into_inner());
            let queue = computed.entry(snapshot.symbol.clone()).or_default();
            queue.push_back(snapshot);
            (queue.len() > COMPUTED_PER_SYMBOL_MAX).then(|| queue.pop_front()).flatten()
        };
        if let Some(old) = dropped {
            self.metrics.computed_dropped.inc();
            log::warn!(
                "event=bus_computed_dropped symbol={} timestamp={} reason=\"more than {COMPUTED_PER_SYMBOL_MAX} waiting for the hub\"",
                old.symbol,
                old.timestamp
            );
        }
        self.wake();
    }

    /// Takes the computed snapshots waiting for the hub: per symbol, in the order computed.
    pub fn take_computed(&self) -> BTreeMap<String, VecDeque<SnapshotReady>> {
        std::mem::take(&mut *self.computed.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

pub fn wall_unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Sleeps `total` in short steps, returning early when the bus stops.
pub fn sleep_unless_stopped(shared: &Shared, total: std::time::Duration) {
    let deadline = Instant::now() + total;
    while !shared.stopping() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(std::time::Duration::from_millis(50)));
    }
}

/// Opens a connection with the bus's timeouts.
pub fn connect(settings: &BusSettings) -> redis::RedisResult<redis::Connection> {
    let timeout = std::time::Duration::from_millis(settings.command_timeout_ms);
    let client = redis::Client::open(settings.url.as_str())?;
    let con = client.get_connection_with_timeout(timeout)?;
    con.set_read_timeout(Some(timeout))?;
    con.set_write_timeout(Some(timeout))?;
    Ok(con)
}
