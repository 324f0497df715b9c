//! The invariants the simulator checks, and how a broken one is reported.

use std::fmt;

/// One of the invariants of issue 5 (numbered as there), plus the wire format every check relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    /// 0: what the server writes decodes as HTTP and WebSocket frames a client accepts.
    Wire,
    /// 1: queues within their message and byte bounds; connections within their limits.
    Bounds,
    /// 2: per symbol and epoch, strictly increasing `seq`, no duplicates, and no gaps for a client
    /// that keeps up.
    Ordering,
    /// 3: slow consumers are warned, given their grace, and released within the close timeout;
    /// fast clients are never warned or closed as slow.
    SlowConsumer,
    /// 4: no activity for released connections; core time never runs backwards; wall-clock jumps
    /// change no timeout decision.
    ReleasedAndTime,
    /// 5: no panic; one client's error never affects another.
    Isolation,
    /// 6: once faults stop, every client converges and every queue drains in bounded time.
    Liveness,
    /// 7: shutdown closes every WebSocket with 1001 or drops it within the timeout; nothing is sent
    /// after a close frame.
    Shutdown,
}

impl Invariant {
    pub fn number(self) -> u8 {
        match self {
            Invariant::Wire => 0,
            Invariant::Bounds => 1,
            Invariant::Ordering => 2,
            Invariant::SlowConsumer => 3,
            Invariant::ReleasedAndTime => 4,
            Invariant::Isolation => 5,
            Invariant::Liveness => 6,
            Invariant::Shutdown => 7,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Invariant::Wire => "wire format",
            Invariant::Bounds => "queue and connection bounds",
            Invariant::Ordering => "snapshot order and completeness",
            Invariant::SlowConsumer => "slow-consumer handling",
            Invariant::ReleasedAndTime => "released connections and time",
            Invariant::Isolation => "no panic, isolation between clients",
            Invariant::Liveness => "liveness after faults stop",
            Invariant::Shutdown => "graceful shutdown",
        }
    }
}

/// A broken invariant: which, when (simulated monotonic milliseconds), and what was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: Invariant,
    pub at_ms: u64,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invariant {} ({}) violated at t={} ms: {}",
            self.invariant.number(),
            self.invariant.name(),
            self.at_ms,
            self.detail
        )
    }
}
