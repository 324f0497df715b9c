//! What the simulated clients do, step by step (their kinds and state are `crate::client`):
//! connect, handshake, subscribe, read at their pace, misbehave, reconnect.

use std::collections::BTreeSet;

use rand::Rng;

use super::{Conn, World, QUIET_SNDBUF_BYTES_MIN};
use crate::client::{Kind, ClientStep, CONNECTS_PER_CLIENT_MAX, FLOOD_MESSAGES_MAX, PIPELINE_REQUESTS_MAX};
use crate::events::{ClientKey, ConnKey, Event};
use crate::params::{rng_for, Stream};
use crate::stream::SimStream;
use crate::wire::{
    self, client_frame, client_frame_header, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_TEXT,
};

const HTTP_PATHS: [&str; 10] = [
    "/",
    "/health",
    "/ws/stats",
    "/api/config",
    "/liquidations/heatmap-timeseries?symbol=BTCUSDT&interval=5m",
    "/prices/klines?symbol=BTCUSDT&interval=5m",
    "/js/app.js",
    "/missing.js",
    "/ws/heatmap",
    "/../etc/passwd",
];

impl World {
    fn mask(&mut self, ck: ClientKey) -> [u8; 4] {
        self.clients[ck].rng.random()
    }

    /// The live connection of `ck`, if it has one the client may still use.
    fn usable_conn(&self, ck: ClientKey) -> Option<ConnKey> {
        let k = self.clients[ck].conn?;
        let conn = &self.conns[k];
        let usable = !conn.released
            && !conn.refused
            && !conn.sent_fin
            && !conn.sent_reset
            && conn.decoder.close_code.is_none();
        usable.then_some(k)
    }

    pub fn client_step(&mut self, ck: ClientKey, step: ClientStep) {
        match step {
            ClientStep::Connect => self.connect(ck),
            ClientStep::Act => self.act(ck),
        }
    }

    fn connect(&mut self, ck: ClientKey) {
        if self.quiet || self.clients[ck].connects >= CONNECTS_PER_CLIENT_MAX {
            return;
        }
        self.clients[ck].connects += 1;
        let k = self.conns.len();
        let faults = &self.params.faults;
        let tiny = faults.tiny_sndbuf > 0.0 && self.fault_rng.random_bool(faults.tiny_sndbuf);
        let sndbuf = if tiny {
            self.params.tiny_sndbuf_bytes
        } else {
            self.params.sndbuf_bytes
        };
        let mut stream = SimStream::new(
            sndbuf,
            rng_for(self.params.seed, Stream::Faults, k as u64 + 1),
            faults.clone(),
        );
        if self.quiet {
            stream.faults_on = false;
            stream.sndbuf_bytes = stream.sndbuf_bytes.max(QUIET_SNDBUF_BYTES_MIN);
        }
        self.conns.push(Conn {
            client: ck,
            loop_index: None,
            core_id: None,
            stream,
            decoder: wire::Decoder::new(),
            registered: false,
            released: false,
            core_gone: false,
            refused: false,
            sent_fin: false,
            sent_reset: false,
            sent_close: false,
            arrivals_pending: 0,
            last_arrival_ns: 0,
            read_scheduled: false,
            upgraded: false,
            wire_subs: BTreeSet::new(),
            last_snapshot: Default::default(),
            owed: Default::default(),
            warned_at: None,
            closing_at: None,
            write_progress_at: liquidationheatmap::core::MonoTime::ZERO,
            resync_sent: false,
            replies_since_resync: 0,
            open_at_shutdown: false,
            closing_at_shutdown: false,
            stalled: false,
        });
        self.clients[ck].conn = Some(k);
        if !self.listener_open || self.backlog.len() >= self.params.backlog_max {
            self.conns[k].refused = true;
            self.trace
                .record(format!("conn{k} refused by the listener"));
            self.on_conn_closed(k);
            return;
        }
        let was_empty = self.backlog.is_empty();
        self.backlog.push_back(k);
        if was_empty {
            let delay = self
                .fault_rng
                .random_range(0..=self.params.faults.readiness_delay_ms_max);
            self.schedule_ms(delay, Event::ListenerReady);
        }
        let kind = self.clients[ck].kind;
        match kind {
            Kind::Slowloris => self.slowloris_step(ck, k),
            Kind::HttpGetter => self.http_request(ck, k),
            Kind::HttpPipeliner => self.http_pipeline(ck, k),
            Kind::Resetter if self.clients[ck].rng.random_bool(0.3) => {
                // Reset in the middle of the handshake.
                let request = wire::handshake_request("/ws/heatmap");
                let cut = self.clients[ck].rng.random_range(1..request.len());
                self.send(k, Event::Arrive(k, request[..cut].to_vec()));
                self.send(k, Event::ArriveReset(k));
            }
            _ => {
                let mut bytes = wire::handshake_request("/ws/heatmap");
                if kind == Kind::FastReader && self.clients[ck].rng.random_bool(0.2) {
                    // A subscribe right behind the request, before the 101 arrives.
                    let symbols = self.pick_symbols(ck);
                    let mask = self.mask(ck);
                    bytes.extend(client_frame(
                        OP_TEXT,
                        subscribe_text(&symbols, self.params.symbols()).as_bytes(),
                        Some(mask),
                        true,
                    ));
                    self.clients[ck].intended.extend(symbols);
                }
                self.send(k, Event::Arrive(k, bytes));
            }
        }
        let wait = self.act_interval_ms(ck);
        self.schedule_ms(wait, Event::Client(ck, ClientStep::Act));
    }

