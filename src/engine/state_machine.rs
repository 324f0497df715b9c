//! The incremental engine: warm state advanced one bar at a time (model steps 1-4).
//!
//! Cost per bar: O(log n) for the liquidation checks and each tier insert, plus O(log n) per
//! position it liquidates. Proportional closing touches no position: all amounts are stored
//! divided by one global `scale`, and closing multiplies `scale` by the keep factor.
//!
//! Dust (positions worth less than DUST_USD after closes) is dropped lazily: it is invisible at
//! once (snapshots skip it; a liquidation that reaches it counts it as closed, not consumed) and
//! leaves memory when a side has doubled since its last sweep (O(1) amortised per position).

use super::bar::Bar;
use super::bar_check::{check_bar, BarError};
use super::bins::BinGrid;
use super::open_interest_check::{OpenInterestCheck, OpenInterestVerdict};
use super::opening::{entry_prices, long_share};
use super::outcome::BarOutcome;
use super::params::{EngineParams, OpeningSplit, ParamsError};
use super::price_grid::PriceGrid;
use super::side_book::SideBook;
use super::snapshot::{self, BarMark, Snapshot, SnapshotError};

/// Positions worth less than this (USD) are dust: dropped (counted as closed) and never shown.
/// Tier slices smaller than this are not opened.
pub const DUST_USD: f64 = 0.01;
/// Most distinct liquidation prices per side (about 50 MB per side when full). Real and
/// synthetic series hold thousands; beyond the bound new slices join the nearest price.
pub const POSITIONS_MAX_PER_SIDE: usize = 1_000_000;
/// With the price grid on: most grid points a side's book spans, empty ones included (16 MB per
/// side when full; at a 1-basis-point step a year of BTC spans tens of thousands).
pub const GRID_SLOTS_MAX_PER_SIDE: usize = 1_000_000;
/// When the global scale falls below this, it is folded into the stored amounts (O(n), rare:
/// about 230 halvings of all open interest) so stored amounts never overflow.
const SCALE_RENORMALISE_BELOW: f64 = 1e-70;
const HOUR_MS: f64 = 3_600_000.0;

/// One tier with everything precomputed for the hot path.
#[derive(Debug, Clone, Copy)]
struct Tier {
    /// Weight normalised so all tiers sum to 1.
    share: f64,
    /// Long liquidation price = entry * this = 1 - 1/L + mmr.
    long_factor: f64,
    /// Short liquidation price = entry * this = 1 + 1/L - mmr.
    short_factor: f64,
    /// ln(long_factor), ln(short_factor): snapping works in log space.
    long_factor_ln: f64,
    short_factor_ln: f64,
}

#[derive(Debug, Clone)]
pub struct Engine {
    tiers: Vec<Tier>,
    longs: SideBook,
    shorts: SideBook,
    /// USD value of a position = stored amount * scale.
    scale: f64,
    /// Open interest of the previous bar; `None` for the first bar or when it was missing (or
    /// implausible).
    previous_open_interest: Option<f64>,
    /// The open-interest plausibility rule; `None` takes every value at face value.
    open_interest_check: Option<OpenInterestCheck>,
    entry_points: u32,
    split: OpeningSplit,
    turnover_per_hour: f64,
    decay_per_hour: f64,
    /// Liquidation prices snap to this grid (inactive: exact prices).
    price_grid: PriceGrid,
    last_bar: Option<BarMark>,
    totals: BarOutcome,
}

impl Engine {
    pub fn new(params: EngineParams) -> Result<Self, ParamsError> {
        params.validate()?;
        let weight_sum: f64 = params.tiers.iter().map(|tier| tier.weight).sum();
        let tiers = params
            .tiers
            .iter()
            .filter(|tier| tier.weight > 0.0)
            .map(|tier| {
                let long_factor = 1.0 - 1.0 / tier.leverage + params.mmr;
                let short_factor = 1.0 + 1.0 / tier.leverage - params.mmr;
                Tier {
                    share: tier.weight / weight_sum,
                    long_factor,
                    short_factor,
                    long_factor_ln: long_factor.ln(),
                    short_factor_ln: short_factor.ln(),
                }
            })
            .collect();
        let price_grid = PriceGrid::new(params.price_step.ln_1p());
        Ok(Self {
            tiers,
            longs: side_book(&price_grid),
            shorts: side_book(&price_grid),
            scale: 1.0,
            previous_open_interest: None,
            open_interest_check: params.open_interest_jump_max.map(OpenInterestCheck::new),
            entry_points: params.entry_points,
            split: params.split,
            turnover_per_hour: params.turnover_per_hour,
            decay_per_hour: params.decay_per_hour,
            price_grid,
            last_bar: None,
            totals: BarOutcome::default(),
        })
    }

