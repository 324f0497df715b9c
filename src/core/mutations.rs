//! Deliberate, test-only breakages of the core's invariants, as a type parameter of [`Core`].
//!
//! The simulator (`sim/`) proves that it catches each invariant it checks by switching on one
//! deliberate bug, running seeds, and asserting that it reports exactly that invariant with a seed
//! that reproduces it. The switches are the methods of [`MutationPolicy`]; the core asks them at the
//! places they break. Production's core is `Core<NoMutations>` (the default of [`Core`]'s
//! parameter), whose every answer is the constant `false` of a zero-sized type: after
//! monomorphisation the checks and the code behind them are not in the server binary at all, and
//! the hot path reads no flag. The simulator supplies the switchable policy (`sim::mutations`).
//!
//! Why a type parameter and not a cargo feature: `cargo build --workspace` (make build) resolves
//! features once for the workspace, so a feature the simulator enabled on this crate would be on
//! in the server binary built by the same command.
//!
//! [`Core`]: super::Core

use std::fmt::Debug;

/// One switch per deliberate bug, named after what it breaks (docs/simulation.md). With every one
/// `false` the core behaves as if this file did not exist.
pub trait MutationPolicy: Debug + Clone {
    /// Invariant 1: a client queue over its byte bound is neither closed nor trimmed.
    fn ignore_queue_byte_bound(&self) -> bool;
    /// Invariant 1: WebSocket upgrades beyond the connection limit are accepted.
    fn ignore_ws_connection_limit(&self) -> bool;
    /// Invariant 2: a snapshot reuses the previous sequence number instead of the next one.
    fn repeat_snapshot_seq(&self) -> bool;
    /// Invariant 2: the fan-out silently skips the lowest-numbered subscriber.
    fn skip_lowest_subscriber(&self) -> bool;
    /// Invariant 3: a slow consumer is closed at once instead of being warned first.
    fn close_slow_consumer_without_warning(&self) -> bool;
    /// Invariant 3: a closing connection is never dropped at its close deadline.
    fn ignore_close_deadline(&self) -> bool;
    /// Invariant 4: a forward wall-clock jump is added to the monotonic time timeouts use.
    fn wall_clock_drives_timeouts(&self) -> bool;
    /// Invariant 5: a peer that vanishes takes the lowest-numbered other connection with it.
    fn peer_gone_removes_neighbour(&self) -> bool;
    /// Invariant 6: a read turn that spends its budget is not re-armed, so with edge-triggered
    /// readiness the rest of the client's bytes are never read.
    fn forget_read_again(&self) -> bool;
    /// Invariant 7: shutdown never drops the connections left at its deadline.
    fn ignore_shutdown_deadline(&self) -> bool;
}

/// Production's policy: no deliberate bug, every answer a constant the compiler folds away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoMutations;

impl MutationPolicy for NoMutations {
    #[inline(always)]
    fn ignore_queue_byte_bound(&self) -> bool {
        false
    }
    #[inline(always)]
    fn ignore_ws_connection_limit(&self) -> bool {
        false
    }
    #[inline(always)]
    fn repeat_snapshot_seq(&self) -> bool {
        false
    }
    #[inline(always)]
    fn skip_lowest_subscriber(&self) -> bool {
        false
    }
    #[inline(always)]
    fn close_slow_consumer_without_warning(&self) -> bool {
        false
    }
    #[inline(always)]
    fn ignore_close_deadline(&self) -> bool {
        false
    }
    #[inline(always)]
    fn wall_clock_drives_timeouts(&self) -> bool {
        false
    }
    #[inline(always)]
    fn peer_gone_removes_neighbour(&self) -> bool {
        false
    }
    #[inline(always)]
    fn forget_read_again(&self) -> bool {
        false
    }
    #[inline(always)]
    fn ignore_shutdown_deadline(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::{MutationPolicy, NoMutations};

    #[test]
    fn production_policy_is_zero_sized_and_switches_nothing_on() {
        assert_eq!(std::mem::size_of::<NoMutations>(), 0);
        let p = NoMutations;
        let switches = [
            p.ignore_queue_byte_bound(),
            p.ignore_ws_connection_limit(),
            p.repeat_snapshot_seq(),
            p.skip_lowest_subscriber(),
            p.close_slow_consumer_without_warning(),
            p.ignore_close_deadline(),
            p.wall_clock_drives_timeouts(),
            p.peer_gone_removes_neighbour(),
            p.forget_read_again(),
            p.ignore_shutdown_deadline(),
        ];
        assert_eq!(switches, [false; 10]);
    }
}
