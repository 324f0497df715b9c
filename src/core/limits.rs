//! Every bound the core enforces, in one place, with its unit last.

use super::addresses::TrustedProxies;
use super::feed::Feed;

/// Configuration of the server core. Every queue, buffer, message and connection count has a bound
/// here; [`CoreConfig::default`] holds the documented defaults (see `.env.template`).
#[derive(Debug, Clone, PartialEq)]
pub struct CoreConfig {
    /// Symbols clients may subscribe to, in display order. At most [`SYMBOLS_MAX`].
    pub supported_symbols: Vec<String>,
    /// `WS_ENABLED`: when false `/ws/heatmap` answers 503.
    pub ws_enabled: bool,
    /// `WS_ECHO_ENABLED`: serve the `/ws/echo` conformance endpoint.
    pub ws_echo_enabled: bool,
    /// `WS_MAX_CONNECTIONS`: open WebSockets; an upgrade beyond this gets 503.
    pub ws_connections_max: usize,
    /// Plain HTTP connections (not upgraded) held at once; more are refused at accept.
    pub http_connections_max: usize,
    /// `WS_MAX_CONNECTIONS_PER_ADDRESS`: open WebSockets one client address may hold (IPv6 by /64,
    /// see `addresses`); an upgrade beyond it gets 429 `TOO_MANY_CONNECTIONS`.
    pub ws_connections_per_address_max: usize,
    /// `HTTP_MAX_CONNECTIONS_PER_ADDRESS`: plain HTTP connections one peer address may hold; more
    /// are closed at accept. Trusted proxies are not held to it (they bound their clients).
    pub http_connections_per_address_max: usize,
    /// `TRUSTED_PROXIES`: peers whose `X-Forwarded-For` names the client (see `addresses`).
    pub trusted_proxies: TrustedProxies,
    /// `WS_MAX_QUEUE_SIZE`: snapshot messages queued per client, but never fewer than one per
    /// subscribed symbol (each symbol's latest snapshot must reach the client eventually).
    pub queue_messages_max: usize,
    /// `WS_MAX_QUEUE_BYTES`: bytes queued per WebSocket client (snapshots and replies together).
    /// A plain HTTP connection is bounded differently: it holds one response at a time and reads
    /// its next request only once that response is out.
    pub queue_bytes_max: usize,
    /// `HTTP_MAX_PENDING_BYTES`: bytes of REST answers queued on connections and not yet sent, over
    /// the whole process, each distinct answer counted once however many clients receive it. At
    /// or over it a new REST query is answered 503 `BUSY`, and so is an answer that would push the
    /// count over it (unless nothing else is pending: one answer always goes out).
    pub http_pending_bytes_max: usize,
    /// `WS_SLOW_CONSUMER_TIMEOUT`: a client whose socket accepted no bytes for this long while it
    /// has data queued is a slow consumer and gets one warning.
    pub slow_consumer_timeout_ms: u64,
    /// `WS_SLOW_CONSUMER_GRACE`: a slow consumer still stalled this long after its warning is closed.
    pub slow_consumer_grace_ms: u64,
    /// A close frame that cannot be written within this long gets the socket dropped.
    pub close_timeout_ms: u64,
    /// `WS_IDLE_TIMEOUT`: a WebSocket client that sends nothing for this long is closed.
    pub idle_timeout_ms: u64,
    /// An HTTP request whose headers are not complete this long after the connection became ready
    /// for it is closed (slowloris defence; also the keep-alive idle timeout).
    pub http_request_timeout_ms: u64,
    /// On shutdown, clients that have not taken their close frame by then are dropped.
    pub shutdown_timeout_ms: u64,
    /// Largest client WebSocket message (and frame) on `/ws/heatmap`; larger closes with 1009.
    pub message_bytes_max: usize,
    /// `WS_ECHO_MAX_MESSAGE_BYTES`: largest message (and frame) on `/ws/echo`, at most
    /// [`ECHO_MESSAGE_BYTES_LIMIT`]; larger closes with 1009. Its echo must fit `queue_bytes_max`
    /// (see [`CoreConfig::echo_queue_bytes_min`]).
    pub echo_message_bytes_max: usize,
    /// `WS_COMPRESSION`: negotiate permessage-deflate (RFC 7692) with clients that offer it.
    pub ws_compression: bool,
    /// `WS_COMPRESSION_MIN_BYTES`: server messages shorter than this go out plain even to a client
    /// that negotiated compression (a few hundred bytes gain little and still cost a deflate).
    pub ws_compression_min_bytes: usize,
    /// HTTP request head (request line + headers); larger answers 431.
    pub http_head_bytes_max: usize,
    /// Client messages allowed per second, sustained.
    pub rate_limit_messages_per_s: u32,
    /// Client messages allowed in a burst above the sustained rate.
    pub rate_limit_burst_messages: u32,
    /// Symbols in one subscribe/unsubscribe request, and symbols one client may hold.
    pub symbols_per_request_max: usize,
    /// Bytes read from one socket per readiness event before others get a turn.
    pub read_bytes_per_turn_max: usize,
    /// REST queries handed to the query worker and not yet answered.
    pub queries_in_flight_max: usize,
    /// `WS_UPDATE_INTERVAL`, reported to the page so it can poll at the same pace.
    pub update_interval_ms: u64,
    /// What the snapshots are made of (a demo replay, stored market data, ...), reported by
    /// `/api/config` and `/health`. Known only once the database is open, so set by `serve`.
    pub feed: Feed,
}

