//! The node side of the bus as a sans-IO state machine: which stamped snapshots reach this node's
//! clients, in what order. No clock, no I/O: the caller feeds it what arrived and carries out the
//! [`Action`]s it returns (deliver to the core, fetch a symbol's history).
//!
//! Per symbol it tracks the current `epoch` and the last `seq` delivered. A snapshot from the bus
//! ([`Follower::on_bus`]) that is
//! - the next `seq` of the current epoch: delivered;
//! - at or before the last delivered `seq` (or already waiting): dropped as a duplicate (on the
//!   leader, its own publishes coming back are counted as echoes instead);
//! - after a hole: held, and the symbol's history is fetched once; [`Follower::on_history`] fills
//!   the hole in order from it, and only what the history no longer holds is let through as a
//!   visible skip (clients resync over REST, `docs/websocket_api.md`);
//! - of another epoch: the stream switched (failover, restart, standalone period): the hole being
//!   filled is filled first (the new epoch's snapshots wait for it), then the new epoch starts;
//! - of an epoch the bus already moved on from: stale (published before the switch, delivered
//!   late), dropped.
//!
//! Snapshots this node stamped itself (leader, standalone) go through [`Follower::on_local`]: a
//! new epoch of its own is delivered at once; an epoch it continues goes in order, holes first.
//! After a (re)subscription the caller calls [`Follower::on_resubscribed`]: everything
//! published while the node was away is fetched.
//!
//! Invariants (checked by the unit and property tests below and by the simulator,
//! `sim/tests/bus_follower.rs`): within an epoch delivered `seq`s strictly increase; no
//! `(epoch, seq)` is delivered twice; a skip is delivered only when neither the bus nor the
//! history held the missing snapshots; every delivered snapshot is one the leader published.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use crate::core::StampedSnapshot;

/// What the caller must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Hand this snapshot to the core (it reaches the symbol's subscribers).
    Deliver(StampedSnapshot),
    /// Read this symbol's history stream and answer with [`Follower::on_history`].
    Fetch(String),
}

/// Running totals, for `/metrics` and `/health`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FollowerCounters {
    pub delivered: u64,
    pub duplicates: u64,
    /// The leader's own publishes received back from the bus.
    pub echoes: u64,
    /// Snapshots delivered from the history (a hole filled).
    pub recovered: u64,
    /// Holes the history could not fill, let through to clients.
    pub gaps: u64,
    pub epoch_switches: u64,
}

#[derive(Debug, Default)]
struct Stream {
    epoch: Option<Arc<str>>,
    last_seq: u64,
    /// Snapshots after a hole of the current epoch, by `seq`.
    held: BTreeMap<u64, StampedSnapshot>,
    fetching: bool,
    /// Snapshots of a newer epoch that arrived while a hole of the current one was being
    /// fetched: they wait for the fill, so the old epoch ends without a needless skip.
    after_switch: Vec<StampedSnapshot>,
    /// The current epoch was stamped by this node.
    local: bool,
    /// Epochs the bus moved on from, newest last (bounded): a late message of one (published
    /// before the switch, delivered after a history read showed the new epoch) is stale.
    retired: VecDeque<Arc<str>>,
}

/// Retired epochs remembered per symbol.
const RETIRED_EPOCHS_MAX: usize = 16;

/// See the module documentation.
#[derive(Debug)]
pub struct Follower {
    streams: BTreeMap<String, Stream>,
    /// Most snapshots held per symbol while a hole is being filled; past it the hole is let
    /// through (the history is capped too, so waiting longer cannot help).
    held_max: usize,
    counters: FollowerCounters,
}

impl Follower {
    pub fn new(held_max: usize) -> Follower {
        Follower { streams: BTreeMap::new(), held_max: held_max.max(1), counters: FollowerCounters::default() }
    }

    pub fn counters(&self) -> FollowerCounters {
        self.counters
    }

    /// The last `(epoch, seq)` delivered for `symbol`.
    pub fn position(&self, symbol: &str) -> Option<(Arc<str>, u64)> {
        let stream = self.streams.get(symbol)?;
        stream.epoch.as_ref().map(|e| (Arc::clone(e), stream.last_seq))
    }

