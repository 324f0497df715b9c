//! The simulated process (issue 14, issue 15's node side): worlds with one to four event loops
//! behind one acceptor, a stalled loop, and snapshots arriving over the bus, all drawn from the
//! seed; these tests prove the draws and the faults really happen, so `sim --ci` covers them.

use std::collections::BTreeSet;

use sim::mutations::Mutations;
use sim::params::{Params, LOOPS_MAX};
use sim::world::World;

/// The CI seeds (`sim::seeds::CI_SEEDS`) draw every shape.
#[test]
fn the_ci_seeds_draw_one_to_four_loops_stalled_loops_and_bus_worlds() {
    let shapes: Vec<_> = sim::seeds::CI_SEEDS.map(|seed| Params::draw(seed).shape).collect();
    let loops: BTreeSet<usize> = shapes.iter().map(|s| s.loops).collect();
    assert_eq!(loops, (1..=LOOPS_MAX).collect::<BTreeSet<_>>());
    assert!(shapes.iter().filter(|s| s.stalled_loop.is_some()).count() >= 40);
    assert!(shapes.iter().filter(|s| s.bus.is_some() && s.loops > 1).count() >= 40);
}

fn run(seed: u64) -> World {
    let mut world = World::new(Params::draw(seed), Mutations::default(), false, false);
    world.run();
    assert!(world.violation.is_none(), "seed {seed}: {:?}", world.violation);
    world
}

#[test]
fn the_acceptor_spreads_connections_over_every_loop() {
    let mut checked = 0;
    for seed in 0..60u64 {
        let params = Params::draw(seed);
        if params.shape.loops < 2 || params.clients.len() < 4 * params.shape.loops {
            continue;
        }
        let world = run(seed);
        let used: BTreeSet<usize> = world.conns.iter().filter(|c| c.core_id.is_some()).filter_map(|c| c.loop_index).collect();
        assert_eq!(used.len(), params.shape.loops, "seed {seed}: loops used {used:?}");
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} seeds had several loops and enough clients");
}

#[test]
fn bus_worlds_lose_repeat_cut_fail_over_fill_and_skip() {
    let runs: Vec<_> = sim::seeds::CI_SEEDS
        .filter(|&seed| Params::draw(seed).shape.bus.is_some())
        .map(|seed| {
            let world = run(seed);
            let bus = world.bus.as_ref().expect("a bus world");
            (bus.counters, bus.follower.counters())
        })
        .collect();
    let sum = |count: fn(&sim::world::bus::BusCounters) -> u64| runs.iter().map(|(c, _)| count(c)).sum::<u64>();
    let (lost, repeated, cuts, failovers) = (sum(|c| c.lost), sum(|c| c.repeated), sum(|c| c.cuts), sum(|c| c.failovers));
    assert!(lost > 0 && repeated > 0 && cuts > 0 && failovers > 0, "{lost} {repeated} {cuts} {failovers}");
    let recovered: u64 = runs.iter().map(|(_, f)| f.recovered).sum();
    assert!(recovered > 0, "no hole was filled from the history");
    assert!(sum(|c| c.skipped) > 0, "no hole was ever beyond the history");
    let duplicates: u64 = runs.iter().map(|(_, f)| f.duplicates).sum();
    assert!(duplicates > 0 && sum(|c| c.handed_off) > 0, "{duplicates}");
}
