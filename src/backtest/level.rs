//! The level score: did the map put its density where liquidations then happened?

use serde::Serialize;

use super::stats::{BootstrapSettings, Estimate};
use crate::engine::{default_bin_size, Bar, BarOutcome, Engine};

/// Half-width of the price window around the bar's open the density is compared over (5%:
/// farther than a 30-minute bar moves, near enough to be the part of the map a trader reads).
pub const LEVEL_WINDOW: f64 = 0.05;
/// The map is read at this fraction of the default bin size (finer than any bar's range).
const BIN_FRACTION: f64 = 0.1;

/// The level score of one side.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LevelScore {
    /// Bars scored: the side's largest realised liquidations.
    pub top_bars: usize,
    /// Mean share of the side's density within the window that lay inside the bar's range.
    pub inside_share: Estimate,
    /// Mean share a flat map would have there (range width over window width).
    pub flat_share: f64,
    /// inside_share / flat_share: above 1 when the map beats a flat one.
    pub lift: Estimate,
}

/// Indices of the `share` largest values (at least one), largest first; ties by position.
pub fn top_bars(values: &[f64], share: f64) -> Vec<usize> {
    let count = ((values.len() as f64 * share).ceil() as usize).clamp(1, values.len().max(1));
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    order.truncate(count);
    order
}

/// Per top bar: (density inside the range, density in the window, flat share).
#[derive(Debug, Default)]
pub struct LevelInputs {
    long: Vec<(f64, f64, f64)>,
    short: Vec<(f64, f64, f64)>,
}

impl LevelInputs {
    pub fn record_long(&mut self, engine: &Engine, bar: &Bar) {
        if let Some(row) = measure(engine, bar, |level| level.long_density) {
            self.long.push(row);
        }
    }

    pub fn record_short(&mut self, engine: &Engine, bar: &Bar) {
        if let Some(row) = measure(engine, bar, |level| level.short_density) {
            self.short.push(row);
        }
    }

    pub fn score_long(&self, bootstrap: &BootstrapSettings) -> LevelScore {
        score(&self.long, bootstrap)
    }

    pub fn score_short(&self, bootstrap: &BootstrapSettings) -> LevelScore {
        score(&self.short, bootstrap)
    }
}

/// The side's density inside the bar's range and within the window, from the map before the bar.
/// `None` before the first bar.
fn measure(
    engine: &Engine,
    bar: &Bar,
    density: impl Fn(&crate::engine::Level) -> f64,
) -> Option<(f64, f64, f64)> {
    let bin = default_bin_size(bar.open) * BIN_FRACTION;
    let snapshot = engine.snapshot(bin, &BarOutcome::default()).ok()?;
    let (window_low, window_high) = (bar.open * (1.0 - LEVEL_WINDOW), bar.open * (1.0 + LEVEL_WINDOW));
    let (mut inside, mut window) = (0.0, 0.0);
    for level in &snapshot.levels {
        // A level holds the positions liquidated in [price, price + bin).
        let (from, to) = (level.price, level.price + bin);
        if to <= window_low || from > window_high {
            continue;
        }
        let value = density(level);
        window += value;
        if to > bar.low && from <= bar.high {
            inside += value;
        }
    }
    let flat = (bar.high.min(window_high) - bar.low.max(window_low)).max(0.0) / (window_high - window_low);
    Some((inside, window, flat))
}

fn score(rows: &[(f64, f64, f64)], bootstrap: &BootstrapSettings) -> LevelScore {
    let shares: Vec<f64> = rows
        .iter()
        .map(|&(inside, window, _)| if window > 0.0 { inside / window } else { 0.0 })
        .collect();
    let flats: Vec<f64> = rows.iter().map(|row| row.2).collect();
    let mean = |values: &[f64]| if values.is_empty() { 0.0 } else { values.iter().sum::<f64>() / values.len() as f64 };
    let lift_of = |share: f64, flat: f64| if flat > 0.0 { share / flat } else { 0.0 };
    let (share, flat) = (mean(&shares), mean(&flats));
    let resamples = bootstrap.iid_resamples(rows.len());
    let share_replicates: Vec<f64> = resamples.iter().map(|r| mean(&super::stats::pick(&shares, r))).collect();
    let lift_replicates: Vec<f64> = resamples
        .iter()
        .map(|r| lift_of(mean(&super::stats::pick(&shares, r)), mean(&super::stats::pick(&flats, r))))
        .collect();
    LevelScore {
        top_bars: rows.len(),
        inside_share: bootstrap.estimate(share, share_replicates),
        flat_share: flat,
        lift: bootstrap.estimate(lift_of(share, flat), lift_replicates),
    }
}
