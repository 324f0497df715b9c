//! The simulated world: the core under test, its clock, the network, the clients, the producer,
//! and the discrete-event loop that ties them together.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use liquidationheatmap::core::{ConnectionLedger, Core, DisconnectReason, MonoTime, Now, StaticFiles};
use liquidationheatmap::driver::{self, LoopInbox, SnapshotFanout, WorkerEvent};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub mod bus;
mod checks;
mod clients;
pub mod loops;

pub use loops::Loop;

use crate::client::Client;
use crate::clock::Clocks;
use crate::events::{ClientKey, ClientStep, ConnKey, Event, EventQueue};
use crate::invariant::{Invariant, Violation};
use crate::mutations::Mutations;
use crate::params::{rng_for, Params, ShutdownPlan, Stream};
use crate::producer::Producer;
use crate::stream::SimStream;
use crate::trace::Trace;
use crate::wire::Decoder;

/// Events one run may process before it is declared livelocked.
pub const EVENTS_MAX: u64 = 3_000_000;
/// Timer events in a row at one instant before the core is declared to spin on a due timeout.
pub const SAME_INSTANT_TIMERS_MAX: u32 = 10_000;
/// After faults stop: wait for rate-limit tokens, then resync, publish, and judge liveness.
pub const RESYNC_AFTER_QUIET_MS_MIN: u64 = 200;
pub const FINAL_PUBLISH_AFTER_RESYNC_MS: u64 = 300;
pub const LIVENESS_AFTER_FINAL_PUBLISH_MS: u64 = 1500;
/// Kernel send buffer every connection gets once faults stop (windows open up).
pub const QUIET_SNDBUF_BYTES_MIN: usize = 64 * 1024;

pub const NS_PER_MS: u64 = 1_000_000;

/// One simulated TCP connection, both ends: the server side lent to the core, and what the client
/// decoded of the server's bytes.
pub struct Conn {
    pub client: ClientKey,
    /// The loop the acceptor handed it to.
    pub loop_index: Option<usize>,
    pub core_id: Option<liquidationheatmap::core::ConnId>,
    pub stream: SimStream,
    pub decoder: Decoder,
    /// Accepted and registered with the (simulated) poller.
    pub registered: bool,
    /// The core released it (Output::Release).
    pub released: bool,
    /// The core forgot it (seen during a call; the Release output follows).
    pub core_gone: bool,
    /// Never accepted: backlog full, listener closed, or refused by the core.
    pub refused: bool,
    pub sent_fin: bool,
    pub sent_reset: bool,
    pub sent_close: bool,
    /// Arrivals of client bytes still in flight.
    pub arrivals_pending: u32,
    pub last_arrival_ns: u64,
    pub read_scheduled: bool,
    pub upgraded: bool,
    /// Symbols this connection is subscribed to, as the server's acks on the wire say.
    pub wire_subs: BTreeSet<usize>,
    /// Per symbol: the newest snapshot decoded since the subscription (generation, seq, sim_n).
    pub last_snapshot: BTreeMap<usize, (u64, u64, u64)>,
    /// Per symbol: snapshots (`sim_n`) this client kept up for and so must receive.
    pub owed: BTreeMap<usize, BTreeSet<u64>>,
    pub warned_at: Option<MonoTime>,
    pub closing_at: Option<(MonoTime, DisconnectReason)>,
    pub write_progress_at: MonoTime,
    pub resync_sent: bool,
    pub replies_since_resync: u32,
    pub open_at_shutdown: bool,
    pub closing_at_shutdown: bool,
    /// Adopted by the stalled loop (`Shape::stalled_loop`): the client stops reading until
    /// faults stop.
    pub stalled: bool,
}

/// When a snapshot owed to a client that keeps up was handed to the loops, and by when the
/// client must have it (see [`World::handoff_deadline_ns`]).
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    pub due_ns: u64,
    pub handed_ns: u64,
}

