//! Configuration from the environment and an optional `.env` file.
//!
//! Every variable is documented in `.env.template` with its default and range. A bad value stops
//! startup with exit code 2 and a message naming the variable and what it accepts.

mod parse;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::core::CoreConfig;
use crate::core::{ECHO_MESSAGE_BYTES_LIMIT, SYMBOLS_MAX};
use crate::feed::{FeedKind, FeedSettings, UrlKind, BAR_INTERVAL_MS};

/// The bus's variables (`.env.template`, "Several servers"). `NODE_ID` defaults to the host name
/// and port (with `PORT=0`, the process id instead of the port).
fn bus_settings(vars: &Vars<'_>, port: u16) -> Result<crate::bus::BusSettings, ConfigError> {
    let defaults = crate::bus::BusSettings::default();
    let default_node = match port {
        0 => format!("{}:pid{}", parse::host_name(), std::process::id()),
        port => format!("{}:{port}", parse::host_name()),
    };
    let settings = crate::bus::BusSettings {
        enabled: vars.boolean("REDIS_ENABLED", false)?,
        url: vars.redis_url("REDIS_URL", &defaults.url)?,
        node_id: vars.node_id("NODE_ID", &default_node)?,
        lease_ttl_ms: vars.integer("REDIS_LEASE_TTL_MS", defaults.lease_ttl_ms, 300, 600_000)?,
        history_messages_max: vars.integer("REDIS_HISTORY_MESSAGES_MAX", defaults.history_messages_max, 1, 100_000)?,
        probe_interval_ms: vars.integer("REDIS_PROBE_INTERVAL_MS", defaults.probe_interval_ms, 50, 600_000)?,
        probe_timeout_ms: vars.integer("REDIS_PROBE_TIMEOUT_MS", defaults.probe_timeout_ms, 100, 3_600_000)?,
        reconnect_backoff_max_ms: vars.integer("REDIS_RECONNECT_BACKOFF_MAX_MS", defaults.reconnect_backoff_max_ms, 100, 600_000)?,
        command_timeout_ms: vars.integer("REDIS_COMMAND_TIMEOUT_MS", defaults.command_timeout_ms, 50, 600_000)?,
    };
    if settings.probe_timeout_ms < 2 * settings.probe_interval_ms {
        return Err(ConfigError {
            variable: "REDIS_PROBE_TIMEOUT_MS".into(),
            message: format!(
                "{} is less than twice REDIS_PROBE_INTERVAL_MS={}: one late probe would rebuild a healthy subscription",
                settings.probe_timeout_ms, settings.probe_interval_ms
            ),
        });
    }
    if settings.command_timeout_ms * 2 > settings.lease_ttl_ms {
        return Err(ConfigError {
            variable: "REDIS_COMMAND_TIMEOUT_MS".into(),
            message: format!(
                "{} is more than half REDIS_LEASE_TTL_MS={}: a slow renewal would lose the lease",
                settings.command_timeout_ms, settings.lease_ttl_ms
            ),
        });
    }
    Ok(settings)
}

/// The exchange's public USDT-M futures stream and REST base URLs.
pub const FEED_WS_URL_DEFAULT: &str = "wss://fstream.binance.com";
pub const FEED_REST_URL_DEFAULT: &str = "https://fapi.binance.com";

pub use parse::ConfigError;
use parse::Vars;

/// Everything the server needs to start.
#[derive(Debug, Clone, PartialEq)]
pub struct AppConfig {
    pub host: IpAddr,
    /// 0 picks a free port (tests); the bound address is printed at startup.
    pub port: u16,
    pub core: CoreConfig,
    pub duckdb_path: PathBuf,
    pub frontend_dir: PathBuf,
    /// Folder watched for files to ingest; `None` turns the inbox off.
    pub ingest_dir: Option<PathBuf>,
    pub log_level: log::LevelFilter,
    /// Seed an empty database with the bundled demo data.
    pub demo_seed: bool,
    /// Append one demo bar this often so the live heatmap moves; 0 turns the replay off.
    pub demo_replay_interval_ms: u64,
    /// Days of history the model runs over before a REST window starts.
    pub warmup_days: u32,
    /// Price levels one heatmap answer may hold (`REST_MAX_LEVELS`).
    pub rest_levels_max: usize,
    /// Test mode: publish synthetic snapshots of this size instead of market data (0 = off).
    pub synthetic_snapshot_bytes: usize,
    /// Most bytes the frontend folder may hold (it is loaded into memory).
    pub frontend_bytes_max: usize,
    /// The liquidation model's parameters (`MODEL_PRESET`: calibrated or legacy).
    pub engine_params: crate::engine::EngineParams,
    /// Where market data comes from (`FEED`).
    pub feed: FeedKind,
    /// The live feed's settings (used when `feed` is `Binance`).
    pub feed_settings: FeedSettings,
    /// The Redis bus between nodes (`REDIS_ENABLED`, issue 15).
    pub bus: crate::bus::BusSettings,
    /// Event-loop threads (`EVENT_LOOPS`: a number, or `auto` for the available cores).
    pub event_loops: usize,
}

