//! The bundled demo against the real binary: every replayed bar reaches a subscriber as its own
//! snapshot, and the server says it is a replay (and of which period) wherever a client looks.

// Tests and benches drive real processes, sockets and clocks; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::time::Duration;

use support::*;

const BAR_MS: i64 = 300_000;

#[test]
fn every_replayed_bar_gets_its_own_snapshot_when_bars_outpace_updates() {
    // Five bars per snapshot interval: before, each update sent only the newest bar's state and
    // the chart showed four empty columns out of five.
    let server = ServerProcess::start(&[
        ("SUPPORTED_SYMBOLS", "BTCUSDT"),
        ("DEMO_REPLAY_INTERVAL", "0.2"),
        ("WS_UPDATE_INTERVAL", "1"),
    ]);
    let mut ws = ws_connect(server.addr, "/ws/heatmap");
    send_json(&mut ws, r#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
    let first = next_matching(&mut ws, Duration::from_secs(60), |m| m["type"] == "snapshot");
    let mut previous = (first["epoch"].clone(), first["seq"].as_u64().unwrap(), first["data"]["timestamp_ms"].as_i64().unwrap());
    let mut checked = 0;
    while checked < 15 {
        let next = next_matching(&mut ws, Duration::from_secs(30), |m| m["type"] == "snapshot");
        let (epoch, seq, bar_ms) = (next["epoch"].clone(), next["seq"].as_u64().unwrap(), next["data"]["timestamp_ms"].as_i64().unwrap());
        if epoch == previous.0 {
            assert_eq!(seq, previous.1 + 1, "seq skipped");
            assert_eq!(bar_ms - previous.2, BAR_MS, "snapshot {seq} skipped from bar {} to bar {bar_ms}", previous.2);
            checked += 1;
        }
        // A new epoch (the replay starting over) restarts the chain.
        previous = (epoch, seq, bar_ms);
    }
}

#[test]
fn config_and_health_say_the_demo_is_a_replay_of_its_recorded_period() {
    let server = ServerProcess::start(&[("SUPPORTED_SYMBOLS", "BTCUSDT"), ("DEMO_REPLAY_INTERVAL", "3")]);
    let config = http_get(server.addr, "/api/config").json();
    let feed = &config["feed"];
    assert_eq!(feed["mode"], "demo_replay", "{config}");
    // The bundled week: 2,140 five-minute bars, the first opening 2026-06-07 04:40 UTC, the last
    // 2026-06-14 14:55 UTC.
    assert_eq!(feed["period_start"], "2026-06-07T04:40:00Z");
    assert_eq!(feed["period_end"], "2026-06-14T15:00:00Z");
    // The last day (288 bars) is what is replayed.
    assert_eq!(feed["replay_from"], "2026-06-13T15:00:00Z");
    assert_eq!(feed["replay_interval_s"], 3.0);
    let health = http_get(server.addr, "/health").json();
    assert_eq!(&health["feed"], feed);
}

#[test]
fn stored_market_data_is_not_called_a_demo() {
    let server = ServerProcess::start(&[("DEMO_SEED", "false")]);
    assert_eq!(http_get(server.addr, "/api/config").json()["feed"]["mode"], "stored");
}
