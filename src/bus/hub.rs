//! The bus hub: the Redis bus in front of the loops' snapshots, on its own `bus-hub` thread.
//!
//! Roles (decided on the hub from what `bus-control` reports):
//! - **leader** (holds the lease): stamps its producer's snapshots with its own
//!   [`Sequencer`] (a new one, so a new epoch, per lease acquisition), hands them to every loop
//!   and to `bus-control` for the fenced publish; its producer computes every supported symbol.
//! - **follower**: forwards the leader's snapshots from the bus through the [`Follower`]; its
//!   producer keeps its clients' symbols warm (so a takeover or a standalone period can start at
//!   once) but its snapshots are not shown.
//! - **standalone** (Redis unreachable for a lease TTL): serves what it computes itself. A former
//!   leader keeps its epoch (its clients see no change); a former follower stamps under a
//!   node-local epoch (`{node}.local{n}...`), so its clients see an epoch change, resync over
//!   REST, and see another one when the bus returns.
//!
//! The fan-out hands the producer's snapshots here unstamped ([`SnapshotFanout::set_interceptor`]);
//! what the loops show leaves through [`SnapshotFanout::deliver_stamped`] (never re-stamped), the
//! hub's state through [`SnapshotFanout::report_bus`]. Local demand is the loops' union
//! ([`DemandControl`]); the hub decides what the producer computes.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use log::{info, warn};

use super::follower::{Action, Follower};
use super::metrics::BusMetrics;
use super::shared::{self, Shared, SUB_DOWN, SUB_UP};
use super::{control, history, subscriber, BusSettings};
use crate::core::{BusReport, Sequencer, SnapshotReady};
use crate::driver::SnapshotFanout;
use crate::worker::DemandControl;

/// Stamped snapshots waiting for `bus-control` to publish them.
const PUBLISH_QUEUE_MAX: usize = 256;
/// History requests waiting for `bus-history` (one per symbol at most is in flight).
const HISTORY_QUEUE_MAX: usize = 128;
/// On shutdown the bus threads get this long to end.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// The hub looks at the lease clock at least this often even when nothing woke it, so a lease
/// that runs out (no message says so) changes the role within this bound, ms.
const HUB_TICK_MAX_MS: u64 = 50;
/// The hub re-reports its state (and checks its threads) this often, ms.
const REPORT_INTERVAL_MS: u64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Leader { term: u64 },
    Follower,
    Standalone,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Leader { .. } => "leader",
            Role::Follower => "follower",
            Role::Standalone => "standalone",
        }
    }
}

/// Who stamps this node's own snapshots, and under which epoch prefix.
struct OwnStamps {
    sequencer: Sequencer,
    /// `Some(term)` for a leader's sequencer, `None` for a standalone one.
    term: Option<u64>,
}

