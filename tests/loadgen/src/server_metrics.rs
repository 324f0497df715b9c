//! The server's own figures during a run, scraped from its `/metrics` (Prometheus text).
//! Scrapes run on a separate sampler thread so a blocking HTTP request never stalls the client loop
//! (which would show up as delivery latency that the server did not cause).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Longest a scrape may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest `/metrics` response read.
const RESPONSE_BYTES_MAX: u64 = 4 * 1024 * 1024;
/// Samples kept by the sampler (one per interval; a run is bounded in time anyway).
const SAMPLES_MAX: usize = 100_000;

/// One scrape.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ServerSample {
    /// Milliseconds since the run started.
    pub at_ms: u64,
    pub rss_bytes: f64,
    pub cpu_seconds: f64,
    pub active_connections: f64,
    pub queue_bytes: f64,
    pub open_fds: f64,
    pub slow_consumers_total: f64,
    pub dropped_snapshots_total: f64,
    pub messages_sent_total: f64,
    /// `ws_disconnects_total` by reason.
    pub disconnects: BTreeMap<String, f64>,
    /// `ws_broadcast_duration_seconds` over all symbols: cumulative count by upper bound (seconds,
    /// as written), then the sample count and sum.
    pub broadcast_buckets: BTreeMap<String, f64>,
    pub broadcast_count: f64,
    pub broadcast_sum_seconds: f64,
}

/// Fan-out durations over an interval, from the server's histogram: (count, mean seconds, the
/// upper bound of the bucket holding the 99th percentile, in seconds). `None` without broadcasts.
pub fn broadcast_between(start: &ServerSample, end: &ServerSample) -> Option<(f64, f64, f64)> {
    let count = end.broadcast_count - start.broadcast_count;
    if count <= 0.0 {
        return None;
    }
    let mean = (end.broadcast_sum_seconds - start.broadcast_sum_seconds) / count;
    let mut bounds: Vec<(f64, f64)> = end
        .broadcast_buckets
        .iter()
        .filter_map(|(le, &n)| Some((le.parse::<f64>().ok()?, n - start.broadcast_buckets.get(le).copied().unwrap_or(0.0))))
        .collect();
    bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let p99 = bounds.iter().find(|&&(_, cumulative)| cumulative >= 0.99 * count).map_or(f64::INFINITY, |&(le, _)| le);
    Some((count, mean, p99))
}

/// Parses the Prometheus text exposition into a sample (label sets summed, except disconnects).
pub fn parse_metrics(text: &str, at_ms: u64) -> ServerSample {
    let mut sample = ServerSample { at_ms, ..ServerSample::default() };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let Ok(value) = value.parse::<f64>() else { continue };
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        match name {
            "process_resident_memory_bytes" => sample.rss_bytes = value,
            "process_cpu_seconds_total" => sample.cpu_seconds = value,
            "process_open_fds" => sample.open_fds = value,
            "ws_active_connections" => sample.active_connections = value,
            "ws_queue_bytes" => sample.queue_bytes = value,
            "ws_slow_consumers_total" => sample.slow_consumers_total += value,
            "ws_dropped_snapshots_total" => sample.dropped_snapshots_total += value,
            "ws_messages_sent_total" => sample.messages_sent_total += value,
            "ws_broadcast_duration_seconds_bucket" => {
                if let Some(le) = labels.split("le=\"").nth(1).and_then(|rest| rest.split('"').next()) {
                    *sample.broadcast_buckets.entry(le.to_string()).or_default() += value;
                }
            }
            "ws_broadcast_duration_seconds_count" => sample.broadcast_count += value,
            "ws_broadcast_duration_seconds_sum" => sample.broadcast_sum_seconds += value,
            "ws_disconnects_total" => {
                let reason = labels.split('"').nth(1).unwrap_or("").to_string();
                *sample.disconnects.entry(reason).or_default() += value;
            }
            _ => {}
        }
    }
    sample
}

