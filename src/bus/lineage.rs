//! Which data a snapshot was computed from, so a new leader can tell whether it may continue the
//! previous leader's `epoch` (issue 15: "if it holds the same bars, the stream continues in the
//! same epoch with the next seq; otherwise it starts a new epoch").
//!
//! The rule (`docs/multi_server_deployment.md`, "Failover"): right after taking the lease, the
//! new leader reads the newest entry of each symbol's history stream (final: the old token no
//! longer holds the lease, so the fenced publish refuses anything more from the old leader). It
//! continues that entry's `epoch` at `seq + 1` only when one of its own recent computations has
//! the same content digest as that entry: the same data time, source and `data` bytes, which the
//! deterministic engine produces only from the same bars with the same settings. Its snapshots
//! of that producer generation then go on in that epoch; a later reset (new generation) starts
//! its own epoch as usual. No digest match, an empty or unreadable history: a new epoch.
//!
//! Sound because everything any node showed in an epoch was published first (the leader shows
//! its own stamps only once the fenced publish confirmed them, `src/bus/hub.rs`), so the history's
//! newest entry is the last position anybody saw; and the fenced publish script refuses a `seq`
//! at or before the history's newest one of the same epoch (`src/bus/lease.rs`).

use std::collections::hash_map::DefaultHasher;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::Deserialize;

use crate::core::protocol::{self, SnapshotEnvelope};
use crate::core::{SnapshotReady, StampedSnapshot};

/// Own computations remembered per symbol (newest last): the previous leader's last publish may
/// be a few computations behind or ahead of this node's newest.
pub const DIGESTS_PER_SYMBOL_MAX: usize = 8;

/// Digest of what a snapshot says (data time, source, `data`), not of where it sits in a stream.
/// SipHash with fixed keys: both sides of a comparison are computed in the same process.
fn digest(timestamp: &str, source: &str, data_json: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    (timestamp, source, data_json).hash(&mut hasher);
    hasher.finish()
}

/// The content digest of a snapshot this node computed.
pub fn of_computed(ready: &SnapshotReady) -> u64 {
    digest(&ready.timestamp, &ready.source, &ready.data_json)
}

#[derive(Deserialize)]
struct Envelope {
    symbol: String,
    epoch: String,
    seq: u64,
    timestamp: String,
    sent_at_ms: i64,
    source: String,
}

/// The content digest of a stamped message (as built by `protocol::snapshot_message`, which puts
/// `data` verbatim last); `None` when the message is not in that shape.
pub fn of_message(message: &str) -> Option<u64> {
    let e: Envelope = serde_json::from_str(message).ok()?;
    let empty = protocol::snapshot_message(&SnapshotEnvelope {
        symbol: &e.symbol,
        seq: e.seq,
        epoch: &e.epoch,
        timestamp: &e.timestamp,
        sent_at_ms: e.sent_at_ms,
        source: &e.source,
        data_json: "",
    });
    let prefix = empty.strip_suffix('}')?;
    let data = message.strip_prefix(prefix)?.strip_suffix('}')?;
    Some(digest(&e.timestamp, &e.source, data))
}

/// A symbol's recent computations: (producer generation, content digest), newest last.
#[derive(Debug, Default, Clone)]
pub struct Recent(VecDeque<(u64, u64)>);

impl Recent {
    pub fn push(&mut self, ready: &SnapshotReady) {
        self.0.push_back((ready.generation, of_computed(ready)));
        while self.0.len() > DIGESTS_PER_SYMBOL_MAX {
            self.0.pop_front();
        }
    }

    /// Where to continue after `tail` (the history's newest entry): `(generation, epoch, seq)`
    /// of that entry when this node computed the same content in that generation.
    pub fn continuation(&self, tail: &StampedSnapshot) -> Option<(u64, Arc<str>, u64)> {
        let wanted = of_message(&tail.message)?;
        let (generation, _) = self.0.iter().rev().find(|(_, d)| *d == wanted)?;
        Some((*generation, Arc::clone(&tail.epoch), tail.seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Sequencer;

    fn computed(data: &str, generation: u64) -> SnapshotReady {
        SnapshotReady {
            symbol: "BTCUSDT".into(),
            generation,
            timestamp: "2026-06-14T14:55:00Z".into(),
            source: "demo".into(),
            data_json: data.into(),
            computed_at_unix_ms: 1,
            compute_micros: 2,
        }
    }

    #[test]
    fn the_same_data_stamped_elsewhere_has_the_same_digest() {
        let ready = computed(r#"{"levels":[1,2]}"#, 4);
        let stamped = Sequencer::new("other".into()).stamp(1_700_000_000_000, &ready);
        assert_eq!(of_message(&stamped.message), Some(of_computed(&ready)));
        assert_ne!(of_message(&stamped.message), Some(of_computed(&computed(r#"{"levels":[1,3]}"#, 4))));
        assert_eq!(of_message("{\"type\":\"snapshot\"}"), None, "not a stamped message");
    }

    #[test]
    fn a_leader_continues_only_after_content_it_computed_itself() {
        let mut old_leader = Sequencer::new("old".into());
        old_leader.stamp(1, &computed("{\"a\":1}", 0));
        let tail = old_leader.stamp(2, &computed("{\"a\":2}", 0));
        let mut mine = Recent::default();
        mine.push(&computed("{\"a\":1}", 9));
        assert_eq!(mine.continuation(&tail), None, "my newest is older than the tail: new epoch");
        mine.push(&computed("{\"a\":2}", 9));
        mine.push(&computed("{\"a\":3}", 9));
        assert_eq!(mine.continuation(&tail), Some((9, Arc::from("old-0"), 2)));
        let mut different = Recent::default();
        different.push(&computed("{\"a\":2,\"b\":0}", 9));
        assert_eq!(different.continuation(&tail), None, "other bars: new epoch");
    }

    #[test]
    fn only_the_newest_computations_are_remembered() {
        let mut mine = Recent::default();
        for i in 0..DIGESTS_PER_SYMBOL_MAX + 3 {
            mine.push(&computed(&format!("{{\"i\":{i}}}"), 0));
        }
        assert_eq!(mine.0.len(), DIGESTS_PER_SYMBOL_MAX);
        let first = Sequencer::new("o".into()).stamp(1, &computed("{\"i\":0}", 0));
        assert_eq!(mine.continuation(&first), None);
    }
}
