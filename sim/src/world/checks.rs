//! The invariant checks of `crate::observe`, run against the world after every core call, byte
//! and event.

use liquidationheatmap::core::{DisconnectReason, PhaseView, StampedSnapshot};
use serde_json::Value;

use crate::events::{ConnKey, Event};
use crate::invariant::Invariant;
use crate::params::ShutdownPlan;
use crate::wire::Decoded;
use super::{Deadline, World};
use crate::observe::{Cause, CLOSE_FRAME_BYTES_MAX, HTTP_RESPONSE_ENTRIES_MAX};

impl World {
    fn is_fast(&self, k: ConnKey) -> bool {
        let conn = &self.conns[k];
        self.clients[conn.client].kind.well_behaved() && !conn.stream.ever_blocked
    }

    /// Checks the current loop's core's views after one call.
    pub fn observe(&mut self, cause: Cause) {
        let mono = self.now.mono;
        let lp = &self.loops[self.cur];
        let views: Vec<_> = lp.core.client_views().collect();
        for (id, view) in views {
            let Some(&k) = self.loops[self.cur].by_core.get(&id) else {
                self.fail(Invariant::ReleasedAndTime, format!("core holds connection {id}, which the shell never accepted or already released"));
                continue;
            };
            let fast = self.is_fast(k);
            let b = self.bounds.clone();
            match (&view.phase, view.closing) {
                (PhaseView::WebSocket { subscriptions, .. }, None) => {
                    if view.queued_bytes > b.queue_bytes_max {
                        self.fail(
                            Invariant::Bounds,
                            format!(
                                "conn{k} queues {} bytes, bound {}",
                                view.queued_bytes, b.queue_bytes_max
                            ),
                        );
                    }
                    // One latest snapshot per subscribed symbol is always allowed (conflation).
                    let messages_max = b
                        .queue_messages_max
                        .max(subscriptions.count_ones() as usize);
                    if view.queued_snapshots > messages_max {
                        self.fail(
                            Invariant::Bounds,
                            format!(
                                "conn{k} queues {} snapshots, bound {messages_max}",
                                view.queued_snapshots
                            ),
                        );
                    }
                }
                (PhaseView::WebSocket { .. }, Some(_)) => {
                    if view.queued_bytes > b.queue_bytes_max + CLOSE_FRAME_BYTES_MAX {
                        self.fail(
                            Invariant::Bounds,
                            format!(
                                "closing conn{k} queues {} bytes, bound {} plus a close frame",
                                view.queued_bytes, b.queue_bytes_max
                            ),
                        );
                    }
                }
                (PhaseView::Http, _) => {
                    // One response at a time (its head and body): a request is read only once
                    // the previous answer is out, however many the client pipelines.
                    if view.queued_entries > HTTP_RESPONSE_ENTRIES_MAX {
                        self.fail(
                            Invariant::Bounds,
                            format!(
                                "HTTP conn{k} queues {} entries, more than one response",
                                view.queued_entries
                            ),
                        );
                    }
                }
            }
            let warned = matches!(view.phase, PhaseView::WebSocket { warned: true, .. });
            if warned && self.conns[k].warned_at.is_none() {
                self.conns[k].warned_at = Some(mono);
                self.trace
                    .decision(format!("{} conn{k} warned", mono.as_nanos()));
                if fast {
                    self.fail(Invariant::SlowConsumer, format!("conn{k} keeps up (its socket never pushed back) but was warned as a slow consumer"));
                }
            } else if !warned {
                self.conns[k].warned_at = None;
            }
            if let Some(reason) = view.closing {
                if self.conns[k].closing_at.is_none() {
                    self.conns[k].closing_at = Some((mono, reason));
                    self.trace
                        .decision(format!("{} conn{k} closing {reason:?}", mono.as_nanos()));
                    self.check_closing(k, id, reason, cause, fast);
                }
            }
            let conn = &mut self.conns[k];
            if view.write_progress_at < conn.write_progress_at
                || view.write_progress_at > self.clocks.mono_max
            {
                let (seen, before, max) = (
                    view.write_progress_at,
                    conn.write_progress_at,
                    self.clocks.mono_max,
                );
                self.fail(Invariant::ReleasedAndTime, format!("conn{k} write progress time went from {before:?} to {seen:?} (newest time handed in {max:?}): core time ran backwards"));
            } else {
                conn.write_progress_at = view.write_progress_at;
            }
        }
        let lp = &self.loops[self.cur];
        let gone: Vec<(usize, ConnKey)> = lp
            .by_core
            .iter()
            .filter(|&(&id, &k)| !self.conns[k].core_gone && lp.core.client_view(id).is_none())
            .map(|(&id, &k)| (id, k))
            .collect();
        for (id, k) in gone {
            self.conns[k].core_gone = true;
            if matches!(cause, Cause::Conn(c) if c != id) || cause == Cause::Nothing {
                self.fail(
                    Invariant::Isolation,
                    format!("conn{k} (id {id}) was dropped by a call about {cause:?}"),
                );
            }
        }
    }

