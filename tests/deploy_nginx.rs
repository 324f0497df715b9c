//! The deployment of deploy/ with the real programs: `deploy/local-cluster` starts two servers,
//! redis-server and nginx (deploy/nginx.conf) on loopback; clients connect through nginx from
//! distinct loopback source addresses.
//!
//! Unless a test says `REDIS=false`, the servers run with the Redis bus (issue 15,
//! docs/multi_server_deployment.md): one leader stamps and publishes, every server forwards the
//! same snapshot messages, so a client that moves to another server continues the same stream.

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

/// A snapshot a client received: its position in the stream and the whole message.
#[derive(Clone, Debug)]
struct Seen {
    position: (String, u64),
    message: serde_json::Value,
}

impl Seen {
    fn of(message: serde_json::Value) -> Seen {
        Seen { position: position(&message), message }
    }
}

/// Reads snapshots until one was sent after `after_unix_ms` (the stamp's `sent_at_ms`), checking
/// that each follows the previous one: the next seq in the same epoch, or a new epoch (a resync
/// the client is told about); never a duplicate, a regression or a silent skip. Returns the last
/// snapshot, or, when the connection ended first, the last one before the end.
fn follow(ws: &mut Ws, mut last: Option<Seen>, after_unix_ms: i64) -> Result<Seen, Option<Seen>> {
    // Bounded: at one snapshot a second, 60 is a minute of backlog.
    for _ in 0..60 {
        let Some(snapshot) = next_snapshot(ws) else { return Err(last) };
        let here = Seen::of(snapshot);
        if let Some(Seen { position: (epoch, seq), .. }) = &last {
            let (new_epoch, new_seq) = &here.position;
            assert!(epoch != new_epoch || *new_seq == seq + 1, "silent gap or duplicate: {epoch}/{seq} then {new_epoch}/{new_seq}");
        }
        let sent = sent_at(&here);
        last = Some(here);
        if sent > after_unix_ms {
            return Ok(last.unwrap());
        }
    }
    panic!("no snapshot sent after {after_unix_ms} in 60");
}

