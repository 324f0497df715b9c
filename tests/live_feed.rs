//! The live feed end to end: a fake exchange on loopback (real wire formats) -> the server binary
//! with `FEED=binance` -> WebSocket and REST clients, then the DuckDB file it wrote.

// Tests drive real processes, sockets and clocks; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;
#[path = "support/fake_exchange.rs"]
mod fake_exchange;

use std::time::{Duration, Instant};

use fake_exchange::{force_order_message, load_week, FakeBar, FakeExchange, INTERVAL_MS};
use liquidationheatmap::core::time::iso8601_utc_ms;
use liquidationheatmap::store::Store;
use serde_json::Value;
use support::*;

const WAIT: Duration = Duration::from_secs(60);

fn week() -> Vec<FakeBar> {
    load_week(&repo_root().join("tests/fixtures/binance-um-5m-ohlc-oi/BTCUSDT-5m-ohlc-oi-2026-06-07_2026-06-14.csv"))
}

fn live_server(fake: &FakeExchange) -> ServerProcess {
    live_server_with(fake, &[])
}

fn live_server_with(fake: &FakeExchange, extra: &[(&str, &str)]) -> ServerProcess {
    let (ws, rest) = (fake.ws_url(), fake.rest_url());
    let mut env = vec![
        ("FEED", "binance"),
        ("FEED_WS_URL", ws.as_str()),
        ("FEED_REST_URL", rest.as_str()),
        ("SUPPORTED_SYMBOLS", "BTCUSDT"),
        ("WARMUP_DAYS", "3"),
        ("FEED_OI_WAIT", "20"),
        ("WS_UPDATE_INTERVAL", "0.2"),
    ];
    env.extend_from_slice(extra);
    ServerProcess::start(&env)
}

/// Waits until `/health` says the newest applied bar is `open_ms` (and the feed is live).
fn wait_for_bar(server: &ServerProcess, open_ms: i64) -> Value {
    let want = iso8601_utc_ms(open_ms);
    let health = wait_for_json(server.addr, "/health", WAIT, |h| {
        h["feed"]["symbols"]["BTCUSDT"]["newest_bar_time"] == want.as_str() && h["feed"]["state"] == "live"
    });
    assert_eq!(health["feed"]["symbols"]["BTCUSDT"]["newest_bar_time"], want.as_str(), "{health}");
    health
}

