//! Behaviour tests of the core, driven through its public inputs with in-memory streams.

mod addresses;
mod backpressure;
mod broadcast;
mod connections;
mod feed;
mod harness;
mod http;
mod metrics;
mod model;
mod protocol_errors;
mod sim_regressions;