    /// Advances the state by one bar. A rejected bar leaves the state untouched.
    pub fn apply(&mut self, bar: &Bar) -> Result<BarOutcome, BarError> {
        check_bar(bar, self.last_bar_time_ms())?;
        let dust_raw = self.dust_raw();
        let longs = self.longs.remove_at_or_above(bar.low, dust_raw);
        let shorts = self.shorts.remove_at_or_below(bar.high, dust_raw);
        let mut outcome = BarOutcome {
            consumed_long: longs.live * self.scale,
            consumed_short: shorts.live * self.scale,
            closed: (longs.dust + shorts.dust) * self.scale,
            ..BarOutcome::default()
        };
        // Hours since the previous bar: turnover and decay are rates, so a gap counts in full.
        let hours = self
            .last_bar
            .map_or(0.0, |mark| (bar.open_time_ms - mark.open_time_ms) as f64 / HOUR_MS);
        let kept_per_hour = (1.0 - self.decay_per_hour) * (1.0 - self.turnover_per_hour);
        let turned_over = if hours > 0.0 && kept_per_hour < 1.0 {
            let open = self.open_long_usd() + self.open_short_usd();
            let closed = self.close_proportionally(open * (1.0 - kept_per_hour.powf(hours)));
            outcome.closed += closed;
            closed
        } else {
            0.0
        };
        let open_interest = self.plausible_open_interest(bar.open_interest_usd);
        let open_interest_change = match (open_interest, self.previous_open_interest) {
            (Some(now), Some(before)) => now - before,
            _ => 0.0,
        };
        self.previous_open_interest = open_interest;
        if open_interest_change < 0.0 {
            outcome.closed += self.close_proportionally(-open_interest_change);
        }
        let reopened = if hours > 0.0 && self.turnover_per_hour > 0.0 {
            // Replaced at this bar: the turnover share of the open interest, or, when the bar's
            // open interest is unknown, what the turnover closed.
            let fraction = 1.0 - (1.0 - self.turnover_per_hour).powf(hours);
            open_interest.map_or(turned_over, |value| value * fraction)
        } else {
            0.0
        };
        // New open interest and the turnover's replacements open at the same entry prices, split
        // and tiers: one opening of their sum (half the snaps and inserts of two).
        let opened = open_interest_change.max(0.0) + reopened;
        if opened > 0.0 {
            self.open(bar, opened, &mut outcome);
        }
        self.last_bar = Some(BarMark {
            open_time_ms: bar.open_time_ms,
            close: bar.close,
        });
        self.totals.accumulate(&outcome);
        Ok(outcome)
    }

    /// The bar's open interest if the plausibility rule accepts it (docs/model.md, "Data that
    /// lies"); every value when the rule is off.
    fn plausible_open_interest(&mut self, value: Option<f64>) -> Option<f64> {
        let value = value?;
        match self.open_interest_check.as_mut() {
            None => Some(value),
            Some(check) => (check.check(value) == OpenInterestVerdict::Plausible).then_some(value),
        }
    }

    /// The heatmap after the last applied bar. `activity` supplies the created/consumed figures
    /// (the last bar's outcome, or a sum over several bars).
    pub fn snapshot(
        &self,
        bin_size: f64,
        activity: &BarOutcome,
    ) -> Result<Snapshot, SnapshotError> {
        let mark = self.last_bar.ok_or(SnapshotError::NoBarYet)?;
        let grid = BinGrid::new(bin_size).ok_or(SnapshotError::BinSizeInvalid { bin_size })?;
        let (scale, dust_raw) = (self.scale, self.dust_raw());
        let shown = move |&(_, raw): &(f64, f64)| raw >= dust_raw;
        let in_usd = move |(price, raw): (f64, f64)| (price, raw * scale);
        Ok(snapshot::build(
            mark,
            self.longs.iter().filter(shown).map(in_usd),
            self.shorts.iter().filter(shown).map(in_usd),
            grid,
            activity,
        ))
    }

