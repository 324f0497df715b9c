//! REST contract tests against the real binary serving the bundled demo (replay off, so the data
//! is the real BTCUSDT week minus the held-back last day, plus synthetic ETHUSDT).
//!
//! One server serves every case: a single test function starts it, runs the cases with
//! [`run_cases`] and drops it at the end, so the server and its folder are gone after the run,
//! also when a case fails.

// Tests and benches drive real processes, sockets and clocks; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use serde_json::Value;
use support::*;

#[test]
fn rest_api_contract_on_the_demo_data() {
    let server = ServerProcess::start(&[("DEMO_REPLAY_INTERVAL", "0"), ("WS_UPDATE_INTERVAL", "0.2")]);
    run_cases(
        &server,
        cases!(ServerProcess;
            heatmap_timeseries_defaults_to_48h_ending_at_the_newest_bar,
            every_snapshot_has_sorted_non_negative_levels_around_the_price,
            seven_days_hourly_gives_one_snapshot_per_hour,
            start_and_end_time_accept_iso_and_unix_ms_alike,
            price_bin_size_sets_the_level_grid,
            leverage_weights_change_where_liquidations_cluster,
            synthetic_symbol_says_so_in_meta,
            bad_symbol_is_400,
            bad_weights_are_400,
            bad_bin_size_and_unknown_parameters_are_400,
            bad_interval_is_422,
            bad_window_is_422,
            repeated_query_gives_the_identical_answer,
            klines_aggregate_the_stored_bars,
            klines_errors_are_precise,
        ),
    );
}

fn get(server: &ServerProcess, path: &str) -> HttpResponse {
    http_get(server.addr, path)
}

fn ok_json(server: &ServerProcess, path: &str) -> Value {
    let response = get(server, path);
    assert_eq!(response.status, 200, "{path}: {}", String::from_utf8_lossy(&response.body));
    response.json()
}

fn error(server: &ServerProcess, path: &str, status: u16, code: &str) {
    let response = get(server, path);
    assert_eq!(response.status, status, "{path}: {}", String::from_utf8_lossy(&response.body));
    assert_eq!(response.json()["error"]["code"], code, "{path}");
    assert!(response.json()["error"]["message"].as_str().unwrap().len() > 10);
}

fn heatmap_timeseries_defaults_to_48h_ending_at_the_newest_bar(server: &ServerProcess) {
    let body = ok_json(server, "/liquidations/heatmap-timeseries?symbol=BTCUSDT");
    let meta = &body["meta"];
    assert_eq!(meta["symbol"], "BTCUSDT");
    assert_eq!(meta["source"], "binance");
    assert_eq!(meta["interval"], "5m");
    let snapshots = body["data"].as_array().unwrap();
    assert_eq!(meta["total_snapshots"].as_u64().unwrap() as usize, snapshots.len());
    assert_eq!(snapshots.len(), 48 * 12 + 1);
    assert_eq!(snapshots.last().unwrap()["timestamp"], meta["end_time"]);
}

fn every_snapshot_has_sorted_non_negative_levels_around_the_price(server: &ServerProcess) {
    let body = ok_json(server, "/liquidations/heatmap-timeseries?symbol=BTCUSDT&time_window=7d&interval=1h");
    for snapshot in body["data"].as_array().unwrap() {
        let levels = snapshot["levels"].as_array().unwrap();
        assert!(!levels.is_empty());
        let prices: Vec<f64> = levels.iter().map(|l| l["price"].as_f64().unwrap()).collect();
        assert!(prices.windows(2).all(|w| w[0] < w[1]), "levels sorted by price");
        for level in levels {
            assert!(level["long_density"].as_f64().unwrap() >= 0.0);
            assert!(level["short_density"].as_f64().unwrap() >= 0.0);
        }
        // Longs are liquidated below the price, shorts above.
        let price = snapshot["current_price"].as_f64().unwrap();
        for level in levels {
            let p = level["price"].as_f64().unwrap();
            if level["long_density"].as_f64().unwrap() > 0.0 {
                assert!(p < price, "long level {p} at or above price {price}");
            }
        }
    }
}

fn seven_days_hourly_gives_one_snapshot_per_hour(server: &ServerProcess) {
    let body = ok_json(server, "/liquidations/heatmap-timeseries?symbol=BTCUSDT&time_window=7d&interval=1h");
    assert_eq!(body["meta"]["interval"], "1h");
    assert_eq!(body["meta"]["total_snapshots"], 7 * 24 + 1);
}

fn start_and_end_time_accept_iso_and_unix_ms_alike(server: &ServerProcess) {
    let iso = ok_json(server, "/liquidations/heatmap-timeseries?symbol=BTCUSDT&start_time=2026-06-10T00:00:00Z&end_time=2026-06-11T00:00:00Z&interval=1h");
    let ms = ok_json(server, "/liquidations/heatmap-timeseries?symbol=BTCUSDT&start_time=1781049600000&end_time=1781136000000&interval=1h");
    assert_eq!(iso["data"], ms["data"]);
    assert_eq!(iso["meta"]["total_snapshots"], 25);
}

fn price_bin_size_sets_the_level_grid(server: &ServerProcess) {
    let body = ok_json(server, "/liquidations/heatmap-timeseries?symbol=BTCUSDT&time_window=48h&interval=4h&price_bin_size=250");
    for snapshot in body["data"].as_array().unwrap() {
        for level in snapshot["levels"].as_array().unwrap() {
            let price = level["price"].as_f64().unwrap();
            assert_eq!(price % 250.0, 0.0, "{price}");
        }
    }
}