/// The running bus: its threads, for `/metrics` and shutdown.
pub struct BusHandle {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl BusHandle {
    /// Starts the bus threads and the hub in front of `fanout`: from now on the producer's
    /// snapshots go to the hub. `demand` is the workers' (the loops' union); `supported` is what
    /// a leader computes.
    pub fn start(
        settings: BusSettings,
        fanout: Arc<SnapshotFanout>,
        demand: DemandControl,
        supported: Vec<String>,
    ) -> std::io::Result<BusHandle> {
        let boot = format!("{:x}", shared::wall_unix_ms());
        let epoch_prefix = format!("{}.{boot}", settings.node_id);
        let history_max = settings.history_messages_max as usize;
        let (tick_tx, tick_rx) = bounded(1);
        let shared = Arc::new(Shared::new(settings, tick_tx.clone(), fanout.deflate_min_bytes()));
        demand.notify_on_change(tick_tx);
        let inlet = Arc::clone(&shared);
        if !fanout.set_interceptor(Box::new(move |snapshot| inlet.computed(snapshot))) {
            return Err(std::io::Error::other("the fan-out already has a snapshot interceptor"));
        }
        let (publish_tx, publish_rx) = bounded(PUBLISH_QUEUE_MAX);
        let (history_tx, history_rx) = bounded(HISTORY_QUEUE_MAX);
        let mut threads = Vec::new();
        let s = Arc::clone(&shared);
        let prefix = epoch_prefix.clone();
        threads.push(std::thread::Builder::new().name("bus-control".into()).spawn(move || control::run(s, publish_rx, prefix))?);
        let s = Arc::clone(&shared);
        threads.push(std::thread::Builder::new().name("bus-subscriber".into()).spawn(move || subscriber::run(s))?);
        let s = Arc::clone(&shared);
        threads.push(std::thread::Builder::new().name("bus-history".into()).spawn(move || history::run(s, history_rx))?);
        info!("event=bus_start node={} url={:?}", shared.settings.node_id, shared.settings.url);
        let hub = Hub {
            shared: Arc::clone(&shared),
            fanout,
            demand,
            publish_tx,
            history_tx,
            follower: Follower::new(history_max.max(4) * 2),
            role: Role::Follower,
            own: None,
            epoch_prefix,
            local_periods: 0,
            latest_local: BTreeMap::new(),
            local_demand: Vec::new(),
            supported,
            producer_demand: None,
            mirrored: Default::default(),
            reported_link: (u64::MAX, 0),
        };
        threads.push(std::thread::Builder::new().name("bus-hub".into()).spawn(move || hub.run(tick_rx))?);
        Ok(BusHandle { shared, threads })
    }

    /// The bus's metric handles (shared; each loop registers them in its `/metrics`).
    pub fn metrics(&self) -> BusMetrics {
        self.shared.metrics.clone()
    }

    /// Stops the bus threads (shutdown); returns once they have ended or been abandoned.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.wake();
        let deadline = Instant::now() + STOP_TIMEOUT;
        for handle in self.threads.drain(..) {
            crate::worker::join_before(handle, deadline, "bus");
        }
    }
}

/// What the `bus-hub` thread owns.
struct Hub {
    shared: Arc<Shared>,
    fanout: Arc<SnapshotFanout>,
    demand: DemandControl,
    publish_tx: Sender<(u64, crate::core::StampedSnapshot)>,
    history_tx: Sender<String>,
    follower: Follower,
    role: Role,
    own: Option<OwnStamps>,
    /// Prefix of every epoch this process stamps: node id and boot time, unique per run.
    epoch_prefix: String,
    local_periods: u64,
    /// The newest snapshot the producer computed per symbol (shown or not), so a new leader or
    /// a standalone node has something to send at once.
    latest_local: BTreeMap<String, SnapshotReady>,
    local_demand: Vec<String>,
    supported: Vec<String>,
    producer_demand: Option<Vec<String>>,
    mirrored: super::follower::FollowerCounters,
    /// Subscriber state and reconnect count in the last report: a change is reported at once.
    reported_link: (u64, u64),
}

impl Hub {
    fn run(mut self, tick: Receiver<()>) {
        self.update_producer_demand();
        // `/health` shows the bus from the first event on, not only after a report interval.
        self.push_report();
        let mut next_report = Instant::now() + Duration::from_millis(REPORT_INTERVAL_MS);
        while !self.shared.stopping() {
            let _ = tick.recv_timeout(Duration::from_millis(HUB_TICK_MAX_MS));
            if self.shared.stopping() {
                break;
            }
            self.turn();
            if Instant::now() >= next_report {
                next_report = Instant::now() + Duration::from_millis(REPORT_INTERVAL_MS);
                self.push_report();
            }
        }
    }