/// Fetches and parses `/metrics` once (blocking, bounded by [`SCRAPE_TIMEOUT`]).
pub fn scrape(target: SocketAddr, at_ms: u64) -> Result<ServerSample, String> {
    let fail = |e: std::io::Error| format!("scraping http://{target}/metrics: {e}");
    let mut stream = TcpStream::connect_timeout(&target, SCRAPE_TIMEOUT).map_err(fail)?;
    stream.set_read_timeout(Some(SCRAPE_TIMEOUT)).map_err(fail)?;
    stream.set_write_timeout(Some(SCRAPE_TIMEOUT)).map_err(fail)?;
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n").map_err(fail)?;
    let mut response = Vec::new();
    stream.take(RESPONSE_BYTES_MAX).read_to_end(&mut response).map_err(fail)?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| format!("http://{target}/metrics: no response head"))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("http://{target}/metrics: {}", head.lines().next().unwrap_or("")));
    }
    Ok(parse_metrics(body, at_ms))
}

/// Scrapes periodically on its own thread until stopped.
pub struct Sampler {
    samples: Arc<Mutex<Vec<ServerSample>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    pub fn start(target: SocketAddr, interval: Duration, origin: Instant) -> std::io::Result<Sampler> {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (samples_w, stop_r) = (samples.clone(), stop.clone());
        let thread = std::thread::Builder::new().name("metrics-sampler".into()).spawn(move || {
            let mut next = Instant::now();
            while !stop_r.load(Ordering::Relaxed) {
                if Instant::now() >= next {
                    next += interval;
                    if let Ok(sample) = scrape(target, origin.elapsed().as_millis() as u64) {
                        let mut samples = samples_w.lock().unwrap_or_else(|p| p.into_inner());
                        if samples.len() < SAMPLES_MAX {
                            samples.push(sample);
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })?;
        Ok(Sampler { samples, stop, thread: Some(thread) })
    }

    /// Samples taken between `from_ms` and `to_ms` (run-relative).
    pub fn between(&self, from_ms: u64, to_ms: u64) -> Vec<ServerSample> {
        let samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        samples.iter().filter(|s| s.at_ms >= from_ms && s.at_ms <= to_ms).cloned().collect()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labelled_series_are_summed_and_disconnects_kept_by_reason() {
        let text = "# TYPE ws_dropped_snapshots counter\n\
                    ws_dropped_snapshots_total{symbol=\"BTCUSDT\"} 3\n\
                    ws_dropped_snapshots_total{symbol=\"ETHUSDT\"} 4\n\
                    ws_disconnects_total{reason=\"slow_consumer\"} 2\n\
                    process_resident_memory_bytes 1.5e7\n\
                    process_cpu_seconds_total 12.25\n";
        let sample = parse_metrics(text, 7);
        assert_eq!(sample.dropped_snapshots_total, 7.0);
        assert_eq!(sample.disconnects.get("slow_consumer"), Some(&2.0));
        assert_eq!(sample.rss_bytes, 15_000_000.0);
        assert_eq!(sample.cpu_seconds, 12.25);
        assert_eq!(sample.at_ms, 7);
    }

    #[test]
    fn broadcast_p99_is_the_first_bucket_bound_holding_99_percent_of_the_interval() {
        let before = parse_metrics(
            "ws_broadcast_duration_seconds_bucket{symbol=\"BTCUSDT\",le=\"0.001\"} 10\n\
             ws_broadcast_duration_seconds_bucket{symbol=\"BTCUSDT\",le=\"0.01\"} 10\n\
             ws_broadcast_duration_seconds_bucket{symbol=\"BTCUSDT\",le=\"+Inf\"} 10\n\
             ws_broadcast_duration_seconds_count{symbol=\"BTCUSDT\"} 10\n\
             ws_broadcast_duration_seconds_sum{symbol=\"BTCUSDT\"} 0.005\n",
            0,
        );
        // 100 more broadcasts: 98 within 1 ms, 2 between 1 and 10 ms.
        let after = parse_metrics(
            "ws_broadcast_duration_seconds_bucket{symbol=\"BTCUSDT\",le=\"0.001\"} 108\n\
             ws_broadcast_duration_seconds_bucket{symbol=\"BTCUSDT\",le=\"0.01\"} 110\n\
             ws_broadcast_duration_seconds_bucket{symbol=\"BTCUSDT\",le=\"+Inf\"} 110\n\
             ws_broadcast_duration_seconds_count{symbol=\"BTCUSDT\"} 110\n\
             ws_broadcast_duration_seconds_sum{symbol=\"BTCUSDT\"} 0.105\n",
            1000,
        );
        let (count, mean, p99) = broadcast_between(&before, &after).unwrap();
        assert_eq!(count, 100.0);
        assert!((mean - 0.001).abs() < 1e-12);
        assert_eq!(p99, 0.01);
    }
}