    fn check_closing(
        &mut self,
        k: ConnKey,
        id: usize,
        reason: DisconnectReason,
        cause: Cause,
        fast: bool,
    ) {
        if matches!(cause, Cause::Conn(c) if c != id) || cause == Cause::Nothing {
            self.fail(
                Invariant::Isolation,
                format!("conn{k} (id {id}) began closing ({reason:?}) in a call about {cause:?}"),
            );
        }
        if reason != DisconnectReason::SlowConsumer {
            return;
        }
        // A snapshot near or over the byte bound closes every subscriber; that is the bound working.
        let huge = self.lp().huge_latest.iter().any(|&h| h);
        if fast && !huge {
            self.fail(Invariant::SlowConsumer, format!("conn{k} keeps up (its socket never pushed back) but is closed as a slow consumer"));
        }
        if cause == Cause::Timer {
            let grace = self.bounds.slow_consumer_grace_ms;
            match self.conns[k].warned_at {
                None => self.fail(Invariant::SlowConsumer, format!("conn{k} closed as a slow consumer without a SLOW_CONSUMER warning")),
                Some(warned) if self.now.mono < warned.plus_ms(grace) => self.fail(
                    Invariant::SlowConsumer,
                    format!("conn{k} closed as a slow consumer {} ms after its warning, grace is {grace} ms", self.now.mono.since(warned).as_millis()),
                ),
                Some(_) => {}
            }
        }
    }

    /// Before a snapshot goes to the loops: every client (of any loop) that keeps up and is
    /// subscribed (by the acks on its wire) with nothing in flight is owed this snapshot, and
    /// must have it within [`World::handoff_deadline_ns`].
    pub fn note_owed(&mut self, snapshot: &StampedSnapshot) {
        let Some(symbol) = self.symbol_index(&snapshot.symbol) else {
            return;
        };
        let Some(n) = sim_n_of(&snapshot.message) else {
            return;
        };
        let due_ns = self.handoff_deadline_ns();
        for k in 0..self.conns.len() {
            let fast = self.is_fast(k);
            let conn = &mut self.conns[k];
            let settled = conn.stream.inbound.is_empty() && conn.arrivals_pending == 0;
            let open = !conn.released
                && !conn.core_gone
                && conn.closing_at.is_none()
                && conn.decoder.close_code.is_none();
            if fast && settled && open && conn.wire_subs.contains(&symbol) {
                conn.owed.entry(symbol).or_default().insert(n);
                self.deadlines.insert((k, symbol, n), Deadline { due_ns, handed_ns: self.now_ns });
            }
        }
    }

    /// Decodes what the server just wrote to `k` and checks it.
    pub fn decode(&mut self, k: ConnKey, bytes: &[u8]) {
        let decoded = match self.conns[k].decoder.feed(bytes) {
            Ok(decoded) => decoded,
            Err(e) if e.starts_with("after close") => {
                self.fail(
                    Invariant::Shutdown,
                    format!("conn{k}: nothing may follow a close frame: {e}"),
                );
                return;
            }
            Err(e) => {
                self.fail(Invariant::Wire, format!("conn{k}: {e}"));
                return;
            }
        };
        for item in decoded {
            match item {
                Decoded::Http { status } => self.on_http_response(k, status),
                Decoded::Json(value, hash) => self.on_json(k, &value, hash),
                Decoded::OtherFrame(kind) => {
                    if kind != "pong" {
                        self.fail(
                            Invariant::Wire,
                            format!("conn{k}: unexpected {kind} frame from the server"),
                        );
                    }
                    self.conns[k].replies_since_resync += 1;
                }
                Decoded::Close(code) => self.on_close_frame(k, code),
            }
        }
    }

