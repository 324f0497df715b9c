//! The load generator (`loadgen`, the workspace member tests/loadgen) against the real server
//! binary: small swarms, short phases, and the JSON report checked against what the server was
//! configured to do. The loadgen binary is the one `cargo test --release --workspace` (or `make
//! build`) put beside the server's (its own tests in tests/loadgen/tests make cargo build it).

// Tests drive real processes, sockets and clocks; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::process::{Command, Output};

use serde_json::Value;
use support::{ServerProcess, TempDir};

/// The synthetic producer: 1 KiB snapshots five times a second, so a 2 s phase has ~10 per client.
const SYNTHETIC: &[(&str, &str)] = &[("DEMO_SEED", "false"), ("DEMO_SNAPSHOT_BYTES", "1024"), ("WS_UPDATE_INTERVAL", "0.2")];

fn server(extra: &[(&str, &str)]) -> ServerProcess {
    let mut env = SYNTHETIC.to_vec();
    env.extend_from_slice(extra);
    ServerProcess::start(&env)
}

/// Runs the loadgen against `server` and returns its exit status and its JSON report.
fn loadgen(server: &ServerProcess, args: &[&str]) -> (Output, Value) {
    let dir = TempDir::new("loadgen");
    let json = dir.path().join("report.json");
    let output = Command::new(support::loadgen_binary())
        .args(["--target", &server.addr.to_string(), "--json", json.to_str().unwrap(), "--settle-timeout-s", "20"])
        .args(args)
        .output()
        .expect("loadgen runs");
    let text = std::fs::read_to_string(&json).unwrap_or_else(|e| {
        panic!("no report ({e}); stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
    });
    (output, serde_json::from_str(&text).expect("the report is JSON"))
}

fn phase<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["phases"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("no phase {name} in {report:#}"))
}

#[test]
fn steady_clients_all_connect_and_receive_every_snapshot_in_order() {
    let server = server(&[]);
    let (output, report) = loadgen(&server, &["--scenario", "steady", "--connections", "20", "--duration-s", "2", "--max-lost", "0"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    let ramp = phase(&report, "ramp");
    assert_eq!(ramp["connect"]["upgraded"], 20);
    assert_eq!(ramp["connect"]["failed"], 0);
    let steady = phase(&report, "steady");
    // 20 clients x 2 s x 5 snapshots/s = 200; allow for the phase edges and a loaded machine.
    let delivered = steady["delivery"]["count"].as_u64().unwrap();
    assert!((100..=220).contains(&delivered), "{delivered} snapshots measured");
    assert_eq!(steady["lost"], 0);
    assert_eq!(steady["reordered"], 0);
    assert_eq!(steady["server"]["active_connections_end"], 20.0);
}

#[test]
fn delivery_latency_is_positive_and_below_a_second_on_loopback() {
    let server = server(&[]);
    let (_, report) = loadgen(&server, &["--scenario", "steady", "--connections", "5", "--duration-s", "1.5"]);
    let delivery = &phase(&report, "steady")["delivery"];
    let (p50, max) = (delivery["p50_ms"].as_f64().unwrap(), delivery["max_ms"].as_f64().unwrap());
    assert!(p50 > 0.0 && p50 <= max && max < 1000.0, "{delivery}");
}

#[test]
fn a_failed_threshold_exits_with_status_1_and_names_the_check() {
    let server = server(&[]);
    let (output, report) = loadgen(&server, &["--scenario", "steady", "--connections", "5", "--duration-s", "1", "--max-p99-ms", "0.000001"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(report["passed"], false);
    let check = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "delivery p99 ms").expect("the p99 check");
    assert_eq!(check["passed"], false);
}

#[test]
fn upgrades_refused_by_a_full_server_count_as_failed_connections() {
    let server = server(&[("WS_MAX_CONNECTIONS", "6")]);
    let (output, report) = loadgen(&server, &["--scenario", "steady", "--connections", "10", "--duration-s", "0.5", "--min-connect-rate", "99"]);
    assert_eq!(output.status.code(), Some(1));
    let connect = &phase(&report, "ramp")["connect"];
    assert_eq!(connect["upgraded"], 6);
    assert_eq!(connect["failures"]["HTTP 503"], 4);
    assert_eq!(connect["success_percent"], 60.0);
}

#[test]
fn idle_connections_are_held_open_and_counted_by_the_server() {
    let server = server(&[]);
    let (output, report) = loadgen(&server, &["--scenario", "idle", "--connections", "40", "--duration-s", "1"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    assert_eq!(report["findings"]["idle_connections_held"], 40.0);
    let idle = phase(&report, "idle");
    assert_eq!(idle["server"]["active_connections_end"], 40.0);
    assert_eq!(idle["snapshots"], 0, "idle clients subscribe to nothing");
    assert!(report["findings"]["idle_rss_per_connection_bytes"].is_number());
}

#[test]
fn the_slow_group_stops_reading_while_the_fast_clients_keep_receiving() {
    let server = server(&[]);
    let (_, report) = loadgen(&server, &["--scenario", "slow", "--connections", "20", "--slow-percent", "50", "--duration-s", "1.5"]);
    assert_eq!(report["findings"]["stalled_clients"], 10.0);
    let (clean, slow) = (phase(&report, "clean"), phase(&report, "slow"));
    assert!(clean["delivery_slow_group"]["count"].as_u64().unwrap() > 0, "the slow group reads in the clean phase");
    assert_eq!(slow["delivery_slow_group"]["count"], 0, "stalled clients read nothing");
    assert!(slow["delivery"]["count"].as_u64().unwrap() > 0);
    assert_eq!(slow["lost"], 0, "fast clients lose nothing beside stalled ones");
}

#[test]
fn after_a_storm_every_client_is_served_again() {
    let server = server(&[]);
    let (output, report) = loadgen(&server, &["--scenario", "storm", "--connections", "30", "--max-served-s", "10"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    assert_eq!(report["findings"]["storm_clients"], 30.0);
    assert_eq!(report["findings"]["storm_served_again"], 30.0);
    assert_eq!(phase(&report, "storm")["served"]["count"], 30);
}

#[test]
fn churn_replaces_clients_at_the_requested_rate() {
    let server = server(&[]);
    let (output, report) =
        loadgen(&server, &["--scenario", "churn", "--connections", "10", "--churn-per-s", "10", "--duration-s", "2", "--min-connect-rate", "100"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    let churned = report["findings"]["churned_connections"].as_f64().unwrap();
    // 10 per second for 2 s, taken in 100 ms steps.
    assert!((18.0..=21.0).contains(&churned), "{churned}");
    assert_eq!(phase(&report, "churn")["connect"]["upgraded"].as_f64().unwrap(), churned);
}
