//! Model parameters: leverage tiers, maintenance margin rate, how and where new positions open,
//! turnover and decay, the open-interest plausibility rule; with validation and two presets
//! (`calibrated`, the default, and `legacy`, the model before calibration). docs/model.md.

use std::fmt;

use super::open_interest_check::OPEN_INTEREST_JUMP_MAX_DEFAULT;

/// At most this many leverage tiers; each tier costs one book insert per side per bar.
pub const TIERS_MAX: usize = 20;
/// Highest leverage accepted (Binance's maximum on USD-M futures).
pub const LEVERAGE_MAX: f64 = 125.0;
/// The maintenance margin rate must be below this (a rate of 50% would put short liquidations
/// at or below half of the leverage cushion, which no venue uses).
pub const MMR_LIMIT: f64 = 0.5;
/// Largest tier weight: weights are relative (percentages are typical), and the bound keeps
/// their sum finite.
pub const WEIGHT_MAX: f64 = 1e9;

/// One leverage tier: new positions are opened at `leverage` with a share proportional to `weight`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeverageTier {
    pub leverage: f64,
    /// Relative weight; weights are normalised over all tiers, so percentages or fractions both work.
    pub weight: f64,
}

/// Most entry prices one opening is spread over (each costs one book insert per tier and side).
pub const ENTRY_POINTS_MAX: u32 = 16;
/// Largest liquidation-price grid step (1% of the price); 0 means exact prices.
pub const PRICE_STEP_MAX: f64 = 0.01;
/// Largest accepted open-interest jump factor of the plausibility rule.
pub const OPEN_INTEREST_JUMP_MAX_LIMIT: f64 = 1e6;

/// How a bar's new open interest is divided between longs and shorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpeningSplit {
    /// The taker-buy share of volume when known, otherwise all long on a rising bar, all short
    /// on a falling bar, half and half on a flat bar (the legacy rule).
    Candle,
    /// Half long, half short: every new contract has a buyer and a seller, so a rise in open
    /// interest opens as many longs as shorts.
    Even,
}

impl OpeningSplit {
    pub fn name(self) -> &'static str {
        match self {
            OpeningSplit::Candle => "candle",
            OpeningSplit::Even => "even",
        }
    }

    /// `candle` or `even`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "candle" => Ok(OpeningSplit::Candle),
            "even" => Ok(OpeningSplit::Even),
            other => Err(format!("split {other:?} is not one of: candle, even")),
        }
    }
}

/// Everything the model needs besides the bars.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineParams {
    pub tiers: Vec<LeverageTier>,
    /// Maintenance margin rate (0.004 = 0.4%).
    pub mmr: f64,
    /// New positions open at this many entry prices spread evenly over the bar's [low, high]
    /// (at `low + (high - low) * (i + 0.5) / n`); 1 = one entry at the VWAP, else the close.
    pub entry_points: u32,
    /// How new open interest divides between longs and shorts.
    pub split: OpeningSplit,
    /// Fraction of every open position closed per hour and replaced by the same fraction of the
    /// bar's open interest opened at the bar (positions change hands while the net open interest
    /// barely moves); in `[0, 1)`, 0 = off.
    pub turnover_per_hour: f64,
    /// Fraction of every open position closed per hour without replacement; in `[0, 1)`.
    pub decay_per_hour: f64,
    /// The open-interest plausibility rule's jump factor (`open_interest_check`); `None` takes
    /// every value at face value (legacy).
    pub open_interest_jump_max: Option<f64>,
    /// Liquidation prices snap to a geometric grid of this relative step (1e-4 = 1 basis point),
    /// which merges nearby positions and bounds the book's size; 0 = exact prices.
    pub price_step: f64,
}

/// Why a parameter set was rejected.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamsError {
    NoTiers,
    TooManyTiers {
        count: usize,
    },
    LeverageOutOfRange {
        leverage: f64,
    },
    WeightInvalid {
        leverage: f64,
        weight: f64,
    },
    AllWeightsZero,
    DuplicateLeverage {
        leverage: f64,
    },
    MmrOutOfRange {
        mmr: f64,
    },
    /// With mmr >= 1/leverage a long's liquidation price would not be below its entry.
    MmrNotBelowInverseLeverage {
        mmr: f64,
        leverage: f64,
    },
    /// A numeric parameter outside its range (`range` says which).
    OutOfRange {
        name: &'static str,
        value: f64,
        range: &'static str,
    },
}

