//! The `bus-control` thread: holds the lease (acquire or renew every third of its TTL), makes
//! the leader's fenced publishes, and publishes the subscriber's probe. Redis unreachable: it
//! retries with backoff and jitter, dropping (and counting) what it cannot publish.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use log::{info, warn};
use redis::Connection;

use super::lease::{self, Published, Scripts};
use super::shared::{self, Shared};
use super::{keys, RECONNECT_BACKOFF_BASE_MS};
use crate::core::StampedSnapshot;
use crate::feed::backoff::Backoff;

pub fn run(shared: Arc<Shared>, publish_rx: Receiver<(u64, StampedSnapshot)>, epoch_prefix: String) {
    let settings = shared.settings.clone();
    let ttl = Duration::from_millis(settings.lease_ttl_ms);
    let renew_every = ttl / 3;
    let probe_every = Duration::from_millis(settings.probe_interval_ms);
    let scripts = Scripts::default();
    let mut backoff = Backoff::new(
        Duration::from_millis(RECONNECT_BACKOFF_BASE_MS),
        Duration::from_millis(settings.reconnect_backoff_max_ms),
        std::process::id() as u64 ^ 0xb05,
    );
    let probe_channel = keys::probe(&settings.node_id);
    let mut con: Option<Connection> = None;
    let mut token: Option<String> = None;
    let mut next_lease = Instant::now();
    let mut next_probe = Instant::now();
    while !shared.stopping() {
        let Some(c) = con.as_mut() else {
            match shared::connect(&settings) {
                Ok(c) => {
                    backoff.reset();
                    con = Some(c);
                    info!("event=bus_control_connected url={:?}", settings.url);
                }
                Err(e) => {
                    let delay = backoff.next_delay();
                    warn!("event=bus_control_unreachable error={:?} retry_ms={}", e.to_string(), delay.as_millis());
                    drop_queued(&shared, &publish_rx);
                    shared.wake();
                    shared::sleep_unless_stopped(&shared, delay);
                }
            }
            continue;
        };
        let result = (|| -> redis::RedisResult<()> {
            let now = Instant::now();
            if now >= next_lease {
                next_lease = now + renew_every;
                lease_step(&shared, c, &scripts, &mut token, &epoch_prefix, now)?;
            }
            if now >= next_probe {
                next_probe = now + probe_every;
                redis::cmd("PUBLISH").arg(&probe_channel).arg("probe").query::<i64>(c)?;
            }
            let wait = next_lease.min(next_probe).saturating_duration_since(Instant::now());
            match publish_rx.recv_timeout(wait) {
                Ok((term, snapshot)) => publish(&shared, c, &scripts, &token, term, &snapshot),
                Err(RecvTimeoutError::Timeout) => Ok(()),
                Err(RecvTimeoutError::Disconnected) => {
                    shared.stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    Ok(())
                }
            }
        })();
        if let Err(e) = result {
            warn!("event=bus_control_error error={:?}", e.to_string());
            con = None;
            shared.lease().holder = None;
            shared.wake();
        }
    }
}

/// Acquires the free lease or renews ours; records the outcome for the loop.
fn lease_step(shared: &Shared, con: &mut Connection, scripts: &Scripts, token: &mut Option<String>, epoch_prefix: &str, sent_at: Instant) -> redis::RedisResult<()> {
    let settings = &shared.settings;
    let ttl = Duration::from_millis(settings.lease_ttl_ms);
    let still_ours = token.is_some() && shared.lease().held_until.is_some_and(|until| until > sent_at);
    if still_ours {
        if let Some(t) = token.as_deref() {
            if scripts.extend(con, keys::LEASE, t, settings.lease_ttl_ms)? {
                let mut view = shared.lease();
                view.held_until = Some(sent_at + ttl);
                view.reachable_at = Some(Instant::now());
                return Ok(());
            }
        }
        warn!("event=bus_lease_lost node={}", settings.node_id);
    }
    let term = shared.lease().term + 1;
    let candidate = format!("{}#{epoch_prefix}.{term}", settings.node_id);
    let taken = lease::acquire(con, keys::LEASE, &candidate, settings.lease_ttl_ms)?;
    let holder = if taken { Some(settings.node_id.clone()) } else { lease::holder(con, keys::LEASE)? };
    let mut view = shared.lease();
    view.reachable_at = Some(Instant::now());
    view.holder = holder;
    if taken {
        info!("event=bus_lease_acquired node={} term={term} ttl_ms={}", settings.node_id, settings.lease_ttl_ms);
        view.term = term;
        view.held_until = Some(sent_at + ttl);
        *token = Some(candidate);
    } else {
        view.held_until = None;
        *token = None;
    }
    drop(view);
    shared.wake();
    Ok(())
}

/// The fenced publish of a snapshot the loop stamped under lease `term`.
fn publish(shared: &Shared, con: &mut Connection, scripts: &Scripts, token: &Option<String>, term: u64, snapshot: &StampedSnapshot) -> redis::RedisResult<()> {
    let settings = &shared.settings;
    let current_term = shared.lease().term;
    let Some(token) = token.as_deref().filter(|_| term == current_term) else {
        shared.metrics.publish_refused.inc();
        return Ok(());
    };
    let outcome = scripts.publish(con, keys::LEASE, token, &snapshot.symbol, &snapshot.epoch, snapshot.seq, &snapshot.message, settings.history_messages_max)?;
    match outcome {
        Published::Delivered(_) => {
            shared.metrics.published.inc();
        }
        Published::Refused => {
            shared.metrics.publish_refused.inc();
            warn!("event=bus_publish_refused node={} symbol={} epoch={} seq={} reason=lease_not_held", settings.node_id, snapshot.symbol, snapshot.epoch, snapshot.seq);
            let mut view = shared.lease();
            view.held_until = None;
            drop(view);
            shared.wake();
        }
    }
    Ok(())
}

/// Redis is unreachable: what the loop queued for publishing cannot be published.
fn drop_queued(shared: &Shared, publish_rx: &Receiver<(u64, StampedSnapshot)>) {
    while publish_rx.try_recv().is_ok() {
        shared.metrics.publish_failed.inc();
    }
}
