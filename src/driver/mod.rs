//! The one driver of a [`Core`]: the code that turns readiness into core inputs and core outputs
//! into socket operations — accept, read (with the core's per-turn budget), read again, write,
//! releases, queries, demand, timeouts — in one fixed order.
//!
//! It is generic over the network ([`Net`]): the mio event loops in `src/shell` and the
//! simulator's fault-injecting network in `sim/` both implement `Net` and call these functions, so
//! the order in which production drives the core is the order the simulator checks. A `Net` holds
//! the core, the streams (indexed by the core's connection id), the connections waiting to be
//! adopted and the worker side (queries, demand); the driver holds no state of its own.
//!
//! The driver never reads a clock (it asks [`Net::now`]) and never blocks.

pub mod events;
pub mod fanout;

use std::io::{Read, Write};
use std::net::SocketAddr;

use crate::core::{AcceptError, ConnId, Core, MutationPolicy, Now, Output, ProcessStats, QueryRequest, QueryResponse};

pub use events::{LoopEvent, QueryJob, WorkerEvent};
pub use fanout::{LoopInbox, SnapshotFanout, Wake};

/// Why the driver asks for a connection's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A readiness event: the net may no longer hold the stream (a late event); that is normal.
    Ready,
    /// The core asked to write it: the net must hold it.
    Transmit,
    /// The core asked to read it again: the net must hold it.
    ReadAgain,
}

/// What one core call was about (the simulator checks its invariants after each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touched {
    /// A call about one connection (read, write, error, accept, REST answer).
    Conn(ConnId),
    /// Timers.
    Timer,
    /// A snapshot fan-out.
    Snapshot,
    Shutdown,
    /// A call that changes no connection (producer status, feed report, refused accept).
    Nothing,
}

/// A connection the net accepted (or was handed) and the core has not adopted yet.
pub enum Waiting<P> {
    /// One is waiting: the net's handle for it and its peer address.
    Ready(P, SocketAddr),
    /// None is waiting now; readiness (or a hand-over's wake-up) will say when one is.
    Empty,
    /// No connection will come any more (the listener is closed).
    Closed,
}

/// The network side of one event loop, as the driver needs it.
pub trait Net {
    /// What the core reads and writes: a socket, or a simulated pipe.
    type Stream: Read + Write;
    /// An accepted connection not yet adopted.
    type Pending;
    /// The core's mutation policy: `NoMutations` in production, the simulator's switches there.
    type Policy: MutationPolicy;

    /// The current time (the only place the driver gets it).
    fn now(&mut self) -> Now;
    fn core(&mut self) -> &mut Core<Self::Policy>;
    /// The core and the stream held for `id` (split, so the core can be lent the stream). `None`
    /// when the net holds none; for [`Lookup::Transmit`]/[`Lookup::ReadAgain`] that is a core
    /// bug the net may report.
    fn split(&mut self, id: ConnId, why: Lookup) -> (&mut Core<Self::Policy>, Option<&mut Self::Stream>);
    /// After the core read or wrote `id`'s stream.
    fn after_io(&mut self, _id: ConnId) {}
    /// After every core call.
    fn touched(&mut self, _what: Touched) {}
    /// True to stop pumping at once (the simulator found a violation).
    fn halted(&self) -> bool {
        false
    }
    /// The driver paused accepting because the core is full; it resumes once there is room.
    fn accept_paused(&mut self) -> &mut bool;
    /// The next connection waiting to be adopted.
    fn next_waiting(&mut self) -> Waiting<Self::Pending>;
    /// Keeps `pending` as connection `id` and registers it for readiness (which must report the
    /// stream's current readiness). `false`: it could not be registered.
    fn adopt(&mut self, id: ConnId, pending: Self::Pending) -> bool;
    /// The core refused `pending`: close it.
    fn refuse(&mut self, pending: Self::Pending, why: AcceptError);
    /// The core forgot `id`: release its stream.
    fn release(&mut self, id: ConnId);
    /// Hands a REST query to a worker; gives it back when the worker cannot take it (503 BUSY).
    fn submit_query(&mut self, request: QueryRequest) -> Result<(), QueryRequest>;
    /// The symbols with subscribers on this loop changed.
    fn set_demand(&mut self, symbols: Vec<String>);
    /// The process figures `/metrics` reports beside the core's own.
    fn process_stats(&mut self) -> ProcessStats {
        ProcessStats::default()
    }
}

/// Carries out everything the core asked for, until it asks for nothing more; then resumes
/// accepting if it was paused and the core has room again.
pub fn pump<N: Net + ?Sized>(net: &mut N) {
    loop {
        let mut progressed = false;
        while let Some(id) = net.core().poll_transmit() {
            progressed = true;
            let now = net.now();
            stream_turn(net, now, id, Lookup::Transmit, Turn::Write);
        }
        while let Some(output) = net.core().poll_output() {
            progressed = true;
            on_output(net, output);
        }
        if !progressed || net.halted() {
            break;
        }
    }
    if *net.accept_paused() && net.core().can_accept() {
        accept_all(net);
    }
}

