//! Running one seed: the world, its determinism twin and its flat-wall-clock twin, with panics
//! caught and reported as a violation of invariant 5.

use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use crate::invariant::{Invariant, Violation};
use crate::mutations::Mutations;
use crate::params::Params;
use crate::world::World;

/// What to run for one seed.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    pub mutations: Mutations,
    /// Run the seed a second time and require the same trace hash.
    pub check_determinism: bool,
    /// Run the seed again with a wall clock that never jumps or drifts, and require the same
    /// timeout decisions (invariant 4).
    pub check_wall_clock: bool,
    /// Keep every trace line (for `--trace`).
    pub keep_trace: bool,
}

/// The result of one seed.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub seed: u64,
    pub trace_hash: u64,
    pub events: u64,
    pub sim_ms: u64,
    pub violation: Option<Violation>,
    pub trace: Vec<String>,
    pub wall_seconds: f64,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.violation.is_none()
    }
}

struct Single {
    hash: u64,
    events: u64,
    sim_ms: u64,
    decisions: Vec<String>,
    violation: Option<Violation>,
    trace: Vec<String>,
}

fn run_once(seed: u64, mutations: Mutations, flat_wall: bool, keep_trace: bool) -> Single {
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut world = World::new(Params::draw(seed), mutations, flat_wall, keep_trace);
        world.run();
        let sim_ms = world.now.mono.as_millis();
        Single {
            hash: world.trace.hash(),
            events: world.trace.events,
            sim_ms,
            decisions: std::mem::take(&mut world.trace.decisions),
            violation: world.violation.take(),
            trace: world.trace.take_lines(),
        }
    }));
    result.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".into());
        Single {
            hash: 0,
            events: 0,
            sim_ms: 0,
            decisions: Vec::new(),
            violation: Some(Violation {
                invariant: Invariant::Isolation,
                at_ms: 0,
                detail: format!("panic: {message}"),
            }),
            trace: Vec::new(),
        }
    })
}

/// Runs `seed` with the checks `options` asks for.
pub fn run_seed(seed: u64, options: RunOptions) -> Outcome {
    // Wall time of the run, for the report only; nothing in the world reads it.
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let first = run_once(seed, options.mutations, false, options.keep_trace);
    let mut violation = first.violation.clone();
    if violation.is_none() && options.check_determinism {
        let second = run_once(seed, options.mutations, false, false);
        if second.hash != first.hash || second.violation.is_some() {
            violation = Some(Violation {
                invariant: Invariant::ReleasedAndTime,
                at_ms: 0,
                detail: format!(
                    "not deterministic: trace hashes {:016x} and {:016x} differ",
                    first.hash, second.hash
                ),
            });
        }
    }
    if violation.is_none() && options.check_wall_clock {
        let flat = run_once(seed, options.mutations, true, false);
        if let Some(v) = flat.violation {
            violation = Some(v);
        } else if let Some(index) = (0..first.decisions.len().max(flat.decisions.len()))
            .find(|&i| first.decisions.get(i) != flat.decisions.get(i))
        {
            violation = Some(Violation {
                invariant: Invariant::ReleasedAndTime,
                at_ms: 0,
                detail: format!(
                    "wall-clock jumps changed a timeout decision: with jumps {:?}, with a steady wall clock {:?}",
                    first.decisions.get(index),
                    flat.decisions.get(index)
                ),
            });
        }
    }
    Outcome {
        seed,
        trace_hash: first.hash,
        events: first.events,
        sim_ms: first.sim_ms,
        violation,
        trace: first.trace,
        wall_seconds: started.elapsed().as_secs_f64(),
    }
}

/// The command that reproduces a failure of `seed`.
pub fn repro_command(seed: u64) -> String {
    format!("cargo run --release -p sim -- --seed {seed} --trace")
}
