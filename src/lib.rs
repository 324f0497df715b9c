//! liquidationheatmap: crypto-futures liquidation heatmaps computed from market data in an embedded
//! DuckDB and streamed live over WebSocket.
//!
//! Layout (see docs/ARCHITECTURE.md):
//! - [`core`]: the sans-IO server state machine (clients, subscriptions, queues, HTTP, WebSocket).
//! - [`shell`]: the thin mio event loop, the only code that owns sockets, the poller and the clock.
//! - [`engine`]: the pure liquidation model.
//! - [`store`], [`ingest`]: DuckDB persistence and file ingestion.

pub mod engine;
pub mod ingest;
pub mod store;
