//! What the live feed tells the loop: its state for `/health`, and realised liquidations for the
//! subscribers of their symbol.

use std::sync::Arc;

use log::debug;
use serde_json::{json, Map, Value};

use super::frame;
use super::queue::{Chunk, EventPush};
use super::time::Now;
use super::{Core, MutationPolicy};

/// Liquidation messages one client may have unsent; beyond it the oldest unsent one is dropped
/// (counted like a dropped snapshot). Bursts are short: the exchange sends at most one
/// liquidation per symbol per second.
pub const EVENTS_QUEUED_MAX: usize = 64;

/// The feed's state as the producer thread reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedReport {
    /// "binance".
    pub kind: String,
    /// connecting, backfilling, live or down.
    pub state: String,
    pub interval_ms: i64,
    /// The newest applied bar's open time per symbol (Unix ms), `None` before the first.
    pub newest_bar_ms: Vec<(String, Option<i64>)>,
}

impl FeedReport {
    /// `/health`'s `feed` object at `wall_unix_ms`, and whether the feed is degraded (a bar older
    /// than two intervals, or the stream down).
    pub fn health(&self, wall_unix_ms: i64) -> (Value, bool) {
        let mut symbols = Map::new();
        let mut degraded = self.state == "down";
        for (symbol, newest) in &self.newest_bar_ms {
            let entry = match newest {
                Some(open_ms) => {
                    // Age since the bar closed: a bar is complete only then.
                    let age_ms = (wall_unix_ms - (open_ms + self.interval_ms)).max(0);
                    let stale = age_ms > 2 * self.interval_ms;
                    degraded |= stale;
                    json!({
                        "newest_bar_time": super::time::iso8601_utc_ms(*open_ms),
                        "newest_bar_age_s": age_ms as f64 / 1000.0,
                        "degraded": stale,
                    })
                }
                None => {
                    degraded = true;
                    json!({ "newest_bar_time": null, "newest_bar_age_s": null, "degraded": true })
                }
            };
            symbols.insert(symbol.clone(), entry);
        }
        let value = json!({
            "kind": self.kind,
            "state": self.state,
            "interval_s": self.interval_ms / 1000,
            "degraded": degraded,
            "symbols": symbols,
        });
        (value, degraded)
    }
}

impl<M: MutationPolicy> Core<M> {
    /// The feed's state changed.
    pub fn handle_feed_report(&mut self, now: Now, report: FeedReport) {
        self.advance_clock(now);
        self.feed = Some(report);
    }

    /// A realised liquidation of `symbol` was stored: `message_json` goes to its subscribers,
    /// framed once and shared, behind whatever they have queued.
    pub fn handle_liquidation(&mut self, now: Now, symbol: &str, message_json: &str) {
        let now = self.advance_clock(now);
        let Some(index) = self.config.symbol_index(symbol) else { return };
        let framed: Arc<[u8]> = Arc::from(frame::text_frame(message_json.as_bytes()));
        let subscribers = self.symbols[index].subscribers.clone();
        for id in subscribers {
            let Some(client) = self.clients.get_mut(id) else { continue };
            if client.closing.is_some() {
                continue;
            }
            let was_empty = client.out.is_empty();
            if client.out.push_event(Chunk::Shared(Arc::clone(&framed)), EVENTS_QUEUED_MAX) == EventPush::DroppedOldest {
                if let Some(ws) = client.ws_mut() {
                    ws.dropped_messages += 1;
                }
                self.symbols[index].dropped_total += 1;
                self.metrics.symbols[index].dropped_snapshots.inc();
            }
            if was_empty {
                client.write_progress_at = now.mono;
            }
            if self.enforce_byte_bound(now, id) {
                self.want_transmit(id);
                if was_empty {
                    self.reschedule(id);
                }
            }
        }
        debug!("event=ws_liquidation symbol={symbol} bytes={}", framed.len());
    }
}
