//! One event loop: a thread with its own `mio::Poll`, its own [`Core`] and its own sockets,
//! driven by the shared [`crate::driver`]. It shares nothing with the other loops on the send
//! path; what it receives (sockets from the acceptor, events from the workers) arrives over
//! bounded channels with a wake-up of its `Waker`.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, TryRecvError};
use log::{error, info};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};

use super::{process_stats, Clock};
use crate::core::{AcceptError, ConnId, Core, Now, ProcessStats, QueryRequest};
use crate::driver::{self, Lookup, LoopEvent, Net, Waiting};
use crate::worker::WorkerLink;

/// The loop's waker: worker events and handed-over sockets.
pub const WAKER: Token = Token(usize::MAX - 2);
/// Readiness events taken per poll call.
const EVENTS_PER_POLL_MAX: usize = 1024;

/// A socket the acceptor handed to a loop.
pub struct Handoff {
    pub socket: TcpStream,
    pub peer: SocketAddr,
}

/// What the loop shares with the acceptor and the other loops.
pub struct LoopShared {
    /// Handed over and not yet adopted, per loop (the acceptor's view of a loop's load and of
    /// the process's connections counts these too).
    pub pending: Arc<Vec<AtomicUsize>>,
    /// Set once shutdown begins.
    pub shutdown: Arc<AtomicBool>,
    /// Wakes the acceptor when this loop frees a slot while it is paused.
    pub acceptor_waker: Arc<Waker>,
}

pub struct EventLoop {
    pub index: usize,
    pub poll: Poll,
    pub core: Core,
    /// Sockets indexed by the core's connection id.
    pub sockets: Vec<Option<TcpStream>>,
    pub handoffs: Receiver<Handoff>,
    pub events: Receiver<LoopEvent>,
    pub link: WorkerLink,
    pub shared: LoopShared,
    pub clock: Clock,
    pub accept_paused: bool,
    pub shutting_down: bool,
}

impl EventLoop {
    /// Runs until shutdown has closed every connection of this loop.
    pub fn run(mut self) -> std::io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_PER_POLL_MAX);
        loop {
            let timeout = self.poll_timeout();
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for event in events.iter() {
                match event.token() {
                    WAKER => self.on_wake(),
                    Token(id) => {
                        let readable = event.is_readable() || event.is_read_closed();
                        driver::on_ready(&mut self, id, readable, event.is_writable(), event.is_error());
                    }
                }
            }
            driver::end_turn(&mut self);
            if self.core.is_finished() {
                info!("event=shutdown_complete loop={}", self.index);
                return Ok(());
            }
        }
    }

    fn poll_timeout(&mut self) -> Option<std::time::Duration> {
        if self.core.has_read_again() {
            return Some(std::time::Duration::ZERO);
        }
        self.core.poll_timeout().map(|at| self.clock.instant_of(at).saturating_duration_since(std::time::Instant::now()))
    }

    /// Sockets handed over, worker events, shutdown: all arrive with one wake-up.
    fn on_wake(&mut self) {
        if self.shared.shutdown.load(Ordering::Acquire) && !self.shutting_down {
            self.shutting_down = true;
            info!("event=shutdown_begin loop={} connections={}", self.index, self.core.connections());
            driver::shutdown(self);
        }
        driver::accept_all(self);
        while let Ok(event) = self.events.try_recv() {
            driver::deliver(self, event);
        }
    }
}

impl Net for EventLoop {
    type Stream = TcpStream;
    type Pending = Handoff;
    type Policy = crate::core::NoMutations;

    fn now(&mut self) -> Now {
        self.clock.now()
    }

    fn core(&mut self) -> &mut Core {
        &mut self.core
    }

    fn split(&mut self, id: ConnId, _why: Lookup) -> (&mut Core, Option<&mut TcpStream>) {
        (&mut self.core, self.sockets.get_mut(id).and_then(Option::as_mut))
    }

    fn accept_paused(&mut self) -> &mut bool {
        &mut self.accept_paused
    }

    fn next_waiting(&mut self) -> Waiting<Handoff> {
        match self.handoffs.try_recv() {
            Ok(handoff) => {
                let peer = handoff.peer;
                Waiting::Ready(handoff, peer)
            }
            Err(TryRecvError::Empty) => Waiting::Empty,
            Err(TryRecvError::Disconnected) => Waiting::Closed,
        }
    }

    fn adopt(&mut self, id: ConnId, handoff: Handoff) -> bool {
        // Counted by the core's ledger now: no longer pending.
        self.shared.pending[self.index].fetch_sub(1, Ordering::AcqRel);
        let Handoff { mut socket, peer } = handoff;
        if let Err(e) = self.poll.registry().register(&mut socket, Token(id), Interest::READABLE | Interest::WRITABLE) {
            error!("event=register_error peer={peer} error={:?}", e.to_string());
            return false;
        }
        if self.sockets.len() <= id {
            self.sockets.resize_with(id + 1, || None);
        }
        self.sockets[id] = Some(socket);
        true
    }

    fn refuse(&mut self, _handoff: Handoff, _why: AcceptError) {
        self.shared.pending[self.index].fetch_sub(1, Ordering::AcqRel);
        self.wake_acceptor_if_room();
    }

    fn release(&mut self, id: ConnId) {
        if let Some(mut socket) = self.sockets.get_mut(id).and_then(Option::take) {
            let _ = self.poll.registry().deregister(&mut socket);
        }
        self.wake_acceptor_if_room();
    }

    fn submit_query(&mut self, request: QueryRequest) -> Result<(), QueryRequest> {
        self.link.submit_query(request)
    }

    fn set_demand(&mut self, symbols: Vec<String>) {
        self.link.set_demand(symbols);
    }

    fn process_stats(&mut self) -> ProcessStats {
        process_stats::read_process_stats(self.link.ingest_totals())
    }
}

impl EventLoop {
    fn wake_acceptor_if_room(&self) {
        if self.core.ledger().take_acceptor_paused(self.core.config().http_connections_max) {
            let _ = self.shared.acceptor_waker.wake();
        }
    }
}
