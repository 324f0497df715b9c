//! Snapshots as the Redis bus delivers them to a follower node (issue 15's node side), inside the
//! simulated process: a simulated leader stamps each computed snapshot (its own `Sequencer`; a
//! failover starts a new leader, so a new epoch), appends it to a capped per-symbol history and
//! publishes it on a bus that loses, repeats, delays (in channel order) and cuts the
//! subscription. The node runs the production [`Follower`] and carries out its actions as the
//! production bus hub does (`src/bus/hub.rs`): a delivery goes to every loop through
//! `SnapshotFanout::deliver_stamped`, a fetch is answered later from the history as it is then,
//! and the hub's state reaches every loop as `LoopEvent::Bus`.
//!
//! Checked at the hand-off (what every client of every loop is then given): within an epoch
//! `seq` strictly increases (no duplicate, no reorder); a skipped `seq` was already gone from
//! the history when it was skipped; an epoch left behind never comes back. The clients' own
//! checks (`world::checks`) see the rest: the same bytes per `(epoch, seq)` on every loop, the
//! same epoch switches, and every handed-off snapshot reaching every client that keeps up.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use liquidationheatmap::bus::follower::{Action, Follower};
use liquidationheatmap::core::{BusReport, Sequencer, SnapshotReady, StampedSnapshot};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::World;
use crate::events::Event;
use crate::invariant::Invariant;
use crate::mutations::Mutations;
use crate::params::{rng_for, BusPlan, Stream};

/// A cut subscription comes back this long later, at least and at most (ms).
const RESUBSCRIBE_MS_MIN: u64 = 20;
const RESUBSCRIBE_MS_MAX: u64 = 500;

/// What the simulated bus did in one run (for reports and tests that the faults happened).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BusCounters {
    pub published: u64,
    pub lost: u64,
    pub repeated: u64,
    pub cuts: u64,
    pub failovers: u64,
    pub fetches: u64,
    /// Seqs skipped at the hand-off (all already gone from the history).
    pub skipped: u64,
    pub handed_off: u64,
}

/// The bus, the leader and the node's follower.
pub struct BusSim {
    pub plan: BusPlan,
    pub follower: Follower,
    leader: Sequencer,
    pub term: u64,
    /// Per symbol: the history stream (newest last), capped at `plan.history_max`.
    history: Vec<VecDeque<StampedSnapshot>>,
    /// `(symbol, epoch, seq)` the history no longer holds.
    evicted: BTreeSet<(usize, String, u64)>,
    pub subscribed: bool,
    in_flight: BTreeMap<u64, StampedSnapshot>,
    next_id: u64,
    /// Per symbol channel: the latest arrival scheduled (the bus keeps per-channel order).
    channel_due_ns: Vec<u64>,
    /// Per symbol: the last `(epoch, seq)` handed to the loops, and the epochs left behind.
    handed: Vec<Option<(Arc<str>, u64)>>,
    left_epochs: Vec<BTreeSet<String>>,
    rng: ChaCha8Rng,
    pub counters: BusCounters,
    fill_twice: bool,
}

impl BusSim {
    pub fn new(plan: BusPlan, seed: u64, symbols: usize, mutations: Mutations) -> BusSim {
        let mut leader = Sequencer::new("leader0".into());
        leader.set_repeat_seq(mutations.repeat_snapshot_seq);
        BusSim {
            // As the hub sizes it: twice the history, at least eight.
            follower: Follower::new(plan.history_max.max(4) * 2),
            plan,
            leader,
            term: 0,
            history: vec![VecDeque::new(); symbols],
            evicted: BTreeSet::new(),
            subscribed: true,
            in_flight: BTreeMap::new(),
            next_id: 0,
            channel_due_ns: vec![0; symbols],
            handed: vec![None; symbols],
            left_epochs: vec![BTreeSet::new(); symbols],
            rng: rng_for(seed, Stream::Bus, 0),
            counters: BusCounters::default(),
            fill_twice: mutations.bus_deliver_fill_twice,
        }
    }
}

impl World {
    fn bus_mut(&mut self) -> &mut BusSim {
        self.bus.as_mut().expect("a bus world")
    }

