//! The simulator's network, as the one driver (`liquidationheatmap::driver`, the code the mio
//! event loops in `src/shell` run) sees it: the world implements [`Net`], so the order in which
//! the core is driven — pump after every input, one extra read turn for connections that hit
//! their read budget, accepting paused while the core is full and resumed once it has room — is
//! production's own. This file only says how the simulated sockets, hand-off queues and workers
//! answer, and checks after every core call. The world has one to four loops; the `Net` speaks
//! for the current one (`World::cur`, see `world::loops`).

use liquidationheatmap::core::{AcceptError, ConnId, Core, Now, QueryRequest, QueryResponse, SnapshotReady, StampedSnapshot};
use liquidationheatmap::driver::{self, Lookup, Net, Touched, Waiting, WorkerEvent};
use rand::Rng;

use crate::events::{ConnKey, Event};
use crate::mutations::Mutations;
use crate::invariant::Invariant;
use crate::observe::Cause;
use crate::stream::SimStream;
use crate::world::World;

/// REST answers take up to this long.
const QUERY_LATENCY_MS_MAX: u64 = 300;
/// REST answer bodies are up to this long.
const QUERY_BODY_BYTES_MAX: usize = 2000;

impl World {
    /// The live connection the core calls `id`, reporting a violation if the shell has none.
    fn live_conn(&mut self, id: ConnId, what: &str) -> Option<ConnKey> {
        match self.lp().by_core.get(&id) {
            Some(&k) if !self.conns[k].released => Some(k),
            _ => {
                self.fail(
                    Invariant::ReleasedAndTime,
                    format!("core asked to {what} connection {id}, which it released or never had"),
                );
                None
            }
        }
    }

    /// A REST answer arrives from the simulated query worker, for the loop that asked (routed
    /// by the production fan-out).
    pub fn query_done(&mut self, loop_index: usize, id: ConnId, token: u64, body_bytes: usize) {
        let mut body = b"{\"pad\":\"".to_vec();
        body.resize(body_bytes.max(12) - 2, b'q');
        body.extend_from_slice(b"\"}");
        let response = QueryResponse::plain(200, "application/json", body.into());
        let event = WorkerEvent::QueryDone { loop_index, conn: id, token, response };
        self.fanout.dispatch(self.now.wall_unix_ms, event);
        self.drain_loops();
    }

    /// A readiness event for the connection `k` (ignored once it is released or if it was never
    /// registered, as a poller would).
    pub fn on_ready(&mut self, k: ConnKey, readable: bool, writable: bool, error: bool) {
        let conn = &self.conns[k];
        if conn.released || !conn.registered {
            return;
        }
        let (Some(id), Some(index)) = (conn.core_id, conn.loop_index) else { return };
        self.with_loop(index, |w| driver::on_ready(w, id, readable, writable, error));
    }

    /// A computed snapshot: over the simulated bus when the world has one, else stamped once by
    /// the production fan-out (`SnapshotFanout::publish`) and handed to every loop.
    pub fn deliver_snapshot(&mut self, snapshot: SnapshotReady) {
        if self.bus.is_some() {
            self.bus_publish(snapshot);
            return;
        }
        self.fanout.publish(self.now.wall_unix_ms, &snapshot);
        self.drain_loops();
    }

    /// A snapshot stamped elsewhere (the bus's leader), handed to every loop unchanged
    /// (`SnapshotFanout::deliver_stamped`, as the production bus hub does).
    pub fn deliver_stamped(&mut self, stamped: StampedSnapshot) {
        self.fanout.deliver_stamped(stamped);
        self.drain_loops();
    }

    pub fn symbol_index(&self, symbol: &str) -> Option<usize> {
        self.params.symbols().iter().position(|s| s == symbol)
    }

    /// After the core used `k`'s stream: give the client what was written, re-signal a transient
    /// `WouldBlock`, and let the client application read.
    pub fn after_stream_use(&mut self, k: ConnKey) {
        let fresh = std::mem::take(&mut self.conns[k].stream.fresh);
        if !fresh.is_empty() {
            self.decode(k, &fresh);
        }
        if std::mem::take(&mut self.conns[k].stream.transient_block) {
            let delay = self.fault_rng.random_range(1..=20);
            self.conns[k].stream.write_blocked = false;
            let conn = &self.conns[k];
            if conn.registered && !conn.released {
                self.schedule_ms(
                    delay,
                    Event::Ready {
                        conn: k,
                        readable: false,
                        writable: true,
                        error: false,
                    },
                );
            }
        }
        self.want_client_read(k);
    }
}