/// The largest echo message limit that may be configured: what the Autobahn TestSuite's biggest
/// cases (9.1.6, 9.2.6) send.
pub const ECHO_MESSAGE_BYTES_LIMIT: usize = 16 * 1024 * 1024;

/// Symbols are tracked per client in a 64-bit set.
pub const SYMBOLS_MAX: usize = 64;

/// Replies (acks, pongs, errors) queued per client beyond which it is treated as a slow consumer.
pub const CONTROL_MESSAGES_MAX: usize = 32;

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            supported_symbols: vec!["BTCUSDT".to_string(), "ETHUSDT".to_string()],
            ws_enabled: true,
            ws_echo_enabled: false,
            ws_connections_max: 1000,
            http_connections_max: 1024,
            ws_connections_per_address_max: 100,
            http_connections_per_address_max: 128,
            trusted_proxies: TrustedProxies::default(),
            queue_messages_max: 5,
            queue_bytes_max: 8 * 1024 * 1024,
            http_pending_bytes_max: 256 * 1024 * 1024,
            slow_consumer_timeout_ms: 1000,
            slow_consumer_grace_ms: 10_000,
            close_timeout_ms: 2000,
            idle_timeout_ms: 60_000,
            http_request_timeout_ms: 10_000,
            shutdown_timeout_ms: 5000,
            message_bytes_max: 4096,
            echo_message_bytes_max: 64 * 1024,
            ws_compression: true,
            ws_compression_min_bytes: 512,
            http_head_bytes_max: 8192,
            rate_limit_messages_per_s: 10,
            rate_limit_burst_messages: 20,
            symbols_per_request_max: 10,
            read_bytes_per_turn_max: 64 * 1024,
            queries_in_flight_max: 64,
            update_interval_ms: 5000,
            feed: Feed::default(),
        }
    }
}

impl CoreConfig {
    /// The smallest `queue_bytes_max` that lets the echo of the largest `/ws/echo` message be
    /// queued: the frame (payload plus its longest header) and the room the byte bound keeps for a
    /// SLOW_CONSUMER warning. A smaller bound would close every client that sends such a message.
    pub fn echo_queue_bytes_min(&self) -> usize {
        self.echo_message_bytes_max + super::frame::SERVER_HEADER_BYTES_MAX + super::lifecycle::WARNING_FRAME_BYTES_MAX
    }

    /// Index of a supported symbol, if it is one.
    pub fn symbol_index(&self, symbol: &str) -> Option<usize> {
        self.supported_symbols.iter().position(|s| s == symbol)
    }
}