/// Most event loops `EVENT_LOOPS` may ask for.
pub const EVENT_LOOPS_MAX: usize = 256;

impl AppConfig {
    /// Reads the process environment, after loading `.env` from the working directory if present.
    /// Variables already set in the environment win over `.env`.
    pub fn from_env() -> Result<AppConfig, ConfigError> {
        let mut vars: BTreeMap<String, String> = BTreeMap::new();
        let dotenv = Path::new(".env");
        if dotenv.exists() {
            for item in dotenvy::from_path_iter(dotenv).map_err(|e| ConfigError::dotenv(dotenv, e))? {
                let (key, value) = item.map_err(|e| ConfigError::dotenv(dotenv, e))?;
                vars.insert(key, value);
            }
        }
        for (key, value) in std::env::vars_os() {
            if let (Ok(key), Ok(value)) = (key.into_string(), value.into_string()) {
                vars.insert(key, value);
            }
        }
        AppConfig::from_vars(&vars)
    }

    /// Builds the configuration from a variable map (the environment, or a test's map).
    pub fn from_vars(map: &BTreeMap<String, String>) -> Result<AppConfig, ConfigError> {
        let vars = Vars::new(map);
        // The core's defaults are the variables' defaults: one value each, in CoreConfig::default.
        let defaults = CoreConfig::default();
        let seconds = |ms: u64| ms as f64 / 1000.0;
        let supported_symbols = vars.symbols("SUPPORTED_SYMBOLS", &defaults.supported_symbols.join(","), SYMBOLS_MAX)?;
        let ws_connections_max = vars.integer("WS_MAX_CONNECTIONS", defaults.ws_connections_max as u64, 1, 1_000_000)? as usize;
        let core = CoreConfig {
            supported_symbols,
            ws_enabled: vars.boolean("WS_ENABLED", defaults.ws_enabled)?,
            ws_echo_enabled: vars.boolean("WS_ECHO_ENABLED", defaults.ws_echo_enabled)?,
            ws_connections_max,
            http_connections_max: vars.integer("HTTP_MAX_CONNECTIONS", defaults.http_connections_max as u64, 1, 1_000_000)? as usize,
            ws_connections_per_address_max: vars.integer("WS_MAX_CONNECTIONS_PER_ADDRESS", defaults.ws_connections_per_address_max as u64, 1, 1_000_000)? as usize,
            http_connections_per_address_max: vars.integer("HTTP_MAX_CONNECTIONS_PER_ADDRESS", defaults.http_connections_per_address_max as u64, 1, 1_000_000)? as usize,
            trusted_proxies: vars.trusted_proxies("TRUSTED_PROXIES")?,
            queue_messages_max: vars.integer("WS_MAX_QUEUE_SIZE", defaults.queue_messages_max as u64, 1, 1000)? as usize,
            queue_bytes_max: vars.integer("WS_MAX_QUEUE_BYTES", defaults.queue_bytes_max as u64, 4096, 1 << 30)? as usize,
            http_pending_bytes_max: vars.integer("HTTP_MAX_PENDING_BYTES", defaults.http_pending_bytes_max as u64, 1 << 20, 1 << 40)? as usize,
            slow_consumer_timeout_ms: vars.seconds_ms("WS_SLOW_CONSUMER_TIMEOUT", seconds(defaults.slow_consumer_timeout_ms), 0.01, 3600.0)?,
            slow_consumer_grace_ms: vars.seconds_ms("WS_SLOW_CONSUMER_GRACE", seconds(defaults.slow_consumer_grace_ms), 0.0, 3600.0)?,
            close_timeout_ms: vars.seconds_ms("WS_CLOSE_TIMEOUT", seconds(defaults.close_timeout_ms), 0.01, 600.0)?,
            idle_timeout_ms: vars.seconds_ms("WS_IDLE_TIMEOUT", seconds(defaults.idle_timeout_ms), 1.0, 86_400.0)?,
            http_request_timeout_ms: vars.seconds_ms("HTTP_REQUEST_TIMEOUT", seconds(defaults.http_request_timeout_ms), 0.1, 3600.0)?,
            shutdown_timeout_ms: vars.seconds_ms("SHUTDOWN_TIMEOUT", seconds(defaults.shutdown_timeout_ms), 0.0, 600.0)?,
            message_bytes_max: defaults.message_bytes_max,
            echo_message_bytes_max: vars.integer("WS_ECHO_MAX_MESSAGE_BYTES", defaults.echo_message_bytes_max as u64, 1024, ECHO_MESSAGE_BYTES_LIMIT as u64)? as usize,
            ws_compression: vars.boolean("WS_COMPRESSION", defaults.ws_compression)?,
            ws_compression_min_bytes: vars.integer("WS_COMPRESSION_MIN_BYTES", defaults.ws_compression_min_bytes as u64, 0, 1 << 30)? as usize,
            http_head_bytes_max: defaults.http_head_bytes_max,
            rate_limit_messages_per_s: vars.integer("WS_RATE_LIMIT", defaults.rate_limit_messages_per_s.into(), 1, 10_000)? as u32,
            rate_limit_burst_messages: vars.integer("WS_RATE_BURST", defaults.rate_limit_burst_messages.into(), 1, 100_000)? as u32,
            symbols_per_request_max: defaults.symbols_per_request_max,
            read_bytes_per_turn_max: defaults.read_bytes_per_turn_max,
            queries_in_flight_max: vars.integer("QUERIES_IN_FLIGHT_MAX", defaults.queries_in_flight_max as u64, 1, 10_000)? as usize,
            update_interval_ms: vars.seconds_ms("WS_UPDATE_INTERVAL", seconds(defaults.update_interval_ms), 0.05, 3600.0)?,
            feed: defaults.feed.clone(),
        };
        if core.ws_echo_enabled && core.echo_queue_bytes_min() > core.queue_bytes_max {
            return Err(ConfigError {
                variable: "WS_ECHO_MAX_MESSAGE_BYTES".to_string(),
                message: format!(
                    "the echo of a {}-byte message does not fit WS_MAX_QUEUE_BYTES={}; raise WS_MAX_QUEUE_BYTES to at least {} or lower WS_ECHO_MAX_MESSAGE_BYTES",
                    core.echo_message_bytes_max,
                    core.queue_bytes_max,
                    core.echo_queue_bytes_min()
                ),
            });
        }
        let feed = FeedKind::parse(&vars.choice("FEED", "demo", &["demo", "binance", "none"])?).unwrap_or(FeedKind::Demo);
        let warmup_days = vars.integer("WARMUP_DAYS", 30, 0, 3650)? as u32;
        let feed_settings = FeedSettings {
            ws_url: vars.base_url("FEED_WS_URL", FEED_WS_URL_DEFAULT, UrlKind::WebSocket)?,
            rest_url: vars.base_url("FEED_REST_URL", FEED_REST_URL_DEFAULT, UrlKind::Rest)?,
            symbols: core.supported_symbols.clone(),
            interval_ms: BAR_INTERVAL_MS,
            warmup_days,
            oi_wait_ms: vars.seconds_ms("FEED_OI_WAIT", 60.0, 0.0, 3600.0)? as i64,
            // The exchange cuts a connection at 24 hours; renewing at 23 leaves a margin.
            connection_max_age: std::time::Duration::from_millis(vars.seconds_ms("FEED_CONNECTION_MAX_AGE", 82_800.0, 1.0, 86_000.0)?),
            jitter_seed: std::process::id() as u64,
        };
        let port = vars.integer("PORT", 8000, 0, 65_535)? as u16;
        let bus = bus_settings(&vars, port)?;
        Ok(AppConfig {
            host: vars.ip("HOST", "127.0.0.1")?,
            port,
            core,
            duckdb_path: vars.path("DUCKDB_PATH", "liquidationheatmap.duckdb")?,
            frontend_dir: vars.path("FRONTEND_DIR", "frontend")?,
            ingest_dir: vars.optional_path("INGEST_DIR")?,
            log_level: vars.log_level("LOG_LEVEL", "info")?,
            // Only the demo feed seeds the bundled data.
            demo_seed: vars.boolean("DEMO_SEED", true)? && feed == FeedKind::Demo,
            demo_replay_interval_ms: vars.seconds_ms("DEMO_REPLAY_INTERVAL", 3.0, 0.0, 86_400.0)?,
            warmup_days,
            rest_levels_max: vars.integer("REST_MAX_LEVELS", 1_000_000, 1000, 100_000_000)? as usize,
            synthetic_snapshot_bytes: vars.integer("DEMO_SNAPSHOT_BYTES", 0, 0, 16 * 1024 * 1024)? as usize,
            frontend_bytes_max: 64 * 1024 * 1024,
            engine_params: vars.model_preset("MODEL_PRESET", "calibrated")?,
            feed,
            feed_settings,
            bus,
            event_loops: vars.threads("EVENT_LOOPS", 1, EVENT_LOOPS_MAX)?,
        })
    }

