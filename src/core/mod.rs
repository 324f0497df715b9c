//! The server core: a sans-IO state machine.
//!
//! It owns the clients (in a `slab`), their subscriptions and their bounded outbound queues. The
//! caller hands it inputs with the current time — a connection accepted, a stream readable or
//! writable, a snapshot from the producer, a REST answer, a timer, shutdown — and drains outputs:
//! which connections have bytes to write ([`Core::poll_transmit`]), which sockets to release,
//! which REST queries to run, which symbols the producer should compute, and when to call back
//! ([`Core::poll_timeout`]).
//!
//! It never reads a clock, never touches mio, never spawns a thread and never opens a file or
//! socket: streams are lent to it as `Read + Write` for the duration of one call. The mio loop in
//! `shell` and the simulator in `sim/` drive this same code. `tests/core_is_sans_io.rs` and the
//! `#![deny]` below keep it that way.

#![deny(clippy::disallowed_methods, clippy::disallowed_types)]

mod addresses;
mod answers;
mod broadcast;
mod bus_status;
mod client;
pub mod deflate;
mod feed;
pub mod frame;
mod handshake;
mod header_fields;
pub mod http;
pub mod http_encoding;
mod http_conn;
mod inflate;
mod io;
mod ledger;
mod lifecycle;
mod limits;
mod live_feed;
mod metrics;
mod mutations;
pub mod protocol;
pub mod queue;
mod rate;
mod sequencer;
mod routes;
mod shards;
pub mod static_files;
mod stats;
mod symbols;
pub mod time;
mod ws_conn;

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use slab::Slab;

pub use addresses::{client_address, AddressRange, TrustedProxies, TRUSTED_PROXIES_MAX};
pub use broadcast::SnapshotReady;
pub use bus_status::BusReport;
pub use client::{ClientView, PhaseView};
pub use feed::{DemoReplay, Feed};
pub use ledger::{order_by_load, ConnectionLedger, LoopFigures, FIGURES_REFRESH_MS};
pub use limits::{CoreConfig, CONTROL_MESSAGES_MAX, ECHO_MESSAGE_BYTES_LIMIT, SYMBOLS_MAX};
pub use live_feed::{FeedReport, EVENTS_QUEUED_MAX};
pub use metrics::{IngestTotals, ProcessStats};
pub use routes::INDEX_FILE;
pub use mutations::{MutationPolicy, NoMutations};
pub use sequencer::{Sequencer, StampedSnapshot};
pub use static_files::StaticFiles;
pub use stats::DisconnectReason;
pub use symbols::ProducerStatus;
pub use time::{MonoTime, Now};

use addresses::ConnKind;
use client::Client;
use metrics::Metrics;
use stats::Stats;
use symbols::SymbolState;

/// Identifies a connection for as long as the core holds it. The shell indexes its sockets by it.
pub type ConnId = usize;

/// A REST request the core cannot answer itself (it needs the database).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRequest {
    pub conn: ConnId,
    /// Matches the answer to the request even if the connection slot was reused meanwhile.
    pub token: u64,
    pub path: String,
    pub query: String,
    /// HEAD requests get the head of the answer only.
    pub head_only: bool,
}

/// The answer to a [`QueryRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryResponse {
    pub status: u16,
    pub content_type: &'static str,
    /// Shared with the answer cache: queueing it for a client copies a pointer, not the bytes.
    pub body: Arc<[u8]>,
    /// The body's gzip representation and ETag, built once on the query worker (and cached with
    /// the answer); `None`: sent plain, without a validator.
    pub encoded: Option<http_encoding::Encoded>,
}

impl QueryResponse {
    /// An answer sent as it is (errors, metrics).
    pub fn plain(status: u16, content_type: &'static str, body: Arc<[u8]>) -> QueryResponse {
        QueryResponse { status, content_type, body, encoded: None }
    }

    /// A JSON answer with its gzip representation and ETag: compression happens here, so call
    /// this on the worker thread, once per answer (the answer cache keeps the result).
    pub fn encoded_json(body: Arc<[u8]>) -> QueryResponse {
        let encoded = http_encoding::Encoded::new(Arc::clone(&body), true);
        QueryResponse { status: 200, content_type: "application/json", body, encoded: Some(encoded) }
    }
}

/// Something the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Release this connection's socket; the core has forgotten it.
    Release(ConnId),
    /// Run this REST query off the loop thread; hand the answer to [`Core::handle_query_response`].
    Query(QueryRequest),
    /// The symbols that have at least one subscriber changed; tell the producer.
    Demand(Vec<String>),
}

