//! The simulated process around the cores (issue 14): `EVENT_LOOPS` loops (1 to 4, drawn from the
//! seed), each with its own `Core` sharing one `ConnectionLedger` (`Core::share_ledger`, as
//! `src/shell/mod.rs` builds them); one acceptor that hands each connection from the backlog to
//! the loop the ledger ranks least loaded (`ConnectionLedger::hand_over_order`, the order the mio
//! acceptor uses) and pauses while the process is full (`ConnectionLedger::acceptor_must_pause`);
//! and the production `SnapshotFanout` as the one hand-off: a snapshot is stamped once and every
//! loop's channel receives the same `StampedSnapshot`, which each loop gives its core through the
//! one driver (`driver::deliver`).
//!
//! The world's `Net` (`crate::shell`) always speaks for the *current* loop (`World::cur`); every
//! call about a loop goes through [`World::with_loop`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use crossbeam_channel::Receiver;
use liquidationheatmap::core::{ConnId, Core, StampedSnapshot};
use liquidationheatmap::driver::{self, LoopEvent, Wake};
use rand::Rng;

use super::{World, NS_PER_MS};
use crate::events::{ConnKey, Event};
use crate::invariant::Invariant;
use crate::mutations::Mutations;

/// A loop takes up to this long to wake up for a connection handed to it (ms).
pub const LOOP_WAKE_MS_MAX: u64 = 2;

/// While paused for a full process, the acceptor looks again this often (`PAUSED_RECHECK` in
/// `src/shell/acceptor.rs`).
pub const ACCEPTOR_PAUSED_RECHECK_MS: u64 = 50;

/// One event loop: its core and what its shell keeps (production's `EventLoop`).
pub struct Loop {
    pub core: Core<Mutations>,
    /// The loop's connections by the core's id (ids are per core).
    pub by_core: BTreeMap<ConnId, ConnKey>,
    /// Connections the acceptor handed to this loop, not adopted yet (the hand-off channel).
    pub handoffs: VecDeque<ConnKey>,
    /// The worker side's channel into this loop (the fan-out's `LoopInbox`).
    pub events: Receiver<LoopEvent>,
    pub accept_paused: bool,
    pub timer_at_ns: Option<u64>,
    pub same_instant_timers: u32,
    pub last_timer_ns: u64,
    pub loop_turn_pending: bool,
    /// The latest time this loop's channel holds an event back to (its waker is late), and how
    /// many it holds: a new event never overtakes them.
    pub held_until_ns: u64,
    pub held_back: usize,
    /// Per symbol: this core's latest snapshot is at least half the queue byte bound, so it may
    /// close even a client that keeps up.
    pub huge_latest: Vec<bool>,
}

/// A loop's waker: the simulated loop drains its channel in the same event, so nothing to wake.
pub struct NoWake;

impl Wake for NoWake {
    fn wake(&self) {}
}

impl World {
    /// Runs `f` with loop `index` as the current loop (the one the driver's `Net` speaks for).
    pub fn with_loop<R>(&mut self, index: usize, f: impl FnOnce(&mut World) -> R) -> R {
        let before = std::mem::replace(&mut self.cur, index);
        let result = f(self);
        self.cur = before;
        result
    }

    /// The current loop.
    pub fn lp(&self) -> &Loop {
        &self.loops[self.cur]
    }

    pub fn lp_mut(&mut self) -> &mut Loop {
        &mut self.loops[self.cur]
    }

    /// Sockets handed to each loop and not adopted yet.
    fn handed_over(&self) -> Vec<usize> {
        self.loops.iter().map(|l| l.handoffs.len()).collect()
    }

