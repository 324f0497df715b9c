//! liquidationheatmap: crypto-futures liquidation heatmaps computed from market data in an embedded
//! DuckDB and streamed live over WebSocket.
//!
//! Layout (see docs/ARCHITECTURE.md):
//! - [`core`]: the sans-IO server state machine (clients, subscriptions, queues, HTTP, WebSocket).
//! - [`shell`]: the thin mio event loop; the only code that owns sockets, the poller and the clock.
//! - [`worker`]: the DuckDB snapshot producer and REST query worker threads behind the loop.
//! - [`engine`]: the pure liquidation model; [`backtest`]: scoring it against realised
//!   liquidations.
//! - [`store`], [`ingest`]: DuckDB persistence and file ingestion.
//! - [`rest`]: the database-backed REST endpoints.
//! - [`demo`]: the bundled demo data and its replay.
//! - [`feed`]: the live Binance USDT-M futures feed (`FEED=binance`).
//! - [`config`], [`app`]: configuration and the commands of the binary.
//! - [`wsclient`]: the client side of the WebSocket protocol, for the simulator and the load
//!   generator (not linked into the server).

#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

pub mod app;
pub mod backtest;
pub mod bus;
pub mod config;
pub mod core;
pub mod demo;
pub mod driver;
pub mod engine;
pub mod feed;
pub mod ingest;
pub mod rest;
pub mod shell;
pub mod store;
pub mod worker;
pub mod wsclient;