    /// A snapshot this node stamped itself (as leader: once its publish was confirmed). A new
    /// epoch is delivered at once and sets the stream's position. In the epoch the node was
    /// following (it continued the previous leader's epoch, `lineage.rs`) it goes in order like
    /// a bus message: a hole before it is filled from the history first, and a position already
    /// delivered (its echo came back from the bus first) is not delivered again.
    pub fn on_local(&mut self, snapshot: StampedSnapshot) -> Vec<Action> {
        let mut out = Vec::new();
        let stream = self.streams.entry(snapshot.symbol.to_string()).or_default();
        if stream.epoch.as_deref() == Some(&*snapshot.epoch) {
            stream.local = true;
            if snapshot.seq <= stream.last_seq || stream.held.contains_key(&snapshot.seq) {
                self.counters.echoes += 1;
                return out;
            }
            if snapshot.seq == stream.last_seq + 1 && !stream.fetching && stream.held.is_empty() {
                Self::deliver(stream, &mut self.counters, &mut out, snapshot, false);
                return out;
            }
            Self::hold(stream, &mut self.counters, self.held_max, &mut out, snapshot);
            return out;
        }
        let had_epoch = stream.epoch.is_some();
        Self::let_held_through(stream, &mut self.counters, &mut out);
        if had_epoch {
            self.counters.epoch_switches += 1;
        }
        stream.held.clear();
        stream.after_switch.clear();
        stream.fetching = false;
        stream.local = true;
        stream.epoch = Some(Arc::clone(&snapshot.epoch));
        stream.last_seq = snapshot.seq;
        self.counters.delivered += 1;
        out.push(Action::Deliver(snapshot));
        out
    }

    /// A snapshot received from the bus.
    pub fn on_bus(&mut self, snapshot: StampedSnapshot) -> Vec<Action> {
        let mut out = Vec::new();
        let stream = self.streams.entry(snapshot.symbol.to_string()).or_default();
        if stream.retired.iter().any(|e| **e == *snapshot.epoch) {
            self.counters.duplicates += 1;
            return out;
        }
        if stream.epoch.as_deref() != Some(&*snapshot.epoch) {
            if stream.fetching && !stream.held.is_empty() && stream.after_switch.len() < self.held_max {
                stream.after_switch.push(snapshot);
                return out;
            }
            let had_epoch = stream.epoch.is_some();
            Self::let_held_through(stream, &mut self.counters, &mut out);
            if had_epoch {
                self.counters.epoch_switches += 1;
            }
            let waiting = std::mem::take(&mut stream.after_switch);
            // A fetch under way was for the old epoch's hole: the new epoch does not wait for
            // it (its answer then only holds duplicates or fills in order).
            stream.fetching = false;
            if let Some(first) = waiting.first() {
                // Those waiting came first: start the new epoch from them, in arrival order.
                let first = first.clone();
                Self::deliver(stream, &mut self.counters, &mut out, first, false);
                for next in waiting.into_iter().skip(1).chain(std::iter::once(snapshot)) {
                    out.extend(self.on_bus(next));
                }
                return out;
            }
            Self::deliver(stream, &mut self.counters, &mut out, snapshot, false);
            return out;
        }
        if snapshot.seq <= stream.last_seq || stream.held.contains_key(&snapshot.seq) {
            if stream.local {
                self.counters.echoes += 1;
            } else {
                self.counters.duplicates += 1;
            }
            return out;
        }
        if snapshot.seq == stream.last_seq + 1 && !stream.fetching {
            Self::deliver(stream, &mut self.counters, &mut out, snapshot, false);
            return out;
        }
        Self::hold(stream, &mut self.counters, self.held_max, &mut out, snapshot);
        out
    }

    /// Holds `snapshot` behind a hole and asks for the history once; past `held_max` held, the
    /// hole is let through.
    fn hold(stream: &mut Stream, counters: &mut FollowerCounters, held_max: usize, out: &mut Vec<Action>, snapshot: StampedSnapshot) {
        let symbol = snapshot.symbol.to_string();
        stream.held.insert(snapshot.seq, snapshot);
        if stream.held.len() > held_max {
            Self::let_held_through(stream, counters, out);
        } else if !stream.fetching {
            stream.fetching = true;
            out.push(Action::Fetch(symbol));
        }
    }

