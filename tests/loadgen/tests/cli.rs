//! The `loadgen` binary's command line, without a server: what it refuses before connecting.
//! (Its scenarios against the real server are tests/loadgen_scenarios.rs of the server package.)

use std::process::Command;

fn loadgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
}

#[test]
fn a_non_loopback_target_is_refused_before_any_connection() {
    let output = loadgen().args(["--target", "192.0.2.1:8000"]).output().expect("loadgen runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("loopback"), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn an_unknown_scenario_exits_2_and_names_the_valid_ones() {
    let output = loadgen().args(["--scenario", "stampede"]).output().expect("loadgen runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("steady") && stderr.contains("storm"), "{stderr}");
}
