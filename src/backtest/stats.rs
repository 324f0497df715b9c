//! Rank correlation and the moving-block bootstrap.
//!
//! Spearman's rho is Pearson's correlation of the ranks, ties taking their average rank (the
//! realised series has many bars with no liquidations at all, so ties matter). The moving-block
//! bootstrap (Künsch 1989) resamples runs of consecutive bars, keeping the short-range dependence
//! of market data that an i.i.d. bootstrap would destroy. Randomness comes only from a seeded
//! ChaCha generator: the same seed gives the same intervals.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Average ranks (0-based) of `values`; ties share the mean of their positions. NaN sorts last.
pub fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut out = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && values[order[end + 1]] == values[order[start]] {
            end += 1;
        }
        let average = (start + end) as f64 / 2.0;
        for &index in &order[start..=end] {
            out[index] = average;
        }
        start = end + 1;
    }
    out
}

/// Pearson's correlation; 0 when either series is constant (no ranking information).
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    debug_assert_eq!(x.len(), y.len());
    let n = x.len() as f64;
    if x.is_empty() {
        return 0.0;
    }
    let (mean_x, mean_y) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mean_x, b - mean_y);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return 0.0;
    }
    sxy / (sxx * syy).sqrt()
}

/// Spearman's rank correlation of two equally long series.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

/// A figure with its bootstrap percentile interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Estimate {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// How the intervals are drawn.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BootstrapSettings {
    pub resamples: usize,
    /// Length of the resampled runs of consecutive bars.
    pub block_bars: usize,
    pub seed: u64,
    /// Coverage of the percentile interval (0.95).
    pub confidence: f64,
}

/// Most bootstrap resamples accepted (each costs a few sorts of the scored bars).
pub const RESAMPLES_MAX: usize = 100_000;

impl BootstrapSettings {
    /// Index lists of `resamples` moving-block resamples of `0..n` (each of length `n`).
    pub fn block_resamples(&self, n: usize) -> Vec<Vec<usize>> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let block = self.block_bars.clamp(1, n.max(1));
        (0..self.resamples)
            .map(|_| {
                let mut indices = Vec::with_capacity(n);
                while indices.len() < n {
                    let start = rng.random_range(0..=(n - block));
                    indices.extend((start..start + block).take(n - indices.len()));
                }
                indices
            })
            .collect()
    }

    /// Index lists of i.i.d. resamples of `0..n` (for rare, separated events such as the bars
    /// with the largest liquidations).
    pub fn iid_resamples(&self, n: usize) -> Vec<Vec<usize>> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x9e37_79b9_7f4a_7c15);
        (0..self.resamples)
            .map(|_| (0..n).map(|_| rng.random_range(0..n.max(1))).collect())
            .collect()
    }

    /// The figure on all data and its percentile interval over `resamples`.
    pub fn estimate(&self, value: f64, mut replicates: Vec<f64>) -> Estimate {
        replicates.retain(|v| v.is_finite());
        if replicates.is_empty() {
            return Estimate { value, low: value, high: value };
        }
        replicates.sort_by(f64::total_cmp);
        let tail = (1.0 - self.confidence) / 2.0;
        let at = |q: f64| {
            let position = (q * (replicates.len() - 1) as f64).round() as usize;
            replicates[position.min(replicates.len() - 1)]
        };
        Estimate { value, low: at(tail), high: at(1.0 - tail) }
    }
}

/// `values` picked at `indices`.
pub fn pick(values: &[f64], indices: &[usize]) -> Vec<f64> {
    indices.iter().map(|&i| values[i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_take_their_average_rank() {
        assert_eq!(ranks(&[10.0, 0.0, 0.0, 5.0]), vec![3.0, 0.5, 0.5, 2.0]);
    }

    #[test]
    fn spearman_is_one_for_any_increasing_relation_and_minus_one_for_decreasing() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y: Vec<f64> = x.iter().map(|v: &f64| v.powi(3)).collect();
        assert!((spearman(&x, &y) - 1.0).abs() < 1e-12);
        let z: Vec<f64> = x.iter().map(|v| -v.exp()).collect();
        assert!((spearman(&x, &z) + 1.0).abs() < 1e-12);
    }

    #[test]
    fn spearman_matches_the_textbook_example() {
        // Ranks differ by d = (0, 0, 1, -1, 0): rho = 1 - 6 * 2 / (5 * 24) = 0.9.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [10.0, 20.0, 40.0, 30.0, 50.0];
        assert!((spearman(&x, &y) - 0.9).abs() < 1e-12);
    }

    #[test]
    fn a_constant_series_has_no_correlation() {
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[0.0, 0.0, 0.0]), 0.0);
    }

    #[test]
    fn the_same_seed_gives_the_same_resamples_and_blocks_are_consecutive() {
        let settings = BootstrapSettings { resamples: 3, block_bars: 4, seed: 7, confidence: 0.95 };
        let a = settings.block_resamples(10);
        assert_eq!(a, settings.block_resamples(10));
        assert!(a.iter().all(|r| r.len() == 10));
        assert_eq!(a[0][1], a[0][0] + 1);
        let other = BootstrapSettings { seed: 8, ..settings };
        assert_ne!(a, other.block_resamples(10));
    }

    #[test]
    fn the_percentile_interval_brackets_the_middle_of_the_replicates() {
        let settings = BootstrapSettings { resamples: 0, block_bars: 1, seed: 0, confidence: 0.9 };
        let replicates: Vec<f64> = (0..=100).map(f64::from).collect();
        let estimate = settings.estimate(50.0, replicates);
        assert_eq!((estimate.low, estimate.high), (5.0, 95.0));
    }
}