    pub fn last_bar_time_ms(&self) -> Option<i64> {
        self.last_bar.map(|mark| mark.open_time_ms)
    }

    /// Close of the last applied bar.
    pub fn last_close(&self) -> Option<f64> {
        self.last_bar.map(|mark| mark.close)
    }

    /// Open long notional; includes dust not yet swept (each such position < DUST_USD).
    pub fn open_long_usd(&self) -> f64 {
        self.longs.raw_sum() * self.scale
    }

    /// Open short notional; includes dust not yet swept (each such position < DUST_USD).
    pub fn open_short_usd(&self) -> f64 {
        self.shorts.raw_sum() * self.scale
    }

    /// Number of stored positions (equal liquidation prices count once; dust not yet swept
    /// included).
    pub fn position_count(&self) -> usize {
        self.longs.len() + self.shorts.len()
    }

    /// Sum of all outcomes so far: opened = open + consumed + closed holds up to rounding.
    pub fn totals(&self) -> BarOutcome {
        self.totals
    }

    fn open(&mut self, bar: &Bar, notional: f64, outcome: &mut BarOutcome) {
        let share = match self.split {
            OpeningSplit::Candle => long_share(bar),
            OpeningSplit::Even => 0.5,
        };
        let per_entry = notional / f64::from(self.entry_points);
        let long_notional = per_entry * share;
        let short_notional = per_entry - long_notional;
        let snapping = self.price_grid.is_active();
        for entry in entry_prices(bar, self.entry_points) {
            let entry_ln = if snapping { entry.ln() } else { 0.0 };
            for tier in &self.tiers {
                let long_usd = long_notional * tier.share;
                if long_usd >= DUST_USD {
                    if snapping {
                        let (k, price) = self.price_grid.snap_ln(entry_ln + tier.long_factor_ln);
                        self.longs.add_on_grid(k, price, long_usd / self.scale);
                    } else {
                        self.longs.add(entry * tier.long_factor, long_usd / self.scale);
                    }
                    outcome.created_long += long_usd;
                }
                let short_usd = short_notional * tier.share;
                if short_usd >= DUST_USD {
                    if snapping {
                        let (k, price) = self.price_grid.snap_ln(entry_ln + tier.short_factor_ln);
                        self.shorts.add_on_grid(k, price, short_usd / self.scale);
                    } else {
                        self.shorts.add(entry * tier.short_factor, short_usd / self.scale);
                    }
                    outcome.created_short += short_usd;
                }
            }
        }
    }

    /// Shrinks every position by 1 - min(amount / open, 1); returns the USD removed.
    fn close_proportionally(&mut self, amount: f64) -> f64 {
        let open_before = self.open_long_usd() + self.open_short_usd();
        if open_before <= 0.0 {
            return 0.0;
        }
        let keep = 1.0 - (amount / open_before).min(1.0);
        if keep <= 0.0 {
            self.longs.clear();
            self.shorts.clear();
            self.scale = 1.0;
            return open_before;
        }
        self.scale *= keep;
        let dust_raw = self.dust_raw();
        if self.scale < SCALE_RENORMALISE_BELOW {
            // The O(n) pass is due anyway: sweep everything before folding the scale in.
            self.longs.sweep_dust(dust_raw);
            self.shorts.sweep_dust(dust_raw);
            self.longs.rescale(self.scale);
            self.shorts.rescale(self.scale);
            self.scale = 1.0;
        } else {
            self.longs.sweep_dust_if_crowded(dust_raw);
            self.shorts.sweep_dust_if_crowded(dust_raw);
        }
        open_before - (self.open_long_usd() + self.open_short_usd())
    }

    /// Stored amounts below this are dust (worth less than DUST_USD at the current scale).
    fn dust_raw(&self) -> f64 {
        DUST_USD / self.scale
    }
}

