//! The deployment of deploy/ with the real programs: `deploy/local-cluster` starts two servers,
//! redis-server and nginx (deploy/nginx.conf) on loopback; clients connect through nginx from
//! distinct loopback source addresses.
//!
//! The Redis bus (issue 15) is not part of these servers yet: each server streams its own data,
//! so a client that moves to the other server sees another `epoch` and must resync. Assertions
//! marked `TIGHTEN(bus)` are the ones to make stricter once the bus is merged (same epoch and
//! the next seq on every node).

// Tests drive real processes, sockets and clocks; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod deploy_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use deploy_support::*;

/// Synthetic snapshots every second: a stream that moves without market data.
const FAST_STREAM: &str = "DEMO_SEED=false DEMO_SNAPSHOT_BYTES=512 WS_UPDATE_INTERVAL=1";

#[test]
fn through_nginx_the_page_rest_and_a_websocket_stream_work() {
    // The bundled demo, so REST has data to answer from.
    let cluster = Cluster::start(&[("SERVER_ENV", "WS_UPDATE_INTERVAL=1 DEMO_REPLAY_INTERVAL=1")]);
    let page = get_from(source(0), cluster.nginx, "/");
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("<html") || String::from_utf8_lossy(&page.body).contains("<!doctype"), "the page");
    let config = get_from(source(0), cluster.nginx, "/api/config");
    assert_eq!(config.status, 200);
    assert!(config.json()["supported_symbols"].is_array() || config.json().is_object(), "{:?}", config.json());
    let rest = get_from(source(0), cluster.nginx, "/liquidations/heatmap-timeseries?symbol=BTCUSDT&interval=1h&time_window=48h");
    assert_eq!(rest.status, 200, "{}", String::from_utf8_lossy(&rest.body));
    assert!(rest.json()["data"].is_array(), "{}", String::from_utf8_lossy(&rest.body));

    let (mut ws, answer) = ws_from(source(0), cluster.nginx).expect("upgrade through nginx");
    assert_eq!(answer.status, 101);
    send(&mut ws, r#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
    let first = next_snapshot(&mut ws).expect("a snapshot through nginx");
    assert_eq!(first["symbol"], "BTCUSDT");
    assert!(first["data"]["levels"].is_array(), "{first}");
}

#[test]
fn consistent_hash_spreads_sources_over_both_servers_and_a_source_always_lands_on_the_same_one() {
    let cluster = Cluster::start(&[("REDIS", "false"), ("SERVER_ENV", "DEMO_SEED=false")]);
    let mut placement: BTreeMap<usize, String> = BTreeMap::new();
    for n in 0..24 {
        let answer = get_from(source(n), cluster.nginx, "/health");
        assert_eq!(answer.status, 200);
        placement.insert(n, answer.served_by());
    }
    let servers: BTreeSet<&String> = placement.values().collect();
    assert_eq!(servers.len(), 2, "24 sources all on one server: {placement:?}");
    // Reconnecting (new connections, HTTP and WebSocket) from the same source lands on the same
    // server, as `hash $remote_addr consistent` says.
    for n in [0, 5, 11, 23] {
        assert_eq!(get_from(source(n), cluster.nginx, "/health").served_by(), placement[&n], "source {n} moved");
        let (_ws, answer) = ws_from(source(n), cluster.nginx).expect("upgrade");
        assert_eq!(answer.served_by(), placement[&n], "source {n}'s WebSocket went elsewhere");
    }
}