impl Net for World {
    type Stream = SimStream;
    type Pending = ConnKey;
    type Policy = Mutations;

    fn now(&mut self) -> Now {
        self.now
    }

    fn core(&mut self) -> &mut Core<Mutations> {
        &mut self.loops[self.cur].core
    }

    fn split(&mut self, id: ConnId, why: Lookup) -> (&mut Core<Mutations>, Option<&mut SimStream>) {
        let k = match why {
            Lookup::Ready => self.loops[self.cur]
                .by_core
                .get(&id)
                .copied()
                .filter(|&k| !self.conns[k].released),
            Lookup::Transmit => self.live_conn(id, "write to"),
            Lookup::ReadAgain => self.live_conn(id, "read again from"),
        };
        (&mut self.loops[self.cur].core, k.map(|k| &mut self.conns[k].stream))
    }

    fn after_io(&mut self, id: ConnId) {
        if let Some(&k) = self.lp().by_core.get(&id) {
            self.after_stream_use(k);
        }
    }

    fn touched(&mut self, what: Touched) {
        self.observe(match what {
            Touched::Conn(id) => Cause::Conn(id),
            Touched::Timer => Cause::Timer,
            Touched::Snapshot => Cause::Snapshot,
            Touched::Shutdown => Cause::Shutdown,
            Touched::Nothing => Cause::Nothing,
        });
    }

    fn halted(&self) -> bool {
        self.violation.is_some()
    }

    fn accept_paused(&mut self) -> &mut bool {
        &mut self.loops[self.cur].accept_paused
    }

    fn next_waiting(&mut self) -> Waiting<ConnKey> {
        if !self.listener_open {
            return Waiting::Closed;
        }
        match self.lp_mut().handoffs.pop_front() {
            Some(k) => Waiting::Ready(k, World::peer_addr(k)),
            None => Waiting::Empty,
        }
    }

    fn adopt(&mut self, id: ConnId, k: ConnKey) -> bool {
        if let Some(&other) = self.lp().by_core.get(&id) {
            self.fail(
                Invariant::ReleasedAndTime,
                format!("core gave conn{k} id {id}, still held by conn{other}"),
            );
        }
        self.lp_mut().by_core.insert(id, k);
        let stalled = self.params.shape.stalled_loop == Some(self.cur);
        let conn = &mut self.conns[k];
        conn.core_id = Some(id);
        conn.registered = true;
        conn.stalled = stalled;
        self.trace
            .decision(format!("{} conn{k} accepted as {id}", self.now.mono.as_nanos()));
        // Registering a socket reports its current readiness.
        self.signal(k, true, true, false);
        true
    }

    fn refuse(&mut self, k: ConnKey, why: AcceptError) {
        self.conns[k].refused = true;
        self.trace.decision(format!(
            "{} conn{k} refused {why:?}",
            self.now.mono.as_nanos()
        ));
        self.on_conn_closed(k);
        self.wake_acceptor_if_room();
    }

    fn release(&mut self, id: ConnId) {
        let Some(k) = self.lp_mut().by_core.remove(&id) else {
            self.fail(
                Invariant::ReleasedAndTime,
                format!("core released connection {id}, which the shell does not hold"),
            );
            return;
        };
        if self.lp().core.client_view(id).is_some() {
            self.fail(
                Invariant::ReleasedAndTime,
                format!("core released conn{k} (id {id}) but still holds it"),
            );
        }
        let conn = &mut self.conns[k];
        conn.released = true;
        conn.core_gone = true;
        conn.owed.clear();
        self.trace
            .decision(format!("{} conn{k} released", self.now.mono.as_nanos()));
        self.on_conn_closed(k);
        self.wake_acceptor_if_room();
    }

    fn submit_query(&mut self, request: QueryRequest) -> Result<(), QueryRequest> {
        let busy = self.params.faults.query_busy;
        if !self.quiet && busy > 0.0 && self.query_rng.random_bool(busy) {
            return Err(request);
        }
        let delay = self.query_rng.random_range(1..=QUERY_LATENCY_MS_MAX);
        let body_bytes = self.query_rng.random_range(2..=QUERY_BODY_BYTES_MAX);
        self.schedule_ms(
            delay,
            Event::QueryDone {
                loop_index: self.cur,
                conn: request.conn,
                token: request.token,
                body_bytes,
            },
        );
        Ok(())
    }

    fn set_demand(&mut self, symbols: Vec<String>) {
        self.trace.record(format!("demand {symbols:?}"));
    }
}
