//! The `bus-control` thread: holds the lease (acquire or renew every third of its TTL), makes
//! the leader's fenced publishes, and publishes the subscriber's probe. Redis unreachable: it
//! retries with backoff and jitter and keeps what it could not publish, in order, to publish it
//! (fenced) once Redis answers again; whatever the fence refuses then is reported back and never
//! shown (`hub.rs`: a leader shows its own stamps only once they are published).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use log::{info, warn};
use redis::Connection;

use super::lease::{self, Published, Scripts};
use super::presence::Presence;
use super::shared::{self, Outcome, Shared};
use super::{keys, wire, PAYLOAD_BYTES_MAX, RECONNECT_BACKOFF_BASE_MS};
use crate::core::StampedSnapshot;
use crate::feed::backoff::Backoff;

/// The control thread's state; it outlives a restart of the thread body (`supervise.rs`).
pub struct Control {
    publish_rx: Receiver<(u64, StampedSnapshot)>,
    epoch_prefix: String,
    scripts: Scripts,
    backoff: Backoff,
    con: Option<Connection>,
    token: Option<String>,
    /// Handed over, not yet published, in order. Bounded by the hub, which keeps at most
    /// `PUBLISH_QUEUE_MAX` snapshots unanswered.
    backlog: VecDeque<(u64, StampedSnapshot)>,
    /// How many at the front of `backlog` an outage held back (counted as republished).
    held_by_outage: usize,
    /// The connection was lost (not just never made): what waits when it is back was held back.
    con_lost: bool,
    /// This process's `NODE_ID` presence key (one process per id).
    presence: Presence,
    next_lease: Instant,
    next_probe: Instant,
}

impl Control {
    pub fn new(shared: &Shared, publish_rx: Receiver<(u64, StampedSnapshot)>, epoch_prefix: String) -> Control {
        let presence = Presence::new(format!("{}#{epoch_prefix}", shared.settings.node_id));
        Control {
            presence,
            publish_rx,
            epoch_prefix,
            scripts: Scripts::default(),
            backoff: Backoff::new(
                Duration::from_millis(RECONNECT_BACKOFF_BASE_MS),
                Duration::from_millis(shared.settings.reconnect_backoff_max_ms),
                std::process::id() as u64 ^ 0xb05,
            ),
            con: None,
            token: None,
            backlog: VecDeque::new(),
            held_by_outage: 0,
            con_lost: false,
            next_lease: Instant::now(),
            next_probe: Instant::now(),
        }
    }

    /// The thread body: runs until the bus stops.
    pub fn run(&mut self, shared: &Shared) {
        while !shared.stopping() {
            if self.con.is_none() {
                match shared::connect(&shared.settings) {
                    Ok(c) => {
                        self.backoff.reset();
                        self.con = Some(c);
                        if self.con_lost {
                            // Stamped while Redis was away: they go first, and count as republished.
                            self.hold_queued();
                            self.con_lost = false;
                        }
                        // An outage may have outlived the lease: look at once.
                        self.next_lease = Instant::now();
                        info!("event=bus_control_connected url={:?}", shared.settings.url);
                    }
                    Err(e) => {
                        let delay = self.backoff.next_delay();
                        warn!("event=bus_control_unreachable error={:?} retry_ms={}", e.to_string(), delay.as_millis());
                        self.hold_queued();
                        shared.wake();
                        shared::sleep_unless_stopped(shared, delay);
                    }
                }
                continue;
            }
            if let Err(e) = self.step(shared) {
                warn!("event=bus_control_error error={:?} backlog={}", e.to_string(), self.backlog.len());
                self.con = None;
                self.con_lost = true;
                self.held_by_outage = self.backlog.len();
                shared.lease().holder = None;
                shared.wake();
            }
        }
        if let Some(con) = self.con.as_mut() {
            self.presence.release(con, &shared.settings.node_id);
        }
    }

