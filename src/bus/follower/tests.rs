use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::bus::follower_snapshot as snap;

fn delivered(actions: &[Action]) -> Vec<(String, u64)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Deliver(s) => Some((s.epoch.to_string(), s.seq)),
            Action::Fetch(_) => None,
        })
        .collect()
}

fn pos(epoch: &str, seq: u64) -> (String, u64) {
    (epoch.to_string(), seq)
}

#[test]
fn next_seq_is_forwarded_and_a_repeat_is_dropped_as_duplicate() {
    let mut f = Follower::new(8);
    assert_eq!(delivered(&f.on_bus(snap("BTCUSDT", "e", 1))), vec![pos("e", 1)]);
    assert_eq!(delivered(&f.on_bus(snap("BTCUSDT", "e", 2))), vec![pos("e", 2)]);
    assert!(f.on_bus(snap("BTCUSDT", "e", 2)).is_empty());
    assert!(f.on_bus(snap("BTCUSDT", "e", 1)).is_empty());
    assert_eq!(f.counters().duplicates, 2);
}

#[test]
fn a_hole_is_held_fetched_once_and_filled_in_order_from_history() {
    let mut f = Follower::new(8);
    f.on_bus(snap("BTCUSDT", "e", 1));
    assert_eq!(f.on_bus(snap("BTCUSDT", "e", 4)), vec![Action::Fetch("BTCUSDT".into())]);
    assert!(f.on_bus(snap("BTCUSDT", "e", 5)).is_empty(), "held behind the hole, no second fetch");
    let history = (1..=5).map(|seq| snap("BTCUSDT", "e", seq)).collect();
    let out = f.on_history("BTCUSDT", history);
    assert_eq!(delivered(&out), vec![pos("e", 2), pos("e", 3), pos("e", 4), pos("e", 5)]);
    assert_eq!((f.counters().recovered, f.counters().gaps), (2, 0));
}

#[test]
fn a_symbol_followed_again_goes_on_from_the_last_delivered_seq_never_a_silent_jump() {
    let mut f = Follower::new(8);
    f.on_bus(snap("BTCUSDT", "e", 1));
    f.on_bus(snap("BTCUSDT", "e", 2));
    // No client wants it (the node unsubscribed); the loops still show seq 2 as the latest.
    f.stop_following("BTCUSDT");
    assert_eq!(f.on_resubscribed(&["BTCUSDT".into()]), vec![Action::Fetch("BTCUSDT".into())]);
    // The first read failed (answered with nothing): the next bus message is held, not a jump.
    assert!(delivered(&f.on_history("BTCUSDT", Vec::new())).is_empty());
    assert_eq!(f.on_bus(snap("BTCUSDT", "e", 6)), vec![Action::Fetch("BTCUSDT".into())]);
    let out = f.on_history("BTCUSDT", (1..=6).map(|seq| snap("BTCUSDT", "e", seq)).collect());
    assert_eq!(delivered(&out), vec![pos("e", 3), pos("e", 4), pos("e", 5), pos("e", 6)]);
    assert_eq!((f.counters().recovered, f.counters().gaps), (3, 0));
    // A history that lost the hole: the skip is counted.
    f.stop_following("BTCUSDT");
    f.on_resubscribed(&["BTCUSDT".into()]);
    let out = f.on_history("BTCUSDT", (9..=10).map(|seq| snap("BTCUSDT", "e", seq)).collect());
    assert_eq!(delivered(&out), vec![pos("e", 9), pos("e", 10)]);
    assert_eq!(f.counters().gaps, 1);
}

#[test]
fn a_hole_the_history_no_longer_holds_is_let_through_as_a_visible_skip() {
    let mut f = Follower::new(8);
    f.on_bus(snap("BTCUSDT", "e", 1));
    f.on_bus(snap("BTCUSDT", "e", 6));
    // The capped history starts at 4: 2 and 3 are gone.
    let out = f.on_history("BTCUSDT", (4..=6).map(|seq| snap("BTCUSDT", "e", seq)).collect());
    assert_eq!(delivered(&out), vec![pos("e", 4), pos("e", 5), pos("e", 6)]);
    assert_eq!(f.counters().gaps, 1);
}

