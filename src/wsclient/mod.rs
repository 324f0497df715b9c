//! The client side of the server's WebSocket protocol (RFC 6455), shared by the two programs that
//! play clients: the simulator (`sim/`) and the load generator (`tests/loadgen`). One codec, so a
//! fix in how a client frames, reads or upgrades reaches both.
//!
//! - [`handshake`]: the upgrade request, its key, and the parse of the server's response head.
//! - [`frames`]: client frames (masked, or deliberately malformed for the simulator) and a
//!   streaming reader of server frames that keeps the first `keep_bytes` of each message (the
//!   load generator keeps an envelope's worth, the simulator the whole message).
//!
//! It lives in the server's library because both programs already depend on it (the simulator
//! drives the sans-IO core; the load generator raises its open-files limit with the shell's
//! helper). The server itself never calls it, so none of it is linked into the server binary.

pub mod frames;
pub mod handshake;
