//! What travels between nodes: the leader's snapshot message itself.
//!
//! The bus payload is exactly the `{"type":"snapshot",...}` JSON the leader's
//! [`crate::core::Sequencer`] built (`docs/websocket_api.md`, "snapshot"); it already names its
//! `symbol`, `epoch`, `seq` and `sent_at_ms` (the leader's publish time, used for the bus lag).
//! A receiving node reads those fields, checks them, and frames the very same bytes once
//! (RFC 6455 §5.2) into a [`StampedSnapshot`]: nodes never renumber or re-encode.

use std::sync::Arc;

use serde::Deserialize;

use tungstenite::protocol::frame::coding::Data;

use crate::core::{deflate, frame};
use crate::core::StampedSnapshot;

/// Longest epoch accepted from the bus (the leader's are about 40 characters).
const EPOCH_CHARS_MAX: usize = 128;

/// Why a bus payload was refused (counted and logged; nothing reaches clients).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    TooLarge { bytes: usize, max: usize },
    NotUtf8,
    NotJson(String),
    NotASnapshot,
    BadField(&'static str),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::TooLarge { bytes, max } => write!(f, "payload of {bytes} bytes exceeds {max}"),
            WireError::NotUtf8 => write!(f, "payload is not UTF-8"),
            WireError::NotJson(e) => write!(f, "payload is not JSON: {e}"),
            WireError::NotASnapshot => write!(f, "payload is not a snapshot message"),
            WireError::BadField(name) => write!(f, "field {name} is missing or out of range"),
        }
    }
}

/// The envelope fields of a snapshot message; `data` and `source` are skipped, not copied.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    symbol: String,
    epoch: String,
    seq: u64,
    timestamp: String,
    sent_at_ms: i64,
}

/// A snapshot received from the bus and when the leader sent it (Unix ms).
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub snapshot: StampedSnapshot,
    pub sent_at_unix_ms: i64,
}

/// Reads a bus payload of at most `bytes_max` bytes into a snapshot framed once for this node
/// (plus its permessage-deflate frame when the payload is at least `deflate_min_bytes` long,
/// as `Sequencer::with_deflate` builds the node's own).
pub fn decode(payload: &[u8], bytes_max: usize, deflate_min_bytes: Option<usize>) -> Result<Received, WireError> {
    if payload.len() > bytes_max {
        return Err(WireError::TooLarge { bytes: payload.len(), max: bytes_max });
    }
    let text = std::str::from_utf8(payload).map_err(|_| WireError::NotUtf8)?;
    let envelope: Envelope = serde_json::from_str(text).map_err(|e| WireError::NotJson(e.to_string()))?;
    if envelope.kind != "snapshot" {
        return Err(WireError::NotASnapshot);
    }
    let symbol_ok = (2..=20).contains(&envelope.symbol.len())
        && envelope.symbol.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if !symbol_ok {
        return Err(WireError::BadField("symbol"));
    }
    if envelope.epoch.is_empty() || envelope.epoch.len() > EPOCH_CHARS_MAX {
        return Err(WireError::BadField("epoch"));
    }
    if envelope.seq == 0 {
        return Err(WireError::BadField("seq"));
    }
    let frame: Arc<[u8]> = Arc::from(frame::text_frame(payload));
    let frame_deflated = deflate_min_bytes.filter(|&min| payload.len() >= min).map(|_| {
        Arc::from(deflate::deflated_frame(Data::Text, payload, deflate::WINDOW_BITS_MAX))
    });
    Ok(Received {
        snapshot: StampedSnapshot {
            symbol: Arc::from(envelope.symbol),
            epoch: Arc::from(envelope.epoch),
            seq: envelope.seq,
            timestamp: Arc::from(envelope.timestamp),
            message: Arc::from(text),
            frame,
            frame_deflated,
            computed_at_unix_ms: envelope.sent_at_ms,
            // Computed on the leader; this node spent nothing on it.
            compute_micros: 0,
        },
        sent_at_unix_ms: envelope.sent_at_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Sequencer, SnapshotReady};

    fn leader_message() -> StampedSnapshot {
        let ready = SnapshotReady {
            symbol: "BTCUSDT".into(),
            generation: 4,
            timestamp: "2026-06-14T14:55:00Z".into(),
            source: "test".into(),
            data_json: "{\"levels\":[1,2]}".into(),
            computed_at_unix_ms: 1,
            compute_micros: 2,
        };
        Sequencer::new("leader".into()).stamp(1_700_000_000_123, &ready)
    }

    #[test]
    fn a_follower_frames_the_leaders_exact_bytes() {
        let stamped = leader_message();
        let received = decode(stamped.message.as_bytes(), 1 << 20, None).unwrap();
        assert_eq!(received.snapshot.frame, stamped.frame, "same bytes on every node");
        assert_eq!(received.snapshot.message, stamped.message);
        assert_eq!((&*received.snapshot.epoch, received.snapshot.seq), ("leader-4", 1));
        assert_eq!(received.sent_at_unix_ms, 1_700_000_000_123);
    }

    #[test]
    fn bad_payloads_are_refused_with_the_reason() {
        assert_eq!(decode(b"x", 0, None), Err(WireError::TooLarge { bytes: 1, max: 0 }));
        assert_eq!(decode(&[0xff, 0xfe], 10, None), Err(WireError::NotUtf8));
        assert!(matches!(decode(b"{", 10, None), Err(WireError::NotJson(_))));
        let probe = br#"{"type":"probe","symbol":"BTCUSDT","epoch":"e","seq":1,"timestamp":"t","sent_at_ms":1}"#;
        assert_eq!(decode(probe, 1000, None), Err(WireError::NotASnapshot));
        let seq0 = br#"{"type":"snapshot","symbol":"BTCUSDT","epoch":"e","seq":0,"timestamp":"t","sent_at_ms":1}"#;
        assert_eq!(decode(seq0, 1000, None), Err(WireError::BadField("seq")));
        let lower = br#"{"type":"snapshot","symbol":"btc","epoch":"e","seq":1,"timestamp":"t","sent_at_ms":1}"#;
        assert_eq!(decode(lower, 1000, None), Err(WireError::BadField("symbol")));
    }
}
