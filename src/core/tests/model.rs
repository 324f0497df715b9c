//! Property test: random sequences of connect / subscribe / unsubscribe / broadcast / drain /
//! disconnect, checked against a simple model of who should receive what.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::harness::Bench;
use super::super::CoreConfig;

const SYMBOLS: [&str; 3] = ["BTCUSDT", "ETHUSDT", "SOLUSDT"];

#[derive(Debug, Clone)]
enum Op {
    Connect,
    Subscribe(usize, u8),
    Unsubscribe(usize, u8),
    Broadcast(usize),
    Drain(usize),
    Disconnect(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Connect),
        3 => (0..8usize, 1..8u8).prop_map(|(c, m)| Op::Subscribe(c, m)),
        1 => (0..8usize, 1..8u8).prop_map(|(c, m)| Op::Unsubscribe(c, m)),
        3 => (0..3usize).prop_map(Op::Broadcast),
        2 => (0..8usize).prop_map(Op::Drain),
        1 => (0..8usize).prop_map(Op::Disconnect),
    ]
}

/// What one client should have received, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    Subscribed(Vec<String>),
    Unsubscribed(Vec<String>),
    Snapshot(String, u64),
}

struct ModelClient {
    peer: usize,
    alive: bool,
    subscriptions: BTreeSet<usize>,
    expected: Vec<Expected>,
}

fn names(mask: u8) -> Vec<&'static str> {
    (0..3).filter(|i| mask & (1 << i) != 0).map(|i| SYMBOLS[i]).collect()
}

fn observed(bench: &mut Bench, peer: usize) -> Vec<Expected> {
    bench
        .received_json(peer)
        .into_iter()
        .map(|m| {
            let symbols = || m["symbols"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
            match m["type"].as_str().unwrap() {
                "subscribed" => Expected::Subscribed(symbols()),
                "unsubscribed" => Expected::Unsubscribed(symbols()),
                "snapshot" => Expected::Snapshot(m["symbol"].as_str().unwrap().into(), m["seq"].as_u64().unwrap()),
                other => panic!("unexpected message {other}: {m}"),
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn core_matches_the_subscription_model(ops in proptest::collection::vec(op(), 1..80)) {
        let config = CoreConfig {
            supported_symbols: SYMBOLS.iter().map(|s| s.to_string()).collect(),
            rate_limit_burst_messages: 1_000,
            ..CoreConfig::default()
        };
        let mut bench = Bench::new(config);
        let mut clients: Vec<ModelClient> = Vec::new();
        let mut seqs = [0u64; 3];
        for op in ops {
            match op {
                Op::Connect => {
                    let peer = bench.connect_ws();
                    clients.push(ModelClient { peer, alive: true, subscriptions: BTreeSet::new(), expected: Vec::new() });
                }
                Op::Subscribe(c, mask) => {
                    let Some(client) = clients.get_mut(c).filter(|c| c.alive) else { continue };
                    bench.subscribe(client.peer, &names(mask));
                    let newly: Vec<usize> = (0..3).filter(|i| mask & (1 << i) != 0 && !client.subscriptions.contains(i)).collect();
                    client.subscriptions.extend(newly.iter().copied());
                    let all = client.subscriptions.iter().map(|&i| SYMBOLS[i].to_string()).collect();
                    client.expected.push(Expected::Subscribed(all));
                    for i in newly {
                        if seqs[i] > 0 {
                            client.expected.push(Expected::Snapshot(SYMBOLS[i].into(), seqs[i]));
                        }
                    }
                }
                Op::Unsubscribe(c, mask) => {
                    let Some(client) = clients.get_mut(c).filter(|c| c.alive) else { continue };
                    let list = names(mask);
                    let list_text: Vec<String> = list.iter().map(|s| format!("\"{s}\"")).collect();
                    bench.send_text(client.peer, &format!(r#"{{"action":"unsubscribe","symbols":[{}]}}"#, list_text.join(",")));
                    for i in 0..3 {
                        if mask & (1 << i) != 0 {
                            client.subscriptions.remove(&i);
                        }
                    }
                    client.expected.push(Expected::Unsubscribed(list.iter().map(|s| s.to_string()).collect()));
                }
                Op::Broadcast(i) => {
                    bench.publish(SYMBOLS[i], 0, "{}");
                    seqs[i] += 1;
                    for client in clients.iter_mut().filter(|c| c.alive && c.subscriptions.contains(&i)) {
                        client.expected.push(Expected::Snapshot(SYMBOLS[i].into(), seqs[i]));
                    }
                }
                Op::Drain(c) => {
                    let Some(client) = clients.get_mut(c).filter(|c| c.alive) else { continue };
                    let got = observed(&mut bench, client.peer);
                    prop_assert_eq!(&got, &client.expected);
                    client.expected.clear();
                }
                Op::Disconnect(c) => {
                    let Some(client) = clients.get_mut(c).filter(|c| c.alive) else { continue };
                    client.alive = false;
                    bench.peers[client.peer].stream.eof = true;
                    bench.send_raw(client.peer, b"");
                    prop_assert!(bench.is_released(client.peer));
                }
            }
            for (i, symbol) in SYMBOLS.iter().enumerate() {
                let model: usize = clients.iter().filter(|c| c.alive && c.subscriptions.contains(&i)).count();
                prop_assert_eq!(bench.core.subscribers(symbol).len(), model);
            }
            prop_assert_eq!(bench.core.ws_connections(), clients.iter().filter(|c| c.alive).count());
        }
    }
}