/// The book that fits the grid: slots indexed by grid point, or an ordered map of exact prices.
fn side_book(price_grid: &PriceGrid) -> SideBook {
    if price_grid.is_active() {
        SideBook::on_grid(GRID_SLOTS_MAX_PER_SIDE)
    } else {
        SideBook::new(POSITIONS_MAX_PER_SIDE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::params::LeverageTier;

    const T0: i64 = 1_780_807_200_000;
    const MINUTE_MS: i64 = 60_000;

    /// A bar without volume (entry = close) whose range is [low, high].
    fn bar(minute: i64, low: f64, high: f64, close: f64, open_interest: Option<f64>) -> Bar {
        Bar {
            open_time_ms: T0 + minute * MINUTE_MS,
            open: close,
            high,
            low,
            close,
            volume: None,
            quote_volume: None,
            taker_buy_volume: None,
            open_interest_usd: open_interest,
        }
    }

    /// One tier with the legacy mechanics: the tests below pin the basic steps exactly.
    fn one_tier(leverage: f64) -> EngineParams {
        EngineParams {
            tiers: vec![LeverageTier {
                leverage,
                weight: 1.0,
            }],
            mmr: 0.004,
            ..EngineParams::legacy()
        }
    }

    /// One 10x tier; a flat bar at 1000 opened 500 USD long (liq 904) and 500 USD short (liq 1096).
    fn ten_x_engine_holding_500_per_side() -> Engine {
        let mut engine = Engine::new(one_tier(10.0)).unwrap();
        engine
            .apply(&bar(0, 1000.0, 1000.0, 1000.0, Some(0.0)))
            .unwrap();
        engine
            .apply(&bar(1, 1000.0, 1000.0, 1000.0, Some(1000.0)))
            .unwrap();
        engine
    }

    /// (liquidation price, USD) in ascending price.
    type Positions = Vec<(f64, f64)>;

    /// The open longs and shorts.
    fn positions(engine: &Engine) -> (Positions, Positions) {
        let usd = |(price, raw): (f64, f64)| (price, raw * engine.scale);
        (
            engine.longs.iter().map(usd).collect(),
            engine.shorts.iter().map(usd).collect(),
        )
    }

    #[test]
    fn first_bar_opens_nothing() {
        let mut engine = Engine::new(EngineParams::legacy()).unwrap();
        let outcome = engine
            .apply(&bar(0, 99.0, 101.0, 100.0, Some(1e6)))
            .unwrap();
        assert_eq!(outcome, BarOutcome::default());
        assert_eq!(engine.position_count(), 0);
    }

    #[test]
    fn missing_open_interest_means_no_change() {
        let mut engine = Engine::new(EngineParams::legacy()).unwrap();
        engine
            .apply(&bar(0, 99.0, 101.0, 100.0, Some(1e6)))
            .unwrap();
        let gap = engine.apply(&bar(1, 99.0, 101.0, 100.0, None)).unwrap();
        // The bar after the gap has no previous value either.
        let after_gap = engine
            .apply(&bar(2, 99.0, 101.0, 100.0, Some(2e6)))
            .unwrap();
        assert_eq!(gap, BarOutcome::default());
        assert_eq!(after_gap, BarOutcome::default());
    }

    #[test]
    fn liquidation_prices_follow_the_formulas() {
        let engine = ten_x_engine_holding_500_per_side();
        let (longs, shorts) = positions(&engine);
        // Flat bar: half long, half short. Long 1000*(1-0.1+0.004), short 1000*(1+0.1-0.004).
        assert_eq!(longs, vec![(1000.0 * (1.0 - 0.1 + 0.004), 500.0)]);
        assert_eq!(shorts, vec![(1000.0 * (1.0 + 0.1 - 0.004), 500.0)]);
    }

    #[test]
    fn tiers_sum_to_the_opened_notional() {
        let mut engine = Engine::new(EngineParams::legacy()).unwrap();
        engine
            .apply(&bar(0, 99.0, 101.0, 100.0, Some(1e6)))
            .unwrap();
        let outcome = engine
            .apply(&bar(1, 99.0, 101.0, 100.0, Some(1e6 + 123_456.0)))
            .unwrap();
        let (longs, shorts) = positions(&engine);
        let long_sum: f64 = longs.iter().map(|(_, usd)| usd).sum();
        let short_sum: f64 = shorts.iter().map(|(_, usd)| usd).sum();
        assert_eq!(longs.len(), 5);
        assert!((long_sum + short_sum - 123_456.0).abs() < 1e-6);
        assert!((outcome.created() - 123_456.0).abs() < 1e-6);
        // Default weights: the 10x tier carries 30%.
        let ten_x = longs
            .iter()
            .find(|(price, _)| *price == 100.0 * (1.0 - 0.1 + 0.004))
            .unwrap();
        assert!((ten_x.1 - 0.5 * 123_456.0 * 0.30).abs() < 1e-6);
    }

    #[test]
    fn long_at_exactly_the_low_is_liquidated() {
        let mut engine = ten_x_engine_holding_500_per_side();
        let long_liq = 1000.0 * (1.0 - 0.1 + 0.004);
        let outcome = engine
            .apply(&bar(2, long_liq, 1000.0, 1000.0, Some(1000.0)))
            .unwrap();
        assert_eq!(outcome.consumed_long, 500.0);
        assert_eq!(engine.open_long_usd(), 0.0);
    }

    #[test]
    fn long_one_tick_above_the_low_survives() {
        let mut engine = ten_x_engine_holding_500_per_side();
        let long_liq: f64 = 1000.0 * (1.0 - 0.1 + 0.004);
        let low = long_liq.next_up();
        let outcome = engine
            .apply(&bar(2, low, 1000.0, 1000.0, Some(1000.0)))
            .unwrap();
        assert_eq!(outcome.consumed_long, 0.0);
        assert_eq!(engine.open_long_usd(), 500.0);
    }

    #[test]
    fn short_at_exactly_the_high_is_liquidated() {
        let mut engine = ten_x_engine_holding_500_per_side();
        let short_liq = 1000.0 * (1.0 + 0.1 - 0.004);
        let outcome = engine
            .apply(&bar(2, 1000.0, short_liq, 1000.0, Some(1000.0)))
            .unwrap();
        assert_eq!(outcome.consumed_short, 500.0);
        assert_eq!(engine.open_short_usd(), 0.0);
    }

    #[test]
    fn short_one_tick_below_the_high_survives() {
        let mut engine = ten_x_engine_holding_500_per_side();
        let short_liq: f64 = 1000.0 * (1.0 + 0.1 - 0.004);
        let high = short_liq.next_down();
        let outcome = engine
            .apply(&bar(2, 1000.0, high, 1000.0, Some(1000.0)))
            .unwrap();
        assert_eq!(outcome.consumed_short, 0.0);
        assert_eq!(engine.open_short_usd(), 500.0);
    }

    #[test]
    fn positions_open_at_the_vwap_split_by_taker_buys() {
        let mut engine = Engine::new(one_tier(10.0)).unwrap();
        engine
            .apply(&bar(0, 1000.0, 1000.0, 1000.0, Some(0.0)))
            .unwrap();
        // VWAP 990 (quote 9,900 / volume 10); takers bought 3 of 10: 30% long.
        let traded = Bar {
            volume: Some(10.0),
            quote_volume: Some(9_900.0),
            taker_buy_volume: Some(3.0),
            ..bar(1, 980.0, 1010.0, 1000.0, Some(1000.0))
        };
        engine.apply(&traded).unwrap();
        let (longs, shorts) = positions(&engine);
        assert_eq!(longs, vec![(990.0 * (1.0 - 0.1 + 0.004), 300.0)]);
        assert_eq!(shorts, vec![(990.0 * (1.0 + 0.1 - 0.004), 700.0)]);
    }

    #[test]
    fn liquidation_happens_before_new_positions_open() {
        // The bar that opens positions reaches their liquidation prices, yet they survive it.
        let mut engine = Engine::new(one_tier(10.0)).unwrap();
        engine
            .apply(&bar(0, 1000.0, 1000.0, 1000.0, Some(0.0)))
            .unwrap();
        let outcome = engine
            .apply(&bar(1, 500.0, 1500.0, 1000.0, Some(1000.0)))
            .unwrap();
        assert_eq!(outcome.consumed(), 0.0);
        assert_eq!(engine.open_long_usd() + engine.open_short_usd(), 1000.0);
    }

    #[test]
    fn falling_open_interest_closes_proportionally() {
        // Two positions of 100,000; removing 100,000 leaves 50,000 each.
        let mut engine = Engine::new(one_tier(10.0)).unwrap();
        engine
            .apply(&bar(0, 1000.0, 1000.0, 1000.0, Some(0.0)))
            .unwrap();
        engine
            .apply(&bar(1, 1000.0, 1000.0, 1000.0, Some(200_000.0)))
            .unwrap();
        let outcome = engine
            .apply(&bar(2, 1000.0, 1000.0, 1000.0, Some(100_000.0)))
            .unwrap();
        let (longs, shorts) = positions(&engine);
        assert_eq!(outcome.closed, 100_000.0);
        assert_eq!(longs[0].1, 50_000.0);
        assert_eq!(shorts[0].1, 50_000.0);
    }

    #[test]
    fn closing_more_than_is_open_empties_the_book() {
        let mut engine = Engine::new(one_tier(10.0)).unwrap();
        engine
            .apply(&bar(0, 1000.0, 1000.0, 1000.0, Some(1000.0)))
            .unwrap();
        engine
            .apply(&bar(1, 1000.0, 1000.0, 1000.0, Some(2000.0)))
            .unwrap();
        // Open interest falls by 1,900 while the model holds only 1,000.
        let outcome = engine
            .apply(&bar(2, 1000.0, 1000.0, 1000.0, Some(100.0)))
            .unwrap();
        let none = engine
            .apply(&bar(3, 1000.0, 1000.0, 1000.0, Some(50.0)))
            .unwrap();
        assert_eq!(outcome.closed, 1000.0);
        assert_eq!(engine.position_count(), 0);
        assert_eq!(none.closed, 0.0);
    }

    /// 1 USD long at 10x (liquidation 904) and 999 USD long at 5x (liquidation 804), then a
    /// close keeping 0.5%: the 10x position is worth 0.005 USD (dust), the 5x one 4.995 USD.
    fn engine_holding_dust() -> (Engine, BarOutcome) {
        let tier = |leverage, weight| LeverageTier { leverage, weight };
        let params = EngineParams {
            tiers: vec![tier(10.0, 1.0), tier(5.0, 999.0)],
            mmr: 0.004,
            ..EngineParams::legacy()
        };
        let mut engine = Engine::new(params).unwrap();
        engine
            .apply(&bar(0, 1000.0, 1000.0, 1000.0, Some(0.0)))
            .unwrap();
        // Rising bar without volume: all long.
        let mut rising = bar(1, 999.0, 1000.0, 1000.0, Some(1000.0));
        rising.open = 999.0;
        engine.apply(&rising).unwrap();
        let close = engine
            .apply(&bar(2, 1000.0, 1000.0, 1000.0, Some(5.0)))
            .unwrap();
        (engine, close)
    }

    #[test]
    fn a_position_shrunk_below_a_cent_is_not_shown() {
        let (engine, close) = engine_holding_dust();
        let snapshot = engine.snapshot(100.0, &close).unwrap();
        let prices: Vec<f64> = snapshot.levels.iter().map(|level| level.price).collect();
        assert_eq!(prices, vec![800.0]);
        assert_eq!(snapshot.levels[0].long_density, 5.0); // 4.995 rounded to cents
        assert!((close.closed - 995.0).abs() < 1e-9);
    }

    #[test]
    fn liquidated_dust_counts_as_closed_not_consumed() {
        let (mut engine, _) = engine_holding_dust();
        // The low reaches the dust position's 904 but not the live one's 804.
        let outcome = engine
            .apply(&bar(3, 900.0, 1000.0, 1000.0, Some(5.0)))
            .unwrap();
        assert_eq!(outcome.consumed_long, 0.0);
        assert!((outcome.closed - 0.005).abs() < 1e-9);
        assert_eq!(engine.position_count(), 1);
        assert!((engine.open_long_usd() - 4.995).abs() < 1e-9);
    }

    #[test]
    fn dust_leaves_memory_once_a_side_outgrows_its_last_sweep() {
        let mut engine = Engine::new(one_tier(10.0)).unwrap();
        let flat = |minute: i64, price: f64, open_interest: f64| {
            bar(minute, price, price, price, Some(open_interest))
        };
        engine.apply(&flat(0, 1000.0, 0.0)).unwrap();
        // 1,100 flat bars at distinct prices, each opening 0.5 USD per side.
        for step in 1..=1_100 {
            let price = 1000.0 + step as f64 * 0.01;
            engine.apply(&flat(step, price, step as f64)).unwrap();
        }
        assert_eq!(engine.position_count(), 2_200);
        // Keep 1%: every position is worth 0.005 USD, and each side holds more than 1,024.
        let outcome = engine.apply(&flat(1_101, 1011.0, 11.0)).unwrap();
        assert_eq!(engine.position_count(), 0);
        assert!((outcome.closed - 1_100.0).abs() < 1e-9);
        assert_eq!(engine.open_long_usd() + engine.open_short_usd(), 0.0);
    }

    #[test]
    fn rejected_bar_leaves_state_untouched() {
        let mut engine = Engine::new(one_tier(10.0)).unwrap();
        engine
            .apply(&bar(0, 1000.0, 1000.0, 1000.0, Some(0.0)))
            .unwrap();
        let bad = bar(1, f64::NAN, 1000.0, 1000.0, Some(1000.0));
        assert!(engine.apply(&bad).is_err());
        assert_eq!(engine.last_bar_time_ms(), Some(T0));
        // The next good bar still sees the first bar's open interest.
        let outcome = engine
            .apply(&bar(1, 1000.0, 1000.0, 1000.0, Some(1000.0)))
            .unwrap();
        assert_eq!(outcome.created(), 1000.0);
    }

    #[test]
    fn snapshot_before_any_bar_is_an_error() {
        let engine = Engine::new(EngineParams::default()).unwrap();
        assert_eq!(
            engine.snapshot(100.0, &BarOutcome::default()),
            Err(SnapshotError::NoBarYet)
        );
    }

    #[test]
    fn scale_renormalisation_keeps_values() {
        let mut engine = Engine::new(one_tier(10.0)).unwrap();
        engine
            .apply(&bar(0, 1000.0, 1000.0, 1000.0, Some(0.0)))
            .unwrap();
        let mut open_interest = 1e12;
        engine
            .apply(&bar(1, 1000.0, 1000.0, 1000.0, Some(open_interest)))
            .unwrap();
        // Halve and refill 300 times: the scale would reach 2^-300 without renormalisation.
        for step in 0..300 {
            let minute = 2 + 2 * step;
            engine
                .apply(&bar(
                    minute,
                    1000.0,
                    1000.0,
                    1000.0,
                    Some(open_interest / 2.0),
                ))
                .unwrap();
            engine
                .apply(&bar(
                    minute + 1,
                    1000.0,
                    1000.0,
                    1000.0,
                    Some(open_interest),
                ))
                .unwrap();
            open_interest = 1e12;
        }
        assert!(engine.scale >= SCALE_RENORMALISE_BELOW);
        let open = engine.open_long_usd() + engine.open_short_usd();
        assert!((open - 1e12).abs() < 1e-3 * 1e12, "open {open}");
    }

    /// Calibrated mechanics on one tier: even split, one entry point, no turnover.
    fn guarded(leverage: f64) -> EngineParams {
        EngineParams {
            entry_points: 1,
            split: OpeningSplit::Even,
            turnover_per_hour: 0.0,
            price_step: 0.0,
            open_interest_jump_max: Some(1.5),
            ..one_tier(leverage)
        }
    }

    #[test]
    fn an_open_interest_of_zero_neither_wipes_the_book_nor_reopens_everything() {
        // 6.4e9, 0, 6.4e9: taken at face value the zero closes every position and the next bar
        // opens the whole 6.4e9 at one price. Treated as missing, nothing happens.
        let mut engine = Engine::new(guarded(10.0)).unwrap();
        engine.apply(&bar(0, 1000.0, 1000.0, 1000.0, Some(6.4e9))).unwrap();
        engine.apply(&bar(1, 1000.0, 1000.0, 1000.0, Some(6.4e9 + 1e6))).unwrap();
        let zero = engine.apply(&bar(2, 1000.0, 1000.0, 1000.0, Some(0.0))).unwrap();
        let back = engine.apply(&bar(3, 1000.0, 1000.0, 1000.0, Some(6.4e9 + 1e6))).unwrap();
        assert_eq!((zero.closed, back.created()), (0.0, 0.0));
        assert_eq!(engine.open_long_usd() + engine.open_short_usd(), 1e6);
    }

    #[test]
    fn a_one_bar_spike_of_open_interest_opens_nothing() {
        let mut engine = Engine::new(guarded(10.0)).unwrap();
        engine.apply(&bar(0, 1000.0, 1000.0, 1000.0, Some(6.4e9))).unwrap();
        let spike = engine.apply(&bar(1, 1000.0, 1000.0, 1000.0, Some(3.2e11))).unwrap();
        let after = engine.apply(&bar(2, 1000.0, 1000.0, 1000.0, Some(6.4e9 + 2e6))).unwrap();
        // The bar after the spike has no previous value (it was missing): it opens nothing.
        let next = engine.apply(&bar(3, 1000.0, 1000.0, 1000.0, Some(6.4e9 + 3e6))).unwrap();
        assert_eq!((spike.created(), after.created()), (0.0, 0.0));
        assert!((next.created() - 1e6).abs() < 1e-6);
    }

    #[test]
    fn entries_spread_evenly_over_the_bar_range() {
        let params = EngineParams {
            entry_points: 2,
            ..guarded(10.0)
        };
        let mut engine = Engine::new(params).unwrap();
        engine.apply(&bar(0, 1000.0, 1000.0, 1000.0, Some(1e6))).unwrap();
        // Range [900, 1100]: entries at 950 and 1050, each half of 1,000, half long.
        engine.apply(&bar(1, 900.0, 1100.0, 1000.0, Some(1e6 + 1000.0))).unwrap();
        let (longs, shorts) = positions(&engine);
        let long_factor = 1.0 - 0.1 + 0.004;
        assert_eq!(longs, vec![(950.0 * long_factor, 250.0), (1050.0 * long_factor, 250.0)]);
        assert_eq!(shorts.len(), 2);
    }

    #[test]
    fn turnover_replaces_its_share_of_the_book_each_hour() {
        let params = EngineParams {
            turnover_per_hour: 0.5,
            ..guarded(10.0)
        };
        let mut engine = Engine::new(params).unwrap();
        engine.apply(&bar(0, 1000.0, 1000.0, 1000.0, Some(1e6))).unwrap();
        // One hour later, open interest unchanged: nothing was open, half of 1e6 opens.
        let first = engine.apply(&bar(60, 1000.0, 1000.0, 1000.0, Some(1e6))).unwrap();
        assert!((first.created() - 5e5).abs() < 1e-6);
        // Another hour: half of the 5e5 closes, half of 1e6 reopens.
        let second = engine.apply(&bar(120, 1000.0, 1000.0, 1000.0, Some(1e6))).unwrap();
        assert!((second.closed - 2.5e5).abs() < 1e-6);
        assert!((second.created() - 5e5).abs() < 1e-6);
        assert!((engine.open_long_usd() + engine.open_short_usd() - 7.5e5).abs() < 1e-6);
    }

    #[test]
    fn snapped_prices_lie_within_half_a_step_and_repeat_exactly() {
        let mut grid = PriceGrid::new(1e-4_f64.ln_1p());
        for price in [904.0_f64, 61_234.5, 0.123] {
            let (_, snapped) = grid.snap_ln(price.ln());
            assert!((snapped / price - 1.0).abs() <= 0.5e-4 + 1e-12, "{price} -> {snapped}");
            assert_eq!(grid.snap_ln(price.ln()).1, snapped);
        }
        assert!(!PriceGrid::new(0.0).is_active());
    }
}
