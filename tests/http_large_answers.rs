//! Answers of any size the server agrees to compute arrive whole over a real socket; what it does
//! not agree to compute, or cannot hold right now, gets the documented JSON error; the access log
//! says what was really sent.

// Tests drive real processes, sockets and clocks; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;
use support::*;

/// Longest a test waits for one answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// An answer larger than the 8 MiB WebSocket queue bound that once dropped every large answer
/// (about 10 MB on the bundled demo: 5-minute snapshots over the whole week).
const BIG_ANSWER_PATH: &str = "/liquidations/heatmap-timeseries?symbol=BTCUSDT&interval=5m&time_window=7d";

/// An HTTP response read to the end of the connection, so nothing beyond the head is assumed.
struct Whole {
    status: u16,
    head: String,
    content_length: usize,
    body: Vec<u8>,
}

/// Sends `GET path` with `Connection: close` and reads until the server closes.
fn get_whole(addr: SocketAddr, path: &str) -> Whole {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap_or_else(|e| panic!("{path}: reading the answer: {e}"));
    let split = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("{path}: no response head in {} bytes", bytes.len()));
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let content_length = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .unwrap_or_else(|| panic!("{path}: no Content-Length in {head}"));
    Whole { status, head, content_length, body: bytes[split + 4..].to_vec() }
}

/// Asserts the answer is complete (every byte Content-Length announced, and no more) and JSON.
fn complete_json(addr: SocketAddr, path: &str) -> (Whole, Value) {
    let answer = get_whole(addr, path);
    assert_eq!(answer.body.len(), answer.content_length, "{path}: received {} of {} bytes", answer.body.len(), answer.content_length);
    let json = serde_json::from_slice(&answer.body).unwrap_or_else(|e| panic!("{path}: not JSON ({e})"));
    (answer, json)
}

/// The windows the page offers, as `frontend/js/api.js` declares them: (name, interval, window ms).
fn page_windows() -> Vec<(String, String, i64)> {
    let source = std::fs::read_to_string(repo_root().join("frontend/js/api.js")).unwrap();
    let table = source.split("TIME_WINDOWS = Object.freeze({").nth(1).expect("api.js declares TIME_WINDOWS");
    let table = &table[..table.find("});").expect("TIME_WINDOWS ends")];
    let windows: Vec<(String, String, i64)> = table
        .lines()
        .filter(|line| line.contains("interval:"))
        .map(|line| {
            let quoted: Vec<&str> = line.split('\'').collect();
            let window_ms = line
                .split("windowMs:")
                .nth(1)
                .and_then(|expr| expr.split('}').next())
                .map(|expr| expr.split('*').map(|f| f.trim().replace('_', "").parse::<i64>().unwrap()).product())
                .unwrap_or_else(|| panic!("no windowMs in {line:?}"));
            (quoted[1].to_string(), quoted[3].to_string(), window_ms)
        })
        .collect();
    assert!(windows.len() >= 3, "windows parsed from api.js: {windows:?}");
    windows
}

/// `KLINES_LIMIT_MAX` of `frontend/js/api.js`.
fn page_klines_limit_max() -> i64 {
    let source = std::fs::read_to_string(repo_root().join("frontend/js/api.js")).unwrap();
    source
        .lines()
        .find_map(|l| l.strip_prefix("export const KLINES_LIMIT_MAX = "))
        .map(|v| v.trim_end_matches(';').replace('_', "").parse().unwrap())
        .expect("api.js declares KLINES_LIMIT_MAX")
}

fn interval_ms(name: &str) -> i64 {
    let (count, unit) = name.split_at(name.len() - 1);
    let unit_ms = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => panic!("unknown interval unit {other:?}"),
    };
    count.parse::<i64>().unwrap() * unit_ms
}

#[test]
fn answers_of_the_demo_server_arrive_whole() {
    let server = ServerProcess::start(&[("DEMO_REPLAY_INTERVAL", "0")]);
    run_cases(
        &server,
        cases!(ServerProcess;
            every_symbol_and_window_the_page_offers_arrives_complete,
            an_answer_over_the_level_bound_is_422_answer_too_large,
            the_access_log_says_what_was_sent_and_when_a_client_went_away,
        ),
    );
}

