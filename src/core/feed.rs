//! What the server streams, reported by `/api/config` and `/health` so that nobody takes a
//! replay of recorded data for the market (the page shows a "Replay of …" badge from it).

use serde_json::{json, Value};

use super::time::iso8601_utc_ms;

/// The kind of data behind the snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Feed {
    /// Market data from the database, as ingested (CLI or `INGEST_DIR`).
    #[default]
    Stored,
    /// The bundled demo: recorded bars with open times in `[period_start_ms, period_end_ms)`
    /// (Unix ms). While replayed, the bars from `replay_from_ms` on are appended one every
    /// `replay_interval_ms`, then the replay starts over under a new epoch.
    Demo { period_start_ms: i64, period_end_ms: i64, replay: Option<DemoReplay> },
    /// `DEMO_SNAPSHOT_BYTES`: synthetic snapshots for load tests, no market data at all.
    SyntheticLoad,
    /// A live exchange feed (`FEED=binance`): `/health` adds its state (`live_feed.rs`).
    Live { source: String },
}

/// How the demo is replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoReplay {
    /// Open time of the first replayed bar (Unix ms).
    pub replay_from_ms: i64,
    /// Wall-clock time between replayed bars.
    pub replay_interval_ms: u64,
}

impl Feed {
    /// `{"mode": "stored" | "demo" | "demo_replay" | "synthetic_load" | "live", ...}`; live adds
    /// `source` (the exchange); a demo adds
    /// `period_start` and `period_end` (ISO-8601 UTC, end exclusive), a replay also
    /// `replay_from` and `replay_interval_s`.
    pub fn to_json(&self) -> Value {
        match self {
            Feed::Stored => json!({ "mode": "stored" }),
            Feed::SyntheticLoad => json!({ "mode": "synthetic_load" }),
            Feed::Live { source } => json!({ "mode": "live", "source": source }),
            Feed::Demo { period_start_ms, period_end_ms, replay } => {
                let mut value = json!({
                    "mode": if replay.is_some() { "demo_replay" } else { "demo" },
                    "period_start": iso8601_utc_ms(*period_start_ms),
                    "period_end": iso8601_utc_ms(*period_end_ms),
                });
                if let (Some(replay), Some(map)) = (replay, value.as_object_mut()) {
                    map.insert("replay_from".into(), json!(iso8601_utc_ms(replay.replay_from_ms)));
                    map.insert("replay_interval_s".into(), json!(replay.replay_interval_ms as f64 / 1000.0));
                }
                value
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replayed_demo_names_its_period_and_pace() {
        let feed = Feed::Demo {
            period_start_ms: 1_780_790_400_000,
            period_end_ms: 1_781_432_400_000,
            replay: Some(DemoReplay { replay_from_ms: 1_781_346_000_000, replay_interval_ms: 3000 }),
        };
        assert_eq!(
            feed.to_json(),
            json!({
                "mode": "demo_replay",
                "period_start": "2026-06-07T00:00:00Z",
                "period_end": "2026-06-14T10:20:00Z",
                "replay_from": "2026-06-13T10:20:00Z",
                "replay_interval_s": 3.0,
            })
        );
    }

    #[test]
    fn a_demo_without_replay_and_stored_data_say_so() {
        let feed = Feed::Demo { period_start_ms: 0, period_end_ms: 300_000, replay: None };
        assert_eq!(feed.to_json()["mode"], "demo");
        assert_eq!(Feed::Stored.to_json(), json!({ "mode": "stored" }));
        assert_eq!(Feed::SyntheticLoad.to_json(), json!({ "mode": "synthetic_load" }));
        assert_eq!(Feed::Live { source: "binance".into() }.to_json(), json!({ "mode": "live", "source": "binance" }));
    }
}
