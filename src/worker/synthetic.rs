//! Test mode (`DEMO_SNAPSHOT_BYTES`): a producer that publishes synthetic snapshots of a chosen
//! size at the update interval, so fan-out can be measured independent of market data.

use std::fmt::Write as _;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{DemandRx, WorkerCtx};
use crate::core::SnapshotReady;
use crate::driver::WorkerEvent;

/// Approximate bytes of one serialised price level.
const LEVEL_BYTES_APPROX: usize = 64;

/// Starts the synthetic publisher thread.
pub fn spawn(ctx: WorkerCtx, demand: DemandRx, initial: Vec<String>, snapshot_bytes: usize, interval: Duration) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("synthetic-producer".into())
        .spawn(move || run(ctx, demand, initial, snapshot_bytes, interval))
}

fn run(ctx: WorkerCtx, demand: DemandRx, mut symbols: Vec<String>, snapshot_bytes: usize, interval: Duration) {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed);
    let mut next = Instant::now() + until_next_wall_multiple(SystemTime::now(), interval);
    let mut tick: u64 = 0;
    while !ctx.stopping() {
        let wait = next.saturating_duration_since(Instant::now());
        if let Some(newest) = demand.wait(wait) {
            symbols = newest;
        }
        if Instant::now() < next {
            continue;
        }
        next += interval;
        tick += 1;
        for symbol in &symbols {
            let started = Instant::now();
            let data_json = synthetic_data(&mut rng, tick, snapshot_bytes);
            let snapshot = SnapshotReady {
                symbol: symbol.clone(),
                generation: 0,
                timestamp: crate::core::time::iso8601_utc_ms(wall_ms()),
                source: "synthetic".into(),
                data_json,
                computed_at_unix_ms: wall_ms(),
                compute_micros: started.elapsed().as_micros() as u64,
            };
            if !ctx.send(WorkerEvent::Snapshot(snapshot)) && ctx.stopping() {
                return;
            }
        }
    }
}

fn wall_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Time from `now` to the next wall-clock multiple of `interval`. Snapshots fire on those
/// boundaries, as bar closes do, so servers started apart publish at the same instants: two
/// processes then fan out together (the benchmark that stands in for two event loops needs that).
fn until_next_wall_multiple(now: SystemTime, interval: Duration) -> Duration {
    let interval_ns = interval.as_nanos().max(1);
    let since_epoch_ns = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let into_interval_ns = since_epoch_ns % interval_ns;
    Duration::from_nanos((interval_ns - into_interval_ns) as u64)
}

/// A heatmap-shaped `data` object of about `bytes_target` bytes.
pub fn synthetic_data(rng: &mut ChaCha8Rng, tick: u64, bytes_target: usize) -> String {
    let levels = (bytes_target / LEVEL_BYTES_APPROX).max(1);
    let mut out = String::with_capacity(bytes_target + 256);
    let price = 60_000.0 + (tick % 100) as f64 * 10.0;
    let _ = write!(out, "{{\"current_price\":{price:.1},\"levels\":[");
    for i in 0..levels {
        if i > 0 {
            out.push(',');
        }
        let level = price - (levels as f64 / 2.0 - i as f64) * 10.0;
        let long: f64 = if level < price { rng.random_range(0.0..5e6) } else { 0.0 };
        let short: f64 = if level >= price { rng.random_range(0.0..5e6) } else { 0.0 };
        let _ = write!(out, "{{\"price\":{level:.1},\"long_density\":{long:.2},\"short_density\":{short:.2}}}");
    }
    out.push_str("],\"positions_created\":0,\"positions_consumed\":0}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_synthetic_snapshot_waits_for_the_next_wall_clock_boundary() {
        let at = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
        let second = Duration::from_secs(1);
        assert_eq!(until_next_wall_multiple(at(1_781_448_000_250), second), Duration::from_millis(750));
        assert_eq!(until_next_wall_multiple(at(1_781_448_000_999), second), Duration::from_millis(1));
        // On a boundary, the next one is a whole interval away, never zero.
        assert_eq!(until_next_wall_multiple(at(1_781_448_000_000), second), second);
        assert_eq!(until_next_wall_multiple(at(1_781_448_001_000), Duration::from_secs(5)), Duration::from_secs(4));
    }
}
