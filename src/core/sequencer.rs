//! Stream positions and the encoding of a snapshot, done once per snapshot for the whole process.
//!
//! The producer computes a snapshot ([`SnapshotReady`]); the [`Sequencer`] gives it its place in
//! the symbol's stream (`epoch`, `seq`, see `docs/websocket_api.md`, "Sequence numbers") and
//! encodes it once: the JSON message, its WebSocket frame and, when compression is on and the
//! message is long enough, its permessage-deflate frame (RFC 7692, compressed without context so
//! any connection that negotiated it can take it). The result, a
//! [`StampedSnapshot`], holds those bytes behind `Arc`s, so every event loop (and, with the
//! Redis bus, every node) queues the very same bytes: "encode once, share everywhere".
//!
//! The sequencer is sans-IO like the rest of the core: the caller passes the wall time that goes
//! into `sent_at_ms`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::broadcast::SnapshotReady;
use tungstenite::protocol::frame::coding::Data;

use super::deflate;
use super::mutations::{MutationPolicy, NoMutations};
use super::frame;
use super::protocol::{self, SnapshotEnvelope};

/// A snapshot with its stream position, encoded once.
#[derive(Debug, Clone, PartialEq)]
pub struct StampedSnapshot {
    pub symbol: Arc<str>,
    /// Names one unbroken run of `seq` numbers (`{boot_id}-{generation}` on the node that computed it).
    pub epoch: Arc<str>,
    /// 1, 2, 3, ... within `epoch`.
    pub seq: u64,
    /// Data time of the snapshot, ISO-8601 UTC, as the producer reported it.
    pub timestamp: Arc<str>,
    /// The complete `{"type":"snapshot",...}` JSON text (what a bus carries between nodes).
    pub message: Arc<str>,
    /// The unmasked WebSocket text frame of `message` (RFC 6455 §5.2), built once.
    pub frame: Arc<[u8]>,
    /// The same message as a compressed frame (RSV1, raw DEFLATE with a 15-bit window, no
    /// context), built once; `None` when compression is off or the message is shorter than the
    /// configured minimum. Queued for connections that negotiated permessage-deflate.
    pub frame_deflated: Option<Arc<[u8]>>,
    /// Wall time the producer finished computing it, Unix milliseconds.
    pub computed_at_unix_ms: i64,
    /// How long the producer took to compute it, microseconds.
    pub compute_micros: u64,
}

/// Where each symbol's stream stands. `M` is the simulator's deliberate-bug policy
/// ([`MutationPolicy`]); production's `Sequencer` is `Sequencer<NoMutations>`, whose switch is a
/// constant the compiler folds away.
#[derive(Debug)]
pub struct Sequencer<M: MutationPolicy = NoMutations> {
    /// Goes into every epoch so that a restarted process never reuses one.
    boot_id: String,
    /// Symbol → (epoch, last seq). A `BTreeMap`: nothing here depends on hash order.
    streams: BTreeMap<String, (Arc<str>, u64)>,
    /// Deliberate bugs (simulator only): `repeat_snapshot_seq` reuses the previous `seq`.
    mutations: M,
    /// Messages at least this long also get a deflated frame; `None`: never.
    deflate_min_bytes: Option<usize>,
    /// Symbol → (generation, epoch) taken over from another stamper ([`Sequencer::continue_epoch`]):
    /// snapshots of that generation are stamped in that epoch instead of this sequencer's own.
    adopted: BTreeMap<String, (u64, Arc<str>)>,
}

impl Sequencer {
    pub fn new(boot_id: String) -> Sequencer {
        Sequencer::with_mutations(boot_id, NoMutations)
    }
}

impl<M: MutationPolicy> Sequencer<M> {
    /// [`Sequencer::new`] with the simulator's deliberate bugs.
    pub fn with_mutations(boot_id: String, mutations: M) -> Sequencer<M> {
        Sequencer { boot_id, streams: BTreeMap::new(), mutations, deflate_min_bytes: None, adopted: BTreeMap::new() }
    }

    /// Continues `symbol`'s stream in `epoch` after `last_seq` (stamped elsewhere: the Redis
    /// bus's previous leader) for the snapshots of `generation`; a snapshot of another generation
    /// starts this sequencer's own epoch as usual. The caller decides that this is sound (same
    /// data, and nobody else can stamp `epoch` any more: `src/bus/hub.rs`).
    pub fn continue_epoch(&mut self, symbol: &str, generation: u64, epoch: Arc<str>, last_seq: u64) {
        self.adopted.insert(symbol.to_string(), (generation, Arc::clone(&epoch)));
        self.streams.insert(symbol.to_string(), (epoch, last_seq));
    }

    /// Also builds the deflated frame of every message of at least `min_bytes` (`None`: never;
    /// `WS_COMPRESSION`, `WS_COMPRESSION_MIN_BYTES`).
    pub fn with_deflate(mut self, min_bytes: Option<usize>) -> Sequencer<M> {
        self.deflate_min_bytes = min_bytes;
        self
    }

    /// Gives `snapshot` the next position in its symbol's stream and encodes it. A new
    /// `generation` from the producer starts a new epoch at `seq` 1. `sent_at_unix_ms` is the
    /// wall time written into the message's `sent_at_ms`.
    pub fn stamp(&mut self, sent_at_unix_ms: i64, snapshot: &SnapshotReady) -> StampedSnapshot {
        let epoch = match self.adopted.get(&snapshot.symbol) {
            Some((generation, adopted)) if *generation == snapshot.generation => adopted.to_string(),
            _ => format!("{}-{}", self.boot_id, snapshot.generation),
        };
        let (epoch, seq) = match self.streams.get(&snapshot.symbol) {
            Some((last_epoch, last_seq)) if **last_epoch == *epoch => {
                (Arc::clone(last_epoch), if self.mutations.repeat_snapshot_seq() { *last_seq } else { last_seq + 1 })
            }
            _ => (Arc::<str>::from(epoch), 1),
        };
        debug_assert!(seq >= 1, "seq starts at 1");
        self.streams.insert(snapshot.symbol.clone(), (Arc::clone(&epoch), seq));
        encode(&snapshot.symbol, epoch, seq, sent_at_unix_ms, snapshot, self.deflate_min_bytes)
    }
}

