//! The commands the binary runs: wiring configuration, logging, the shell and the workers.

mod backtest_cmd;
pub mod cli;
mod ingest_cmd;
mod logging;
pub mod serve;

pub use backtest_cmd::{backtest_command, BacktestArgs};
pub use ingest_cmd::ingest_command;
pub use logging::init_logging;