/// The leader's stamp time of a snapshot, Unix ms.
fn sent_at(seen: &Seen) -> i64 {
    seen.message["sent_at_ms"].as_i64().unwrap_or(0)
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A short lease so a dead leader is replaced within seconds (the bus's own bounds:
/// command timeout at most half the lease, probe timeout at least twice its interval).
const LEASE_TTL_MS: i64 = 2000;
const FAST_BUS: &str = "REDIS_LEASE_TTL_MS=2000 REDIS_COMMAND_TIMEOUT_MS=1000 REDIS_PROBE_INTERVAL_MS=200 \
REDIS_PROBE_TIMEOUT_MS=1000 REDIS_RECONNECT_BACKOFF_MAX_MS=400";

/// A client of a cluster: its source number, its socket, the server (1-based) nginx sent it to,
/// and the last snapshot it read.
type Client = (usize, Ws, usize, Seen);

/// Two servers with the bus: the cluster, the leader's number and twelve clients spread over both
/// servers by the hash, each with its first snapshot.
/// Checks that the servers carry one stream: every client is in the same epoch, and a position
/// two clients both received is the very same message on both servers.
fn bus_cluster_with_clients() -> (Cluster, usize, Vec<Client>) {
    let env = format!("{FAST_STREAM} {FAST_BUS}");
    let cluster = Cluster::start(&[("REDIS", "true"), ("SERVER_ENV", env.as_str())]);
    assert_eq!(cluster.info.get("bus").map(String::as_str), Some("on"), "{:?}", cluster.info);
    let leader = cluster.leader(2, Duration::from_secs(10));
    let mut clients = Vec::new();
    for n in 0..12 {
        let (mut ws, answer) = ws_from(source(n), cluster.nginx).expect("upgrade");
        send(&mut ws, r#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
        let server = cluster.server_index(&answer.served_by());
        let first = follow(&mut ws, None, 0).expect("a snapshot");
        clients.push((n, ws, server, first));
    }
    let on: Vec<usize> = clients.iter().map(|c| c.2).collect();
    assert!(on.contains(&1) && on.contains(&2), "clients on both servers: {on:?}");
    // Two more snapshots each, so the clients of both servers overlap in positions.
    for (_, ws, _, last) in clients.iter_mut() {
        *last = follow(ws, Some(last.clone()), unix_ms() + 1000).expect("the stream moves");
    }
    assert_one_stream(clients.iter().map(|c| &c.3));
    (cluster, leader, clients)
}

/// Every snapshot is in one epoch, and equal positions carry equal messages (the bus forwards the
/// leader's bytes; nodes never renumber).
fn assert_one_stream<'a>(seen: impl Iterator<Item = &'a Seen>) {
    let mut by_position: BTreeMap<(String, u64), &serde_json::Value> = BTreeMap::new();
    for s in seen {
        if let Some(other) = by_position.insert(s.position.clone(), &s.message) {
            assert_eq!(other, &s.message, "two servers sent different messages as {:?}", s.position);
        }
    }
    let epochs: BTreeSet<&String> = by_position.keys().map(|(e, _)| e).collect();
    assert_eq!(epochs.len(), 1, "clients of the two servers in different epochs: {epochs:?}");
}

/// A client of the killed server sees its connection end, reconnects from the same source through
/// nginx (as the page does), lands on the survivor and subscribes again. Its first snapshot must
/// continue its stream: the same epoch with the very message it had (the latest, which a
/// subscription is sent at once), or the same epoch with a later seq (a reconnect misses what was
/// sent meanwhile: docs/websocket_api.md "Filling holes"; as many as the leader stamped in the
/// meantime, one a second, and no more), or,
/// only when `epoch_may_change`, a new epoch (a failover: the page reloads). Returns the socket and
/// that first snapshot.
fn reconnect(cluster: &Cluster, n: usize, ws: &mut Ws, last: Seen, survivor: usize, epoch_may_change: bool) -> (Ws, Seen) {
    let before = follow(ws, Some(last), i64::MAX).expect_err("a client of the killed server sees its connection end");
    let before = before.expect("a position before the end");
    let (mut again, answer) = ws_from(source(n), cluster.nginx).expect("reconnect through nginx");
    assert_eq!(cluster.server_index(&answer.served_by()), survivor, "nginx skips the dead server");
    send(&mut again, r#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
    let first = Seen::of(next_snapshot(&mut again).expect("a snapshot after reconnecting"));
    let ((epoch, seq), (new_epoch, new_seq)) = (&before.position, &first.position);
    if epoch == new_epoch {
        assert!(new_seq >= seq, "a regression across the reconnect: {epoch}/{seq} then {new_seq}");
        if new_seq == seq {
            assert_eq!(first.message, before.message, "the same position from the other server is another message");
        }
        // One snapshot a second: the seqs skipped are the stamps made between the two.
        let stamped_s = (sent_at(&first) - sent_at(&before)).max(0) as u64 / 1000;
        assert!(new_seq - seq <= stamped_s + 2, "{} seqs skipped over {stamped_s} s of stamps: {epoch}/{seq} then {new_seq}", new_seq - seq);
    } else {
        assert!(epoch_may_change, "the epoch changed though the leader lived: {epoch}/{seq} then {new_epoch}/{new_seq}");
    }
    (again, first)
}

#[test]
fn killing_a_follower_moves_its_clients_to_the_leader_and_their_stream_continues_in_the_same_epoch() {
    let (cluster, leader, mut clients) = bus_cluster_with_clients();
    let follower = 3 - leader;
    let epoch = clients[0].3.position.0.clone();
    cluster.kill_server(follower);
    let killed_ms = unix_ms();
    let mut ends = Vec::new();
    // The moved clients first, so they reconnect at once (the others' snapshots wait in their
    // sockets meanwhile).
    for (n, ws, _, last) in clients.iter_mut().filter(|c| c.2 == follower) {
        let (mut again, first) = reconnect(&cluster, *n, ws, last.clone(), leader, false);
        ends.push(follow(&mut again, Some(first), killed_ms + 2000).expect("it keeps receiving from the leader"));
    }
    for (_, ws, _, last) in clients.iter_mut().filter(|c| c.2 == leader) {
        ends.push(follow(ws, Some(last.clone()), killed_ms + 2000).expect("a client of the leader keeps receiving in order"));
    }
    assert!(ends.iter().all(|s| s.position.0 == epoch), "nobody changed epoch: {epoch} then {ends:?}");
    let bus = cluster.bus(leader);
    assert_eq!(bus["role"], "leader", "{bus}");
    assert_eq!(bus["gaps_let_through"], 0, "{bus}");
}

#[test]
fn killing_the_leader_moves_its_clients_to_the_new_leader_and_every_client_continues_without_a_silent_gap() {
    let (cluster, leader, mut clients) = bus_cluster_with_clients();
    let survivor = 3 - leader;
    // Between two stamps (the synthetic stream stamps on whole seconds and the clients have just
    // read one): the leader has published everything it showed. A death in the instant between
    // showing a snapshot and publishing it is the next test's.
    std::thread::sleep(Duration::from_millis(400));
    cluster.kill_server(leader);
    let killed_ms = unix_ms();
    // Past the takeover: the lease runs out within its TTL, the survivor takes it within a third
    // of that more, and stamps at once.
    let settled_ms = killed_ms + LEASE_TTL_MS * 2 + 2000;
    let mut ends = Vec::new();
    // The moved clients first, so they reconnect at once, before the survivor leads.
    for (n, ws, _, last) in clients.iter_mut().filter(|c| c.2 == leader) {
        let (mut again, first) = reconnect(&cluster, *n, ws, last.clone(), survivor, true);
        ends.push(follow(&mut again, Some(first), settled_ms).expect("it keeps receiving from the new leader"));
    }
    for (_, ws, _, last) in clients.iter_mut().filter(|c| c.2 == survivor) {
        // Contiguous seq, or a new epoch: never a silent gap while the lease moves.
        ends.push(follow(ws, Some(last.clone()), settled_ms).expect("a client of the survivor keeps receiving across the failover"));
    }
    // After the failover every client is on the new leader's one stream again.
    assert_one_stream(ends.iter());
    let bus = cluster.bus(survivor);
    assert_eq!(bus["role"], "leader", "the survivor took the lease: {bus}");
    assert_eq!(bus["gaps_let_through"], 0, "{bus}");
}

/// A command to the cluster's redis-server.
fn redis_command(cluster: &Cluster, args: &[&str]) {
    let client = redis::Client::open(format!("redis://{}", cluster.info["redis"])).unwrap();
    let mut con = client.get_connection().expect("the cluster's redis-server");
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query::<redis::Value>(&mut con).expect("redis command");
}

/// Issue 15's guarantee at its sharpest: the leader dies right after its clients saw a snapshot
/// whose fenced publish was held up in Redis (writes held for 0.8 s, `CLIENT PAUSE ... WRITE`, so
/// the instant between stamping and publishing lasts long enough to hit every time). The leader
/// shows a snapshot only once Redis has taken it, so what its clients saw is in the history and
/// on the follower: reconnected there, they continue from it (no earlier seq again, no other
/// snapshot under the same seq). Found by this test while the leader still showed before
/// publishing.
#[test]
fn a_snapshot_the_dead_leader_showed_is_one_the_new_server_continues_from() {
    let (cluster, leader, mut clients) = bus_cluster_with_clients();
    let survivor = 3 - leader;
    let (n, ws, _, last) = clients.iter_mut().find(|c| c.2 == leader).expect("a client of the leader");
    // Just after a stamp (the clients have just read one); the next comes a second later.
    let last = follow(ws, Some(last.clone()), unix_ms()).expect("the stream moves");
    std::thread::sleep(Duration::from_millis(700));
    redis_command(&cluster, &["CLIENT", "PAUSE", "800", "WRITE"]);
    let shown = follow(ws, Some(last.clone()), sent_at(&last)).expect("the leader shows its next snapshot");
    cluster.kill_server(leader);
    let (mut again, first) = reconnect(&cluster, *n, ws, shown, survivor, true);
    follow(&mut again, Some(first), unix_ms() + LEASE_TTL_MS * 2 + 2000).expect("it keeps receiving from the new leader");
}

/// `/metrics`' value of an unlabelled metric on server `i`, if it is there.
fn metric(cluster: &Cluster, i: usize, name: &str) -> Option<f64> {
    let answer = try_get_from(std::net::Ipv4Addr::LOCALHOST, cluster.server(i), "/metrics")?;
    String::from_utf8_lossy(&answer.body).lines().find_map(|l| l.strip_prefix(&format!("{name} ")).and_then(|v| v.trim().parse().ok()))
}

/// Polls `check` every 100 ms for up to `within`; panics with `what` when it never holds.
fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn with_redis_gone_health_and_metrics_show_the_bus_down_as_the_troubleshooting_guide_says_and_clients_keep_receiving() {
    let env = format!("{FAST_STREAM} {FAST_BUS}");
    let cluster = Cluster::start(&[("REDIS", "true"), ("SERVER_ENV", env.as_str())]);
    let leader = cluster.leader(2, Duration::from_secs(10));
    let follower = 3 - leader;
    // A client of the follower (the sources the hash sends there).
    let (mut ws, last) = (0..24)
        .find_map(|n| {
            let (mut ws, answer) = ws_from(source(n), cluster.nginx).ok()?;
            (cluster.server_index(&answer.served_by()) == follower).then(|| {
                send(&mut ws, r#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
                let first = follow(&mut ws, None, 0).expect("a snapshot from the leader, through the follower");
                (ws, first)
            })
        })
        .expect("a source the hash sends to the follower");
    assert_eq!(metric(&cluster, follower, "bus_up"), Some(1.0));
    assert_eq!(metric(&cluster, leader, "bus_leader"), Some(1.0));

    // Redis goes away (the command never answers: the server exits).
    let client = redis::Client::open(format!("redis://{}", cluster.info["redis"])).unwrap();
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<redis::Value>(&mut client.get_connection().unwrap());

    // The guide's diagnosis, on each server directly: /health degraded with the bus not up,
    // bus_up 0 in /metrics, and Redis itself not answering `redis-cli ping`.
    for i in [leader, follower] {
        eventually(Duration::from_secs(10), "the bus never showed as down", || {
            let health = try_get_from(std::net::Ipv4Addr::LOCALHOST, cluster.server(i), "/health").map(|a| a.json()).unwrap_or_default();
            health["status"] == "degraded" && health["bus"]["state"] != "up" && health["bus"]["degraded"] == true
        });
        assert_eq!(metric(&cluster, i, "bus_up"), Some(0.0), "server {i}");
    }
    let ping = std::process::Command::new("redis-cli").args(["-u", &format!("redis://{}", cluster.info["redis"]), "ping"]).output();
    if let Ok(ping) = ping {
        assert!(!String::from_utf8_lossy(&ping.stdout).contains("PONG"), "redis-cli ping must fail with Redis gone");
    }
    // After a lease TTL without Redis nobody leads (HeatmapBusNoLeader) and the follower serves
    // on its own; its client keeps receiving, told by an epoch change (never a silent gap).
    // (Each node counts the TTL from its own last contact with Redis, so either may go first.)
    eventually(Duration::from_secs(10), "the follower never went standalone", || cluster.bus(follower)["role"] == "standalone");
    eventually(Duration::from_secs(10), "a server still says it leads without Redis", || {
        metric(&cluster, leader, "bus_leader") == Some(0.0) && metric(&cluster, follower, "bus_leader") == Some(0.0)
    });
    let end = follow(&mut ws, Some(last.clone()), unix_ms() + 2000).expect("the follower's client keeps receiving without Redis");
    assert_ne!(end.position.0, last.position.0, "a former follower serves under an epoch of its own");
    assert!(end.position.0.contains("local"), "the node-local epoch of docs/multi_server_deployment.md: {}", end.position.0);
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
