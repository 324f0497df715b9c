//! `liquidationheatmap backtest`: score the model against realised liquidations (docs/model.md,
//! "Backtest").

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::backtest::{self, BacktestSettings, BootstrapSettings, DataSummary, RESAMPLES_MAX};
use crate::core::time::iso8601_utc_ms;
use crate::engine::{EngineParams, OpeningSplit};
use crate::ingest::ingest_file;
use crate::store::{RealisedBar, Store};

/// Options of `backtest`.
#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// Bars with realised liquidations: CSVs `SYMBOL-INTERVAL-ohlc-oi-...csv` with the columns
    /// open_time,open,high,low,close,open_interest_value,liquidated_long_usd,liquidated_short_usd
    /// (read with the ingest rules, nothing is stored). Without files, --db is read.
    pub paths: Vec<PathBuf>,
    /// Read bars and realised liquidations stored in this database instead of files.
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// The symbol to score (default: the only one with realised liquidations).
    #[arg(long)]
    pub symbol: Option<String>,
    /// Model preset the options below start from: calibrated (the server's default) or legacy.
    #[arg(long, default_value = "calibrated")]
    pub preset: String,
    /// Leverage tiers as leverage:weight,... (e.g. 25:20,50:30,100:30,125:20).
    #[arg(long)]
    pub leverage_weights: Option<String>,
    /// Maintenance margin rate (0.004 = 0.4%).
    #[arg(long)]
    pub mmr: Option<f64>,
    /// Entry prices per opening, spread evenly over the bar's range (1 = VWAP or close), 1..16.
    #[arg(long)]
    pub entry_points: Option<u32>,
    /// How new open interest splits between longs and shorts: even or candle.
    #[arg(long)]
    pub split: Option<String>,
    /// Share of open positions replaced per hour at the current bar, [0, 1).
    #[arg(long)]
    pub turnover_per_hour: Option<f64>,
    /// Share of open positions closed per hour without replacement, [0, 1).
    #[arg(long)]
    pub decay_per_hour: Option<f64>,
    /// Open-interest jump factor above which a one-bar move is treated as missing, or "off".
    #[arg(long)]
    pub oi_jump_max: Option<String>,
    /// Relative grid step of liquidation prices (1e-4 = 1 basis point; 0 = exact), 0..0.01.
    #[arg(long)]
    pub price_step: Option<f64>,
    /// Bars that only warm the model up before scoring starts.
    #[arg(long, default_value_t = 48)]
    pub warmup_bars: usize,
    /// Share of scored bars (largest realised liquidations per side) the level score uses, (0, 1].
    #[arg(long, default_value_t = 0.1)]
    pub top_share: f64,
    /// Bootstrap resamples per interval (1..100000).
    #[arg(long, default_value_t = 1000)]
    pub resamples: usize,
    /// Length in bars of the blocks the bootstrap resamples (keeps short-range dependence).
    #[arg(long, default_value_t = 12)]
    pub block_bars: usize,
    /// Seed of the bootstrap's random generator.
    #[arg(long, default_value_t = 13)]
    pub seed: u64,
    /// Print the figures as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON figures to this file (the page shows frontend/data/model-quality.json).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// Runs the backtest; exit 2 for invalid options, 1 when the data cannot be read or scored.
