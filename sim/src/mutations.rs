//! The switchable deliberate bugs the simulator runs the core with (`Core<Mutations>`), so that it
//! can prove that it catches each invariant it checks: a test turns one on, runs seeds, and
//! asserts that the simulator reports exactly that invariant with a seed that reproduces it. Every
//! switch is false by default. The core asks them through `liquidationheatmap::core::MutationPolicy`;
//! the server runs `Core<NoMutations>`, whose answers are constant, so none of this is in it.

use liquidationheatmap::core::MutationPolicy;

/// One switch per deliberate bug, named after what it breaks. See `docs/simulation.md`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mutations {
    /// Invariant 1: a client queue over its byte bound is neither closed nor trimmed.
    pub ignore_queue_byte_bound: bool,
    /// Invariant 1: WebSocket upgrades beyond the connection limit are accepted.
    pub ignore_ws_connection_limit: bool,
    /// Invariant 2: a snapshot reuses the previous sequence number instead of the next one.
    pub repeat_snapshot_seq: bool,
    /// Invariant 2: the fan-out silently skips the lowest-numbered subscriber.
    pub skip_lowest_subscriber: bool,
    /// Invariant 3: a slow consumer is closed at once instead of being warned first.
    pub close_slow_consumer_without_warning: bool,
    /// Invariant 3: a closing connection is never dropped at its close deadline.
    pub ignore_close_deadline: bool,
    /// Invariant 4: a forward wall-clock jump is added to the monotonic time timeouts use.
    pub wall_clock_drives_timeouts: bool,
    /// Invariant 5: a peer that vanishes takes the lowest-numbered other connection with it.
    pub peer_gone_removes_neighbour: bool,
    /// Invariant 6: a read turn that spends its budget is not re-armed, so with edge-triggered
    /// readiness the rest of the client's bytes are never read.
    pub forget_read_again: bool,
    /// Invariant 7: shutdown never drops the connections left at its deadline.
    pub ignore_shutdown_deadline: bool,
    /// Invariant 2, in the simulated process rather than the core: the hand-off gives each
    /// snapshot to loop 0 only (the other loops' channels receive it, their cores never do).
    pub hand_off_to_one_loop: bool,
    /// Invariant 5, in the simulated process: the hand-off reaches the other loops only after
    /// waiting on the stalled loop (as a fan-out blocked on that loop's channel would, for its
    /// `SEND_TIMEOUT`), so one loop's stalled clients delay every other loop's.
    pub hand_off_behind_stalled_loop: bool,
    /// Invariant 2, on the bus node: the follower's output is replayed once more after a history
    /// fill, so clients see a filled snapshot twice.
    pub bus_deliver_fill_twice: bool,
}

impl MutationPolicy for Mutations {
    fn ignore_queue_byte_bound(&self) -> bool {
        self.ignore_queue_byte_bound
    }
    fn ignore_ws_connection_limit(&self) -> bool {
        self.ignore_ws_connection_limit
    }
    fn repeat_snapshot_seq(&self) -> bool {
        self.repeat_snapshot_seq
    }
    fn skip_lowest_subscriber(&self) -> bool {
        self.skip_lowest_subscriber
    }
    fn close_slow_consumer_without_warning(&self) -> bool {
        self.close_slow_consumer_without_warning
    }
    fn ignore_close_deadline(&self) -> bool {
        self.ignore_close_deadline
    }
    fn wall_clock_drives_timeouts(&self) -> bool {
        self.wall_clock_drives_timeouts
    }
    fn peer_gone_removes_neighbour(&self) -> bool {
        self.peer_gone_removes_neighbour
    }
    fn forget_read_again(&self) -> bool {
        self.forget_read_again
    }
    fn ignore_shutdown_deadline(&self) -> bool {
        self.ignore_shutdown_deadline
    }
}