    /// The acceptor's turn (`Acceptor::accept_all`): while the process has room, take the next
    /// connection from the backlog and hand it to the least loaded loop, whose waker fires 0 to
    /// [`LOOP_WAKE_MS_MAX`] ms later (meanwhile it counts as handed over, in the load and in the
    /// process's connections).
    pub fn acceptor_wake(&mut self) {
        self.acceptor_recheck_pending = false;
        let http_max = self.bounds.http_connections_max;
        while self.listener_open {
            let handed: Vec<usize> = self.handed_over();
            if self.ledger.acceptor_must_pause(handed.iter().sum(), http_max) {
                self.acceptor_paused = true;
                if !self.acceptor_recheck_pending {
                    self.acceptor_recheck_pending = true;
                    self.schedule_ms(ACCEPTOR_PAUSED_RECHECK_MS, Event::ListenerReady);
                }
                return;
            }
            self.acceptor_paused = false;
            let Some(k) = self.backlog.pop_front() else { return };
            let index = self.ledger.hand_over_order(&handed)[0];
            self.conns[k].loop_index = Some(index);
            self.loops[index].handoffs.push_back(k);
            self.trace.record(format!("conn{k} handed to loop {index}"));
            let wake_ms = self.loop_rng.random_range(0..=LOOP_WAKE_MS_MAX);
            self.schedule_ms(wake_ms, Event::LoopWake(index));
        }
    }

    /// A loop freed a connection slot: wake the acceptor if it paused for a full process
    /// (`EventLoop::wake_acceptor_if_room`).
    pub fn wake_acceptor_if_room(&mut self) {
        if self.ledger.take_acceptor_paused(self.bounds.http_connections_max) {
            self.queue.push(self.now_ns, Event::ListenerReady);
        }
    }

    /// Gives what the fan-out put in the loops' channels to the loops, in channel order, after
    /// checking that every loop received the same snapshots (the same stamped bytes, in the same
    /// order). Snapshots become owed to the clients that keep up before any loop has them.
    pub fn drain_loops(&mut self) {
        let received: Vec<Vec<LoopEvent>> = self.loops.iter().map(|l| l.events.try_iter().collect()).collect();
        let snapshots = |events: &[LoopEvent]| -> Vec<StampedSnapshot> {
            events
                .iter()
                .filter_map(|e| match e {
                    LoopEvent::Snapshot(s) => Some(s.clone()),
                    _ => None,
                })
                .collect()
        };
        let first = snapshots(received[0].as_slice());
        for (index, events) in received.iter().enumerate().skip(1) {
            let other = snapshots(events.as_slice());
            let same = other.len() == first.len() && other.iter().zip(&first).all(|(a, b)| Arc::ptr_eq(&a.frame, &b.frame));
            if !same {
                self.fail(
                    Invariant::Ordering,
                    format!("loop {index} was handed {} snapshots, loop 0 {}, or other bytes: not one hand-off for every loop", other.len(), first.len()),
                );
                return;
            }
        }
        for stamped in &first {
            self.note_owed(stamped);
        }
        // The loops are threads: which takes its events first varies, and with several loops
        // each wakes 0 to LOOP_WAKE_MS_MAX ms later (drawn); each takes its own in channel order.
        let several = self.loops.len() > 1;
        let start = if several { self.loop_rng.random_range(0..self.loops.len()) } else { 0 };
        for step in 0..self.loops.len() {
            let index = (start + step) % self.loops.len();
            let mut wait_ms = if several { self.loop_rng.random_range(0..=LOOP_WAKE_MS_MAX) } else { 0 };
            let stalled = self.params.shape.stalled_loop;
            if self.mutations.hand_off_behind_stalled_loop && stalled.is_some_and(|s| s != index) {
                wait_ms = driver::fanout::SEND_TIMEOUT.as_millis() as u64;
            }
            for event in received[index].iter().cloned() {
                if self.violation.is_some() {
                    return;
                }
                if matches!(event, LoopEvent::Snapshot(_)) && self.mutations.hand_off_to_one_loop && index != 0 {
                    continue;
                }
                // Never before what this loop's channel already holds back: its order holds.
                let lp = &mut self.loops[index];
                let due_ns = (self.now_ns + wait_ms * NS_PER_MS).max(lp.held_until_ns);
                if due_ns == self.now_ns && lp.held_back == 0 {
                    self.give(index, event);
                    continue;
                }
                lp.held_until_ns = due_ns;
                lp.held_back += 1;
                let id = self.next_held_back;
                self.next_held_back += 1;
                self.held_back.insert(id, (index, event));
                self.queue.push(due_ns, Event::LoopDeliver(id));
            }
        }
        if !first.is_empty() {
            self.check_same_latest();
        }
    }

