//! Reading HTTP connections: request heads in, responses queued, upgrades to WebSocket.

use std::io::{self, Read, Write};

use log::info;
use tungstenite::protocol::{Role, WebSocketConfig, WebSocketContext};

use super::client::{Endpoint, Phase, WsState};
use super::handshake;
use super::http::{self, Parsed, Request};
use super::io::read_retrying;
use super::queue::Chunk;
use super::rate::TokenBucket;
use super::stats::DisconnectReason;
use super::time::Now;
use super::{ConnId, Core, QueryResponse};

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

impl Core {
    pub(super) fn read_http<S: Read + Write>(&mut self, now: Now, id: ConnId, stream: &mut S) {
        let mut budget = self.config.read_bytes_per_turn_max;
        let mut chunk = [0u8; HTTP_READ_CHUNK_BYTES];
        loop {
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

    /// Answers every complete request in the buffer, in order, one at a time.
    fn process_http_buffer<S: Read + Write>(&mut self, now: Now, id: ConnId, stream: &mut S) {
        let head_max = self.config.http_head_bytes_max;
        loop {
            let Some(client) = self.clients.get(id) else { return };
            if client.release_when_flushed.is_some() {
                return;
            }
            let Phase::Http(http) = &client.phase else { return };
            if http.awaiting_query.is_some() {
                if http.buf.len() > head_max {
                    self.respond_error(now, id, 431, "request head too large", false);
                }
                return;
            }
            match http::parse_request(&http.buf, head_max) {
                Parsed::Partial => return,
                Parsed::Bad(bad) => {
                    self.respond_error(now, id, bad.status, &bad.message, false);
                    return;
                }
                Parsed::Complete(request) => {
                    if let Some(http) = self.http_state(id) {
                        http.buf.drain(..request.head_bytes);
                    }
                    self.stats.http_requests_total += 1;
                    self.route(now, id, *request, stream);
                }
            }
        }
    }

    /// Queues a response on HTTP connection `id`.
    pub(super) fn respond(&mut self, now: Now, id: ConnId, status: u16, meta: ResponseMeta<'_>, body: Chunk) {
        let Some(client) = self.clients.get_mut(id) else { return };
        let head = http::response_head(status, meta.content_type, body.len(), meta.keep_alive, meta.extra_headers);
        let was_empty = client.out.is_empty();
        client.out.push_reply(Chunk::Owned(head.into_boxed_slice()));
        if !meta.head_only && !body.is_empty() {
            client.out.push_reply(body);
        }
        if was_empty {
            client.write_progress_at = now.mono;
        }
        if !meta.keep_alive {
            client.release_when_flushed = Some(DisconnectReason::HttpDone);
        }
        if let Phase::Http(http) = &mut client.phase {
            http.ready_since = now.mono;
        }
        self.want_transmit(id);
        self.reschedule(id);
        // A client that pipelines requests without reading the answers would otherwise grow its
        // queue without bound (found by the simulator, sim/seeds.txt).
        self.enforce_byte_bound(now, id);
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
        if self.ws_connections >= self.config.ws_connections_max && !self.mutations.ignore_ws_connection_limit {
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
        let head = match handshake::accept(&request) {
            Ok(head) => head,
            Err(refusal) => {
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
        let Some(client) = self.clients.get_mut(id) else { return };
        let Phase::Http(http) = &mut client.phase else { return };
        // Frames the client sent right behind its request are already in our buffer.
        let early_frames = std::mem::take(&mut http.buf);
        let ctx = WebSocketContext::from_partially_read(early_frames, Role::Server, Some(ws_config));
        client.phase = Phase::WebSocket(Box::new(WsState {
            ctx,
            endpoint,
            subscriptions: 0,
            last_received: now.mono,
            rate,
            rate_limited_notice_at: None,
            warned_at: None,
            dropped_messages: 0,
        }));
        client.out.push_handshake(Chunk::Owned(head.into_boxed_slice()));
        client.write_progress_at = now.mono;
        let peer = client.peer;
        self.http_connections -= 1;
        self.ws_connections += 1;
        self.stats.ws_connections_total += 1;
        info!(
            "event=ws_connect peer={peer} conn={id} endpoint={} active={}",
            match endpoint {
                Endpoint::Heatmap => "/ws/heatmap",
                Endpoint::Echo => "/ws/echo",
            },
            self.ws_connections
        );
        self.want_transmit(id);
        self.reschedule(id);
    }

    /// The answer to a REST query arrived from the query worker.
    pub fn handle_query_response(&mut self, now: Now, conn: ConnId, token: u64, response: QueryResponse) {
        let now = self.advance_clock(now);
        let Some(http) = self.http_state(conn) else { return };
        let Some(pending) = http.awaiting_query else { return };
        if pending.token != token {
            // The connection that asked is gone and its slot was reused.
            return;
        }
        http.awaiting_query = None;
        self.queries_in_flight -= 1;
        let meta = ResponseMeta {
            content_type: response.content_type,
            keep_alive: pending.keep_alive,
            head_only: pending.head_only,
            extra_headers: &[],
        };
        self.respond(now, conn, response.status, meta, Chunk::Owned(response.body.into_boxed_slice()));
        // A pipelined request may be waiting behind the one just answered.
        let mut no_stream = NoStream;
        self.process_http_buffer(now, conn, &mut no_stream);
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
