//! A local fake of the Binance USDT-M futures exchange, on loopback, for the live-feed tests and
//! the browser e2e suite (through `examples/fake_exchange`).
//!
//! It speaks the real wire formats: the combined stream (`/stream?streams=...`) with
//! `{"stream":"btcusdt@kline_5m","data":{"e":"kline",...}}` and `forceOrder` events, and the REST
//! JSON of `GET /fapi/v1/klines` (arrays, including the bar still open), `GET
//! /futures/data/openInterestHist` and `GET /fapi/v1/openInterest`. Its bars are the real BTCUSDT
//! week of `tests/fixtures`, moved in time so that the history ends just before now.
//!
//! A test drives it: publish the next bar on the stream and over REST ([`FakeExchange::push_bar`]),
//! only over REST (a gap only backfill fills), duplicate or reorder, send unclosed updates, raw
//! (malformed, oversized) text, liquidation bursts, drop every connection, answer 429 with
//! `Retry-After`, hold open interest back. Every thread stops when it is dropped.
#![allow(dead_code, clippy::disallowed_methods, clippy::disallowed_types)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tungstenite::{Message, WebSocket};

pub const INTERVAL_MS: i64 = 300_000;
pub const SYMBOL: &str = "BTCUSDT";

/// One bar of the fake's series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FakeBar {
    pub open_time_ms: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub open_interest_usd: f64,
}

impl FakeBar {
    /// Volumes consistent with the bar (VWAP inside [low, high]).
    fn volumes(&self) -> (f64, f64, f64) {
        let volume = 10.0;
        (volume, volume * (self.high + self.low) / 2.0, 4.0)
    }

    /// The stream's kline event for this bar (`closed` = `x`). An unclosed update carries the
    /// bar as it was mid-way (close = open), so storing one would show.
    pub fn kline_message(&self, closed: bool) -> String {
        let (v, q, taker) = self.volumes();
        let close = if closed { self.close } else { self.open };
        format!(
            r#"{{"stream":"btcusdt@kline_5m","data":{{"e":"kline","E":{e},"s":"BTCUSDT","k":{{"t":{t},"T":{close_t},"s":"BTCUSDT","i":"5m","f":100,"L":200,"o":"{o}","c":"{c}","h":"{h}","l":"{l}","v":"{v}","n":100,"x":{closed},"q":"{q}","V":"{taker}","Q":"0","B":"0"}}}}}}"#,
            e = self.open_time_ms + INTERVAL_MS,
            t = self.open_time_ms,
            close_t = self.open_time_ms + INTERVAL_MS - 1,
            o = self.open,
            c = close,
            h = self.high,
            l = self.low,
        )
    }

    fn rest_row(&self) -> String {
        let (v, q, taker) = self.volumes();
        format!(
            r#"[{t},"{o}","{h}","{l}","{c}","{v}",{close_t},"{q}",100,"{taker}","0","0"]"#,
            t = self.open_time_ms,
            close_t = self.open_time_ms + INTERVAL_MS - 1,
            o = self.open,
            h = self.high,
            l = self.low,
            c = self.close,
        )
    }
}

/// A `forceOrder` event: `order_side` "SELL" liquidates a long, "BUY" a short.
pub fn force_order_message(order_side: &str, price: f64, quantity: f64, time_ms: i64) -> String {
    format!(
        r#"{{"stream":"btcusdt@forceOrder","data":{{"e":"forceOrder","E":{e},"o":{{"s":"BTCUSDT","S":"{order_side}","o":"LIMIT","f":"IOC","q":"{quantity}","p":"{price}","ap":"{price}","X":"FILLED","l":"{quantity}","z":"{quantity}","T":{time_ms}}}}}}}"#,
        e = time_ms + 5
    )
}

/// Reads the fixture week: open_time,open,high,low,close,open_interest_value.
pub fn load_week(path: &Path) -> Vec<FakeBar> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<f64> = line.split(',').map(|x| x.trim().parse().unwrap()).collect();
            FakeBar { open_time_ms: f[0] as i64, open: f[1], high: f[2], low: f[3], close: f[4], open_interest_usd: f[5] }
        })
        .collect()
}

fn wall_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// What a stream connection should do next.
#[derive(Debug, Clone)]
enum Outgoing {
    Text(String),
    Ping,
}

