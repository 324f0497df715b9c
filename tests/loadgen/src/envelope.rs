//! Reads the few envelope fields the load generator needs from the first bytes of a server
//! message, without parsing the (up to megabytes of) `data` behind them: a full JSON parse per
//! message would make the load generator, not the server, the bottleneck.
//!
//! The server writes the envelope first, in a fixed field order (docs/websocket_api.md):
//! `{"type":"snapshot","symbol":"BTCUSDT","seq":42,"epoch":"...","timestamp":"...","sent_at_ms":...`

/// Bytes of each message kept for envelope scanning; the snapshot envelope ends well before this.
pub const PREFIX_BYTES_MAX: usize = 320;

/// What kind of message the server sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    Snapshot(SnapshotEnvelope<'a>),
    Subscribed,
    Pong,
    Warning,
    /// An `error` message; the code (e.g. `RATE_LIMITED`).
    Error(&'a str),
    Other(&'a str),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotEnvelope<'a> {
    pub symbol: &'a str,
    pub seq: u64,
    pub epoch: &'a str,
    pub sent_at_ms: i64,
}

/// Why a message prefix could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvelopeError(pub &'static str);

/// Classifies a message from its prefix (at most [`PREFIX_BYTES_MAX`] bytes of its text).
pub fn classify(prefix: &[u8]) -> Result<Kind<'_>, EnvelopeError> {
    let kind = string_field(prefix, b"\"type\":\"").ok_or(EnvelopeError("no \"type\" field"))?;
    Ok(match kind {
        "snapshot" => Kind::Snapshot(SnapshotEnvelope {
            symbol: string_field(prefix, b"\"symbol\":\"").ok_or(EnvelopeError("snapshot without symbol"))?,
            seq: integer_field(prefix, b"\"seq\":").ok_or(EnvelopeError("snapshot without seq"))? as u64,
            epoch: string_field(prefix, b"\"epoch\":\"").ok_or(EnvelopeError("snapshot without epoch"))?,
            sent_at_ms: integer_field(prefix, b"\"sent_at_ms\":").ok_or(EnvelopeError("snapshot without sent_at_ms"))?,
        }),
        "subscribed" => Kind::Subscribed,
        "pong" => Kind::Pong,
        "warning" => Kind::Warning,
        "error" => Kind::Error(string_field(prefix, b"\"code\":\"").unwrap_or("")),
        other => Kind::Other(other),
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// The string value after `key` (which includes the opening quote), up to the closing quote.
/// Envelope strings (symbols, epochs, codes) never contain escapes.
fn string_field<'a>(prefix: &'a [u8], key: &[u8]) -> Option<&'a str> {
    let start = find(prefix, key)? + key.len();
    let length = prefix[start..].iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&prefix[start..start + length]).ok()
}

/// The integer value after `key`; `None` unless it is terminated (so a truncated prefix never
/// yields a shortened number).
fn integer_field(prefix: &[u8], key: &[u8]) -> Option<i64> {
    let start = find(prefix, key)? + key.len();
    let digits = prefix[start..].iter().position(|b| !b.is_ascii_digit())?;
    if digits == 0 || digits > 18 {
        return None;
    }
    std::str::from_utf8(&prefix[start..start + digits]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNAPSHOT: &[u8] = br#"{"type":"snapshot","symbol":"BTCUSDT","seq":42,"epoch":"19b7f2c6a10-1781448000100","timestamp":"2026-06-14T14:55:00Z","sent_at_ms":1781448903120,"source":"binance","data":{"timestamp":"#;

    #[test]
    fn snapshot_envelope_fields_are_read_from_the_documented_example() {
        let Kind::Snapshot(envelope) = classify(SNAPSHOT).unwrap() else { panic!("not a snapshot") };
        assert_eq!(envelope, SnapshotEnvelope { symbol: "BTCUSDT", seq: 42, epoch: "19b7f2c6a10-1781448000100", sent_at_ms: 1781448903120 });
    }

    #[test]
    fn a_prefix_cut_inside_sent_at_ms_is_an_error_not_a_short_number() {
        let digits_start = SNAPSHOT.windows(13).position(|w| w == b"\"sent_at_ms\":").unwrap() + 13;
        let cut = &SNAPSHOT[..digits_start + 10];
        assert!(std::str::from_utf8(cut).unwrap().ends_with("\"sent_at_ms\":1781448903"));
        assert_eq!(classify(cut), Err(EnvelopeError("snapshot without sent_at_ms")));
    }

    #[test]
    fn error_messages_carry_their_code() {
        let message = br#"{"type":"error","code":"RATE_LIMITED","message":"slow down"}"#;
        assert_eq!(classify(message), Ok(Kind::Error("RATE_LIMITED")));
    }

    #[test]
    fn subscribed_and_pong_are_recognised() {
        assert_eq!(classify(br#"{"type":"subscribed","symbols":["BTCUSDT"]}"#), Ok(Kind::Subscribed));
        assert_eq!(classify(br#"{"type":"pong","timestamp":1}"#), Ok(Kind::Pong));
    }

    #[test]
    fn text_without_a_type_is_rejected() {
        assert_eq!(classify(b"[1,2,3]"), Err(EnvelopeError("no \"type\" field")));
    }
}