impl fmt::Display for ParamsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoTiers => write!(f, "no leverage tiers given"),
            Self::TooManyTiers { count } => {
                write!(f, "{count} leverage tiers given, at most {TIERS_MAX} allowed")
            }
            Self::LeverageOutOfRange { leverage } => write!(
                f,
                "leverage {leverage} is out of range: it must be above 1 and at most {LEVERAGE_MAX}"
            ),
            Self::WeightInvalid { leverage, weight } => write!(
                f,
                "weight {weight} of leverage {leverage} is invalid: it must be a number in [0, {WEIGHT_MAX}]"
            ),
            Self::AllWeightsZero => write!(f, "all tier weights are zero"),
            Self::DuplicateLeverage { leverage } => {
                write!(f, "leverage {leverage} is listed more than once")
            }
            Self::MmrOutOfRange { mmr } => write!(
                f,
                "maintenance margin rate {mmr} is out of range: it must be >= 0 and below {MMR_LIMIT}"
            ),
            Self::MmrNotBelowInverseLeverage { mmr, leverage } => write!(
                f,
                "maintenance margin rate {mmr} must be below 1/leverage = {} for leverage {leverage} \
                 (otherwise a long would be liquidated at or above its entry)",
                1.0 / leverage
            ),
            Self::OutOfRange { name, value, range } => {
                write!(f, "{name} {value} is out of range: it must be {range}")
            }
        }
    }
}

impl std::error::Error for ParamsError {}

/// The preset names [`EngineParams::preset`] accepts.
pub const PRESET_NAMES: [&str; 2] = ["calibrated", "legacy"];

impl Default for EngineParams {
    /// The calibrated preset.
    fn default() -> Self {
        Self::calibrated()
    }
}

impl EngineParams {
    /// The parameters chosen with `liquidationheatmap backtest` on the realised liquidations of
    /// 2026-05-21..2026-05-30 (docs/model.md, "Calibration"): high leverage, even split, entries
    /// spread over the bar, turnover, implausible open interest treated as missing.
    pub fn calibrated() -> Self {
        let tier = |leverage, weight| LeverageTier { leverage, weight };
        Self {
            tiers: vec![
                tier(25.0, 20.0),
                tier(50.0, 30.0),
                tier(100.0, 30.0),
                tier(125.0, 20.0),
            ],
            mmr: 0.004,
            entry_points: 5,
            split: OpeningSplit::Even,
            turnover_per_hour: 0.05,
            decay_per_hour: 0.0,
            open_interest_jump_max: Some(OPEN_INTEREST_JUMP_MAX_DEFAULT),
            price_step: 1e-4,
        }
    }

    /// The model before calibration, kept for comparison: 5x-100x tiers, entry at the VWAP or
    /// close, split by taker share or candle direction, no turnover, open interest at face value.
    pub fn legacy() -> Self {
        let tier = |leverage, weight| LeverageTier { leverage, weight };
        Self {
            tiers: vec![
                tier(5.0, 15.0),
                tier(10.0, 30.0),
                tier(25.0, 25.0),
                tier(50.0, 20.0),
                tier(100.0, 10.0),
            ],
            mmr: 0.004,
            entry_points: 1,
            split: OpeningSplit::Candle,
            turnover_per_hour: 0.0,
            decay_per_hour: 0.0,
            open_interest_jump_max: None,
            price_step: 0.0,
        }
    }

    /// A preset by name: `calibrated` or `legacy`.
    pub fn preset(name: &str) -> Result<Self, String> {
        match name.trim() {
            "calibrated" => Ok(Self::calibrated()),
            "legacy" => Ok(Self::legacy()),
            other => Err(format!(
                "model preset {other:?} is not one of: {}",
                PRESET_NAMES.join(", ")
            )),
        }
    }