/// Why an accepted connection was refused at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptError {
    /// As many connections as the limits allow are open.
    Full,
    /// The server is shutting down.
    ShuttingDown,
    /// This peer address holds `http_connections_per_address_max` connections already.
    AddressFull,
}

/// The server core. See the module documentation. `M` is the deliberate-bug policy: production's
/// [`NoMutations`] (the default) or the simulator's switches (see [`MutationPolicy`]).
pub struct Core<M: MutationPolicy = NoMutations> {
    config: CoreConfig,
    /// Distinguishes this process's streams from any earlier one's.
    /// Stamps snapshots handed over unstamped ([`Core::handle_snapshot`]).
    sequencer: Sequencer,
    clients: Slab<Client>,
    symbols: Vec<SymbolState>,
    /// Deadlines, one per client at most, ordered by time then connection. An entry may be
    /// sooner than its client's real deadline (see [`Core::reschedule`]), never later.
    timers: BTreeSet<(MonoTime, ConnId)>,
    /// Connections with queued bytes the caller should try to write.
    transmit: VecDeque<ConnId>,
    /// Connections whose read turn ended on the budget, not on `WouldBlock`: with edge-triggered
    /// readiness no new event will come, so the caller must read them again.
    read_again: VecDeque<ConnId>,
    outputs: VecDeque<Output>,
    /// The newest time seen; time handed in is never allowed to run backwards past it.
    now: Now,
    /// This loop's open WebSocket and other connections.
    ws_connections: usize,
    http_connections: usize,
    /// The process's counts, shared with the other loops (the bounds apply to them).
    ledger: Arc<ConnectionLedger>,
    /// This core's loop, as the ledger numbers it.
    loop_index: usize,
    /// When this core last published its figures to the ledger.
    figures_published_at: Option<MonoTime>,
    next_query_token: u64,
    /// Symbols with subscribers as last told to the producer.
    demand_sent: Vec<String>,
    /// True while a symbol's subscriber set is taken out for a fan-out.
    demand_frozen: bool,
    shutdown_deadline: Option<MonoTime>,
    stats: Stats,
    metrics: Metrics,
    static_files: StaticFiles,
    /// Times the caller handed in a monotonic time earlier than one it handed before.
    pub clock_regressions: u64,
    /// The live feed's newest report (`None` without a live feed).
    feed: Option<FeedReport>,
    /// The Redis bus's newest report (`REDIS_ENABLED=true`), shown in `/health` and `/ws/stats`.
    bus: Option<BusReport>,
    /// Deliberate bugs the simulator switches on to prove it catches them; none in production.
    mutations: M,
}

impl Core {
    /// A core with these limits, serving these files. `boot_id` goes into every stream epoch so
    /// that a client can tell a restarted server from a gap.
    pub fn new(config: CoreConfig, static_files: StaticFiles, boot_id: String, now: Now) -> Core {
        Core::with_mutations(config, static_files, boot_id, now, NoMutations)
    }
}

impl<M: MutationPolicy> Core<M> {
    /// [`Core::new`] with deliberate bugs: only the simulator's proof tests run a core with a
    /// policy other than [`NoMutations`].
    pub fn with_mutations(config: CoreConfig, static_files: StaticFiles, boot_id: String, now: Now, mutations: M) -> Core<M> {
        let symbols = config.supported_symbols.iter().cloned().map(SymbolState::new).collect();
        let ledger = Arc::new(ConnectionLedger::new(1));
        let metrics = Metrics::new(ledger.counters(&config.supported_symbols), 0);
        let stats = Stats { started_at: now.mono, ..Stats::default() };
        let mut sequencer = Sequencer::new(boot_id).with_deflate(config.ws_compression.then_some(config.ws_compression_min_bytes));
        sequencer.set_repeat_seq(mutations.repeat_snapshot_seq());
        Core {
            config,
            sequencer,
            clients: Slab::new(),
            symbols,
            timers: BTreeSet::new(),
            transmit: VecDeque::new(),
            read_again: VecDeque::new(),
            outputs: VecDeque::new(),
            now,
            ws_connections: 0,
            http_connections: 0,
            ledger,
            loop_index: 0,
            figures_published_at: None,
            next_query_token: 1,
            demand_sent: Vec::new(),
            demand_frozen: false,
            shutdown_deadline: None,
            stats,
            metrics,
            static_files,
            clock_regressions: 0,
            feed: None,
            bus: None,
            mutations,
        }
    }

