//! Writing, timeouts, closing and removing connections, and shutdown.

use std::io::{self, IoSlice, Write};

use log::{info, warn};

use super::client::{Closing, Phase};
use super::frame;
use super::io::write_vectored_retrying;
use super::limits::CONTROL_MESSAGES_MAX;
use super::protocol::{self, close_code};
use super::queue::{Chunk, EntryKind};
use super::stats::DisconnectReason;
use super::time::Now;
use super::{ConnId, Core, MutationPolicy};

/// Slices handed to one vectored write.
const WRITE_SLICES_MAX: usize = 16;

/// Room the byte bound keeps for the one SLOW_CONSUMER warning of an episode, which is queued
/// without a bound check: without it the warning pushed a full queue past its bound (found by the
/// simulator, sim/seeds.txt).
pub(super) const WARNING_FRAME_BYTES_MAX: usize = 320;

/// What a close does with queued entries that have not started going out.
#[derive(Clone, Copy)]
enum Unsent {
    Dropped,
    RepliesKept,
}

impl<M: MutationPolicy> Core<M> {
    /// Writes queued bytes of `id` until the stream would block or the queue is empty.
    pub(super) fn write_queued<S: Write>(&mut self, now: Now, id: ConnId, stream: &mut S) {
        loop {
            let Some(client) = self.clients.get_mut(id) else { return };
            if client.out.is_empty() {
                break;
            }
            let mut slices = [IoSlice::new(&[]); WRITE_SLICES_MAX];
            let filled = client.out.fill_slices(&mut slices);
            match write_vectored_retrying(stream, &slices[..filled]) {
                Ok(0) => {
                    // A stream that takes nothing without saying WouldBlock is gone.
                    self.remove(now, id, DisconnectReason::PeerGone);
                    return;
                }
                Ok(written) => {
                    let Core { clients, symbols, stats, metrics, ledger, .. } = self;
                    let client = &mut clients[id];
                    client.write_progress_at = now.mono;
                    match &mut client.phase {
                        // Bytes moved: the slow-consumer episode, if any, is over.
                        Phase::WebSocket(ws) => ws.warned_at = None,
                        Phase::Http(http) => {
                            if let Some(response) = &mut http.response {
                                response.bytes_sent += written;
                            }
                        }
                    }
                    client.out.advance(written, |kind, chunk| {
                        if let Chunk::Answer(answer) = chunk {
                            ledger.release_answer(answer);
                        }
                        let bytes = chunk.len();
                        if let EntryKind::Snapshot { symbol, seq } = kind {
                            let state = &mut symbols[symbol];
                            state.messages_sent_total += 1;
                            state.bytes_sent_total += bytes as u64;
                            stats.messages_sent_window.add(now.mono, 1);
                            let handles = &metrics.symbols[symbol];
                            handles.messages_sent.inc();
                            handles.bytes_sent.inc_by(bytes as u64);
                            if let Some(duration) = state.broadcast.delivered(seq, now.mono) {
                                handles.broadcast_seconds.observe(duration.as_secs_f64());
                            }
                        }
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.remove(now, id, DisconnectReason::PeerGone);
                    return;
                }
            }
        }
        self.after_flush(now, id);
        self.reschedule(id);
    }

    /// Acts on a queue that has just been emptied: logs the HTTP response that is now out, then
    /// releases a connection that was only waiting for that, or lets an HTTP connection go on to
    /// its next request.
    fn after_flush(&mut self, now: Now, id: ConnId) {
        let Some(client) = self.clients.get(id) else { return };
        if !client.out.is_empty() {
            return;
        }
        self.log_http_outcome(now, id, "complete", false);
        let Some(client) = self.clients.get(id) else { return };
        if let Some(reason) = client.release_when_flushed {
            self.remove(now, id, reason);
        } else if let Some(closing) = client.closing {
            // Our close frame is out; once the peer has closed too there is nothing left to wait for.
            if closing.peer_done {
                self.remove(now, id, closing.reason);
            }
        } else if !client.is_websocket() {
            self.resume_http(now, id);
        }
    }

    /// Queues a WebSocket reply for `id`. A client that lets replies pile up is a slow consumer.
    pub(super) fn push_reply(&mut self, now: Now, id: ConnId, text: &str) {
        self.push_raw_reply(now, id, frame::text_frame(text.as_bytes()));
    }

    /// Queues an already framed reply (tungstenite's automatic pong/close replies, echoes) for `id`.
    pub(super) fn push_raw_reply(&mut self, now: Now, id: ConnId, bytes: Vec<u8>) {
        let Some(client) = self.clients.get_mut(id) else { return };
        if bytes.is_empty() || client.closing.is_some() {
            return;
        }
        if client.out.unsent_replies() >= CONTROL_MESSAGES_MAX {
            self.begin_close(now, id, close_code::SLOW_CONSUMER, "slow consumer: replies not read", DisconnectReason::SlowConsumer);
            return;
        }
        let was_empty = client.out.is_empty();
        client.out.push_reply(Chunk::Owned(bytes.into_boxed_slice()));
        if was_empty {
            client.write_progress_at = now.mono;
        }
        self.enforce_byte_bound(now, id);
        self.want_transmit(id);
    }

    /// Closes WebSocket `id` as a slow consumer if its queue is over the byte bound. (An HTTP
    /// connection is bounded by holding one response at a time, see `respond`.)
    pub(super) fn enforce_byte_bound(&mut self, now: Now, id: ConnId) -> bool {
        let Some(client) = self.clients.get(id) else { return false };
        if !client.is_websocket() {
            return true;
        }
        // Kept at all times: an episode can end with the queue still full, and the next
        // warning must fit too.
        if client.closing.is_some() || client.out.bytes_queued() + WARNING_FRAME_BYTES_MAX <= self.config.queue_bytes_max {
            return true;
        }
        if self.mutations.ignore_queue_byte_bound() {
            return true;
        }
        self.begin_close(now, id, close_code::SLOW_CONSUMER, "slow consumer: queue over its byte bound", DisconnectReason::SlowConsumer);
        false
    }

    /// Starts closing WebSocket `id`: drops what it has not started receiving, queues a close
    /// frame, and gives it `close_timeout_ms` to take it before the socket is dropped.
    pub(super) fn begin_close(&mut self, now: Now, id: ConnId, code: u16, reason: &str, why: DisconnectReason) {
        self.close_dropping(now, id, code, reason, why, Unsent::Dropped);
    }

    /// Like [`Core::begin_close`], but the replies already owed for messages that arrived before
    /// the cause of the close (echoes, `subscribed`, `pong`, errors) go out ahead of the close
    /// frame; only unsent snapshots are dropped. For a client that broke the protocol after
    /// valid messages: it is reading, and Autobahn 3.2, 4.1.3, 5.15 expect those answers.
    pub(super) fn close_after_replies(&mut self, now: Now, id: ConnId, code: u16, reason: &str, why: DisconnectReason) {
        self.close_dropping(now, id, code, reason, why, Unsent::RepliesKept);
    }

    fn close_dropping(&mut self, now: Now, id: ConnId, code: u16, reason: &str, why: DisconnectReason, unsent: Unsent) {
        let close_timeout_ms = if self.mutations.ignore_close_deadline() { u64::MAX } else { self.config.close_timeout_ms };
        let Some(client) = self.clients.get_mut(id) else { return };
        if client.closing.is_some() {
            return;
        }
        if !client.is_websocket() {
            self.remove(now, id, why);
            return;
        }
        let dropped = match unsent {
            Unsent::Dropped => client.out.discard_unsent(),
            Unsent::RepliesKept => client.out.discard_unsent_snapshots(),
        } as u64;
        if let Some(ws) = client.ws_mut() {
            ws.dropped_messages += dropped;
        }
        let was_empty = client.out.is_empty();
        client.out.push_close(Chunk::Owned(frame::close_frame(code, reason).into_boxed_slice()));
        if was_empty {
            client.write_progress_at = now.mono;
        }
        client.closing = Some(Closing {
            reason: why,
            deadline: now.mono.plus_ms(close_timeout_ms),
            peer_done: false,
        });
        if why == DisconnectReason::SlowConsumer {
            warn!(
                "event=slow_consumer action=close peer={} client={} conn={} code={} dropped_messages={} active={}",
                client.peer,
                client.address,
                id,
                code,
                client.ws().map_or(0, |w| w.dropped_messages),
                self.ledger.ws_open()
            );
        }
        self.unsubscribe_all(id);
        self.want_transmit(id);
        self.reschedule(id);
    }

    /// Forgets `id` and tells the caller to release its socket.
    pub(super) fn remove(&mut self, now: Now, id: ConnId, reason: DisconnectReason) {
        if !self.clients.contains(id) {
            return;
        }
        self.unsubscribe_all(id);
        self.log_http_outcome(now, id, reason.as_str(), true);
        let client = self.clients.remove(id);
        if let Some(held) = client.held {
            self.ledger.release_address(held);
        }
        if let Some(at) = client.deadline {
            self.timers.remove(&(at, id));
        }
        for chunk in client.out.chunks() {
            if let Chunk::Answer(answer) = chunk {
                self.ledger.release_answer(answer);
            }
        }
        match &client.phase {
            Phase::Http(http) => {
                self.http_connections -= 1;
                self.ledger.close(self.loop_index, false);
                if http.awaiting_query.is_some() {
                    self.ledger.end_query();
                }
            }
            Phase::WebSocket(_) => {
                self.ws_connections -= 1;
                self.ledger.close(self.loop_index, true);
                let reason = client.closing.map_or(reason, |c| c.reason);
                *self.stats.disconnects_total.entry(reason).or_insert(0) += 1;
                self.metrics.disconnected(reason);
                info!(
                    "event=ws_disconnect peer={} client={} conn={} reason={} active={}",
                    client.peer,
                    client.address,
                    id,
                    reason.as_str(),
                    self.ledger.ws_open()
                );
            }
        }
        self.outputs.push_back(super::Output::Release(id));
    }

    /// A client's deadline is due: decide what it means.
    pub(super) fn on_deadline(&mut self, now: Now, id: ConnId) {
        let config = &self.config;
        let Some(client) = self.clients.get_mut(id) else { return };
        if let Some(closing) = client.closing {
            if now.mono >= closing.deadline {
                let reason = if client.out.is_empty() { closing.reason } else { DisconnectReason::CloseTimeout };
                self.remove(now, id, reason);
                return;
            }
        } else {
            let stalled_since = (!client.out.is_empty()).then_some(client.write_progress_at);
            match &mut client.phase {
                Phase::Http(http) => {
                    let timed_out = match stalled_since {
                        Some(since) => now.mono >= since.plus_ms(config.http_request_timeout_ms),
                        None => {
                            http.awaiting_query.is_none()
                                && now.mono >= http.ready_since.plus_ms(config.http_request_timeout_ms)
                        }
                    };
                    if timed_out {
                        self.remove(now, id, DisconnectReason::HttpTimeout);
                        return;
                    }
                }
                Phase::WebSocket(ws) => {
                    if now.mono >= ws.last_received.plus_ms(config.idle_timeout_ms) {
                        self.begin_close(now, id, close_code::IDLE_TIMEOUT, "idle timeout", DisconnectReason::IdleTimeout);
                        return;
                    }
                    if let Some(since) = stalled_since {
                        match ws.warned_at {
                            Some(warned) if now.mono >= warned.plus_ms(config.slow_consumer_grace_ms) => {
                                self.begin_close(now, id, close_code::SLOW_CONSUMER, "slow consumer", DisconnectReason::SlowConsumer);
                                return;
                            }
                            None if now.mono >= since.plus_ms(config.slow_consumer_timeout_ms) => {
                                if self.mutations.close_slow_consumer_without_warning() {
                                    self.begin_close(now, id, close_code::SLOW_CONSUMER, "slow consumer", DisconnectReason::SlowConsumer);
                                    return;
                                }
                                self.warn_slow_consumer(now, id);
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        self.reschedule(id);
    }

    /// Queues the one SLOW_CONSUMER warning of this episode, ahead of the backlog.
    fn warn_slow_consumer(&mut self, now: Now, id: ConnId) {
        let grace_ms = self.config.slow_consumer_grace_ms;
        let Some(client) = self.clients.get_mut(id) else { return };
        let (peer, address) = (client.peer, client.address);
        let Some(ws) = client.ws_mut() else { return };
        ws.warned_at = Some(now.mono);
        let dropped = ws.dropped_messages;
        let subscriptions = ws.subscriptions;
        // A client that has not read the previous episode's warning yet reads that one first; a
        // second would only stack up (one per episode, beyond the room the byte bound keeps).
        if !client.out.has_warning() {
            let text = protocol::slow_consumer_warning(dropped, grace_ms);
            client.out.push_warning_first(Chunk::Owned(frame::text_frame(text.as_bytes()).into_boxed_slice()));
        }
        self.stats.slow_consumer_episodes_total += 1;
        for (index, state) in self.symbols.iter_mut().enumerate() {
            if subscriptions & (1 << index) != 0 {
                state.slow_consumers_total += 1;
                self.metrics.symbols[index].slow_consumers.inc();
            }
        }
        warn!(
            "event=slow_consumer action=warn peer={peer} client={address} conn={id} dropped_messages={dropped} active={}",
            self.ledger.ws_open()
        );
        self.want_transmit(id);
    }

    /// Begins graceful shutdown: WebSockets get close 1001, idle HTTP connections are released,
    /// busy ones after their response. Whatever remains at the deadline is dropped.
    pub fn handle_shutdown(&mut self, now: Now) {
        let now = self.advance_clock(now);
        if self.shutdown_deadline.is_some() {
            return;
        }
        self.shutdown_deadline = Some(now.mono.plus_ms(self.config.shutdown_timeout_ms));
        let ids: Vec<ConnId> = self.clients.iter().map(|(id, _)| id).collect();
        for id in ids {
            let Some(client) = self.clients.get_mut(id) else { continue };
            match &client.phase {
                Phase::WebSocket(_) => {
                    self.begin_close(now, id, close_code::GOING_AWAY, "server shutting down", DisconnectReason::Shutdown);
                    if let Some(closing) = self.clients.get_mut(id).and_then(|c| c.closing.as_mut()) {
                        // Do not wait for the peer's close reply on shutdown.
                        closing.peer_done = true;
                    }
                }
                Phase::Http(_) => {
                    if client.out.is_empty() {
                        self.remove(now, id, DisconnectReason::Shutdown);
                    } else {
                        client.release_when_flushed = Some(DisconnectReason::Shutdown);
                    }
                }
            }
        }
        self.check_shutdown_deadline(now);
    }

    pub(super) fn check_shutdown_deadline(&mut self, now: Now) {
        let Some(deadline) = self.shutdown_deadline else { return };
        if now.mono < deadline || self.mutations.ignore_shutdown_deadline() {
            return;
        }
        let ids: Vec<ConnId> = self.clients.iter().map(|(id, _)| id).collect();
        for id in ids {
            self.remove(now, id, DisconnectReason::Shutdown);
        }
    }

    /// True while new connections may be accepted (the caller stops accepting otherwise, leaving
    /// them in the kernel's backlog, and tries again once this is true).
    pub fn can_accept(&self) -> bool {
        self.shutdown_deadline.is_none() && self.ledger.http_open() < self.config.http_connections_max
    }
}
