//! `sim`: runs the deterministic simulation of the server core. See docs/simulation.md.

// The command line reads the wall clock (swarm start, timing) and the seed file; the simulated
// world itself never does.
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use sim::seeds::{parse_range, parse_seed_file, seed_from_commit, CI_SEEDS};
use sim::{repro_command, run_seed, Outcome, RunOptions};

#[derive(Parser, Debug)]
#[command(
    name = "sim",
    about = "Deterministic simulation of the liquidationheatmap server core"
)]
struct Args {
    /// Run one seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Run a range of seeds, `A..B` (B exclusive).
    #[arg(long)]
    seeds: Option<String>,
    /// Run fresh seeds until the --duration budget (wall time) is spent.
    #[arg(long)]
    swarm: bool,
    /// Wall-time budget of --swarm, e.g. `60s`, `5m`.
    #[arg(long, default_value = "60s")]
    duration: String,
    /// First seed of --swarm (default: taken from the system clock and printed).
    #[arg(long)]
    start: Option<u64>,
    /// Print the event trace of the (single) seed.
    #[arg(long)]
    trace: bool,
    /// The CI set: fixed seeds twice each (determinism), a seed from the commit, sim/seeds.txt.
    #[arg(long)]
    ci: bool,
    /// Worker threads (default: available cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// The regression seed list.
    #[arg(long, default_value_os_t = default_seed_file())]
    seed_file: PathBuf,
    /// Run each seed once: skip the determinism twin and the steady-wall-clock twin (3x faster,
    /// for hunting; --ci always runs both).
    #[arg(long)]
    single_run: bool,
}

fn default_seed_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds.txt")
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.trim().split_at(
        text.trim()
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.trim().len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("duration {text:?}: expected e.g. 60s or 5m"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "ms" => Ok(Duration::from_millis(n)),
        _ => Err(format!("duration {text:?}: unit must be ms, s or m")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("sim: {message}");
            ExitCode::from(2)
        }
    }
}

fn jobs(args: &Args) -> usize {
    args.jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

fn run(args: Args) -> Result<bool, String> {
    let started = Instant::now();
    let jobs = jobs(&args);
    let twins = args.ci || !args.single_run;
    let options = RunOptions {
        check_determinism: twins,
        check_wall_clock: twins,
        ..RunOptions::default()
    };
    if let Some(seed) = args.seed {
        let outcome = run_seed(
            seed,
            RunOptions {
                keep_trace: args.trace,
                ..options
            },
        );
        print_failure(&outcome);
        if args.trace {
            let mut out = std::io::stdout().lock();
            for line in &outcome.trace {
                let _ = writeln!(out, "{line}");
            }
        }
        return Ok(report(&[outcome], started));
    }
    if args.trace {
        return Err("--trace needs --seed N".into());
    }
    let outcomes = if args.ci {
        let mut seeds: Vec<u64> = CI_SEEDS.collect();
        match commit_hash().as_deref().and_then(seed_from_commit) {
            Some(seed) => {
                println!("sim: commit seed {seed}");
                seeds.push(seed);
            }
            None => println!("sim: no git commit found; skipping the commit-derived seed"),
        }
        let text = std::fs::read_to_string(&args.seed_file)
            .map_err(|e| format!("{}: {e}", args.seed_file.display()))?;
        let regression = parse_seed_file(&args.seed_file, &text)?;
        println!(
            "sim: {} regression seeds from {}",
            regression.len(),
            args.seed_file.display()
        );
        seeds.extend(regression);
        run_many(&seeds, options, jobs)
    } else if args.swarm {
        let budget = parse_duration(&args.duration)?;
        let start = args.start.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
                * 1000
        });
        println!("sim: swarm from seed {start} for {budget:?}");
        run_swarm(start, budget, options, jobs)
    } else if let Some(range) = &args.seeds {
        let seeds: Vec<u64> = parse_range(range)?.collect();
        run_many(&seeds, options, jobs)
    } else {
        return Err(
            "nothing to do: pass --seed N, --seeds A..B, --swarm or --ci (see --help)".into(),
        );
    };
    Ok(report(&outcomes, started))
}

fn commit_hash() -> Option<String> {
    let output = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

fn run_many(seeds: &[u64], options: RunOptions, jobs: usize) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(seeds.len()));
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                let Some(&seed) = seeds.get(index) else { break };
                let outcome = run_seed(seed, options);
                print_failure(&outcome);
                if let Ok(mut results) = results.lock() {
                    results.push((index, outcome));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, outcome)| outcome).collect()
}

fn run_swarm(start: u64, budget: Duration, options: RunOptions, jobs: usize) -> Vec<Outcome> {
    let deadline = Instant::now() + budget;
    let next = AtomicU64::new(start);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                while Instant::now() < deadline {
                    let seed = next.fetch_add(1, Ordering::SeqCst);
                    let outcome = run_seed(seed, options);
                    print_failure(&outcome);
                    if let Ok(mut results) = results.lock() {
                        results.push(outcome);
                    }
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|o| o.seed);
    results
}

/// Prints a failure with its reproduction command as soon as it is known.
fn print_failure(outcome: &Outcome) {
    if let Some(violation) = &outcome.violation {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "FAIL seed {}: {violation}", outcome.seed);
        let _ = writeln!(out, "  reproduce: {}", repro_command(outcome.seed));
        let _ = out.flush();
    }
}

/// Prints the summary (failures were printed as they happened); true if all passed.
fn report(outcomes: &[Outcome], started: Instant) -> bool {
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.passed()).collect();
    if !failed.is_empty() {
        let seeds: Vec<String> = failed.iter().map(|o| o.seed.to_string()).collect();
        println!("sim: failing seeds: {}", seeds.join(" "));
    }
    if outcomes.len() == 1 {
        let o = &outcomes[0];
        println!(
            "sim: seed {} ran {} events, {} ms simulated, trace hash {:016x}, {:.2} s",
            o.seed, o.events, o.sim_ms, o.trace_hash, o.wall_seconds
        );
    }
    let events: u64 = outcomes.iter().map(|o| o.events).sum();
    println!(
        "sim: {events} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "sim: {} passed, {} failed",
        outcomes.len() - failed.len(),
        failed.len()
    );
    failed.is_empty()
}
