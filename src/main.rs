use std::process::ExitCode;

use clap::Parser;

use liquidationheatmap::app::cli::{Cli, Command};
use liquidationheatmap::app::serve::{serve, ServeError};
use liquidationheatmap::app::{backtest_command, init_logging, ingest_command};
use liquidationheatmap::config::AppConfig;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match AppConfig::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("liquidationheatmap: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_level);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => match serve(config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(ServeError::Config(message)) => {
                eprintln!("liquidationheatmap: invalid configuration: {message}");
                ExitCode::from(2)
            }
            Err(ServeError::Runtime(message)) => {
                eprintln!("liquidationheatmap: {message}");
                ExitCode::FAILURE
            }
        },
        Command::Ingest { paths, db } => ingest_command(&config, db, &paths),
        Command::Backtest(args) => backtest_command(&args),
    }
}
