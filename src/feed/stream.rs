//! The stream thread: one combined-stream connection for every symbol's closed klines and
//! realised liquidations, kept open with reconnects.
//!
//! - Reconnects after any error, after `STREAM_SILENCE_MAX` without a message (the exchange sends
//!   kline updates several times a second and pings every few minutes), and proactively after
//!   `connection_max_age` (the exchange cuts every connection at 24 hours).
//! - Waits between attempts with [`Backoff`]; after `DOWN_AFTER_FAILURES` failed attempts in a
//!   row the feed reports `down`.
//! - Answers pings (tungstenite queues the pong; it is flushed at once).
//! - Every connection start asks the REST thread for a backfill, which closes the gap the
//!   disconnection left.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

use super::backoff::Backoff;
use super::status::StreamPhase;
use super::tls::{self, FeedStream};
use super::url::UrlKind;
use super::wire::{self, StreamMessage};
use super::{FeedCtx, FeedRow};

/// A connection without any message for this long is presumed dead.
const STREAM_SILENCE_MAX: Duration = Duration::from_secs(60);
/// Timeout of TCP connect, TLS and WebSocket handshakes, and of each blocking read.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Reads wake this often to look at the stop flag and the clocks.
const READ_TICK: Duration = Duration::from_millis(250);
/// Reconnect delays.
const BACKOFF_BASE: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// Failed attempts in a row after which the feed reports `down`.
const DOWN_AFTER_FAILURES: u32 = 3;
/// A connection that lasted this long was healthy: the backoff starts over.
const HEALTHY_CONNECTION: Duration = Duration::from_secs(30);
/// Frames larger than this end the connection (tungstenite refuses them); messages between
/// [`wire::MESSAGE_BYTES_MAX`] and this are read and rejected as oversized.
const FRAME_BYTES_MAX: usize = 1 << 20;
/// Characters of a rejected message shown in the log.
const SAMPLE_CHARS_MAX: usize = 160;

/// Why a connection ended.
enum Ended {
    Stopping,
    Silent,
    Renewal,
    ClosedByExchange,
    Error(String),
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::Stopping => write!(f, "stopping"),
            Ended::Silent => write!(f, "silent for {} s", STREAM_SILENCE_MAX.as_secs()),
            Ended::Renewal => write!(f, "renewal"),
            Ended::ClosedByExchange => write!(f, "closed by the exchange"),
            Ended::Error(e) => write!(f, "error: {e}"),
        }
    }
}

/// The stream's path for `symbols`: `/stream?streams=btcusdt@kline_5m/btcusdt@forceOrder/...`.
pub fn stream_path(symbols: &[String], interval: &str) -> String {
    let streams: Vec<String> =
        symbols.iter().map(|s| s.to_lowercase()).map(|s| format!("{s}@kline_{interval}/{s}@forceOrder")).collect();
    format!("/stream?streams={}", streams.join("/"))
}

/// Runs until the stop flag is set.
pub fn run(ctx: FeedCtx) {
    let mut backoff = Backoff::new(BACKOFF_BASE, BACKOFF_MAX, ctx.settings.jitter_seed);
    let url = ctx.settings.ws_url.join(UrlKind::WebSocket, &stream_path(&ctx.settings.symbols, "5m"));
    let mut first = true;
    while !ctx.stopping() {
        ctx.status.set_stream(if backoff.attempts() >= DOWN_AFTER_FAILURES { StreamPhase::Down } else { StreamPhase::Connecting });
        ctx.publish_state();
        if !first {
            ctx.metrics.reconnects.inc();
        }
        first = false;
        match open(&ctx, &url) {
            Ok(mut ws) => {
                let started = Instant::now();
                ctx.status.set_stream(StreamPhase::Connected);
                info!("event=feed_connected url={url:?}");
                // Whatever happened while we were away is fetched over REST.
                let _ = ctx.backfill_requests.try_send(());
                ctx.publish_state();
                let ended = read_until_ended(&ctx, &mut ws);
                let _ = ws.close(None);
                let _ = ws.flush();
                if started.elapsed() >= HEALTHY_CONNECTION {
                    backoff.reset();
                }
                match &ended {
                    Ended::Stopping => return,
                    Ended::Renewal => info!("event=feed_renewal age_s={}", started.elapsed().as_secs()),
                    other => warn!("event=feed_disconnected reason={:?} connected_s={}", other.to_string(), started.elapsed().as_secs()),
                }
                if matches!(ended, Ended::Renewal) {
                    continue;
                }
            }
            Err(e) => warn!("event=feed_connect_failed url={url:?} error={e:?} attempt={}", backoff.attempts() + 1),
        }
        let delay = backoff.next_delay();
        ctx.status.set_stream(if backoff.attempts() >= DOWN_AFTER_FAILURES { StreamPhase::Down } else { StreamPhase::Connecting });
        ctx.publish_state();
        debug!("event=feed_reconnect_wait delay_ms={}", delay.as_millis());
        ctx.sleep(delay);
    }
}

