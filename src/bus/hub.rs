//! The bus hub: the Redis bus in front of the loops' snapshots, on its own `bus-hub` thread.
//!
//! Roles (decided on the hub from what `bus-control` reports):
//! - **leader** (holds the lease): stamps its producer's snapshots with its own [`Sequencer`]
//!   (a new one per lease acquisition: a new epoch, unless it continues the previous leader's,
//!   [`super::lineage`]) and hands them to `bus-control` for the fenced publish; a stamp reaches
//!   the loops only once its publish is confirmed, so nothing is ever shown in an epoch that the
//!   history does not hold (what makes continuing an epoch sound). Its producer computes every
//!   supported symbol.
//! - **follower**: forwards the leader's snapshots from the bus through the [`Follower`]; its
//!   producer keeps its clients' symbols warm (so a takeover or a standalone period can start at
//!   once) but its snapshots are not shown.
//! - **standalone** (Redis unreachable for a lease TTL): serves what it computes itself under a
//!   node-local epoch (`{node}.{boot}.local{n}-...`, never published), so its clients see an
//!   epoch change, resync over REST, and see another one when the bus returns. A former leader
//!   does the same (its unpublished stamps must not enter an epoch another node may continue);
//!   its lease sequencer is kept, so if the lease outlived the outage it goes on where it was.
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
use super::lineage::Recent;
use super::shared::{self, Outcome, Shared, SUB_DOWN, SUB_UP};
use super::{control, history, subscriber, supervise, BusSettings};
use crate::core::{BusReport, Sequencer, SnapshotReady};
use crate::driver::SnapshotFanout;
use crate::worker::DemandControl;

/// Stamped snapshots handed to `bus-control` and not yet answered (published or not). The hub
/// stamps no more while this many are out (what is computed meanwhile waits, in order, at most
/// `COMPUTED_PER_SYMBOL_MAX` per symbol), so `bus-control`'s backlog during an outage stays
/// within it.
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

