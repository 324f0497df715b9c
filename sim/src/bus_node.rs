//! The node side of the Redis bus (issue 15) under seeded faults: the real
//! [`liquidationheatmap::bus::follower::Follower`] receives a leader's stream through a simulated
//! bus that loses, repeats and delays snapshots, cuts the subscription (resubscribe, catch-up),
//! and fails over to new epochs; history reads are answered later, from a capped history that
//! keeps growing meanwhile. Whatever the follower delivers is what the node's clients would get
//! ([`crate::Invariant::Ordering`]): per epoch strictly increasing `seq`, no duplicate, only bytes
//! the leader published, an epoch never coming back after another, a skip only where the history
//! no longer held the missing snapshots, and, once faults stop, the newest snapshot delivered
//! ([`crate::Invariant::Liveness`]).

use std::collections::{BTreeSet, VecDeque};

use liquidationheatmap::bus::follower::{Action, Follower};
use liquidationheatmap::bus::follower_snapshot;
use liquidationheatmap::core::StampedSnapshot;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Invariant, Violation};

/// What one run did, for reports and for tests that the faults really happened.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BusRun {
    pub published: usize,
    pub delivered: usize,
    pub lost_on_bus: usize,
    pub repeated: usize,
    pub cuts: usize,
    pub epochs: usize,
    pub recovered: u64,
    pub gaps: u64,
}

enum Pending {
    History { symbol: String, due: u64 },
}

/// Runs `steps` leader publishes under the faults drawn from `seed`, with a history of
/// `history_max` snapshots; `Err` names the first broken invariant.
pub fn run(seed: u64, steps: usize, history_max: usize) -> Result<BusRun, Violation> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut follower = Follower::new(2 * history_max.max(4));
    let mut history: VecDeque<StampedSnapshot> = VecDeque::new();
    let mut published: Vec<StampedSnapshot> = Vec::new();
    let mut delivered: Vec<StampedSnapshot> = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    let mut run = BusRun { epochs: 1, ..BusRun::default() };
    let mut in_flight: VecDeque<(u64, StampedSnapshot)> = VecDeque::new();
    let (mut epoch, mut seq) = (0u32, 0u64);
    let mut subscribed = true;
    let symbol = "BTCUSDT".to_string();
    let mut actions = follower.on_resubscribed(std::slice::from_ref(&symbol));
    let quiet_from = steps * 4 / 5;
    for t in 0..(steps as u64 + 50) {
        let faults = (t as usize) < quiet_from;
        if (t as usize) < steps {
            if faults && rng.random_bool(0.03) {
                epoch += 1;
                seq = 0;
                run.epochs += 1;
            }
            seq += 1;
            let s = follower_snapshot(&symbol, &format!("leader{epoch}"), seq);
            published.push(s.clone());
            history.push_back(s.clone());
            while history.len() > history_max {
                history.pop_front();
            }
            if faults && rng.random_bool(0.04) {
                subscribed = false;
                run.cuts += 1;
            }
            if !subscribed || (faults && rng.random_bool(0.1)) {
                run.lost_on_bus += 1;
            } else {
                let copies = if faults && rng.random_bool(0.08) { 2 } else { 1 };
                run.repeated += copies - 1;
                for _ in 0..copies {
                    let delay = if faults { rng.random_range(0..3) } else { 0 };
                    in_flight.push_back((t + delay, s.clone()));
                }
            }
        }
        if !subscribed && rng.random_bool(0.3) {
            subscribed = true;
            actions.extend(follower.on_resubscribed(std::slice::from_ref(&symbol)));
        }
        // The bus keeps per-channel order: deliver the ready prefix.
        while in_flight.front().is_some_and(|(due, _)| *due <= t) {
            let (_, s) = in_flight.pop_front().expect("front exists");
            actions.extend(follower.on_bus(s));
        }
        let mut answered = Vec::new();
        pending.retain(|p| match p {
            Pending::History { symbol, due } if *due <= t => {
                answered.push(symbol.clone());
                false
            }
            _ => true,
        });
        for symbol in answered {
            actions.extend(follower.on_history(&symbol, history.iter().cloned().collect()));
        }
        for action in std::mem::take(&mut actions) {
            match action {
                Action::Deliver(s) => delivered.push(s),
                Action::Fetch(symbol) => pending.push(Pending::History { symbol, due: t + rng.random_range(0..4) }),
            }
        }
    }
    let counters = follower.counters();
    run.published = published.len();
    run.delivered = delivered.len();
    run.recovered = counters.recovered;
    run.gaps = counters.gaps;
    check(&published, &delivered, history_max).map(|()| run)
}

fn violation(invariant: Invariant, detail: String) -> Violation {
    Violation { invariant, at_ms: 0, detail }
}

fn check(published: &[StampedSnapshot], delivered: &[StampedSnapshot], history_max: usize) -> Result<(), Violation> {
    let mut seen = BTreeSet::new();
    let mut finished_epochs: BTreeSet<String> = BTreeSet::new();
    for (i, s) in delivered.iter().enumerate() {
        if !published.contains(s) {
            return Err(violation(Invariant::Ordering, format!("delivered bytes nobody published: {} {}", s.epoch, s.seq)));
        }
        if !seen.insert((s.epoch.to_string(), s.seq)) {
            let around: Vec<String> = delivered[i.saturating_sub(6)..=i].iter().map(|d| format!("{}:{}", d.epoch, d.seq)).collect();
            return Err(violation(Invariant::Ordering, format!("delivered twice: {} {} (delivered: {})", s.epoch, s.seq, around.join(" "))));
        }
        if i > 0 {
            let prev = &delivered[i - 1];
            if prev.epoch == s.epoch {
                if s.seq <= prev.seq {
                    return Err(violation(Invariant::Ordering, format!("seq went back: {} {} after {}", s.epoch, s.seq, prev.seq)));
                }
            } else {
                finished_epochs.insert(prev.epoch.to_string());
                if finished_epochs.contains(&*s.epoch) {
                    return Err(violation(Invariant::Ordering, format!("epoch {} came back", s.epoch)));
                }
            }
        }
    }
    let newest = published.last().map(|s| (s.epoch.to_string(), s.seq));
    let last = delivered.last().map(|s| (s.epoch.to_string(), s.seq));
    if newest != last {
        return Err(violation(Invariant::Liveness, format!("after the faults stopped the node ends at {last:?}, the leader at {newest:?}")));
    }
    if history_max >= published.len() {
        let skips = delivered.windows(2).filter(|w| w[0].epoch == w[1].epoch && w[1].seq != w[0].seq + 1).count();
        if skips > 0 {
            return Err(violation(Invariant::Ordering, format!("{skips} skips although the history held everything")));
        }
    }
    Ok(())
}