#[test]
fn an_unreadable_history_lets_the_held_snapshots_through() {
    let mut f = Follower::new(8);
    f.on_bus(snap("BTCUSDT", "e", 1));
    f.on_bus(snap("BTCUSDT", "e", 3));
    assert_eq!(delivered(&f.on_history("BTCUSDT", Vec::new())), vec![pos("e", 3)]);
    assert_eq!(f.counters().gaps, 1);
}

#[test]
fn a_new_epoch_waits_for_the_old_epochs_fill_and_a_late_old_message_is_stale() {
    let mut f = Follower::new(8);
    f.on_bus(snap("BTCUSDT", "old", 1));
    f.on_bus(snap("BTCUSDT", "old", 3));
    // The new epoch waits for the old hole's fill.
    assert!(f.on_bus(snap("BTCUSDT", "new", 7)).is_empty());
    let out = f.on_history("BTCUSDT", vec![snap("BTCUSDT", "old", 2), snap("BTCUSDT", "old", 3), snap("BTCUSDT", "new", 7)]);
    assert_eq!(delivered(&out), vec![pos("old", 2), pos("old", 3), pos("new", 7)]);
    assert_eq!(f.counters().epoch_switches, 1);
    assert_eq!(delivered(&f.on_bus(snap("BTCUSDT", "new", 8))), vec![pos("new", 8)]);
    // A late message of the old epoch is stale.
    assert!(f.on_bus(snap("BTCUSDT", "old", 4)).is_empty());
    // Without a hole being filled, a new epoch starts at once.
    assert_eq!(delivered(&f.on_bus(snap("BTCUSDT", "newest", 1))), vec![pos("newest", 1)]);
}

#[test]
fn after_a_resubscription_what_was_missed_is_fetched_and_the_newest_epoch_followed() {
    let mut f = Follower::new(8);
    f.on_bus(snap("BTCUSDT", "a", 1));
    assert_eq!(f.on_resubscribed(&["BTCUSDT".into()]), vec![Action::Fetch("BTCUSDT".into())]);
    // Missed a:2, then a failover to epoch b.
    let history = vec![snap("BTCUSDT", "a", 1), snap("BTCUSDT", "a", 2), snap("BTCUSDT", "b", 1), snap("BTCUSDT", "b", 2)];
    assert_eq!(delivered(&f.on_history("BTCUSDT", history)), vec![pos("a", 2), pos("b", 2)]);
}

#[test]
fn a_fresh_node_starts_from_the_newest_snapshot_in_history() {
    let mut f = Follower::new(8);
    f.on_resubscribed(&["ETHUSDT".into()]);
    let out = f.on_history("ETHUSDT", vec![snap("ETHUSDT", "a", 4), snap("ETHUSDT", "a", 5)]);
    assert_eq!(delivered(&out), vec![pos("a", 5)]);
}

#[test]
fn the_leaders_own_publishes_coming_back_are_echoes_not_duplicates() {
    let mut f = Follower::new(8);
    assert_eq!(delivered(&f.on_local(snap("BTCUSDT", "mine", 1))), vec![pos("mine", 1)]);
    assert!(f.on_bus(snap("BTCUSDT", "mine", 1)).is_empty());
    assert_eq!((f.counters().echoes, f.counters().duplicates), (1, 0));
    // A history showing an older leader's epoch does not pull the leader's clients away.
    let out = f.on_history("BTCUSDT", vec![snap("BTCUSDT", "other", 9)]);
    assert!(delivered(&out).is_empty());
    f.end_local();
    assert_eq!(delivered(&f.on_history("BTCUSDT", vec![snap("BTCUSDT", "other", 9)])), vec![pos("other", 9)]);
}

#[test]
fn too_many_held_snapshots_let_the_hole_through() {
    let mut f = Follower::new(2);
    f.on_bus(snap("BTCUSDT", "e", 1));
    f.on_bus(snap("BTCUSDT", "e", 3));
    f.on_bus(snap("BTCUSDT", "e", 4));
    let out = f.on_bus(snap("BTCUSDT", "e", 5));
    assert_eq!(delivered(&out), vec![pos("e", 3), pos("e", 4), pos("e", 5)]);
}

