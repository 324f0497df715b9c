//! Deterministic synthetic bar series: [`synthetic_bars`] for the engine benchmark, and
//! [`correlated_bars`], a second market moving with a real one, for the ETHUSDT demo symbol.
//!
//! Log returns follow a GARCH(1,1)-style process (volatility clusters) with rare jumps; open
//! interest tracks the price (contracts times price), mean-reverts slowly, builds up in calm
//! periods and is flushed out on violent moves. Every bar carries volume, quote volume and
//! taker-buy volume, so the engine's VWAP entry and taker-share paths are exercised.

use crate::engine::Bar;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// At most this many bars are generated (about 9.5 years of 1-minute bars).
pub const SYNTHETIC_BARS_MAX: usize = 5_000_000;

const DAY_MS: f64 = 86_400_000.0;
/// Typical daily volatility of a large crypto asset.
const DAILY_VOLATILITY: f64 = 0.035;
/// GARCH weights: reaction to the last shock and persistence of the variance.
const SHOCK_WEIGHT: f64 = 0.08;
const PERSISTENCE: f64 = 0.90;
/// Volatility is capped at this multiple of the baseline.
const VOLATILITY_CAP_RATIO: f64 = 8.0;
/// Chance per bar of a jump, and its size in baseline volatilities.
const JUMP_PROBABILITY: f64 = 0.002;
const JUMP_SIZE_RATIO: f64 = 6.0;
/// Daily traded volume as a multiple of open interest.
const DAILY_TURNOVER: f64 = 3.0;
/// Fraction of the gap to the price-implied open interest closed per bar.
const OPEN_INTEREST_REVERSION: f64 = 0.002;
/// Moves beyond this many baseline volatilities flush open interest (deleveraging).
const FLUSH_THRESHOLD_RATIO: f64 = 3.0;
/// Prices are rounded to a tick of about this fraction of the start price (0.01 for ~3,000).
const TICK_DIGITS_BELOW_PRICE: i32 = 5;

/// `count` bars from `start_ms`, `bar_ms` apart. The same arguments always give identical bars.
/// Returns no bars when `start_price` is not positive and finite, `bar_ms` is not positive or
/// `start_oi_usd` is negative or not finite; stops early rather than exceed i64 time.
pub fn synthetic_bars(
    seed: u64,
    start_ms: i64,
    bar_ms: i64,
    count: usize,
    start_price: f64,
    start_oi_usd: f64,
) -> Vec<Bar> {
    let valid = start_price.is_finite()
        && start_price > 0.0
        && bar_ms > 0
        && start_oi_usd.is_finite()
        && start_oi_usd >= 0.0;
    if !valid {
        return Vec::new();
    }
    let count = count.min(SYNTHETIC_BARS_MAX);
    let mut walk = Walk::new(seed, bar_ms, start_price, start_oi_usd);
    let mut bars = Vec::with_capacity(count);
    for index in 0..count {
        let Some(open_time_ms) = (index as i64)
            .checked_mul(bar_ms)
            .and_then(|offset| start_ms.checked_add(offset))
        else {
            break;
        };
        bars.push(walk.next_bar(open_time_ms));
    }
    bars
}

/// How a correlated series follows its reference.
#[derive(Debug, Clone, Copy)]
struct Correlation {
    /// Beta of the 5-minute returns to the reference's (ETH to BTC is about 1.1 to 1.3).
    beta: f64,
    /// Own (idiosyncratic) move per bar, as a share of the reference's mean absolute bar return.
    idiosyncratic_share: f64,
    /// Own open-interest noise per bar (log) and the share of its deviation removed per bar.
    open_interest_noise: f64,
    open_interest_noise_reversion: f64,
    /// Log growth of open interest per bar on top of the reference's shape: leverage building up
    /// (+0.9 % a day for 5-minute bars). Without it the series copies the reference's fragile
    /// spots, where the model holds little and one falling bar closes everything (a wall); with
    /// it no bar of the demo's default view closes more than about a third, for any seed.
    open_interest_drift: f64,
}