/// Limits copied out of the core's configuration for the checks.
#[derive(Debug, Clone)]
pub struct Bounds {
    pub queue_bytes_max: usize,
    pub queue_messages_max: usize,
    pub ws_connections_max: usize,
    pub http_connections_max: usize,
    pub close_timeout_ms: u64,
    pub slow_consumer_grace_ms: u64,
    pub shutdown_timeout_ms: u64,
}

pub struct World {
    pub params: Params,
    pub bounds: Bounds,
    pub mutations: Mutations,
    /// The event loops (1 to 4), each with its core.
    pub loops: Vec<Loop>,
    /// The loop the driver's `Net` speaks for now (see [`World::with_loop`]).
    pub cur: usize,
    /// The connection counts every loop's core shares.
    pub ledger: Arc<ConnectionLedger>,
    /// The production hand-off to the loops: stamps each snapshot once.
    pub fanout: SnapshotFanout,
    /// Snapshots arrive over the simulated Redis bus (`Shape::bus`).
    pub bus: Option<bus::BusSim>,
    pub clocks: Clocks,
    pub queue: EventQueue,
    pub now_ns: u64,
    pub now: Now,
    pub conns: Vec<Conn>,
    pub clients: Vec<Client>,
    /// The kernel's listen backlog: connections not accepted yet.
    pub backlog: VecDeque<ConnKey>,
    pub listener_open: bool,
    /// The acceptor paused because the process is full.
    pub acceptor_paused: bool,
    pub acceptor_recheck_pending: bool,
    pub producer: Producer,
    /// World-level faults: readiness delays and spurious events.
    pub fault_rng: ChaCha8Rng,
    pub mono_rng: ChaCha8Rng,
    pub wall_rng: ChaCha8Rng,
    pub query_rng: ChaCha8Rng,
    pub loop_rng: ChaCha8Rng,
    pub quiet: bool,
    pub shutdown_at: Option<MonoTime>,
    pub end_scheduled: bool,
    pub trace: Trace,
    pub violation: Option<Violation>,
    /// Epoch strings the server used, by generation, and back.
    pub epoch_of_generation: BTreeMap<u64, String>,
    pub generation_of_epoch: BTreeMap<String, u64>,
    /// Per symbol, the `sim_n` of the final snapshot published after faults stopped.
    pub final_n: Vec<Option<u64>>,
    /// Per (symbol, epoch, seq): a hash of the message bytes the first client received; every
    /// other client on every loop must receive the same bytes.
    pub snapshot_bytes: BTreeMap<(usize, String, u64), u64>,
    /// Hand-offs a loop has not taken yet (its waker is late): (loop, event), by id.
    pub held_back: BTreeMap<u64, (usize, driver::LoopEvent)>,
    pub next_held_back: u64,
    /// Snapshots owed to clients that keep up, by (connection, symbol, `sim_n`).
    pub deadlines: BTreeMap<(ConnKey, usize, u64), Deadline>,
}

pub fn static_files() -> StaticFiles {
    let mut files = StaticFiles::new();
    files.insert(
        "coinglass_heatmap.html".into(),
        b"<!doctype html><title>heatmap</title>".to_vec(),
    );
    files.insert("js/app.js".into(), b"export const app = 1;\n".repeat(20));
    files
}

