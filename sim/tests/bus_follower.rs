//! The node side of the Redis bus under seeded faults (`sim::bus_node`): losses, repeats,
//! delays, subscription cuts, failovers, late history answers.

#[test]
fn bus_follower_keeps_the_ordering_and_liveness_invariants_under_seeded_faults() {
    let mut totals = sim::bus_node::BusRun::default();
    for seed in 0..300u64 {
        let history_max = [3usize, 16, 1000][(seed % 3) as usize];
        let run = sim::bus_node::run(seed, 200, history_max).unwrap_or_else(|v| panic!("seed {seed} (history {history_max}): {v}"));
        totals.lost_on_bus += run.lost_on_bus;
        totals.repeated += run.repeated;
        totals.cuts += run.cuts;
        totals.epochs += run.epochs;
        totals.recovered += run.recovered;
        totals.gaps += run.gaps;
    }
    // The faults really happened, and both outcomes of a hole were exercised.
    assert!(totals.lost_on_bus > 0 && totals.repeated > 0 && totals.cuts > 0 && totals.epochs > 300, "{totals:?}");
    assert!(totals.recovered > 0, "no hole was ever filled from history: {totals:?}");
    assert!(totals.gaps > 0, "no hole was ever beyond the history: {totals:?}");
}

#[test]
fn with_a_history_holding_everything_no_seed_shows_a_skip() {
    for seed in 0..100u64 {
        let run = sim::bus_node::run(seed, 150, 10_000).unwrap_or_else(|v| panic!("seed {seed}: {v}"));
        assert_eq!(run.gaps, 0, "seed {seed}: {run:?}");
    }
}
