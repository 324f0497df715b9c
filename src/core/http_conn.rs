//! Reading HTTP connections: request heads in, responses queued, upgrades to WebSocket.

use std::io::{self, Read, Write};

use log::info;
use tungstenite::protocol::{Role, WebSocketConfig, WebSocketContext};

use super::client::{Endpoint, Phase, RequestLog, ResponseLog, WsState, ACCESS_LOG_REQUEST_BYTES_MAX};
use super::handshake;
use super::inflate::Inflate;
use super::http::{self, Parsed, Request};
use super::io::read_retrying;
use super::queue::Chunk;
use super::rate::TokenBucket;
use super::stats::DisconnectReason;
use super::time::Now;
use super::{ConnId, Core, MutationPolicy, QueryResponse};

/// Bytes read from an HTTP connection per read call.
const HTTP_READ_CHUNK_BYTES: usize = 4096;

/// tungstenite's read buffer per WebSocket. Its default (128 KiB, allocated eagerly) would cost
/// more than the whole per-connection budget; client messages are small and capped anyway.
const WS_READ_BUFFER_BYTES: usize = 256;

/// Parts of a response other than its status and body.
pub(super) struct ResponseMeta<'a> {
    pub content_type: &'a str,
    pub keep_alive: bool,
    pub head_only: bool,
    pub extra_headers: &'a [(&'a str, &'a str)],
}

