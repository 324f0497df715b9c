//! Every test stops what it starts: the server a test starts is gone after the test, and so is its
//! folder, whether the test passes, panics, or its whole process is killed.

// Tests drive real processes and clocks; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// How long a killed process may take to disappear.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Set in the environment of the helper process `a_killed_test_process_takes_its_server_with_it`
/// starts (this same test binary, running `helper_starts_a_server_and_waits`).
const HELPER_VAR: &str = "LHM_TEST_HELPER_SERVER";

/// True while process `pid` exists (a zombie counts as gone: it runs nothing and holds no port).
fn process_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn wait_until_gone(pid: u32) -> bool {
    let deadline = Instant::now() + EXIT_TIMEOUT;
    while Instant::now() < deadline {
        if !process_running(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn a_panicking_test_stops_its_server_and_removes_its_folder() {
    let (tx, rx) = std::sync::mpsc::channel();
    let outcome = std::thread::spawn(move || {
        let server = ServerProcess::start(&[("DEMO_SEED", "false")]);
        tx.send((server.child.id(), server.dir.path().to_path_buf())).unwrap();
        assert_eq!(http_get(server.addr, "/health").status, 200);
        panic!("the test fails while its server runs");
    })
    .join();
    assert!(outcome.is_err(), "the thread was meant to panic");
    let (pid, dir) = rx.recv().unwrap();
    assert!(wait_until_gone(pid), "server {pid} still runs after its test panicked");
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

#[test]
fn a_killed_test_process_takes_its_server_with_it() {
    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "helper_starts_a_server_and_waits", "--ignored", "--nocapture", "--test-threads=1"])
        .env(HELPER_VAR, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(helper.stdout.take().unwrap());
    let mut started = None;
    for line in stdout.lines().map_while(Result::ok) {
        // libtest may have printed "test NAME ... " on the same line first.
        if let Some(rest) = line.split_once("server pid=").map(|(_, rest)| rest) {
            let (pid, dir) = rest.split_once(" dir=").unwrap();
            started = Some((pid.parse::<u32>().unwrap(), PathBuf::from(dir)));
            break;
        }
    }
    // The test process dies without running any destructor, as under a timeout's SIGKILL.
    let _ = helper.kill();
    let _ = helper.wait();
    let (pid, dir) = started.expect("the helper started a server");
    let gone = wait_until_gone(pid);
    // A killed process cannot remove its folder; this test does, having checked the server.
    let _ = std::fs::remove_dir_all(&dir);
    if !gone {
        // SAFETY: kill with the pid of the leaked server, so this test leaves nothing behind.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    assert!(gone, "server {pid} outlived the killed test process");
}

/// Run only by `a_killed_test_process_takes_its_server_with_it`, in a process of its own.
#[test]
#[ignore = "a helper run by a_killed_test_process_takes_its_server_with_it"]
fn helper_starts_a_server_and_waits() {
    if std::env::var_os(HELPER_VAR).is_none() {
        return;
    }
    let server = ServerProcess::start(&[("DEMO_SEED", "false")]);
    println!("server pid={} dir={}", server.child.id(), server.dir.path().display());
    std::thread::sleep(EXIT_TIMEOUT * 3);
}