    /// Makes this core loop `loop_index` of a process whose loops share `ledger`, so the
    /// connection, query and pending-answer bounds apply to the process and `/metrics` counts
    /// for it. Call before the first connection (and before adding to [`Core::metrics_registry`]:
    /// the registry is made anew here).
    pub fn share_ledger(&mut self, ledger: Arc<ConnectionLedger>, loop_index: usize) {
        assert!(self.clients.is_empty(), "the ledger is shared before the first connection");
        assert!(loop_index < ledger.loops(), "loop {loop_index} of a ledger for {}", ledger.loops());
        self.metrics = Metrics::new(ledger.counters(&self.config.supported_symbols), loop_index);
        self.ledger = ledger;
        self.loop_index = loop_index;
    }

    /// The ledger this core counts its connections in.
    pub fn ledger(&self) -> &Arc<ConnectionLedger> {
        &self.ledger
    }

    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// Adopts `now`, refusing to let monotonic time run backwards inside the core.
    fn advance_clock(&mut self, now: Now) -> Now {
        if now.mono < self.now.mono {
            self.clock_regressions += 1;
            self.now.wall_unix_ms = now.wall_unix_ms;
        } else {
            self.now = now;
        }
        self.now
    }

    /// A connection was accepted. On `Ok` the caller keeps the socket under the returned id; on
    /// `Err` it closes the socket at once.
    pub fn handle_accept(&mut self, now: Now, peer: SocketAddr) -> Result<ConnId, AcceptError> {
        let now = self.advance_clock(now);
        if self.shutdown_deadline.is_some() {
            return Err(AcceptError::ShuttingDown);
        }
        // The process-wide bound (with several loops, the others' connections count too).
        if !self.ledger.try_open_http(self.loop_index, self.config.http_connections_max) {
            self.stats.rejected_full_total += 1;
            return Err(AcceptError::Full);
        }
        // A trusted proxy carries many clients; it bounds them itself (nginx `limit_conn`).
        let held = if self.config.trusted_proxies.contains(peer.ip()) {
            None
        } else {
            let key = addresses::ledger_key(peer.ip());
            match self.ledger.try_hold_address(ConnKind::Http, key, self.config.http_connections_per_address_max) {
                Some(held) => Some(held),
                None => {
                    // The process slot taken above goes back: this connection is not kept.
                    self.ledger.close(self.loop_index, false);
                    self.metrics.refused_per_address(ConnKind::Http);
                    log::info!("event=refused reason=address_full kind=http peer={peer} bound={}", self.config.http_connections_per_address_max);
                    return Err(AcceptError::AddressFull);
                }
            }
        };
        let mut client = Client::new_http(peer, now.mono);
        client.held = held;
        let id = self.clients.insert(client);
        self.http_connections += 1;
        self.reschedule(id);
        Ok(id)
    }

    /// The stream of `id` may have bytes to read: read until it would block (or the turn's budget
    /// is spent), act on what arrived, and write what that produced.
    pub fn handle_readable<S: std::io::Read + std::io::Write>(
        &mut self,
        now: Now,
        id: ConnId,
        stream: &mut S,
    ) {
        let now = self.advance_clock(now);
        if !self.clients.contains(id) {
            return;
        }
        if self.clients[id].is_websocket() {
            self.read_websocket(now, id, stream);
        } else {
            self.read_http(now, id, stream);
        }
        if self.clients.contains(id) {
            self.write_queued(now, id, stream);
        }
    }

    /// The stream of `id` may accept bytes: write queued bytes until it would block.
    pub fn handle_writable<S: std::io::Write>(&mut self, now: Now, id: ConnId, stream: &mut S) {
        let now = self.advance_clock(now);
        if self.clients.contains(id) {
            self.write_queued(now, id, stream);
        }
    }

    /// The stream of `id` failed outside a read or write (e.g. an error event from the poller).
    pub fn handle_stream_error(&mut self, now: Now, id: ConnId) {
        let now = self.advance_clock(now);
        if self.clients.contains(id) {
            self.remove(now, id, DisconnectReason::PeerGone);
        }
    }

    /// Time passed: act on every deadline that is due.
    pub fn handle_timeout(&mut self, now: Now) {
        let before = self.now;
        let now = self.advance_clock(now);
        let now = self.mutated_deadline_clock(before, now);
        while let Some(&(at, id)) = self.timers.first() {
            if at > now.mono {
                break;
            }
            self.timers.remove(&(at, id));
            if let Some(client) = self.clients.get_mut(id) {
                client.deadline = None;
                self.on_deadline(now, id);
            }
        }
        self.check_shutdown_deadline(now);
        if self.figures_published_at.is_none_or(|at| now.mono.since(at).as_millis() as u64 >= ledger::FIGURES_REFRESH_MS) {
            self.publish_figures(now);
        }
    }

