//! `make test` runs every suite, keeps going after a failure, and prints a summary computed from
//! the suites that ran (not a fixed line).

// Tests run make and read files; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::process::Command;

use support::{repo_root, TempDir};

/// The suites `TEST_SUITES` lists in the Makefile, and every `test-*` target it defines.
fn makefile_suites() -> (Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(repo_root().join("Makefile")).unwrap();
    let listed = text
        .lines()
        .find_map(|line| line.strip_prefix("TEST_SUITES :="))
        .expect("the Makefile defines TEST_SUITES")
        .split_whitespace()
        .map(String::from)
        .collect();
    let targets = text
        .lines()
        .filter_map(|line| line.split_once(':').map(|(name, _)| name))
        .filter(|name| name.starts_with("test-") && !name.contains(' '))
        .map(String::from)
        .collect();
    (listed, targets)
}

#[test]
fn make_test_runs_every_test_target() {
    let (listed, targets) = makefile_suites();
    assert!(targets.len() >= 5, "test-* targets found: {targets:?}");
    let missing: Vec<&String> = targets.iter().filter(|t| !listed.contains(t)).collect();
    assert!(missing.is_empty(), "test targets that `make test` would not run: {missing:?} (add them to TEST_SUITES)");
    let text = std::fs::read_to_string(repo_root().join("Makefile")).unwrap();
    assert!(text.contains("tests/run_suites.sh $(TEST_SUITES)"), "make test runs the suites through tests/run_suites.sh");
}

#[test]
fn summary_counts_the_suites_that_ran_and_fails_when_one_failed() {
    let dir = TempDir::new("suites");
    std::fs::write(
        dir.path().join("Makefile"),
        "first:\n\t@echo ran-first\nbroken:\n\t@false\nlast:\n\t@echo ran-last\n",
    )
    .unwrap();
    let output = Command::new("bash")
        .arg(repo_root().join("tests/run_suites.sh"))
        .args(["first", "broken", "last"])
        .current_dir(dir.path())
        .env("MAKE", "make")
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("ran-last"), "the suite after the failed one ran: {stdout}");
    assert!(stdout.contains("suites: 2 passed, 1 failed (broken)"), "{stdout}");
    assert!(stdout.lines().any(|l| l.contains("broken") && l.contains("FAILED")), "{stdout}");
}

#[test]
fn summary_of_passing_suites_exits_zero() {
    let dir = TempDir::new("suites-ok");
    std::fs::write(dir.path().join("Makefile"), "one:\n\t@true\ntwo:\n\t@true\n").unwrap();
    let output = Command::new("bash")
        .arg(repo_root().join("tests/run_suites.sh"))
        .args(["one", "two"])
        .current_dir(dir.path())
        .env("MAKE", "make")
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("suites: 2 passed, 0 failed"), "{stdout}");
}
