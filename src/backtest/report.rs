//! The backtest's figures: serialised as `--json` (and the page's quality file) and printed as a
//! table for people.

use std::fmt;

use serde::Serialize;

use super::level::{LevelScore, LEVEL_WINDOW};
use super::stats::{pick, spearman, BootstrapSettings, Estimate};
use crate::engine::EngineParams;

/// Where the bars came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataSummary {
    /// The file(s) or database read.
    pub source: String,
    pub symbol: String,
    pub interval_ms: i64,
    /// Bars read (warm-up included).
    pub bars: usize,
    pub warmup_bars: usize,
    pub scored_bars: usize,
    /// Open time of the first and the last bar read, ISO-8601 UTC.
    pub first_open_time: String,
    pub last_open_time: String,
}

/// The model parameters, as the command line spells them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSummary {
    /// `calibrated`, `legacy`, or `custom` when options changed a preset.
    pub preset: String,
    pub leverage_weights: String,
    pub mmr: f64,
    pub entry_points: u32,
    pub split: &'static str,
    pub turnover_per_hour: f64,
    pub decay_per_hour: f64,
    pub open_interest_jump_max: Option<f64>,
    pub price_step: f64,
}

impl ModelSummary {
    pub fn of(params: &EngineParams) -> ModelSummary {
        let preset = ["calibrated", "legacy"]
            .into_iter()
            .find(|name| EngineParams::preset(name).is_ok_and(|p| &p == params))
            .unwrap_or("custom");
        ModelSummary {
            preset: preset.to_string(),
            leverage_weights: params
                .tiers
                .iter()
                .map(|t| format!("{}:{}", t.leverage, t.weight))
                .collect::<Vec<_>>()
                .join(","),
            mmr: params.mmr,
            entry_points: params.entry_points,
            split: params.split.name(),
            turnover_per_hour: params.turnover_per_hour,
            decay_per_hour: params.decay_per_hour,
            open_interest_jump_max: params.open_interest_jump_max,
            price_step: params.price_step,
        }
    }
}

/// Spearman correlations with the realised liquidations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SpearmanScores {
    pub model: Estimate,
    /// The candle rule.
    pub candle: Estimate,
    /// model - candle, with the interval of the difference (paired resamples).
    pub difference: Estimate,
}

impl SpearmanScores {
    pub fn measure(
        model: &[f64],
        candle: &[f64],
        realised: &[f64],
        resamples: &[Vec<usize>],
        bootstrap: &BootstrapSettings,
    ) -> SpearmanScores {
        let (m, c) = (spearman(model, realised), spearman(candle, realised));
        let mut model_r = Vec::with_capacity(resamples.len());
        let mut candle_r = Vec::with_capacity(resamples.len());
        let mut diff_r = Vec::with_capacity(resamples.len());
        for indices in resamples {
            let realised = pick(realised, indices);
            let rm = spearman(&pick(model, indices), &realised);
            let rc = spearman(&pick(candle, indices), &realised);
            model_r.push(rm);
            candle_r.push(rc);
            diff_r.push(rm - rc);
        }
        SpearmanScores {
            model: bootstrap.estimate(m, model_r),
            candle: bootstrap.estimate(c, candle_r),
            difference: bootstrap.estimate(m - c, diff_r),
        }
    }
}

/// The scores of one side (or of both together, without a level score).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SideScores {
    pub spearman: SpearmanScores,
    pub level: Option<LevelScore>,
}

/// Everything `backtest` measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacktestReport {
    pub data: DataSummary,
    pub model: ModelSummary,
    pub bootstrap: BootstrapSettings,
    /// Share of scored bars the level score uses, per side.
    pub top_share: f64,
    pub long: SideScores,
    pub short: SideScores,
    pub overall: SideScores,
}

fn interval(e: &Estimate) -> String {
    format!("{:.3} [{:.3}, {:.3}]", e.value, e.low, e.high)
}

fn signed(e: &Estimate) -> String {
    format!("{:+.3} [{:+.3}, {:+.3}]", e.value, e.low, e.high)
}

impl fmt::Display for BacktestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.data;
        let m = &self.model;
        writeln!(
            f,
            "Backtest of {} {} min bars from {}: {} bars {} .. {}, {} scored after {} warm-up bars",
            d.symbol,
            d.interval_ms / 60_000,
            d.source,
            d.bars,
            d.first_open_time,
            d.last_open_time,
            d.scored_bars,
            d.warmup_bars
        )?;
        let jump = m.open_interest_jump_max.map_or("off".to_string(), |j| j.to_string());
        writeln!(
            f,
            "Model {}: leverage {}, mmr {}, entry points {}, split {}, turnover {}/h, decay {}/h, \
             OI jump max {jump}, price step {}",
            m.preset, m.leverage_weights, m.mmr, m.entry_points, m.split, m.turnover_per_hour,
            m.decay_per_hour, m.price_step
        )?;
        let b = &self.bootstrap;
        writeln!(
            f,
            "Intervals: {:.0}% moving-block bootstrap, {} resamples of {}-bar blocks, seed {}",
            b.confidence * 100.0,
            b.resamples,
            b.block_bars,
            b.seed
        )?;
        writeln!(f)?;
        writeln!(f, "Spearman, modelled vs realised liquidated USD per bar")?;
        writeln!(f, "{:<8} {:<24} {:<24} {:<27}", "side", "model", "candle rule", "model - candle")?;
        for (name, side) in [("long", &self.long), ("short", &self.short), ("overall", &self.overall)] {
            let s = &side.spearman;
            writeln!(f, "{name:<8} {:<24} {:<24} {:<27}", interval(&s.model), interval(&s.candle), signed(&s.difference))?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "Level score: the {:.0}% of bars with the largest realised liquidations per side; share of \
             the side's modelled density within {:.0}% of the open that lay inside the bar's range",
            self.top_share * 100.0,
            LEVEL_WINDOW * 100.0
        )?;
        writeln!(f, "{:<8} {:>5}  {:<24} {:<10} {:<24}", "side", "bars", "inside share", "flat map", "lift (inside / flat)")?;
        for (name, side) in [("long", &self.long), ("short", &self.short)] {
            if let Some(level) = &side.level {
                writeln!(
                    f,
                    "{name:<8} {:>5}  {:<24} {:<10.3} {:<24}",
                    level.top_bars,
                    interval(&level.inside_share),
                    level.flat_share,
                    interval(&level.lift)
                )?;
            }
        }
        Ok(())
    }
}
