//! What the live feed hands the core: liquidation messages for subscribers, and its state in
//! `/health`.

use super::super::{CoreConfig, FeedReport, EVENTS_QUEUED_MAX};
use super::harness::Bench;

fn liquidation(n: usize) -> String {
    format!(r#"{{"type":"liquidation","symbol":"BTCUSDT","time_ms":{n},"side":"long","price":1.0,"quantity":1.0,"notional_usd":1.0}}"#)
}

#[test]
fn a_liquidation_reaches_the_symbols_subscribers_only_and_is_not_conflated() {
    let mut bench = Bench::new(CoreConfig::default());
    let a = bench.connect_ws();
    let other = bench.connect_ws();
    bench.subscribe(a, &["BTCUSDT"]);
    bench.subscribe(other, &["ETHUSDT"]);
    bench.received(a);
    bench.received(other);
    for n in 0..3 {
        bench.core.handle_liquidation(bench.now, "BTCUSDT", &liquidation(n));
    }
    bench.pump();
    let messages = bench.received_json(a);
    assert_eq!(messages.iter().map(|m| m["time_ms"].as_u64().unwrap()).collect::<Vec<_>>(), vec![0, 1, 2], "each one, in order");
    assert!(bench.received_json(other).is_empty());
}

#[test]
fn unsent_liquidations_beyond_the_bound_drop_the_oldest() {
    let mut bench = Bench::new(CoreConfig::default());
    let a = bench.connect_ws();
    bench.subscribe(a, &["BTCUSDT"]);
    bench.received(a);
    bench.peers[a].stream.write_room = Some(0);
    for n in 0..EVENTS_QUEUED_MAX + 3 {
        bench.core.handle_liquidation(bench.now, "BTCUSDT", &liquidation(n));
    }
    bench.peers[a].stream.write_room = None;
    bench.pump();
    let times: Vec<u64> = bench.received_json(a).iter().filter(|m| m["type"] == "liquidation").map(|m| m["time_ms"].as_u64().unwrap()).collect();
    assert_eq!(times.len(), EVENTS_QUEUED_MAX);
    assert_eq!(times[0], 3, "the three oldest were dropped");
    assert_eq!(*times.last().unwrap() as usize, EVENTS_QUEUED_MAX + 2);
}

#[test]
fn health_reports_the_feed_and_turns_degraded_when_the_newest_bar_is_old() {
    let mut bench = Bench::new(CoreConfig::default());
    let feed = &bench.core.health_json(bench.now)["feed"];
    assert_eq!(feed["mode"], "stored", "without a live feed, `feed` says only what the data is: {feed}");
    assert!(feed["state"].is_null(), "no live feed, no feed state: {feed}");
    let closed_at = bench.now.wall_unix_ms;
    let report = |state: &str| FeedReport {
        kind: "binance".into(),
        state: state.into(),
        interval_ms: 300_000,
        newest_bar_ms: vec![("BTCUSDT".into(), Some(closed_at - 300_000)), ("ETHUSDT".into(), Some(closed_at - 300_000))],
    };
    bench.core.handle_feed_report(bench.now, report("live"));
    let health = bench.core.health_json(bench.now);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["feed"]["state"], "live");
    assert_eq!(health["feed"]["symbols"]["BTCUSDT"]["newest_bar_age_s"], 0.0);
    bench.advance_ms(600_000);
    assert_eq!(bench.core.health_json(bench.now)["status"], "ok", "exactly two intervals is not yet degraded");
    bench.advance_ms(1);
    let health = bench.core.health_json(bench.now);
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["feed"]["symbols"]["ETHUSDT"]["degraded"], true);
    bench.core.handle_feed_report(bench.now, FeedReport { newest_bar_ms: vec![("BTCUSDT".into(), Some(bench.now.wall_unix_ms - 300_000))], ..report("down") });
    assert_eq!(bench.core.health_json(bench.now)["status"], "degraded", "a down stream degrades even with fresh data");
}