/// One published snapshot and what the bus did with it.
#[derive(Debug, Clone)]
struct Step {
    /// Start a new epoch before this snapshot (a failover).
    new_epoch: bool,
    /// 0 = lost on the way, 1 = delivered, 2 = delivered twice.
    copies: u8,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (prop::bool::weighted(0.08), prop_oneof![3 => Just(1u8), 1 => Just(0u8), 1 => Just(2u8)])
            .prop_map(|(new_epoch, copies)| Step { new_epoch, copies }),
        1..80,
    )
}

proptest! {
    /// Whatever the bus loses or repeats: no duplicate, `seq` strictly increasing within an
    /// epoch, only published bytes, and with a history that holds everything, no skip at all and
    /// the newest snapshot delivered in the end.
    #[test]
    fn follower_never_duplicates_never_reorders_and_fills_every_hole_history_holds(
        steps in steps(),
        history_max in 1usize..100,
        held_max in 1usize..20,
    ) {
        let mut f = Follower::new(held_max);
        let mut published: Vec<StampedSnapshot> = Vec::new();
        let mut out: Vec<StampedSnapshot> = Vec::new();
        let (mut epoch, mut seq) = (0u32, 0u64);
        let history = |published: &Vec<StampedSnapshot>| -> Vec<StampedSnapshot> {
            published[published.len().saturating_sub(history_max)..].to_vec()
        };
        let run = |f: &mut Follower, actions: Vec<Action>, published: &Vec<StampedSnapshot>, out: &mut Vec<StampedSnapshot>| {
            let mut queue = actions;
            while !queue.is_empty() {
                let mut next = Vec::new();
                for action in queue {
                    match action {
                        Action::Deliver(s) => out.push(s),
                        Action::Fetch(symbol) => next.extend(f.on_history(&symbol, history(published))),
                    }
                }
                queue = next;
            }
        };
        for step in &steps {
            if step.new_epoch { epoch += 1; seq = 0; }
            seq += 1;
            let s = snap("BTCUSDT", &format!("e{epoch}"), seq);
            published.push(s.clone());
            for _ in 0..step.copies {
                let actions = f.on_bus(s.clone());
                run(&mut f, actions, &published, &mut out);
            }
        }
        let actions = f.on_resubscribed(&["BTCUSDT".to_string()]);
        run(&mut f, actions, &published, &mut out);

        let mut seen = BTreeSet::new();
        for pair in out.windows(2) {
            if pair[0].epoch == pair[1].epoch {
                prop_assert!(pair[1].seq > pair[0].seq, "seq went back within an epoch");
            }
        }
        for s in &out {
            prop_assert!(seen.insert((s.epoch.to_string(), s.seq)), "delivered twice: {} {}", s.epoch, s.seq);
            prop_assert!(published.iter().any(|p| p == s), "delivered bytes nobody published");
        }
        prop_assert_eq!(out.last().map(|s| (s.epoch.clone(), s.seq)), published.last().map(|s| (s.epoch.clone(), s.seq)));
        if history_max >= published.len() && held_max >= published.len() {
            prop_assert_eq!(f.counters().gaps, 0);
            for pair in out.windows(2) {
                if pair[0].epoch == pair[1].epoch {
                    prop_assert_eq!(pair[1].seq, pair[0].seq + 1, "skip although history held it");
                }
            }
        }
    }
}

#[test]
fn a_continued_epoch_fills_this_nodes_hole_before_its_own_next_stamp() {
    let mut f = Follower::new(8);
    f.on_bus(snap("BTCUSDT", "old", 1));
    // The old leader published 2 and 3 (this node missed 3), died; this node continues at 4.
    f.on_bus(snap("BTCUSDT", "old", 2));
    assert_eq!(f.on_local(snap("BTCUSDT", "old", 4)), vec![Action::Fetch("BTCUSDT".into())], "held, history asked");
    assert!(f.on_local(snap("BTCUSDT", "old", 5)).is_empty(), "still behind the hole");
    let out = f.on_history("BTCUSDT", (1..=3).map(|seq| snap("BTCUSDT", "old", seq)).collect());
    assert_eq!(delivered(&out), vec![pos("old", 3), pos("old", 4), pos("old", 5)]);
    assert_eq!(f.counters().gaps, 0);
    // Its publish came back from the bus before the confirmation: delivered once.
    assert_eq!(delivered(&f.on_bus(snap("BTCUSDT", "old", 6))), vec![pos("old", 6)]);
    assert!(f.on_local(snap("BTCUSDT", "old", 6)).is_empty());
    assert_eq!(delivered(&f.on_local(snap("BTCUSDT", "old", 7))), vec![pos("old", 7)]);
}