impl World {
    pub fn new(params: Params, mutations: Mutations, flat_wall: bool, keep_trace: bool) -> World {
        let seed = params.seed;
        let mut clocks = Clocks::new(params.clock.wall_drift_ppm, flat_wall);
        let now = clocks.now(0);
        let shape = params.shape.clone();
        let ledger = Arc::new(ConnectionLedger::new(shape.loops));
        let mut inboxes = Vec::new();
        let mut loops = Vec::new();
        for index in 0..shape.loops {
            let mut core = Core::with_mutations(
                params.config.clone(),
                static_files(),
                "sim".into(),
                now,
                mutations,
            );
            core.share_ledger(Arc::clone(&ledger), index);
            let (events_tx, events_rx) = crossbeam_channel::bounded(liquidationheatmap::shell::EVENTS_QUEUE_MAX);
            inboxes.push(LoopInbox { events: events_tx, waker: Arc::new(loops::NoWake) });
            loops.push(Loop {
                core,
                by_core: BTreeMap::new(),
                handoffs: VecDeque::new(),
                events: events_rx,
                accept_paused: false,
                timer_at_ns: None,
                same_instant_timers: 0,
                last_timer_ns: u64::MAX,
                loop_turn_pending: false,
                held_until_ns: 0,
                held_back: 0,
                huge_latest: vec![false; params.symbols().len()],
            });
        }
        let fanout = SnapshotFanout::new("sim".into(), None, inboxes);
        fanout.set_repeat_seq(mutations.repeat_snapshot_seq);
        let bus = shape.bus.as_ref().map(|plan| bus::BusSim::new(plan.clone(), seed, params.symbols().len(), mutations));
        let config = &params.config;
        let bounds = Bounds {
            queue_bytes_max: config.queue_bytes_max,
            queue_messages_max: config.queue_messages_max,
            ws_connections_max: config.ws_connections_max,
            http_connections_max: config.http_connections_max,
            close_timeout_ms: config.close_timeout_ms,
            slow_consumer_grace_ms: config.slow_consumer_grace_ms,
            shutdown_timeout_ms: config.shutdown_timeout_ms,
        };
        let producer = Producer::new(
            rng_for(seed, Stream::Producer, 0),
            params.producer.clone(),
            params.symbols().to_vec(),
            config.queue_bytes_max,
        );
        let clients = params
            .clients
            .iter()
            .enumerate()
            .map(|(i, plan)| Client::new(plan.kind, rng_for(seed, Stream::Clients, i as u64)))
            .collect();
        let symbols = params.symbols().len();
        World {
            bounds,
            mutations,
            loops,
            cur: 0,
            ledger,
            fanout,
            bus,
            clocks,
            queue: EventQueue::default(),
            now_ns: 0,
            now,
            conns: Vec::new(),
            clients,
            backlog: VecDeque::new(),
            listener_open: true,
            acceptor_paused: false,
            acceptor_recheck_pending: false,
            producer,
            fault_rng: rng_for(seed, Stream::Faults, 0),
            mono_rng: rng_for(seed, Stream::MonoClock, 0),
            wall_rng: rng_for(seed, Stream::WallClock, 0),
            query_rng: rng_for(seed, Stream::Queries, 0),
            loop_rng: rng_for(seed, Stream::Loops, 0),
            quiet: false,
            shutdown_at: None,
            end_scheduled: false,
            trace: Trace::new(keep_trace),
            violation: None,
            epoch_of_generation: BTreeMap::new(),
            generation_of_epoch: BTreeMap::new(),
            final_n: vec![None; symbols],
            snapshot_bytes: BTreeMap::new(),
            deadlines: BTreeMap::new(),
            held_back: BTreeMap::new(),
            next_held_back: 0,
            params,
        }
    }

    pub fn schedule_ms(&mut self, after_ms: u64, event: Event) {
        self.queue.push(self.now_ns + after_ms * NS_PER_MS, event);
    }

    pub fn fail(&mut self, invariant: Invariant, detail: String) {
        if self.violation.is_none() {
            self.trace
                .record(format!("VIOLATION {} {detail}", invariant.number()));
            self.violation = Some(Violation {
                invariant,
                at_ms: self.now.mono.as_millis(),
                detail,
            });
        }
    }

    pub fn peer_addr(k: ConnKey) -> SocketAddr {
        SocketAddr::from(([127, 0, (k / 250) as u8 % 250, 1 + (k % 250) as u8], 40_000))
    }

    fn schedule_start(&mut self) {
        for (ck, plan) in self.params.clients.clone().iter().enumerate() {
            self.queue.push(
                plan.start_ms * NS_PER_MS,
                Event::Client(ck, ClientStep::Connect),
            );
        }
        for symbol in 0..self.params.symbols().len() {
            let first = self.producer.interval_ms(symbol);
            self.schedule_ms(first, Event::Publish(symbol));
        }
        if let Some(at) = self.params.producer.dies_at_ms {
            self.schedule_ms(at, Event::ProducerDies);
        }
        if self.params.clock.fault_every_ms > 0 {
            self.schedule_ms(self.params.clock.fault_every_ms, Event::ClockFault);
        }
        self.bus_start();
        match self.params.shutdown {
            ShutdownPlan::UnderLoad { at_ms } => self.schedule_ms(at_ms, Event::Shutdown),
            ShutdownPlan::Never | ShutdownPlan::AfterLiveness => {
                self.schedule_ms(self.params.fault_phase_ms, Event::QuietBegins)
            }
        }
    }

