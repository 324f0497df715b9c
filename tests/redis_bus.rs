//! Several server processes and a real `redis-server` (Debian package, `make deps-test`) on
//! loopback, started here on a free port with its own settings (never the system service).
//! Issue 15: identical streams on every node, failover, fencing, Redis down/up, stale
//! subscriptions.

// Tests run processes, read clocks and open sockets; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// A redis-server of our own: loopback only, killed on drop; no persistence unless asked
/// (`appendonly` with an fsync per write: a restart keeps the lease key and the history).
struct Redis {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
    persistent: bool,
}

impl Redis {
    fn start() -> Redis {
        Redis::start_with(false)
    }

    fn start_with(persistent: bool) -> Redis {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut redis = Redis { child: None, port, dir: TempDir::new("redis"), persistent };
        redis.restart();
        redis
    }

    fn restart(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(if self.persistent { ["--appendonly", "yes", "--appendfsync", "always"] } else { ["--appendonly", "no", "--appendfsync", "everysec"] })
            .args(["--dir", &self.dir.path().display().to_string(), "--protected-mode", "yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        die_with_parent(&mut command);
        self.child = Some(command.spawn().expect("redis-server is installed (make deps-test)"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sends `signal` to the redis-server process (SIGSTOP/SIGCONT: an outage that keeps its keys).
    fn signal(&self, signal: i32) {
        let pid = self.child.as_ref().expect("redis-server runs").id() as i32;
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(pid, signal) };
    }

    fn command(&self, args: &[&str]) -> redis::Value {
        let mut con = redis::Client::open(self.url()).unwrap().get_connection().unwrap();
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut con).unwrap()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

const LEASE_TTL_MS: &str = "1500";

fn node(redis: &Redis, id: &str, extra: &[(&str, &str)]) -> ServerProcess {
    let url = redis.url();
    let mut env: Vec<(&str, &str)> = vec![
        ("REDIS_ENABLED", "true"),
        ("REDIS_URL", &url),
        ("NODE_ID", id),
        ("DEMO_SEED", "false"),
        ("FEED", "none"),
        ("SUPPORTED_SYMBOLS", "BTCUSDT,ETHUSDT"),
        ("DEMO_SNAPSHOT_BYTES", "2048"),
        ("WS_UPDATE_INTERVAL", "0.2"),
        ("WS_MAX_QUEUE_SIZE", "100"),
        ("REDIS_LEASE_TTL_MS", LEASE_TTL_MS),
        ("REDIS_PROBE_INTERVAL_MS", "200"),
        ("REDIS_PROBE_TIMEOUT_MS", "1000"),
        ("REDIS_COMMAND_TIMEOUT_MS", "500"),
        ("REDIS_RECONNECT_BACKOFF_MAX_MS", "400"),
        ("LOG_LEVEL", "info"),
    ];
    env.extend_from_slice(extra);
    ServerProcess::start(&env)
}

fn bus(addr: SocketAddr) -> Value {
    http_get(addr, "/health").json()["bus"].clone()
}

/// Waits until exactly one node says it leads; returns its index.
fn leader_of(nodes: &[&ServerProcess]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let roles: Vec<Value> = nodes.iter().map(|n| bus(n.addr)["role"].clone()).collect();
        let leaders: Vec<usize> = (0..roles.len()).filter(|&i| roles[i] == "leader").collect();
        if leaders.len() == 1 {
            return leaders[0];
        }
        assert!(Instant::now() < deadline, "no single leader: {roles:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn subscriber(addr: SocketAddr) -> Ws {
    let mut ws = ws_connect(addr, "/ws/heatmap");
    send_json(&mut ws, r#"{"action":"subscribe","symbols":["BTCUSDT"]}"#);
    next_matching(&mut ws, Duration::from_secs(10), |m| m["type"] == "subscribed");
    ws
}

/// Snapshot messages read for `duration` (each ends the wait early when the socket times out).
fn snapshots_for(ws: &mut Ws, duration: Duration) -> Vec<Value> {
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    }
    let deadline = Instant::now() + duration;
    let mut out = Vec::new();
    while Instant::now() < deadline {
        match ws.read() {
            Ok(tungstenite::Message::Text(t)) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] == "snapshot" {
                    out.push(v);
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("websocket failed: {e}"),
        }
    }
    out
}

fn position(v: &Value) -> (String, u64) {
    (v["epoch"].as_str().unwrap().to_string(), v["seq"].as_u64().unwrap())
}

/// Snapshot messages of two clients read at the same time for `duration`: a client left unread
/// while the test reads another would fill its socket and become a slow consumer whose
/// snapshots the server drops (a documented skip, not what these tests look for).
fn snapshots_of_both(a: &mut Ws, b: &mut Ws, duration: Duration) -> (Vec<Value>, Vec<Value>) {
    std::thread::scope(|scope| {
        let first = scope.spawn(|| snapshots_for(a, duration));
        let second = snapshots_for(b, duration);
        (first.join().expect("the reader of the first client"), second)
    })
}

/// Within each epoch seq goes up by exactly one; an epoch never comes back after another.
fn assert_no_silent_gap_or_duplicate(messages: &[Value], allow_skips: bool) {
    let mut finished: Vec<String> = Vec::new();
    for pair in messages.windows(2) {
        let (a, b) = (position(&pair[0]), position(&pair[1]));
        if a.0 == b.0 {
            if allow_skips {
                assert!(b.1 > a.1, "seq went back or repeated: {a:?} then {b:?}");
            } else {
                assert_eq!(b.1, a.1 + 1, "hole or duplicate: {a:?} then {b:?}");
            }
        } else {
            finished.push(a.0.clone());
            assert!(!finished.contains(&b.0), "epoch {} came back after {}: interleaving", b.0, a.0);
        }
    }
}

#[test]
fn three_nodes_give_their_clients_identical_epoch_seq_and_bytes() {
    let redis = Redis::start();
    // n2 runs two event loops: its two clients (the 4th stream) sit on different loops and must
    // see the same stream as every other client.
    let nodes = [node(&redis, "n1", &[]), node(&redis, "n2", &[("EVENT_LOOPS", "2")]), node(&redis, "n3", &[])];
    let refs: Vec<&ServerProcess> = nodes.iter().collect();
    let leader = leader_of(&refs);
    let mut clients: Vec<Ws> = nodes.iter().map(|n| subscriber(n.addr)).collect();
    clients.push(subscriber(nodes[1].addr));
    let streams: Vec<Vec<Value>> = clients.iter_mut().map(|ws| snapshots_for(ws, Duration::from_secs(3))).collect();
    // The clients ran one after another; compare what they all saw.
    let last_start = streams.iter().map(|s| position(&s[0])).max_by_key(|p| p.1).unwrap();
    for (i, stream) in streams.iter().enumerate() {
        assert!(stream.len() >= 5, "node {i} forwarded only {} snapshots", stream.len());
        assert_no_silent_gap_or_duplicate(stream, false);
        assert!(stream.iter().all(|m| m["epoch"] == streams[leader][0]["epoch"]), "node {i} is on another epoch");
    }
    for (i, stream) in streams.iter().enumerate() {
        for message in stream.iter().filter(|m| position(m).1 >= last_start.1) {
            let same = streams[leader].iter().find(|m| position(m) == position(message));
            if let Some(same) = same {
                assert_eq!(same, message, "node {i}: same position, different message");
            }
        }
    }
    // Followers received, the leader published; nobody sees gaps.
    let leader_bus = bus(nodes[leader].addr);
    assert!(leader_bus["published"].as_u64().unwrap() > 0);
    for (i, n) in nodes.iter().enumerate().filter(|&(i, _)| i != leader) {
        let b = bus(n.addr);
        assert_eq!(b["role"], "follower", "node {i}");
        assert_eq!(b["lease_holder"], leader_bus["node_id"], "node {i}");
        assert!(b["received"].as_u64().unwrap() > 0, "node {i} received nothing");
        assert!(b["lag_ms"].as_i64().is_some());
    }
    let metrics = String::from_utf8(http_get(nodes[leader].addr, "/metrics").body).unwrap();
    assert!(metrics.contains("bus_published_total"), "bus metrics exported");
}

#[test]
fn killing_the_leader_hands_over_within_the_ttl_and_other_data_starts_a_new_epoch_never_a_silent_gap() {
    let redis = Redis::start();
    // Synthetic snapshots carry their own wall-clock data time: no two nodes compute the same
    // content, so the new leader cannot continue the old epoch.
    let mut nodes = [node(&redis, "k1", &[]), node(&redis, "k2", &[])];
    let leader = leader_of(&nodes.iter().collect::<Vec<_>>());
    let follower = 1 - leader;
    let mut ws = subscriber(nodes[follower].addr);
    let mut seen = snapshots_for(&mut ws, Duration::from_secs(1));
    assert!(!seen.is_empty());
    let before = position(seen.last().unwrap());
    let killed_at = Instant::now();
    nodes[leader].child.kill().unwrap(); // SIGKILL: the lease is not released
    let mut took_over_after = None;
    while killed_at.elapsed() < Duration::from_secs(10) {
        let more = snapshots_for(&mut ws, Duration::from_millis(300));
        if more.iter().any(|m| position(m).0 != before.0) && took_over_after.is_none() {
            took_over_after = Some(killed_at.elapsed());
        }
        seen.extend(more);
        if took_over_after.is_some_and(|t| killed_at.elapsed() > t + Duration::from_secs(1)) {
            break;
        }
    }
    let took_over_after = took_over_after.expect("the surviving node never took over");
    let ttl = Duration::from_millis(LEASE_TTL_MS.parse().unwrap());
    assert!(took_over_after < ttl * 2 + Duration::from_secs(1), "took over after {took_over_after:?} (TTL {ttl:?})");
    assert_no_silent_gap_or_duplicate(&seen, false);
    let first_new = seen.iter().find(|m| position(m).0 != before.0).unwrap();
    assert_eq!(first_new["seq"], 1, "a new epoch starts at seq 1: {first_new}");
    let health = bus(nodes[follower].addr);
    assert_eq!(health["role"], "leader");
    assert_eq!(health["continued_epochs"], 0, "{health}");
}

/// Demo nodes (the bundled week, each in its own database): `DEMO_REPLAY_INTERVAL=0` holds every
/// bar; a replay that has not stepped yet holds fewer (the replayed ones are held back).
fn demo_node(redis: &Redis, id: &str, replay_interval_s: &str) -> ServerProcess {
    node(redis, id, &[("FEED", "demo"), ("DEMO_SEED", "true"), ("DEMO_SNAPSHOT_BYTES", "0"), ("DEMO_REPLAY_INTERVAL", replay_interval_s), ("WS_UPDATE_INTERVAL", "0.5")])
}

fn wait_for_leader(node: &ServerProcess) {
    let health = wait_for_json(node.addr, "/health", Duration::from_secs(20), |h| h["bus"]["role"] == "leader");
    assert_eq!(health["bus"]["role"], "leader", "{health}");
}

/// Kills `nodes[0]` (the leader) and returns what a client on each other node saw before and
/// within a few seconds after.
fn kill_the_leader_and_watch(nodes: &mut [ServerProcess]) -> Vec<Vec<Value>> {
    let mut clients: Vec<Ws> = nodes[1..].iter().map(|n| subscriber(n.addr)).collect();
    let mut seen: Vec<Vec<Value>> = clients.iter_mut().map(|ws| snapshots_for(ws, Duration::from_secs(2))).collect();
    for (i, s) in seen.iter().enumerate() {
        assert!(!s.is_empty(), "node {} forwarded nothing before the kill", i + 1);
    }
    nodes[0].child.kill().unwrap(); // SIGKILL: the lease is not released
    let deadline = Instant::now() + Duration::from_secs(8);
    while Instant::now() < deadline && seen.iter().any(|s| s.len() < 2) {
        for (ws, s) in clients.iter_mut().zip(seen.iter_mut()) {
            s.extend(snapshots_for(ws, Duration::from_millis(300)));
        }
    }
    for (ws, s) in clients.iter_mut().zip(seen.iter_mut()) {
        s.extend(snapshots_for(ws, Duration::from_millis(500)));
    }
    seen
}

#[test]
fn a_new_leader_holding_the_same_bars_continues_the_epoch_at_the_next_seq() {
    let redis = Redis::start();
    let mut nodes = vec![demo_node(&redis, "c1", "0")];
    wait_for_leader(&nodes[0]);
    nodes.push(demo_node(&redis, "c2", "0"));
    nodes.push(demo_node(&redis, "c3", "0"));
    let seen = kill_the_leader_and_watch(&mut nodes);
    for (i, s) in seen.iter().enumerate() {
        assert_no_silent_gap_or_duplicate(s, false);
        let epochs: std::collections::BTreeSet<String> = s.iter().map(|m| position(m).0).collect();
        assert_eq!(epochs.len(), 1, "node {}: one epoch across the failover: {epochs:?}", i + 1);
        assert!(s.len() >= 2, "node {}: the new leader's next seq arrived: {:?}", i + 1, s.iter().map(position).collect::<Vec<_>>());
        assert!(s[0]["epoch"].as_str().unwrap().starts_with("c1."), "the dead leader's epoch goes on: {}", s[0]["epoch"]);
    }
    assert_eq!(seen[0], seen[1], "both survivors' clients got the same messages");
    let survivors: Vec<Value> = nodes[1..].iter().map(|n| bus(n.addr)).collect();
    let leaders: Vec<&Value> = survivors.iter().filter(|b| b["role"] == "leader").collect();
    assert_eq!(leaders.len(), 1, "{survivors:?}");
    assert!(leaders[0]["continued_epochs"].as_u64().unwrap() >= 1, "{}", leaders[0]);
    assert!(survivors.iter().all(|b| b["gaps_let_through"] == 0), "{survivors:?}");
}

#[test]
fn a_new_leader_holding_other_bars_starts_a_new_epoch_and_clients_see_the_switch() {
    let redis = Redis::start();
    let mut nodes = vec![demo_node(&redis, "o1", "0")];
    wait_for_leader(&nodes[0]);
    // Its replay has not stepped: the held-back bars are not in its database.
    nodes.push(demo_node(&redis, "o2", "3600"));
    let seen = kill_the_leader_and_watch(&mut nodes);
    let s = &seen[0];
    assert_no_silent_gap_or_duplicate(s, false);
    let epochs: Vec<String> = s.iter().map(|m| position(m).0).collect();
    assert!(epochs.first().unwrap().starts_with("o1."), "{epochs:?}");
    let last = s.last().unwrap();
    assert!(last["epoch"].as_str().unwrap().starts_with("o2."), "a new epoch of the new leader: {epochs:?}");
    assert_eq!(last["seq"], 1);
    let health = bus(nodes[1].addr);
    assert_eq!((health["role"].as_str(), health["continued_epochs"].as_u64()), (Some("leader"), Some(0)), "{health}");
}

#[test]
fn a_leader_paused_past_its_lease_is_fenced_and_no_seq_interleaves() {
    let redis = Redis::start();
    let nodes = [node(&redis, "p1", &[]), node(&redis, "p2", &[])];
    let leader = leader_of(&nodes.iter().collect::<Vec<_>>());
    let other = 1 - leader;
    let mut on_other = subscriber(nodes[other].addr);
    let mut on_paused = subscriber(nodes[leader].addr);
    // What the paused node's client saw before the pause is not checked: only that after it.
    let (mut seen_other, _) = snapshots_of_both(&mut on_other, &mut on_paused, Duration::from_millis(600));
    let pid = nodes[leader].child.id() as i32;
    // SAFETY: signals to our own child.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    seen_other.extend(snapshots_for(&mut on_other, Duration::from_secs(4)));
    assert_eq!(bus(nodes[other].addr)["role"], "leader", "the other node took over");
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let (after_other, seen_paused) = snapshots_of_both(&mut on_other, &mut on_paused, Duration::from_secs(3));
    seen_other.extend(after_other);
    assert_no_silent_gap_or_duplicate(&seen_other, false);
    assert_no_silent_gap_or_duplicate(&seen_paused, true);
    let epochs: std::collections::BTreeSet<String> = seen_other.iter().map(|m| position(m).0).collect();
    assert_eq!(epochs.len(), 2, "one epoch before the pause, one after: {epochs:?}");
    let resumed = bus(nodes[leader].addr);
    assert_eq!(resumed["role"], "follower", "the resumed node does not lead again: {resumed}");
    let tail_epoch = position(seen_other.last().unwrap()).0;
    assert!(seen_paused.last().is_some_and(|m| position(m).0 == tail_epoch), "the resumed node forwards the new leader's epoch");
}

#[test]
fn fenced_publish_is_refused_once_the_lease_has_moved_and_never_reuses_a_position() {
    use liquidationheatmap::bus::lease::{self, Published, Scripts};
    let redis = Redis::start();
    let mut con = redis::Client::open(redis.url()).unwrap().get_connection().unwrap();
    let scripts = Scripts::default();
    assert!(lease::acquire(&mut con, "lhm:leader", "a#1", 200).unwrap());
    assert!(!lease::acquire(&mut con, "lhm:leader", "b#1", 200).unwrap(), "held: NX refuses");
    let ok = scripts.publish(&mut con, "lhm:leader", "a#1", "BTCUSDT", "e", 1, "m1", 10).unwrap();
    assert_eq!(ok, Published::Delivered(0));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!scripts.extend(&mut con, "lhm:leader", "a#1", 200).unwrap(), "expired: cannot extend");
    assert!(lease::acquire(&mut con, "lhm:leader", "b#1", 5000).unwrap());
    let refused = scripts.publish(&mut con, "lhm:leader", "a#1", "BTCUSDT", "e", 2, "m2", 10).unwrap();
    assert_eq!(refused, Published::Refused);
    let history = lease::read_history(&mut con, "BTCUSDT", 10).unwrap();
    assert_eq!(history, vec![b"m1".to_vec()], "a refused publish leaves no history either");
    // The new holder continuing epoch "e" can never publish a position twice.
    let again = scripts.publish(&mut con, "lhm:leader", "b#1", "BTCUSDT", "e", 1, "m1bis", 10).unwrap();
    assert_eq!(again, Published::SeqUsed);
    assert_eq!(scripts.publish(&mut con, "lhm:leader", "b#1", "BTCUSDT", "e", 2, "m2", 10).unwrap(), Published::Delivered(0));
    assert_eq!(scripts.publish(&mut con, "lhm:leader", "b#1", "BTCUSDT", "f", 1, "f1", 10).unwrap(), Published::Delivered(0), "another epoch");
    let history = lease::read_history(&mut con, "BTCUSDT", 10).unwrap();
    assert_eq!(history, vec![b"m1".to_vec(), b"m2".to_vec(), b"f1".to_vec()]);
}

#[test]
fn redis_down_degrades_then_nodes_reconnect_resubscribe_and_the_stream_resumes() {
    let mut redis = Redis::start();
    let nodes = [node(&redis, "d1", &[]), node(&redis, "d2", &[])];
    let leader = leader_of(&nodes.iter().collect::<Vec<_>>());
    let follower = 1 - leader;
    let mut ws = subscriber(nodes[follower].addr);
    assert!(!snapshots_for(&mut ws, Duration::from_secs(1)).is_empty());
    redis.stop();
    let health = wait_for_json(nodes[follower].addr, "/health", Duration::from_secs(5), |h| h["status"] == "degraded");
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["bus"]["state"], "down");
    // Kept down past a lease TTL: the nodes keep serving (standalone), without a busy loop.
    let during = snapshots_for(&mut ws, Duration::from_secs(3));
    assert!(!during.is_empty(), "the follower serves what it computes while Redis is down");
    assert_eq!(bus(nodes[follower].addr)["role"], "standalone");
    redis.restart();
    let health = wait_for_json(nodes[follower].addr, "/health", Duration::from_secs(10), |h| h["bus"]["state"] == "up" && h["status"] == "ok");
    assert_eq!(health["bus"]["state"], "up", "{health}");
    assert!(health["bus"]["reconnects"].as_u64().unwrap() >= 1);
    let after = snapshots_for(&mut ws, Duration::from_secs(3));
    assert!(!after.is_empty(), "the stream resumed");
    let mut all = during;
    all.extend(after);
    assert_no_silent_gap_or_duplicate(&all, false);
    let log = nodes[follower].log().join("\n");
    let down_lines = log.matches("event=bus_subscriber_down").count();
    assert!(down_lines < 60, "{down_lines} reconnect attempts in ~5 s: backoff not applied");
}

#[test]
fn a_short_subscriber_blip_is_filled_from_history_without_a_client_visible_skip() {
    let redis = Redis::start();
    let fast = [("WS_UPDATE_INTERVAL", "0.05")];
    let nodes = [node(&redis, "b1", &fast), node(&redis, "b2", &fast)];
    let leader = leader_of(&nodes.iter().collect::<Vec<_>>());
    let follower = 1 - leader;
    let mut ws = subscriber(nodes[follower].addr);
    let mut seen = snapshots_for(&mut ws, Duration::from_millis(500));
    for _ in 0..5 {
        redis.command(&["CLIENT", "KILL", "TYPE", "pubsub"]);
        seen.extend(snapshots_for(&mut ws, Duration::from_millis(500)));
    }
    assert_no_silent_gap_or_duplicate(&seen, false);
    let b = bus(nodes[follower].addr);
    assert!(b["reconnects"].as_u64().unwrap() >= 5, "{b}");
    assert!(b["recovered_from_history"].as_u64().unwrap() >= 1, "nothing was missed and recovered: {b}");
    assert_eq!(b["gaps_let_through"], 0, "{b}");
}

#[test]
fn a_subscription_that_stops_receiving_is_detected_and_rebuilt() {
    let redis = Redis::start();
    // A lease long enough to outlive the pause: only the subscription is at stake.
    let long_lease = [("REDIS_LEASE_TTL_MS", "8000")];
    let nodes = [node(&redis, "s1", &long_lease), node(&redis, "s2", &long_lease)];
    let leader = leader_of(&nodes.iter().collect::<Vec<_>>());
    let follower = 1 - leader;
    let mut ws = subscriber(nodes[follower].addr);
    assert!(!snapshots_for(&mut ws, Duration::from_millis(600)).is_empty());
    redis.command(&["CLIENT", "PAUSE", "2500", "ALL"]);
    std::thread::sleep(Duration::from_millis(3000));
    let health = wait_for_json(nodes[follower].addr, "/health", Duration::from_secs(5), |h| {
        h["bus"]["stale_rebuilds"].as_u64().unwrap_or(0) >= 1 && h["bus"]["state"] == "up"
    });
    assert!(health["bus"]["stale_rebuilds"].as_u64().unwrap() >= 1, "{health}");
    assert!(!snapshots_for(&mut ws, Duration::from_secs(2)).is_empty(), "the rebuilt subscription delivers again");
}

/// Two nodes, a client on each; `outage` takes Redis away for about 1.5 s (less than the lease).
/// Whatever the leader stamped meanwhile must reach every client afterwards, in order, with no
/// skip and no epoch change.
fn an_outage_the_lease_outlives(mut redis: Redis, outage: impl FnOnce(&mut Redis)) {
    // A lease long enough to outlive the outage; snapshots fast enough that several are stamped
    // during it.
    let env = [("REDIS_LEASE_TTL_MS", "5000"), ("WS_UPDATE_INTERVAL", "0.1")];
    let nodes = [node(&redis, "r1", &env), node(&redis, "r2", &env)];
    let leader = leader_of(&nodes.iter().collect::<Vec<_>>());
    let follower = 1 - leader;
    let mut on_leader = subscriber(nodes[leader].addr);
    let mut on_follower = subscriber(nodes[follower].addr);
    let (mut seen_leader, mut seen_follower) = snapshots_of_both(&mut on_leader, &mut on_follower, Duration::from_millis(800));
    // The clients are read during the outage too, as a browser would.
    let (during_leader, during_follower) = std::thread::scope(|scope| {
        let readers = scope.spawn(|| snapshots_of_both(&mut on_leader, &mut on_follower, Duration::from_millis(2500)));
        outage(&mut redis);
        readers.join().expect("the readers")
    });
    seen_leader.extend(during_leader);
    seen_follower.extend(during_follower);
    let (after_leader, after_follower) = snapshots_of_both(&mut on_leader, &mut on_follower, Duration::from_secs(3));
    seen_leader.extend(after_leader);
    seen_follower.extend(after_follower);
    for (name, seen) in [("leader", &seen_leader), ("follower", &seen_follower)] {
        assert_no_silent_gap_or_duplicate(seen, false);
        let epochs: std::collections::BTreeSet<String> = seen.iter().map(|m| position(m).0).collect();
        assert_eq!(epochs.len(), 1, "{name}: the outage changed no epoch: {epochs:?}");
    }
    let b = bus(nodes[leader].addr);
    assert_eq!(b["role"], "leader", "{b}");
    assert!(b["republished"].as_u64().unwrap() >= 3, "snapshots stamped during the outage were published afterwards: {b}");
    let f = bus(nodes[follower].addr);
    assert_eq!(f["gaps_let_through"], 0, "{f}");
    assert!(seen_follower.len() >= 25, "the stream went on after the outage: {} snapshots", seen_follower.len());
}

#[test]
fn a_redis_stall_the_lease_outlives_is_published_afterwards_and_no_client_misses_a_seq() {
    an_outage_the_lease_outlives(Redis::start(), |redis| {
        redis.signal(libc::SIGSTOP);
        std::thread::sleep(Duration::from_millis(1500));
        redis.signal(libc::SIGCONT);
    });
}

#[test]
fn a_redis_restart_that_keeps_the_lease_publishes_what_the_leader_stamped_meanwhile_in_order() {
    an_outage_the_lease_outlives(Redis::start_with(true), |redis| {
        redis.stop();
        std::thread::sleep(Duration::from_millis(1500));
        redis.restart();
    });
}

/// Bar time (`timestamp`, RFC 3339) of a snapshot message, Unix seconds.
fn bar_time_s(v: &Value) -> i64 {
    let t = v["timestamp"].as_str().unwrap_or_else(|| panic!("snapshot without timestamp: {v}"));
    chrono::DateTime::parse_from_rfc3339(t).unwrap_or_else(|e| panic!("timestamp {t:?}: {e}")).timestamp()
}

#[test]
fn the_leaders_clients_and_a_followers_get_one_snapshot_per_bar_in_order_like_a_standalone_server() {
    let redis = Redis::start();
    // The demo replays a bar every 0.1 s and the producer sends every update's new bars (about
    // 8 at a time at 0.8 s): all of them must be published and shown, not only each update's
    // newest (issue 15 field report: bars 23:55, 00:00, 00:10, 00:20 with seq + 1 each).
    let replay = [("FEED", "demo"), ("DEMO_SEED", "true"), ("DEMO_SNAPSHOT_BYTES", "0"), ("DEMO_REPLAY_INTERVAL", "0.1"), ("WS_UPDATE_INTERVAL", "0.8")];
    let leader = node(&redis, "p1", &replay);
    wait_for_leader(&leader);
    let follower = node(&redis, "p2", &replay);
    let mut clients = [subscriber(leader.addr), subscriber(follower.addr)];
    let streams: Vec<Vec<Value>> = clients.iter_mut().map(|ws| snapshots_for(ws, Duration::from_secs(4))).collect();
    for (name, stream) in ["leader", "follower"].iter().zip(&streams) {
        assert!(stream.len() >= 10, "{name}'s client got only {} snapshots", stream.len());
        assert_no_silent_gap_or_duplicate(stream, false);
        let steps: Vec<i64> = stream.windows(2).map(|p| bar_time_s(&p[1]) - bar_time_s(&p[0])).collect();
        let bar_s = *steps.iter().min().unwrap();
        assert!(bar_s > 0, "{name}: bar time did not advance: {steps:?}");
        assert!(steps.iter().all(|&s| s == bar_s), "{name}'s client missed bars (steps between consecutive snapshots, s): {steps:?}");
    }
    assert_eq!(bus(leader.addr)["gaps_let_through"], 0);
}

#[test]
fn a_node_that_resubscribes_after_redis_restarted_goes_on_from_the_snapshot_its_clients_were_shown() {
    // Persistent: the restart keeps the history (what the node must fill from) and the lease.
    let mut redis = Redis::start_with(true);
    let leader = node(&redis, "r1", &[]);
    wait_for_leader(&leader);
    let follower = node(&redis, "r2", &[]);
    // The follower's first subscription opens its history connection (the catch-up read).
    let mut first = subscriber(follower.addr);
    let before = snapshots_for(&mut first, Duration::from_secs(1));
    assert!(!before.is_empty());
    drop(first);
    // Nobody wants BTCUSDT on r2 now: it unsubscribes from the channel; meanwhile Redis restarts
    // (the history connection left open dies) and the leader goes on publishing.
    wait_for_json(follower.addr, "/health", Duration::from_secs(5), |h| h["bus"]["role"] == "follower");
    std::thread::sleep(Duration::from_millis(500));
    redis.stop();
    std::thread::sleep(Duration::from_millis(300));
    redis.restart();
    std::thread::sleep(Duration::from_secs(2));
    let mut again = subscriber(follower.addr);
    let after = snapshots_for(&mut again, Duration::from_secs(2));
    assert!(after.len() >= 3, "got only {} snapshots after resubscribing", after.len());
    // First the snapshot the node still holds as latest, then every later seq of the epoch from
    // the history, in order: no silent skip.
    assert_no_silent_gap_or_duplicate(&after, false);
    assert_eq!(position(&after[0]).0, position(before.last().unwrap()).0, "same epoch (the lease outlived the restart)");
    let health = bus(follower.addr);
    assert_eq!(health["gaps_let_through"], 0, "{health}");
    assert!(health["recovered_from_history"].as_u64().unwrap() > 0, "the hole was filled from the history: {health}");
    let unreadable: Vec<String> = follower.log().into_iter().filter(|l| l.contains("bus_history_unreadable")).collect();
    assert!(unreadable.is_empty(), "a history read failed on the connection Redis closed: {unreadable:?}");
}

#[test]
fn a_second_process_with_a_running_nodes_id_is_refused_at_startup_and_a_taken_id_degrades_health() {
    let redis = Redis::start();
    let mut first = node(&redis, "same", &[]);
    wait_for_leader(&first);
    // A second process with the same NODE_ID: refused before it listens, exit 2 naming NODE_ID.
    let url = redis.url();
    let dir = TempDir::new("dup");
    let mut second = Command::new(binary())
        .arg("serve")
        .env_clear()
        .envs([("HOST", "127.0.0.1"), ("PORT", "0"), ("REDIS_ENABLED", "true"), ("REDIS_URL", &url), ("NODE_ID", "same")])
        .envs([("FEED", "none"), ("DEMO_SEED", "false"), ("REDIS_LEASE_TTL_MS", LEASE_TTL_MS), ("REDIS_COMMAND_TIMEOUT_MS", "500")])
        .env("DUCKDB_PATH", dir.path().join("dup.duckdb"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            panic!("a second process with NODE_ID=same kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("NODE_ID") && stderr.contains("another running node"), "{stderr}");
    assert_eq!(bus(first.addr)["duplicate_node_id"], false);
    // While running: another process takes the id's presence key (as two nodes started at the
    // same instant would): the node says so and is degraded until the key is its own again.
    let _ = redis.command(&["DEL", "lhm:node:same"]);
    let _ = redis.command(&["SET", "lhm:node:same", "same#intruder", "PX", "60000"]);
    let health = wait_for_json(first.addr, "/health", Duration::from_secs(5), |h| h["bus"]["duplicate_node_id"] == true);
    assert_eq!(health["bus"]["degraded"], true, "{health}");
    assert!(first.wait_for_log("event=bus_duplicate_node_id", Duration::from_secs(2)).iter().any(|l| l.contains("bus_duplicate_node_id")));
    let _ = redis.command(&["DEL", "lhm:node:same"]);
    let health = wait_for_json(first.addr, "/health", Duration::from_secs(5), |h| h["bus"]["duplicate_node_id"] == false);
    assert_eq!(health["bus"]["duplicate_node_id"], false, "{health}");
    // A clean shutdown gives the id back at once (a restart need not wait for the key to expire).
    assert_eq!(first.terminate(Duration::from_secs(10)), Some(0));
    assert_eq!(redis.command(&["EXISTS", "lhm:node:same"]), redis::Value::Int(0));
}