const CORRELATION: Correlation = Correlation {
    beta: 1.2,
    idiosyncratic_share: 0.5,
    open_interest_noise: 0.0002,
    open_interest_noise_reversion: 0.005,
    open_interest_drift: 0.00003,
};

/// A second market that moves with `reference` (same open times): log returns are
/// [`CORRELATION`]`.beta` times the reference's plus its own noise, wicks are the reference's scaled
/// the same way, and open interest has the reference's shape scaled to `start_oi_usd`, with a
/// little noise of its own and a slow build-up. Prices start at `start_price` (on a tick of about 1e-5 of it).
///
/// Why not [`synthetic_bars`] for the demo: the model reads every fall of open interest as
/// positions closed in proportion, so an open interest that wanders to a new low closes every
/// position at once, and a chart shows every band ending in one vertical wall. Real open interest
/// does that far less, and one shaped by a real week does it where the real week does.
/// Bars without open interest in `reference` have none here either. Returns no bars when
/// `start_price` is not positive and finite or `start_oi_usd` is negative or not finite.
pub fn correlated_bars(reference: &[Bar], seed: u64, start_price: f64, start_oi_usd: f64) -> Vec<Bar> {
    correlated_bars_with(CORRELATION, reference, seed, start_price, start_oi_usd)
}

fn correlated_bars_with(c: Correlation, reference: &[Bar], seed: u64, start_price: f64, start_oi_usd: f64) -> Vec<Bar> {
    let valid = start_price.is_finite() && start_price > 0.0 && start_oi_usd.is_finite() && start_oi_usd >= 0.0;
    let Some(first) = reference.first().filter(|_| valid) else {
        return Vec::new();
    };
    let oi_ratio = first.open_interest_usd.filter(|oi| *oi > 0.0).map_or(0.0, |oi| start_oi_usd / oi);
    let returns: Vec<f64> = reference.windows(2).map(|pair| (pair[1].close / pair[0].close).ln()).collect();
    let typical_move = returns.iter().map(|r| r.abs()).sum::<f64>() / returns.len().max(1) as f64;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let tick = Tick::for_price(start_price);
    let mut price = tick.round(start_price);
    let mut deviation = 0.0;
    let mut bars = Vec::with_capacity(reference.len());
    for (index, bar) in reference.iter().enumerate() {
        let reference_return = if index == 0 { (bar.close / bar.open).ln() } else { returns[index - 1] };
        let own = c.idiosyncratic_share * typical_move * standard_normal(&mut rng);
        let open = price;
        let close = tick.round(open * (c.beta * reference_return + own).exp());
        let wick_up = (bar.high / bar.open.max(bar.close)).ln().max(0.0);
        let wick_down = (bar.open.min(bar.close) / bar.low).ln().max(0.0);
        let high = tick.round(open.max(close) * (c.beta * wick_up).exp());
        let low = tick.round(open.min(close) * (-c.beta * wick_down).exp());
        deviation = deviation * (1.0 - c.open_interest_noise_reversion) + c.open_interest_noise * standard_normal(&mut rng);
        let growth = c.open_interest_drift * index as f64;
        price = close;
        bars.push(Bar {
            open_time_ms: bar.open_time_ms,
            open,
            high,
            low,
            close,
            volume: None,
            quote_volume: None,
            taker_buy_volume: None,
            open_interest_usd: bar.open_interest_usd.map(|oi| oi * oi_ratio * (deviation + growth).exp()),
        });
    }
    bars
}

/// Standard normal by the Box-Muller transform.
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let uniform: f64 = rng.random();
    let angle: f64 = rng.random();
    // 1 - uniform is in (0, 1], so the logarithm is finite.
    (-2.0 * (1.0 - uniform).ln()).sqrt() * (std::f64::consts::TAU * angle).cos()
}

/// State of the random walk between bars.
struct Walk {
    rng: ChaCha8Rng,
    tick: Tick,
    baseline_volatility: f64,
    variance: f64,
    last_shock: f64,
    price: f64,
    open_interest: f64,
    /// Open interest per unit of price: the "contracts" the open interest reverts towards.
    contracts: f64,
    bar_turnover: f64,
}