    /// The history of `symbol` (in the order it was appended; empty when it could not be read):
    /// fills the hole in order, lets through what it does not hold, and switches to a newer
    /// epoch it shows.
    pub fn on_history(&mut self, symbol: &str, entries: Vec<StampedSnapshot>) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(stream) = self.streams.get_mut(symbol) else { return out };
        stream.fetching = false;
        let newest_epoch = entries.last().map(|e| Arc::clone(&e.epoch));
        // Epochs the history shows before its newest one are over: a late bus message of one
        // is stale (the current epoch is retired only when the stream leaves it).
        for entry in &entries {
            let older = newest_epoch.as_deref() != Some(&*entry.epoch) && stream.epoch.as_deref() != Some(&*entry.epoch);
            if older && !stream.retired.iter().any(|e| **e == *entry.epoch) {
                stream.retired.push_back(Arc::clone(&entry.epoch));
                if stream.retired.len() > RETIRED_EPOCHS_MAX {
                    stream.retired.pop_front();
                }
            }
        }
        let Some(current) = stream.epoch.clone() else {
            // Nothing delivered yet: start from the newest snapshot the history holds.
            if let Some(newest) = entries.into_iter().next_back() {
                Self::deliver(stream, &mut self.counters, &mut out, newest, true);
            }
            return out;
        };
        let mut newer: Option<StampedSnapshot> = None;
        let mut from_history = std::collections::BTreeSet::new();
        for entry in entries {
            if entry.symbol.as_ref() != symbol {
                continue;
            }
            if *entry.epoch == *current {
                if entry.seq > stream.last_seq && !stream.held.contains_key(&entry.seq) {
                    from_history.insert(entry.seq);
                    stream.held.insert(entry.seq, entry);
                }
            } else if newest_epoch.as_deref() == Some(&*entry.epoch) {
                newer = Some(entry);
            }
        }
        // Fill: deliver while the next seq is held.
        while let Some(entry) = stream.held.first_entry().filter(|e| *e.key() == stream.last_seq + 1).map(|e| e.remove()) {
            let recovered = from_history.contains(&entry.seq);
            Self::deliver(stream, &mut self.counters, &mut out, entry, recovered);
        }
        Self::let_held_through(stream, &mut self.counters, &mut out);
        let waiting = std::mem::take(&mut stream.after_switch);
        if !waiting.is_empty() {
            // The old epoch is done: the newer one continues from what the bus brought.
            for next in waiting {
                out.extend(self.on_bus(next));
            }
            return out;
        }
        // While this node stamps the symbol itself (leader), its own stamps decide the epoch.
        if let Some(entry) = newer.filter(|_| !stream.local) {
            self.counters.epoch_switches += 1;
            Self::deliver(stream, &mut self.counters, &mut out, entry, true);
        }
        out
    }

    /// The node (re)subscribed to `symbols`: fetch what was published while it was not
    /// listening (once per symbol; a fetch already under way covers it).
    pub fn on_resubscribed(&mut self, symbols: &[String]) -> Vec<Action> {
        let mut out = Vec::new();
        for symbol in symbols {
            let stream = self.streams.entry(symbol.clone()).or_default();
            if !stream.fetching {
                stream.fetching = true;
                out.push(Action::Fetch(symbol.clone()));
            }
        }
        out
    }

    /// This node stopped stamping (leader lost the lease, standalone period over): the bus
    /// decides the epoch again, including one the history shows.
    pub fn end_local(&mut self) {
        for stream in self.streams.values_mut() {
            stream.local = false;
        }
    }

    /// No local client wants `symbol` any more (the node unsubscribed from its channel). What
    /// waited behind a hole is dropped, but the position is kept: the node's loops still hold
    /// the last snapshot delivered and show it to the next subscriber as the latest, so a later
    /// resubscription must go on from it (fill from the history in order, or a counted skip, or
    /// a visible epoch switch), never jump silently to whatever is newest.
    pub fn stop_following(&mut self, symbol: &str) {
        if let Some(stream) = self.streams.get_mut(symbol) {
            stream.held.clear();
            stream.after_switch.clear();
            stream.fetching = false;
        }
    }

    fn deliver(stream: &mut Stream, counters: &mut FollowerCounters, out: &mut Vec<Action>, snapshot: StampedSnapshot, recovered: bool) {
        if stream.epoch.as_deref() != Some(&*snapshot.epoch) {
            stream.held.clear();
            stream.local = false;
            if let Some(old) = stream.epoch.replace(Arc::clone(&snapshot.epoch)) {
                stream.retired.push_back(old);
                if stream.retired.len() > RETIRED_EPOCHS_MAX {
                    stream.retired.pop_front();
                }
            }
        }
        stream.last_seq = snapshot.seq;
        counters.delivered += 1;
        if recovered {
            counters.recovered += 1;
        }
        out.push(Action::Deliver(snapshot));
    }

    /// Delivers everything held, in order: the holes before them become visible skips.
    fn let_held_through(stream: &mut Stream, counters: &mut FollowerCounters, out: &mut Vec<Action>) {
        if stream.held.is_empty() {
            return;
        }
        for (_, snapshot) in std::mem::take(&mut stream.held) {
            if snapshot.seq != stream.last_seq + 1 {
                counters.gaps += 1;
            }
            stream.last_seq = snapshot.seq;
            counters.delivered += 1;
            out.push(Action::Deliver(snapshot));
        }
    }
}

#[cfg(test)]
mod tests;
