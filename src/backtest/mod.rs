//! `liquidationheatmap backtest`: replays bars with realised liquidations through the model and
//! scores, per side, how well the modelled liquidations match the ones that really happened,
//! side by side with the naive candle rule. docs/model.md, "Backtest".
//!
//! Figures (per side, on the bars after the warm-up):
//! - Spearman correlation of the modelled liquidated USD per bar (`BarOutcome::consumed_*`) with
//!   the realised USD, and of the candle rule (`(open - low) / open` for longs,
//!   `(high - open) / open` for shorts; `(high - low) / open` overall) with the realised USD,
//!   and their difference, each with a moving-block bootstrap interval;
//! - the level score: over the bars with the largest realised liquidations of the side, the
//!   share of the side's modelled density (the heatmap just before the bar, within
//!   [`LEVEL_WINDOW`] of the open) that lay inside the bar's traded range, against the share a
//!   flat map would put there (the range's width over the window's). Their ratio, the *lift*,
//!   is above 1 when the map puts its density where liquidations then happened.

mod level;
mod report;
pub mod stats;

use crate::engine::{Engine, EngineParams, ParamsError};
use crate::store::RealisedBar;

pub use level::{LevelScore, LEVEL_WINDOW};
pub use report::{BacktestReport, DataSummary, ModelSummary, SideScores, SpearmanScores};
pub use stats::{BootstrapSettings, Estimate, RESAMPLES_MAX};

/// How a backtest is run, besides the model parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestSettings {
    /// Bars at the start that only warm the model up and are not scored.
    pub warmup_bars: usize,
    /// Share of the scored bars, by realised liquidations of the side, that the level score uses.
    pub top_share: f64,
    pub bootstrap: BootstrapSettings,
}

impl Default for BacktestSettings {
    fn default() -> Self {
        BacktestSettings {
            warmup_bars: 48,
            top_share: 0.1,
            bootstrap: BootstrapSettings { resamples: 1000, block_bars: 12, seed: 13, confidence: 0.95 },
        }
    }
}

/// Why a backtest could not run.
#[derive(Debug, Clone, PartialEq)]
pub enum BacktestError {
    Params(ParamsError),
    /// Fewer scored bars than the figures need.
    TooFewBars { bars: usize, warmup_bars: usize, scored_min: usize },
    /// The engine rejected a bar (the ingest checks should have caught it).
    Bar { open_time_ms: i64, reason: String },
}

impl std::fmt::Display for BacktestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BacktestError::Params(e) => write!(f, "invalid model parameters: {e}"),
            BacktestError::TooFewBars { bars, warmup_bars, scored_min } => write!(
                f,
                "{bars} bars with realised liquidations, {warmup_bars} of them warm-up: at least \
                 {scored_min} scored bars are needed"
            ),
            BacktestError::Bar { open_time_ms, reason } => {
                write!(f, "bar at {open_time_ms} rejected by the model: {reason}")
            }
        }
    }
}

impl std::error::Error for BacktestError {}

/// Fewest scored bars a backtest accepts (a rank correlation of fewer says little).
pub const SCORED_BARS_MIN: usize = 20;

/// What the replay produced per bar, and the heatmap before each top bar.
struct Replay {
    consumed_long: Vec<f64>,
    consumed_short: Vec<f64>,
    levels: level::LevelInputs,
}

/// Runs the model over `bars` (oldest first, one symbol, one interval) and scores it.
pub fn run(
    bars: &[RealisedBar],
    params: &EngineParams,
    settings: &BacktestSettings,
    data: DataSummary,
) -> Result<BacktestReport, BacktestError> {
    let warmup = settings.warmup_bars;
    if bars.len() < warmup + SCORED_BARS_MIN {
        return Err(BacktestError::TooFewBars {
            bars: bars.len(),
            warmup_bars: warmup,
            scored_min: SCORED_BARS_MIN,
        });
    }
    let scored = &bars[warmup..];
    let realised_long: Vec<f64> = scored.iter().map(|b| b.liquidated_long_usd).collect();
    let realised_short: Vec<f64> = scored.iter().map(|b| b.liquidated_short_usd).collect();
    let top_long = level::top_bars(&realised_long, settings.top_share);
    let top_short = level::top_bars(&realised_short, settings.top_share);
    let replay = replay(bars, params, warmup, &top_long, &top_short)?;
    let candle_long: Vec<f64> = scored.iter().map(|b| (b.bar.open - b.bar.low) / b.bar.open).collect();
    let candle_short: Vec<f64> = scored.iter().map(|b| (b.bar.high - b.bar.open) / b.bar.open).collect();
    let candle_both: Vec<f64> = scored.iter().map(|b| (b.bar.high - b.bar.low) / b.bar.open).collect();
    let model_both: Vec<f64> = replay.consumed_long.iter().zip(&replay.consumed_short).map(|(l, s)| l + s).collect();
    let realised_both: Vec<f64> = realised_long.iter().zip(&realised_short).map(|(l, s)| l + s).collect();
    let resamples = settings.bootstrap.block_resamples(scored.len());
    let spearman = |model: &[f64], candle: &[f64], realised: &[f64]| {
        SpearmanScores::measure(model, candle, realised, &resamples, &settings.bootstrap)
    };
    Ok(BacktestReport {
        data: DataSummary { scored_bars: scored.len(), warmup_bars: warmup, ..data },
        model: report::ModelSummary::of(params),
        bootstrap: settings.bootstrap,
        top_share: settings.top_share,
        long: SideScores {
            spearman: spearman(&replay.consumed_long, &candle_long, &realised_long),
            level: Some(replay.levels.score_long(&settings.bootstrap)),
        },
        short: SideScores {
            spearman: spearman(&replay.consumed_short, &candle_short, &realised_short),
            level: Some(replay.levels.score_short(&settings.bootstrap)),
        },
        overall: SideScores { spearman: spearman(&model_both, &candle_both, &realised_both), level: None },
    })
}

/// Applies every bar; records the modelled liquidations of the scored bars and, just before each
/// top bar, the side's density around it.
fn replay(
    bars: &[RealisedBar],
    params: &EngineParams,
    warmup: usize,
    top_long: &[usize],
    top_short: &[usize],
) -> Result<Replay, BacktestError> {
    let mut engine = Engine::new(params.clone()).map_err(BacktestError::Params)?;
    let mut out = Replay {
        consumed_long: Vec::with_capacity(bars.len().saturating_sub(warmup)),
        consumed_short: Vec::with_capacity(bars.len().saturating_sub(warmup)),
        levels: level::LevelInputs::default(),
    };
    for (index, realised) in bars.iter().enumerate() {
        if let Some(scored_index) = index.checked_sub(warmup) {
            let bar = &realised.bar;
            if top_long.contains(&scored_index) {
                out.levels.record_long(&engine, bar);
            }
            if top_short.contains(&scored_index) {
                out.levels.record_short(&engine, bar);
            }
        }
        let outcome = engine.apply(&realised.bar).map_err(|e| BacktestError::Bar {
            open_time_ms: realised.bar.open_time_ms,
            reason: e.to_string(),
        })?;
        if index >= warmup {
            out.consumed_long.push(outcome.consumed_long);
            out.consumed_short.push(outcome.consumed_short);
        }
    }
    Ok(out)
}
