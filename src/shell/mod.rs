//! The thin mio shell: the only code that owns pollers, the listener, the sockets, the wakers and
//! the clock.
//!
//! `EVENT_LOOPS` loops run, each on its own thread with its own `mio::Poll`, [`Core`] and
//! sockets ([`event_loop`]), all driven by the one [`crate::driver`] the simulator runs too. One
//! [`acceptor`] thread owns the listener and the signals and hands each accepted socket to the
//! least loaded loop. Worker results reach the loops through one [`SnapshotFanout`], which stamps
//! each snapshot once, so every loop queues the same bytes. The thread that calls
//! [`Server::run`] supervises the workers.

#![allow(clippy::disallowed_methods)]

mod acceptor;
mod event_loop;
mod process_stats;
pub mod sockets;
pub mod static_loader;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::bounded;
use log::{error, info};
use mio::net::TcpListener;
use mio::{Interest, Poll, Waker};

use crate::core::{ConnectionLedger, Core, CoreConfig, MonoTime, Now, StaticFiles};
use crate::driver::{LoopInbox, SnapshotFanout};
use crate::worker::Workers;

pub use crate::core::order_by_load;

/// Worker events waiting for one loop.
pub const EVENTS_QUEUE_MAX: usize = 256;
/// Accepted sockets waiting for one loop to adopt them.
pub const HANDOFF_QUEUE_MAX: usize = 1024;
/// The workers are supervised this often.
const SUPERVISE_INTERVAL: Duration = Duration::from_secs(1);

/// Reads the clocks; the core only ever sees the values.
#[derive(Clone, Copy)]
pub(crate) struct Clock {
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
    listener: TcpListener,
    local_addr: SocketAddr,
}

impl Server {
    /// Binds the listener.
    pub fn bind(addr: SocketAddr) -> io::Result<Server> {
        let listener = sockets::listen(addr, sockets::LISTEN_BACKLOG)?;
        let local_addr = listener.local_addr()?;
        Ok(Server { listener, local_addr })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Runs `loops` event loops (at least one) and the acceptor until SIGINT/SIGTERM and a
    /// graceful shutdown complete. `start_workers` starts the worker threads, which hand their
    /// results to the given fan-out; this thread supervises them.
    pub fn run(
        self,
        config: CoreConfig,
        files: StaticFiles,
        loops: usize,
        start_workers: impl FnOnce(Arc<SnapshotFanout>) -> io::Result<Workers>,
    ) -> io::Result<()> {
        let loops = loops.max(1);
        let clock = Clock { origin: Instant::now() };
        let boot_id = format!("{:x}", clock.now().wall_unix_ms);
        let ledger = Arc::new(ConnectionLedger::new(loops));
        let pending: Arc<Vec<AtomicUsize>> = Arc::new((0..loops).map(|_| AtomicUsize::new(0)).collect());
        let shutdown = Arc::new(AtomicBool::new(false));

        let acceptor_poll = Poll::new()?;
        let acceptor_waker = Arc::new(Waker::new(acceptor_poll.registry(), acceptor::ACCEPTOR_WAKER)?);
        let mut listener = self.listener;
        acceptor_poll.registry().register(&mut listener, acceptor::LISTENER, Interest::READABLE)?;

        let mut inboxes = Vec::new();
        let mut doors = Vec::new();
        let mut loop_wakers = Vec::new();
        let mut parts = Vec::new();
        for _ in 0..loops {
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), event_loop::WAKER)?);
            let (events_tx, events_rx) = bounded(EVENTS_QUEUE_MAX);
            let (handoff_tx, handoff_rx) = bounded(HANDOFF_QUEUE_MAX);
            inboxes.push(LoopInbox { events: events_tx, waker: waker.clone() });
            loop_wakers.push(Arc::clone(&waker));
            doors.push(acceptor::LoopDoor { handoffs: handoff_tx, waker });
            parts.push((poll, events_rx, handoff_rx));
        }
        let fanout = Arc::new(SnapshotFanout::new(boot_id.clone(), config.ws_compression.then_some(config.ws_compression_min_bytes), inboxes));
        let mut workers = start_workers(fanout)?;

        let mut loop_threads: Vec<JoinHandle<io::Result<()>>> = Vec::new();
        for (index, (poll, events, handoffs)) in parts.into_iter().enumerate() {
            let mut core = Core::new(config.clone(), files.clone(), boot_id.clone(), clock.now());
            core.share_ledger(Arc::clone(&ledger), index);
            let link = workers.link(index);
            link.register_metrics(core.metrics_registry());
            let event_loop = event_loop::EventLoop {
                index,
                poll,
                core,
                sockets: Vec::new(),
                handoffs,
                events,
                link,
                shared: event_loop::LoopShared {
                    pending: Arc::clone(&pending),
                    shutdown: Arc::clone(&shutdown),
                    acceptor_waker: Arc::clone(&acceptor_waker),
                },
                clock,
                accept_paused: false,
                shutting_down: false,
            };
            let handle = std::thread::Builder::new().name(format!("event-loop-{index}")).spawn(move || event_loop.run())?;
            loop_threads.push(handle);
        }
        info!("event=event_loops count={loops}");

        let (shutdown_tx, shutdown_rx) = bounded(1);
        let acceptor = acceptor::Acceptor {
            poll: acceptor_poll,
            listener: Some(listener),
            loops: doors,
            ledger: Arc::clone(&ledger),
            pending,
            http_connections_max: config.http_connections_max,
            shutdown: Arc::clone(&shutdown),
            on_shutdown: shutdown_tx,
            retry_at: None,
            paused: false,
        };
        let acceptor_thread = std::thread::Builder::new().name("acceptor".into()).spawn(move || acceptor.run())?;

        // Supervise the workers until shutdown begins, then stop them while the loops close
        // their clients.
        let mut stopped = false;
        let mut result = Ok(());
        while loop_threads.iter().any(|h| !h.is_finished()) {
            if !stopped && shutdown_rx.recv_timeout(SUPERVISE_INTERVAL).is_ok() {
                workers.stop();
                stopped = true;
                continue;
            }
            if !stopped {
                workers.supervise();
                if acceptor_thread.is_finished() && !shutdown.load(std::sync::atomic::Ordering::Acquire) {
                    // Without an acceptor no client can connect: shut the loops down.
                    error!("event=acceptor_failed");
                    shutdown.store(true, std::sync::atomic::Ordering::Release);
                    for waker in &loop_wakers {
                        let _ = waker.wake();
                    }
                    workers.stop();
                    stopped = true;
                }
            } else {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        for handle in loop_threads {
            match handle.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(e),
                Err(_) => result = Err(io::Error::other("an event loop panicked")),
            }
        }
        if !stopped {
            workers.stop();
        }
        match acceptor_thread.join() {
            Ok(Err(e)) if result.is_ok() => result = Err(e),
            _ => {}
        }
        info!("event=shutdown_complete");
        result
    }
}
