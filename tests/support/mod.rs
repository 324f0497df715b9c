//! Shared helpers for tests that run the real server binary over real sockets.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// How long a test waits for the server to say it is listening.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let path = std::env::temp_dir().join(format!("lhm-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The server binary under test.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_liquidationheatmap"))
}

/// The load generator (workspace member tests/loadgen), built into the same folder as the server:
/// a test of another package cannot name it with `CARGO_BIN_EXE_*`.
pub fn loadgen_binary() -> PathBuf {
    let path = binary().with_file_name("loadgen");
    assert!(path.is_file(), "{} is missing: build the workspace (`make build`)", path.display());
    path
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A running server process, killed on drop (also when the test panics), its folder removed.
///
/// The server also dies with the thread that started it (`PR_SET_PDEATHSIG`), so a test process
/// killed outright (a timeout, Ctrl-C) leaves no server behind. A server therefore belongs to one
/// test function: never keep it in a `static` (a static is never dropped and leaked a server and
/// its folder per run); run several cases against one server with [`run_cases`].
pub struct ServerProcess {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: TempDir,
    pub stderr_lines: std::sync::Mutex<mpsc::Receiver<String>>,
}

impl ServerProcess {
    /// Starts the server with a fresh database and `env` on top of test defaults.
    pub fn start(env: &[(&str, &str)]) -> ServerProcess {
        let dir = TempDir::new("server");
        Self::start_in(dir, env)
    }

    pub fn start_in(dir: TempDir, env: &[(&str, &str)]) -> ServerProcess {
        let mut vars: BTreeMap<String, String> = BTreeMap::new();
        vars.insert("HOST".into(), "127.0.0.1".into());
        vars.insert("PORT".into(), "0".into());
        vars.insert("DUCKDB_PATH".into(), dir.path().join("test.duckdb").display().to_string());
        vars.insert("FRONTEND_DIR".into(), repo_root().join("frontend").display().to_string());
        vars.insert("LOG_LEVEL".into(), "info".into());
        for (k, v) in env {
            vars.insert(k.to_string(), v.to_string());
        }
        let mut command = Command::new(binary());
        command
            .arg("serve")
            .current_dir(dir.path())
            .env_clear()
            .envs(vars)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        die_with_parent(&mut command);
        let mut child = command.spawn().expect("server binary starts");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (lines_tx, stderr_lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (addr_tx, addr_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("listening on http://") {
                    let _ = addr_tx.send(rest.trim_end_matches('/').parse::<SocketAddr>().unwrap());
                }
            }
        });
        let addr = match addr_rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let log: Vec<String> = stderr_lines.try_iter().collect();
                panic!("server did not start:\n{}", log.join("\n"));
            }
        };
        ServerProcess { child, addr, dir, stderr_lines: std::sync::Mutex::new(stderr_lines) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends SIGTERM and waits for the exit status (or kills after `timeout`).
    pub fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        // SAFETY: kill with a valid pid of our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        None
    }

    /// Waits up to `timeout` for a log line containing `needle` (the log is read by another
    /// thread, so a line the server has already written may not have arrived yet). Returns
    /// every line seen.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            seen.extend(self.log());
            if seen.iter().any(|line| line.contains(needle)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        seen
    }

    /// Log lines printed so far.
    pub fn log(&self) -> Vec<String> {
        self.stderr_lines.lock().map(|lines| lines.try_iter().collect()).unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes the child get SIGKILL when the thread that spawns it ends, however it ends.
pub fn die_with_parent(command: &mut Command) {
    // SAFETY: prctl and getppid are async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() == 1 {
                return Err(std::io::Error::other("parent exited before the server started"));
            }
            Ok(())
        });
    }
}

/// A named case of [`run_cases`].
pub type Case<S> = (&'static str, fn(&S));

/// Runs named cases one after another against shared state (one server for a whole file), each
/// under `catch_unwind`, and panics at the end naming every case that failed. The caller owns the
/// state, so it is dropped (the server stopped, its folder removed) whatever the cases do.
pub fn run_cases<S>(state: &S, cases: &[Case<S>]) {
    let mut failed = Vec::new();
    for (name, case) in cases {
        let started = Instant::now();
        match catch_unwind(AssertUnwindSafe(|| case(state))) {
            Ok(()) => eprintln!("case {name} ... ok ({:.1} s)", started.elapsed().as_secs_f64()),
            Err(_) => {
                eprintln!("case {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    assert!(failed.is_empty(), "{} of {} cases failed: {}", failed.len(), cases.len(), failed.join(", "));
}

/// `cases!(State; a, b)`: the cases for [`run_cases`], each named after its function.
#[allow(unused_macros)]
macro_rules! cases {
    ($state:ty; $($case:ident),* $(,)?) => {
        &[$((stringify!($case), $case as fn(&$state))),*]
    };
}
#[allow(unused_imports)]
pub(crate) use cases;

/// A minimal HTTP/1.1 response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// Sends raw request bytes on a new connection and reads one response (Connection: close).
pub fn http_raw(addr: SocketAddr, request: &[u8]) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(request).unwrap();
    read_response(&mut stream)
}

/// Reads one response from `stream`, using Content-Length.
pub fn read_response(stream: &mut TcpStream) -> HttpResponse {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => buf.push(byte[0]),
            Err(e) => panic!("reading response head: {e}"),
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    HttpResponse { status, head, body }
}

/// Sends `GET path` on a kept-alive connection and reads the answer: with several event loops,
/// every answer on one connection comes from the loop that adopted it.
pub fn get_on(stream: &mut TcpStream, path: &str) -> HttpResponse {
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
    read_response(stream)
}

pub fn http_get(addr: SocketAddr, path: &str) -> HttpResponse {
    http_raw(addr, format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
}

pub type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

/// Opens a WebSocket to `path`.
pub fn ws_connect(addr: SocketAddr, path: &str) -> Ws {
    let (ws, response) = tungstenite::connect(format!("ws://{addr}{path}")).expect("websocket handshake");
    assert_eq!(response.status(), 101);
    if let MaybeTlsStream::Plain(stream) = ws.get_ref() {
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    }
    ws
}

pub fn send_json(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).expect("send");
}

/// Next JSON text message (skipping pings/pongs).
pub fn next_json(ws: &mut Ws) -> Value {
    loop {
        match ws.read().expect("read message") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected message: {other:?}"),
        }
    }
}

/// Reads JSON messages until one satisfies `pred`, within `timeout`.
pub fn next_matching(ws: &mut Ws, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        assert!(Instant::now() < deadline, "no matching message within {timeout:?}");
        let message = next_json(ws);
        if pred(&message) {
            return message;
        }
    }
}

/// Polls the JSON endpoint `path` (`/ws/stats`, `/health`) until `pred` holds or `timeout`
/// passes; returns the last answer, for the caller to assert on.
pub fn wait_for_json(addr: SocketAddr, path: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let answer = http_get(addr, path).json();
        if pred(&answer) || Instant::now() >= deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A masked client frame with first byte `first` (FIN, RSV bits, opcode) carrying `payload`.
pub fn masked_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0x0f, 0xc3, 0x81];
    let mut frame = vec![first];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// Sends a WebSocket upgrade request for `path` (with `extra_headers`, each line ending in CRLF) on
/// a new socket and reads the answer's head byte by byte, so that no frame byte is consumed.
pub fn raw_upgrade(addr: SocketAddr, path: &str, extra_headers: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra_headers}\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "handshake answer cut short");
        head.push(byte[0]);
    }
    (stream, String::from_utf8_lossy(&head).into_owned())
}