#[test]
fn a_continued_epoch_whose_hole_the_history_lost_shows_a_skip_never_a_silent_gap() {
    let mut f = Follower::new(8);
    f.on_bus(snap("BTCUSDT", "old", 1));
    assert_eq!(f.on_local(snap("BTCUSDT", "old", 5)), vec![Action::Fetch("BTCUSDT".into())]);
    let out = f.on_history("BTCUSDT", Vec::new());
    assert_eq!(delivered(&out), vec![pos("old", 5)]);
    assert_eq!(f.counters().gaps, 1, "counted, and clients see the seq skip");
}

proptest! {
    /// A node that takes over an epoch it was following (it saw 1..=seen of the old leader's
    /// 1..=tail) and stamps tail+1..=last: its confirmations (`on_local`, in order) and the
    /// echoes of the same publishes from the bus (`on_bus`, in order, some lost) interleave in
    /// any way. Its clients get every seq of the epoch exactly once, in order, and no skip.
    #[test]
    fn a_continuing_leader_delivers_every_seq_once_in_order_however_confirmations_and_echoes_interleave(
        tail in 1u64..20,
        seen_back in 0u64..20,
        stamped in 1u64..20,
        order in prop::collection::vec(0u8..3, 120),
        echo_lost in prop::collection::vec(prop::bool::weighted(0.3), 40),
    ) {
        let seen = tail.saturating_sub(seen_back).max(1);
        let last = tail + stamped;
        let mut f = Follower::new(64);
        let mut out: Vec<u64> = Vec::new();
        let mut published = tail;
        let run = |f: &mut Follower, actions: Vec<Action>, published: u64, out: &mut Vec<u64>| {
            let mut queue = actions;
            while !queue.is_empty() {
                let mut next = Vec::new();
                for action in queue {
                    match action {
                        Action::Deliver(s) => out.push(s.seq),
                        // Everything published so far is in the history (published before shown).
                        Action::Fetch(symbol) => next.extend(f.on_history(&symbol, (1..=published).map(|q| snap("BTCUSDT", "e", q)).collect())),
                    }
                }
                queue = next;
            }
        };
        for q in 1..=seen {
            let actions = f.on_bus(snap("BTCUSDT", "e", q));
            run(&mut f, actions, published, &mut out);
        }
        let echoes: Vec<u64> = (tail + 1..=last).filter(|q| !echo_lost[(*q - tail - 1) as usize]).collect();
        let (mut next_publish, mut next_local, mut next_echo) = (tail + 1, tail + 1, 0usize);
        let mut choices = order.iter();
        loop {
            // Publishes in order; a confirmation and an echo only after their publish.
            let can = [next_publish <= last, next_local < next_publish, next_echo < echoes.len() && echoes[next_echo] < next_publish];
            let options: Vec<usize> = (0..3).filter(|&i| can[i]).collect();
            let Some(&pick) = options.get(usize::from(*choices.next().unwrap_or(&0)) % options.len().max(1)) else { break };
            match pick {
                0 => {
                    published = next_publish;
                    next_publish += 1;
                }
                1 => {
                    let actions = f.on_local(snap("BTCUSDT", "e", next_local));
                    run(&mut f, actions, published, &mut out);
                    next_local += 1;
                }
                _ => {
                    let actions = f.on_bus(snap("BTCUSDT", "e", echoes[next_echo]));
                    run(&mut f, actions, published, &mut out);
                    next_echo += 1;
                }
            }
        }
        prop_assert_eq!(out, (1..=last).collect::<Vec<u64>>());
        prop_assert_eq!(f.counters().gaps, 0);
    }
}