/// Adopts waiting connections until none waits or the core is full (then accepting pauses: the
/// rest wait in the kernel backlog or the hand-over channel, and [`pump`] resumes when there is
/// room).
pub fn accept_all<N: Net + ?Sized>(net: &mut N) {
    loop {
        if !net.core().can_accept() {
            *net.accept_paused() = true;
            return;
        }
        let (pending, peer) = match net.next_waiting() {
            Waiting::Ready(pending, peer) => (pending, peer),
            Waiting::Empty => {
                *net.accept_paused() = false;
                return;
            }
            Waiting::Closed => return,
        };
        let now = net.now();
        match net.core().handle_accept(now, peer) {
            Ok(id) => {
                let registered = net.adopt(id, pending);
                net.touched(Touched::Conn(id));
                if !registered {
                    let now = net.now();
                    net.core().handle_stream_error(now, id);
                    net.touched(Touched::Conn(id));
                    pump(net);
                }
            }
            Err(why) => {
                net.refuse(pending, why);
                net.touched(Touched::Nothing);
            }
        }
    }
}

/// A readiness event for `id`: an error ends it; otherwise read, then write. An event for a
/// stream the net no longer holds is ignored.
pub fn on_ready<N: Net + ?Sized>(net: &mut N, id: ConnId, readable: bool, writable: bool, error: bool) {
    if net.split(id, Lookup::Ready).1.is_none() {
        return;
    }
    let now = net.now();
    if error {
        net.core().handle_stream_error(now, id);
        net.touched(Touched::Conn(id));
    } else {
        if readable {
            stream_turn(net, now, id, Lookup::Ready, Turn::Read);
        }
        if writable {
            stream_turn(net, now, id, Lookup::Ready, Turn::Write);
        }
    }
    pump(net);
}

/// Gives connections whose last read turn ran out of budget one more turn each, after every
/// other connection has had its events handled.
pub fn read_again_once<N: Net + ?Sized>(net: &mut N) {
    let mut ids = Vec::new();
    while let Some(id) = net.core().poll_read_again() {
        ids.push(id);
    }
    for id in ids {
        let now = net.now();
        stream_turn(net, now, id, Lookup::ReadAgain, Turn::Read);
        pump(net);
    }
}

/// The end of every loop turn: act on due deadlines, carry out what they produced, then give the
/// connections that ran out of read budget their extra turn.
pub fn end_turn<N: Net + ?Sized>(net: &mut N) {
    let now = net.now();
    net.core().handle_timeout(now);
    net.touched(Touched::Timer);
    pump(net);
    read_again_once(net);
}

/// Hands one worker event to the core and carries out what it produced.
pub fn deliver<N: Net + ?Sized>(net: &mut N, event: LoopEvent) {
    let now = net.now();
    let touched = match event {
        LoopEvent::Snapshot(stamped) => {
            net.core().handle_stamped_snapshot(now, stamped);
            Touched::Snapshot
        }
        LoopEvent::Status { symbol, status } => {
            net.core().handle_producer_status(now, &symbol, status);
            Touched::Nothing
        }
        LoopEvent::QueryDone { conn, token, response } => {
            net.core().handle_query_response(now, conn, token, response);
            Touched::Conn(conn)
        }
        LoopEvent::Feed(report) => {
            net.core().handle_feed_report(now, report);
            Touched::Nothing
        }
        LoopEvent::Liquidation { symbol, message_json } => {
            net.core().handle_liquidation(now, &symbol, &message_json);
            Touched::Nothing
        }
        LoopEvent::Bus(report) => {
            net.core().handle_bus_report(now, report);
            Touched::Nothing
        }
    };
    net.touched(touched);
    pump(net);
}

/// Begins the graceful shutdown: the core closes every client (1001) within its timeout.
pub fn shutdown<N: Net + ?Sized>(net: &mut N) {
    let now = net.now();
    net.core().handle_shutdown(now);
    net.touched(Touched::Shutdown);
    pump(net);
}

/// Which core call a turn on one stream is.
#[derive(Clone, Copy)]
enum Turn {
    Read,
    Write,
}

/// Lends `id`'s stream to the core for one read (which also writes what it produced) or one
/// write, if the net still holds it.
fn stream_turn<N: Net + ?Sized>(net: &mut N, now: Now, id: ConnId, why: Lookup, turn: Turn) {
    let (core, stream) = net.split(id, why);
    let Some(stream) = stream else { return };
    match turn {
        Turn::Read => core.handle_readable(now, id, stream),
        Turn::Write => core.handle_writable(now, id, stream),
    }
    net.after_io(id);
    net.touched(Touched::Conn(id));
}

fn on_output<N: Net + ?Sized>(net: &mut N, output: Output) {
    match output {
        Output::Release(id) => net.release(id),
        Output::Query(request) if request.path == "/metrics" => {
            let now = net.now();
            let stats = net.process_stats();
            let body = net.core().render_metrics(now, stats).into_bytes().into();
            let response = QueryResponse::plain(200, "text/plain; version=0.0.4; charset=utf-8", body);
            net.core().handle_query_response(now, request.conn, request.token, response);
            net.touched(Touched::Conn(request.conn));
        }
        Output::Query(request) => {
            if let Err(request) = net.submit_query(request) {
                let now = net.now();
                let body = crate::core::http::error_body("BUSY", "the query worker is busy; retry shortly");
                let response = QueryResponse::plain(503, "application/json", body.into());
                net.core().handle_query_response(now, request.conn, request.token, response);
                net.touched(Touched::Conn(request.conn));
            }
        }
        Output::Demand(symbols) => net.set_demand(symbols),
    }
}