fn leverage_weights_change_where_liquidations_cluster(server: &ServerProcess) {
    let low = ok_json(server, "/liquidations/heatmap-timeseries?symbol=BTCUSDT&time_window=48h&interval=12h&leverage_weights=5:100");
    let high = ok_json(server, "/liquidations/heatmap-timeseries?symbol=BTCUSDT&time_window=48h&interval=12h&leverage_weights=100:100");
    let spread = |body: &Value| {
        let last = body["data"].as_array().unwrap().last().unwrap().clone();
        let price = last["current_price"].as_f64().unwrap();
        let levels = last["levels"].as_array().unwrap().clone();
        let weighted: f64 = levels
            .iter()
            .map(|l| (l["price"].as_f64().unwrap() - price).abs() * (l["long_density"].as_f64().unwrap() + l["short_density"].as_f64().unwrap()))
            .sum();
        let total: f64 = levels.iter().map(|l| l["long_density"].as_f64().unwrap() + l["short_density"].as_f64().unwrap()).sum();
        weighted / total
    };
    // 5x positions liquidate ~20% away, 100x ~1% away.
    assert!(spread(&low) > 5.0 * spread(&high), "{} vs {}", spread(&low), spread(&high));
}

fn synthetic_symbol_says_so_in_meta(server: &ServerProcess) {
    let body = ok_json(server, "/liquidations/heatmap-timeseries?symbol=ETHUSDT&time_window=48h&interval=4h");
    assert_eq!(body["meta"]["source"], "synthetic");
    assert!(body["meta"]["total_snapshots"].as_u64().unwrap() > 0);
}

fn bad_symbol_is_400(server: &ServerProcess) {
    error(server, "/liquidations/heatmap-timeseries?symbol=DOGEUSDT", 400, "INVALID_SYMBOL");
    error(server, "/liquidations/heatmap-timeseries", 400, "INVALID_SYMBOL");
}

fn bad_weights_are_400(server: &ServerProcess) {
    error(server, "/liquidations/heatmap-timeseries?symbol=BTCUSDT&leverage_weights=abc", 400, "INVALID_WEIGHTS");
    error(server, "/liquidations/heatmap-timeseries?symbol=BTCUSDT&leverage_weights=5:0,10:0", 400, "INVALID_WEIGHTS");
}

fn bad_bin_size_and_unknown_parameters_are_400(server: &ServerProcess) {
    error(server, "/liquidations/heatmap-timeseries?symbol=BTCUSDT&price_bin_size=-5", 400, "INVALID_BIN_SIZE");
    error(server, "/liquidations/heatmap-timeseries?symbol=BTCUSDT&colour=red", 400, "INVALID_PARAMETER");
}

fn bad_interval_is_422(server: &ServerProcess) {
    error(server, "/liquidations/heatmap-timeseries?symbol=BTCUSDT&interval=7m", 422, "INVALID_INTERVAL");
}

fn bad_window_is_422(server: &ServerProcess) {
    error(server, "/liquidations/heatmap-timeseries?symbol=BTCUSDT&time_window=1y", 422, "INVALID_WINDOW");
    error(server, "/liquidations/heatmap-timeseries?symbol=BTCUSDT&start_time=yesterday", 422, "INVALID_WINDOW");
    error(server, "/liquidations/heatmap-timeseries?symbol=BTCUSDT&start_time=2026-06-12T00:00:00Z&end_time=2026-06-11T00:00:00Z", 422, "INVALID_WINDOW");
    error(server, "/liquidations/heatmap-timeseries?symbol=BTCUSDT&time_window=7d&start_time=2026-06-12T00:00:00Z", 422, "INVALID_WINDOW");
}

fn repeated_query_gives_the_identical_answer(server: &ServerProcess) {
    let path = "/liquidations/heatmap-timeseries?symbol=BTCUSDT&time_window=3d&interval=2h";
    assert_eq!(get(server, path).body, get(server, path).body);
}

fn klines_aggregate_the_stored_bars(server: &ServerProcess) {
    let body = ok_json(server, "/prices/klines?symbol=BTCUSDT&interval=1h&limit=24");
    assert_eq!(body["symbol"], "BTCUSDT");
    assert_eq!(body["interval"], "1h");
    assert_eq!(body["count"], 24);
    let data = body["data"].as_array().unwrap();
    let times: Vec<i64> = data.iter().map(|k| k["timestamp_ms"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[1] - w[0] == 3_600_000));
    for k in data {
        let (o, h, l, c) = (k["open"].as_f64().unwrap(), k["high"].as_f64().unwrap(), k["low"].as_f64().unwrap(), k["close"].as_f64().unwrap());
        assert!(h >= o.max(c) && l <= o.min(c));
        assert!(k["volume"].is_null(), "the week has no volume");
        assert!(k["timestamp"].as_str().unwrap().ends_with('Z'));
    }
}

fn klines_errors_are_precise(server: &ServerProcess) {
    error(server, "/prices/klines?symbol=NOPE", 400, "INVALID_SYMBOL");
    error(server, "/prices/klines?symbol=BTCUSDT&interval=3m", 422, "INVALID_INTERVAL");
    error(server, "/prices/klines?symbol=BTCUSDT&limit=0", 400, "INVALID_PARAMETER");
}
