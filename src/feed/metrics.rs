//! Prometheus metrics of the live feed, registered into the server's `/metrics` registry.
//!
//! Handles are atomics shared by the feed's threads; every label takes a value from a fixed list
//! (states, message kinds, reject reasons, endpoints, HTTP statuses the exchange sends, supported
//! symbols), so the label sets stay bounded.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use super::status::FeedState;
use super::wire::{RejectReason, MESSAGE_KINDS};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabel {
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabel {
    endpoint: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SymbolLabel {
    symbol: String,
}

/// The REST endpoints the feed calls, as metric labels.
pub const ENDPOINTS: [&str; 2] = ["klines", "open_interest_hist"];

/// The feed's metric handles; clones share the same counters.
#[derive(Clone, Default)]
pub struct FeedMetrics {
    state: Family<StateLabel, Gauge>,
    messages: Family<TypeLabel, Counter>,
    rejects: Family<ReasonLabel, Counter>,
    pub reconnects: Counter,
    requests: Family<RequestLabel, Counter>,
    errors: Family<RequestLabel, Counter>,
    newest_bar_age: Family<SymbolLabel, Gauge<f64, AtomicU64>>,
    liquidations: Family<SymbolLabel, Counter>,
    pub bars_stored: Counter,
    pub bars_without_open_interest: Counter,
    pub bar_holes_skipped: Counter,
    pub open_interest_late: Counter,
}

impl FeedMetrics {
    /// Handles for `symbols`, with every fixed label value pre-created (shown at 0).
    pub fn new(symbols: &[String]) -> FeedMetrics {
        let metrics = FeedMetrics::default();
        for state in FeedState::ALL {
            let _ = metrics.state.get_or_create(&StateLabel { state: state.as_str().into() });
        }
        for kind in MESSAGE_KINDS {
            let _ = metrics.messages.get_or_create(&TypeLabel { r#type: kind.into() });
        }
        for reason in RejectReason::ALL {
            let _ = metrics.rejects.get_or_create(&ReasonLabel { reason: reason.as_str().into() });
        }
        for symbol in symbols {
            let _ = metrics.liquidations.get_or_create(&SymbolLabel { symbol: symbol.clone() });
        }
        metrics
    }

    /// Adds every metric to `registry` (the server's, rendered at `/metrics`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register("feed_state", "Live feed state: 1 for the current one of connecting, backfilling, live, down", self.state.clone());
        registry.register("feed_messages", "Stream messages received from the exchange, by type", self.messages.clone());
        registry.register("feed_rejects", "Exchange messages and rows skipped by validation, by reason", self.rejects.clone());
        registry.register("feed_reconnects", "Stream reconnections (after errors, silence, or the proactive 24-hour renewal)", self.reconnects.clone());
        registry.register("feed_rest_requests", "REST requests to the exchange by endpoint and HTTP status (transport: no answer)", self.requests.clone());
        registry.register("feed_rest_errors", "REST requests that failed, by endpoint and HTTP status (transport: no answer)", self.errors.clone());
        registry.register_with_unit("feed_newest_bar_age", "Time since the newest applied bar closed", Unit::Seconds, self.newest_bar_age.clone());
        registry.register("feed_liquidations_stored", "Realised liquidations stored (a sample: the exchange sends at most one per symbol per second)", self.liquidations.clone());
        registry.register("feed_bars_stored", "Closed bars newly stored by the feed", self.bars_stored.clone());
        registry.register("feed_bars_without_open_interest", "Bars applied after the open-interest wait ran out", self.bars_without_open_interest.clone());
        registry.register("feed_bar_holes_skipped", "Bar times skipped because the exchange had no bar there", self.bar_holes_skipped.clone());
        registry.register("feed_open_interest_late", "Open-interest samples dropped because their bar was already applied", self.open_interest_late.clone());
    }

    pub fn set_state(&self, current: FeedState) {
        for state in FeedState::ALL {
            self.state.get_or_create(&StateLabel { state: state.as_str().into() }).set(i64::from(state == current));
        }
    }

    pub fn message(&self, kind: &str) {
        self.messages.get_or_create(&TypeLabel { r#type: kind.into() }).inc();
    }

    pub fn reject(&self, reason: RejectReason) {
        self.rejects.get_or_create(&ReasonLabel { reason: reason.as_str().into() }).inc();
    }

    /// One REST request to `endpoint` answered with `status` (None: no answer at all).
    pub fn request(&self, endpoint: &'static str, status: Option<u16>) {
        let label = RequestLabel { endpoint: endpoint.into(), status: status.map_or_else(|| "transport".into(), |s| s.to_string()) };
        self.requests.get_or_create(&label).inc();
        if status != Some(200) {
            self.errors.get_or_create(&label).inc();
        }
    }

    pub fn newest_bar_age(&self, symbol: &str, seconds: f64) {
        self.newest_bar_age.get_or_create(&SymbolLabel { symbol: symbol.into() }).set(seconds);
    }

    pub fn liquidations_stored(&self, symbol: &str, count: u64) {
        self.liquidations.get_or_create(&SymbolLabel { symbol: symbol.into() }).inc_by(count);
    }
}
