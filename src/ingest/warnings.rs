//! Rows that are stored but that the model will not trust: open interest of 0, or a one-bar jump
//! by an implausible factor (the rule of `engine::OpenInterestCheck`, docs/model.md "Data that
//! lies"). They are warnings, not rejections: the file goes in, and each such row is named by
//! file and line so the operator can look at the source.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::engine::{OpenInterestCheck, OpenInterestVerdict, OPEN_INTEREST_JUMP_MAX_DEFAULT};

use super::parsed::Parsed;

/// Most warnings one file lists in detail; the rest are counted.
pub const WARNINGS_LISTED_MAX: usize = 100;

/// One open-interest value the model treats as missing.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestWarning {
    pub path: PathBuf,
    /// 1-based line of the file.
    pub line: u64,
    pub symbol: String,
    pub time_ms: i64,
    /// The USD open interest on that line.
    pub value_usd: f64,
    pub verdict: OpenInterestVerdict,
}

impl fmt::Display for IngestWarning {
    /// `FILE:LINE: BTCUSDT open interest 0 at 1780807200000 is not positive; the model treats it
    /// as missing`, or `... 320000000000 at ... is 50x the previous plausible value 6400000000; ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {} open interest {} at {}",
            self.path.display(),
            self.line,
            self.symbol,
            self.value_usd,
            self.time_ms
        )?;
        match self.verdict {
            OpenInterestVerdict::NotPositive => write!(f, " is not positive")?,
            OpenInterestVerdict::Jump { reference, factor } => write!(
                f,
                " is {factor:.3}x away from the previous plausible value {reference} (more than \
                 {OPEN_INTEREST_JUMP_MAX_DEFAULT}x in one bar)"
            )?,
            OpenInterestVerdict::Plausible => {}
        }
        write!(f, "; the model treats it as missing")
    }
}

/// Runs the plausibility rule over every open-interest series of the file, in time order.
/// Returns the first [`WARNINGS_LISTED_MAX`] warnings and the total count.
pub(crate) fn open_interest_warnings(path: &Path, parsed: &Parsed) -> (Vec<IngestWarning>, u64) {
    let mut listed = Vec::new();
    let mut total = 0u64;
    for (index, series) in parsed.open_interest.iter().enumerate() {
        let mut check = OpenInterestCheck::new(OPEN_INTEREST_JUMP_MAX_DEFAULT);
        for (row, point) in series.points.iter().enumerate() {
            let Some(value_usd) = point.value_usd else { continue };
            let verdict = check.check(value_usd);
            if verdict == OpenInterestVerdict::Plausible {
                continue;
            }
            total += 1;
            if listed.len() < WARNINGS_LISTED_MAX {
                let line = parsed
                    .open_interest_lines
                    .get(index)
                    .and_then(|lines| lines.get(row))
                    .copied()
                    .unwrap_or(0);
                listed.push(IngestWarning {
                    path: path.to_path_buf(),
                    line,
                    symbol: series.symbol.clone(),
                    time_ms: point.time_ms,
                    value_usd,
                    verdict,
                });
            }
        }
    }
    (listed, total)
}
