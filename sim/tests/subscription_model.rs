//! Property test: the subscription state machine of the real core, driven through its public
//! inputs with real WebSocket frames, against a reference model of the documented protocol
//! (docs/websocket_api.md). Checked after every step: the messages each client decoded, the
//! core's subscriber sets, and the demand it reports to the producer.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{self, Read, Write};
use std::net::SocketAddr;

use liquidationheatmap::core::{
    ConnId, Core, CoreConfig, MonoTime, Now, Output, SnapshotReady, StaticFiles,
};
use proptest::prelude::*;
use serde_json::Value;
use sim::wire::{client_frame, handshake_request, Decoded, Decoder, OP_TEXT};

const SYMBOLS: [&str; 3] = ["BTCUSDT", "ETHUSDT", "SOLUSDT"];
/// Index 3 names a symbol the server does not support.
const NAMES: [&str; 4] = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT"];
const PER_CLIENT_MAX: usize = 2;
const CLIENTS_MAX: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    Subscribe(usize, Vec<usize>),
    Unsubscribe(usize, Vec<usize>),
    Publish(usize),
    Disconnect(usize),
    Connect,
}

fn op() -> impl Strategy<Value = Op> {
    let names = proptest::collection::vec(0..4usize, 1..=3);
    prop_oneof![
        3 => (0..CLIENTS_MAX, names.clone()).prop_map(|(c, s)| Op::Subscribe(c, s)),
        2 => (0..CLIENTS_MAX, names).prop_map(|(c, s)| Op::Unsubscribe(c, s)),
        2 => (0..3usize).prop_map(Op::Publish),
        1 => (0..CLIENTS_MAX).prop_map(Op::Disconnect),
        1 => Just(Op::Connect),
    ]
}