    fn act_interval_ms(&mut self, ck: ClientKey) -> u64 {
        let idle = self.params.config.idle_timeout_ms;
        let kind = self.clients[ck].kind;
        let rng = &mut self.clients[ck].rng;
        match kind {
            Kind::FastReader
            | Kind::SlowReader
            | Kind::StalledReader
            | Kind::HalfCloser
            | Kind::Closer => rng.random_range(idle / 4..=idle * 5 / 4),
            Kind::Churner => rng.random_range(50..=1500),
            Kind::Slowloris => rng.random_range(100..=1500),
            Kind::Malformed | Kind::Resetter => rng.random_range(100..=3000),
            Kind::PingFlooder => rng.random_range(20..=500),
            Kind::ReconnectStorm => rng.random_range(20..=400),
            Kind::HttpGetter => rng.random_range(50..=1000),
            Kind::HttpPipeliner => rng.random_range(200..=2000),
        }
    }

    fn act(&mut self, ck: ClientKey) {
        if self.quiet {
            return;
        }
        let Some(k) = self.usable_conn(ck) else {
            return;
        };
        self.clients[ck].acts += 1;
        let reset = self.params.faults.client_reset;
        if reset > 0.0 && self.clients[ck].rng.random_bool(reset) {
            self.send(k, Event::ArriveReset(k));
            return;
        }
        let upgraded = self.conns[k].upgraded;
        let kind = self.clients[ck].kind;
        match kind {
            Kind::FastReader | Kind::SlowReader | Kind::StalledReader
                if upgraded && self.clients[ck].rng.random_bool(0.8) =>
            {
                self.send_text(ck, k, r#"{"action":"ping"}"#);
            }
            Kind::Churner if upgraded => self.churn(ck, k),
            Kind::Slowloris => self.slowloris_step(ck, k),
            Kind::Malformed if upgraded => {
                self.malformed(ck, k);
                return;
            }
            Kind::PingFlooder if upgraded => self.flood(ck, k),
            Kind::Resetter if upgraded => {
                let mask = self.mask(ck);
                let frame = client_frame(
                    OP_TEXT,
                    br#"{"action":"subscribe","symbols":["BTCUSDT"]}"#,
                    Some(mask),
                    true,
                );
                let cut = self.clients[ck].rng.random_range(1..frame.len());
                self.send(k, Event::Arrive(k, frame[..cut].to_vec()));
                self.send(k, Event::ArriveReset(k));
                return;
            }
            Kind::HalfCloser if upgraded && self.clients[ck].acts > 1 => {
                self.send(k, Event::ArriveFin(k));
                return;
            }
            Kind::Closer if upgraded => {
                let mask = self.mask(ck);
                self.send(
                    k,
                    Event::Arrive(
                        k,
                        client_frame(OP_CLOSE, &1000u16.to_be_bytes(), Some(mask), true),
                    ),
                );
                self.conns[k].sent_close = true;
                return;
            }
            Kind::ReconnectStorm if upgraded => {
                match self.clients[ck].rng.random_range(0..3) {
                    0 => self.send(k, Event::ArriveReset(k)),
                    1 => self.send(k, Event::ArriveFin(k)),
                    _ => {
                        let mask = self.mask(ck);
                        self.send(
                            k,
                            Event::Arrive(
                                k,
                                client_frame(OP_CLOSE, &1000u16.to_be_bytes(), Some(mask), true),
                            ),
                        );
                        self.conns[k].sent_close = true;
                    }
                }
                let wait = self.clients[ck].rng.random_range(0..=50);
                self.schedule_ms(wait, Event::Client(ck, ClientStep::Connect));
                return;
            }
            Kind::HttpGetter => self.http_request(ck, k),
            Kind::HttpPipeliner => self.http_pipeline(ck, k),
            _ => {}
        }
        let wait = self.act_interval_ms(ck);
        self.schedule_ms(wait, Event::Client(ck, ClientStep::Act));
    }

    fn send_text(&mut self, ck: ClientKey, k: ConnKey, text: &str) {
        let mask = self.mask(ck);
        self.send(
            k,
            Event::Arrive(k, client_frame(OP_TEXT, text.as_bytes(), Some(mask), true)),
        );
    }

    /// Up to the per-client limit of symbols, chosen at random.
    fn pick_symbols(&mut self, ck: ClientKey) -> Vec<usize> {
        let count = self.params.symbols().len();
        let max = self.params.config.symbols_per_request_max.min(count);
        let rng = &mut self.clients[ck].rng;
        let wanted = rng.random_range(1..=max);
        let mut symbols: Vec<usize> = (0..count).collect();
        for i in 0..count {
            let j = rng.random_range(i..count);
            symbols.swap(i, j);
        }
        symbols.truncate(wanted);
        symbols.sort_unstable();
        symbols
    }

    /// Subscribes to `symbols`, keeping within the per-client limit as a real client would.
    fn subscribe(&mut self, ck: ClientKey, k: ConnKey, symbols: Vec<usize>) {
        let max = self.params.config.symbols_per_request_max;
        let client = &mut self.clients[ck];
        let symbols: Vec<usize> = symbols
            .into_iter()
            .filter(|s| client.intended.contains(s) || client.intended.len() < max)
            .collect();
        if symbols.is_empty() {
            return;
        }
        client.intended.extend(symbols.iter().copied());
        let text = subscribe_text(&symbols, self.params.symbols());
        self.send_text(ck, k, &text);
    }

    fn churn(&mut self, ck: ClientKey, k: ConnKey) {
        let names = self.params.symbols().to_vec();
        match self.clients[ck].rng.random_range(0..10) {
            0..=3 => {
                let symbols = self.pick_symbols(ck);
                self.subscribe(ck, k, symbols);
            }
            4..=6 => {
                let symbols = self.pick_symbols(ck);
                for s in &symbols {
                    self.clients[ck].intended.remove(s);
                }
                let list: Vec<String> = symbols
                    .iter()
                    .map(|&s| format!("\"{}\"", names[s]))
                    .collect();
                self.send_text(
                    ck,
                    k,
                    &format!(
                        r#"{{"action":"unsubscribe","symbols":[{}]}}"#,
                        list.join(",")
                    ),
                );
            }
            7 => self.send_text(ck, k, r#"{"action":"subscribe","symbols":["FOOUSDT"]}"#),
            8 => {
                let many: Vec<String> = (0..=self.params.config.symbols_per_request_max)
                    .map(|i| format!("\"S{i}\""))
                    .collect();
                self.send_text(
                    ck,
                    k,
                    &format!(r#"{{"action":"subscribe","symbols":[{}]}}"#, many.join(",")),
                );
            }
            _ => self.send_text(ck, k, r#"{"action":"ping"}"#),
        }
    }

    fn slowloris_step(&mut self, ck: ClientKey, k: ConnKey) {
        let request = wire::handshake_request("/ws/heatmap");
        let sent = self.clients[ck].slowloris_sent;
        if sent >= request.len() {
            return;
        }
        let piece = self.clients[ck]
            .rng
            .random_range(1..=3)
            .min(request.len() - sent);
        self.clients[ck].slowloris_sent += piece;
        self.send(k, Event::Arrive(k, request[sent..sent + piece].to_vec()));
    }

    /// One protocol violation, chosen at random.
    fn malformed(&mut self, ck: ClientKey, k: ConnKey) {
        let mask = self.mask(ck);
        let max = self.params.config.message_bytes_max;
        let choice = self.clients[ck].rng.random_range(0..10);
        let bytes = match choice {
            0 => client_frame(OP_TEXT, br#"{"action":"ping"}"#, None, true),
            1 => client_frame(0x3, b"reserved", Some(mask), true),
            2 => client_frame(OP_TEXT, &[0xff, 0xfe, 0xfd], Some(mask), true),
            3 => {
                let mut frame = client_frame_header(
                    OP_TEXT,
                    (max + 1 + self.clients[ck].rng.random_range(0..10_000)) as u64,
                    mask,
                );
                frame.extend(std::iter::repeat_n(b'x', 64));
                frame
            }
            4 => {
                let mut frames = Vec::new();
                let chunk = vec![b'a'; max / 2 + 1];
                frames.extend(client_frame(OP_TEXT, &chunk, Some(mask), false));
                frames.extend(client_frame(OP_CONTINUATION, &chunk, Some(mask), false));
                frames.extend(client_frame(OP_CONTINUATION, &chunk, Some(mask), true));
                frames
            }
            5 => client_frame(OP_CONTINUATION, b"orphan", Some(mask), true),
            6 => client_frame(OP_TEXT, b"{not json", Some(mask), true),
            7 => {
                let mut frame = client_frame(OP_TEXT, b"{}", Some(mask), true);
                frame[0] |= 0x40;
                frame
            }
            8 => client_frame(OP_PING, &[b'p'; 126], Some(mask), true),
            _ => client_frame(OP_BINARY, b"\x00\x01binary", Some(mask), true),
        };
        self.send(k, Event::Arrive(k, bytes));
    }

    fn flood(&mut self, ck: ClientKey, k: ConnKey) {
        let count = self.clients[ck].rng.random_range(5..=FLOOD_MESSAGES_MAX);
        let mut bytes = Vec::new();
        for i in 0..count {
            let mask = self.mask(ck);
            if i % 2 == 0 {
                bytes.extend(client_frame(OP_PING, b"flood", Some(mask), true));
            } else {
                bytes.extend(client_frame(
                    OP_TEXT,
                    br#"{"action":"ping"}"#,
                    Some(mask),
                    true,
                ));
            }
        }
        self.send(k, Event::Arrive(k, bytes));
    }

    fn http_request_bytes(&mut self, ck: ClientKey) -> Vec<u8> {
        let rng = &mut self.clients[ck].rng;
        let path = HTTP_PATHS[rng.random_range(0..HTTP_PATHS.len())];
        match rng.random_range(0..20) {
            0 => format!("POST {path} HTTP/1.1\r\nHost: sim\r\nContent-Length: 0\r\n\r\n")
                .into_bytes(),
            1 => {
                let pad = "x".repeat(self.params.config.http_head_bytes_max);
                format!("GET {path} HTTP/1.1\r\nHost: sim\r\nX-Pad: {pad}\r\n\r\n").into_bytes()
            }
            2 => format!("GET {path} HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n\r\n")
                .into_bytes(),
            3 => b"NONSENSE\r\n\r\n".to_vec(),
            _ => format!("GET {path} HTTP/1.1\r\nHost: sim\r\n\r\n").into_bytes(),
        }
    }

    fn http_request(&mut self, ck: ClientKey, k: ConnKey) {
        let count = if self.clients[ck].rng.random_bool(0.2) {
            self.clients[ck].rng.random_range(2..=4)
        } else {
            1
        };
        let mut bytes = Vec::new();
        for _ in 0..count {
            bytes.extend(self.http_request_bytes(ck));
        }
        self.send(k, Event::Arrive(k, bytes));
    }

    fn http_pipeline(&mut self, ck: ClientKey, k: ConnKey) {
        let count = self.clients[ck]
            .rng
            .random_range(10..=PIPELINE_REQUESTS_MAX);
        let bytes = b"GET /js/app.js HTTP/1.1\r\nHost: sim\r\n\r\n".repeat(count);
        self.send(k, Event::Arrive(k, bytes));
    }

    /// The client decoded an HTTP response on `k`.
    pub fn on_http_response(&mut self, k: ConnKey, status: u16) {
        let ck = self.conns[k].client;
        let kind = self.clients[ck].kind;
        if status == 101 {
            self.conns[k].upgraded = true;
            // Half the ping flooders never subscribe.
            let flooder_skips = kind == Kind::PingFlooder && self.clients[ck].rng.random_bool(0.5);
            let subscribes = kind != Kind::Slowloris && !flooder_skips;
            if subscribes && !self.quiet {
                let symbols = self.pick_symbols(ck);
                self.subscribe(ck, k, symbols);
            }
            return;
        }
        if kind.speaks_websocket() && !self.conns[k].upgraded {
            // Refused (server full, ...): hang up and try again later.
            self.send(k, Event::ArriveFin(k));
            self.clients[ck].conn = None;
            if !self.quiet {
                self.reconnect_later(ck);
            }
        }
    }

    /// The server's close frame reached the client: well-behaved clients answer it.
    pub fn on_server_close(&mut self, k: ConnKey) {
        let ck = self.conns[k].client;
        if self.clients[ck].kind.well_behaved() && !self.conns[k].sent_close {
            let mask = self.mask(ck);
            self.conns[k].sent_close = true;
            self.send(
                k,
                Event::Arrive(
                    k,
                    client_frame(OP_CLOSE, &1000u16.to_be_bytes(), Some(mask), true),
                ),
            );
        }
    }

    /// `k` is gone (released, refused): the client may come back.
    pub fn on_conn_closed(&mut self, k: ConnKey) {
        let ck = self.conns[k].client;
        if self.clients[ck].conn != Some(k) || self.quiet || self.shutdown_at.is_some() {
            return;
        }
        self.clients[ck].conn = None;
        self.clients[ck].intended.clear();
        if self.clients[ck].kind == Kind::ReconnectStorm || self.clients[ck].rng.random_bool(0.3) {
            self.reconnect_later(ck);
        }
    }

    /// A storm comes back at once, anyone else after a backoff.
    fn reconnect_later(&mut self, ck: ClientKey) {
        let client = &mut self.clients[ck];
        let wait = if client.kind == Kind::ReconnectStorm {
            client.rng.random_range(0..=50)
        } else {
            client.rng.random_range(200..=3000)
        };
        self.schedule_ms(wait, Event::Client(ck, ClientStep::Connect));
    }

    /// Schedules the client application's next read of `k`, if it reads and has something to read.
    pub fn want_client_read(&mut self, k: ConnKey) {
        let conn = &self.conns[k];
        if conn.read_scheduled || conn.stream.outbound.is_empty() {
            return;
        }
        let ck = conn.client;
        let delay = if self.quiet {
            1
        } else if !self.clients[ck].reads || conn.stalled {
            return;
        } else if self.clients[ck].kind == Kind::SlowReader {
            self.clients[ck].rng.random_range(50..=500)
        } else {
            self.clients[ck].rng.random_range(0..=3)
        };
        self.conns[k].read_scheduled = true;
        self.schedule_ms(delay, Event::ClientRead(k));
    }

    pub fn client_read(&mut self, k: ConnKey) {
        self.conns[k].read_scheduled = false;
        let ck = self.conns[k].client;
        if !self.quiet && (!self.clients[ck].reads || self.conns[k].stalled) {
            return;
        }
        let chunk = if !self.quiet && self.clients[ck].kind == Kind::SlowReader {
            self.clients[ck].rng.random_range(16..=2048)
        } else {
            usize::MAX
        };
        let stream = &mut self.conns[k].stream;
        let n = chunk.min(stream.outbound.len());
        stream.outbound.drain(..n);
        if stream.write_blocked && stream.room() > 0 {
            stream.write_blocked = false;
            self.signal(k, false, true, false);
        }
        self.want_client_read(k);
    }

    /// After faults stop, every open WebSocket client re-sends what it wants (its earlier requests
    /// may have been rate-limited) so that it can be judged on convergence.
    pub fn resync(&mut self) {
        for ck in 0..self.clients.len() {
            let Some(k) = self.usable_conn(ck) else {
                continue;
            };
            if !self.conns[k].upgraded || self.conns[k].sent_close {
                continue;
            }
            let intended: Vec<usize> = self.clients[ck].intended.iter().copied().collect();
            if intended.is_empty() {
                self.send_text(ck, k, r#"{"action":"ping"}"#);
            } else {
                let text = subscribe_text(&intended, self.params.symbols());
                self.send_text(ck, k, &text);
            }
            self.conns[k].resync_sent = true;
            self.conns[k].replies_since_resync = 0;
        }
        self.schedule_ms(
            super::FINAL_PUBLISH_AFTER_RESYNC_MS,
            Event::FinalPublish,
        );
    }
}

fn subscribe_text(symbols: &[usize], names: &[String]) -> String {
    let list: Vec<String> = symbols
        .iter()
        .map(|&s| format!("\"{}\"", names[s]))
        .collect();
    format!(r#"{{"action":"subscribe","symbols":[{}]}}"#, list.join(","))
}
