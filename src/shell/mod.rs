//! The thin mio shell: the only code that owns the poller, the listener, the sockets, the waker
//! and the clock. It turns readiness into core inputs and core outputs into socket operations,
//! and does nothing else.

#![allow(clippy::disallowed_methods)]

mod backend;
mod process_stats;
pub mod sockets;
pub mod static_loader;

use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use log::{error, info, warn};
use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

pub use backend::{Backend, BackendEvent};

use crate::core::{ConnId, Core, CoreConfig, MonoTime, Now, Output, QueryResponse, StaticFiles};

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
const SIGNALS: Token = Token(usize::MAX - 3);

/// Readiness events taken per poll call.
const EVENTS_PER_POLL_MAX: usize = 1024;
/// The loop wakes at least this often to supervise workers.
const SUPERVISE_INTERVAL: Duration = Duration::from_secs(1);
/// After the process runs out of file descriptors, accepting is retried this much later.
const ACCEPT_RETRY_AFTER_EMFILE: Duration = Duration::from_millis(100);

/// Reads the clocks; the core only ever sees the values.
struct Clock {
    origin: Instant,
}

impl Clock {
    fn now(&self) -> Now {
        let mono = MonoTime::from_nanos(self.origin.elapsed().as_nanos() as u64);
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        Now::new(mono, wall)
    }

    fn instant_of(&self, at: MonoTime) -> Instant {
        self.origin + Duration::from_nanos(at.as_nanos())
    }
}

/// A bound, not yet running server.
pub struct Server {
    poll: Poll,
    listener: TcpListener,
    waker: Arc<Waker>,
    local_addr: SocketAddr,
}

impl Server {
    /// Binds the listener and creates the poller and waker.
    pub fn bind(addr: SocketAddr) -> io::Result<Server> {
        let poll = Poll::new()?;
        let mut listener = sockets::listen(addr, sockets::LISTEN_BACKLOG)?;
        let local_addr = listener.local_addr()?;
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        Ok(Server { poll, listener, waker, local_addr })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The waker worker threads use to tell the loop that an event is ready.
    pub fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }

    /// Runs until SIGINT/SIGTERM and a graceful shutdown complete.
    pub fn run(self, config: CoreConfig, files: StaticFiles, backend: Box<dyn Backend>) -> io::Result<()> {
        let clock = Clock { origin: Instant::now() };
        let now = clock.now();
        let boot_id = format!("{:x}", now.wall_unix_ms);
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        self.poll.registry().register(&mut signals, SIGNALS, Interest::READABLE)?;
        let mut core = Core::new(config, files, boot_id, now);
        backend.register_metrics(core.metrics_registry());
        let mut shell = Shell {
            core,
            poll: self.poll,
            listener: Some(self.listener),
            sockets: Vec::new(),
            backend,
            clock,
            accept_paused: false,
            accept_retry_at: None,
            next_supervise: Instant::now() + SUPERVISE_INTERVAL,
            signals,
        };
        shell.run()
    }
}

struct Shell {
    core: Core,
    poll: Poll,
    listener: Option<TcpListener>,
    /// Sockets indexed by the core's connection id.
    sockets: Vec<Option<TcpStream>>,
    backend: Box<dyn Backend>,
    clock: Clock,
    /// The core is at its connection limit; accept again when it has room.
    accept_paused: bool,
    accept_retry_at: Option<Instant>,
    next_supervise: Instant,
    signals: Signals,
}