    /// One pass over everything that may have changed: role, local demand, computed snapshots,
    /// what the bus threads handed over, the subscriber's link.
    fn turn(&mut self) {
        self.refresh_role();
        let union = self.demand.union();
        if union != self.local_demand {
            self.set_demand(union);
        }
        for (_, ready) in self.shared.take_computed() {
            self.on_computed(ready);
        }
        self.drain_bus();
        let link = (self.shared.sub_state.load(Ordering::Acquire), self.shared.metrics.reconnects.get());
        if link != self.reported_link {
            self.push_report();
        }
    }

    /// The role the lease view and the clock say this node has now.
    fn current_role(&self) -> Role {
        let view = self.shared.lease().clone();
        let now = Instant::now();
        if view.held_until.is_some_and(|until| until > now) {
            return Role::Leader { term: view.term };
        }
        let ttl = Duration::from_millis(self.shared.settings.lease_ttl_ms);
        let unreachable = view.reachable_at.is_none_or(|at| now.duration_since(at) > ttl)
            && self.shared.sub_state.load(Ordering::Acquire) != SUB_UP;
        if unreachable {
            Role::Standalone
        } else {
            Role::Follower
        }
    }

    /// Follows a role change: new sequencer, catch-up sends, producer demand.
    fn refresh_role(&mut self) {
        let role = self.current_role();
        if role == self.role {
            return;
        }
        let before = self.role;
        self.role = role;
        info!("event=bus_role node={} from={} to={}", self.shared.settings.node_id, before.name(), role.name());
        self.shared.metrics.leader.set(i64::from(matches!(role, Role::Leader { .. })));
        match role {
            Role::Leader { term } => {
                if self.own.as_ref().and_then(|o| o.term) != Some(term) {
                    let sequencer = Sequencer::new(format!("{}.{term}", self.epoch_prefix)).with_deflate(self.shared.deflate_min_bytes);
                    self.own = Some(OwnStamps { sequencer, term: Some(term) });
                    // A new epoch starts at once with what this node already computed.
                    self.resend_latest_local();
                }
            }
            Role::Standalone => {
                if before == Role::Follower {
                    self.local_periods += 1;
                    let sequencer = Sequencer::new(format!("{}.local{}", self.epoch_prefix, self.local_periods))
                        .with_deflate(self.shared.deflate_min_bytes);
                    self.own = Some(OwnStamps { sequencer, term: None });
                    self.resend_latest_local();
                }
            }
            Role::Follower => self.follower.end_local(),
        }
        self.update_producer_demand();
        self.push_report();
    }

    fn resend_latest_local(&mut self) {
        let latest: Vec<SnapshotReady> = self.latest_local.values().cloned().collect();
        for ready in latest {
            self.stamp_own(&ready);
        }
    }

