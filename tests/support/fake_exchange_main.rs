//! `fake_exchange [--history N] [--bars M] [--every-ms P]` (built by `make build` into `$CARGO_TARGET_DIR/release/examples/`):
//! the loopback fake exchange of `tests/support/fake_exchange.rs` as a process, for the browser
//! e2e suite and for trying `FEED=binance` without the internet. It prints
//! `fake exchange ws=ws://... rest=http://...`, then publishes one closed bar every P ms (with a
//! long and a short liquidation inside it) until M bars are out, and keeps serving until killed.

#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "fake_exchange.rs"]
mod fake_exchange;

use std::io::Write;
use std::time::Duration;

use clap::Parser;

/// A loopback fake of the Binance USDT-M futures API (combined stream and REST) serving the
/// bundled June week, for the browser e2e suite and for trying FEED=binance offline. It binds
/// free loopback ports and prints them; point FEED_WS_URL and FEED_REST_URL at them.
#[derive(Parser)]
#[command(name = "fake_exchange")]
struct Args {
    /// Closed bars already in the exchange's history (served over REST) at start.
    #[arg(long, default_value_t = 600)]
    history: usize,
    /// Bars published live after start, one every --every-ms.
    #[arg(long, default_value_t = 60)]
    bars: usize,
    /// Milliseconds between live bars.
    #[arg(long, default_value_t = 3000)]
    every_ms: u64,
}

fn main() {
    // --help prints usage and exits; a bad or unknown argument exits 2 with clap's message.
    let Args { history, bars, every_ms } = Args::parse();
    let every = Duration::from_millis(every_ms);
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