    fn on_json(&mut self, k: ConnKey, value: &Value, hash: u64) {
        let kind = value["type"].as_str().unwrap_or("");
        if kind != "snapshot" {
            self.conns[k].replies_since_resync += 1;
        }
        let symbols_of = |value: &Value, all: &[String]| -> Vec<usize> {
            value["symbols"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str())
                        .filter_map(|s| all.iter().position(|x| x == s))
                        .collect()
                })
                .unwrap_or_default()
        };
        match kind {
            "snapshot" => self.on_snapshot(k, value, hash),
            "subscribed" => {
                let subs = symbols_of(value, self.params.symbols());
                self.conns[k].wire_subs = subs.into_iter().collect();
            }
            "unsubscribed" => {
                for symbol in symbols_of(value, self.params.symbols()) {
                    let conn = &mut self.conns[k];
                    conn.wire_subs.remove(&symbol);
                    conn.last_snapshot.remove(&symbol);
                    conn.owed.remove(&symbol);
                }
            }
            "pong" | "error" | "warning" => {}
            other => self.fail(
                Invariant::Wire,
                format!("conn{k}: unknown message type {other:?}"),
            ),
        }
    }

    fn on_snapshot(&mut self, k: ConnKey, value: &Value, hash: u64) {
        let symbols = self.params.symbols().to_vec();
        let Some(symbol) = value["symbol"]
            .as_str()
            .and_then(|s| symbols.iter().position(|x| x == s))
        else {
            self.fail(
                Invariant::Wire,
                format!(
                    "conn{k}: snapshot of an unknown symbol: {:.200}",
                    value.to_string()
                ),
            );
            return;
        };
        let (Some(n), Some(seq), Some(epoch)) = (
            value["data"]["sim_n"].as_u64(),
            value["seq"].as_u64(),
            value["epoch"].as_str(),
        ) else {
            self.fail(
                Invariant::Wire,
                format!("conn{k}: snapshot without sim_n, seq or epoch"),
            );
            return;
        };
        // One stamping per snapshot: every client of every loop gets the same bytes for it.
        match self.snapshot_bytes.get(&(symbol, epoch.to_string(), seq)) {
            Some(&first) if first != hash => {
                let loop_index = self.conns[k].loop_index;
                self.fail(
                    Invariant::Ordering,
                    format!("conn{k} (loop {loop_index:?}) received other bytes for {} epoch {epoch:?} seq {seq} than an earlier client", symbols[symbol]),
                );
                return;
            }
            Some(_) => {}
            None => {
                self.snapshot_bytes.insert((symbol, epoch.to_string(), seq), hash);
            }
        }
        let Some(published) = self.producer.published.get(n as usize).copied() else {
            self.fail(
                Invariant::Wire,
                format!("conn{k}: snapshot {n} was never published"),
            );
            return;
        };
        if published.symbol != symbol {
            self.fail(
                Invariant::Ordering,
                format!("conn{k}: snapshot {n} carries the wrong symbol"),
            );
        }
        if seq != published.expected_seq {
            self.fail(
                Invariant::Ordering,
                format!(
                    "conn{k}: snapshot {n} has seq {seq}, expected {}",
                    published.expected_seq
                ),
            );
        }
        match self.epoch_of_generation.get(&published.generation) {
            Some(known) if known != epoch => {
                self.fail(
                    Invariant::Ordering,
                    format!(
                        "conn{k}: generation {} had epoch {known:?}, now {epoch:?}",
                        published.generation
                    ),
                );
            }
            Some(_) => {}
            None => {
                if let Some(other) = self.generation_of_epoch.get(epoch) {
                    self.fail(
                        Invariant::Ordering,
                        format!(
                            "conn{k}: epoch {epoch:?} reused for generations {other} and {}",
                            published.generation
                        ),
                    );
                }
                self.epoch_of_generation
                    .insert(published.generation, epoch.to_string());
                self.generation_of_epoch
                    .insert(epoch.to_string(), published.generation);
            }
        }
        let conn = &mut self.conns[k];
        if !conn.wire_subs.contains(&symbol) {
            let name = &symbols[symbol];
            self.fail(
                Invariant::Ordering,
                format!("conn{k}: snapshot of {name} while not subscribed to it"),
            );
            return;
        }
        if let Some(&(generation, last_seq, last_n)) = conn.last_snapshot.get(&symbol) {
            if generation == published.generation && seq <= last_seq {
                self.fail(Invariant::Ordering, format!("conn{k}: seq {seq} after seq {last_seq} in the same epoch (duplicate or reordered)"));
                return;
            }
            if n <= last_n {
                self.fail(
                    Invariant::Ordering,
                    format!("conn{k}: snapshot {n} after snapshot {last_n} (reordered)"),
                );
                return;
            }
        }
        conn.last_snapshot
            .insert(symbol, (published.generation, seq, n));
        self.check_handoff_delay(k, symbol, n);
        let conn = &mut self.conns[k];
        if conn.stream.ever_blocked {
            // It fell behind after the snapshot was published: conflation may have replaced it.
            conn.owed.clear();
        }
        if let Some(owed) = conn.owed.get_mut(&symbol) {
            let missed: Vec<u64> = owed.range(..n).copied().collect();
            owed.retain(|&o| o > n);
            if let Some(first) = missed.first() {
                let name = &symbols[symbol];
                self.fail(
                    Invariant::Ordering,
                    format!("conn{k} kept up but missed {name} snapshot {first} (received {n})"),
                );
            }
        }
    }

    fn on_close_frame(&mut self, k: ConnKey, code: Option<u16>) {
        let conn = &mut self.conns[k];
        conn.owed.clear();
        if conn.open_at_shutdown && !conn.closing_at_shutdown && code != Some(1001) {
            self.fail(
                Invariant::Shutdown,
                format!("conn{k} was open at shutdown but got close code {code:?}, not 1001"),
            );
        }
        self.on_server_close(k);
    }

    /// Checks that hold between events. The connection limits bound the process: the sum over
    /// every loop's core.
    pub fn check_global(&mut self) {
        let mono = self.now.mono;
        let b = self.bounds.clone();
        let ws: usize = self.loops.iter().map(|l| l.core.ws_connections()).sum();
        let all: usize = self.loops.iter().map(|l| l.core.connections()).sum();
        let per_loop: Vec<usize> = self.loops.iter().map(|l| l.core.connections()).collect();
        if ws > b.ws_connections_max {
            self.fail(
                Invariant::Bounds,
                format!("{ws} WebSockets open in the process (per loop {per_loop:?}), limit {}", b.ws_connections_max),
            );
        }
        let http = all - ws;
        if http > b.http_connections_max {
            self.fail(
                Invariant::Bounds,
                format!("{http} HTTP connections open in the process (per loop {per_loop:?}), limit {}", b.http_connections_max),
            );
        }
        if (self.ledger.ws_open(), self.ledger.http_open(), self.ledger.per_loop_open()) != (ws, http, per_loop.clone()) {
            self.fail(
                Invariant::Bounds,
                format!(
                    "the shared ledger counts {} WebSockets, {} HTTP, per loop {:?}; the cores hold {ws}, {http}, {per_loop:?}",
                    self.ledger.ws_open(),
                    self.ledger.http_open(),
                    self.ledger.per_loop_open()
                ),
            );
        }
        for index in 0..self.loops.len() {
            let core = &self.loops[index].core;
            let total_bound = core.connections() * (b.queue_bytes_max + CLOSE_FRAME_BYTES_MAX);
            let queued = core.queued_bytes_total();
            if queued > total_bound {
                self.fail(Invariant::Bounds, format!("loop {index}: {queued} bytes queued in total, bound {total_bound}"));
            }
            let core = &self.loops[index].core;
            if core.clock_regressions != self.clocks.regressions_handed {
                let counted = core.clock_regressions;
                self.fail(
                    Invariant::ReleasedAndTime,
                    format!("core of loop {index} counted {counted} clock regressions, {} were handed in: its time ran away from the monotonic clock", self.clocks.regressions_handed),
                );
            }
            let lp = &self.loops[index];
            if lp.core.connections() != lp.by_core.len() {
                let (core, shell) = (lp.core.connections(), lp.by_core.len());
                self.fail(Invariant::ReleasedAndTime, format!("core of loop {index} holds {core} connections, the shell {shell}"));
            }
        }
        for k in 0..self.conns.len() {
            let conn = &self.conns[k];
            if let Some((at, reason)) = conn.closing_at {
                if !conn.released && mono > at.plus_ms(b.close_timeout_ms) {
                    self.fail(Invariant::SlowConsumer, format!("conn{k} closing ({reason:?}) since {} ms is not released after the {} ms close timeout", at.as_millis(), b.close_timeout_ms));
                }
            }
        }
        if let Some(at) = self.shutdown_at {
            if mono > at.plus_ms(b.shutdown_timeout_ms) {
                if let Some(k) = (0..self.conns.len())
                    .find(|&k| self.conns[k].open_at_shutdown && !self.conns[k].released)
                {
                    self.fail(
                        Invariant::Shutdown,
                        format!(
                            "conn{k} still held {} ms after shutdown, timeout {} ms",
                            mono.since(at).as_millis(),
                            b.shutdown_timeout_ms
                        ),
                    );
                } else if let Some(index) = (0..self.loops.len()).find(|&i| !self.loops[i].core.is_finished()) {
                    self.fail(
                        Invariant::Shutdown,
                        format!(
                            "shutdown timeout passed with {} connections left on loop {index}",
                            self.loops[index].core.connections()
                        ),
                    );
                }
            }
        }
    }

    /// Faults stopped a while ago: every client must have converged.
    pub fn liveness_check(&mut self) {
        for k in 0..self.conns.len() {
            let conn = &self.conns[k];
            let (Some(id), Some(index)) = (conn.core_id, conn.loop_index) else { continue };
            if conn.released
                || conn.core_gone
                || conn.closing_at.is_some()
                || conn.decoder.close_code.is_some()
            {
                continue;
            }
            let Some(view) = self.loops[index].core.client_view(id) else {
                continue;
            };
            if view.queued_bytes > 0 {
                self.fail(
                    Invariant::Liveness,
                    format!(
                        "conn{k} still has {} bytes queued after faults stopped",
                        view.queued_bytes
                    ),
                );
                return;
            }
            if !conn.stream.inbound.is_empty() {
                self.fail(Invariant::Liveness, format!("core left {} bytes of conn{k} unread after faults stopped (a stalled socket)", conn.stream.inbound.len()));
                return;
            }
            if conn.resync_sent && conn.replies_since_resync == 0 {
                self.fail(
                    Invariant::Liveness,
                    format!("conn{k} got no answer to the request it sent after faults stopped"),
                );
                return;
            }
            if let PhaseView::WebSocket { subscriptions, .. } = view.phase {
                let core_subs: Vec<usize> = (0..self.params.symbols().len())
                    .filter(|i| subscriptions & (1 << i) != 0)
                    .collect();
                let wire_subs: Vec<usize> = conn.wire_subs.iter().copied().collect();
                if conn.resync_sent && core_subs != wire_subs {
                    self.fail(Invariant::Liveness, format!("conn{k}: acks on the wire say subscribed to {wire_subs:?}, the core says {core_subs:?}"));
                    return;
                }
                for &symbol in &wire_subs {
                    let latest = self.final_n[symbol];
                    let got = conn.last_snapshot.get(&symbol).map(|&(_, _, n)| n);
                    if latest.is_some() && got != latest {
                        self.fail(Invariant::Liveness, format!("conn{k} did not converge on symbol {symbol}: has snapshot {got:?}, latest is {latest:?}"));
                        return;
                    }
                }
            }
            let owed = conn
                .owed
                .iter()
                .find(|(_, o)| !o.is_empty())
                .filter(|_| !conn.stream.ever_blocked);
            if let Some((symbol, owed)) = owed {
                self.fail(
                    Invariant::Ordering,
                    format!(
                        "conn{k} kept up but never received symbol {symbol} snapshots {owed:?}"
                    ),
                );
                return;
            }
        }
        if self.loops.iter().any(|l| l.core.queued_bytes_total() > 0 && l.core.connections() == 0) {
            self.fail(
                Invariant::Liveness,
                "bytes queued with no connection".into(),
            );
        }
        match self.params.shutdown {
            ShutdownPlan::AfterLiveness => self.schedule_ms(10, Event::Shutdown),
            _ => self.schedule_ms(1, Event::End),
        }
    }
}

