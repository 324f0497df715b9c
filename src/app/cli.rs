//! Command-line interface.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Environment variables the server reads, shown in `serve --help`.
const SERVE_HELP: &str = "\
Starts the HTTP + WebSocket server (also the default with no subcommand).

Configured by environment variables, read from the environment and from ./.env if present
(the environment wins). Every variable, its default and its range are documented in
.env.template. The most used:

  HOST, PORT                 where to listen (127.0.0.1:8000; PORT=0 picks a free port)
  DUCKDB_PATH                the database file (liquidationheatmap.duckdb)
  FRONTEND_DIR               the page's files (frontend)
  SUPPORTED_SYMBOLS          BTCUSDT,ETHUSDT
  WS_ENABLED                 stream over /ws/heatmap (true)
  WS_UPDATE_INTERVAL         seconds between live snapshots (5)
  WS_MAX_CONNECTIONS         open WebSockets (1000)
  WS_MAX_QUEUE_SIZE          snapshots queued per client (5)
  WS_SLOW_CONSUMER_TIMEOUT   seconds without progress before a client is warned (1.0)
  INGEST_DIR                 folder watched for files to ingest (off)
  LOG_LEVEL                  error|warn|info|debug|trace (info)

A bad value stops startup with exit code 2 and names the variable. SIGINT/SIGTERM shut down
gracefully: clients get close 1001, then the process exits 0.";

#[derive(Debug, Parser)]
#[command(
    name = "liquidationheatmap",
    version,
    about = "Crypto-futures liquidation heatmaps from an embedded DuckDB, streamed live over WebSocket",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the server (the default).
    #[command(long_about = SERVE_HELP)]
    Serve,
    /// Ingest market-data files (data.binance.vision kline .zip/.csv, USDT-M metrics CSVs, and
    /// OHLC + open-interest CSVs) into the database. Fails clearly if the server holds the database.
    Ingest {
        /// Files or folders (folders are searched recursively, in name order).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The database file (default: $DUCKDB_PATH, else liquidationheatmap.duckdb).
        #[arg(long)]
        db: Option<PathBuf>,
    },
    /// Score the liquidation model against liquidations that really happened: Spearman per side
    /// against the candle rule, the level score, block-bootstrap intervals (docs/model.md).
    Backtest(Box<crate::app::BacktestArgs>),
}