    /// Parses `"leverage:weight,..."`, e.g. `"5:15,10:30,25:25,50:20,100:10"` (spaces allowed).
    /// The error names the offending item and why it is wrong.
    pub fn parse_weights(text: &str) -> Result<Vec<LeverageTier>, String> {
        if text.trim().is_empty() {
            return Err(ParamsError::NoTiers.to_string());
        }
        let items: Vec<&str> = text.split(',').collect();
        if items.len() > TIERS_MAX {
            return Err(ParamsError::TooManyTiers { count: items.len() }.to_string());
        }
        let mut tiers = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let tier = parse_tier(item)
                .map_err(|reason| format!("tier {} \"{}\": {reason}", index + 1, item.trim()))?;
            tiers.push(tier);
        }
        validate_tiers(&tiers)?;
        Ok(tiers)
    }

    /// Checks every rule listed in docs/model.md; `Engine::new` calls this.
    pub fn validate(&self) -> Result<(), ParamsError> {
        check_tiers(&self.tiers)?;
        if !(1..=ENTRY_POINTS_MAX).contains(&self.entry_points) {
            return Err(ParamsError::OutOfRange {
                name: "entry_points",
                value: f64::from(self.entry_points),
                range: "1 to 16",
            });
        }
        for (name, value) in [
            ("turnover_per_hour", self.turnover_per_hour),
            ("decay_per_hour", self.decay_per_hour),
        ] {
            if !(value.is_finite() && (0.0..1.0).contains(&value)) {
                return Err(ParamsError::OutOfRange {
                    name,
                    value,
                    range: "0 (inclusive) to 1 (exclusive)",
                });
            }
        }
        if let Some(jump_max) = self.open_interest_jump_max {
            if !(jump_max.is_finite() && jump_max > 1.0 && jump_max <= OPEN_INTEREST_JUMP_MAX_LIMIT) {
                return Err(ParamsError::OutOfRange {
                    name: "open_interest_jump_max",
                    value: jump_max,
                    range: "above 1, at most 1000000",
                });
            }
        }
        if !(self.price_step.is_finite() && (0.0..=PRICE_STEP_MAX).contains(&self.price_step)) {
            return Err(ParamsError::OutOfRange {
                name: "price_step",
                value: self.price_step,
                range: "0 to 0.01",
            });
        }
        if !(self.mmr.is_finite() && self.mmr >= 0.0 && self.mmr < MMR_LIMIT) {
            return Err(ParamsError::MmrOutOfRange { mmr: self.mmr });
        }
        for tier in self.tiers.iter().filter(|tier| tier.weight > 0.0) {
            if self.mmr >= 1.0 / tier.leverage {
                return Err(ParamsError::MmrNotBelowInverseLeverage {
                    mmr: self.mmr,
                    leverage: tier.leverage,
                });
            }
        }
        Ok(())
    }
}

fn validate_tiers(tiers: &[LeverageTier]) -> Result<(), String> {
    check_tiers(tiers).map_err(|error| error.to_string())
}

fn parse_tier(item: &str) -> Result<LeverageTier, String> {
    let (leverage_text, weight_text) = item
        .split_once(':')
        .ok_or_else(|| "expected leverage:weight, e.g. 10:30".to_string())?;
    let number = |what: &str, text: &str| -> Result<f64, String> {
        let text = text.trim();
        match text.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(value),
            _ => Err(format!("{what} \"{text}\" is not a finite number")),
        }
    };
    Ok(LeverageTier {
        leverage: number("leverage", leverage_text)?,
        weight: number("weight", weight_text)?,
    })
}

