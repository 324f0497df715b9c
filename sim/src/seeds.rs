//! Which seeds a run covers: ranges from the command line, the fixed CI set, a seed derived from
//! the commit, and the regression list in `sim/seeds.txt`.

use std::ops::Range;
use std::path::Path;

/// The fixed seeds every CI run checks.
pub const CI_SEEDS: Range<u64> = 0..1000;

/// Parses `A..B` (B exclusive) or a single `N`.
pub fn parse_range(text: &str) -> Result<Range<u64>, String> {
    let parse = |s: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|e| format!("{s:?} is not a seed: {e}"))
    };
    match text.split_once("..") {
        Some((a, b)) => {
            let (a, b) = (parse(a)?, parse(b)?);
            if a >= b {
                return Err(format!(
                    "empty seed range {text:?}: the end is exclusive and must be larger"
                ));
            }
            Ok(a..b)
        }
        None => {
            let n = parse(text)?;
            Ok(n..n + 1)
        }
    }
}

/// Seeds listed in a regression file: one per line, `#` starts a comment, blank lines are skipped.
pub fn parse_seed_file(path: &Path, text: &str) -> Result<Vec<u64>, String> {
    let mut seeds = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let content = line.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let seed = content.parse::<u64>().map_err(|e| {
            format!(
                "{}:{}: {content:?} is not a seed: {e}",
                path.display(),
                index + 1
            )
        })?;
        seeds.push(seed);
    }
    Ok(seeds)
}

/// A seed derived from a commit hash: its first 16 hex digits.
pub fn seed_from_commit(hash: &str) -> Option<u64> {
    let hex = hash.trim().get(..16)?;
    u64::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_end_is_exclusive() {
        assert_eq!(parse_range("3..6"), Ok(3..6));
    }

    #[test]
    fn single_seed_is_a_range_of_one() {
        assert_eq!(parse_range("42"), Ok(42..43));
    }

    #[test]
    fn backwards_range_is_refused() {
        assert!(parse_range("6..3").is_err());
    }

    #[test]
    fn seed_file_skips_comments_and_names_the_bad_line() {
        let path = Path::new("seeds.txt");
        assert_eq!(
            parse_seed_file(path, "# header\n7 # bug\n\n9\n"),
            Ok(vec![7, 9])
        );
        let error = parse_seed_file(path, "7\nx\n").unwrap_err();
        assert!(error.starts_with("seeds.txt:2:"), "{error}");
    }

    #[test]
    fn commit_seed_uses_the_first_sixteen_hex_digits() {
        assert_eq!(seed_from_commit("00000000000000ffabc\n"), Some(255));
        assert_eq!(seed_from_commit("abc"), None);
    }
}