    fn step(&mut self, shared: &Shared) -> redis::RedisResult<()> {
        let ttl = Duration::from_millis(shared.settings.lease_ttl_ms);
        let now = Instant::now();
        if now >= self.next_lease {
            self.next_lease = now + ttl / 3;
            self.lease_step(shared, now)?;
        }
        if now >= self.next_probe {
            self.next_probe = now + Duration::from_millis(shared.settings.probe_interval_ms);
            let Some(c) = self.con.as_mut() else { return Ok(()) };
            redis::cmd("PUBLISH").arg(keys::probe(&shared.settings.node_id)).arg("probe").query::<i64>(c)?;
        }
        self.publish_backlog(shared)?;
        let wait = self.next_lease.min(self.next_probe).saturating_duration_since(Instant::now());
        match self.publish_rx.recv_timeout(wait) {
            Ok(item) => {
                self.backlog.push_back(item);
                self.publish_backlog(shared)
            }
            Err(RecvTimeoutError::Timeout) => Ok(()),
            Err(RecvTimeoutError::Disconnected) => {
                shared.stop.store(true, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
        }
    }

    /// Publishes the backlog in order; one that fails on the connection stays at the front.
    fn publish_backlog(&mut self, shared: &Shared) -> redis::RedisResult<()> {
        while let Some((term, snapshot)) = self.backlog.front().cloned() {
            let outcome = self.publish(shared, term, snapshot)?;
            self.backlog.pop_front();
            if self.held_by_outage > 0 {
                self.held_by_outage -= 1;
                if matches!(outcome, Outcome::Published(..)) {
                    shared.metrics.republished.inc();
                }
            }
            shared.inbox().outcomes.push_back(outcome);
            shared.wake();
        }
        Ok(())
    }

    /// Redis is unreachable: what the hub queued waits in the backlog.
    fn hold_queued(&mut self) {
        while let Ok(item) = self.publish_rx.try_recv() {
            self.backlog.push_back(item);
        }
        self.held_by_outage = self.backlog.len();
    }

    /// Renews our lease, or acquires the free one; records the outcome for the hub.
    fn lease_step(&mut self, shared: &Shared, sent_at: Instant) -> redis::RedisResult<()> {
        let settings = &shared.settings;
        let ttl = Duration::from_millis(settings.lease_ttl_ms);
        let Some(con) = self.con.as_mut() else { return Ok(()) };
        self.presence.step(shared, con, &self.scripts)?;
        // Tried even when our own clock says the lease is over (an outage): the key still holding
        // our token proves nobody else held it meanwhile (SET NX succeeds only on a free key).
        if let Some(t) = self.token.as_deref() {
            if self.scripts.extend(con, keys::LEASE, t, settings.lease_ttl_ms)? {
                let mut view = shared.lease();
                view.held_until = Some(sent_at + ttl);
                view.reachable_at = Some(Instant::now());
                view.holder = Some(settings.node_id.clone());
                drop(view);
                shared.wake();
                return Ok(());
            }
            warn!("event=bus_lease_lost node={}", settings.node_id);
        }
        let term = shared.lease().term + 1;
        let candidate = format!("{}#{}.{term}", settings.node_id, self.epoch_prefix);
        let taken = lease::acquire(con, keys::LEASE, &candidate, settings.lease_ttl_ms)?;
        let holder = if taken { Some(settings.node_id.clone()) } else { lease::holder(con, keys::LEASE)? };
        let tails = if taken { read_tails(shared, con) } else { None };
        let mut view = shared.lease();
        view.reachable_at = Some(Instant::now());
        view.holder = holder;
        if taken {
            info!("event=bus_lease_acquired node={} term={term} ttl_ms={}", settings.node_id, settings.lease_ttl_ms);
            view.term = term;
            view.held_until = Some(sent_at + ttl);
            view.tails = tails.map(|t| (term, t));
            self.token = Some(candidate);
        } else {
            view.held_until = None;
            self.token = None;
        }
        drop(view);
        shared.wake();
        Ok(())
    }

    /// The fenced publish of a snapshot the hub stamped under lease `term`.
    fn publish(&mut self, shared: &Shared, term: u64, snapshot: StampedSnapshot) -> redis::RedisResult<Outcome> {
        let settings = &shared.settings;
        let current_term = shared.lease().term;
        let (Some(token), Some(con)) = (self.token.as_deref().filter(|_| term == current_term), self.con.as_mut()) else {
            shared.metrics.publish_refused.inc();
            return Ok(Outcome::NotPublished(snapshot));
        };
        let outcome = self.scripts.publish(con, keys::LEASE, token, &snapshot.symbol, &snapshot.epoch, snapshot.seq, &snapshot.message, settings.history_messages_max)?;
        Ok(match outcome {
            Published::Delivered(_) => {
                shared.metrics.published.inc();
                Outcome::Published(term, snapshot)
            }
            Published::Refused | Published::SeqUsed => {
                shared.metrics.publish_refused.inc();
                let reason = if outcome == Published::Refused { "lease_not_held" } else { "seq_already_published" };
                warn!("event=bus_publish_refused node={} symbol={} epoch={} seq={} reason={reason}", settings.node_id, snapshot.symbol, snapshot.epoch, snapshot.seq);
                if outcome == Published::Refused {
                    shared.lease().held_until = None;
                    shared.wake();
                }
                Outcome::NotPublished(snapshot)
            }
        })
    }
}

/// The newest history entry of every supported symbol (`None` when Redis could not be read:
/// the hub then starts new epochs).
fn read_tails(shared: &Shared, con: &mut Connection) -> Option<BTreeMap<String, StampedSnapshot>> {
    let mut tails = BTreeMap::new();
    for symbol in &shared.supported {
        let newest = match lease::read_history(con, symbol, 1) {
            Ok(mut entries) => entries.pop(),
            Err(e) => {
                warn!("event=bus_history_unreadable symbol={symbol} error={:?} detail=\"new epochs\"", e.to_string());
                return None;
            }
        };
        let Some(payload) = newest else { continue };
        match wire::decode(&payload, PAYLOAD_BYTES_MAX, None) {
            Ok(received) if &*received.snapshot.symbol == symbol => {
                tails.insert(symbol.clone(), received.snapshot);
            }
            _ => {
                shared.metrics.invalid_payloads.inc();
            }
        }
    }
    Some(tails)
}