/// Reads snapshots until one was sent after `after_unix_ms` (the server's `sent_at_ms`), checking
/// that each follows the previous one: the next seq in the same epoch, or a new epoch (a resync
/// the client is told about). Returns the last position, or `None` when the connection ended
/// first, with the position before the end.
fn follow(ws: &mut Ws, mut last: Option<(String, u64)>, after_unix_ms: i64) -> Result<(String, u64), Option<(String, u64)>> {
    // Bounded: at one snapshot a second, 60 is a minute of backlog.
    for _ in 0..60 {
        let Some(snapshot) = next_snapshot(ws) else { return Err(last) };
        let here = position(&snapshot);
        if let Some((epoch, seq)) = &last {
            assert!(*epoch != here.0 || here.1 == seq + 1, "silent gap or duplicate: {epoch}/{seq} then {}/{}", here.0, here.1);
        }
        last = Some(here.clone());
        if snapshot["sent_at_ms"].as_i64().unwrap_or(0) > after_unix_ms {
            return Ok(here);
        }
    }
    panic!("no snapshot sent after {after_unix_ms} in 60");
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn killing_one_server_moves_its_clients_to_the_other_and_they_keep_receiving() {
    let cluster = Cluster::start(&[("SERVER_ENV", FAST_STREAM)]);
    let mut clients = Vec::new();
    for n in 0..12 {
        let (mut ws, answer) = ws_from(source(n), cluster.nginx).expect("upgrade");
        send(&mut ws, r#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
        clients.push((n, ws, cluster.server_index(&answer.served_by()), None));
    }
    let on: Vec<usize> = clients.iter().map(|c| c.2).collect();
    assert!(on.contains(&1) && on.contains(&2), "clients on both servers: {on:?}");
    for (_, ws, _, last) in clients.iter_mut() {
        *last = Some(follow(ws, None, 0).expect("a snapshot before the kill"));
    }
    cluster.kill_server(1);
    let killed_ms = unix_ms();
    for (_, ws, _, last) in clients.iter_mut().filter(|c| c.2 == 2) {
        follow(ws, last.clone(), killed_ms + 1000).expect("a client of the surviving server keeps receiving in order");
    }
    for (n, ws, _, last) in clients.iter_mut().filter(|c| c.2 == 1) {
        let before = follow(ws, last.clone(), i64::MAX).expect_err("a client of the killed server sees its connection end");
        let before = before.expect("a position before the end");
        // It reconnects from the same source, as the page does: nginx skips the dead server.
        let (mut again, answer) = ws_from(source(*n), cluster.nginx).expect("reconnect through nginx");
        assert_eq!(cluster.server_index(&answer.served_by()), 2);
        send(&mut again, r#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
        let after = position(&next_snapshot(&mut again).expect("a snapshot after reconnecting"));
        // TIGHTEN(bus): with issue 15's bus both servers carry one stream, so this must become
        // `after.0 == before.0 && after.1 > before.1` (same epoch, no silent gap; the page fills
        // a skipped seq from REST). Without the bus each server has its own epoch, and the client
        // is told to resync by the epoch change: never the same epoch with a seq that is not new.
        assert!(after.0 != before.0 || after.1 > before.1, "{before:?} then {after:?}");
        follow(&mut again, Some(after), unix_ms() + 1000).expect("it keeps receiving on the other server");
    }
}

#[test]
fn a_pinging_idle_websocket_outlives_the_proxy_timeout_and_a_silent_one_is_cut_by_nginx() {
    // nginx idle timeout 2 s (deploy/nginx.conf's PROXY_TIMEOUT); the servers' own idle timeout
    // (60 s) is far away, and nobody subscribes, so only pongs cross the proxy.
    let cluster = Cluster::start(&[("REDIS", "false"), ("SERVERS", "1"), ("PROXY_TIMEOUT", "2s"), ("SERVER_ENV", "DEMO_SEED=false")]);
    let (mut pinging, _) = ws_from(source(0), cluster.nginx).expect("upgrade");
    let (mut silent, _) = ws_from(source(1), cluster.nginx).expect("upgrade");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        send(&mut pinging, r#"{"action":"ping"}"#);
        let pong = next(&mut pinging).expect("the pinging client stays connected past nginx's 2 s");
        assert_eq!(pong["type"], "pong");
        std::thread::sleep(Duration::from_millis(500));
    }
    // The silent one was cut by nginx after ~2 s with no close frame from the server: the browser
    // sees 1006, and the server logs the peer gone (docs/websocket_troubleshooting.md,
    // "Connection keeps disconnecting").
    assert!(next(&mut silent).is_none(), "the silent client must be gone");
    let log = cluster.server_log(1);
    assert!(log.contains("event=ws_disconnect") && log.contains("reason=peer_gone"), "{log}");
}

#[test]
fn a_canary_with_websockets_disabled_answers_503_and_the_other_server_streams() {
    // The rollback of docs/deployment.md: WS_ENABLED=false on one server.
    let cluster = Cluster::start(&[("REDIS", "false"), ("SERVER_ENV", FAST_STREAM), ("SERVER_ENV_2", "WS_ENABLED=false")]);
    let mut seen = BTreeSet::new();
    for n in 0..24 {
        let served = get_from(source(n), cluster.nginx, "/health").served_by();
        let server = cluster.server_index(&served);
        match ws_from(source(n), cluster.nginx) {
            Ok((mut ws, _)) => {
                assert_eq!(server, 1, "only server 1 upgrades");
                send(&mut ws, r#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
                assert!(next_snapshot(&mut ws).is_some());
            }
            Err(status) => {
                assert_eq!((server, status), (2, 503), "server 2 refuses with 503 WS_DISABLED");
            }
        }
        seen.insert(server);
    }
    assert_eq!(seen.len(), 2);
    let disabled = get_from(source(99), cluster.server(2), "/ws/heatmap");
    assert_eq!(disabled.status, 503);
    assert_eq!(disabled.json()["error"]["code"], "WS_DISABLED");
}

/// The diagnosis docs/websocket_troubleshooting.md gives for "WebSocket connection failed":
/// a handshake by hand with curl through the proxy. Returns curl's output (the answer's head and
/// body; a 101 leaves the connection open until --max-time).
fn documented_handshake(nginx: std::net::SocketAddr) -> String {
    let output = std::process::Command::new("curl")
        .args(["-si", "--max-time", "3", "-H", "Connection: Upgrade", "-H", "Upgrade: websocket", "-H", "Sec-WebSocket-Version: 13"])
        .args(["-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="])
        .arg(format!("http://{nginx}/ws/heatmap"))
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&output.stdout).to_string()
}

#[test]
fn a_proxy_without_upgrade_headers_fails_the_handshake_as_the_troubleshooting_guide_shows() {
    // deploy/nginx.conf without its two Upgrade/Connection lines: a common proxy mistake.
    let good = std::fs::read_to_string(repo_root().join("deploy/nginx.conf")).unwrap();
    let broken: String = good
        .lines()
        .filter(|l| !l.contains("proxy_set_header Upgrade") && !l.contains("proxy_set_header Connection"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(broken.len() < good.len());
    let dir = std::env::temp_dir().join(format!("lhm-broken-nginx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("nginx.conf");
    std::fs::write(&path, broken).unwrap();
    let cluster = Cluster::start(&[("REDIS", "false"), ("SERVERS", "1"), ("NGINX_CONF", path.to_str().unwrap()), ("SERVER_ENV", "DEMO_SEED=false")]);
    let answer = documented_handshake(cluster.nginx);
    assert!(answer.starts_with("HTTP/1.1 426"), "{answer}");
    assert!(answer.contains("UPGRADE_REQUIRED"), "{answer}");
    assert!(ws_from(source(0), cluster.nginx).is_err(), "a real client fails too");
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
    // The shipped configuration passes the same handshake.
    let cluster = Cluster::start(&[("REDIS", "false"), ("SERVERS", "1"), ("SERVER_ENV", "DEMO_SEED=false")]);
    let answer = documented_handshake(cluster.nginx);
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
}