    /// The node subscribes at start: it reads every symbol's history.
    pub fn bus_start(&mut self) {
        if self.bus.is_none() {
            return;
        }
        let symbols = self.params.symbols().to_vec();
        let actions = self.bus_mut().follower.on_resubscribed(&symbols);
        self.bus_carry_out(actions, false);
        self.bus_report();
    }

    /// Before a publish event: the lease may move to a new leader, whose sequencer starts a new
    /// epoch (the producer starts a new generation with it, so the simulator knows which
    /// `(epoch, seq)` each snapshot must carry).
    pub fn bus_maybe_fail_over(&mut self) {
        let quiet = self.quiet;
        let repeat = self.mutations.repeat_snapshot_seq;
        let Some(bus) = self.bus.as_mut() else { return };
        if quiet || bus.plan.failover <= 0.0 || !bus.rng.random_bool(bus.plan.failover) {
            return;
        }
        bus.term += 1;
        bus.counters.failovers += 1;
        bus.leader = Sequencer::new(format!("leader{}", bus.term));
        bus.leader.set_repeat_seq(repeat);
        let term = bus.term;
        self.producer.generation += 1;
        self.trace.record(format!("bus failover to leader{term}"));
    }

    /// The leader stamps a computed snapshot, appends it to the history and publishes it.
    pub fn bus_publish(&mut self, snapshot: SnapshotReady) {
        // A leader computes the supported symbols only.
        let Some(symbol) = self.symbol_index(&snapshot.symbol) else { return };
        let wall = self.now.wall_unix_ms;
        let faults = !self.quiet;
        let now_ns = self.now_ns;
        let bus = self.bus.as_mut().expect("a bus world");
        let stamped = bus.leader.stamp(wall, &snapshot);
        bus.counters.published += 1;
        let history = &mut bus.history[symbol];
        history.push_back(stamped.clone());
        while history.len() > bus.plan.history_max {
            if let Some(old) = history.pop_front() {
                bus.evicted.insert((symbol, old.epoch.to_string(), old.seq));
            }
        }
        let mut cut = false;
        if faults && bus.subscribed && bus.plan.cut > 0.0 && bus.rng.random_bool(bus.plan.cut) {
            bus.subscribed = false;
            bus.counters.cuts += 1;
            cut = true;
        }
        let lost = faults && bus.plan.loss > 0.0 && bus.rng.random_bool(bus.plan.loss);
        let mut arrivals = Vec::new();
        if !bus.subscribed || lost {
            bus.counters.lost += 1;
        } else {
            let copies = if faults && bus.plan.duplicate > 0.0 && bus.rng.random_bool(bus.plan.duplicate) { 2 } else { 1 };
            bus.counters.repeated += copies - 1;
            for _ in 0..copies {
                let delay_ms = if faults { bus.rng.random_range(0..=bus.plan.delay_ms_max) } else { 0 };
                let due = (now_ns + delay_ms * super::NS_PER_MS).max(bus.channel_due_ns[symbol]);
                bus.channel_due_ns[symbol] = due;
                let id = bus.next_id;
                bus.next_id += 1;
                bus.in_flight.insert(id, stamped.clone());
                arrivals.push((due, id));
            }
        }
        let back_ms = bus.rng.random_range(RESUBSCRIBE_MS_MIN..=RESUBSCRIBE_MS_MAX);
        for (due, id) in arrivals {
            self.queue.push(due, Event::BusArrive(id));
        }
        if cut {
            self.trace.record("bus subscription cut".into());
            self.schedule_ms(back_ms, Event::BusResubscribe);
            self.bus_report();
        }
    }

    /// A snapshot in flight reaches the node (lost if the subscription was cut meanwhile).
    pub fn bus_arrive(&mut self, id: u64) {
        let bus = self.bus_mut();
        let Some(stamped) = bus.in_flight.remove(&id) else { return };
        if !bus.subscribed {
            bus.counters.lost += 1;
            return;
        }
        let actions = bus.follower.on_bus(stamped);
        self.bus_carry_out(actions, false);
    }

    /// A history read is answered with the history as it is now.
    pub fn bus_history(&mut self, symbol: usize) {
        let name = self.params.symbols()[symbol].clone();
        let bus = self.bus_mut();
        let entries: Vec<StampedSnapshot> = bus.history[symbol].iter().cloned().collect();
        let actions = bus.follower.on_history(&name, entries);
        self.bus_carry_out(actions, true);
    }