    /// Runs the world to its end or its first violation.
    pub fn run(&mut self) {
        let shape = &self.params.shape;
        let line = format!("shape loops={} stalled_loop={:?} bus={:?}", shape.loops, shape.stalled_loop, shape.bus);
        self.trace.record(line);
        self.schedule_start();
        while let Some((at_ns, event)) = self.queue.pop() {
            if self.violation.is_some() {
                break;
            }
            if self.trace.events >= EVENTS_MAX {
                self.fail(
                    Invariant::Liveness,
                    format!("no end after {EVENTS_MAX} events (livelock)"),
                );
                break;
            }
            self.now_ns = at_ns;
            self.now = self.clocks.now(at_ns);
            self.trace.record(format!(
                "{}.{:06} mono={} wall={} {}",
                at_ns / NS_PER_MS,
                at_ns % NS_PER_MS,
                self.now.mono.as_nanos(),
                self.now.wall_unix_ms,
                describe(&event)
            ));
            let end = event == Event::End;
            self.dispatch(event);
            self.after_event();
            if end {
                break;
            }
        }
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Client(ck, step) => self.client_step(ck, step),
            Event::ClientRead(k) => self.client_read(k),
            Event::Arrive(k, bytes) => self.arrive(k, Arrival::Bytes(bytes)),
            Event::ArriveFin(k) => self.arrive(k, Arrival::Fin),
            Event::ArriveReset(k) => self.arrive(k, Arrival::Reset),
            Event::Ready {
                conn,
                readable,
                writable,
                error,
            } => self.on_ready(conn, readable, writable, error),
            Event::ListenerReady => self.acceptor_wake(),
            Event::Timer(index) => self.loop_timer(index),
            Event::LoopTurn(index) => self.loops[index].loop_turn_pending = false,
            Event::Publish(symbol) => self.publish(symbol),
            Event::ProducerDies => self.producer_dies(),
            Event::QueryDone {
                loop_index,
                conn,
                token,
                body_bytes,
            } => self.query_done(loop_index, conn, token, body_bytes),
            Event::LoopWake(index) => self.with_loop(index, driver::accept_all),
            Event::LoopDeliver(id) => self.loop_deliver(id),
            Event::BusArrive(id) => self.bus_arrive(id),
            Event::BusHistory(symbol) => self.bus_history(symbol),
            Event::BusResubscribe => self.bus_resubscribe(),
            Event::ClockFault => self.clock_fault(),
            Event::QuietBegins => self.quiet_begins(),
            Event::Resync => self.resync(),
            Event::FinalPublish => self.final_publish(),
            Event::LivenessCheck => self.liveness_check(),
            Event::Shutdown => self.shutdown(),
            Event::ShutdownCheck => {
                if !self.end_scheduled {
                    self.end_scheduled = true;
                    self.schedule_ms(1, Event::End);
                }
            }
            Event::End => {}
        }
    }

    /// What every loop's shell does after every batch of events: timers, writes, outputs,
    /// re-reads; then the checks that hold between events.
    fn after_event(&mut self) {
        self.end_loop_turns();
        self.check_global();
    }

    /// Schedules a readiness event for `k` as an edge-triggered poller would: only for registered
    /// sockets, possibly late, possibly with a spurious twin.
    pub fn signal(&mut self, k: ConnKey, readable: bool, writable: bool, error: bool) {
        let conn = &self.conns[k];
        if !conn.registered || conn.released {
            return;
        }
        let faults = &self.params.faults;
        let (delay_max, spurious) = if self.quiet {
            (0, 0.0)
        } else {
            (faults.readiness_delay_ms_max, faults.spurious_readiness)
        };
        let delay = self.fault_rng.random_range(0..=delay_max);
        self.schedule_ms(
            delay,
            Event::Ready {
                conn: k,
                readable,
                writable,
                error,
            },
        );
        if spurious > 0.0 && self.fault_rng.random_bool(spurious) {
            let delay = self.fault_rng.random_range(0..=delay_max.max(5));
            self.schedule_ms(
                delay,
                Event::Ready {
                    conn: k,
                    readable: true,
                    writable: true,
                    error: false,
                },
            );
        }
    }

    fn arrive(&mut self, k: ConnKey, arrival: Arrival) {
        let conn = &mut self.conns[k];
        conn.arrivals_pending = conn.arrivals_pending.saturating_sub(1);
        if conn.released || conn.refused {
            return;
        }
        match arrival {
            Arrival::Bytes(bytes) => {
                let was_empty = conn.stream.inbound.is_empty();
                conn.stream.inbound.extend(bytes);
                if was_empty {
                    self.signal(k, true, false, false);
                }
            }
            Arrival::Fin => {
                conn.stream.fin = true;
                self.signal(k, true, false, false);
            }
            Arrival::Reset => {
                conn.stream.reset = true;
                let as_error = self
                    .fault_rng
                    .random_bool(self.params.faults.reset_as_error_event);
                self.signal(k, !as_error, false, as_error);
            }
        }
    }

    /// Sends client bytes (or FIN/RST) towards the server, arriving after the network latency,
    /// in order.
    pub fn send(&mut self, k: ConnKey, event: Event) {
        let latency_max = if self.quiet {
            0
        } else {
            self.params.faults.latency_ms_max
        };
        let latency_ns = self.fault_rng.random_range(0..=latency_max) * NS_PER_MS;
        let conn = &mut self.conns[k];
        if conn.sent_fin || conn.sent_reset || conn.refused || conn.released {
            return;
        }
        match event {
            Event::ArriveFin(_) => conn.sent_fin = true,
            Event::ArriveReset(_) => conn.sent_reset = true,
            _ => {}
        }
        let at = (self.now_ns + latency_ns).max(conn.last_arrival_ns);
        conn.last_arrival_ns = at;
        conn.arrivals_pending += 1;
        self.queue.push(at, event);
    }

    fn publish(&mut self, symbol: usize) {
        if self.quiet || self.shutdown_at.is_some() || !self.producer.alive {
            return;
        }
        self.bus_maybe_fail_over();
        let batch = self.producer.next_batch(symbol, self.now.wall_unix_ms);
        for snapshot in batch {
            self.deliver_snapshot(snapshot);
        }
        let next = self.producer.interval_ms(symbol);
        self.schedule_ms(next, Event::Publish(symbol));
    }

    fn producer_dies(&mut self) {
        self.producer.alive = false;
        for symbol in self.params.symbols().to_vec() {
            let status = liquidationheatmap::core::ProducerStatus::Error("simulated producer died".into());
            self.fanout.dispatch(self.now.wall_unix_ms, WorkerEvent::Status { symbol, status });
            self.drain_loops();
        }
    }

    fn clock_fault(&mut self) {
        if self.quiet || self.shutdown_at.is_some() {
            return;
        }
        // Both streams are drawn every time, so a flat-wall twin stays in step.
        let kind = self.mono_rng.random_range(0..4u8);
        let mono_ms = self.mono_rng.random_range(1..=3000u64);
        let wall_ms = self
            .wall_rng
            .random_range(-crate::clock::WALL_JUMP_MS_MAX..=crate::clock::WALL_JUMP_MS_MAX);
        match kind {
            0 => self.clocks.jump_wall(wall_ms),
            1 => self.clocks.stall_mono(self.now_ns, mono_ms * NS_PER_MS),
            2 => self.clocks.jump_mono(mono_ms * NS_PER_MS),
            _ if self.params.clock.mono_regression => {
                // Every core must have seen the newest time, or the earlier one would not be a
                // regression; each is handed the same earlier time.
                let now = self.now;
                for index in 0..self.loops.len() {
                    self.with_loop(index, |w| {
                        w.lp_mut().core.handle_timeout(now);
                        w.observe(crate::observe::Cause::Timer);
                    });
                }
                if let Some(past) = self.clocks.regressed(mono_ms * NS_PER_MS) {
                    self.trace
                        .record(format!("regressed mono={}", past.mono.as_nanos()));
                    for index in 0..self.loops.len() {
                        self.with_loop(index, |w| {
                            w.lp_mut().core.handle_timeout(past);
                            w.observe(crate::observe::Cause::Nothing);
                        });
                    }
                }
            }
            _ => self.clocks.jump_wall(wall_ms / 1000),
        }
        self.trace.record(format!(
            "clock fault kind={kind} mono_ms={mono_ms} wall_ms={wall_ms}"
        ));
        self.schedule_ms(self.params.clock.fault_every_ms, Event::ClockFault);
    }

    fn quiet_begins(&mut self) {
        self.quiet = true;
        self.clocks.end_stall(self.now_ns);
        for k in 0..self.conns.len() {
            let conn = &mut self.conns[k];
            conn.stream.faults_on = false;
            conn.stream.sndbuf_bytes = conn.stream.sndbuf_bytes.max(QUIET_SNDBUF_BYTES_MIN);
            if conn.stream.write_blocked && conn.stream.room() > 0 {
                conn.stream.write_blocked = false;
                self.signal(k, false, true, false);
            }
            self.want_client_read(k);
        }
        self.bus_quiet();
        let per_s = u64::from(self.params.config.rate_limit_messages_per_s.max(1));
        // Bytes still in flight may spend the rate limiter's tokens when they land; one token must
        // have refilled after that.
        let faults = &self.params.faults;
        let in_flight_ms = faults.latency_ms_max + faults.readiness_delay_ms_max;
        let wait = (1000 / per_s + 100).max(RESYNC_AFTER_QUIET_MS_MIN) + in_flight_ms;
        self.schedule_ms(wait, Event::Resync);
    }

    fn final_publish(&mut self) {
        self.producer.generation += 1;
        self.producer.alive = true;
        for symbol in 0..self.params.symbols().len() {
            let snapshot = self.producer.snapshot(symbol, self.now.wall_unix_ms);
            self.final_n[symbol] = self.producer.latest[symbol];
            self.deliver_snapshot(snapshot);
        }
        self.schedule_ms(LIVENESS_AFTER_FINAL_PUBLISH_MS, Event::LivenessCheck);
    }

    fn shutdown(&mut self) {
        if self.shutdown_at.is_some() {
            return;
        }
        self.listener_open = false;
        while let Some(k) = self.backlog.pop_front() {
            self.conns[k].refused = true;
        }
        // Sockets handed over and not adopted are closed with their loop.
        for lp in &mut self.loops {
            while let Some(k) = lp.handoffs.pop_front() {
                self.conns[k].refused = true;
            }
        }
        self.shutdown_at = Some(self.now.mono);
        for conn in self
            .conns
            .iter_mut()
            .filter(|c| c.core_id.is_some() && !c.released)
        {
            conn.open_at_shutdown = true;
            conn.closing_at_shutdown = conn.closing_at.is_some();
        }
        for index in 0..self.loops.len() {
            self.with_loop(index, driver::shutdown);
        }
        let check_at = self.now.mono.plus_ms(self.bounds.shutdown_timeout_ms + 1);
        let at_ns = self.clocks.sim_time_of(check_at, self.now_ns);
        self.queue.push(at_ns, Event::ShutdownCheck);
    }
}

enum Arrival {
    Bytes(Vec<u8>),
    Fin,
    Reset,
}

/// One trace line per event, short enough to read (byte payloads are summarised).
fn describe(event: &Event) -> String {
    match event {
        Event::Arrive(k, bytes) => format!("Arrive(conn{k}, {} bytes)", bytes.len()),
        other => format!("{other:?}"),
    }
}
