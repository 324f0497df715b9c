//! The process-wide connection ledger: how many connections every event loop holds, so that
//! `HTTP_MAX_CONNECTIONS` and `WS_MAX_CONNECTIONS` bound the process, not each loop.
//!
//! Each loop's [`super::Core`] holds an `Arc` of the same ledger and changes it only for its own
//! connections: one increment when it adopts a connection or upgrades one to WebSocket, one
//! decrement when it forgets one. The WebSocket slot is taken with a compare-and-swap, so two
//! loops upgrading at once can never pass the bound together. The acceptor (src/shell) reads the
//! HTTP figure to pause accepting when the process is full, and the per-loop figures to hand each
//! new connection to the least loaded loop.
//!
//! The other process-wide bounds and figures live here too, each taken and given back by the
//! loop that owns the connection:
//! - `QUERIES_IN_FLIGHT_MAX`: REST queries handed to the query worker and not yet answered (an
//!   atomic, taken by compare-and-swap like the WebSocket slot);
//! - `HTTP_MAX_PENDING_BYTES`: the distinct REST answer bodies queued and not yet sent (an answer
//!   body is shared by the answer cache and every loop it is queued on, so it counts once for the
//!   process); a `Mutex` taken once per answer queued or sent, never per WebSocket message;
//! - `WS_MAX_CONNECTIONS_PER_ADDRESS` / `HTTP_MAX_CONNECTIONS_PER_ADDRESS`: the connections per
//!   client address, a `Mutex` around one map operation per accept, upgrade and close;
//! - the `/metrics` counters and histograms ([`SharedCounters`]), one slot per loop.
//!
//! No clock, no I/O, no thread: the core stays sans-IO. A core built with [`super::Core::new`]
//! gets a ledger of its own (one loop), which behaves exactly as the per-core counts did.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use super::addresses::{AddressLedger, ConnKind, Held};
use super::answers::AnswerLedger;
use super::metrics::SharedCounters;

/// One loop's figures for `/ws/stats` and the `/metrics` gauges, as that loop last published
/// them (every [`FIGURES_REFRESH_MS`] of its turns, and whenever it answers a stats request).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoopFigures {
    /// Subscribers per supported symbol, in configuration order.
    pub subscriptions: Vec<usize>,
    pub queued_bytes: usize,
    pub messages_sent_1m: u64,
    pub slow_consumers: u64,
    pub dropped_snapshots: u64,
    pub connections_total: u64,
    pub rejected_full: u64,
}

impl LoopFigures {
    /// Adds `other` into `self` (subscriptions symbol by symbol).
    fn add(&mut self, other: &LoopFigures) {
        if self.subscriptions.len() < other.subscriptions.len() {
            self.subscriptions.resize(other.subscriptions.len(), 0);
        }
        for (sum, n) in self.subscriptions.iter_mut().zip(&other.subscriptions) {
            *sum += n;
        }
        self.queued_bytes += other.queued_bytes;
        self.messages_sent_1m += other.messages_sent_1m;
        self.slow_consumers += other.slow_consumers;
        self.dropped_snapshots += other.dropped_snapshots;
        self.connections_total += other.connections_total;
        self.rejected_full += other.rejected_full;
    }
}

/// A loop republishes its [`LoopFigures`] at most this often (monotonic milliseconds), so the
/// process-wide figures another loop reports are at most this stale.
pub const FIGURES_REFRESH_MS: u64 = 100;

/// Connection counts shared by the loops of one process.
#[derive(Debug)]
pub struct ConnectionLedger {
    /// Open connections that are not (yet) WebSocket, all loops.
    http: AtomicUsize,
    /// Open WebSocket connections, all loops.
    ws: AtomicUsize,
    /// Open connections of any kind, per loop.
    per_loop: Vec<AtomicUsize>,
    /// The acceptor stopped accepting because the process was full; a loop that frees a slot
    /// wakes it (see [`ConnectionLedger::take_acceptor_paused`]).
    acceptor_paused: AtomicBool,
    /// Per loop: its published figures. Written by that loop only, read when any loop answers
    /// `/ws/stats` or `/metrics`; never touched on the send path.
    figures: Vec<Mutex<LoopFigures>>,
    /// REST queries in flight, all loops.
    queries: AtomicUsize,
    /// Distinct REST answer bodies queued and not yet sent, all loops.
    answers: Mutex<AnswerLedger>,
    /// Connections per client address, all loops.
    addresses: Mutex<AddressLedger>,
    /// The `/metrics` counters, made by the first core that joins (it knows the symbols).
    counters: OnceLock<SharedCounters>,
}

