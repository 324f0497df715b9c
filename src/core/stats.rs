//! Server-wide counters, including the one-minute sliding window `/ws/stats` reports.

use std::collections::BTreeMap;

use super::time::MonoTime;

/// Seconds in the sliding window of `messages_sent_1m`.
const WINDOW_SECONDS: usize = 60;

/// Counts events per second over the last minute, in a ring of one-second buckets.
#[derive(Debug, Clone)]
pub struct MinuteWindow {
    buckets: [u64; WINDOW_SECONDS],
    /// The second (since the clock's origin) the newest bucket belongs to.
    head_second: u64,
}

impl Default for MinuteWindow {
    fn default() -> Self {
        MinuteWindow { buckets: [0; WINDOW_SECONDS], head_second: 0 }
    }
}

impl MinuteWindow {
    fn roll_to(&mut self, now: MonoTime) {
        let second = now.as_millis() / 1000;
        if second <= self.head_second {
            return;
        }
        let gap = (second - self.head_second).min(WINDOW_SECONDS as u64);
        for step in 1..=gap {
            let index = ((self.head_second + step) % WINDOW_SECONDS as u64) as usize;
            self.buckets[index] = 0;
        }
        self.head_second = second;
    }

    pub fn add(&mut self, now: MonoTime, count: u64) {
        self.roll_to(now);
        let index = (self.head_second % WINDOW_SECONDS as u64) as usize;
        self.buckets[index] += count;
    }

    /// Events in the last 60 seconds.
    pub fn total(&mut self, now: MonoTime) -> u64 {
        self.roll_to(now);
        self.buckets.iter().sum()
    }
}

/// Why a connection ended, for `ws_disconnects_total{reason}` and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DisconnectReason {
    ClientClosed,
    PeerGone,
    SlowConsumer,
    IdleTimeout,
    MessageTooBig,
    ProtocolError,
    Shutdown,
    CloseTimeout,
    HttpDone,
    HttpTimeout,
    HttpError,
}

impl DisconnectReason {
    pub const ALL: [DisconnectReason; 11] = [
        DisconnectReason::ClientClosed,
        DisconnectReason::PeerGone,
        DisconnectReason::SlowConsumer,
        DisconnectReason::IdleTimeout,
        DisconnectReason::MessageTooBig,
        DisconnectReason::ProtocolError,
        DisconnectReason::Shutdown,
        DisconnectReason::CloseTimeout,
        DisconnectReason::HttpDone,
        DisconnectReason::HttpTimeout,
        DisconnectReason::HttpError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::ClientClosed => "client_closed",
            DisconnectReason::PeerGone => "peer_gone",
            DisconnectReason::SlowConsumer => "slow_consumer",
            DisconnectReason::IdleTimeout => "idle_timeout",
            DisconnectReason::MessageTooBig => "message_too_big",
            DisconnectReason::ProtocolError => "protocol_error",
            DisconnectReason::Shutdown => "shutdown",
            DisconnectReason::CloseTimeout => "close_timeout",
            DisconnectReason::HttpDone => "http_done",
            DisconnectReason::HttpTimeout => "http_timeout",
            DisconnectReason::HttpError => "http_error",
        }
    }
}

/// Totals since start.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub messages_sent_window: MinuteWindow,
    pub slow_consumer_episodes_total: u64,
    pub ws_connections_total: u64,
    pub http_requests_total: u64,
    pub rejected_full_total: u64,
    pub disconnects_total: BTreeMap<DisconnectReason, u64>,
    /// `ws_errors_total{code}`: error replies sent, by code.
    pub errors_total: BTreeMap<&'static str, u64>,
    /// Wall time the core started, for uptime.
    pub started_at: MonoTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_forgets_events_older_than_a_minute() {
        let mut window = MinuteWindow::default();
        window.add(MonoTime::from_millis(1_000), 5);
        window.add(MonoTime::from_millis(30_000), 7);
        assert_eq!(window.total(MonoTime::from_millis(59_000)), 12);
        assert_eq!(window.total(MonoTime::from_millis(61_500)), 7);
        assert_eq!(window.total(MonoTime::from_millis(200_000)), 0);
    }
}