pub fn backtest_command(args: &BacktestArgs) -> ExitCode {
    let (params, settings) = match options(args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("liquidationheatmap backtest: {message}");
            return ExitCode::from(2);
        }
    };
    let (bars, data) = match load(args) {
        Ok(loaded) => loaded,
        Err(message) => {
            eprintln!("liquidationheatmap backtest: {message}");
            return ExitCode::FAILURE;
        }
    };
    let report = match backtest::run(&bars, &params, &settings, data) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("liquidationheatmap backtest: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = match serde_json::to_string_pretty(&report) {
        Ok(json) => json,
        Err(e) => {
            eprintln!("liquidationheatmap backtest: cannot encode the report: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = &args.output {
        if let Err(e) = std::fs::write(path, format!("{json}\n")) {
            eprintln!("liquidationheatmap backtest: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if args.json {
        println!("{json}");
    } else {
        print!("{report}");
    }
    ExitCode::SUCCESS
}

/// The model parameters and the run settings, validated.
fn options(args: &BacktestArgs) -> Result<(EngineParams, BacktestSettings), String> {
    let mut params = EngineParams::preset(&args.preset)?;
    if let Some(text) = &args.leverage_weights {
        params.tiers = EngineParams::parse_weights(text).map_err(|e| format!("--leverage-weights: {e}"))?;
    }
    if let Some(mmr) = args.mmr {
        params.mmr = mmr;
    }
    if let Some(points) = args.entry_points {
        params.entry_points = points;
    }
    if let Some(split) = &args.split {
        params.split = OpeningSplit::parse(split).map_err(|e| format!("--split: {e}"))?;
    }
    if let Some(rate) = args.turnover_per_hour {
        params.turnover_per_hour = rate;
    }
    if let Some(rate) = args.decay_per_hour {
        params.decay_per_hour = rate;
    }
    if let Some(text) = &args.oi_jump_max {
        params.open_interest_jump_max = match text.trim() {
            "off" => None,
            number => Some(number.parse::<f64>().map_err(|_| {
                format!("--oi-jump-max: {number:?} is neither a number nor \"off\"")
            })?),
        };
    }
    if let Some(step) = args.price_step {
        params.price_step = step;
    }
    params.validate().map_err(|e| format!("invalid model parameters: {e}"))?;
    if !(args.top_share > 0.0 && args.top_share <= 1.0) {
        return Err(format!("--top-share {} is out of range: it must be in (0, 1]", args.top_share));
    }
    if !(1..=RESAMPLES_MAX).contains(&args.resamples) {
        return Err(format!("--resamples {} is out of range: it must be 1 to {RESAMPLES_MAX}", args.resamples));
    }
    if args.block_bars == 0 {
        return Err("--block-bars must be at least 1".to_string());
    }
    let settings = BacktestSettings {
        warmup_bars: args.warmup_bars,
        top_share: args.top_share,
        bootstrap: BootstrapSettings {
            resamples: args.resamples,
            block_bars: args.block_bars,
            seed: args.seed,
            confidence: 0.95,
        },
    };
    Ok((params, settings))
}

/// Reads the bars: files through the ingest rules into a private in-memory database, or the
/// given database.
fn load(args: &BacktestArgs) -> Result<(Vec<RealisedBar>, DataSummary), String> {
    let (store, source) = match (&args.db, args.paths.is_empty()) {
        (Some(_), false) => return Err("give files or --db, not both".to_string()),
        (None, true) => return Err("give the files to read, or --db".to_string()),
        (Some(db), true) => (Store::open(db).map_err(|e| e.to_string())?, db.display().to_string()),
        (None, false) => {
            let store = Store::open_in_memory().map_err(|e| e.to_string())?;
            for path in &args.paths {
                let report = ingest_file(&store, path).map_err(|e| e.to_string())?;
                for warning in &report.warnings {
                    eprintln!("warning: {warning}");
                }
            }
            let names: Vec<String> = args.paths.iter().map(|p| p.display().to_string()).collect();
            (store, names.join(", "))
        }
    };
    let symbol = match &args.symbol {
        Some(symbol) => symbol.clone(),
        None => {
            let mut with_data = Vec::new();
            for symbol in store.symbols().map_err(|e| e.to_string())? {
                if !store.realised_bars(&symbol).map_err(|e| e.to_string())?.1.is_empty() {
                    with_data.push(symbol);
                }
            }
            match with_data.as_slice() {
                [one] => one.clone(),
                [] => return Err(format!("{source} holds no bars with realised liquidations")),
                many => return Err(format!("{source} has realised liquidations of {}: choose one with --symbol", many.join(", "))),
            }
        }
    };
    let (interval_ms, bars) = store.realised_bars(&symbol).map_err(|e| e.to_string())?;
    let (Some(first), Some(last)) = (bars.first(), bars.last()) else {
        return Err(format!("{source} holds no bars with realised liquidations for {symbol}"));
    };
    let data = DataSummary {
        source,
        symbol,
        interval_ms,
        bars: bars.len(),
        warmup_bars: 0,
        scored_bars: 0,
        first_open_time: iso8601_utc_ms(first.bar.open_time_ms),
        last_open_time: iso8601_utc_ms(last.bar.open_time_ms),
    };
    Ok((bars, data))
}
