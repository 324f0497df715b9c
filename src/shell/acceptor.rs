//! The one acceptor: owns the listener, accepts, and hands each socket to the event loop with the
//! fewest open connections (over that loop's bounded channel, then its `Waker`). Not
//! `SO_REUSEPORT`: its hash ignores load, and closing one of several listeners resets the
//! connections queued on it.
//!
//! Accepting pauses while the process holds `HTTP_MAX_CONNECTIONS` non-WebSocket connections
//! (counting sockets handed over and not yet adopted), so the rest wait in the kernel backlog; a
//! loop that frees a slot wakes it. `EMFILE` is retried on a timer. It also owns the signal
//! handler: SIGINT/SIGTERM close the listener and start every loop's shutdown.

use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};
use log::{info, warn};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use super::event_loop::Handoff;
use super::sockets;
use crate::core::ConnectionLedger;

pub const LISTENER: Token = Token(0);
pub const ACCEPTOR_WAKER: Token = Token(1);
const SIGNALS: Token = Token(2);

/// After the process runs out of file descriptors, accepting is retried this much later.
const ACCEPT_RETRY_AFTER_EMFILE: Duration = Duration::from_millis(100);
/// While paused for a full process, look again at least this often (a wake-up from a loop is
/// the normal way back; this bounds the cost of a lost race).
const PAUSED_RECHECK: Duration = Duration::from_millis(50);

/// The acceptor's way into one loop.
pub struct LoopDoor {
    pub handoffs: Sender<Handoff>,
    pub waker: Arc<Waker>,
}

pub struct Acceptor {
    pub poll: Poll,
    pub listener: Option<TcpListener>,
    pub loops: Vec<LoopDoor>,
    pub ledger: Arc<ConnectionLedger>,
    /// Handed over and not yet adopted, per loop.
    pub pending: Arc<Vec<AtomicUsize>>,
    pub http_connections_max: usize,
    pub shutdown: Arc<AtomicBool>,
    /// Tells the supervising thread that shutdown began.
    pub on_shutdown: Sender<()>,
    pub retry_at: Option<Instant>,
    pub paused: bool,
}

impl Acceptor {
    /// Runs until a signal (or [`Acceptor::begin_shutdown`]'s flag) ends accepting.
    pub fn run(mut self) -> std::io::Result<()> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        self.poll.registry().register(&mut signals, SIGNALS, Interest::READABLE)?;
        let mut events = Events::with_capacity(64);
        loop {
            let mut timeout = self.retry_at.map(|at| at.saturating_duration_since(Instant::now()));
            if self.paused {
                timeout = Some(timeout.map_or(PAUSED_RECHECK, |t| t.min(PAUSED_RECHECK)));
            }
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let mut signalled = false;
            for event in events.iter() {
                if event.token() == SIGNALS {
                    let received: Vec<i32> = signals.pending().collect();
                    if !received.is_empty() {
                        info!("event=shutdown_signal signal={received:?} connections={:?}", self.ledger.per_loop_open());
                        signalled = true;
                    }
                }
            }
            if signalled || self.shutdown.load(Ordering::Acquire) {
                self.begin_shutdown();
                return Ok(());
            }
            if self.retry_at.is_some_and(|at| Instant::now() < at) {
                continue;
            }
            self.retry_at = None;
            self.accept_all();
        }
    }

    /// Closes the listener (connections still in the backlog are reset by the kernel) and starts
    /// every loop's shutdown.
    fn begin_shutdown(&mut self) {
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        self.shutdown.store(true, Ordering::Release);
        for door in &self.loops {
            let _ = door.waker.wake();
        }
        let _ = self.on_shutdown.try_send(());
    }

    /// Sockets handed to each loop and not adopted yet.
    fn handed_over(&self) -> Vec<usize> {
        self.pending.iter().map(|p| p.load(Ordering::Acquire)).collect()
    }

    fn accept_all(&mut self) {
        loop {
            let Some(listener) = self.listener.as_ref() else { return };
            let handed_over: usize = self.handed_over().iter().sum();
            if self.ledger.acceptor_must_pause(handed_over, self.http_connections_max) {
                self.paused = true;
                return;
            }
            self.paused = false;
            match listener.accept() {
                Ok((socket, peer)) => {
                    let _ = socket.set_nodelay(true);
                    let _ = sockets::set_notsent_lowat(&socket, sockets::NOTSENT_LOWAT_BYTES);
                    self.hand_over(Handoff { socket, peer });
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Usually EMFILE/ENFILE: out of descriptors. The listener stays readable but
                    // edge-triggered readiness will not say so again, so retry on a timer.
                    warn!("event=accept_error error={:?} retry_ms={}", e.to_string(), ACCEPT_RETRY_AFTER_EMFILE.as_millis());
                    self.retry_at = Some(Instant::now() + ACCEPT_RETRY_AFTER_EMFILE);
                    return;
                }
            }
        }
    }

    /// Gives the socket to the least loaded loop whose channel has room; closes it if none has.
    fn hand_over(&mut self, mut handoff: Handoff) {
        for index in self.ledger.hand_over_order(&self.handed_over()) {
            self.pending[index].fetch_add(1, Ordering::AcqRel);
            match self.loops[index].handoffs.try_send(handoff) {
                Ok(()) => {
                    let _ = self.loops[index].waker.wake();
                    return;
                }
                Err(TrySendError::Full(back) | TrySendError::Disconnected(back)) => {
                    self.pending[index].fetch_sub(1, Ordering::AcqRel);
                    handoff = back;
                }
            }
        }
        warn!("event=accept_dropped peer={} reason=every_loop_busy", handoff.peer);
    }
}
