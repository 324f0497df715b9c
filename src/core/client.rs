//! One connection's state.

use std::net::{IpAddr, SocketAddr};

use tungstenite::protocol::WebSocketContext;

use super::addresses::Held;
use super::deflate::Agreed;
use super::inflate::Inflate;
use super::limits::CoreConfig;
use super::queue::OutQueue;
use super::rate::TokenBucket;
use super::stats::DisconnectReason;
use super::time::MonoTime;

/// What the connection is doing.
pub enum Phase {
    /// Reading HTTP requests and answering them.
    Http(HttpState),
    /// An upgraded WebSocket. Boxed: it is much larger than an HTTP connection's state.
    WebSocket(Box<WsState>),
}

pub struct HttpState {
    /// Bytes of the next request received so far: at most the head limit plus one read.
    pub buf: Vec<u8>,
    /// When the connection became ready for the request being read (accept, or the end of the
    /// previous response): the request timeout runs from here.
    pub ready_since: MonoTime,
    /// A REST query is out for this connection.
    pub awaiting_query: Option<PendingQuery>,
    /// Reading stopped with bytes possibly left in the kernel: while a request is being answered
    /// (the connection holds one response at a time) at most a head's worth of what follows is
    /// read, the rest waits there (TCP backpressure on a client that pipelines without reading).
    /// Reading resumes, with a read-again, once the response is out.
    pub read_paused: bool,
    /// The request being answered, for the access log.
    pub request: Option<RequestLog>,
    /// The response being sent, for the access log line written when it is out or the client
    /// goes away.
    pub response: Option<ResponseLog>,
}

/// What the access log says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLog {
    /// Method and target, e.g. `GET /health`, cut to [`ACCESS_LOG_REQUEST_BYTES_MAX`] bytes.
    pub line: Box<str>,
    pub received_at: MonoTime,
}

/// Longest request line the access log repeats, in bytes (a query string may be 2 KiB).
pub const ACCESS_LOG_REQUEST_BYTES_MAX: usize = 300;

/// A response on its way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseLog {
    pub request: RequestLog,
    pub status: u16,
    /// Head and body bytes queued.
    pub bytes_total: usize,
    /// Of those, bytes the socket has accepted.
    pub bytes_sent: usize,
}

/// A request whose answer is being computed off the loop thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingQuery {
    pub token: u64,
    pub keep_alive: bool,
    pub head_only: bool,
    /// The request's `Accept-Encoding` allows gzip.
    pub accepts_gzip: bool,
    /// The request's `If-None-Match` value, at most [`IF_NONE_MATCH_BYTES_MAX`] bytes (longer is
    /// ignored: the answer is sent in full).
    pub if_none_match: Option<Box<str>>,
    /// `/metrics`: monitoring is answered even when the answers waiting to be sent hold
    /// `HTTP_MAX_PENDING_BYTES` (that is when an operator needs it); its answer is a few tens of
    /// kilobytes and `QUERIES_IN_FLIGHT_MAX` still bounds how many are computed at once.
    pub monitoring: bool,
}

/// Longest `If-None-Match` value kept for a REST request (a few ETags of 34 bytes).
pub const IF_NONE_MATCH_BYTES_MAX: usize = 256;

/// Which WebSocket endpoint the client connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Heatmap,
    Echo,
}

pub struct WsState {
    /// tungstenite's reader state: frame parsing, control frames, limits.
    pub ctx: WebSocketContext,
    pub endpoint: Endpoint,
    /// Bit `i` set: subscribed to the symbol with index `i`.
    pub subscriptions: u64,
    /// Last time any frame arrived: the idle timeout runs from here.
    pub last_received: MonoTime,
    pub rate: TokenBucket,
    /// Last time a RATE_LIMITED error was sent: one per second at most.
    pub rate_limited_notice_at: Option<MonoTime>,
    /// When the current slow-consumer episode's warning was queued.
    pub warned_at: Option<MonoTime>,
    /// Snapshots dropped for this client (conflated or over the message bound).
    pub dropped_messages: u64,
    /// permessage-deflate as agreed in the handshake (`None`: plain frames only).
    pub deflate: Option<Agreed>,
    /// Inbound rewriting of compressed client messages; present only with `deflate` and boxed,
    /// so a connection without compression pays one word for it.
    pub inflate: Option<Box<Inflate>>,
}

/// Set once the connection is on its way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closing {
    pub reason: DisconnectReason,
    /// The socket is dropped at this time whatever else happens.
    pub deadline: MonoTime,
    /// The peer has closed its side (close frame or end of stream).
    pub peer_done: bool,
}

