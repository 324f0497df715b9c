//! Engine benchmark: `cargo run --release --example bench_engine`.
//!
//! 1. Bars applied per second over a year of synthetic 1-minute bars (target >= 1,000,000/s).
//! 2. Time to build a snapshot from about 100,000 open positions (target < 1 ms).
//!
//! Prints a table of medians; docs/benchmarks.md ("Engine") records the results.

use liquidationheatmap::demo::synthetic::synthetic_bars;
use liquidationheatmap::engine::{default_bin_size, BarOutcome, Engine, EngineParams};
use std::hint::black_box;
use std::time::{Duration, Instant};

const SEED: u64 = 42;
const START_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const MINUTE_MS: i64 = 60_000;
const YEAR_OF_MINUTES: usize = 525_600;
const REPLAY_RUNS: usize = 5;
const SNAPSHOT_POSITIONS_TARGET: usize = 100_000;
/// Bars generated at most while growing the book to the snapshot target.
const SNAPSHOT_SETUP_BARS_MAX: usize = 200_000;
const SNAPSHOT_BUILDS: usize = 50;

fn main() {
    let bars = synthetic_bars(SEED, START_MS, MINUTE_MS, YEAR_OF_MINUTES, 3_000.0, 3e9);

    let mut replay_times = Vec::with_capacity(REPLAY_RUNS);
    let mut final_positions = 0;
    for _ in 0..REPLAY_RUNS {
        let mut engine = new_engine();
        let started = Instant::now();
        for bar in &bars {
            if let Err(error) = engine.apply(black_box(bar)) {
                eprintln!("synthetic bar rejected: {error}");
                std::process::exit(1);
            }
        }
        replay_times.push(started.elapsed());
        final_positions = engine.position_count();
    }
    let (replay, replay_best) = median_and_best(&mut replay_times);
    let bars_per_second = bars.len() as f64 / replay.as_secs_f64();
    let best_bars_per_second = bars.len() as f64 / replay_best.as_secs_f64();

    let (engine, positions) = engine_with_positions(SNAPSHOT_POSITIONS_TARGET);
    let bin_size = default_bin_size(engine.last_close().unwrap_or(3_000.0));
    let mut snapshot_times = Vec::with_capacity(SNAPSHOT_BUILDS);
    let mut levels = 0;
    for _ in 0..SNAPSHOT_BUILDS {
        let started = Instant::now();
        let snapshot = engine.snapshot(black_box(bin_size), &BarOutcome::default());
        snapshot_times.push(started.elapsed());
        levels = snapshot.map(|snapshot| snapshot.levels.len()).unwrap_or(0);
    }
    let (snapshot, snapshot_best) = median_and_best(&mut snapshot_times);

    println!("| measurement | result | target | detail |");
    println!("|---|---|---|---|");
    println!(
        "| apply, 1 year of 1m bars | {:.0} bars/s ({:.3} s) | >= 1,000,000 bars/s | {} bars, median of {REPLAY_RUNS} (best {:.0} bars/s), {final_positions} positions at end |",
        bars_per_second,
        replay.as_secs_f64(),
        bars.len(),
        best_bars_per_second
    );
    println!(
        "| snapshot build | {:.3} ms | < 1 ms | {positions} positions, bin {bin_size}, {levels} levels, median of {SNAPSHOT_BUILDS} (best {:.3} ms) |",
        snapshot.as_secs_f64() * 1e3,
        snapshot_best.as_secs_f64() * 1e3
    );
}

fn new_engine() -> Engine {
    match Engine::new(EngineParams::default()) {
        Ok(engine) => engine,
        Err(error) => {
            eprintln!("default params rejected: {error}");
            std::process::exit(1);
        }
    }
}

/// An engine holding about `target` positions: synthetic bars whose open interest only rises
/// (so nothing is closed proportionally) until the book is that large.
fn engine_with_positions(target: usize) -> (Engine, usize) {
    let mut bars = synthetic_bars(
        SEED + 1,
        START_MS,
        MINUTE_MS,
        SNAPSHOT_SETUP_BARS_MAX,
        3_000.0,
        3e9,
    );
    let mut open_interest = 3e9;
    for bar in &mut bars {
        open_interest += bar.quote_volume.unwrap_or(1e6) * 0.01;
        bar.open_interest_usd = Some(open_interest);
    }
    let mut engine = new_engine();
    for bar in &bars {
        if engine.position_count() >= target {
            break;
        }
        if let Err(error) = engine.apply(bar) {
            eprintln!("synthetic bar rejected: {error}");
            std::process::exit(1);
        }
    }
    let positions = engine.position_count();
    (engine, positions)
}

/// (median, fastest); the machine is shared, so the fastest run shows the undisturbed cost.
fn median_and_best(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort();
    (times[times.len() / 2], times[0])
}
