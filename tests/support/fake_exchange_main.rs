//! `cargo run --release --example fake_exchange -- [--history N] [--bars M] [--every-ms P]`:
//! the loopback fake exchange of `tests/support/fake_exchange.rs` as a process, for the browser
//! e2e suite and for trying `FEED=binance` without the internet. It prints
//! `fake exchange ws=ws://... rest=http://...`, then publishes one closed bar every P ms (with a
//! long and a short liquidation inside it) until M bars are out, and keeps serving until killed.

#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "fake_exchange.rs"]
mod fake_exchange;

use std::io::Write;
use std::time::Duration;

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number, got {v:?}")))
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let history = arg(&args, "--history", 600);
    let bars = arg(&args, "--bars", 60);
    let every = Duration::from_millis(arg(&args, "--every-ms", 3000) as u64);
    let week = fake_exchange::load_week(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/binance-um-5m-ohlc-oi/BTCUSDT-5m-ohlc-oi-2026-06-07_2026-06-14.csv"));
    let fake = fake_exchange::FakeExchange::start(&week, history, bars);
    println!("fake exchange ws={} rest={}", fake.ws_url(), fake.rest_url());
    let _ = std::io::stdout().flush();
    for _ in 0..bars {
        std::thread::sleep(every);
        let bar = fake.push_bar();
        let inside = bar.open_time_ms + 60_000;
        fake.send_raw(&fake_exchange::force_order_message("SELL", bar.low, 2.5, inside));
        fake.send_raw(&fake_exchange::force_order_message("BUY", bar.high, 1.0, inside + 30_000));
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