#[derive(Default)]
struct Pipe {
    inbound: VecDeque<u8>,
    outbound: Vec<u8>,
    fin: bool,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.inbound.is_empty() {
            return if self.fin {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let n = buf.len().min(self.inbound.len());
        for (slot, byte) in buf.iter_mut().zip(self.inbound.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outbound.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Client {
    id: ConnId,
    pipe: Pipe,
    decoder: Decoder,
    /// Model: what the client is subscribed to.
    subs: BTreeSet<usize>,
}

/// A message as the test compares it: its type and its symbols or code.
fn summary(value: &Value) -> String {
    let kind = value["type"].as_str().unwrap_or("?");
    match kind {
        "snapshot" => format!(
            "snapshot {} {}",
            value["symbol"].as_str().unwrap_or("?"),
            value["data"]["n"]
        ),
        "error" => format!(
            "error {} {}",
            value["code"].as_str().unwrap_or("?"),
            value["symbols"]
        ),
        _ => format!("{kind} {}", value["symbols"]),
    }
}

fn names_json(indexes: &[usize]) -> String {
    serde_json::to_string(&indexes.iter().map(|&i| NAMES[i]).collect::<Vec<_>>())
        .unwrap_or_default()
}

struct World {
    core: Core,
    clients: Vec<Option<Client>>,
    now: Now,
    latest: BTreeMap<usize, u64>,
    published: u64,
    demand: Vec<String>,
    mask: u8,
}

impl World {
    fn new() -> World {
        let config = CoreConfig {
            supported_symbols: SYMBOLS.iter().map(|s| s.to_string()).collect(),
            symbols_per_request_max: PER_CLIENT_MAX,
            rate_limit_burst_messages: 100_000,
            ..CoreConfig::default()
        };
        let now = Now::new(MonoTime::from_millis(1), 1_750_000_000_000);
        World {
            core: Core::new(config, StaticFiles::new(), "model".into(), now),
            clients: (0..CLIENTS_MAX).map(|_| None).collect(),
            now,
            latest: BTreeMap::new(),
            published: 0,
            demand: Vec::new(),
            mask: 0,
        }
    }

    fn pump(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(id) = self.core.poll_transmit() {
                progressed = true;
                if let Some(client) = self.clients.iter_mut().flatten().find(|c| c.id == id) {
                    self.core.handle_writable(self.now, id, &mut client.pipe);
                }
            }
            while let Some(output) = self.core.poll_output() {
                progressed = true;
                match output {
                    Output::Demand(symbols) => self.demand = symbols,
                    Output::Release(id) => self.clients.iter_mut().for_each(|slot| {
                        if slot.as_ref().is_some_and(|c| c.id == id) {
                            *slot = None;
                        }
                    }),
                    Output::Query(_) => {}
                }
            }
            if !progressed {
                break;
            }
        }
    }

    /// Decoded messages of client `c` since the last call.
    fn received(&mut self, c: usize) -> Vec<String> {
        let Some(client) = self.clients[c].as_mut() else {
            return Vec::new();
        };
        let bytes = std::mem::take(&mut client.pipe.outbound);
        let decoded = client.decoder.feed(&bytes).expect("server bytes decode");
        decoded
            .iter()
            .filter_map(|d| match d {
                Decoded::Json(v, _) => Some(summary(v)),
                _ => None,
            })
            .collect()
    }

    fn send_text(&mut self, c: usize, text: &str) {
        self.mask = self.mask.wrapping_add(1);
        let Some(client) = self.clients[c].as_mut() else {
            return;
        };
        client.pipe.inbound.extend(client_frame(
            OP_TEXT,
            text.as_bytes(),
            Some([self.mask, 1, 2, 3]),
            true,
        ));
        self.core
            .handle_readable(self.now, client.id, &mut client.pipe);
        self.pump();
    }

    fn connect(&mut self) -> Option<usize> {
        let c = self.clients.iter().position(Option::is_none)?;
        let id = self
            .core
            .handle_accept(
                self.now,
                SocketAddr::from(([127, 0, 0, 1], 50_000 + c as u16)),
            )
            .ok()?;
        let mut client = Client {
            id,
            pipe: Pipe::default(),
            decoder: Decoder::new(),
            subs: BTreeSet::new(),
        };
        client.pipe.inbound.extend(handshake_request("/ws/heatmap"));
        self.core.handle_readable(self.now, id, &mut client.pipe);
        self.clients[c] = Some(client);
        self.pump();
        let client = self.clients[c].as_mut()?;
        let bytes = std::mem::take(&mut client.pipe.outbound);
        let decoded = client.decoder.feed(&bytes).expect("handshake decodes");
        assert_eq!(decoded, vec![Decoded::Http { status: 101 }]);
        Some(c)
    }
}

/// The symbols of a request, repeats removed; `None` if it holds too many (counted before
/// removing repeats, as the server counts the JSON array).
fn parse_request(request: &[usize]) -> Option<Vec<usize>> {
    if request.len() > PER_CLIENT_MAX {
        return None;
    }
    let mut unique: Vec<usize> = Vec::new();
    for &s in request {
        if !unique.contains(&s) {
            unique.push(s);
        }
    }
    Some(unique)
}

/// The model's answer to a subscribe: the messages the client must decode, in order.
fn model_subscribe(
    subs: &mut BTreeSet<usize>,
    request: &[usize],
    latest: &BTreeMap<usize, u64>,
) -> Vec<String> {
    let Some(unique) = parse_request(request) else {
        return vec!["error INVALID_MESSAGE null".into()];
    };
    let (mut newly, mut invalid, mut over) = (Vec::new(), Vec::new(), Vec::new());
    for s in unique {
        if s >= SYMBOLS.len() {
            invalid.push(s);
        } else if subs.contains(&s) {
        } else if subs.len() >= PER_CLIENT_MAX {
            over.push(s);
        } else {
            subs.insert(s);
            newly.push(s);
        }
    }
    let mut out = Vec::new();
    if !newly.is_empty() || invalid.is_empty() && over.is_empty() {
        out.push(format!(
            "subscribed {}",
            names_json(&subs.iter().copied().collect::<Vec<_>>())
        ));
    }
    if !invalid.is_empty() {
        out.push(format!("error INVALID_SYMBOL {}", names_json(&invalid)));
    }
    if !over.is_empty() {
        out.push(format!("error INVALID_MESSAGE {}", names_json(&over)));
    }
    for s in newly {
        if let Some(n) = latest.get(&s) {
            out.push(format!("snapshot {} {n}", SYMBOLS[s]));
        }
    }
    out
}

fn model_unsubscribe(subs: &mut BTreeSet<usize>, request: &[usize]) -> Vec<String> {
    let Some(unique) = parse_request(request) else {
        return vec!["error INVALID_MESSAGE null".into()];
    };
    let valid: Vec<usize> = unique
        .iter()
        .copied()
        .filter(|&s| s < SYMBOLS.len())
        .collect();
    let invalid: Vec<usize> = unique
        .iter()
        .copied()
        .filter(|&s| s >= SYMBOLS.len())
        .collect();
    for s in &valid {
        subs.remove(s);
    }
    let mut out = Vec::new();
    if !valid.is_empty() || invalid.is_empty() {
        out.push(format!("unsubscribed {}", names_json(&valid)));
    }
    if !invalid.is_empty() {
        out.push(format!("error INVALID_SYMBOL {}", names_json(&invalid)));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn subscriptions_match_the_reference_model(ops in proptest::collection::vec(op(), 1..60)) {
        let mut world = World::new();
        world.connect();
        for op in ops {
            let mut expected: Vec<Vec<String>> = vec![Vec::new(); CLIENTS_MAX];
            match op {
                Op::Subscribe(c, request) if world.clients[c].is_some() => {
                    let latest = world.latest.clone();
                    let client = world.clients[c].as_mut().unwrap();
                    expected[c] = model_subscribe(&mut client.subs, &request, &latest);
                    world.send_text(c, &format!(r#"{{"action":"subscribe","symbols":{}}}"#, names_json(&request)));
                }
                Op::Unsubscribe(c, request) if world.clients[c].is_some() => {
                    let client = world.clients[c].as_mut().unwrap();
                    expected[c] = model_unsubscribe(&mut client.subs, &request);
                    world.send_text(c, &format!(r#"{{"action":"unsubscribe","symbols":{}}}"#, names_json(&request)));
                }
                Op::Publish(s) => {
                    world.published += 1;
                    let n = world.published;
                    world.latest.insert(s, n);
                    for (c, slot) in world.clients.iter().enumerate() {
                        if slot.as_ref().is_some_and(|client| client.subs.contains(&s)) {
                            expected[c] = vec![format!("snapshot {} {n}", SYMBOLS[s])];
                        }
                    }
                    let snapshot = SnapshotReady {
                        symbol: SYMBOLS[s].into(),
                        generation: 1,
                        timestamp: "2026-06-14T14:55:00Z".into(),
                        source: "model".into(),
                        data_json: format!(r#"{{"n":{n}}}"#),
                        computed_at_unix_ms: 0,
                        compute_micros: 1,
                    };
                    world.core.handle_snapshot(world.now, snapshot);
                    world.pump();
                }
                Op::Disconnect(c) if world.clients[c].is_some() => {
                    let client = world.clients[c].as_mut().unwrap();
                    client.pipe.fin = true;
                    let id = client.id;
                    world.core.handle_readable(world.now, id, &mut client.pipe);
                    world.pump();
                    prop_assert!(world.clients[c].is_none(), "a client that hung up is released");
                }
                Op::Connect => {
                    world.connect();
                }
                _ => {}
            }
            for (c, expected) in expected.iter().enumerate() {
                let got = world.received(c);
                prop_assert_eq!(&got, expected, "client {}", c);
            }
            let mut model_demand = Vec::new();
            for (s, name) in SYMBOLS.iter().enumerate() {
                let mut subscribers: Vec<ConnId> = world
                    .clients
                    .iter()
                    .flatten()
                    .filter(|client| client.subs.contains(&s))
                    .map(|client| client.id)
                    .collect();
                // The core lists subscribers in connection-id order.
                subscribers.sort_unstable();
                prop_assert_eq!(world.core.subscribers(name), subscribers);
                if world.clients.iter().flatten().any(|client| client.subs.contains(&s)) {
                    model_demand.push(name.to_string());
                }
            }
            prop_assert_eq!(&world.demand, &model_demand);
        }
    }
}