#[derive(Default)]
struct State {
    /// The whole series, moved in time.
    series: Vec<FakeBar>,
    /// Bars the exchange has (REST serves them): index into `series` -> published.
    published: BTreeMap<i64, FakeBar>,
    /// Open interest served by `openInterestHist`.
    open_interest: BTreeMap<i64, f64>,
    /// Next bar of `series` to publish.
    next: usize,
    /// Hold open interest of newly published bars back until released.
    hold_open_interest: bool,
    held_open_interest: Vec<(i64, f64)>,
    /// Append-only log of what stream connections send; each connection starts at the end.
    outbox: Vec<Outgoing>,
    /// Bumped to make every open stream connection drop.
    drop_generation: u64,
    /// While set, new stream connections are closed before the handshake (the exchange is down).
    refuse_streams: bool,
    /// Stream connections accepted so far, and pongs received.
    connections: u64,
    pongs: u64,
    /// The next this-many REST requests are answered 429 with this Retry-After (seconds).
    answer_429: u32,
    retry_after_s: u32,
    /// REST request targets with their arrival, in order.
    requests: Vec<(std::time::Instant, String)>,
}

/// A running fake exchange. Stops its threads when dropped.
pub struct FakeExchange {
    pub ws_addr: SocketAddr,
    pub rest_addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl FakeExchange {
    /// Starts with the first `history` bars of `week` published and `future` more to come; the
    /// last of all closes at the most recent interval boundary, so the newest published bar is
    /// `future` intervals older than a live feed's would be.
    pub fn start(week: &[FakeBar], history: usize, future: usize) -> FakeExchange {
        assert!(history + future <= week.len(), "the fixture has {} bars", week.len());
        let now_bar = wall_ms().div_euclid(INTERVAL_MS) * INTERVAL_MS;
        let first_ms = now_bar - (history + future) as i64 * INTERVAL_MS;
        let shift = first_ms - week[0].open_time_ms;
        let series: Vec<FakeBar> =
            week[..history + future].iter().map(|b| FakeBar { open_time_ms: b.open_time_ms + shift, ..*b }).collect();
        let mut state = State { series, ..State::default() };
        for _ in 0..history {
            publish_next(&mut state);
        }
        let state = Arc::new(Mutex::new(state));
        let stop = Arc::new(AtomicBool::new(false));
        let ws_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let rest_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        ws_listener.set_nonblocking(true).unwrap();
        rest_listener.set_nonblocking(true).unwrap();
        let ws_addr = ws_listener.local_addr().unwrap();
        let rest_addr = rest_listener.local_addr().unwrap();
        let threads = vec![
            spawn_acceptor(ws_listener, Arc::clone(&state), Arc::clone(&stop), serve_stream),
            spawn_acceptor(rest_listener, Arc::clone(&state), Arc::clone(&stop), serve_rest),
        ];
        FakeExchange { ws_addr, rest_addr, state, stop, threads }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.ws_addr)
    }