    /// This loop's figures, published to the ledger for the process-wide `/ws/stats` and
    /// `/metrics` answered by any loop.
    fn publish_figures(&mut self, now: Now) {
        self.figures_published_at = Some(now.mono);
        let figures = LoopFigures {
            subscriptions: self.symbols.iter().map(|s| s.subscribers.len()).collect(),
            queued_bytes: self.queued_bytes_total(),
            messages_sent_1m: self.stats.messages_sent_window.total(now.mono),
            slow_consumers: self.stats.slow_consumer_episodes_total,
            dropped_snapshots: self.symbols.iter().map(|s| s.dropped_total).sum(),
            connections_total: self.stats.ws_connections_total,
            rejected_full: self.stats.rejected_full_total,
        };
        self.ledger.publish(self.loop_index, figures);
    }

    /// The earliest time the core wants [`Core::handle_timeout`] called.
    pub fn poll_timeout(&self) -> Option<MonoTime> {
        let client = self.timers.first().map(|&(at, _)| at);
        match (client, self.shutdown_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Next connection with bytes to write; call [`Core::handle_writable`] with its stream.
    pub fn poll_transmit(&mut self) -> Option<ConnId> {
        while let Some(id) = self.transmit.pop_front() {
            if let Some(client) = self.clients.get_mut(id) {
                client.transmit_pending = false;
                if !client.out.is_empty() {
                    return Some(id);
                }
            }
        }
        None
    }

    /// Next connection that must be read again although no new readiness event will come.
    pub fn poll_read_again(&mut self) -> Option<ConnId> {
        while let Some(id) = self.read_again.pop_front() {
            if let Some(client) = self.clients.get_mut(id) {
                if client.read_again_pending {
                    client.read_again_pending = false;
                    return Some(id);
                }
            }
        }
        None
    }

    /// True when some connection must be read again without a new readiness event.
    pub fn has_read_again(&self) -> bool {
        !self.read_again.is_empty()
    }

    /// Next thing the caller must do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Number of open WebSocket connections.
    pub fn ws_connections(&self) -> usize {
        self.ws_connections
    }

    /// Number of open connections of any kind.
    pub fn connections(&self) -> usize {
        self.clients.len()
    }

    /// True once shutdown has begun and every connection is gone.
    pub fn is_finished(&self) -> bool {
        self.shutdown_deadline.is_some() && self.clients.is_empty()
    }

    /// Read-only views of every client, in id order (tests, simulator invariants).
    pub fn client_views(&self) -> impl Iterator<Item = (ConnId, ClientView)> + '_ {
        self.clients.iter().map(|(id, c)| (id, c.view()))
    }

    /// One client's view, if it exists.
    pub fn client_view(&self, id: ConnId) -> Option<ClientView> {
        self.clients.get(id).map(|c| c.view())
    }

    /// Subscribers of a symbol, in id order.
    pub fn subscribers(&self, symbol: &str) -> Vec<ConnId> {
        self.config
            .symbol_index(symbol)
            .map(|i| self.symbols[i].subscribers.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Total bytes queued over all clients.
    pub fn queued_bytes_total(&self) -> usize {
        self.clients.iter().map(|(_, c)| c.out.bytes_queued()).sum()
    }

    /// Bytes of distinct REST answers queued and not completely sent in the process (each
    /// counted once however many connections, of whichever loops, it is queued on); bounded by
    /// `http_pending_bytes_max`.
    pub fn http_pending_bytes(&self) -> usize {
        self.ledger.pending_answer_bytes()
    }

    /// Slow-consumer episodes since start.
    pub fn slow_consumer_episodes(&self) -> u64 {
        self.stats.slow_consumer_episodes_total
    }

    /// The seq and epoch of the newest snapshot of `symbol`.
    pub fn latest_seq(&self, symbol: &str) -> Option<(u64, String)> {
        let index = self.config.symbol_index(symbol)?;
        self.symbols[index].latest.as_ref().map(|l| (l.seq, l.epoch.to_string()))
    }

    /// How many handles share the newest frame of `symbol`: one for the symbol itself plus one per
    /// queue holding it. Shows that fan-out shares the bytes instead of copying them.
    pub fn latest_frame_handles(&self, symbol: &str) -> Option<usize> {
        let index = self.config.symbol_index(symbol)?;
        self.symbols[index].latest.as_ref().map(|l| Arc::strong_count(&l.frame))
    }

    /// The Prometheus text exposition of the core's metrics plus the process figures the caller
    /// read (the core cannot read `/proc` itself).
    /// The `/metrics` registry, so the shell can add metrics kept by other threads (their handles
    /// are atomics; rendering reads them).
    pub fn metrics_registry(&mut self) -> &mut prometheus_client::registry::Registry {
        self.metrics.registry_mut()
    }

    pub fn render_metrics(&mut self, now: Now, process: ProcessStats) -> String {
        let now = self.advance_clock(now);
        self.publish_figures(now);
        let figures = self.ledger.process_figures();
        self.metrics.active_connections.set(self.ledger.ws_open() as i64);
        self.metrics.queue_bytes.set(figures.queued_bytes as i64);
        self.metrics.http_pending_bytes.set(self.ledger.pending_answer_bytes() as i64);
        self.metrics.connection_addresses.set(self.ledger.connection_addresses() as i64);
        for (i, (state, handles)) in self.symbols.iter().zip(&self.metrics.symbols).enumerate() {
            handles.subscriptions.set(figures.subscriptions.get(i).copied().unwrap_or(0) as i64);
            if let Some(latest) = &state.latest {
                let age_ms = now.wall_unix_ms.saturating_sub(latest.computed_at_unix_ms).max(0);
                handles.snapshot_age_seconds.set(age_ms as f64 / 1000.0);
            }
        }
        self.metrics.render(process)
    }

    /// Puts `id` on the transmit list once.
    fn want_transmit(&mut self, id: ConnId) {
        if let Some(client) = self.clients.get_mut(id) {
            if !client.transmit_pending && !client.out.is_empty() {
                client.transmit_pending = true;
                self.transmit.push_back(id);
            }
        }
    }

    fn want_read_again(&mut self, id: ConnId) {
        if self.mutations.forget_read_again() {
            return;
        }
        if let Some(client) = self.clients.get_mut(id) {
            if !client.read_again_pending {
                client.read_again_pending = true;
                self.read_again.push_back(id);
            }
        }
    }

    /// Recomputes the deadline of `id` and files it in the timer set.
    ///
    /// A filed deadline is only ever moved earlier. When the new one is later (a queued snapshot
    /// was written, so the stall deadline gives way to the idle one) or gone, the filed entry
    /// stays: it fires early, [`Core::on_deadline`] finds nothing due and files the real deadline.
    /// A broadcast would otherwise move every subscriber's entry twice (queued, then written):
    /// four tree operations per client per snapshot, for deadlines that are seconds away.
    fn reschedule(&mut self, id: ConnId) {
        let Some(client) = self.clients.get_mut(id) else { return };
        let next = client.next_deadline(&self.config);
        let keep_filed = match (client.deadline, next) {
            (Some(filed), Some(next)) => filed <= next,
            (Some(_), None) => true,
            (None, next) => next.is_none(),
        };
        if keep_filed {
            return;
        }
        if let Some(old) = client.deadline.take() {
            self.timers.remove(&(old, id));
        }
        if let Some(at) = next {
            self.timers.insert((at, id));
        }
        client.deadline = next;
    }

    /// Tells the producer when the set of symbols with subscribers changed.
    fn update_demand(&mut self) {
        if self.demand_frozen {
            return;
        }
        let demand: Vec<String> = self
            .symbols
            .iter()
            .filter(|s| !s.subscribers.is_empty())
            .map(|s| s.name.clone())
            .collect();
        if demand != self.demand_sent {
            self.demand_sent = demand.clone();
            self.outputs.push_back(Output::Demand(demand));
        }
    }

    /// The time deadlines are judged by: `now` itself, unless a mutation lets a forward
    /// wall-clock jump since `before` leak into it.
    fn mutated_deadline_clock(&self, before: Now, mut now: Now) -> Now {
        if self.mutations.wall_clock_drives_timeouts() {
            let wall_ms = now.wall_unix_ms.saturating_sub(before.wall_unix_ms);
            let mono_ms = now.mono.as_millis().saturating_sub(before.mono.as_millis()) as i64;
            if wall_ms > mono_ms {
                now.mono = now.mono.plus_ms((wall_ms - mono_ms) as u64);
            }
        }
        now
    }
}