/// Why [`ConnectionLedger::try_hold_answer`] refused: the process's pending answer bytes then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswersFull {
    pub pending_bytes: usize,
}

/// Locks `mutex`, going on with the data if a thread panicked while holding it (each critical
/// section here is one map operation that leaves the map consistent).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl ConnectionLedger {
    /// A ledger for `loops` event loops (at least one).
    pub fn new(loops: usize) -> ConnectionLedger {
        ConnectionLedger {
            http: AtomicUsize::new(0),
            ws: AtomicUsize::new(0),
            per_loop: (0..loops.max(1)).map(|_| AtomicUsize::new(0)).collect(),
            acceptor_paused: AtomicBool::new(false),
            figures: (0..loops.max(1)).map(|_| Mutex::new(LoopFigures::default())).collect(),
            queries: AtomicUsize::new(0),
            answers: Mutex::new(AnswerLedger::default()),
            addresses: Mutex::new(AddressLedger::default()),
            counters: OnceLock::new(),
        }
    }

    /// The process's `/metrics` counters, made for `symbols` by the first caller (every loop of
    /// a process serves the same symbols).
    pub(super) fn counters(&self, symbols: &[String]) -> &SharedCounters {
        let counters = self.counters.get_or_init(|| SharedCounters::new(symbols, self.loops()));
        debug_assert_eq!(counters.symbols(), symbols, "every loop of a process serves the same symbols");
        counters
    }

    /// Counts a REST query handed to the worker if fewer than `max` are in flight in the
    /// process; false when full.
    pub(super) fn try_start_query(&self, max: usize) -> bool {
        self.queries.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1)).is_ok()
    }

    /// A query counted by [`ConnectionLedger::try_start_query`] was answered or abandoned.
    pub(super) fn end_query(&self) {
        self.queries.fetch_sub(1, Ordering::AcqRel);
    }

    /// REST queries in flight in the process.
    pub fn queries_in_flight(&self) -> usize {
        self.queries.load(Ordering::Acquire)
    }

    /// Bytes of distinct REST answers queued and not yet sent, all loops.
    pub fn pending_answer_bytes(&self) -> usize {
        lock(&self.answers).pending_bytes()
    }

    /// Holds `body` once more (queued on one more connection), but only if that keeps the
    /// process's distinct pending answer bytes within `max` — or if nothing is pending, so one
    /// answer larger than the bound still goes out alone. Check and hold are one step, so two
    /// loops cannot both pass the bound.
    pub(super) fn try_hold_answer(&self, body: &Arc<[u8]>, max: usize) -> Result<(), AnswersFull> {
        let mut answers = lock(&self.answers);
        let (cost, pending_bytes) = (answers.cost_of(body), answers.pending_bytes());
        if cost > 0 && pending_bytes > 0 && pending_bytes + cost > max {
            return Err(AnswersFull { pending_bytes });
        }
        answers.hold(body);
        Ok(())
    }

    /// `body` was queued on one more connection (already admitted).
    pub(super) fn hold_answer(&self, body: &Arc<[u8]>) {
        lock(&self.answers).hold(body);
    }

    /// A queued chunk holding `body` was sent completely or dropped.
    pub(super) fn release_answer(&self, body: &Arc<[u8]>) {
        lock(&self.answers).release(body);
    }

    /// Counts one more connection of `kind` for client address `key` (see
    /// `addresses::ledger_key`) if the process holds fewer than `max` of them; `None` when full.
    pub(super) fn try_hold_address(&self, kind: ConnKind, key: IpAddr, max: usize) -> Option<Held> {
        lock(&self.addresses).try_acquire(kind, key, max)
    }

    /// Gives back what [`ConnectionLedger::try_hold_address`] counted.
    pub(super) fn release_address(&self, held: Held) {
        lock(&self.addresses).release(held);
    }

    /// Distinct client addresses holding counted connections in the process.
    pub fn connection_addresses(&self) -> usize {
        lock(&self.addresses).addresses()
    }

    /// Number of loops the ledger counts for.
    pub fn loops(&self) -> usize {
        self.per_loop.len()
    }

    /// Open non-WebSocket connections of the process.
    pub fn http_open(&self) -> usize {
        self.http.load(Ordering::Acquire)
    }

    /// Open WebSocket connections of the process.
    pub fn ws_open(&self) -> usize {
        self.ws.load(Ordering::Acquire)
    }

    /// Open connections of loop `index` (0 for an index out of range).
    pub fn loop_open(&self, index: usize) -> usize {
        self.per_loop.get(index).map_or(0, |c| c.load(Ordering::Acquire))
    }

    /// Open connections per loop, in loop order.
    pub fn per_loop_open(&self) -> Vec<usize> {
        self.per_loop.iter().map(|c| c.load(Ordering::Acquire)).collect()
    }

    /// Counts a new connection on loop `index` if the process holds fewer than `http_max`
    /// non-WebSocket connections; false when full.
    pub(super) fn try_open_http(&self, index: usize, http_max: usize) -> bool {
        let taken = self
            .http
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < http_max).then_some(n + 1))
            .is_ok();
        if taken {
            self.per_loop[index].fetch_add(1, Ordering::AcqRel);
        }
        taken
    }

    /// Moves one connection from HTTP to WebSocket if the process holds fewer than `ws_max`
    /// WebSocket connections (`ignore_max`: the simulator's mutation that forgets the bound).
    pub(super) fn try_upgrade(&self, ws_max: usize, ignore_max: bool) -> bool {
        let taken = self
            .ws
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < ws_max || ignore_max).then_some(n + 1))
            .is_ok();
        if taken {
            self.http.fetch_sub(1, Ordering::AcqRel);
        }
        taken
    }

    /// Gives back a WebSocket slot taken by [`ConnectionLedger::try_upgrade`] for an upgrade
    /// that did not happen.
    pub(super) fn undo_upgrade(&self) {
        self.ws.fetch_sub(1, Ordering::AcqRel);
        self.http.fetch_add(1, Ordering::AcqRel);
    }

    /// Forgets a connection of loop `index`.
    pub(super) fn close(&self, index: usize, websocket: bool) {
        if websocket {
            self.ws.fetch_sub(1, Ordering::AcqRel);
        } else {
            self.http.fetch_sub(1, Ordering::AcqRel);
        }
        self.per_loop[index].fetch_sub(1, Ordering::AcqRel);
    }

    /// Loop `index` publishes its figures.
    pub(super) fn publish(&self, index: usize, figures: LoopFigures) {
        *lock(&self.figures[index]) = figures;
    }

    /// The sum of every loop's published figures.
    pub fn process_figures(&self) -> LoopFigures {
        let mut sum = LoopFigures::default();
        for slot in &self.figures {
            sum.add(&lock(slot));
        }
        sum
    }

    /// The acceptor paused because the process was full.
    pub fn set_acceptor_paused(&self) {
        self.acceptor_paused.store(true, Ordering::Release);
    }

    /// True (once) if the acceptor paused and the process has room under `http_max` again: the
    /// caller then wakes the acceptor.
    pub fn take_acceptor_paused(&self, http_max: usize) -> bool {
        self.http_open() < http_max && self.acceptor_paused.swap(false, Ordering::AcqRel)
    }

    /// The acceptor's check before each accept: true when the process holds `http_max`
    /// non-WebSocket connections, counting `handed_over` sockets given to loops and not adopted
    /// yet. Then accepting pauses (the rest wait in the kernel backlog) and the paused flag is set,
    /// so the loop that frees a slot wakes the acceptor ([`ConnectionLedger::take_acceptor_paused`]);
    /// the figure is read again after setting the flag, so a slot freed in between is not missed.
    pub fn acceptor_must_pause(&self, handed_over: usize, http_max: usize) -> bool {
        if self.http_open() + handed_over < http_max {
            return false;
        }
        self.set_acceptor_paused();
        self.http_open() + handed_over >= http_max
    }

    /// Loop indices in the order the acceptor offers a new connection to them: the loop with the
    /// fewest connections (open, plus `handed_over[i]` given to loop `i` and not adopted yet)
    /// first (see [`order_by_load`]). The mio acceptor (`src/shell/acceptor.rs`) and the
    /// simulator's acceptor both use it.
    pub fn hand_over_order(&self, handed_over: &[usize]) -> Vec<usize> {
        let load: Vec<usize> = (0..self.loops()).map(|i| self.loop_open(i) + handed_over.get(i).copied().unwrap_or(0)).collect();
        order_by_load(&load)
    }
}