    /// Stamps a snapshot this node computed, shows it, and (as leader) publishes it.
    fn stamp_own(&mut self, ready: &SnapshotReady) {
        let Some(own) = self.own.as_mut() else { return };
        let stamped = own.sequencer.stamp(shared::wall_unix_ms(), ready);
        if let (Role::Leader { term }, Some(_)) = (self.role, own.term) {
            match self.publish_tx.try_send((term, stamped.clone())) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    self.shared.metrics.publish_failed.inc();
                }
            }
        }
        let actions = self.follower.on_local(stamped);
        self.carry_out(actions);
    }

    fn on_computed(&mut self, ready: SnapshotReady) {
        self.refresh_role();
        match self.role {
            Role::Leader { .. } | Role::Standalone => self.stamp_own(&ready),
            Role::Follower => {}
        }
        self.latest_local.insert(ready.symbol.clone(), ready);
    }

    /// Takes what the bus threads handed over and runs it through the follower.
    fn drain_bus(&mut self) {
        let (resubscribed, history, snapshots) = {
            let mut inbox = self.shared.inbox();
            (std::mem::take(&mut inbox.resubscribed), std::mem::take(&mut inbox.history), std::mem::take(&mut inbox.snapshots))
        };
        if !resubscribed.is_empty() {
            let wanted: Vec<String> = resubscribed.into_iter().filter(|s| self.local_demand.contains(s)).collect();
            let actions = self.follower.on_resubscribed(&wanted);
            self.carry_out(actions);
        }
        for (symbol, entries) in history {
            let actions = self.follower.on_history(&symbol, entries);
            self.carry_out(actions);
        }
        let wall = shared::wall_unix_ms();
        for (_, queue) in snapshots {
            for received in queue {
                self.shared.metrics.received.inc();
                let lag_ms = (wall - received.sent_at_unix_ms).max(0);
                self.shared.metrics.lag_seconds.observe(lag_ms as f64 / 1000.0);
                self.shared.last_lag_ms.store(lag_ms, Ordering::Relaxed);
                let actions = self.follower.on_bus(received.snapshot);
                self.carry_out(actions);
            }
        }
        self.mirror_counters();
    }

    fn carry_out(&mut self, actions: Vec<Action>) {
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Deliver(stamped) => {
                    self.fanout.deliver_stamped(stamped);
                }
                Action::Fetch(symbol) => {
                    if let Err(e) = self.history_tx.try_send(symbol) {
                        // No history reader to ask: let the hole through now.
                        let symbol = e.into_inner();
                        warn!("event=bus_history_request_dropped symbol={symbol}");
                        queue.extend(self.follower.on_history(&symbol, Vec::new()));
                    }
                }
            }
        }
    }

    fn mirror_counters(&mut self) {
        let now = self.follower.counters();
        let m = &self.shared.metrics;
        m.recovered.inc_by(now.recovered - self.mirrored.recovered);
        m.duplicates.inc_by(now.duplicates - self.mirrored.duplicates);
        m.gaps.inc_by(now.gaps - self.mirrored.gaps);
        self.mirrored = now;
    }

    fn update_producer_demand(&mut self) {
        let demand = match self.role {
            Role::Leader { .. } => self.supported.clone(),
            Role::Follower | Role::Standalone => self.local_demand.clone(),
        };
        if self.producer_demand.as_ref() != Some(&demand) {
            self.producer_demand = Some(demand.clone());
            self.demand.set_producer_demand(Some(demand));
        }
    }

    fn push_report(&mut self) {
        let s = &self.shared;
        let view = s.lease().clone();
        let counters = self.follower.counters();
        let state = match s.sub_state.load(Ordering::Acquire) {
            SUB_UP => "up",
            SUB_DOWN => "down",
            _ => "connecting",
        };
        let last = s.last_message_unix_ms.load(Ordering::Relaxed);
        let lag = s.last_lag_ms.load(Ordering::Relaxed);
        self.reported_link = (s.sub_state.load(Ordering::Acquire), s.metrics.reconnects.get());
        let report = BusReport {
            node_id: s.settings.node_id.clone(),
            role: self.role.name().into(),
            lease_holder: view.holder.clone(),
            state: state.into(),
            last_message_unix_ms: (last > 0).then_some(last),
            silence_ms: s.settings.probe_interval_ms + s.settings.probe_timeout_ms,
            published_total: s.metrics.published.get(),
            publish_refused_total: s.metrics.publish_refused.get(),
            received_total: s.metrics.received.get(),
            recovered_total: counters.recovered,
            duplicates_total: counters.duplicates,
            gaps_total: counters.gaps,
            reconnects_total: s.metrics.reconnects.get(),
            stale_rebuilds_total: s.metrics.stale_rebuilds.get(),
            lag_ms: (lag >= 0).then_some(lag),
        };
        self.fanout.report_bus(report);
    }

    /// The loops' clients now want `symbols`.
    fn set_demand(&mut self, symbols: Vec<String>) {
        for gone in self.local_demand.iter().filter(|s| !symbols.contains(s)) {
            self.follower.forget(gone);
        }
        self.local_demand = symbols.clone();
        self.shared.set_wanted(symbols);
        self.update_producer_demand();
    }
}
