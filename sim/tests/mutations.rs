//! Proof that the simulator catches each invariant: every test switches on one deliberate bug in
//! the core (see `sim/src/mutations.rs`), searches the seeds, and asserts that the simulator
//! reports exactly that invariant, and that the reported seed reproduces the same failure.

use sim::mutations::Mutations;
use sim::{run_seed, Invariant, Outcome, RunOptions, Violation};

/// Seeds searched for a world that exposes the mutation.
const SEEDS_SEARCHED_MAX: u64 = 400;

fn first_failure(mutations: Mutations, expected: Invariant, options: RunOptions) -> Outcome {
    first_failure_where(mutations, options, |v| v.invariant == expected)
}

fn first_failure_where(
    mutations: Mutations,
    options: RunOptions,
    wanted: impl Fn(&Violation) -> bool,
) -> Outcome {
    let options = RunOptions {
        mutations,
        ..options
    };
    for seed in 0..SEEDS_SEARCHED_MAX {
        let outcome = run_seed(seed, options);
        if outcome.violation.as_ref().is_some_and(&wanted) {
            // Reproducible: the same seed fails the same way, with the same trace.
            let again = run_seed(seed, options);
            assert_eq!(
                again.violation, outcome.violation,
                "seed {seed} did not reproduce"
            );
            assert_eq!(
                again.trace_hash, outcome.trace_hash,
                "seed {seed} trace differs on rerun"
            );
            return outcome;
        }
    }
    panic!("no seed below {SEEDS_SEARCHED_MAX} reports the expected violation for {mutations:?}");
}

fn caught(mutations: Mutations, expected: Invariant) -> Outcome {
    first_failure(mutations, expected, RunOptions::default())
}

#[test]
fn unbounded_queue_is_reported_as_invariant_1() {
    caught(
        Mutations {
            ignore_queue_byte_bound: true,
            ..Mutations::default()
        },
        Invariant::Bounds,
    );
}

#[test]
fn connections_beyond_the_limit_are_reported_as_invariant_1() {
    let outcome = caught(
        Mutations {
            ignore_ws_connection_limit: true,
            ..Mutations::default()
        },
        Invariant::Bounds,
    );
    assert!(outcome
        .violation
        .unwrap()
        .detail
        .contains("WebSockets open"));
}

#[test]
fn repeated_seq_is_reported_as_invariant_2() {
    caught(
        Mutations {
            repeat_snapshot_seq: true,
            ..Mutations::default()
        },
        Invariant::Ordering,
    );
}

#[test]
fn silently_skipped_subscriber_is_reported_as_invariant_2() {
    let outcome = caught(
        Mutations {
            skip_lowest_subscriber: true,
            ..Mutations::default()
        },
        Invariant::Ordering,
    );
    assert!(outcome.violation.unwrap().detail.contains("missed"));
}

#[test]
fn slow_consumer_closed_without_warning_is_reported_as_invariant_3() {
    caught(
        Mutations {
            close_slow_consumer_without_warning: true,
            ..Mutations::default()
        },
        Invariant::SlowConsumer,
    );
}

#[test]
fn closing_connection_never_released_is_reported_as_invariant_3() {
    let outcome = caught(
        Mutations {
            ignore_close_deadline: true,
            ..Mutations::default()
        },
        Invariant::SlowConsumer,
    );
    assert!(outcome.violation.unwrap().detail.contains("close timeout"));
}

#[test]
fn wall_clock_driving_timeouts_is_reported_as_invariant_4() {
    caught(
        Mutations {
            wall_clock_drives_timeouts: true,
            ..Mutations::default()
        },
        Invariant::ReleasedAndTime,
    );
}

#[test]
fn wall_clock_driving_timeouts_changes_decisions_against_a_steady_wall_clock() {
    // The twin run with a steady wall clock makes different timeout decisions.
    let options = RunOptions {
        check_wall_clock: true,
        ..RunOptions::default()
    };
    let mutations = Mutations {
        wall_clock_drives_timeouts: true,
        ..Mutations::default()
    };
    first_failure_where(mutations, options, |v| {
        v.invariant == Invariant::ReleasedAndTime && v.detail.contains("changed a timeout decision")
    });
}

#[test]
fn one_client_error_closing_another_is_reported_as_invariant_5() {
    caught(
        Mutations {
            peer_gone_removes_neighbour: true,
            ..Mutations::default()
        },
        Invariant::Isolation,
    );
}

#[test]
fn unread_bytes_after_a_spent_read_budget_are_reported_as_invariant_6() {
    caught(
        Mutations {
            forget_read_again: true,
            ..Mutations::default()
        },
        Invariant::Liveness,
    );
}

#[test]
fn shutdown_without_its_deadline_is_reported_as_invariant_7() {
    caught(
        Mutations {
            ignore_shutdown_deadline: true,
            ..Mutations::default()
        },
        Invariant::Shutdown,
    );
}

#[test]
fn a_snapshot_handed_to_one_loop_only_is_reported_as_invariant_2() {
    let outcome = caught(
        Mutations {
            hand_off_to_one_loop: true,
            ..Mutations::default()
        },
        Invariant::Ordering,
    );
    assert!(sim::params::Params::draw(outcome.seed).shape.loops > 1, "only a world of several loops can expose it");
    assert!(outcome.violation.unwrap().detail.contains("not every loop"));
}

#[test]
fn a_hand_off_waiting_on_a_stalled_loop_is_reported_as_invariant_5() {
    let outcome = caught(
        Mutations {
            hand_off_behind_stalled_loop: true,
            ..Mutations::default()
        },
        Invariant::Isolation,
    );
    assert!(sim::params::Params::draw(outcome.seed).shape.stalled_loop.is_some());
    assert!(outcome.violation.unwrap().detail.contains("after its hand-off"));
}

#[test]
fn a_bus_fill_handed_to_the_loops_twice_is_reported_as_invariant_2() {
    let outcome = caught(
        Mutations {
            bus_deliver_fill_twice: true,
            ..Mutations::default()
        },
        Invariant::Ordering,
    );
    assert!(sim::params::Params::draw(outcome.seed).shape.bus.is_some(), "only a bus world can expose it");
    assert!(outcome.violation.unwrap().detail.contains("same epoch"), "a client saw the duplicate");
}

#[test]
fn without_mutations_the_same_seeds_pass() {
    for seed in 0..50 {
        let outcome = run_seed(
            seed,
            RunOptions {
                check_determinism: true,
                check_wall_clock: true,
                ..RunOptions::default()
            },
        );
        assert!(outcome.passed(), "seed {seed}: {:?}", outcome.violation);
    }
}