fn open(ctx: &FeedCtx, url: &str) -> Result<WebSocket<FeedStream>, String> {
    let stream = tls::connect(&ctx.settings.ws_url, CONNECT_TIMEOUT).map_err(|e| e.to_string())?;
    let request = url.into_client_request().map_err(|e| e.to_string())?;
    let config = WebSocketConfig::default().max_message_size(Some(FRAME_BYTES_MAX)).max_frame_size(Some(FRAME_BYTES_MAX));
    let (ws, response) = tungstenite::client::client_with_config(request, stream, Some(config)).map_err(|e| e.to_string())?;
    debug!("event=feed_handshake status={}", response.status());
    ws.get_ref().set_read_timeout(READ_TICK).map_err(|e| e.to_string())?;
    Ok(ws)
}

fn read_until_ended(ctx: &FeedCtx, ws: &mut WebSocket<FeedStream>) -> Ended {
    let opened = Instant::now();
    let mut last_message = Instant::now();
    loop {
        if ctx.stopping() {
            return Ended::Stopping;
        }
        if opened.elapsed() >= ctx.settings.connection_max_age {
            return Ended::Renewal;
        }
        if last_message.elapsed() >= STREAM_SILENCE_MAX {
            return Ended::Silent;
        }
        match ws.read() {
            Ok(Message::Text(text)) => {
                last_message = Instant::now();
                handle_text(ctx, text.as_str());
            }
            Ok(Message::Ping(_)) => {
                last_message = Instant::now();
                ctx.metrics.message("ping");
                // The pong is queued by tungstenite; send it now, not with the next read.
                if let Err(e) = ws.flush() {
                    return Ended::Error(e.to_string());
                }
            }
            Ok(Message::Close(_)) => return Ended::ClosedByExchange,
            Ok(_) => last_message = Instant::now(),
            Err(tungstenite::Error::Io(e)) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(tungstenite::Error::ConnectionClosed) | Err(tungstenite::Error::AlreadyClosed) => return Ended::ClosedByExchange,
            Err(e) => return Ended::Error(e.to_string()),
        }
    }
}

fn handle_text(ctx: &FeedCtx, text: &str) {
    match wire::parse_stream_message(text, &ctx.settings.symbols, ctx.settings.interval_ms) {
        Ok(message) => {
            ctx.metrics.message(message.kind());
            let row = match message {
                StreamMessage::Kline { closed: false, .. } => return,
                StreamMessage::Kline { symbol, candle, closed: true } => FeedRow::Klines { symbol, candles: vec![candle] },
                StreamMessage::ForceOrder(liquidation) => FeedRow::Liquidations(vec![liquidation]),
            };
            ctx.send_row(row);
        }
        Err(rejected) => {
            ctx.metrics.message("rejected");
            ctx.metrics.reject(rejected.reason);
            let sample: String = text.chars().take(SAMPLE_CHARS_MAX).collect();
            warn!("event=feed_reject source=stream reason={} detail={:?} sample={sample:?}", rejected.reason.as_str(), rejected.detail);
        }
    }
}
