//! Properties of the liquidation model that must hold for any bar sequence.

use liquidationheatmap::engine::timeseries;
use liquidationheatmap::engine::{Bar, BarOutcome, Engine, EngineParams, LeverageTier, Snapshot};
use proptest::prelude::*;

const T0: i64 = 1_780_790_400_000; // 2026-06-07T00:00:00Z
const BAR_MS: i64 = 300_000;
const BIN_SIZE: f64 = 0.5;

/// One generated bar, relative to the previous close.
#[derive(Debug, Clone)]
struct Step {
    log_return: f64,
    wick_up: f64,
    wick_down: f64,
    /// Open-interest change as a fraction of the previous open interest.
    open_interest_change: f64,
    open_interest_missing: bool,
    /// (volume, VWAP position in [low, high], taker-buy share)
    volume: Option<(f64, f64, f64)>,
}

fn step() -> impl Strategy<Value = Step> {
    (
        -0.05..0.05f64,
        0.0..0.06f64,
        0.0..0.06f64,
        prop_oneof![Just(0.0), -0.2..0.2f64, Just(-1.0)],
        prop::bool::weighted(0.05),
        prop::option::of((0.0..1e4f64, 0.0..=1.0f64, 0.0..=1.0f64)),
    )
        .prop_map(
            |(
                log_return,
                wick_up,
                wick_down,
                open_interest_change,
                open_interest_missing,
                volume,
            )| Step {
                log_return,
                wick_up,
                wick_down,
                open_interest_change,
                open_interest_missing,
                volume,
            },
        )
}

fn bars_from(steps: &[Step]) -> Vec<Bar> {
    let mut close = 100.0;
    let mut open_interest: f64 = 1e6;
    steps
        .iter()
        .enumerate()
        .map(|(index, step)| {
            let open = close;
            close = open * step.log_return.exp();
            let high = open.max(close) * (1.0 + step.wick_up);
            let low = open.min(close) * (1.0 - step.wick_down);
            // Re-seed a wiped-out open interest so later bars can open positions again.
            open_interest = (open_interest * (1.0 + step.open_interest_change)).max(0.0);
            if open_interest == 0.0 && step.open_interest_change > -1.0 {
                open_interest = 1e6;
            }
            let (volume, quote_volume, taker_buy_volume) = match step.volume {
                Some((volume, position, share)) => {
                    let vwap = low + (high - low) * position;
                    (Some(volume), Some(volume * vwap), Some(volume * share))
                }
                None => (None, None, None),
            };
            Bar {
                open_time_ms: T0 + index as i64 * BAR_MS,
                open,
                high,
                low,
                close,
                volume,
                quote_volume,
                taker_buy_volume,
                open_interest_usd: (!step.open_interest_missing).then_some(open_interest),
            }
        })
        .collect()
}

fn params() -> impl Strategy<Value = EngineParams> {
    prop_oneof![
        Just(EngineParams::default()),
        Just(EngineParams::legacy()),
        // Decay and turnover together, one entry point, open interest at face value.
        Just(EngineParams {
            tiers: vec![LeverageTier {
                leverage: 3.0,
                weight: 1.0
            }],
            mmr: 0.0,
            entry_points: 1,
            turnover_per_hour: 0.3,
            decay_per_hour: 0.1,
            open_interest_jump_max: None,
            ..EngineParams::default()
        }),
        Just(EngineParams {
            tiers: vec![
                LeverageTier {
                    leverage: 2.0,
                    weight: 1.0
                },
                LeverageTier {
                    leverage: 125.0,
                    weight: 3.0
                },
                LeverageTier {
                    leverage: 20.0,
                    weight: 0.0
                },
            ],
            mmr: 0.005,
            ..EngineParams::legacy()
        }),
    ]
}

/// Applies every bar; returns the engine and the last bar's outcome.
fn replay(bars: &[Bar], params: &EngineParams) -> (Engine, BarOutcome) {
    let mut engine = Engine::new(params.clone()).expect("valid params");
    let mut last = BarOutcome::default();
    for bar in bars {
        last = engine.apply(bar).expect("generated bars are valid");
    }
    (engine, last)
}