fn check_tiers(tiers: &[LeverageTier]) -> Result<(), ParamsError> {
    if tiers.is_empty() {
        return Err(ParamsError::NoTiers);
    }
    if tiers.len() > TIERS_MAX {
        return Err(ParamsError::TooManyTiers { count: tiers.len() });
    }
    for (index, tier) in tiers.iter().enumerate() {
        if !(tier.leverage.is_finite() && tier.leverage > 1.0 && tier.leverage <= LEVERAGE_MAX) {
            return Err(ParamsError::LeverageOutOfRange {
                leverage: tier.leverage,
            });
        }
        if !(tier.weight.is_finite() && (0.0..=WEIGHT_MAX).contains(&tier.weight)) {
            return Err(ParamsError::WeightInvalid {
                leverage: tier.leverage,
                weight: tier.weight,
            });
        }
        if tiers[..index]
            .iter()
            .any(|earlier| earlier.leverage == tier.leverage)
        {
            return Err(ParamsError::DuplicateLeverage {
                leverage: tier.leverage,
            });
        }
    }
    if tiers.iter().all(|tier| tier.weight == 0.0) {
        return Err(ParamsError::AllWeightsZero);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_tiers_are_the_documented_ones() {
        let legacy = EngineParams::parse_weights("5:15,10:30,25:25,50:20,100:10").unwrap();
        assert_eq!(legacy, EngineParams::legacy().tiers);
        let calibrated = EngineParams::parse_weights("25:20,50:30,100:30,125:20").unwrap();
        assert_eq!(calibrated, EngineParams::default().tiers);
        assert_eq!(EngineParams::default().mmr, 0.004);
    }

    #[test]
    fn both_presets_are_valid_and_found_by_name() {
        for name in PRESET_NAMES {
            assert_eq!(EngineParams::preset(name).unwrap().validate(), Ok(()));
        }
        assert_eq!(EngineParams::preset("calibrated").unwrap(), EngineParams::default());
        assert!(EngineParams::preset("best").unwrap_err().contains("calibrated, legacy"));
    }

    #[test]
    fn a_turnover_of_one_per_hour_is_rejected_with_its_range() {
        let params = EngineParams {
            turnover_per_hour: 1.0,
            ..EngineParams::default()
        };
        assert_eq!(
            params.validate().unwrap_err().to_string(),
            "turnover_per_hour 1 is out of range: it must be 0 (inclusive) to 1 (exclusive)"
        );
    }

    #[test]
    fn parse_weights_tolerates_spaces() {
        let parsed = EngineParams::parse_weights(" 5 : 1 , 20:3 ").unwrap();
        assert_eq!(
            parsed,
            vec![
                LeverageTier {
                    leverage: 5.0,
                    weight: 1.0
                },
                LeverageTier {
                    leverage: 20.0,
                    weight: 3.0
                }
            ]
        );
    }

    #[test]
    fn parse_weights_names_a_non_number() {
        let error = EngineParams::parse_weights("5:15,10:abc").unwrap_err();
        assert_eq!(
            error,
            "tier 2 \"10:abc\": weight \"abc\" is not a finite number"
        );
    }

    #[test]
    fn parse_weights_rejects_an_item_without_colon() {
        let error = EngineParams::parse_weights("5:15,10").unwrap_err();
        assert_eq!(error, "tier 2 \"10\": expected leverage:weight, e.g. 10:30");
    }

    #[test]
    fn parse_weights_rejects_leverage_of_one() {
        let error = EngineParams::parse_weights("1:10").unwrap_err();
        assert!(error.starts_with("leverage 1 is out of range"), "{error}");
    }

    #[test]
    fn parse_weights_rejects_leverage_above_125() {
        let error = EngineParams::parse_weights("126:10").unwrap_err();
        assert!(error.starts_with("leverage 126 is out of range"), "{error}");
    }

    #[test]
    fn parse_weights_rejects_negative_weight() {
        let error = EngineParams::parse_weights("5:10,10:-1").unwrap_err();
        assert!(
            error.starts_with("weight -1 of leverage 10 is invalid"),
            "{error}"
        );
    }

    #[test]
    fn parse_weights_rejects_all_zero_weights() {
        let error = EngineParams::parse_weights("5:0,10:0").unwrap_err();
        assert_eq!(error, "all tier weights are zero");
    }

    #[test]
    fn parse_weights_rejects_duplicate_leverage() {
        let error = EngineParams::parse_weights("5:1,10:1,5:2").unwrap_err();
        assert_eq!(error, "leverage 5 is listed more than once");
    }

    #[test]
    fn parse_weights_rejects_more_than_twenty_tiers() {
        let text: Vec<String> = (2..=22).map(|leverage| format!("{leverage}:1")).collect();
        let error = EngineParams::parse_weights(&text.join(",")).unwrap_err();
        assert_eq!(error, "21 leverage tiers given, at most 20 allowed");
    }

    #[test]
    fn parse_weights_rejects_empty_text() {
        assert_eq!(
            EngineParams::parse_weights("  ").unwrap_err(),
            "no leverage tiers given"
        );
    }

    #[test]
    fn mmr_of_one_half_is_rejected() {
        let params = EngineParams {
            mmr: 0.5,
            ..EngineParams::legacy()
        };
        assert_eq!(
            params.validate(),
            Err(ParamsError::MmrOutOfRange { mmr: 0.5 })
        );
    }

    #[test]
    fn mmr_at_inverse_leverage_is_rejected() {
        let params = EngineParams {
            mmr: 0.01,
            ..EngineParams::legacy()
        };
        assert_eq!(
            params.validate(),
            Err(ParamsError::MmrNotBelowInverseLeverage {
                mmr: 0.01,
                leverage: 100.0
            })
        );
    }
}