    /// `host:port` to bind.
    pub fn bind_addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::new(self.host, self.port)
    }
}

impl fmt::Display for AppConfig {
    /// The effective configuration as logfmt, logged at startup.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.core;
        write!(
            f,
            "host={} port={} ws_enabled={} ws_echo_enabled={} ws_echo_max_message_bytes={} ws_update_interval_ms={} \
             ws_max_connections={} http_max_connections={} ws_max_connections_per_address={} \
             http_max_connections_per_address={} trusted_proxies={:?} ws_max_queue_size={} ws_max_queue_bytes={} \
             http_max_pending_bytes={} \
             ws_slow_consumer_timeout_ms={} ws_slow_consumer_grace_ms={} ws_close_timeout_ms={} \
             ws_idle_timeout_ms={} http_request_timeout_ms={} shutdown_timeout_ms={} \
             ws_rate_limit={} ws_rate_burst={} supported_symbols={} duckdb_path={:?} \
             frontend_dir={:?} ingest_dir={:?} log_level={} demo_seed={} demo_replay_interval_ms={} \
             warmup_days={} rest_max_levels={} demo_snapshot_bytes={} model_preset={} feed={} feed_ws_url={:?} \
             feed_rest_url={:?} feed_oi_wait_ms={} feed_connection_max_age_s={} event_loops={} redis_enabled={} redis_url={:?} \
             node_id={:?} redis_lease_ttl_ms={} redis_history_messages_max={} redis_probe_interval_ms={} \
             redis_probe_timeout_ms={}",
            self.host,
            self.port,
            c.ws_enabled,
            c.ws_echo_enabled,
            c.echo_message_bytes_max,
            c.update_interval_ms,
            c.ws_connections_max,
            c.http_connections_max,
            c.ws_connections_per_address_max,
            c.http_connections_per_address_max,
            c.trusted_proxies.to_string(),
            c.queue_messages_max,
            c.queue_bytes_max,
            c.http_pending_bytes_max,
            c.slow_consumer_timeout_ms,
            c.slow_consumer_grace_ms,
            c.close_timeout_ms,
            c.idle_timeout_ms,
            c.http_request_timeout_ms,
            c.shutdown_timeout_ms,
            c.rate_limit_messages_per_s,
            c.rate_limit_burst_messages,
            c.supported_symbols.join(","),
            self.duckdb_path,
            self.frontend_dir,
            self.ingest_dir,
            self.log_level,
            self.demo_seed,
            self.demo_replay_interval_ms,
            self.warmup_days,
            self.rest_levels_max,
            self.synthetic_snapshot_bytes,
            crate::backtest::ModelSummary::of(&self.engine_params).preset,
            self.feed.as_str(),
            self.feed_settings.ws_url.join(UrlKind::WebSocket, ""),
            self.feed_settings.rest_url.join(UrlKind::Rest, ""),
            self.feed_settings.oi_wait_ms,
            self.feed_settings.connection_max_age.as_secs(),
            self.event_loops,
            self.bus.enabled,
            self.bus.url,
            self.bus.node_id,
            self.bus.lease_ttl_ms,
            self.bus.history_messages_max,
            self.bus.probe_interval_ms,
            self.bus.probe_timeout_ms,
        )
    }
}

#[cfg(test)]
mod tests;
