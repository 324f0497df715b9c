//! Server-side time of `GET /liquidations/heatmap-timeseries` on the real week: the handler the
//! query worker runs (DuckDB read + model over the warm-up and window + JSON), timed directly,
//! with the answer cache bypassed so every run computes.
//!
//!   cargo run --release --example bench_rest

// Tests and benches drive real processes, sockets and clocks; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::time::Instant;

use liquidationheatmap::core::QueryRequest;
use liquidationheatmap::engine::EngineParams;
use liquidationheatmap::rest::{handle, ResponseCache, RestContext};
use liquidationheatmap::store::Store;

const RUNS: usize = 30;

fn main() {
    let dir = std::env::temp_dir().join(format!("lhm-bench-rest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store = Store::open(dir.join("bench.duckdb")).expect("open store");
    let supported = vec!["BTCUSDT".to_string(), "ETHUSDT".to_string()];
    liquidationheatmap::demo::seed_if_empty(&store, &supported).expect("seed the real week");
    let ctx = RestContext { supported_symbols: supported, warmup_days: 30, levels_max: usize::MAX, engine_params: EngineParams::default(), sources: vec![] };
    println!("| query | runs | median ms | p90 ms | min ms | bytes |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for query in [
        "symbol=BTCUSDT&time_window=7d&interval=1h",
        "symbol=BTCUSDT&time_window=48h&interval=5m",
        "symbol=BTCUSDT&time_window=7d&interval=5m",
        "symbol=ETHUSDT&time_window=7d&interval=1h",
    ] {
        let request = QueryRequest {
            conn: 0,
            token: 0,
            path: "/liquidations/heatmap-timeseries".into(),
            query: query.into(),
            head_only: false,
        };
        let mut times_ms = Vec::with_capacity(RUNS);
        let mut bytes = 0;
        for _ in 0..RUNS {
            let mut cache = ResponseCache::new();
            let started = Instant::now();
            let response = handle(&store, &ctx, &mut cache, &request);
            times_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
            bytes = response.body.len();
        }
        times_ms.sort_by(|a, b| a.total_cmp(b));
        println!(
            "| `{query}` | {RUNS} | {:.2} | {:.2} | {:.2} | {bytes} |",
            times_ms[RUNS / 2],
            times_ms[RUNS * 9 / 10],
            times_ms[0]
        );
    }
    // The database read on its own, to show where the time goes.
    let mut times_ms = Vec::with_capacity(RUNS);
    let mut bars = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        bars = store.bars("BTCUSDT", i64::MIN, i64::MAX).expect("bars").len();
        times_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times_ms.sort_by(|a, b| a.total_cmp(b));
    println!("| `Store::bars` alone ({bars} bars) | {RUNS} | {:.2} | {:.2} | {:.2} | - |", times_ms[RUNS / 2], times_ms[RUNS * 9 / 10], times_ms[0]);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
