//! Deterministic simulation of the server core (issue 5; see docs/simulation.md).
//!
//! The simulator replaces the mio shell, the clock and the snapshot producer, and drives the same
//! `liquidationheatmap::core::Core` as production through a simulated network with seeded faults.
//! A world is a process of 1 to 4 event loops behind one acceptor, fed by the production
//! `SnapshotFanout` (and, in bus worlds, the production bus `Follower`), all drawn from the seed.
//! It checks the invariants after every event and reproduces any failure from its seed.

pub mod bus_node;
pub mod client;
pub mod clock;
pub mod events;
pub mod invariant;
pub mod mutations;
pub mod observe;
pub mod params;
pub mod producer;
pub mod runner;
pub mod seeds;
pub mod shell;
pub mod stream;
pub mod trace;
pub mod wire;
pub mod world;

pub use invariant::{Invariant, Violation};
pub use runner::{repro_command, run_seed, Outcome, RunOptions};