fn json(snapshot: &Snapshot) -> String {
    serde_json::to_string(snapshot).expect("snapshots serialize")
}

/// A copy of `bar` broken in one of the ways the engine must reject.
fn corrupted(bar: &Bar, how: usize) -> Bar {
    let mut bad = *bar;
    match how % 6 {
        0 => bad.low = f64::NAN,
        1 => bad.high = bad.low * 0.5,
        2 => bad.close = -1.0,
        3 => bad.open_interest_usd = Some(f64::INFINITY),
        4 => bad.open_time_ms -= BAR_MS, // not after the previous bar
        _ => {
            bad.volume = Some(1.0);
            bad.taker_buy_volume = Some(2.0);
        }
    }
    bad
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn notional_is_conserved(steps in prop::collection::vec(step(), 1..300), params in params()) {
        let (engine, _) = replay(&bars_from(&steps), &params);
        let totals = engine.totals();
        let opened = totals.created();
        let accounted = engine.open_long_usd() + engine.open_short_usd() + totals.consumed() + totals.closed;
        prop_assert!((opened - accounted).abs() <= 1e-9 * opened.max(1.0), "opened {} accounted {}", opened, accounted);
    }

    #[test]
    fn densities_are_positive_and_levels_ascend(steps in prop::collection::vec(step(), 1..300), params in params()) {
        let (engine, last) = replay(&bars_from(&steps), &params);
        let snapshot = engine.snapshot(BIN_SIZE, &last).expect("a bar was applied");
        for level in &snapshot.levels {
            prop_assert!(level.long_density >= 0.0 && level.short_density >= 0.0, "{:?}", level);
            // Empty levels are omitted and dust (< 0.01 USD) is never shown.
            prop_assert!(level.long_density + level.short_density >= 0.01, "{:?}", level);
        }
        for pair in snapshot.levels.windows(2) {
            prop_assert!(pair[0].price < pair[1].price);
        }
    }

    #[test]
    fn snapshot_densities_add_up_to_the_open_notional(steps in prop::collection::vec(step(), 1..300)) {
        let (engine, last) = replay(&bars_from(&steps), &EngineParams::default());
        let snapshot = engine.snapshot(BIN_SIZE, &last).expect("a bar was applied");
        let long: f64 = snapshot.levels.iter().map(|level| level.long_density).sum();
        let short: f64 = snapshot.levels.iter().map(|level| level.short_density).sum();
        // Each level is rounded to the cent, and the open notional still holds unswept dust
        // (each position below 0.01 USD) that snapshots do not show.
        let tolerance = 0.005 * snapshot.levels.len() as f64
            + 0.01 * engine.position_count() as f64
            + 1e-9 * engine.totals().created();
        prop_assert!((long - engine.open_long_usd()).abs() <= tolerance);
        prop_assert!((short - engine.open_short_usd()).abs() <= tolerance);
    }

    #[test]
    fn same_input_gives_bitwise_equal_json(steps in prop::collection::vec(step(), 1..200), params in params()) {
        let bars = bars_from(&steps);
        let (first, first_last) = replay(&bars, &params);
        let (second, second_last) = replay(&bars, &params);
        prop_assert_eq!(
            json(&first.snapshot(BIN_SIZE, &first_last).expect("a bar was applied")),
            json(&second.snapshot(BIN_SIZE, &second_last).expect("a bar was applied"))
        );
    }

    #[test]
    fn incremental_snapshot_equals_timeseries_of_all_bars(steps in prop::collection::vec(step(), 1..200), params in params()) {
        let bars = bars_from(&steps);
        let (engine, last) = replay(&bars, &params);
        let end = T0 + (bars.len() as i64 - 1) * BAR_MS;
        let series = timeseries::run(&bars, &params, T0, end, BAR_MS, Some(BIN_SIZE), usize::MAX).expect("valid request");
        prop_assert_eq!(series.snapshots.len(), bars.len());
        let incremental = engine.snapshot(BIN_SIZE, &last).expect("a bar was applied");
        prop_assert_eq!(json(&incremental), json(series.snapshots.last().expect("one snapshot per bar")));
    }

    #[test]
    fn pausing_at_any_bar_and_continuing_equals_one_run(
        steps in prop::collection::vec(step(), 2..200),
        split_fraction in 0.0..1.0f64,
        params in params(),
    ) {
        let bars = bars_from(&steps);
        let split = ((bars.len() as f64 * split_fraction) as usize).clamp(1, bars.len() - 1);
        let (mut paused, _) = replay(&bars[..split], &params);
        // Serving a snapshot mid-way must not disturb the state.
        paused.snapshot(BIN_SIZE, &BarOutcome::default()).expect("a bar was applied");
        let mut last = BarOutcome::default();
        for bar in &bars[split..] {
            last = paused.apply(bar).expect("generated bars are valid");
        }
        let (whole, whole_last) = replay(&bars, &params);
        prop_assert_eq!(last, whole_last);
        prop_assert_eq!(paused.totals(), whole.totals());
        prop_assert_eq!(
            json(&paused.snapshot(BIN_SIZE, &last).expect("a bar was applied")),
            json(&whole.snapshot(BIN_SIZE, &whole_last).expect("a bar was applied"))
        );
    }

    #[test]
    fn a_later_window_repeats_the_tail_of_an_earlier_one(
        steps in prop::collection::vec(step(), 2..200),
        split_fraction in 0.0..1.0f64,
    ) {
        let bars = bars_from(&steps);
        let params = EngineParams::default();
        let split = ((bars.len() as f64 * split_fraction) as usize).clamp(1, bars.len() - 1);
        let end = T0 + (bars.len() as i64 - 1) * BAR_MS;
        let whole = timeseries::run(&bars, &params, T0, end, BAR_MS, Some(BIN_SIZE), usize::MAX).expect("valid request");
        let later_start = T0 + split as i64 * BAR_MS;
        let later = timeseries::run(&bars, &params, later_start, end, BAR_MS, Some(BIN_SIZE), usize::MAX).expect("valid request");
        let whole_tail: Vec<String> = whole.snapshots[split..].iter().map(json).collect();
        let later_all: Vec<String> = later.snapshots.iter().map(json).collect();
        prop_assert_eq!(whole_tail, later_all);
    }

    #[test]
    fn a_rejected_bar_changes_nothing(
        steps in prop::collection::vec(step(), 2..150),
        position_fraction in 0.0..1.0f64,
        how in 0usize..6,
        params in params(),
    ) {
        let bars = bars_from(&steps);
        // Insert the broken bar after at least one good bar so "not after the previous" applies.
        let position = ((bars.len() as f64 * position_fraction) as usize).clamp(1, bars.len() - 1);
        let mut engine = Engine::new(params.clone()).expect("valid params");
        let mut last = BarOutcome::default();
        for (index, bar) in bars.iter().enumerate() {
            if index == position {
                prop_assert!(engine.apply(&corrupted(bar, how)).is_err());
            }
            last = engine.apply(bar).expect("generated bars are valid");
        }
        let (clean, clean_last) = replay(&bars, &params);
        prop_assert_eq!(engine.totals(), clean.totals());
        prop_assert_eq!(
            json(&engine.snapshot(BIN_SIZE, &last).expect("a bar was applied")),
            json(&clean.snapshot(BIN_SIZE, &clean_last).expect("a bar was applied"))
        );
    }
}

proptest! {
    // Long runs make sides outgrow 1,024 positions, so lazy dust sweeps happen too.
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn long_runs_conserve_notional_and_hide_dust(steps in prop::collection::vec(step(), 1_500..3_000)) {
        let (engine, last) = replay(&bars_from(&steps), &EngineParams::default());
        let totals = engine.totals();
        let opened = totals.created();
        let accounted = engine.open_long_usd() + engine.open_short_usd() + totals.consumed() + totals.closed;
        prop_assert!((opened - accounted).abs() <= 1e-9 * opened.max(1.0), "opened {} accounted {}", opened, accounted);
        let snapshot = engine.snapshot(BIN_SIZE, &last).expect("a bar was applied");
        for level in &snapshot.levels {
            prop_assert!(level.long_density + level.short_density >= 0.01, "{:?}", level);
        }
    }
}
