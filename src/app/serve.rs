//! `liquidationheatmap serve`.

use std::io::Write;
use std::time::Duration;

use log::{info, warn};

use crate::config::AppConfig;
use crate::core::{CoreConfig, DemoReplay, Feed};
use crate::feed::FeedKind;
use crate::rest::RestContext;
use crate::shell::{sockets, static_loader, Server};
use crate::store::Store;
use crate::worker::market::{self, ProducerSettings};
use crate::worker::{synthetic, ProducerSpawn, Workers};

/// Why the server could not run.
#[derive(Debug)]
pub enum ServeError {
    /// Bad configuration: exit code 2.
    Config(String),
    /// Anything else: exit code 1.
    Runtime(String),
}

/// Starts the server with `config` and runs until shutdown.
pub fn serve(config: AppConfig) -> Result<(), ServeError> {
    info!("event=config {config}");
    if config.bus.enabled {
        // One running process per NODE_ID (src/bus/presence.rs): refused before anything starts.
        crate::bus::presence::check_at_startup(&config.bus).map_err(ServeError::Config)?;
    }
    match sockets::raise_open_files_limit() {
        Ok(limit) => {
            info!("event=open_files_limit soft={limit}");
            let needed = config.core.ws_connections_max + config.core.http_connections_max + 64;
            if (limit as usize) < needed {
                warn!("event=open_files_limit_low soft={limit} needed={needed} hint=\"lower WS_MAX_CONNECTIONS or raise ulimit -n\"");
            }
        }
        Err(e) => warn!("event=open_files_limit_error error={:?}", e.to_string()),
    }
    // Opened before listening, so a database held by another process stops startup clearly.
    let store = Store::open(&config.duckdb_path).map_err(|e| ServeError::Runtime(e.to_string()))?;
    info!("event=database_open path={:?}", config.duckdb_path);
    let demo = if config.demo_seed {
        crate::demo::seed_if_empty(&store, &config.core.supported_symbols).map_err(|e| ServeError::Runtime(e.to_string()))?
    } else {
        None
    };
    if config.feed == FeedKind::Binance {
        // The live feed's symbols say where their data comes from (REST `meta.source`, snapshots).
        for symbol in &config.core.supported_symbols {
            store.set_source(symbol, "binance", false).map_err(|e| ServeError::Runtime(e.to_string()))?;
        }
    }
    let sources: Vec<(String, String)> =
        store.sources().map_err(|e| ServeError::Runtime(e.to_string()))?.into_iter().map(|(s, src, _)| (s, src)).collect();
    let files = static_loader::load_frontend(&config.frontend_dir, config.frontend_bytes_max)
        .map_err(|e| ServeError::Config(format!("FRONTEND_DIR: {e}")))?;
    info!("event=frontend_loaded dir={:?} files={}", config.frontend_dir, files.len());
    let index = crate::core::INDEX_FILE;
    if files.lookup(&format!("/{index}")).is_err() {
        // Most often the server was started from another folder with the relative default.
        warn!(
            "event=frontend_without_page dir={:?} missing={index} effect=\"GET / answers 404\" \
             fix=\"set FRONTEND_DIR to the repository's frontend folder\"",
            config.frontend_dir
        );
    }
    let server = Server::bind(config.bind_addr())
        .map_err(|e| ServeError::Runtime(format!("cannot listen on {}: {e}", config.bind_addr())))?;
    let addr = server.local_addr();
    info!("event=listening addr={addr}");
    // Printed on stdout so scripts and tests can learn the port when PORT=0.
    println!("listening on http://{addr}/");
    let _ = std::io::stdout().flush();

    if !config.core.ws_enabled {
        warn!("event=ws_disabled detail=\"WS_ENABLED=false: /ws/heatmap answers 503 and no snapshot producer runs\"");
    }
    let data_feed = feed_of(&config, demo.as_deref());
    info!("event=feed {}", data_feed.to_json());
    // The live feed's threads start before the producer, which owns its writer end.
    let feed = match config.feed {
        FeedKind::Binance => {
            info!("event=feed_start kind=binance symbols={}", config.feed_settings.symbols.join(","));
            Some(crate::feed::start(config.feed_settings.clone()).map_err(|e| ServeError::Runtime(format!("cannot start the feed: {e}")))?)
        }
        FeedKind::Demo | FeedKind::None => None,
    };
    let interval = Duration::from_millis(config.core.update_interval_ms);
    // With a live feed the producer also writes the feed's rows, so it runs even without WebSockets.
    let producer: Option<ProducerSpawn> = if !config.core.ws_enabled && config.feed != FeedKind::Binance {
        None
    } else if config.synthetic_snapshot_bytes > 0 {
        let bytes = config.synthetic_snapshot_bytes;
        info!("event=producer kind=synthetic snapshot_bytes={bytes} interval_ms={}", config.core.update_interval_ms);
        Some(Box::new(move |ctx, demand, initial| synthetic::spawn(ctx, demand, initial, bytes, interval)))
    } else {
        let replay_interval = (demo.is_some() && config.demo_replay_interval_ms > 0)
            .then(|| Duration::from_millis(config.demo_replay_interval_ms));
        let settings = ProducerSettings {
            update_interval: interval,
            warmup_days: config.warmup_days,
            engine_params: config.engine_params.clone(),
            inbox: config.ingest_dir.clone(),
            replay_interval,
            sources: sources.clone(),
            feed: feed.as_ref().map(|(link, _)| link.clone()),
        };
        let store = store.try_clone().map_err(|e| ServeError::Runtime(e.to_string()))?;
        Some(market::producer(store, settings, demo))
    };
    let rest_ctx = RestContext {
        supported_symbols: config.core.supported_symbols.clone(),
        warmup_days: config.warmup_days,
        levels_max: config.rest_levels_max,
        engine_params: config.engine_params.clone(),
        sources,
    };
    let queries = Some(market::query_worker(store, rest_ctx));
    let bus = config.bus.enabled.then(|| (config.bus.clone(), config.core.supported_symbols.clone()));
    let start_workers = move |fanout: std::sync::Arc<crate::driver::SnapshotFanout>| {
        // REDIS_ENABLED=true: the bus hub takes the producer's snapshots from the fan-out and
        // decides what every loop shows (src/bus/hub.rs). It is put in front of the fan-out
        // before any worker runs, so no snapshot is ever stamped by the fan-out itself. Without
        // it nothing changes.
        let inlet = match bus {
            Some((settings, supported)) => {
                info!("event=bus_enabled node={} url={:?} lease_ttl_ms={}", settings.node_id, settings.url, settings.lease_ttl_ms);
                Some(crate::bus::BusHandle::intercept(settings, std::sync::Arc::clone(&fanout), supported)?)
            }
            None => None,
        };
        let workers = Workers::start(std::sync::Arc::clone(&fanout), producer, queries)
            .map_err(|e| std::io::Error::other(format!("cannot start worker threads: {e}")))?;
        let workers = match feed {
            Some((link, handle)) => workers.with_feed(handle, link.metrics.clone()),
            None => workers,
        };
        let Some(inlet) = inlet else { return Ok(workers) };
        let handle = inlet.start(workers.demand_control()).map_err(|e| std::io::Error::other(format!("cannot start the Redis bus threads: {e}")))?;
        Ok(workers.with_bus(handle))
    };
    server
        .run(CoreConfig { feed: data_feed, ..config.core.clone() }, files, config.event_loops, start_workers)
        .map_err(|e| ServeError::Runtime(format!("event loop failed: {e}")))
}

/// What the snapshots are made of, for `/api/config` and `/health` (a live feed adds its state
/// there, `core::live_feed`). The demo is replayed only
/// when a market producer runs (WebSockets on, no synthetic load) and `DEMO_REPLAY_INTERVAL` > 0.
fn feed_of(config: &AppConfig, demo: Option<&[crate::demo::DemoSeries]>) -> Feed {
    if config.synthetic_snapshot_bytes > 0 {
        return Feed::SyntheticLoad;
    }
    if config.feed == FeedKind::Binance {
        return Feed::Live { source: "binance".into() };
    }
    let Some((period_start_ms, period_end_ms, replay_from_ms)) = demo.and_then(crate::demo::demo_period) else {
        return Feed::Stored;
    };
    let replayed = config.core.ws_enabled && config.demo_replay_interval_ms > 0;
    let replay = replayed.then_some(DemoReplay { replay_from_ms, replay_interval_ms: config.demo_replay_interval_ms });
    Feed::Demo { period_start_ms, period_end_ms, replay }
}