    /// A held-back hand-off reaches its loop.
    pub fn loop_deliver(&mut self, id: u64) {
        if let Some((index, event)) = self.held_back.remove(&id) {
            self.loops[index].held_back -= 1;
            self.give(index, event);
            self.check_same_latest();
        }
    }

    /// Loop `index` takes one event from its channel.
    fn give(&mut self, index: usize, event: LoopEvent) {
        if let LoopEvent::Snapshot(stamped) = &event {
            if let Some(symbol) = self.symbol_index(&stamped.symbol) {
                self.loops[index].huge_latest[symbol] = stamped.message.len() >= self.bounds.queue_bytes_max / 2;
            }
        }
        self.with_loop(index, |w| driver::deliver(w, event));
    }

    /// Once every loop has taken every event handed to it, every loop holds the same latest
    /// snapshot of every symbol (what a new subscriber on any loop is sent first).
    fn check_same_latest(&mut self) {
        if self.violation.is_some() || !self.held_back.is_empty() {
            return;
        }
        for symbol in self.params.symbols().to_vec() {
            let latest = self.loops[0].core.latest_seq(&symbol);
            if let Some(index) = (1..self.loops.len()).find(|&i| self.loops[i].core.latest_seq(&symbol) != latest) {
                let other = self.loops[index].core.latest_seq(&symbol);
                self.fail(
                    Invariant::Ordering,
                    format!("after a hand-off loop {index} holds {symbol} {other:?} as its latest (seq, epoch), loop 0 {latest:?}: not every loop was given the snapshot"),
                );
                return;
            }
        }
    }

    /// What each loop's shell does at the end of a turn (timers, writes, outputs, re-reads), and
    /// when it asks to be woken next.
    pub fn end_loop_turns(&mut self) {
        for index in 0..self.loops.len() {
            self.with_loop(index, |w| w.end_loop_turn(index));
        }
        let finished = self.loops.iter().all(|l| l.core.is_finished());
        if finished && !self.end_scheduled {
            // The process exits once every loop has.
            self.end_scheduled = true;
            self.schedule_ms(1, Event::End);
        }
    }

    fn end_loop_turn(&mut self, index: usize) {
        driver::end_turn(self);
        let now_ns = self.now_ns;
        if self.lp().core.is_finished() {
            return;
        }
        if let Some(at) = self.lp().core.poll_timeout() {
            let at_ns = self.clocks.sim_time_of(at, now_ns);
            if self.lp().timer_at_ns.is_none_or(|t| at_ns < t || t < now_ns) {
                self.queue.push(at_ns, Event::Timer(index));
                self.lp_mut().timer_at_ns = Some(at_ns);
            }
        }
        if self.lp().core.has_read_again() && !self.lp().loop_turn_pending {
            self.lp_mut().loop_turn_pending = true;
            self.queue.push(now_ns, Event::LoopTurn(index));
        }
    }

    /// The timer of loop `index` fired; fails if the core keeps asking for an instant it had.
    pub fn loop_timer(&mut self, index: usize) {
        let now_ns = self.now_ns;
        let lp = &mut self.loops[index];
        if lp.timer_at_ns == Some(now_ns) {
            lp.timer_at_ns = None;
        }
        if lp.last_timer_ns == now_ns {
            lp.same_instant_timers += 1;
            if lp.same_instant_timers > super::SAME_INSTANT_TIMERS_MAX {
                self.fail(
                    Invariant::Liveness,
                    format!("the core of loop {index} keeps asking to be woken at an instant already handled"),
                );
            }
        } else {
            lp.same_instant_timers = 0;
            lp.last_timer_ns = now_ns;
        }
    }

    /// A snapshot's hand-off time, for the cross-loop delay check: each client owed it must have
    /// it within the bound.
    pub fn handoff_deadline_ns(&self) -> u64 {
        let faults = &self.params.faults;
        self.now_ns + (faults.readiness_delay_ms_max + LOOP_WAKE_MS_MAX + HANDOFF_SLACK_MS) * NS_PER_MS
    }
}

/// Beyond the poller's readiness delay, the longest a client that keeps up may wait for a
/// snapshot handed to its loop (the simulated loop writes in the same instant; this covers a
/// write resumed on a later readiness event).
pub const HANDOFF_SLACK_MS: u64 = 25;
