//! The commands the binary runs: wiring configuration, logging, the shell and the workers.

pub mod cli;
mod ingest_cmd;
mod logging;
pub mod serve;

pub use ingest_cmd::ingest_command;
pub use logging::init_logging;
