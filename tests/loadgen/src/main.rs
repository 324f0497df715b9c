//! `loadgen`: many WebSocket clients against a running server on this host (docs/load_testing.md).
//! Exit status 0 when every requested threshold passed, 1 when one failed, 2 when the run could
//! not be made (bad arguments, too few file descriptors, server unreachable).

use std::process::ExitCode;

use clap::Parser;

/// Load-test a running server on this host: many WebSocket clients, delivery latency, loss,
/// server RSS/CPU; scenarios steady, slow, storm, churn, idle (see docs/load_testing.md).
#[derive(Debug, Parser)]
#[command(name = "loadgen", version, long_about = None)]
struct Cli {
    #[command(flatten)]
    args: loadgen::LoadgenArgs,
}

fn main() -> ExitCode {
    loadgen::run(Cli::parse().args)
}