impl World {
    /// A client that keeps up receives every snapshot owed to it within the bound of its
    /// hand-off, whatever the other loops' clients do (`Shape::stalled_loop` stalls every client
    /// of one loop): one loop's clients never delay another's. (A snapshot that never comes is
    /// invariant 2's "missed".)
    fn check_handoff_delay(&mut self, k: ConnKey, symbol: usize, n: u64) {
        let owed: Vec<((ConnKey, usize, u64), Deadline)> =
            self.deadlines.range((k, symbol, 0)..=(k, symbol, n)).map(|(key, d)| (*key, *d)).collect();
        for (key, d) in owed {
            self.deadlines.remove(&key);
            let conn = &self.conns[k];
            if key.2 == n && self.now_ns > d.due_ns && !conn.stream.ever_blocked {
                let stalled = self.params.shape.stalled_loop;
                self.fail(
                    Invariant::Isolation,
                    format!(
                        "conn{k} (loop {:?}) keeps up but got snapshot {n} {} ms after its hand-off, bound {} ms (stalled loop {stalled:?})",
                        conn.loop_index,
                        (self.now_ns - d.handed_ns) / crate::world::NS_PER_MS,
                        (d.due_ns - d.handed_ns) / crate::world::NS_PER_MS
                    ),
                );
            }
        }
    }
}

/// The simulator's own number of a snapshot (`sim_n` in its data, see `crate::producer`).
pub fn sim_n_of(message: &str) -> Option<u64> {
    let at = message.find("\"sim_n\":")? + "\"sim_n\":".len();
    let digits: String = message[at..].chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}