impl Walk {
    fn new(seed: u64, bar_ms: i64, start_price: f64, start_oi_usd: f64) -> Self {
        let days_per_bar = bar_ms as f64 / DAY_MS;
        let baseline_volatility = DAILY_VOLATILITY * days_per_bar.sqrt();
        let tick = Tick::for_price(start_price);
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            tick,
            baseline_volatility,
            variance: baseline_volatility * baseline_volatility,
            last_shock: 0.0,
            price: tick.round(start_price),
            open_interest: start_oi_usd,
            contracts: start_oi_usd / start_price,
            bar_turnover: DAILY_TURNOVER * days_per_bar,
        }
    }

    fn next_bar(&mut self, open_time_ms: i64) -> Bar {
        let volatility = self.next_volatility();
        let mut log_return = volatility * self.normal();
        if self.rng.random::<f64>() < JUMP_PROBABILITY {
            log_return += JUMP_SIZE_RATIO * self.baseline_volatility * self.normal();
        }
        self.last_shock = log_return;
        let open = self.price;
        let close = self.tick.round(open * log_return.exp());
        let (wick_up, wick_down) = (self.normal().abs(), self.normal().abs());
        let high = self
            .tick
            .round(open.max(close) * (0.6 * volatility * wick_up).exp());
        let low = self
            .tick
            .round(open.min(close) * (-0.6 * volatility * wick_down).exp());
        // Most trading happens between open and close, some anywhere in the range.
        let anywhere = low + (high - low) * self.rng.random::<f64>();
        let vwap = 0.7 * 0.5 * (open + close) + 0.3 * anywhere;
        let activity = 0.5 + (log_return / self.baseline_volatility).abs();
        let noise = (0.3 * self.normal()).exp();
        let volume = self.open_interest.max(1.0) * self.bar_turnover * activity * noise / vwap;
        let buy_share = (0.5 + 0.35 * (log_return / volatility).tanh() + 0.05 * self.normal())
            .clamp(0.02, 0.98);
        self.price = close;
        self.advance_open_interest(log_return, volatility);
        Bar {
            open_time_ms,
            open,
            high,
            low,
            close,
            volume: Some(volume),
            quote_volume: Some(volume * vwap),
            taker_buy_volume: Some(volume * buy_share),
            open_interest_usd: Some(self.open_interest),
        }
    }

    fn next_volatility(&mut self) -> f64 {
        let baseline_variance = self.baseline_volatility * self.baseline_volatility;
        self.variance = baseline_variance * (1.0 - SHOCK_WEIGHT - PERSISTENCE)
            + SHOCK_WEIGHT * self.last_shock * self.last_shock
            + PERSISTENCE * self.variance;
        self.variance
            .sqrt()
            .min(VOLATILITY_CAP_RATIO * self.baseline_volatility)
    }

    fn advance_open_interest(&mut self, log_return: f64, volatility: f64) {
        if self.open_interest <= 0.0 {
            return;
        }
        let implied = self.contracts * self.price;
        let reversion = OPEN_INTEREST_REVERSION * (implied / self.open_interest).ln();
        // Calm markets build positions; violent moves flush them.
        let calm_build_up = 0.1
            * self.baseline_volatility
            * (1.0 - volatility / self.baseline_volatility).max(-1.0);
        let size = (log_return / self.baseline_volatility).abs();
        let flush = if size > FLUSH_THRESHOLD_RATIO {
            -0.4 * log_return.abs()
        } else {
            0.0
        };
        let noise = 0.3 * self.baseline_volatility * self.normal();
        self.open_interest *= (log_return + reversion + calm_build_up + flush + noise).exp();
    }

    fn normal(&mut self) -> f64 {
        standard_normal(&mut self.rng)
    }
}

/// Price tick: a power of ten about 1e-5 of the start price, like exchange tick sizes.
#[derive(Clone, Copy)]
struct Tick {
    /// Ticks per unit of price when the tick is below 1 (so rounding gives clean decimals).
    per_unit: Option<f64>,
    size: f64,
}

impl Tick {
    fn for_price(price: f64) -> Self {
        let exponent = price.log10().floor() as i32 - TICK_DIGITS_BELOW_PRICE;
        if exponent >= 0 {
            Self {
                per_unit: None,
                size: 10f64.powi(exponent),
            }
        } else {
            let per_unit = 10f64.powi(-exponent);
            Self {
                per_unit: Some(per_unit),
                size: 1.0 / per_unit,
            }
        }
    }

