//! liquidationheatmap: crypto-futures liquidation heatmaps computed from market data in an embedded
//! DuckDB and streamed live over WebSocket.
//!
//! Layout (see docs/ARCHITECTURE.md):
//! - [`core`]: the sans-IO server state machine (clients, subscriptions, queues, HTTP, WebSocket).
//! - [`engine`]: the pure liquidation model.
//! - [`store`], [`ingest`]: DuckDB persistence and file ingestion.
//! - [`demo`]: the bundled demo data and its replay.

pub mod core;
pub mod demo;
pub mod engine;
pub mod ingest;
pub mod store;
