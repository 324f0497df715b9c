//! The `bus-subscriber` thread: reads the pub/sub connection and hands snapshots to the loop.
//!
//! - It subscribes to the channels of the symbols this node's clients want, plus its own probe
//!   channel, and follows changes of that set.
//! - Every (re)connection resubscribes everything and tells the loop, which fetches what was
//!   missed from the history (a client library that reconnects without resubscribing is a known
//!   way for a node to go silent while looking healthy).
//! - Nothing received for `REDIS_PROBE_TIMEOUT_MS`, not even the probe the control thread
//!   publishes every `REDIS_PROBE_INTERVAL_MS`: the subscription is stale and is rebuilt.
//! - The hand-off never waits for the loop: a per-symbol queue under a briefly held lock,
//!   bounded; when the loop has not taken the older ones, the oldest is dropped and counted
//!   (the follower then sees a hole and fills it from the history). So Redis never sees this
//!   node as a slow pub/sub client.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{info, warn};

use super::shared::{self, Shared, SUB_DOWN, SUB_UP};
use super::{keys, wire, PAYLOAD_BYTES_MAX, RECONNECT_BACKOFF_BASE_MS};
use crate::feed::backoff::Backoff;

/// Longest wait in one read, so stop and subscription changes are seen promptly.
const READ_SLICE: Duration = Duration::from_millis(100);

pub fn run(shared: Arc<Shared>) {
    let settings = shared.settings.clone();
    let mut backoff = Backoff::new(
        Duration::from_millis(RECONNECT_BACKOFF_BASE_MS),
        Duration::from_millis(settings.reconnect_backoff_max_ms),
        std::process::id() as u64 ^ 0x5ab,
    );
    let queue_max = settings.history_messages_max.max(4) as usize;
    let mut connected_once = false;
    while !shared.stopping() {
        match session(&shared, queue_max, &mut connected_once, &mut backoff) {
            Ok(()) => {}
            Err(e) => {
                let delay = backoff.next_delay();
                if shared.sub_state.swap(SUB_DOWN, Ordering::AcqRel) != SUB_DOWN {
                    shared.metrics.up.set(0);
                    shared.wake();
                }
                warn!("event=bus_subscriber_down error={:?} retry_ms={} attempt={}", e, delay.as_millis(), backoff.attempts());
                shared::sleep_unless_stopped(&shared, delay);
            }
        }
    }
}

/// One connection's life: returns `Err` with the reason it ended.
fn session(shared: &Shared, queue_max: usize, connected_once: &mut bool, backoff: &mut Backoff) -> Result<(), String> {
    let settings = &shared.settings;
    let mut con = shared::connect(settings).map_err(|e| e.to_string())?;
    let mut pubsub = con.as_pubsub();
    pubsub.subscribe(keys::probe(&settings.node_id)).map_err(|e| e.to_string())?;
    let (mut version, wanted) = shared.wanted();
    let mut subscribed: Vec<String> = Vec::new();
    for symbol in &wanted {
        pubsub.subscribe(keys::channel(symbol)).map_err(|e| e.to_string())?;
        subscribed.push(symbol.clone());
    }
    pubsub.set_read_timeout(Some(READ_SLICE)).map_err(|e| e.to_string())?;
    if *connected_once {
        shared.metrics.reconnects.inc();
    }
    *connected_once = true;
    backoff.reset();
    shared.sub_state.store(SUB_UP, Ordering::Release);
    shared.metrics.up.set(1);
    shared.last_message_unix_ms.store(shared::wall_unix_ms(), Ordering::Relaxed);
    info!("event=bus_subscribed node={} symbols={}", settings.node_id, subscribed.join(","));
    shared.inbox().resubscribed.extend(subscribed.iter().cloned());
    shared.wake();
    let probe_timeout = Duration::from_millis(settings.probe_timeout_ms);
    let mut last_received = Instant::now();
    while !shared.stopping() {
        if shared.wanted_version.load(Ordering::Acquire) != version {
            let (v, wanted) = shared.wanted();
            version = v;
            let mut added = Vec::new();
            for symbol in wanted.iter().filter(|s| !subscribed.contains(s)) {
                pubsub.subscribe(keys::channel(symbol)).map_err(|e| e.to_string())?;
                added.push(symbol.clone());
            }
            for symbol in subscribed.iter().filter(|s| !wanted.contains(s)) {
                pubsub.unsubscribe(keys::channel(symbol)).map_err(|e| e.to_string())?;
            }
            subscribed = wanted;
            if !added.is_empty() {
                shared.inbox().resubscribed.extend(added);
                shared.wake();
            }
        }
        if last_received.elapsed() > probe_timeout {
            shared.metrics.stale_rebuilds.inc();
            return Err(format!("stale subscription: nothing received for {} ms, not even the probe", probe_timeout.as_millis()));
        }
        let message = match pubsub.get_message() {
            Ok(message) => message,
            Err(e) if e.is_timeout() => continue,
            Err(e) => return Err(e.to_string()),
        };
        last_received = Instant::now();
        shared.last_message_unix_ms.store(shared::wall_unix_ms(), Ordering::Relaxed);
        let channel = message.get_channel_name();
        let Some(symbol) = keys::symbol_of_channel(channel) else { continue };
        match wire::decode(message.get_payload_bytes(), PAYLOAD_BYTES_MAX, shared.deflate_min_bytes) {
            Ok(received) if &*received.snapshot.symbol == symbol => {
                let mut inbox = shared.inbox();
                let queue = inbox.snapshots.entry(symbol.to_string()).or_default();
                queue.push_back(received);
                if queue.len() > queue_max {
                    queue.pop_front();
                    shared.metrics.handoff_dropped.inc();
                }
                drop(inbox);
                shared.wake();
            }
            Ok(_) => {
                shared.metrics.invalid_payloads.inc();
                warn!("event=bus_payload_refused channel={channel:?} reason=\"symbol does not match the channel\"");
            }
            Err(e) => {
                shared.metrics.invalid_payloads.inc();
                warn!("event=bus_payload_refused channel={channel:?} reason={:?}", e.to_string());
            }
        }
    }
    Ok(())
}