impl<M: MutationPolicy> Core<M> {
    pub(super) fn read_http<S: Read + Write>(&mut self, now: Now, id: ConnId, stream: &mut S) {
        let mut budget = self.config.read_bytes_per_turn_max;
        let mut chunk = [0u8; HTTP_READ_CHUNK_BYTES];
        let head_max = self.config.http_head_bytes_max;
        loop {
            let Some(client) = self.clients.get_mut(id) else { return };
            let busy = client.http_busy();
            let Some(http) = client.http_mut() else { return };
            if busy && http.buf.len() >= head_max {
                // One response at a time: while it is being answered, a client pipelining
                // requests gets one head's worth buffered and the rest left in the kernel. (Reading
                // that far still notices a client that hangs up meanwhile.)
                http.read_paused = true;
                break;
            }
            let len = chunk.len().min(budget);
            if len == 0 {
                self.want_read_again(id);
                break;
            }
            match read_retrying(stream, &mut chunk[..len]) {
                Ok(0) => {
                    self.on_http_eof(now, id);
                    return;
                }
                Ok(n) => {
                    budget -= n;
                    let Some(http) = self.http_state(id) else { return };
                    http.buf.extend_from_slice(&chunk[..n]);
                    self.process_http_buffer(now, id, stream);
                    let Some(client) = self.clients.get(id) else { return };
                    if client.is_websocket() {
                        // Upgraded mid-read: the rest of the stream is WebSocket frames.
                        self.read_websocket(now, id, stream);
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.remove(now, id, DisconnectReason::PeerGone);
                    return;
                }
            }
        }
        self.reschedule(id);
    }

    fn http_state(&mut self, id: ConnId) -> Option<&mut super::client::HttpState> {
        match &mut self.clients.get_mut(id)?.phase {
            Phase::Http(http) => Some(http),
            Phase::WebSocket(_) => None,
        }
    }

    /// The client closed its sending side: answer what was asked, then release.
    fn on_http_eof(&mut self, now: Now, id: ConnId) {
        let Some(client) = self.clients.get_mut(id) else { return };
        let Phase::Http(http) = &client.phase else { return };
        if client.out.is_empty() && http.awaiting_query.is_none() {
            self.remove(now, id, DisconnectReason::HttpDone);
        } else {
            client.release_when_flushed = Some(DisconnectReason::HttpDone);
            self.reschedule(id);
        }
    }

    /// Answers the next complete request in the buffer, unless one is still being answered: the
    /// connection holds one response at a time, so a client that pipelines requests without
    /// reading the answers holds one answer's bytes, not one per request.
    fn process_http_buffer<S: Read + Write>(&mut self, now: Now, id: ConnId, stream: &mut S) {
        let head_max = self.config.http_head_bytes_max;
        let Some(client) = self.clients.get(id) else { return };
        if client.http_busy() {
            return;
        }
        let Phase::Http(http) = &client.phase else { return };
        debug_assert!(http.buf.len() <= head_max + HTTP_READ_CHUNK_BYTES, "request buffer over its bound");
        match http::parse_request(&http.buf, head_max) {
            Parsed::Partial => {}
            Parsed::Bad(bad) => self.respond_error(now, id, bad.status, &bad.message, false),
            Parsed::Complete(request) => {
                let trusted = &self.config.trusted_proxies;
                if let Some(client) = self.clients.get_mut(id).filter(|c| trusted.contains(c.peer.ip())) {
                    // Each request of a proxy's connection may come from another client.
                    client.address = super::addresses::client_address(client.peer.ip(), request.field("x-forwarded-for"), trusted);
                }
                if let Some(http) = self.http_state(id) {
                    http.buf.drain(..request.head_bytes);
                    let mut line = format!("{} {}", request.head.method(), request.head.uri());
                    if line.len() > ACCESS_LOG_REQUEST_BYTES_MAX {
                        let cut = (0..=ACCESS_LOG_REQUEST_BYTES_MAX).rev().find(|&i| line.is_char_boundary(i)).unwrap_or(0);
                        line.truncate(cut);
                        line.push('…');
                    }
                    http.request = Some(RequestLog { line: line.into_boxed_str(), received_at: now.mono });
                }
                self.stats.http_requests_total += 1;
                self.route(now, id, *request, stream);
            }
        }
    }

    /// The response of `id` is out: answer the next request already buffered, or read again
    /// (reading paused while the response was being sent, and no readiness event will say that
    /// the kernel holds more).
    pub(super) fn resume_http(&mut self, now: Now, id: ConnId) {
        let Some(http) = self.http_state(id) else { return };
        let was_paused = std::mem::take(&mut http.read_paused);
        self.process_http_buffer(now, id, &mut NoStream);
        let Some(client) = self.clients.get_mut(id) else { return };
        if client.http_busy() {
            if let Some(http) = client.http_mut() {
                http.read_paused |= was_paused;
            }
        } else if was_paused {
            self.want_read_again(id);
        }
    }

    /// Queues a response on HTTP connection `id`. The body is written as the socket accepts it,
    /// whatever its size; a REST answer's bytes are counted against `http_pending_bytes_max`
    /// until they are out.
    pub(super) fn respond(&mut self, now: Now, id: ConnId, status: u16, meta: ResponseMeta<'_>, body: Chunk) {
        let Some(client) = self.clients.get_mut(id) else { return };
        let Phase::Http(http) = &mut client.phase else { return };
        // One response at a time (a pipelining client's queue was unbounded before; found by the
        // simulator, sim/seeds.txt): a request is read only once the previous answer is out.
        debug_assert!(client.out.is_empty() && http.response.is_none(), "a second response queued on one connection");
        http.ready_since = now.mono;
        let head = http::response_head(status, meta.content_type, body.len(), meta.keep_alive, meta.extra_headers);
        let send_body = !meta.head_only && !body.is_empty();
        let request = http.request.take().unwrap_or(RequestLog { line: "-".into(), received_at: now.mono });
        http.response = Some(ResponseLog {
            request,
            status,
            bytes_total: head.len() + if send_body { body.len() } else { 0 },
            bytes_sent: 0,
        });
        client.out.push_reply(Chunk::Owned(head.into_boxed_slice()));
        if send_body {
            if let Chunk::Answer(answer) = &body {
                self.ledger.hold_answer(answer);
            }
            client.out.push_reply(body);
        }
        client.write_progress_at = now.mono;
        if !meta.keep_alive {
            client.release_when_flushed = Some(DisconnectReason::HttpDone);
        }
        self.want_transmit(id);
        self.reschedule(id);
    }

    /// Writes the access log line of the response of `id`, if one is on its way: how much of it
    /// went out, and whether it completed or how the connection ended first. When the connection
    /// ends (`connection_ends`), a request it never got an answer to is logged too.
    pub(super) fn log_http_outcome(&mut self, now: Now, id: ConnId, outcome: &str, connection_ends: bool) {
        let Some(client) = self.clients.get_mut(id) else { return };
        let (peer, address) = (client.peer, client.address);
        let Some(http) = client.http_mut() else { return };
        if let Some(response) = http.response.take() {
            info!(
                "event=http_response peer={peer} client={address} conn={id} request={:?} status={} bytes={} sent={} outcome={outcome} duration_ms={}",
                response.request.line,
                response.status,
                response.bytes_total,
                response.bytes_sent,
                now.mono.since(response.request.received_at).as_millis(),
            );
        } else if let Some(request) = http.request.take_if(|_| connection_ends) {
            info!(
                "event=http_response peer={peer} client={address} conn={id} request={:?} status=- bytes=0 sent=0 outcome={outcome} duration_ms={}",
                request.line,
                now.mono.since(request.received_at).as_millis(),
            );
        }
    }

    /// A JSON response.
    pub(super) fn respond_json(&mut self, now: Now, id: ConnId, status: u16, body: Vec<u8>, keep_alive: bool, head_only: bool) {
        let meta = ResponseMeta { content_type: "application/json", keep_alive, head_only, extra_headers: &[] };
        self.respond(now, id, status, meta, Chunk::Owned(body.into_boxed_slice()));
    }

    /// A JSON error response `{"error":{"code","message"}}`.
    pub(super) fn respond_error(&mut self, now: Now, id: ConnId, status: u16, message: &str, keep_alive: bool) {
        let body = http::error_body(http::status_code_name(status), message);
        self.respond_json(now, id, status, body, keep_alive, false);
    }

    /// Completes the WebSocket handshake on `id` with tungstenite, or refuses it.
    pub(super) fn upgrade(&mut self, now: Now, id: ConnId, request: Request, endpoint: Endpoint) {
        let keep_alive = request.keep_alive;
        if endpoint == Endpoint::Heatmap && !self.config.ws_enabled {
            let body = http::error_body("WS_DISABLED", "WebSocket streaming is disabled on this server (WS_ENABLED=false); poll the REST API instead");
            self.respond_json(now, id, 503, body, keep_alive, request.is_head());
            return;
        }
        // The slot is taken here, process-wide, before the handshake is checked; it is given
        // back below if the handshake is refused.
        if !self.ledger.try_upgrade(self.config.ws_connections_max, self.mutations.ignore_ws_connection_limit()) {
            self.stats.rejected_full_total += 1;
            let body = http::error_body(
                "SERVER_FULL",
                &format!("the server holds its maximum of {} WebSocket connections; retry later", self.config.ws_connections_max),
            );
            let meta = super::http_conn::ResponseMeta {
                content_type: "application/json",
                keep_alive,
                head_only: false,
                extra_headers: &[("Retry-After", "5")],
            };
            self.respond(now, id, 503, meta, Chunk::Owned(body.into_boxed_slice()));
            return;
        }
        let Some(ws_held) = self.acquire_ws_slot(id) else {
            self.ledger.undo_upgrade();
            let bound = self.config.ws_connections_per_address_max;
            let body = http::error_body(
                "TOO_MANY_CONNECTIONS",
                &format!("your address holds this server's maximum of {bound} WebSocket connections per address (WS_MAX_CONNECTIONS_PER_ADDRESS); close one or retry later"),
            );
            let meta = ResponseMeta { content_type: "application/json", keep_alive: false, head_only: false, extra_headers: &[("Retry-After", "5")] };
            self.respond(now, id, 429, meta, Chunk::Owned(body.into_boxed_slice()));
            return;
        };
        let accepted = match handshake::accept(&request, self.config.ws_compression) {
            Ok(accepted) => accepted,
            Err(refusal) => {
                self.ledger.release_address(ws_held);
                self.ledger.undo_upgrade();
                // A client that asked to switch protocols may already be sending frames, which
                // would be misread as requests: close after the answer. A plain GET keeps its
                // connection.
                let keep_alive = keep_alive && refusal.status == 426 && !request.has_token("connection", "upgrade");
                let body = http::error_body(refusal.code, &refusal.message);
                let meta = ResponseMeta { content_type: "application/json", keep_alive, head_only: request.is_head(), extra_headers: refusal.extra_headers };
                self.respond(now, id, refusal.status, meta, Chunk::Owned(body.into_boxed_slice()));
                return;
            }
        };
        let message_bytes_max = match endpoint {
            Endpoint::Heatmap => self.config.message_bytes_max,
            Endpoint::Echo => self.config.echo_message_bytes_max,
        };
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(WS_READ_BUFFER_BYTES)
            .write_buffer_size(0)
            .max_message_size(Some(message_bytes_max))
            .max_frame_size(Some(message_bytes_max));
        let rate = TokenBucket::new(self.config.rate_limit_messages_per_s, self.config.rate_limit_burst_messages, now.mono);
        let Some(Phase::Http(_)) = self.clients.get(id).map(|c| &c.phase) else {
            self.ledger.undo_upgrade();
            self.ledger.release_address(ws_held);
            return;
        };
        let Some(client) = self.clients.get_mut(id) else { return };
        let Phase::Http(http) = &mut client.phase else { return };
        // Frames the client sent right behind its request are already in our buffer. With
        // compression they go through the inflating layer first, like everything after them.
        let early_frames = std::mem::take(&mut http.buf);
        let (ctx, inflate) = match accepted.deflate {
            Some(_) => (
                WebSocketContext::new(Role::Server, Some(ws_config)),
                Some(Box::new(Inflate::new(message_bytes_max, early_frames))),
            ),
            None => (WebSocketContext::from_partially_read(early_frames, Role::Server, Some(ws_config)), None),
        };
        client.phase = Phase::WebSocket(Box::new(WsState {
            ctx,
            endpoint,
            subscriptions: 0,
            last_received: now.mono,
            rate,
            rate_limited_notice_at: None,
            warned_at: None,
            dropped_messages: 0,
            deflate: accepted.deflate,
            inflate,
        }));
        client.out.push_handshake(Chunk::Owned(accepted.head.into_boxed_slice()));
        client.write_progress_at = now.mono;
        let (peer, address) = (client.peer, client.address);
        if let Some(http_held) = client.held.replace(ws_held) {
            self.ledger.release_address(http_held);
        }
        self.http_connections -= 1;
        self.ws_connections += 1;
        self.stats.ws_connections_total += 1;
        info!(
            "event=ws_connect peer={peer} client={address} conn={id} endpoint={} deflate={} active={}",
            match endpoint {
                Endpoint::Heatmap => "/ws/heatmap",
                Endpoint::Echo => "/ws/echo",
            },
            accepted.deflate.is_some(),
            self.ledger.ws_open()
        );
        self.want_transmit(id);
        self.reschedule(id);
    }

    /// The answer to a REST query arrived from the query worker.
    pub fn handle_query_response(&mut self, now: Now, conn: ConnId, token: u64, response: QueryResponse) {
        let now = self.advance_clock(now);
        let Some(http) = self.http_state(conn) else { return };
        let Some(pending) = http.awaiting_query.take_if(|pending| pending.token == token) else {
            // The connection that asked is gone and its slot was reused.
            return;
        };
        self.ledger.end_query();
        // The representation this request gets (gzip when allowed and built), chosen before the
        // memory bound is applied to it; a 304 when its ETag is what the client holds.
        let (body, etag, is_gzip) = match &response.encoded {
            Some(encoded) if response.status == 200 => {
                let (body, etag, is_gzip) = encoded.select(pending.accepts_gzip.then_some("gzip"));
                (body, Some(etag), is_gzip)
            }
            _ => (std::sync::Arc::clone(&response.body), None, false),
        };
        let not_modified = etag
            .as_deref()
            .is_some_and(|etag| super::http_encoding::none_match_hits(pending.if_none_match.as_deref(), etag));
        // Bounded memory, for the whole process: admitting the answer holds it at once (check and
        // hold are one step, so loops answering together cannot pass the bound together); the
        // queued chunk holds it again below and this admission's hold is given back.
        let admitted = !(pending.head_only || not_modified);
        if admitted {
            if let Err(full) = self.ledger.try_hold_answer(&body, self.config.http_pending_bytes_max) {
                // This answer would push the bytes waiting to be sent over the bound.
                self.respond_busy(now, conn, pending.keep_alive, full.pending_bytes, body.len());
                return;
            }
        }
        let admission = admitted.then(|| std::sync::Arc::clone(&body));
        self.respond_answer(now, conn, pending, response, (body, etag, is_gzip, not_modified));
        if let Some(body) = admission {
            self.ledger.release_answer(&body);
        }
    }

    /// Queues an admitted REST answer: `body` is the representation chosen for this request.
    fn respond_answer(
        &mut self,
        now: Now,
        conn: ConnId,
        pending: super::client::PendingQuery,
        response: QueryResponse,
        (body, etag, is_gzip, not_modified): (std::sync::Arc<[u8]>, Option<String>, bool, bool),
    ) {
        let Some(etag) = etag else {
            let meta = ResponseMeta {
                content_type: response.content_type,
                keep_alive: pending.keep_alive,
                head_only: pending.head_only,
                extra_headers: &[],
            };
            self.respond(now, conn, response.status, meta, Chunk::Answer(body));
            return;
        };
        let varies = response.encoded.as_ref().is_some_and(|e| e.gzip.is_some());
        let mut headers = vec![("ETag", etag.as_str())];
        self.respond_encoded(
            now,
            conn,
            (response.content_type, pending.keep_alive, pending.head_only),
            &mut headers,
            (body, is_gzip, varies, not_modified),
            true,
        );
    }

    /// 503 `BUSY`: the answers waiting to be sent to other clients (of every loop) hold
    /// `http_pending_bytes_max`; `pending` is what they held when the request was refused.
    pub(super) fn respond_busy(&mut self, now: Now, id: ConnId, keep_alive: bool, pending: usize, answer_bytes: usize) {
        let bound = self.config.http_pending_bytes_max;
        let message = if answer_bytes > 0 {
            format!(
                "the server is sending {pending} bytes of answers to other clients and this answer of {answer_bytes} bytes \
                 would pass its bound HTTP_MAX_PENDING_BYTES={bound}; retry shortly"
            )
        } else {
            format!(
                "the server is sending {pending} bytes of answers to other clients, its bound HTTP_MAX_PENDING_BYTES={bound}; \
                 retry shortly"
            )
        };
        let body = http::error_body("BUSY", &message);
        let meta = ResponseMeta { content_type: "application/json", keep_alive, head_only: false, extra_headers: &[("Retry-After", "1")] };
        self.respond(now, id, 503, meta, Chunk::Owned(body.into_boxed_slice()));
    }
}

/// A stream with nothing to read and no room to write, for processing bytes already buffered.
pub(super) struct NoStream;

impl Read for NoStream {
    fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

impl Write for NoStream {
    fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