fn every_symbol_and_window_the_page_offers_arrives_complete(server: &ServerProcess) {
    let (_, config) = complete_json(server.addr, "/api/config");
    let symbols: Vec<String> = config["supported_symbols"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
    assert!(symbols.len() >= 2, "{config}");
    let klines_limit_max = page_klines_limit_max();
    let mut largest = 0;
    for symbol in &symbols {
        for (window, interval, window_ms) in page_windows() {
            // The page's own requests (frontend/js/api.js: heatmapPath, loadKlines).
            let path = format!("/liquidations/heatmap-timeseries?symbol={symbol}&interval={interval}&time_window={window}");
            let (answer, heatmap) = complete_json(server.addr, &path);
            assert_eq!(answer.status, 200, "{path}: {heatmap}");
            assert!(!heatmap["data"].as_array().unwrap().is_empty(), "{path}: no snapshots");
            largest = largest.max(answer.content_length);
            let limit = klines_limit_max.min(window_ms / interval_ms(&interval));
            let path = format!("/prices/klines?symbol={symbol}&interval={interval}&limit={limit}");
            let (answer, klines) = complete_json(server.addr, &path);
            assert_eq!(answer.status, 200, "{path}: {klines}");
        }
    }
    assert!(largest > 0);
    // Beyond the 8 MiB WebSocket queue bound, which once closed the connection of every such answer.
    let (answer, heatmap) = complete_json(server.addr, BIG_ANSWER_PATH);
    assert_eq!(answer.status, 200, "{heatmap}");
    assert!(answer.content_length > 8 * 1024 * 1024, "{BIG_ANSWER_PATH}: {} bytes", answer.content_length);
}

fn an_answer_over_the_level_bound_is_422_answer_too_large(server: &ServerProcess) {
    let path = "/liquidations/heatmap-timeseries?symbol=BTCUSDT&interval=5m&time_window=7d&price_bin_size=0.5";
    let (answer, error) = complete_json(server.addr, path);
    assert_eq!(answer.status, 422, "{error}");
    assert_eq!(error["error"]["code"], "ANSWER_TOO_LARGE");
    let message = error["error"]["message"].as_str().unwrap();
    for what in ["1000000 price levels", "REST_MAX_LEVELS", "interval", "price_bin_size", "window"] {
        assert!(message.contains(what), "{message:?} does not mention {what}");
    }
    assert!(answer.head.contains("Content-Type: application/json"), "{}", answer.head);
}

fn the_access_log_says_what_was_sent_and_when_a_client_went_away(server: &ServerProcess) {
    let path = BIG_ANSWER_PATH;
    let (whole, _) = complete_json(server.addr, path);
    let needle = format!("request=\"GET {path}\" status=200 bytes=");
    let lines = server.wait_for_log(&needle, ANSWER_TIMEOUT);
    let line = lines.iter().find(|l| l.contains(&needle)).unwrap_or_else(|| panic!("no access log line for {path}"));
    let field = |line: &str, name: &str| -> String {
        line.split(' ').find_map(|kv| kv.strip_prefix(&format!("{name}="))).unwrap_or_else(|| panic!("no {name} in {line}")).to_string()
    };
    let total = whole.head.len() + 4 + whole.body.len();
    assert_eq!(field(line, "outcome"), "complete", "{line}");
    assert_eq!(field(line, "sent"), total.to_string(), "{line}");
    assert_eq!(field(line, "bytes"), total.to_string(), "{line}");

    // A client that asks for the same large answer and hangs up without reading it.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
    let mut first = [0u8; 1];
    stream.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
    stream.read_exact(&mut first).unwrap();
    drop(stream);
    let lines = server.wait_for_log("outcome=peer_gone", ANSWER_TIMEOUT);
    let line = lines.iter().find(|l| l.contains(&needle) && l.contains("outcome=peer_gone")).unwrap_or_else(|| panic!("no peer_gone line in {lines:#?}"));
    let sent: usize = field(line, "sent").parse().unwrap();
    assert!(sent < total, "{line}: the log claims more was sent than the client could take");
}

#[test]
fn answers_beyond_the_pending_bound_wait_for_a_slow_client_with_503_busy() {
    let server = ServerProcess::start(&[("DEMO_REPLAY_INTERVAL", "0"), ("HTTP_MAX_PENDING_BYTES", "1048576")]);
    // A slow client: asks for an 8 MiB answer and does not read it yet.
    let big = BIG_ANSWER_PATH;
    let mut slow = TcpStream::connect(server.addr).unwrap();
    slow.write_all(format!("GET {big} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let stats = wait_for_json(server.addr, "/ws/stats", ANSWER_TIMEOUT, |s| s["http_pending_bytes"].as_u64().unwrap_or(0) > 1048576);
    assert!(stats["http_pending_bytes"].as_u64().unwrap() > 1048576, "{stats}");

    let other = "/liquidations/heatmap-timeseries?symbol=BTCUSDT&interval=5m&time_window=48h";
    let (answer, error) = complete_json(server.addr, other);
    assert_eq!(answer.status, 503, "{error}");
    assert_eq!(error["error"]["code"], "BUSY");
    assert!(error["error"]["message"].as_str().unwrap().contains("HTTP_MAX_PENDING_BYTES=1048576"), "{error}");
    assert!(answer.head.contains("Retry-After: 1"), "{}", answer.head);

    // The slow client still gets its whole answer, and then the bound has room again.
    slow.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
    let mut bytes = Vec::new();
    slow.read_to_end(&mut bytes).unwrap();
    let split = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&bytes[..split]).to_ascii_lowercase();
    let length: usize = head.lines().find_map(|l| l.strip_prefix("content-length:")).unwrap().trim().parse().unwrap();
    assert_eq!(bytes.len() - split - 4, length);
    assert!(length > 8 * 1024 * 1024, "{length}");
    let stats = wait_for_json(server.addr, "/ws/stats", ANSWER_TIMEOUT, |s| s["http_pending_bytes"] == 0);
    assert_eq!(stats["http_pending_bytes"], 0, "{stats}");
    let (answer, _) = complete_json(server.addr, other);
    assert_eq!(answer.status, 200);
}

/// Two connections on different event loops (the acceptor hands consecutive connections to
/// alternate loops), each with a read timeout of [`ANSWER_TIMEOUT`].
fn one_connection_per_loop(server: &ServerProcess) -> (TcpStream, TcpStream) {
    let mut first = TcpStream::connect(server.addr).unwrap();
    let second = TcpStream::connect(server.addr).unwrap();
    for stream in [&first, &second] {
        stream.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let stats = get_on(&mut first, "/ws/stats").json();
    assert_eq!(stats["connections_per_loop"], serde_json::json!([1, 1]), "one connection on each loop: {stats}");
    (first, second)
}

#[test]
fn pending_answer_bytes_are_bounded_for_the_process() {
    let server = ServerProcess::start(&[
        ("EVENT_LOOPS", "2"),
        ("DEMO_REPLAY_INTERVAL", "0"),
        ("HTTP_MAX_PENDING_BYTES", "1048576"),
        ("HTTP_REQUEST_TIMEOUT", "120"),
    ]);
    let (mut slow, mut other) = one_connection_per_loop(&server);
    // A slow client on one loop asks for an 8 MiB answer and does not read it yet.
    slow.write_all(format!("GET {BIG_ANSWER_PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    wait_for_json(server.addr, "/ws/stats", ANSWER_TIMEOUT, |s| s["http_pending_bytes"].as_u64().unwrap_or(0) > 1048576);
    // The other loop sees the process's pending bytes and refuses to compute more.
    let stats = get_on(&mut other, "/ws/stats").json();
    assert!(stats["http_pending_bytes"].as_u64().unwrap() > 1048576, "the other loop's view: {stats}");
    let path = "/liquidations/heatmap-timeseries?symbol=BTCUSDT&interval=5m&time_window=48h";
    let busy = get_on(&mut other, path);
    assert_eq!(busy.status, 503, "{}", String::from_utf8_lossy(&busy.body));
    assert_eq!(busy.json()["error"]["code"], "BUSY");
    assert!(busy.json()["error"]["message"].as_str().unwrap().contains("HTTP_MAX_PENDING_BYTES=1048576"), "{}", busy.json());

    // Once the slow client has its answer, the other loop has room again.
    let mut bytes = Vec::new();
    slow.read_to_end(&mut bytes).unwrap();
    assert!(bytes.len() > 8 * 1024 * 1024, "{} bytes", bytes.len());
    let deadline = std::time::Instant::now() + ANSWER_TIMEOUT;
    while get_on(&mut other, "/ws/stats").json()["http_pending_bytes"] != 0 {
        assert!(std::time::Instant::now() < deadline, "pending bytes never returned to 0");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(get_on(&mut other, path).status, 200);
}

#[test]
fn queries_in_flight_are_bounded_for_the_process() {
    let server = ServerProcess::start(&[("EVENT_LOOPS", "2"), ("DEMO_REPLAY_INTERVAL", "0"), ("QUERIES_IN_FLIGHT_MAX", "1")]);
    let (mut first, mut second) = one_connection_per_loop(&server);
    // A long query (an uncached 8 MiB answer) on one loop...
    first.write_all(format!("GET {BIG_ANSWER_PATH} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while get_on(&mut second, "/ws/stats").json()["queries_in_flight"] != 1 {
        assert!(std::time::Instant::now() < deadline, "the first query was never seen in flight");
    }
    // ...holds the process's one slot: a query on the other loop is refused.
    let busy = get_on(&mut second, "/prices/klines?symbol=BTCUSDT&interval=1h&limit=10");
    assert_eq!(busy.status, 503, "{}", String::from_utf8_lossy(&busy.body));
    assert_eq!(busy.json()["error"]["code"], "BUSY");
    assert!(busy.json()["error"]["message"].as_str().unwrap().contains("too many queries"), "{}", busy.json());
    assert_eq!(read_response(&mut first).status, 200);
    assert_eq!(get_on(&mut second, "/ws/stats").json()["queries_in_flight"], 0);
    assert_eq!(get_on(&mut second, "/prices/klines?symbol=BTCUSDT&interval=1h&limit=10").status, 200);
}
