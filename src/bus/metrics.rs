//! The bus's `/metrics`: handles are atomics shared with the bus threads, registered once.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets_range, Histogram};
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone)]
pub struct BusMetrics {
    pub published: Counter,
    pub publish_refused: Counter,
    pub publish_failed: Counter,
    pub received: Counter,
    pub recovered: Counter,
    pub duplicates: Counter,
    pub gaps: Counter,
    pub reconnects: Counter,
    pub stale_rebuilds: Counter,
    pub invalid_payloads: Counter,
    pub handoff_dropped: Counter,
    pub thread_restarts: Counter,
    pub continued_epochs: Counter,
    pub republished: Counter,
    pub computed_dropped: Counter,
    pub leader: Gauge,
    pub up: Gauge,
    /// Leader publish (`sent_at_ms`) to receive on this node.
    pub lag_seconds: Histogram,
}

impl Default for BusMetrics {
    fn default() -> BusMetrics {
        BusMetrics {
            published: Counter::default(),
            publish_refused: Counter::default(),
            publish_failed: Counter::default(),
            received: Counter::default(),
            recovered: Counter::default(),
            duplicates: Counter::default(),
            gaps: Counter::default(),
            reconnects: Counter::default(),
            stale_rebuilds: Counter::default(),
            invalid_payloads: Counter::default(),
            handoff_dropped: Counter::default(),
            thread_restarts: Counter::default(),
            continued_epochs: Counter::default(),
            republished: Counter::default(),
            computed_dropped: Counter::default(),
            leader: Gauge::default(),
            up: Gauge::default(),
            lag_seconds: Histogram::new(exponential_buckets_range(0.0001, 10.0, 20)),
        }
    }
}

impl BusMetrics {
    pub fn register(&self, registry: &mut Registry) {
        let r = registry;
        r.register("bus_published", "Snapshots this node published as leader (fenced, with history)", self.published.clone());
        r.register("bus_publish_refused", "Publishes refused because the lease was no longer held", self.publish_refused.clone());
        r.register("bus_publish_failed", "Stamps that could not be handed to bus-control for publishing (its queue gone: shutdown)", self.publish_failed.clone());
        r.register("bus_received", "Snapshots received from the bus", self.received.clone());
        r.register("bus_recovered", "Snapshots delivered from the history to fill a hole", self.recovered.clone());
        r.register("bus_duplicates_dropped", "Snapshots dropped as already delivered (by seq)", self.duplicates.clone());
        r.register("bus_gaps_let_through", "Holes the history no longer held, shown to clients as a seq skip", self.gaps.clone());
        r.register("bus_reconnects", "Subscriber reconnections (each resubscribes everything)", self.reconnects.clone());
        r.register("bus_stale_rebuilds", "Subscriptions rebuilt because even their own probe stopped arriving", self.stale_rebuilds.clone());
        r.register("bus_invalid_payloads", "Bus payloads refused (not a well-formed snapshot message)", self.invalid_payloads.clone());
        r.register("bus_handoff_dropped", "Received snapshots dropped because the loop had not taken older ones", self.handoff_dropped.clone());
        r.register("bus_thread_restarts", "Bus threads (control, subscriber, history, hub) restarted after they died", self.thread_restarts.clone());
        r.register("bus_continued_epochs", "Symbols whose epoch this node continued on taking the lease (same data as the last publish)", self.continued_epochs.clone());
        r.register("bus_republished", "Snapshots published after a Redis outage that the lease outlived (held back until then, shown once published)", self.republished.clone());
        r.register("bus_computed_dropped", "Computed snapshots dropped before stamping because more than COMPUTED_PER_SYMBOL_MAX of one symbol waited for the bus hub", self.computed_dropped.clone());
        r.register("bus_leader", "1 while this node holds the leader lease", self.leader.clone());
        r.register("bus_up", "1 while the subscriber connection is up", self.up.clone());
        r.register_with_unit("bus_lag", "Leader publish to receive on this node", Unit::Seconds, self.lag_seconds.clone());
    }
}
