//! The simulator's stand-in for the mio shell (`src/shell/mod.rs`): it turns readiness into core
//! inputs and core outputs into socket operations, in the same order the shell does — pump after
//! every input, one extra read turn for connections that hit their read budget, accepting paused
//! while the core is full and resumed once it has room. It holds no server logic.

use liquidationheatmap::core::{ConnId, Output, QueryResponse, SnapshotReady};
use rand::Rng;

use crate::events::{ConnKey, Event};
use crate::invariant::Invariant;
use crate::observe::Cause;
use crate::world::World;

/// REST answers take up to this long.
const QUERY_LATENCY_MS_MAX: u64 = 300;
/// REST answer bodies are up to this long.
const QUERY_BODY_BYTES_MAX: usize = 2000;

impl World {
    /// The live connection the core calls `id`, reporting a violation if the shell has none.
    fn live_conn(&mut self, id: ConnId, what: &str) -> Option<ConnKey> {
        match self.by_core.get(&id) {
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

    /// Carries out everything the core asked for, until it asks for nothing more.
    pub fn pump(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(id) = self.core.poll_transmit() {
                progressed = true;
                if let Some(k) = self.live_conn(id, "write to") {
                    let now = self.now;
                    self.core
                        .handle_writable(now, id, &mut self.conns[k].stream);
                    self.after_io(k);
                    self.observe(Cause::Conn(id));
                }
            }
            while let Some(output) = self.core.poll_output() {
                progressed = true;
                self.on_output(output);
            }
            if !progressed || self.violation.is_some() {
                break;
            }
        }
        if self.accept_paused && self.core.can_accept() {
            self.accept_all();
        }
    }

    /// One more read turn for each connection whose last turn ran out of budget.
    pub fn read_again_once(&mut self) {
        let mut ids = Vec::new();
        while let Some(id) = self.core.poll_read_again() {
            ids.push(id);
        }
        for id in ids {
            if let Some(k) = self.live_conn(id, "read again from") {
                let now = self.now;
                self.core
                    .handle_readable(now, id, &mut self.conns[k].stream);
                self.after_io(k);
                self.observe(Cause::Conn(id));
            }
            self.pump();
        }
    }

    pub fn accept_all(&mut self) {
        loop {
            if !self.listener_open {
                return;
            }
            if !self.core.can_accept() {
                self.accept_paused = true;
                return;
            }
            let Some(k) = self.backlog.pop_front() else {
                self.accept_paused = false;
                return;
            };
            let now = self.now;
            match self.core.handle_accept(now, World::peer_addr(k)) {
                Ok(id) => {
                    if let Some(&other) = self.by_core.get(&id) {
                        self.fail(
                            Invariant::ReleasedAndTime,
                            format!("core gave conn{k} id {id}, still held by conn{other}"),
                        );
                    }
                    self.by_core.insert(id, k);
                    let conn = &mut self.conns[k];
                    conn.core_id = Some(id);
                    conn.registered = true;
                    self.trace
                        .decision(format!("{} conn{k} accepted as {id}", now.mono.as_nanos()));
                    self.observe(Cause::Conn(id));
                    // Registering a socket reports its current readiness.
                    self.signal(k, true, true, false);
                }
                Err(refusal) => {
                    self.conns[k].refused = true;
                    self.trace.decision(format!(
                        "{} conn{k} refused {refusal:?}",
                        now.mono.as_nanos()
                    ));
                    self.observe(Cause::Nothing);
                    self.on_conn_closed(k);
                }
            }
        }
    }

    fn on_output(&mut self, output: Output) {
        match output {
            Output::Release(id) => {
                let Some(k) = self.by_core.remove(&id) else {
                    self.fail(
                        Invariant::ReleasedAndTime,
                        format!("core released connection {id}, which the shell does not hold"),
                    );
                    return;
                };
                if self.core.client_view(id).is_some() {
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
            }
            Output::Query(request) => {
                let busy = self.params.faults.query_busy;
                if !self.quiet && busy > 0.0 && self.query_rng.random_bool(busy) {
                    let now = self.now;
                    let body = br#"{"error":{"code":"BUSY","message":"simulated busy worker"}}"#[..].into();
                    let response = QueryResponse::plain(503, "application/json", body);
                    self.core
                        .handle_query_response(now, request.conn, request.token, response);
                    self.observe(Cause::Conn(request.conn));
                } else {
                    let delay = self.query_rng.random_range(1..=QUERY_LATENCY_MS_MAX);
                    let body_bytes = self.query_rng.random_range(2..=QUERY_BODY_BYTES_MAX);
                    self.schedule_ms(
                        delay,
                        Event::QueryDone {
                            conn: request.conn,
                            token: request.token,
                            body_bytes,
                        },
                    );
                }
            }
            Output::Demand(symbols) => self.trace.record(format!("demand {symbols:?}")),
        }
    }

    pub fn query_done(&mut self, id: ConnId, token: u64, body_bytes: usize) {
        let now = self.now;
        let mut body = b"{\"pad\":\"".to_vec();
        body.resize(body_bytes.max(12) - 2, b'q');
        body.extend_from_slice(b"\"}");
        let response = QueryResponse::plain(200, "application/json", body.into());
        self.core.handle_query_response(now, id, token, response);
        self.observe(Cause::Conn(id));
        self.pump();
    }

    pub fn on_ready(&mut self, k: ConnKey, readable: bool, writable: bool, error: bool) {
        let conn = &self.conns[k];
        if conn.released || !conn.registered {
            return;
        }
        let Some(id) = conn.core_id else { return };
        let now = self.now;
        if error {
            self.core.handle_stream_error(now, id);
            self.observe(Cause::Conn(id));
        } else {
            if readable {
                self.core
                    .handle_readable(now, id, &mut self.conns[k].stream);
                self.after_io(k);
                self.observe(Cause::Conn(id));
            }
            if writable && !self.conns[k].released {
                self.core
                    .handle_writable(now, id, &mut self.conns[k].stream);
                self.after_io(k);
                self.observe(Cause::Conn(id));
            }
        }
        self.pump();
    }

    /// Hands a snapshot to the core, as the shell does for the producer's events.
    pub fn deliver_snapshot(&mut self, snapshot: SnapshotReady) {
        if let Some(symbol) = self
            .params
            .symbols()
            .iter()
            .position(|s| *s == snapshot.symbol)
        {
            self.huge_latest[symbol] = snapshot.data_json.len() >= self.bounds.queue_bytes_max / 2;
        }
        self.note_owed(&snapshot);
        let now = self.now;
        self.core.handle_snapshot(now, snapshot);
        self.observe(Cause::Snapshot);
        self.pump();
    }

    /// After the core used `k`'s stream: give the client what was written, re-signal a transient
    /// `WouldBlock`, and let the client application read.
    pub fn after_io(&mut self, k: ConnKey) {
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
