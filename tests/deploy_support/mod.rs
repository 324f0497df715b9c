//! `deploy/local-cluster` driven from tests: servers + redis-server + nginx on loopback, and
//! WebSocket/HTTP clients that connect from a chosen loopback source address (so nginx's
//! `hash $remote_addr` sees distinct clients).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tungstenite::{Message, WebSocket};

/// How long the cluster may take to say `ready` (servers, redis, nginx).
const CLUSTER_STARTUP: Duration = Duration::from_secs(90);

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A running `deploy/local-cluster`; dropping it stops everything (SIGTERM to the script, whose
/// trap stops its children and removes its folder).
pub struct Cluster {
    child: Child,
    /// The script's `key=value` lines: work, redis, server<i>, pid<i>, nginx, nginx_pid.
    pub info: BTreeMap<String, String>,
    pub nginx: SocketAddr,
}

impl Cluster {
    /// Starts the cluster with `env` on top of `LHM_BIN` (the binary under test).
    pub fn start(env: &[(&str, &str)]) -> Cluster {
        let mut command = Command::new("bash");
        command
            .arg(repo_root().join("deploy/local-cluster"))
            .env("LHM_BIN", env!("CARGO_BIN_EXE_liquidationheatmap"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Its own process group, so Drop can end whatever is left of it (servers, redis, nginx)
            // even if the script itself had to be killed.
            .process_group(0);
        // SAFETY: prctl and getppid are async-signal-safe. SIGTERM (not SIGKILL) so the script's
        // trap still stops what it started if the test thread dies.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() == 1 {
                    return Err(std::io::Error::other("parent exited"));
                }
                Ok(())
            });
        }
        let mut child = command.spawn().expect("bash runs deploy/local-cluster");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + CLUSTER_STARTUP;
        let mut info = BTreeMap::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.starts_with("ready ") => break,
                Ok(line) => {
                    if let Some((k, v)) = line.split_once('=') {
                        info.insert(k.to_string(), v.to_string());
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("local-cluster did not become ready: {info:?}");
                }
            }
        }
        let nginx = info["nginx"].parse().expect("nginx address");
        Cluster { child, info, nginx }
    }

    /// The address of server `i` (1-based).
    pub fn server(&self, i: usize) -> SocketAddr {
        self.info[&format!("server{i}")].parse().unwrap()
    }

    pub fn server_pid(&self, i: usize) -> i32 {
        self.info[&format!("pid{i}")].parse().unwrap()
    }

    /// Which server (1-based) listens at `addr`.
    pub fn server_index(&self, addr: &str) -> usize {
        (1..=16).find(|&i| self.info.get(&format!("server{i}")).is_some_and(|a| a == addr)).unwrap_or_else(|| panic!("{addr} is no server"))
    }

    /// Server `i`'s `/health` `bus` object, asked directly (not through nginx); `Null` without
    /// the bus or when the server does not answer.
    pub fn bus(&self, i: usize) -> Value {
        try_get_from(Ipv4Addr::LOCALHOST, self.server(i), "/health").map_or(Value::Null, |a| a.json()["bus"].clone())
    }

    /// The one server (1-based) whose bus says `leader` while every other says `follower`,
    /// waiting up to `within` for the bus to settle; panics with the roles otherwise.
    pub fn leader(&self, servers: usize, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let roles: Vec<Value> = (1..=servers).map(|i| self.bus(i)["role"].clone()).collect();
            let leaders: Vec<usize> = (1..=servers).filter(|i| roles[i - 1] == "leader").collect();
            if leaders.len() == 1 && roles.iter().filter(|r| **r == "follower").count() == servers - 1 {
                return leaders[0];
            }
            assert!(Instant::now() < deadline, "no single leader with followers: {roles:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The log of server `i` so far.
    pub fn server_log(&self, i: usize) -> String {
        std::fs::read_to_string(PathBuf::from(&self.info["work"]).join(format!("server-{i}.log"))).unwrap_or_default()
    }

    /// SIGKILL to server `i` (releases nothing, like a crash).
    pub fn kill_server(&self, i: usize) {
        // SAFETY: kill(2) on a pid the script reported for its own child.
        unsafe {
            libc::kill(self.server_pid(i), libc::SIGKILL);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: kill(2) on the process group this cluster's script leads; after a clean stop
        // it is empty (ESRCH), otherwise this ends what the script could not.
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// A TCP connection to `target` from loopback source `source`.
pub fn connect_from(source: Ipv4Addr, target: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddrV4::new(source, 0).into())?;
    socket.connect(&target.into())?;
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(15)))?;
    Ok(stream)
}

/// Loopback source address number `n` (127.0.1.n+1 ...), away from 127.0.0.1 which nginx uses.
pub fn source(n: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 1 + (n / 250) as u8, 1 + (n % 250) as u8)
}

/// An HTTP answer: status, lower-case headers, body.
pub struct Answer {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The server that answered: the last of `$upstream_addr`'s list (nginx lists every server
    /// it tried, `a, b` when the first refused).
    pub fn served_by(&self) -> String {
        let tried = self.headers.get("x-served-by").cloned().unwrap_or_default();
        tried.rsplit(", ").next().unwrap_or_default().to_string()
    }
}

/// GET `path` through `target` from `source`, connection closed after.
pub fn get_from(source: Ipv4Addr, target: SocketAddr, path: &str) -> Answer {
    try_get_from(source, target, path).expect("connect and a complete answer")
}

/// [`get_from`], `None` when the connection fails or the answer is incomplete.
pub fn try_get_from(source: Ipv4Addr, target: SocketAddr, path: &str) -> Option<Answer> {
    let mut stream = connect_from(source, target).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n").ok()?;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse_answer(&raw)
}

fn parse_answer(raw: &[u8]) -> Option<Answer> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok())?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Answer { status, headers, body: raw[split + 4..].to_vec() })
}

pub type Ws = WebSocket<TcpStream>;

/// A WebSocket to `/ws/heatmap` through `target` from `source`: the socket and the handshake
/// answer (for `X-Served-By`), or the refusal's status.
pub fn ws_from(source: Ipv4Addr, target: SocketAddr) -> Result<(Ws, Answer), u16> {
    let stream = connect_from(source, target).map_err(|_| 0u16)?;
    match tungstenite::client(format!("ws://{target}/ws/heatmap"), stream) {
        Ok((ws, response)) => {
            let headers = response
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.to_str().unwrap_or("").to_string()))
                .collect();
            Ok((ws, Answer { status: response.status().as_u16(), headers, body: Vec::new() }))
        }
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => Err(response.status().as_u16()),
        Err(_) => Err(0),
    }
}

/// Sends a JSON text message.
pub fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).expect("send");
}

/// The next JSON message, or `None` when the connection ended (close, EOF, reset, timeout).
pub fn next(ws: &mut Ws) -> Option<Value> {
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
            Ok(Message::Binary(_)) => continue,
            Ok(Message::Close(_)) | Err(_) => return None,
        }
    }
}

/// The next snapshot, skipping other messages; `None` when the connection ended.
pub fn next_snapshot(ws: &mut Ws) -> Option<Value> {
    loop {
        let m = next(ws)?;
        if m["type"] == "snapshot" {
            return Some(m);
        }
    }
}

/// `(epoch, seq)` of a snapshot.
pub fn position(snapshot: &Value) -> (String, u64) {
    (snapshot["epoch"].as_str().unwrap_or_default().to_string(), snapshot["seq"].as_u64().unwrap_or(0))
}