impl Shell {
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_PER_POLL_MAX);
        loop {
            let timeout = self.poll_timeout();
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for event in events.iter() {
                self.on_event(event);
            }
            let now = self.clock.now();
            self.core.handle_timeout(now);
            self.pump();
            self.read_again_once();
            if self.accept_retry_at.is_some_and(|at| Instant::now() >= at) {
                self.accept_retry_at = None;
                self.accept_all();
            }
            if Instant::now() >= self.next_supervise {
                self.next_supervise = Instant::now() + SUPERVISE_INTERVAL;
                self.backend.supervise();
                self.drain_backend();
            }
            if self.core.is_finished() {
                info!("event=shutdown_complete");
                self.backend.stop();
                return Ok(());
            }
        }
    }

    fn poll_timeout(&mut self) -> Duration {
        let mut deadline = self.next_supervise;
        if let Some(at) = self.core.poll_timeout() {
            deadline = deadline.min(self.clock.instant_of(at));
        }
        if let Some(at) = self.accept_retry_at {
            deadline = deadline.min(at);
        }
        if self.core.has_read_again() {
            return Duration::ZERO;
        }
        deadline.saturating_duration_since(Instant::now())
    }

    fn on_event(&mut self, event: &Event) {
        match event.token() {
            LISTENER => self.accept_all(),
            WAKER => self.drain_backend(),
            SIGNALS => self.on_signal(),
            Token(id) => self.on_socket_event(id, event),
        }
    }

    fn on_socket_event(&mut self, id: ConnId, event: &Event) {
        let now = self.clock.now();
        let Some(Some(socket)) = self.sockets.get_mut(id) else { return };
        if event.is_error() {
            self.core.handle_stream_error(now, id);
        } else {
            if event.is_readable() || event.is_read_closed() {
                self.core.handle_readable(now, id, socket);
            }
            if event.is_writable() {
                if let Some(Some(socket)) = self.sockets.get_mut(id) {
                    self.core.handle_writable(now, id, socket);
                }
            }
        }
        self.pump();
    }

    fn on_signal(&mut self) {
        let received: Vec<i32> = self.signals.pending().collect();
        if received.is_empty() {
            return;
        }
        info!("event=shutdown_begin signal={:?} connections={}", received, self.core.connections());
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        self.backend.stop();
        let now = self.clock.now();
        self.core.handle_shutdown(now);
        self.pump();
    }

    fn accept_all(&mut self) {
        loop {
            let Some(listener) = self.listener.as_ref() else { return };
            if !self.core.can_accept() {
                self.accept_paused = true;
                return;
            }
            match listener.accept() {
                Ok((socket, peer)) => self.adopt(socket, peer),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.accept_paused = false;
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Usually EMFILE/ENFILE: out of descriptors. The listener stays readable but
                    // edge-triggered readiness will not say so again, so retry on a timer.
                    warn!("event=accept_error error={:?} retry_ms={}", e.to_string(), ACCEPT_RETRY_AFTER_EMFILE.as_millis());
                    self.accept_retry_at = Some(Instant::now() + ACCEPT_RETRY_AFTER_EMFILE);
                    return;
                }
            }
        }
    }

    fn adopt(&mut self, mut socket: TcpStream, peer: SocketAddr) {
        let now = self.clock.now();
        let Ok(id) = self.core.handle_accept(now, peer) else { return };
        let _ = socket.set_nodelay(true);
        let _ = sockets::set_notsent_lowat(&socket, sockets::NOTSENT_LOWAT_BYTES);
        if let Err(e) = self.poll.registry().register(&mut socket, Token(id), Interest::READABLE | Interest::WRITABLE) {
            error!("event=register_error peer={peer} error={:?}", e.to_string());
            self.core.handle_stream_error(now, id);
            self.pump();
            return;
        }
        if self.sockets.len() <= id {
            self.sockets.resize_with(id + 1, || None);
        }
        self.sockets[id] = Some(socket);
    }

    /// Carries out everything the core asked for, until it asks for nothing more.
    fn pump(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(id) = self.core.poll_transmit() {
                progressed = true;
                let now = self.clock.now();
                if let Some(Some(socket)) = self.sockets.get_mut(id) {
                    self.core.handle_writable(now, id, socket);
                }
            }
            while let Some(output) = self.core.poll_output() {
                progressed = true;
                self.on_output(output);
            }
            if !progressed {
                break;
            }
        }
        if self.accept_paused && self.core.can_accept() {
            self.accept_all();
        }
    }

    /// Gives connections whose last read turn ran out of budget one more turn each, after every
    /// other connection has had its events handled.
    fn read_again_once(&mut self) {
        let mut ids = Vec::new();
        while let Some(id) = self.core.poll_read_again() {
            ids.push(id);
        }
        for id in ids {
            let now = self.clock.now();
            if let Some(Some(socket)) = self.sockets.get_mut(id) {
                self.core.handle_readable(now, id, socket);
            }
            self.pump();
        }
    }

    fn on_output(&mut self, output: Output) {
        match output {
            Output::Release(id) => {
                if let Some(mut socket) = self.sockets.get_mut(id).and_then(Option::take) {
                    let _ = self.poll.registry().deregister(&mut socket);
                }
            }
            Output::Query(request) if request.path == "/metrics" => {
                let now = self.clock.now();
                let stats = process_stats::read_process_stats(self.backend.ingest_totals());
                let body = self.core.render_metrics(now, stats).into_bytes().into();
                let response = QueryResponse::plain(200, "text/plain; version=0.0.4; charset=utf-8", body);
                self.core.handle_query_response(now, request.conn, request.token, response);
            }
            Output::Query(request) => {
                if let Err(request) = self.backend.submit_query(request) {
                    let now = self.clock.now();
                    let body = crate::core::http::error_body("BUSY", "the query worker is busy; retry shortly");
                    self.core.handle_query_response(
                        now,
                        request.conn,
                        request.token,
                        QueryResponse::plain(503, "application/json", body.into()),
                    );
                }
            }
            Output::Demand(symbols) => self.backend.set_demand(symbols),
        }
    }

    fn drain_backend(&mut self) {
        while let Some(event) = self.backend.poll_event() {
            let now = self.clock.now();
            match event {
                BackendEvent::Snapshot(snapshot) => self.core.handle_snapshot(now, snapshot),
                BackendEvent::Status { symbol, status } => self.core.handle_producer_status(now, &symbol, status),
                BackendEvent::QueryDone { conn, token, response } => {
                    self.core.handle_query_response(now, conn, token, response)
                }
                BackendEvent::Feed(report) => self.core.handle_feed_report(now, report),
                BackendEvent::Liquidation { symbol, message_json } => self.core.handle_liquidation(now, &symbol, &message_json),
            }
            self.pump();
        }
    }
}