    pub fn rest_url(&self) -> String {
        format!("http://{}", self.rest_addr)
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// The bars the exchange has published, oldest first.
    pub fn published(&self) -> Vec<FakeBar> {
        self.with(|s| s.published.values().copied().collect())
    }

    /// Publishes the next bar over REST and sends it closed on the stream (after an unclosed
    /// update of it, as the exchange does). Returns it.
    pub fn push_bar(&self) -> FakeBar {
        self.with(|s| {
            let bar = publish_next(s);
            s.outbox.push(Outgoing::Text(bar.kline_message(false)));
            s.outbox.push(Outgoing::Text(bar.kline_message(true)));
            bar
        })
    }

    /// Publishes the next bar over REST only: the stream never sends it.
    pub fn publish_silently(&self) -> FakeBar {
        self.with(publish_next)
    }

    /// Sends raw text on every open stream connection.
    pub fn send_raw(&self, text: &str) {
        self.with(|s| s.outbox.push(Outgoing::Text(text.to_string())));
    }

    /// Sends a ping frame on every open stream connection.
    pub fn ping(&self) {
        self.with(|s| s.outbox.push(Outgoing::Ping));
    }

    /// Drops every open stream connection (TCP shutdown, no close frame).
    pub fn drop_connections(&self) {
        self.with(|s| s.drop_generation += 1);
    }

    /// While `refuse` is set, stream connections are cut before their handshake.
    pub fn refuse_streams(&self, refuse: bool) {
        self.with(|s| s.refuse_streams = refuse);
    }

    /// The next `count` REST requests are answered 429 with `Retry-After: retry_after_s`.
    pub fn answer_429(&self, count: u32, retry_after_s: u32) {
        self.with(|s| {
            s.answer_429 = count;
            s.retry_after_s = retry_after_s;
        });
    }

    /// Holds the open interest of bars published from now on back (or releases what was held).
    pub fn hold_open_interest(&self, hold: bool) {
        self.with(|s| {
            s.hold_open_interest = hold;
            if !hold {
                for (t, v) in std::mem::take(&mut s.held_open_interest) {
                    s.open_interest.insert(t, v);
                }
            }
        });
    }

    pub fn connections(&self) -> u64 {
        self.with(|s| s.connections)
    }

    pub fn pongs(&self) -> u64 {
        self.with(|s| s.pongs)
    }

    /// REST requests (arrival, target) whose path starts with `prefix`, in order.
    pub fn requests(&self, prefix: &str) -> Vec<(std::time::Instant, String)> {
        self.with(|s| s.requests.iter().filter(|(_, r)| r.starts_with(prefix)).cloned().collect())
    }

    /// Stops the threads (also on drop).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for FakeExchange {
    fn drop(&mut self) {
        self.stop();
    }
}

fn publish_next(s: &mut State) -> FakeBar {
    let bar = *s.series.get(s.next).expect("the fake exchange ran out of bars");
    s.next += 1;
    s.published.insert(bar.open_time_ms, bar);
    if s.hold_open_interest {
        s.held_open_interest.push((bar.open_time_ms, bar.open_interest_usd));
    } else {
        s.open_interest.insert(bar.open_time_ms, bar.open_interest_usd);
    }
    bar
}

type Serve = fn(TcpStream, Arc<Mutex<State>>, Arc<AtomicBool>);

/// Accepts connections until stopped; each is served on its own thread (joined on stop).
fn spawn_acceptor(listener: TcpListener, state: Arc<Mutex<State>>, stop: Arc<AtomicBool>, serve: Serve) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut handlers = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
                    handlers.push(std::thread::spawn(move || serve(stream, state, stop)));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
                Err(_) => break,
            }
            handlers.retain(|h: &JoinHandle<()>| !h.is_finished());
        }
        for h in handlers {
            let _ = h.join();
        }
    })
}

// The handshake callback's error type is tungstenite's `ErrorResponse`, not ours to shrink.
#[allow(clippy::result_large_err)]
fn serve_stream(stream: TcpStream, state: Arc<Mutex<State>>, stop: Arc<AtomicBool>) {
    if state.lock().unwrap().refuse_streams {
        let _ = stream.shutdown(Shutdown::Both);
        return;
    }
    let mut path = String::new();
    use tungstenite::handshake::server::{ErrorResponse, Request, Response};
    let callback = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        path = request.uri().to_string();
        Ok(response)
    };
    let Ok(mut ws) = tungstenite::accept_hdr(stream, callback) else { return };
    if !path.starts_with("/stream?streams=") {
        let _ = ws.close(None);
        return;
    }
    ws.get_ref().set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let (mut sent, generation) = {
        let mut s = state.lock().unwrap();
        s.connections += 1;
        (s.outbox.len(), s.drop_generation)
    };
    while !stop.load(Ordering::Relaxed) {
        let (pending, dropped): (Vec<Outgoing>, bool) = {
            let s = state.lock().unwrap();
            (s.outbox[sent..].to_vec(), s.drop_generation != generation)
        };
        if dropped {
            let _ = ws.get_ref().shutdown(Shutdown::Both);
            return;
        }
        sent += pending.len();
        for out in pending {
            let message = match out {
                Outgoing::Text(text) => Message::text(text),
                Outgoing::Ping => Message::Ping(b"fake".to_vec().into()),
            };
            if ws.send(message).is_err() {
                return;
            }
        }
        match read_one(&mut ws) {
            Ok(Some(Message::Pong(_))) => state.lock().unwrap().pongs += 1,
            Ok(Some(Message::Close(_))) => {
                let _ = ws.flush();
                return;
            }
            Ok(_) => {}
            Err(()) => return,
        }
    }
    let _ = ws.close(None);
}