/// The value of one metric line (`name{labels}`) of `/metrics`, 0 when absent.
fn metric(server: &ServerProcess, line_start: &str) -> f64 {
    let text = String::from_utf8(http_get(server.addr, "/metrics").body).unwrap();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn next_snapshot(ws: &mut Ws) -> Value {
    next_matching(ws, WAIT, |m| m["type"] == "snapshot")
}

/// Stops the server and reads the bars it stored, straight from its DuckDB file.
fn stored_bars(mut server: ServerProcess) -> Vec<liquidationheatmap::engine::Bar> {
    assert_eq!(server.terminate(Duration::from_secs(20)), Some(0), "the server stops cleanly");
    let store = Store::open(server.dir.path().join("test.duckdb")).unwrap();
    store.bars("BTCUSDT", 0, i64::MAX / 2).unwrap()
}

#[test]
fn a_live_server_streams_a_snapshot_per_closed_bar_and_the_realised_liquidations() {
    let fake = FakeExchange::start(&week(), 300, 8);
    let server = live_server(&fake);
    let last = fake.published().last().unwrap().open_time_ms;
    let health = wait_for_bar(&server, last);
    // The fake's newest bar is 8 intervals old: the data is stale and /health says so.
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["feed"]["symbols"]["BTCUSDT"]["degraded"], true);
    assert!(health["feed"]["symbols"]["BTCUSDT"]["newest_bar_age_s"].as_f64().unwrap() > 2.0 * 300.0);

    let mut ws = ws_connect(server.addr, "/ws/heatmap");
    send_json(&mut ws, r#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
    assert_eq!(next_snapshot(&mut ws)["timestamp"], iso8601_utc_ms(last).as_str());
    let mut pushed = Vec::new();
    for _ in 0..3 {
        let bar = fake.push_bar();
        let snapshot = next_snapshot(&mut ws);
        assert_eq!(snapshot["timestamp"], iso8601_utc_ms(bar.open_time_ms).as_str(), "one snapshot per new closed bar, in order");
        assert_eq!(snapshot["data"]["current_price"], bar.close);
        pushed.push((bar, snapshot));
    }

    // The live snapshot of the newest bar equals the REST heatmap for that bar.
    let (bar, live) = pushed.last().unwrap();
    let rest = http_get(
        server.addr,
        &format!(
            "/liquidations/heatmap-timeseries?symbol=BTCUSDT&start_time={}&end_time={}&interval=5m",
            bar.open_time_ms - INTERVAL_MS,
            bar.open_time_ms
        ),
    );
    assert_eq!(rest.status, 200);
    let rest = rest.json();
    assert_eq!(rest["meta"]["source"], "binance");
    let same_bar = rest["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(same_bar["timestamp"], live["data"]["timestamp"]);
    assert_eq!(same_bar["levels"], live["data"]["levels"]);
    assert!(!live["data"]["levels"].as_array().unwrap().is_empty(), "the live map has levels");

    // Liquidations: a duplicate is stored and sent once; a SELL order liquidated a long.
    let t = bar.open_time_ms + 60_000;
    fake.send_raw(&force_order_message("SELL", 62000.5, 0.25, t));
    fake.send_raw(&force_order_message("SELL", 62000.5, 0.25, t));
    fake.send_raw(&force_order_message("BUY", 62100.0, 1.5, t + 1000));
    let first = next_matching(&mut ws, WAIT, |m| m["type"] == "liquidation");
    assert_eq!((first["symbol"].as_str(), first["side"].as_str()), (Some("BTCUSDT"), Some("long")));
    assert_eq!((first["price"].as_f64(), first["quantity"].as_f64(), first["notional_usd"].as_f64()), (Some(62000.5), Some(0.25), Some(15500.125)));
    assert_eq!(first["timestamp"], iso8601_utc_ms(t).as_str());
    let second = next_matching(&mut ws, WAIT, |m| m["type"] == "liquidation");
    assert_eq!((second["side"].as_str(), second["notional_usd"].as_f64()), (Some("short"), Some(93150.0)), "the duplicate was not sent again");
    // A burst: every one arrives, in order.
    for i in 0..20 {
        fake.send_raw(&force_order_message("SELL", 61000.0 + i as f64, 0.1, t + 2000 + i));
    }
    for i in 0..20 {
        let m = next_matching(&mut ws, WAIT, |m| m["type"] == "liquidation");
        assert_eq!(m["price"].as_f64(), Some(61000.0 + i as f64));
    }

    let realised = http_get(server.addr, &format!("/liquidations/realised?symbol=BTCUSDT&start={}&end={}", t, t + 1001)).json();
    assert_eq!(realised["meta"]["count"], 2, "{realised}");
    assert_eq!(realised["meta"]["total_long_usd"], 15500.125);
    assert_eq!(realised["data"][0]["side"], "long");
    let columns = http_get(
        server.addr,
        &format!("/liquidations/heatmap-timeseries?symbol=BTCUSDT&start_time={}&end_time={}&interval=5m", bar.open_time_ms - INTERVAL_MS, bar.open_time_ms),
    )
    .json();
    let column = columns["data"].as_array().unwrap().last().unwrap().clone();
    let burst_usd: f64 = (0..20).map(|i| (61000.0 + i as f64) * 0.1).sum();
    assert!((column["realised_long_usd"].as_f64().unwrap() - (15500.125 + burst_usd)).abs() < 1e-6, "{}", column["realised_long_usd"]);
    assert_eq!(column["realised_short_usd"], 93150.0);
    assert_eq!(http_get(server.addr, "/liquidations/realised?symbol=DOGEUSDT").status, 400);
    // A window with none: the totals are 0, not the -0.0 an empty f64 sum gives.
    let empty = http_get(server.addr, &format!("/liquidations/realised?symbol=BTCUSDT&start={}&end={}", t - 10_000, t - 5_000));
    let body = String::from_utf8_lossy(&empty.body);
    assert!(body.contains("\"total_long_usd\":0.0") && body.contains("\"total_short_usd\":0.0"), "{body}");

    assert_eq!(metric(&server, "feed_liquidations_stored_total{symbol=\"BTCUSDT\"}"), 22.0);
    assert_eq!(metric(&server, "feed_messages_total{type=\"force_order\"}"), 23.0);
    assert!(metric(&server, "feed_messages_total{type=\"kline_closed\"}") >= 3.0);
    assert_eq!(metric(&server, "feed_state{state=\"live\"}"), 1.0);
    assert!(metric(&server, "feed_newest_bar_age_seconds{symbol=\"BTCUSDT\"}") > 0.0);

    let bars = stored_bars(server);
    assert_eq!(bars.last().unwrap().open_time_ms, bar.open_time_ms);
}

#[test]
fn after_a_disconnect_with_a_gap_the_stored_bars_have_no_hole_and_no_duplicate() {
    let fake = FakeExchange::start(&week(), 300, 10);
    let server = live_server(&fake);
    wait_for_bar(&server, fake.published().last().unwrap().open_time_ms);
    let mut ws = ws_connect(server.addr, "/ws/heatmap");
    send_json(&mut ws, r#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
    next_snapshot(&mut ws);
    let bar = fake.push_bar();
    wait_for_bar(&server, bar.open_time_ms);

    // The stream drops and stays down while three bars are published (only backfill can get them).
    fake.refuse_streams(true);
    fake.drop_connections();
    let gap: Vec<FakeBar> = (0..3).map(|_| fake.publish_silently()).collect();
    let down = wait_for_json(server.addr, "/health", WAIT, |h| h["feed"]["state"] == "down");
    assert_eq!(down["feed"]["state"], "down", "{down}");
    assert_eq!(down["status"], "degraded");
    fake.refuse_streams(false);
    let deadline = Instant::now() + WAIT;
    while fake.connections() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(fake.connections() >= 2, "the feed reconnected");
    wait_for_bar(&server, gap[2].open_time_ms);
    // Duplicates and out-of-order deliveries of stored bars change nothing.
    fake.send_raw(&gap[1].kline_message(true));
    fake.send_raw(&gap[0].kline_message(true));
    let next = fake.push_bar();
    wait_for_bar(&server, next.open_time_ms);
    // The subscriber saw the bars in order, none twice (snapshots of the gap may be conflated
    // into the newest one, never reordered).
    let mut seen = Vec::new();
    while seen.last() != Some(&iso8601_utc_ms(next.open_time_ms)) {
        let s = next_snapshot(&mut ws);
        seen.push(s["timestamp"].as_str().unwrap().to_string());
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert!(metric(&server, "feed_reconnects_total") >= 1.0);

    let stored = stored_bars(server);
    let published = fake.published();
    assert_eq!(stored.len(), published.len(), "every published bar stored once");
    for (s, p) in stored.iter().zip(&published) {
        assert_eq!((s.open_time_ms, s.open, s.high, s.low, s.close), (p.open_time_ms, p.open, p.high, p.low, p.close));
        assert_eq!(s.open_interest_usd, Some(p.open_interest_usd), "bar {} has its own open interest", s.open_time_ms);
    }
    assert!(stored.windows(2).all(|w| w[1].open_time_ms - w[0].open_time_ms == INTERVAL_MS), "no hole, no duplicate");
}

#[test]
fn bad_messages_are_counted_and_skipped_pings_answered_and_rate_limits_respected() {
    let fake = FakeExchange::start(&week(), 300, 2);
    let server = live_server(&fake);
    let last = *fake.published().last().unwrap();
    wait_for_bar(&server, last.open_time_ms);

    fake.send_raw("{not json");
    fake.send_raw(&format!(r#"{{"stream":"btcusdt@kline_5m","data":{{"pad":"{}"}}}}"#, "x".repeat(100_000)));
    fake.send_raw(&last.kline_message(true).replace("BTCUSDT", "DOGEUSDT"));
    fake.send_raw(&last.kline_message(true).replace(&format!("\"l\":\"{}\"", last.low), "\"l\":\"-1\""));
    fake.ping();
    let bar = fake.push_bar();
    wait_for_bar(&server, bar.open_time_ms);
    for reason in ["malformed_json", "oversized", "unsupported_symbol", "invalid_bar"] {
        assert_eq!(metric(&server, &format!("feed_rejects_total{{reason=\"{reason}\"}}")), 1.0, "{reason}");
    }
    let deadline = Instant::now() + WAIT;
    while fake.pongs() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(fake.pongs() >= 1, "the feed answered the ping");

    // Two 429 answers with Retry-After: 1 while the feed backfills after a reconnect.
    let before = fake.requests("/").len();
    fake.answer_429(2, 1);
    fake.drop_connections();
    let silent = fake.publish_silently();
    let health = wait_for_bar(&server, silent.open_time_ms);
    let requests = fake.requests("/");
    let after: Vec<_> = requests[before..].to_vec();
    assert!(after.len() >= 3, "{after:?}");
    for pair in after[..3].windows(2) {
        assert!(pair[1].0.duration_since(pair[0].0) >= Duration::from_millis(950), "a request came before Retry-After passed: {after:?}");
    }
    let limited: f64 = ["klines", "open_interest_hist"]
        .iter()
        .map(|e| metric(&server, &format!("feed_rest_requests_total{{endpoint=\"{e}\",status=\"429\"}}")))
        .sum();
    assert_eq!(limited, 2.0);
    // All bars are out: the newest closed at the last boundary, so the data is fresh.
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["feed"]["degraded"], false);
}

#[test]
fn the_stream_is_renewed_before_its_maximum_age_and_keeps_every_bar() {
    let fake = FakeExchange::start(&week(), 300, 3);
    let server = live_server_with(&fake, &[("FEED_CONNECTION_MAX_AGE", "2")]);
    wait_for_bar(&server, fake.published().last().unwrap().open_time_ms);
    let deadline = Instant::now() + WAIT;
    while fake.connections() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(fake.connections() >= 3, "renewed at least twice");
    let log = server.wait_for_log("event=feed_renewal", WAIT);
    assert!(log.iter().any(|l| l.contains("event=feed_renewal")), "the renewal is logged, not reported as a failure");
    for _ in 0..3 {
        let bar = fake.push_bar();
        wait_for_bar(&server, bar.open_time_ms);
    }
    assert!(metric(&server, "feed_reconnects_total") >= 2.0);
    let stored = stored_bars(server);
    assert!(stored.windows(2).all(|w| w[1].open_time_ms - w[0].open_time_ms == INTERVAL_MS));
    assert_eq!(stored.len(), fake.published().len());
}
