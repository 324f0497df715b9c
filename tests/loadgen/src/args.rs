//! Command-line arguments of `loadgen` and their validation.

use std::net::SocketAddr;
use std::time::Duration;

/// Most connections one run may open (the open-file limit bounds it further).
pub const CONNECTIONS_MAX: usize = 100_000;
/// Longest measured phase.
pub const PHASE_SECONDS_MAX: f64 = 3600.0;
/// Bounds of --rcvbuf-bytes.
pub const RCVBUF_BYTES_MIN: usize = 4096;
pub const RCVBUF_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Symbols a client subscribes to at most (the server's per-client limit).
pub const SYMBOLS_PER_CLIENT_MAX: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// N clients receive snapshots for --duration-s.
    Steady,
    /// A clean phase, then --slow-percent of the clients stop reading; fast clients compared.
    Slow,
    /// Every client disconnects and reconnects at once; time until all are served again.
    Storm,
    /// Constant connect/disconnect (--churn-per-s) beside N steady clients.
    Churn,
    /// N connections that subscribe to nothing; server RSS per connection and idle CPU.
    Idle,
}

/// Opens many WebSocket clients against a server on this host and measures what they feel.
#[derive(Clone, Debug, clap::Args)]
pub struct LoadgenArgs {
    /// Which load to apply.
    #[arg(long, value_enum, default_value = "steady")]
    pub scenario: Scenario,
    /// The server, HOST:PORT; must be a loopback IPv4 address.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub target: SocketAddr,
    /// The WebSocket path.
    #[arg(long, default_value = "/ws/heatmap")]
    pub path: String,
    /// Clients to open (excluding churn's extra clients).
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// New connections per second while ramping up; 0 opens them all at once.
    #[arg(long, default_value_t = 2000.0)]
    pub ramp_per_s: f64,
    /// Comma-separated symbols; client i subscribes to `--symbols-per-client` of them, starting at i mod len.
    #[arg(long, default_value = "BTCUSDT")]
    pub symbols: String,
    /// Symbols each client subscribes to.
    #[arg(long, default_value_t = 1)]
    pub symbols_per_client: usize,
    /// Length of each measured phase, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration_s: f64,
    /// Longest wait for all clients to be served (subscribed and a first snapshot), seconds.
    #[arg(long, default_value_t = 30.0)]
    pub settle_timeout_s: f64,
    /// Percent of the clients that stop reading in the slow scenario.
    #[arg(long, default_value_t = 10.0)]
    pub slow_percent: f64,
    /// Connections closed and opened per second in the churn scenario.
    #[arg(long, default_value_t = 100.0)]
    pub churn_per_s: f64,
    /// Clients per loopback source address (127.0.0.2, 127.0.0.3, ...): well below the ~28k ephemeral
    /// ports of one address, so the TIME_WAIT sockets of earlier runs leave ports free.
    #[arg(long, default_value_t = 1000)]
    pub clients_per_source: usize,
    /// SO_RCVBUF of every client socket in bytes, 0 for the kernel's autotuning (up to tcp_rmem's
    /// max). A small value makes stalled clients reach the server's own bounds within seconds.
    #[arg(long, default_value_t = 0)]
    pub rcvbuf_bytes: usize,
    /// Seconds between application pings per client (the server closes clients silent for WS_IDLE_TIMEOUT); 0 = none.
    #[arg(long, default_value_t = 30.0)]
    pub keepalive_s: f64,
    /// Milliseconds between /metrics scrapes during a phase.
    #[arg(long, default_value_t = 1000)]
    pub scrape_interval_ms: u64,
    /// Seed of the handshake keys and frame masks.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the JSON report here.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
    /// Fail when the delivery p99 (ms) exceeds this (the measured phase; fast clients in `slow`).
    #[arg(long)]
    pub max_p99_ms: Option<f64>,
    /// Fail when the delivery p95 (ms) exceeds this.
    #[arg(long)]
    pub max_p95_ms: Option<f64>,
    /// Fail when fewer than this percent of connection attempts upgrade.
    #[arg(long)]
    pub min_connect_rate: Option<f64>,
    /// Fail when more snapshots than this are lost or out of order.
    #[arg(long)]
    pub max_lost: Option<u64>,
    /// Fail when the storm takes longer than this many seconds to serve everyone again.
    #[arg(long)]
    pub max_served_s: Option<f64>,
    /// Offer permessage-deflate (RFC 7692) as browsers do; snapshot bytes are then counted as
    /// they travel, compressed.
    #[arg(long)]
    pub compression: bool,
    /// Fail when server CPU (percent of one core) over the measured phase exceeds this.
    #[arg(long)]
    pub max_server_cpu_percent: Option<f64>,
    /// Fail when the idle server RSS per connection exceeds this many bytes.
    #[arg(long)]
    pub max_rss_per_connection_bytes: Option<f64>,
    /// Fail when the slow phase's fast-client p99 exceeds this multiple of the clean phase's.
    #[arg(long)]
    pub max_slow_p99_ratio: Option<f64>,
}

