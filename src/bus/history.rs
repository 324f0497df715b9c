//! The `bus-history` thread: reads a symbol's capped history stream when the loop asks (a hole
//! to fill, a resubscription to catch up on). It always answers, with nothing when Redis cannot
//! be read, so the follower never waits forever for a fill.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use log::{info, warn};
use redis::Connection;

use super::shared::{self, Shared};
use super::{lease, wire, PAYLOAD_BYTES_MAX};

pub fn run(shared: Arc<Shared>, requests: Receiver<String>) {
    let mut con: Option<Connection> = None;
    while !shared.stopping() {
        let symbol = match requests.recv_timeout(Duration::from_millis(200)) {
            Ok(symbol) => symbol,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        // A connection kept from an earlier read may have died meanwhile (Redis restarted or
        // closed it: "unexpected end of file"); one fresh connection is tried before answering
        // with nothing, which would let the hole through to clients.
        let reused = con.is_some();
        let first = read(&shared, &mut con, &symbol);
        let retried = match first {
            Err(e) if reused => {
                info!("event=bus_history_reconnect symbol={symbol} error={:?}", e.to_string());
                con = None;
                read(&shared, &mut con, &symbol)
            }
            other => other,
        };
        let entries = match retried {
            Ok(entries) => entries,
            Err(e) => {
                warn!("event=bus_history_unreadable symbol={symbol} error={:?}", e.to_string());
                con = None;
                Vec::new()
            }
        };
        shared.inbox().history.push_back((symbol, entries));
        shared.wake();
    }
}

fn read(shared: &Shared, con: &mut Option<Connection>, symbol: &str) -> redis::RedisResult<Vec<crate::core::StampedSnapshot>> {
    if con.is_none() {
        *con = Some(shared::connect(&shared.settings)?);
    }
    let Some(c) = con.as_mut() else { return Ok(Vec::new()) };
    let raw = lease::read_history(c, symbol, shared.settings.history_messages_max)?;
    let mut entries = Vec::with_capacity(raw.len());
    for payload in raw {
        match wire::decode(&payload, PAYLOAD_BYTES_MAX, shared.deflate_min_bytes) {
            Ok(received) if &*received.snapshot.symbol == symbol => entries.push(received.snapshot),
            _ => {
                shared.metrics.invalid_payloads.inc();
            }
        }
    }
    Ok(entries)
}