/// Loop indices from the least to the most loaded (ties: the lower index first).
pub fn order_by_load(load: &[usize]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..load.len()).collect();
    order.sort_by_key(|&i| (load[i], i));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bounds_hold_for_the_sum_of_all_loops() {
        let ledger = ConnectionLedger::new(2);
        assert!(ledger.try_open_http(0, 3));
        assert!(ledger.try_open_http(1, 3));
        assert!(ledger.try_open_http(1, 3));
        assert!(!ledger.try_open_http(0, 3), "the fourth connection of the process is over the bound");
        assert_eq!(ledger.per_loop_open(), vec![1, 2]);
        assert!(ledger.try_upgrade(1, false));
        assert!(!ledger.try_upgrade(1, false), "one WebSocket for the whole process");
        assert_eq!((ledger.http_open(), ledger.ws_open()), (2, 1));
        ledger.close(0, true);
        assert_eq!((ledger.http_open(), ledger.ws_open(), ledger.loop_open(0)), (2, 0, 0));
    }

    #[test]
    fn a_connection_goes_to_the_loop_with_the_fewest_connections() {
        assert_eq!(order_by_load(&[3, 1, 2]), vec![1, 2, 0]);
        assert_eq!(order_by_load(&[2, 2, 1]), vec![2, 0, 1], "ties go to the lower index");
        assert_eq!(order_by_load(&[0]), vec![0]);
        let ledger = ConnectionLedger::new(3);
        assert!(ledger.try_open_http(0, 9));
        assert_eq!(ledger.hand_over_order(&[0, 1, 0]), vec![2, 0, 1], "handed-over sockets count as load");
    }

    #[test]
    fn the_acceptor_pauses_when_handed_over_sockets_fill_the_process() {
        let ledger = ConnectionLedger::new(2);
        assert!(ledger.try_open_http(0, 3));
        assert!(!ledger.acceptor_must_pause(1, 3));
        assert!(ledger.acceptor_must_pause(2, 3), "one open and two handed over fill a bound of three");
        ledger.close(0, false);
        assert!(ledger.take_acceptor_paused(3), "pausing set the flag a freed slot answers");
    }

    #[test]
    fn queries_answers_and_addresses_are_bounded_for_the_process() {
        let ledger = ConnectionLedger::new(2);
        assert!(ledger.try_start_query(2));
        assert!(ledger.try_start_query(2));
        assert!(!ledger.try_start_query(2), "two queries in flight, whichever loops asked");
        ledger.end_query();
        assert!(ledger.try_start_query(2));

        let (a, b): (Arc<[u8]>, Arc<[u8]>) = (Arc::from(vec![0u8; 60]), Arc::from(vec![0u8; 60]));
        assert_eq!(ledger.try_hold_answer(&a, 100), Ok(()));
        assert_eq!(ledger.try_hold_answer(&a, 100), Ok(()), "the same body costs nothing more");
        assert_eq!(ledger.try_hold_answer(&b, 100), Err(AnswersFull { pending_bytes: 60 }));
        ledger.release_answer(&a);
        ledger.release_answer(&a);
        assert_eq!(ledger.try_hold_answer(&b, 100), Ok(()));
        assert_eq!(ledger.pending_answer_bytes(), 60);

        let key: IpAddr = "192.0.2.1".parse().unwrap();
        let held = ledger.try_hold_address(ConnKind::WebSocket, key, 1).unwrap();
        assert_eq!(ledger.try_hold_address(ConnKind::WebSocket, key, 1), None);
        assert_eq!(ledger.connection_addresses(), 1);
        ledger.release_address(held);
        assert_eq!(ledger.connection_addresses(), 0);
    }

    #[test]
    fn a_paused_acceptor_is_woken_once_when_there_is_room() {
        let ledger = ConnectionLedger::new(1);
        assert!(ledger.try_open_http(0, 1));
        ledger.set_acceptor_paused();
        assert!(!ledger.take_acceptor_paused(1), "still full");
        ledger.close(0, false);
        assert!(ledger.take_acceptor_paused(1));
        assert!(!ledger.take_acceptor_paused(1), "only once");
    }
}