/// Arguments checked and converted.
#[derive(Clone, Debug)]
pub struct Plan {
    pub args: LoadgenArgs,
    pub symbols: Vec<String>,
    pub duration: Duration,
    pub settle_timeout: Duration,
    pub keepalive: Option<Duration>,
}

impl LoadgenArgs {
    /// Validates every bound; the error names the flag.
    pub fn plan(&self) -> Result<Plan, String> {
        let ip = self.target.ip();
        if !ip.is_loopback() || !ip.is_ipv4() {
            return Err(format!("--target {}: only IPv4 loopback targets (127.0.0.0/8) are allowed", self.target));
        }
        if self.connections == 0 || self.connections > CONNECTIONS_MAX {
            return Err(format!("--connections {}: must be 1 to {CONNECTIONS_MAX}", self.connections));
        }
        if !self.path.starts_with('/') {
            return Err(format!("--path {:?}: must start with /", self.path));
        }
        let symbols: Vec<String> = self.symbols.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        if symbols.is_empty() || symbols.iter().any(|s| !s.bytes().all(|b| b.is_ascii_alphanumeric())) {
            return Err(format!("--symbols {:?}: a comma-separated list of alphanumeric tickers", self.symbols));
        }
        if self.symbols_per_client == 0 || self.symbols_per_client > SYMBOLS_PER_CLIENT_MAX.min(symbols.len()) {
            return Err(format!("--symbols-per-client {}: must be 1 to {}", self.symbols_per_client, SYMBOLS_PER_CLIENT_MAX.min(symbols.len())));
        }
        let seconds = |flag: &str, value: f64, min: f64| {
            if value.is_finite() && value >= min && value <= PHASE_SECONDS_MAX {
                Ok(Duration::from_secs_f64(value))
            } else {
                Err(format!("{flag} {value}: must be {min} to {PHASE_SECONDS_MAX}"))
            }
        };
        let duration = seconds("--duration-s", self.duration_s, 0.1)?;
        let settle_timeout = seconds("--settle-timeout-s", self.settle_timeout_s, 0.1)?;
        let keepalive = if self.keepalive_s == 0.0 { None } else { Some(seconds("--keepalive-s", self.keepalive_s, 1.0)?) };
        if !(self.ramp_per_s.is_finite() && self.ramp_per_s >= 0.0) {
            return Err(format!("--ramp-per-s {}: must be 0 or more", self.ramp_per_s));
        }
        if !(0.0..=100.0).contains(&self.slow_percent) {
            return Err(format!("--slow-percent {}: must be 0 to 100", self.slow_percent));
        }
        if !(self.churn_per_s.is_finite() && self.churn_per_s > 0.0 && self.churn_per_s <= CONNECTIONS_MAX as f64) {
            return Err(format!("--churn-per-s {}: must be above 0 and at most {CONNECTIONS_MAX}", self.churn_per_s));
        }
        if self.clients_per_source == 0 || self.clients_per_source > 20_000 {
            return Err(format!("--clients-per-source {}: must be 1 to 20000", self.clients_per_source));
        }
        if self.rcvbuf_bytes != 0 && !(RCVBUF_BYTES_MIN..=RCVBUF_BYTES_MAX).contains(&self.rcvbuf_bytes) {
            return Err(format!("--rcvbuf-bytes {}: 0 or {RCVBUF_BYTES_MIN} to {RCVBUF_BYTES_MAX}", self.rcvbuf_bytes));
        }
        if !(100..=60_000).contains(&self.scrape_interval_ms) {
            return Err(format!("--scrape-interval-ms {}: must be 100 to 60000", self.scrape_interval_ms));
        }
        Ok(Plan { args: self.clone(), symbols, duration, settle_timeout, keepalive })
    }
}
