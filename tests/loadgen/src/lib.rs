//! `loadgen`: a load generator that measures what WebSocket clients feel.
//!
//! One thread drives every connection through one mio poller (so 10,000 clients cost 10,000
//! sockets and a few kilobytes each, not 10,000 threads); a second thread scrapes the server's
//! `/metrics`. Clients bind loopback source addresses 127.0.0.2, 127.0.0.3, ... so a run can pass
//! the ~28k ephemeral ports of one address. Only loopback targets are accepted. See
//! docs/load_testing.md for the scenarios and how to read the report.
//!
//! Its own workspace member (not a subcommand of the server): it shares nothing with the server's
//! process; it uses the server library's client-side WebSocket codec (`liquidationheatmap::wsclient`,
//! also the simulator's) and its open-files helper.

// A client of real sockets and clocks; the sans-IO rules (.clippy.toml) are the server core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod args;
mod client;
mod envelope;
mod histogram;
mod report;
mod scenarios;
mod server_metrics;
mod stats;
mod swarm;

use std::process::ExitCode;

pub use args::{LoadgenArgs, Scenario};
pub use histogram::{Histogram, LatencySummary};
pub use report::Report;

/// File descriptors the load generator needs beside its connections (poller, scrapes, stdio).
const SPARE_FDS: u64 = 64;

/// Runs one load-generator scenario: 0 when every requested threshold passed, 1 when one failed,
/// 2 when the run could not be made (bad arguments, too few file descriptors, server unreachable).
pub fn run(args: LoadgenArgs) -> ExitCode {
    match run_report(&args) {
        Ok(report) => {
            print!("{}", report.summary());
            if let Some(path) = &args.json {
                let written =
                    serde_json::to_vec_pretty(&report).map_err(|e| e.to_string()).and_then(|json| std::fs::write(path, json).map_err(|e| e.to_string()));
                if let Err(e) = written {
                    eprintln!("loadgen: writing {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
            if report.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(message) => {
            eprintln!("loadgen: {message}");
            ExitCode::from(2)
        }
    }
}

/// Runs the scenario and returns its report; errors are setup problems, not failed thresholds.
pub fn run_report(args: &LoadgenArgs) -> Result<Report, String> {
    let plan = args.plan()?;
    let fds = liquidationheatmap::shell::sockets::raise_open_files_limit().map_err(|e| format!("raising the open-files limit: {e}"))?;
    let needed = plan.args.connections as u64 + SPARE_FDS;
    if fds < needed {
        return Err(format!("--connections {} needs about {needed} open files; the limit here is {fds}", plan.args.connections));
    }
    server_metrics::scrape(plan.args.target, 0).map_err(|e| format!("the server does not answer /metrics: {e}"))?;
    scenarios::run(&plan).map_err(|e| format!("event loop: {e}"))
}