pub struct Client {
    pub peer: SocketAddr,
    /// The client's address: the peer's, or the one a trusted proxy forwarded (`addresses`).
    /// Logged as `client=` and counted against the per-address bounds.
    pub address: IpAddr,
    /// Where this connection is counted in the per-address ledger, released when it goes.
    pub held: Option<Held>,
    pub phase: Phase,
    pub out: OutQueue,
    /// Last time the socket accepted bytes, or when the queue last went from empty to non-empty.
    /// A non-empty queue that has not moved since this is stalled.
    pub write_progress_at: MonoTime,
    pub closing: Option<Closing>,
    /// Once the queue drains, release the connection (HTTP `Connection: close`).
    pub release_when_flushed: Option<DisconnectReason>,
    /// The deadline currently filed in the core's timer set.
    pub deadline: Option<MonoTime>,
    pub transmit_pending: bool,
    pub read_again_pending: bool,
}

impl Client {
    pub fn new_http(peer: SocketAddr, now: MonoTime) -> Client {
        Client {
            peer,
            address: peer.ip(),
            held: None,
            phase: Phase::Http(HttpState {
                buf: Vec::new(),
                ready_since: now,
                awaiting_query: None,
                read_paused: false,
                request: None,
                response: None,
            }),
            out: OutQueue::new(),
            write_progress_at: now,
            closing: None,
            release_when_flushed: None,
            deadline: None,
            transmit_pending: false,
            read_again_pending: false,
        }
    }

    pub fn is_websocket(&self) -> bool {
        matches!(self.phase, Phase::WebSocket(_))
    }

    pub fn ws(&self) -> Option<&WsState> {
        match &self.phase {
            Phase::WebSocket(ws) => Some(ws),
            Phase::Http(_) => None,
        }
    }

    pub fn http_mut(&mut self) -> Option<&mut HttpState> {
        match &mut self.phase {
            Phase::Http(http) => Some(http),
            Phase::WebSocket(_) => None,
        }
    }

    /// True while an HTTP connection is answering a request: a query is out, a response is
    /// queued, or the connection closes once flushed. It reads no further request meanwhile.
    pub fn http_busy(&self) -> bool {
        match &self.phase {
            Phase::Http(http) => {
                http.awaiting_query.is_some() || !self.out.is_empty() || self.release_when_flushed.is_some()
            }
            Phase::WebSocket(_) => false,
        }
    }

    pub fn ws_mut(&mut self) -> Option<&mut WsState> {
        match &mut self.phase {
            Phase::WebSocket(ws) => Some(ws),
            Phase::Http(_) => None,
        }
    }

    /// The earliest moment something must be checked for this client.
    pub fn next_deadline(&self, config: &CoreConfig) -> Option<MonoTime> {
        if let Some(closing) = self.closing {
            return Some(closing.deadline);
        }
        let stall = (!self.out.is_empty()).then_some(self.write_progress_at);
        match &self.phase {
            Phase::Http(http) => {
                if let Some(since) = stall {
                    Some(since.plus_ms(config.http_request_timeout_ms))
                } else if http.awaiting_query.is_some() {
                    None
                } else {
                    Some(http.ready_since.plus_ms(config.http_request_timeout_ms))
                }
            }
            Phase::WebSocket(ws) => {
                let idle = ws.last_received.plus_ms(config.idle_timeout_ms);
                let slow = match (stall, ws.warned_at) {
                    (Some(_), Some(warned)) => Some(warned.plus_ms(config.slow_consumer_grace_ms)),
                    (Some(since), None) => Some(since.plus_ms(config.slow_consumer_timeout_ms)),
                    (None, _) => None,
                };
                Some(slow.map_or(idle, |s| s.min(idle)))
            }
        }
    }

    pub fn view(&self) -> ClientView {
        ClientView {
            peer: self.peer,
            phase: match &self.phase {
                Phase::Http(_) => PhaseView::Http,
                Phase::WebSocket(ws) => PhaseView::WebSocket {
                    subscriptions: ws.subscriptions,
                    warned: ws.warned_at.is_some(),
                    dropped_messages: ws.dropped_messages,
                },
            },
            queued_bytes: self.out.bytes_queued(),
            queued_entries: self.out.len(),
            queued_snapshots: self.out.unsent_snapshots(),
            closing: self.closing.map(|c| c.reason),
            write_progress_at: self.write_progress_at,
        }
    }
}

/// What tests and the simulator may see of a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientView {
    pub peer: SocketAddr,
    pub phase: PhaseView,
    pub queued_bytes: usize,
    pub queued_entries: usize,
    pub queued_snapshots: usize,
    pub closing: Option<DisconnectReason>,
    pub write_progress_at: MonoTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhaseView {
    Http,
    WebSocket { subscriptions: u64, warned: bool, dropped_messages: u64 },
}