    /// Nearest tick, never below one tick (prices stay positive).
    fn round(&self, price: f64) -> f64 {
        let rounded = match self.per_unit {
            Some(per_unit) => (price * per_unit).round() / per_unit,
            None => (price / self.size).round() * self.size,
        };
        rounded.max(self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, EngineParams};

    const START_MS: i64 = 1_780_790_400_000;
    const MINUTE_MS: i64 = 60_000;

    #[test]
    fn same_seed_gives_identical_bars() {
        let first = synthetic_bars(7, START_MS, MINUTE_MS, 5_000, 3_000.0, 3e9);
        let second = synthetic_bars(7, START_MS, MINUTE_MS, 5_000, 3_000.0, 3e9);
        assert_eq!(first, second);
    }

    #[test]
    fn different_seeds_give_different_bars() {
        let first = synthetic_bars(7, START_MS, MINUTE_MS, 100, 3_000.0, 3e9);
        let second = synthetic_bars(8, START_MS, MINUTE_MS, 100, 3_000.0, 3e9);
        assert_ne!(first, second);
    }

    #[test]
    fn bars_are_consecutive_and_accepted_by_the_engine() {
        let bars = synthetic_bars(1, START_MS, MINUTE_MS, 20_000, 3_000.0, 3e9);
        let mut engine = Engine::new(EngineParams::default()).unwrap();
        for (index, bar) in bars.iter().enumerate() {
            assert_eq!(bar.open_time_ms, START_MS + index as i64 * MINUTE_MS);
            if let Err(error) = engine.apply(bar) {
                panic!("bar {index} rejected: {error}");
            }
        }
        assert!(engine.position_count() > 0);
    }

    #[test]
    fn price_and_open_interest_stay_near_their_start_for_a_day() {
        let bars = synthetic_bars(3, START_MS, MINUTE_MS, 1_440, 3_000.0, 3e9);
        for bar in &bars {
            assert!(
                (2_000.0..4_500.0).contains(&bar.close),
                "close {}",
                bar.close
            );
            let open_interest = bar.open_interest_usd.unwrap();
            assert!(
                (1.5e9..6e9).contains(&open_interest),
                "open interest {open_interest}"
            );
        }
    }

    #[test]
    fn volatility_clusters() {
        // Absolute returns are positively autocorrelated under volatility clustering (and are
        // not for an i.i.d. walk).
        let bars = synthetic_bars(11, START_MS, MINUTE_MS, 50_000, 3_000.0, 3e9);
        let sizes: Vec<f64> = bars
            .iter()
            .map(|bar| (bar.close / bar.open).ln().abs())
            .collect();
        let mean = sizes.iter().sum::<f64>() / sizes.len() as f64;
        let lagged: f64 = sizes
            .windows(2)
            .map(|pair| (pair[0] - mean) * (pair[1] - mean))
            .sum();
        let variance: f64 = sizes.iter().map(|size| (size - mean) * (size - mean)).sum();
        assert!(
            lagged / variance > 0.05,
            "lag-1 autocorrelation {}",
            lagged / variance
        );
    }

    #[test]
    fn prices_sit_on_the_tick() {
        let bars = synthetic_bars(5, START_MS, MINUTE_MS, 1_000, 3_000.0, 3e9);
        for bar in &bars {
            let ticks = bar.close * 100.0;
            assert!((ticks - ticks.round()).abs() < 1e-6, "close {}", bar.close);
        }
    }

    #[test]
    fn invalid_start_price_gives_no_bars() {
        assert!(synthetic_bars(1, START_MS, MINUTE_MS, 10, f64::NAN, 3e9).is_empty());
        assert!(synthetic_bars(1, START_MS, MINUTE_MS, 10, 0.0, 3e9).is_empty());
    }

    /// Largest share of the model's open notional one bar closes, over `bars[from..]`. A "wall":
    /// one bar closing (nearly) everything, so every band on both sides ends in the same column.
    fn largest_close_share(bars: &[Bar], from: usize, params: EngineParams) -> (f64, usize) {
        let mut engine = Engine::new(params).unwrap();
        let mut largest = (0.0, 0);
        for (index, bar) in bars.iter().enumerate() {
            let open = engine.open_long_usd() + engine.open_short_usd();
            let outcome = engine.apply(bar).unwrap();
            if index >= from && open > 0.0 && outcome.closed / open > largest.0 {
                largest = (outcome.closed / open, index);
            }
        }
        largest
    }

    fn real_week() -> Vec<Bar> {
        let text = include_str!("data/BTCUSDT-5m-ohlc-oi-2026-06-07_2026-06-14.csv");
        text.lines()
            .skip(1)
            .map(|line| {
                let f: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
                Bar {
                    open_time_ms: f[0] as i64,
                    open: f[1],
                    high: f[2],
                    low: f[3],
                    close: f[4],
                    volume: None,
                    quote_volume: None,
                    taker_buy_volume: None,
                    open_interest_usd: Some(f[5]),
                }
            })
            .collect()
    }

    /// The default view is the last 48 hours (576 five-minute bars), the replayed day included.
    const DEFAULT_VIEW_BARS: usize = 576;
    /// Closing this much of everything in one bar reads as a wall on the chart.
    const WALL_SHARE: f64 = 0.9;

    #[test]
    fn the_correlated_demo_series_has_no_wall_in_the_default_view_for_any_seed() {
        let week = real_week();
        let from = week.len() - DEFAULT_VIEW_BARS;
        // Under the server's model and the legacy one (still selectable with MODEL_PRESET=legacy).
        for params in [EngineParams::calibrated(), EngineParams::legacy()] {
            let (real, _) = largest_close_share(&week, from, params.clone());
            assert!(real < WALL_SHARE, "the real week itself has a wall ({real})");
            for seed in 0..16 {
                let bars = correlated_bars(&week, seed, 3_000.0, 3e9);
                assert_eq!(bars.len(), week.len());
                let (share, index) = largest_close_share(&bars, from, params.clone());
                assert!(share < WALL_SHARE, "seed {seed}: bar {index} closes {:.0} % of all positions", share * 100.0);
            }
        }
    }

    #[test]
    fn the_independent_walk_has_walls_which_is_why_the_demo_does_not_use_it() {
        // Under the legacy model, where the walls were seen; the calibrated model (an even split,
        // entries over the bar's range) closes less per bar, but the series stays implausible.
        let week = real_week();
        let bars = synthetic_bars(0xE7A5_EED5, week[0].open_time_ms, 300_000, week.len(), 3_000.0, 3e9);
        let (share, _) = largest_close_share(&bars, week.len() - DEFAULT_VIEW_BARS, EngineParams::legacy());
        assert!(share >= WALL_SHARE, "{share}");
    }

    #[test]
    fn the_correlated_series_moves_with_its_reference_and_is_accepted_by_the_engine() {
        let week = real_week();
        let bars = correlated_bars(&week, 7, 3_000.0, 3e9);
        let returns = |b: &[Bar]| -> Vec<f64> { b.windows(2).map(|p| (p[1].close / p[0].close).ln()).collect() };
        let (x, y) = (returns(&week), returns(&bars));
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (mx, my) = (mean(&x), mean(&y));
        let cov: f64 = x.iter().zip(&y).map(|(a, b)| (a - mx) * (b - my)).sum();
        let var = |v: &[f64], m: f64| v.iter().map(|a| (a - m) * (a - m)).sum::<f64>();
        let correlation = cov / (var(&x, mx) * var(&y, my)).sqrt();
        assert!((0.7..0.98).contains(&correlation), "correlation {correlation}");
        let mut engine = Engine::new(EngineParams::default()).unwrap();
        for (bar, reference) in bars.iter().zip(&week) {
            assert_eq!(bar.open_time_ms, reference.open_time_ms);
            engine.apply(bar).unwrap();
        }
        assert_eq!(bars[0].open, 3_000.0);
        assert!((bars[0].open_interest_usd.unwrap() - 3e9).abs() < 3e7);
    }
}