    /// The subscription is back: everything published meanwhile is fetched.
    pub fn bus_resubscribe(&mut self) {
        let symbols = self.params.symbols().to_vec();
        let bus = self.bus_mut();
        if bus.subscribed {
            return;
        }
        bus.subscribed = true;
        let actions = bus.follower.on_resubscribed(&symbols);
        self.trace.record("bus resubscribed".into());
        self.bus_carry_out(actions, false);
        self.bus_report();
    }

    /// Faults stop: a cut subscription comes back now.
    pub fn bus_quiet(&mut self) {
        if self.bus.as_ref().is_some_and(|b| !b.subscribed) {
            self.bus_resubscribe();
        }
    }

    /// Carries out the follower's actions as the hub does (`Hub::carry_out`).
    fn bus_carry_out(&mut self, actions: Vec<Action>, from_history: bool) {
        for action in actions {
            if self.violation.is_some() {
                return;
            }
            match action {
                Action::Deliver(stamped) => {
                    self.bus_check_handoff(&stamped);
                    let twice = from_history && self.bus_mut().fill_twice;
                    self.bus_mut().counters.handed_off += 1;
                    self.deliver_stamped(stamped.clone());
                    if twice {
                        self.deliver_stamped(stamped);
                    }
                }
                Action::Fetch(symbol) => {
                    let Some(index) = self.symbol_index(&symbol) else { continue };
                    let quiet = self.quiet;
                    let bus = self.bus_mut();
                    bus.counters.fetches += 1;
                    let delay = if quiet { 1 } else { bus.rng.random_range(0..=bus.plan.delay_ms_max + 5) };
                    self.schedule_ms(delay, Event::BusHistory(index));
                }
            }
        }
    }

    /// What the follower hands to the loops: no duplicate or reorder within an epoch, a skip only
    /// over snapshots the history no longer held, no epoch coming back.
    fn bus_check_handoff(&mut self, stamped: &StampedSnapshot) {
        let Some(symbol) = self.symbol_index(&stamped.symbol) else { return };
        let bus = self.bus.as_mut().expect("a bus world");
        let mut failure = None;
        match bus.handed[symbol].clone() {
            Some((epoch, seq)) if epoch == stamped.epoch => {
                if stamped.seq <= seq {
                    failure = Some(format!("bus node handed off {} epoch {epoch} seq {} after seq {seq} (duplicate or reordered)", stamped.symbol, stamped.seq));
                } else {
                    for missing in seq + 1..stamped.seq {
                        if !bus.evicted.contains(&(symbol, epoch.to_string(), missing)) {
                            failure = Some(format!(
                                "bus node skipped {} epoch {epoch} seq {missing} (handed off {} after {seq}) while the history still held it",
                                stamped.symbol, stamped.seq
                            ));
                            break;
                        }
                        bus.counters.skipped += 1;
                    }
                }
            }
            Some((epoch, _)) => {
                bus.left_epochs[symbol].insert(epoch.to_string());
                if bus.left_epochs[symbol].contains(&*stamped.epoch) {
                    failure = Some(format!("bus node went back to {} epoch {} after leaving it", stamped.symbol, stamped.epoch));
                }
            }
            None => {}
        }
        bus.handed[symbol] = Some((Arc::clone(&stamped.epoch), stamped.seq));
        if let Some(detail) = failure {
            self.fail(Invariant::Ordering, detail);
        }
    }

    /// The hub's state, to every loop (`SnapshotFanout::report_bus`): `/health` shows it.
    fn bus_report(&mut self) {
        let bus = self.bus_mut();
        let counters = bus.follower.counters();
        let report = BusReport {
            node_id: "sim".into(),
            role: "follower".into(),
            lease_holder: Some(format!("leader{}", bus.term)),
            state: if bus.subscribed { "up" } else { "connecting" }.into(),
            // No wall time: its age would change the length of `/health` with every wall-clock
            // jump, and the steady-wall-clock twin must write the same bytes (invariant 4).
            last_message_unix_ms: None,
            silence_ms: 4000,
            received_total: counters.delivered,
            recovered_total: counters.recovered,
            duplicates_total: counters.duplicates,
            gaps_total: counters.gaps,
            reconnects_total: bus.counters.cuts,
            ..BusReport::default()
        };
        self.fanout.report_bus(report);
        self.drain_loops();
    }
}