/// The running bus: its threads, for `/metrics` and shutdown.
pub struct BusHandle {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// The bus between [`BusHandle::intercept`] (before the workers start, so no snapshot is ever
/// stamped by the fan-out) and [`BusInlet::start`] (once the workers' demand exists).
pub struct BusInlet {
    shared: Arc<Shared>,
    fanout: Arc<SnapshotFanout>,
    tick_rx: Receiver<()>,
    tick_tx: Sender<()>,
}

impl BusHandle {
    /// Puts the bus in front of `fanout`: from now on the producer's snapshots wait for the hub
    /// (newest per symbol) instead of being stamped by the fan-out. `supported` is what a leader
    /// computes. Errors when the fan-out already has an interceptor.
    pub fn intercept(settings: BusSettings, fanout: Arc<SnapshotFanout>, supported: Vec<String>) -> std::io::Result<BusInlet> {
        let (tick_tx, tick_rx) = bounded(1);
        let shared = Arc::new(Shared::new(settings, tick_tx.clone(), fanout.deflate_min_bytes(), supported));
        let inlet = Arc::clone(&shared);
        if !fanout.set_interceptor(Box::new(move |snapshot| inlet.computed(snapshot))) {
            return Err(std::io::Error::other("the fan-out already has a snapshot interceptor"));
        }
        Ok(BusInlet { shared, fanout, tick_rx, tick_tx })
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

impl BusInlet {
    /// Starts the bus threads (each supervised: restarted with backoff if it dies,
    /// `supervise.rs`) and the hub. `demand` is the workers' (the loops' union).
    pub fn start(self, demand: DemandControl) -> std::io::Result<BusHandle> {
        let BusInlet { shared, fanout, tick_rx, tick_tx } = self;
        let boot = format!("{:x}", shared::wall_unix_ms());
        let epoch_prefix = format!("{}.{boot}", shared.settings.node_id);
        let history_max = shared.settings.history_messages_max as usize;
        demand.notify_on_change(tick_tx);
        let (publish_tx, publish_rx) = bounded(PUBLISH_QUEUE_MAX);
        let (history_tx, history_rx) = bounded::<String>(HISTORY_QUEUE_MAX);
        let report_change = {
            let (shared, fanout) = (Arc::clone(&shared), Arc::clone(&fanout));
            move || {
                shared.wake();
                let last = shared.last_report.lock().unwrap_or_else(|e| e.into_inner()).clone();
                if let Some(mut report) = last {
                    report.threads_restarting = shared.threads_down.load(Ordering::Acquire);
                    report.thread_restarts_total = shared.metrics.thread_restarts.get();
                    fanout.report_bus(report);
                }
            }
        };
        let mut threads = Vec::new();
        let mut control = control::Control::new(&shared, publish_rx, epoch_prefix.clone());
        let s = Arc::clone(&shared);
        threads.push(supervise::spawn("control", Arc::clone(&shared), move || control.run(&s), report_change.clone())?);
        let s = Arc::clone(&shared);
        threads.push(supervise::spawn("subscriber", Arc::clone(&shared), move || subscriber::run(Arc::clone(&s)), report_change.clone())?);
        let s = Arc::clone(&shared);
        threads.push(supervise::spawn("history", Arc::clone(&shared), move || history::run(Arc::clone(&s), history_rx.clone()), report_change.clone())?);
        info!("event=bus_start node={} url={:?}", shared.settings.node_id, shared.settings.url);
        let mut hub = Hub {
            shared: Arc::clone(&shared),
            fanout,
            demand,
            publish_tx,
            history_tx,
            follower: Follower::new(history_max.max(4) * 2),
            role: Role::Follower,
            leader_stamps: None,
            local_stamps: None,
            epoch_prefix,
            local_periods: 0,
            latest_local: BTreeMap::new(),
            recent: BTreeMap::new(),
            undecided: BTreeMap::new(),
            in_flight: 0,
            unstamped: BTreeMap::new(),
            local_demand: Vec::new(),
            producer_demand: None,
            mirrored: Default::default(),
            reported_link: (u64::MAX, 0, 0),
            started: false,
        };
        threads.push(supervise::spawn("hub", Arc::clone(&shared), move || hub.run(&tick_rx), report_change)?);
        Ok(BusHandle { shared, threads })
    }
}

/// What the `bus-hub` thread owns (kept across a restart of its body).
struct Hub {
    shared: Arc<Shared>,
    fanout: Arc<SnapshotFanout>,
    demand: DemandControl,
    publish_tx: Sender<(u64, crate::core::StampedSnapshot)>,
    history_tx: Sender<String>,
    follower: Follower,
    role: Role,
    /// The sequencer of this node's newest lease term; kept through a standalone period, so a
    /// lease that outlived an outage goes on in its epochs.
    leader_stamps: Option<(u64, Sequencer)>,
    /// The sequencer of the current standalone period (node-local epochs, never published).
    local_stamps: Option<Sequencer>,
    /// Prefix of every epoch this process stamps: node id and boot time, unique per run.
    epoch_prefix: String,
    local_periods: u64,
    /// The newest snapshot the producer computed per symbol (shown or not), so a new leader or
    /// a standalone node has something to send at once.
    latest_local: BTreeMap<String, SnapshotReady>,
    /// Digests of the producer's recent snapshots per symbol: may a new leader continue an epoch?
    recent: BTreeMap<String, Recent>,
    /// The previous leader's newest publish of symbols this node had not computed yet when it
    /// took the lease: decided on the first computation.
    undecided: BTreeMap<String, crate::core::StampedSnapshot>,
    /// Stamps handed to `bus-control` and not answered yet.
    in_flight: usize,
    /// Computed snapshots waiting for `in_flight` to drop, per symbol in the order computed
    /// (at most `COMPUTED_PER_SYMBOL_MAX` each; past it the oldest is dropped and counted).
    unstamped: BTreeMap<String, VecDeque<SnapshotReady>>,
    local_demand: Vec<String>,
    producer_demand: Option<Vec<String>>,
    mirrored: super::follower::FollowerCounters,
    /// Subscriber state, reconnect count and threads down in the last report: a change is
    /// reported at once.
    reported_link: (u64, u64, u64),
    started: bool,
}

impl Hub {
    fn run(&mut self, tick: &Receiver<()>) {
        if !self.started {
            self.started = true;
            self.update_producer_demand();
        }
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
    /// publish outcomes, what the bus threads handed over, the subscriber's link.
    fn turn(&mut self) {
        self.refresh_role();
        let union = self.demand.union();
        if union != self.local_demand {
            self.set_demand(union);
        }
        for (_, queue) in self.shared.take_computed() {
            for ready in queue {
                self.on_computed(ready);
            }
        }
        self.drain_outcomes();
        self.drain_bus();
        let link = (
            self.shared.sub_state.load(Ordering::Acquire),
            self.shared.metrics.reconnects.get(),
            self.shared.threads_down.load(Ordering::Acquire),
        );
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

    /// Follows a role change: sequencers, catch-up sends, producer demand.
    fn refresh_role(&mut self) {
        let role = self.current_role();
        if role == self.role {
            return;
        }
        let before = self.role;
        self.role = role;
        // Never stamped, never shown: a new leader term starts from the newest computed state
        // (below), a follower or standalone node does not publish.
        self.unstamped.clear();
        info!("event=bus_role node={} from={} to={}", self.shared.settings.node_id, before.name(), role.name());
        self.shared.metrics.leader.set(i64::from(matches!(role, Role::Leader { .. })));
        match role {
            Role::Leader { term } => {
                if self.leader_stamps.as_ref().map(|(t, _)| *t) != Some(term) {
                    let sequencer = Sequencer::new(format!("{}.{term}", self.epoch_prefix)).with_deflate(self.shared.deflate_min_bytes);
                    self.leader_stamps = Some((term, sequencer));
                    self.continue_epochs(term);
                }
                self.local_stamps = None;
                // The stream goes on at once with what this node already computed.
                self.resend_latest_local();
            }
            Role::Standalone => {
                self.local_periods += 1;
                let sequencer = Sequencer::new(format!("{}.local{}", self.epoch_prefix, self.local_periods))
                    .with_deflate(self.shared.deflate_min_bytes);
                self.local_stamps = Some(sequencer);
                self.resend_latest_local();
            }
            Role::Follower => {
                self.local_stamps = None;
                self.follower.end_local();
            }
        }
        self.update_producer_demand();
        self.push_report();
    }

    /// Lease `term` was just taken: continue the previous leader's epoch of every symbol whose
    /// newest published snapshot this node computed too (`lineage.rs`); a symbol it has not
    /// computed yet is decided on its first computation.
    fn continue_epochs(&mut self, term: u64) {
        self.undecided.clear();
        let tails = match self.shared.lease().tails.clone() {
            Some((t, tails)) if t == term => tails,
            _ => return,
        };
        for (symbol, tail) in tails {
            if self.recent.contains_key(&symbol) {
                self.decide_continuation(&symbol, &tail);
            } else {
                self.undecided.insert(symbol, tail);
            }
        }
    }

    fn decide_continuation(&mut self, symbol: &str, tail: &crate::core::StampedSnapshot) {
        let Some((_, sequencer)) = self.leader_stamps.as_mut() else { return };
        let node = &self.shared.settings.node_id;
        match self.recent.get(symbol).and_then(|recent| recent.continuation(tail)) {
            Some((generation, epoch, seq)) => {
                info!("event=bus_epoch_continued node={node} symbol={symbol} epoch={epoch} after_seq={seq}");
                self.shared.metrics.continued_epochs.inc();
                sequencer.continue_epoch(symbol, generation, epoch, seq);
            }
            None => info!("event=bus_epoch_new node={node} symbol={symbol} reason=different_data previous_epoch={}", tail.epoch),
        }
    }

    fn resend_latest_local(&mut self) {
        let latest: Vec<SnapshotReady> = self.latest_local.values().cloned().collect();
        for ready in latest {
            self.stamp_own(&ready);
        }
    }

    /// Stamps a snapshot this node computed: as leader it goes to `bus-control` and is shown
    /// once published; standalone it is shown at once.
    fn stamp_own(&mut self, ready: &SnapshotReady) {
        match self.role {
            Role::Leader { term } => {
                let behind = self.unstamped.get(&ready.symbol).is_some_and(|q| !q.is_empty());
                if self.in_flight >= PUBLISH_QUEUE_MAX || behind {
                    self.hold_unstamped(ready.clone());
                    return;
                }
                self.stamp_for_publish(term, ready);
            }
            Role::Standalone => {
                let Some(sequencer) = self.local_stamps.as_mut() else { return };
                let stamped = sequencer.stamp(shared::wall_unix_ms(), ready);
                let actions = self.follower.on_local(stamped);
                self.carry_out(actions);
            }
            Role::Follower => {}
        }
    }

    /// Stamps `ready` in lease `term` and hands it to `bus-control`.
    fn stamp_for_publish(&mut self, term: u64, ready: &SnapshotReady) {
        let Some((_, sequencer)) = self.leader_stamps.as_mut().filter(|(t, _)| *t == term) else { return };
        let stamped = sequencer.stamp(shared::wall_unix_ms(), ready);
        match self.publish_tx.try_send((term, stamped)) {
            Ok(()) => self.in_flight += 1,
            // Cannot happen while `in_flight` bounds the queue, except at shutdown.
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.shared.metrics.publish_failed.inc();
            }
        }
    }

    fn on_computed(&mut self, ready: SnapshotReady) {
        self.refresh_role();
        self.recent.entry(ready.symbol.clone()).or_default().push(&ready);
        if matches!(self.role, Role::Leader { .. }) {
            if let Some(tail) = self.undecided.remove(&ready.symbol) {
                self.decide_continuation(&ready.symbol, &tail);
            }
        }
        self.stamp_own(&ready);
        self.latest_local.insert(ready.symbol.clone(), ready);
    }

    /// What `bus-control` did with our stamps: a published one is shown (while this node still
    /// leads in that term; otherwise the bus brings it like any other); an unpublished one never.
    fn drain_outcomes(&mut self) {
        let outcomes = std::mem::take(&mut self.shared.inbox().outcomes);
        for outcome in outcomes {
            self.in_flight = self.in_flight.saturating_sub(1);
            match outcome {
                Outcome::Published(term, stamped) if self.role == (Role::Leader { term }) => {
                    let actions = self.follower.on_local(stamped);
                    self.carry_out(actions);
                }
                Outcome::Published(..) => {}
                Outcome::NotPublished(stamped) => {
                    warn!("event=bus_stamp_dropped symbol={} epoch={} seq={} reason=not_published", stamped.symbol, stamped.epoch, stamped.seq);
                }
            }
        }
        while self.in_flight < PUBLISH_QUEUE_MAX {
            let Role::Leader { term } = self.role else {
                self.unstamped.clear();
                break;
            };
            let Some(ready) = self.next_unstamped() else { break };
            self.stamp_for_publish(term, &ready);
        }
    }

    /// Keeps `ready` until the publish queue has room, behind the symbol's earlier ones.
    fn hold_unstamped(&mut self, ready: SnapshotReady) {
        let queue = self.unstamped.entry(ready.symbol.clone()).or_default();
        queue.push_back(ready);
        if queue.len() > shared::COMPUTED_PER_SYMBOL_MAX {
            if let Some(old) = queue.pop_front() {
                self.shared.metrics.computed_dropped.inc();
                warn!("event=bus_computed_dropped symbol={} timestamp={} reason=\"publish queue full\"", old.symbol, old.timestamp);
            }
        }
    }

    /// The oldest waiting snapshot of the first symbol that has one (taken off its queue).
    fn next_unstamped(&mut self) -> Option<SnapshotReady> {
        let mut entry = self.unstamped.first_entry()?;
        let ready = entry.get_mut().pop_front();
        if entry.get().is_empty() {
            entry.remove();
        }
        ready
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
            Role::Leader { .. } => self.shared.supported.clone(),
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
        let threads_down = s.threads_down.load(Ordering::Acquire);
        self.reported_link = (s.sub_state.load(Ordering::Acquire), s.metrics.reconnects.get(), threads_down);
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
            continued_epochs_total: s.metrics.continued_epochs.get(),
            republished_total: s.metrics.republished.get(),
            threads_restarting: threads_down,
            thread_restarts_total: s.metrics.thread_restarts.get(),
            duplicate_node_id: s.duplicate_node.load(Ordering::Acquire),
        };
        *s.last_report.lock().unwrap_or_else(|e| e.into_inner()) = Some(report.clone());
        self.fanout.report_bus(report);
    }

    /// The loops' clients now want `symbols`.
    fn set_demand(&mut self, symbols: Vec<String>) {
        for gone in self.local_demand.iter().filter(|s| !symbols.contains(s)) {
            self.follower.stop_following(gone);
        }
        self.local_demand = symbols.clone();
        self.shared.set_wanted(symbols);
        self.update_producer_demand();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::{LoopInbox, Wake, WorkerEvent};

    struct NoWake;
    impl Wake for NoWake {
        fn wake(&self) {}
    }

    #[test]
    fn once_intercepted_no_computed_snapshot_is_stamped_by_the_fanout_before_the_hub_runs() {
        let (events, loop_rx) = bounded(16);
        let fanout = Arc::new(SnapshotFanout::new("fanout".into(), None, vec![LoopInbox { events, waker: Arc::new(NoWake) }]));
        let inlet = BusHandle::intercept(BusSettings::default(), Arc::clone(&fanout), vec!["BTCUSDT".into()]).unwrap();
        let ready = SnapshotReady {
            symbol: "BTCUSDT".into(),
            generation: 1,
            timestamp: "2026-06-14T14:55:00Z".into(),
            source: "test".into(),
            data_json: "{}".into(),
            computed_at_unix_ms: 1,
            compute_micros: 1,
        };
        // What a producer started right after the interception would hand over first.
        assert!(fanout.dispatch(1, WorkerEvent::Snapshot(ready.clone())));
        assert!(loop_rx.try_recv().is_err(), "nothing reached a loop under the fan-out's own epoch");
        let waiting = inlet.shared.take_computed();
        assert_eq!(waiting.get("BTCUSDT").map(|q| q.iter().collect::<Vec<_>>()), Some(vec![&ready]), "it waits for the hub");
        assert!(BusHandle::intercept(BusSettings::default(), fanout, Vec::new()).is_err(), "one interceptor only");
    }
}