fn read_one(ws: &mut WebSocket<TcpStream>) -> Result<Option<Message>, ()> {
    match ws.read() {
        Ok(m) => Ok(Some(m)),
        Err(tungstenite::Error::Io(e)) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(None),
        Err(_) => Err(()),
    }
}

fn serve_rest(stream: TcpStream, state: Arc<Mutex<State>>, stop: Arc<AtomicBool>) {
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut reader = BufReader::new(stream);
    while !stop.load(Ordering::Relaxed) {
        let mut request_line = String::new();
        match reader.read_line(&mut request_line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => return,
        }
        // Skip the headers.
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) => return,
                Ok(_) if line == "\r\n" || line == "\n" => break,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
                Err(_) => return,
            }
        }
        let target = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let (status, extra, body) = answer(&state, &target);
        let reason = match status {
            200 => "OK",
            404 => "Not Found",
            429 => "Too Many Requests",
            _ => "Error",
        };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-MBX-USED-WEIGHT-1M: 1\r\n{extra}\r\n{body}",
            body.len()
        );
        if reader.get_mut().write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn query_value<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| pair.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
}

fn answer(state: &Mutex<State>, target: &str) -> (u16, String, String) {
    let mut s = state.lock().unwrap();
    s.requests.push((std::time::Instant::now(), target.to_string()));
    if s.answer_429 > 0 {
        s.answer_429 -= 1;
        return (429, format!("Retry-After: {}\r\n", s.retry_after_s), r#"{"code":-1003,"msg":"Too many requests"}"#.into());
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let symbol = query_value(query, "symbol").unwrap_or("");
    let int = |name: &str| query_value(query, name).and_then(|v| v.parse::<i64>().ok());
    if symbol != SYMBOL && path != "/fapi/v1/ping" {
        return (400, String::new(), r#"{"code":-1121,"msg":"Invalid symbol."}"#.into());
    }
    match path {
        "/fapi/v1/klines" => {
            let start = int("startTime").unwrap_or(i64::MIN);
            let limit = int("limit").unwrap_or(500).clamp(1, 1500) as usize;
            let mut rows: Vec<String> = s.published.range(start..).take(limit).map(|(_, b)| b.rest_row()).collect();
            // The exchange always includes the bar still open now.
            if rows.len() < limit {
                let open_ms = wall_ms().div_euclid(INTERVAL_MS) * INTERVAL_MS;
                if open_ms >= start {
                    let last = s.published.values().last().copied();
                    if let Some(last) = last {
                        rows.push(FakeBar { open_time_ms: open_ms, ..last }.rest_row());
                    }
                }
            }
            (200, String::new(), format!("[{}]", rows.join(",")))
        }
        "/futures/data/openInterestHist" => {
            let start = int("startTime").unwrap_or(i64::MIN);
            let end = int("endTime").unwrap_or(i64::MAX);
            let limit = int("limit").unwrap_or(30).clamp(1, 500) as usize;
            let rows: Vec<String> = s
                .open_interest
                .range(start..=end)
                .take(limit)
                .map(|(t, v)| {
                    let close = s.published.get(t).map_or(60_000.0, |b| b.close);
                    format!(
                        r#"{{"symbol":"BTCUSDT","sumOpenInterest":"{:.3}","sumOpenInterestValue":"{v}","CMCCirculatingSupply":"0","timestamp":{t}}}"#,
                        v / close
                    )
                })
                .collect();
            (200, String::new(), format!("[{}]", rows.join(",")))
        }
        "/fapi/v1/openInterest" => {
            let (t, v) = s.open_interest.iter().next_back().map(|(t, v)| (*t, *v)).unwrap_or((0, 0.0));
            let close = s.published.get(&t).map_or(60_000.0, |b| b.close);
            (200, String::new(), format!(r#"{{"openInterest":"{:.3}","symbol":"BTCUSDT","time":{}}}"#, v / close, wall_ms()))
        }
        _ => (404, String::new(), r#"{"code":-1,"msg":"not found"}"#.into()),
    }
}

