//! Simulated clients: well-behaved readers of every speed and hostile ones (slowloris handshakes,
//! malformed and oversized frames, ping floods, resets, half-closes, reconnect storms, HTTP
//! pipelining without reading). Each acts on its own seeded schedule; none reads the server's
//! logic, only the bytes on its wire. What they do, step by step, is `world::clients`.

use std::collections::BTreeSet;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub use crate::events::ClientStep;
use crate::events::ConnKey;

/// Connections one client opens over its life, at most (reconnect storms hit this).
pub const CONNECTS_PER_CLIENT_MAX: u32 = 12;
/// Messages in one ping-flood burst, at most.
pub const FLOOD_MESSAGES_MAX: usize = 60;
/// Requests in one pipelined HTTP burst, at most.
pub const PIPELINE_REQUESTS_MAX: usize = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    FastReader,
    SlowReader,
    StalledReader,
    Churner,
    Slowloris,
    Malformed,
    PingFlooder,
    Resetter,
    HalfCloser,
    Closer,
    ReconnectStorm,
    HttpGetter,
    HttpPipeliner,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::FastReader,
        Kind::SlowReader,
        Kind::StalledReader,
        Kind::Churner,
        Kind::Slowloris,
        Kind::Malformed,
        Kind::PingFlooder,
        Kind::Resetter,
        Kind::HalfCloser,
        Kind::Closer,
        Kind::ReconnectStorm,
        Kind::HttpGetter,
        Kind::HttpPipeliner,
    ];

    /// Clients that follow the protocol and read promptly: if their socket never pushes back,
    /// the server must never treat them as slow.
    pub fn well_behaved(self) -> bool {
        matches!(
            self,
            Kind::FastReader
                | Kind::Churner
                | Kind::Closer
                | Kind::ReconnectStorm
                | Kind::HttpGetter
                | Kind::HalfCloser
        )
    }

    pub fn speaks_websocket(self) -> bool {
        !matches!(self, Kind::HttpGetter | Kind::HttpPipeliner)
    }
}

pub struct Client {
    pub kind: Kind,
    pub rng: ChaCha8Rng,
    pub conn: Option<ConnKey>,
    /// Symbols this client wants, as far as it knows.
    pub intended: BTreeSet<usize>,
    pub connects: u32,
    /// Ping flooders either read or never do.
    pub reads: bool,
    /// Bytes of its handshake a slowloris client has sent.
    pub slowloris_sent: usize,
    pub acts: u32,
}

impl Client {
    pub fn new(kind: Kind, mut rng: ChaCha8Rng) -> Client {
        let reads = match kind {
            Kind::StalledReader | Kind::HttpPipeliner => false,
            Kind::PingFlooder => rng.random_bool(0.5),
            _ => true,
        };
        Client {
            kind,
            rng,
            conn: None,
            intended: BTreeSet::new(),
            connects: 0,
            reads,
            slowloris_sent: 0,
            acts: 0,
        }
    }
}