/// Builds the message and frame of a snapshot whose position is already decided.
fn encode(
    symbol: &str,
    epoch: Arc<str>,
    seq: u64,
    sent_at_unix_ms: i64,
    snapshot: &SnapshotReady,
    deflate_min_bytes: Option<usize>,
) -> StampedSnapshot {
    let message = protocol::snapshot_message(&SnapshotEnvelope {
        symbol,
        seq,
        epoch: &epoch,
        timestamp: &snapshot.timestamp,
        sent_at_ms: sent_at_unix_ms,
        source: &snapshot.source,
        data_json: &snapshot.data_json,
    });
    let frame: Arc<[u8]> = Arc::from(frame::text_frame(message.as_bytes()));
    let frame_deflated = deflate_min_bytes
        .filter(|&min| message.len() >= min)
        .map(|_| Arc::from(deflate::deflated_frame(Data::Text, message.as_bytes(), deflate::WINDOW_BITS_MAX)));
    StampedSnapshot {
        symbol: Arc::from(symbol),
        epoch,
        seq,
        timestamp: Arc::from(snapshot.timestamp.as_str()),
        message: Arc::from(message),
        frame,
        frame_deflated,
        computed_at_unix_ms: snapshot.computed_at_unix_ms,
        compute_micros: snapshot.compute_micros,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(symbol: &str, generation: u64) -> SnapshotReady {
        SnapshotReady {
            symbol: symbol.into(),
            generation,
            timestamp: "2026-06-14T14:55:00Z".into(),
            source: "test".into(),
            data_json: "{\"x\":1}".into(),
            computed_at_unix_ms: 5,
            compute_micros: 7,
        }
    }

    #[test]
    fn seq_counts_up_per_symbol_and_restarts_with_a_new_generation() {
        let mut sequencer = Sequencer::new("b".into());
        let positions: Vec<(String, u64)> = [("BTCUSDT", 0), ("BTCUSDT", 0), ("ETHUSDT", 0), ("BTCUSDT", 1), ("BTCUSDT", 1)]
            .iter()
            .map(|&(s, g)| {
                let stamped = sequencer.stamp(1, &snapshot(s, g));
                (format!("{}:{}", stamped.symbol, stamped.epoch), stamped.seq)
            })
            .collect();
        let expected: Vec<(String, u64)> = vec![
            ("BTCUSDT:b-0".into(), 1),
            ("BTCUSDT:b-0".into(), 2),
            ("ETHUSDT:b-0".into(), 1),
            ("BTCUSDT:b-1".into(), 1),
            ("BTCUSDT:b-1".into(), 2),
        ];
        assert_eq!(positions, expected);
    }

    #[test]
    fn frame_carries_the_message_with_its_position_and_send_time() {
        let mut sequencer = Sequencer::new("boot".into());
        let stamped = sequencer.stamp(1_234, &snapshot("BTCUSDT", 3));
        let value: serde_json::Value = serde_json::from_str(&stamped.message).unwrap();
        assert_eq!(value["epoch"], "boot-3");
        assert_eq!(value["seq"], 1);
        assert_eq!(value["sent_at_ms"], 1_234);
        assert_eq!(value["data"]["x"], 1);
        // Text frame, FIN, payload = the message.
        assert_eq!(stamped.frame[0], 0x81);
        assert!(stamped.frame.ends_with(stamped.message.as_bytes()));
    }

    #[test]
    fn the_deflated_frame_is_built_once_only_for_messages_over_the_minimum() {
        let mut big = snapshot("BTCUSDT", 0);
        big.data_json = format!("{{\"levels\":[{}]}}", vec!["12345.5"; 400].join(","));
        let mut sequencer = Sequencer::new("b".into()).with_deflate(Some(1000));
        let stamped = sequencer.stamp(1, &big);
        let deflated = stamped.frame_deflated.expect("a long message gets a deflated frame");
        assert_eq!(deflated[0], 0xC1, "FIN, RSV1, text");
        assert!(deflated.len() * 3 < stamped.frame.len(), "{} vs {}", deflated.len(), stamped.frame.len());
        assert_eq!(sequencer.stamp(1, &snapshot("BTCUSDT", 0)).frame_deflated, None, "short message");
        let mut plain = Sequencer::new("b".into());
        assert_eq!(plain.stamp(1, &big).frame_deflated, None, "compression off");
    }

    #[test]
    fn a_continued_epoch_takes_the_next_seq_until_the_generation_changes() {
        let mut sequencer = Sequencer::new("new".into());
        sequencer.continue_epoch("BTCUSDT", 7, Arc::from("old-3"), 41);
        let next = sequencer.stamp(1, &snapshot("BTCUSDT", 7));
        assert_eq!((&*next.epoch, next.seq), ("old-3", 42));
        assert_eq!(sequencer.stamp(1, &snapshot("BTCUSDT", 7)).seq, 43);
        let other = sequencer.stamp(1, &snapshot("ETHUSDT", 7));
        assert_eq!((&*other.epoch, other.seq), ("new-7", 1), "only the continued symbol");
        let reset = sequencer.stamp(1, &snapshot("BTCUSDT", 8));
        assert_eq!((&*reset.epoch, reset.seq), ("new-8", 1), "a new generation is a new epoch");
    }
}
