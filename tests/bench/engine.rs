//! Engine benchmark: `cargo run --release --example bench_engine`.
//!
//! 1. Bars applied per second over a year of synthetic 1-minute bars (target >= 1,000,000/s).
//! 2. Time to build a snapshot from about 100,000 open positions (target < 1 ms).
//!
//! Prints the load average and a table of medians (wall clock and on-CPU time);
//! docs/benchmarks.md ("Engine") records the results.

// A benchmark reads the clock and /proc/loadavg; the sans-IO lints are for src/core.
#![allow(clippy::disallowed_methods)]

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

    let mut replay_samples = Vec::with_capacity(REPLAY_RUNS);
    let mut final_positions = 0;
    for _ in 0..REPLAY_RUNS {
        let mut engine = new_engine();
        let ((), sample) = measure(|| {
            for bar in &bars {
                if let Err(error) = engine.apply(black_box(bar)) {
                    eprintln!("synthetic bar rejected: {error}");
                    std::process::exit(1);
                }
            }
        });
        replay_samples.push(sample);
        final_positions = engine.position_count();
    }
    let replay = Summary::of(&replay_samples);
    let per_second = |time: Duration| bars.len() as f64 / time.as_secs_f64();

    let (engine, positions) = engine_with_positions(SNAPSHOT_POSITIONS_TARGET);
    let bin_size = default_bin_size(engine.last_close().unwrap_or(3_000.0));
    let mut snapshot_samples = Vec::with_capacity(SNAPSHOT_BUILDS);
    let mut levels = 0;
    for _ in 0..SNAPSHOT_BUILDS {
        let (snapshot, sample) =
            measure(|| engine.snapshot(black_box(bin_size), &BarOutcome::default()));
        snapshot_samples.push(sample);
        levels = snapshot.map(|snapshot| snapshot.levels.len()).unwrap_or(0);
    }
    let snapshot = Summary::of(&snapshot_samples);
    let ms = |time: Duration| time.as_secs_f64() * 1e3;

    println!("load average (1, 5, 15 min): {}", load_average());
    println!("| measurement | wall clock, median | on CPU, median | target | detail |");
    println!("|---|---|---|---|---|");
    println!(
        "| apply, 1 year of 1m bars | {:.0} bars/s | {:.0} bars/s | >= 1,000,000 bars/s | {} bars, {REPLAY_RUNS} runs, best wall {:.0} bars/s, {final_positions} positions at end |",
        per_second(replay.wall_median),
        per_second(replay.cpu_median),
        bars.len(),
        per_second(replay.wall_best),
    );
    println!(
        "| snapshot build | {:.3} ms | {:.3} ms | < 1 ms | {positions} positions, bin {bin_size}, {levels} levels, {SNAPSHOT_BUILDS} builds, best wall {:.3} ms |",
        ms(snapshot.wall_median),
        ms(snapshot.cpu_median),
        ms(snapshot.wall_best),
    );
}

/// Wall-clock and on-CPU time of one measured run. The machine is shared (builds run beside
/// the benchmark), so the on-CPU time shows the code's own cost when waiting for a core
/// inflates the wall clock.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
}

fn measure<T>(work: impl FnOnce() -> T) -> (T, Sample) {
    let (wall_start, cpu_start) = (Instant::now(), thread_cpu_time());
    let result = work();
    let sample = Sample {
        wall: wall_start.elapsed(),
        cpu: thread_cpu_time().saturating_sub(cpu_start),
    };
    (result, sample)
}

struct Summary {
    wall_median: Duration,
    wall_best: Duration,
    cpu_median: Duration,
}

impl Summary {
    fn of(samples: &[Sample]) -> Self {
        let mut wall: Vec<Duration> = samples.iter().map(|sample| sample.wall).collect();
        let mut cpu: Vec<Duration> = samples.iter().map(|sample| sample.cpu).collect();
        wall.sort();
        cpu.sort();
        Self {
            wall_median: wall[wall.len() / 2],
            wall_best: wall[0],
            cpu_median: cpu[cpu.len() / 2],
        }
    }
}

/// CPU time consumed by this thread so far.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec that outlives the call.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if status != 0 {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// The first three fields of /proc/loadavg, or "unknown".
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_else(|_| "unknown".to_string())
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
