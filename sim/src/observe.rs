//! The invariant checks: after every core call (against the core's read-only views), on every
//! byte the server writes (against what the client decodes), and after every event (global
//! bounds, deadlines, time). The checks themselves are `world::checks`; this module names what
//! a call was about and the bounds they use.

/// Bytes a close frame may add to a closing client's queue (2 header + 2 code + 123 reason).
pub const CLOSE_FRAME_BYTES_MAX: usize = 127;

/// Entries an HTTP connection may queue: one response, its head and its body.
pub const HTTP_RESPONSE_ENTRIES_MAX: usize = 2;

/// What a core call was about, to tell which connections it may legitimately change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// A call about one connection (read, write, error, accept, REST answer): no other
    /// connection may start closing or disappear.
    Conn(usize),
    /// Timers: any connection may change, by its own deadline.
    Timer,
    /// A snapshot fan-out: subscribers may be closed for their bounds.
    Snapshot,
    Shutdown,
    /// A call that must change no connection (producer status, a regressed clock).
    Nothing,
}
