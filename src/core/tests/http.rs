use super::harness::Bench;
use super::super::{CoreConfig, Output, QueryResponse};

fn get(bench: &mut Bench, path: &str) -> String {
    let p = bench.accept();
    bench.send_raw(p, format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    bench.take_http(p)
}

fn status(response: &str) -> u16 {
    response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn body(response: &str) -> serde_json::Value {
    let (_, body) = response.split_once("\r\n\r\n").expect("head and body");
    serde_json::from_str(body).expect("JSON body")
}

#[test]
fn root_serves_the_heatmap_page() {
    let mut bench = Bench::new(CoreConfig::default());
    let response = get(&mut bench, "/");
    assert_eq!(status(&response), 200);
    assert!(response.contains("Content-Type: text/html; charset=utf-8"));
    assert!(response.ends_with("<!doctype html><title>heatmap</title>"));
}

#[test]
fn nested_static_file_has_its_content_type() {
    let mut bench = Bench::new(CoreConfig::default());
    let response = get(&mut bench, "/js/websocket-client.js");
    assert_eq!(status(&response), 200);
    assert!(response.contains("Content-Type: text/javascript"));
}

#[test]
fn traversal_attempts_are_refused() {
    let mut bench = Bench::new(CoreConfig::default());
    for path in ["/../Cargo.toml", "/js/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2fCargo.toml"] {
        let response = get(&mut bench, path);
        assert_eq!(status(&response), 400, "{path}: {response}");
    }
}

#[test]
fn unknown_path_is_404_with_a_json_error() {
    let mut bench = Bench::new(CoreConfig::default());
    let response = get(&mut bench, "/nope");
    assert_eq!(status(&response), 404);
    assert_eq!(body(&response)["error"]["code"], "NOT_FOUND");
}

#[test]
fn wrong_method_is_405_and_closes() {
    let mut bench = Bench::new(CoreConfig::default());
    let p = bench.accept();
    bench.send_raw(p, b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
    let response = bench.take_http(p);
    assert_eq!(status(&response), 405);
    assert!(response.contains("Allow: GET, HEAD"));
    assert!(bench.is_released(p));
}

#[test]
fn malformed_request_is_400() {
    let mut bench = Bench::new(CoreConfig::default());
    let p = bench.accept();
    bench.send_raw(p, b"GARBAGE\x01\r\n\r\n");
    assert_eq!(status(&bench.take_http(p)), 400);
    assert!(bench.is_released(p));
}

#[test]
fn headers_over_8_kib_are_431() {
    let mut bench = Bench::new(CoreConfig::default());
    let p = bench.accept();
    let request = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(9000));
    bench.send_raw(p, request.as_bytes());
    assert_eq!(status(&bench.take_http(p)), 431);
}

#[test]
fn slowloris_request_is_closed_after_the_request_timeout() {
    let mut bench = Bench::new(CoreConfig { http_request_timeout_ms: 10_000, ..CoreConfig::default() });
    let p = bench.accept();
    for _ in 0..9 {
        bench.send_raw(p, b"X");
        bench.advance_ms(1_000);
    }
    assert!(!bench.is_released(p));
    bench.advance_ms(1_000);
    assert!(bench.is_released(p));
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let mut bench = Bench::new(CoreConfig::default());
    let p = bench.accept();
    bench.send_raw(p, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /ws/stats HTTP/1.1\r\nHost: x\r\n\r\n");
    let responses = bench.take_http(p);
    assert_eq!(responses.matches("HTTP/1.1 200 OK").count(), 2);
    assert!(!bench.is_released(p));
}

#[test]
fn health_reports_connections_and_snapshot_age() {
    let mut bench = Bench::new(CoreConfig::default());
    bench.publish("BTCUSDT", 0, "{}");
    bench.advance_ms(2_500);
    let health = body(&get(&mut bench, "/health"));
    assert_eq!(health["status"], "ok");
    assert_eq!(health["snapshots"]["BTCUSDT"]["age_s"], 2.5);
    assert_eq!(health["snapshots"]["ETHUSDT"]["status"], "pending");
    assert_eq!(health["connections"]["http"], 1);
}

#[test]
fn disabled_websocket_upgrade_is_503_with_a_json_body() {
    let mut bench = Bench::new(CoreConfig { ws_enabled: false, ..CoreConfig::default() });
    let p = bench.accept();
    bench.send_raw(p, b"GET /ws/heatmap HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    let response = bench.take_http(p);
    assert_eq!(status(&response), 503);
    assert_eq!(body(&response)["error"]["code"], "WS_DISABLED");
}

#[test]
fn upgrade_beyond_the_connection_limit_is_503() {
    let mut bench = Bench::new(CoreConfig { ws_connections_max: 2, ..CoreConfig::default() });
    bench.connect_ws();
    bench.connect_ws();
    let p = bench.accept();
    bench.send_raw(p, b"GET /ws/heatmap HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    let response = bench.take_http(p);
    assert_eq!(status(&response), 503);
    assert_eq!(body(&response)["error"]["code"], "SERVER_FULL");
    assert_eq!(bench.core.ws_connections(), 2);
}

#[test]
fn plain_get_on_the_websocket_path_is_426() {
    let mut bench = Bench::new(CoreConfig::default());
    assert_eq!(status(&get(&mut bench, "/ws/heatmap")), 426);
}

#[test]
fn echo_endpoint_is_off_by_default() {
    let mut bench = Bench::new(CoreConfig::default());
    assert_eq!(status(&get(&mut bench, "/ws/echo")), 404);
}

#[test]
fn echo_endpoint_echoes_when_enabled() {
    let mut bench = Bench::new(CoreConfig { ws_echo_enabled: true, ..CoreConfig::default() });
    let p = bench.connect_ws_path("/ws/echo");
    bench.send_message(p, tungstenite::Message::Binary(vec![9, 8, 7].into()));
    bench.send_text(p, "hello");
    let messages = bench.received(p);
    assert_eq!(messages, vec![tungstenite::Message::Binary(vec![9, 8, 7].into()), tungstenite::Message::text("hello")]);
}

#[test]
fn rest_query_is_handed_out_and_its_answer_returned_on_the_same_connection() {
    let mut bench = Bench::new(CoreConfig::default());
    let (p, query) = start_query(&mut bench, "/prices/klines?symbol=BTCUSDT&limit=2");
    assert_eq!(query.path, "/prices/klines");
    assert_eq!(query.query, "symbol=BTCUSDT&limit=2");
    assert!(bench.take_http(p).is_empty(), "nothing is sent before the answer");
    let now = bench.now;
    bench.core.handle_query_response(now, query.conn, query.token, QueryResponse::plain(200, "application/json", b"{\"count\":2}"[..].into()));
    bench.pump();
    let response = bench.take_http(p);
    assert_eq!(status(&response), 200);
    assert_eq!(body(&response)["count"], 2);
}

#[test]
fn answer_for_a_connection_that_is_gone_is_ignored() {
    let mut bench = Bench::new(CoreConfig::default());
    let p = bench.accept();
    bench.send_raw(p, b"GET /prices/klines HTTP/1.1\r\nHost: x\r\n\r\n");
    let Some(Output::Query(query)) = bench.outputs.iter().find(|o| matches!(o, Output::Query(_))).cloned() else { panic!() };
    bench.peers[p].stream.broken = true;
    bench.send_raw(p, b"");
    let reused = bench.accept();
    assert_eq!(bench.peers[reused].id, query.conn, "slot reused");
    let now = bench.now;
    bench.core.handle_query_response(now, query.conn, query.token, QueryResponse::plain(200, "application/json", b"{}"[..].into()));
    bench.pump();
    assert!(bench.take_http(reused).is_empty());
}

/// Sends a REST request on a new connection and returns the peer and the query it produced.
fn start_query(bench: &mut Bench, path: &str) -> (usize, crate::core::QueryRequest) {
    let p = bench.accept();
    bench.outputs.clear();
    bench.send_raw(p, format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    let query = bench
        .outputs
        .iter()
        .find_map(|o| match o {
            Output::Query(q) => Some(q.clone()),
            _ => None,
        })
        .expect("query output");
    (p, query)
}

fn answer(bench: &mut Bench, query: &crate::core::QueryRequest, body: &std::sync::Arc<[u8]>) {
    let now = bench.now;
    let response = QueryResponse::plain(200, "application/json", std::sync::Arc::clone(body));
    bench.core.handle_query_response(now, query.conn, query.token, response);
    bench.pump();
}

fn json_body_of(bytes: usize) -> std::sync::Arc<[u8]> {
    let mut body = b"{\"pad\":\"".to_vec();
    body.resize(bytes - 2, b'x');
    body.extend_from_slice(b"\"}");
    body.into()
}

#[test]
fn an_answer_far_larger_than_the_websocket_queue_bound_is_written_whole_as_the_socket_takes_it() {
    let mut bench = Bench::new(CoreConfig { queue_bytes_max: 4096, ..CoreConfig::default() });
    let (p, query) = start_query(&mut bench, "/liquidations/heatmap-timeseries?symbol=BTCUSDT");
    let body = json_body_of(3_000_000);
    bench.peers[p].stream.write_room = Some(0);
    answer(&mut bench, &query, &body);
    assert!(!bench.is_released(p), "the connection of a large answer was dropped");
    assert_eq!(bench.core.http_pending_bytes(), body.len());
    let now = bench.now;
    let metrics = bench.core.render_metrics(now, crate::core::ProcessStats::default());
    assert!(metrics.contains(&format!("\nhttp_pending_bytes {}\n", body.len())), "/metrics shows the pending answer: {metrics}");
    // The socket takes 64 KiB per writable event, as a kernel buffer would.
    let id = bench.peers[p].id;
    for _ in 0..1000 {
        if bench.core.client_view(id).is_none_or(|v| v.queued_bytes == 0) {
            break;
        }
        bench.peers[p].stream.write_room = Some(64 * 1024);
        let now = bench.now;
        bench.core.handle_writable(now, id, &mut bench.peers[p].stream);
        bench.pump();
    }
    let response = bench.take_http(p);
    let (head, received) = response.split_once("\r\n\r\n").expect("head and body");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains(&format!("Content-Length: {}\r\n", body.len())), "{head}");
    assert_eq!(received.as_bytes(), &body[..]);
    assert_eq!(bench.core.http_pending_bytes(), 0, "a sent answer no longer counts");
}

#[test]
fn one_answer_sent_to_many_connections_counts_once_against_the_pending_bound() {
    let mut bench = Bench::new(CoreConfig::default());
    let body = json_body_of(100_000);
    for _ in 0..5 {
        let (p, query) = start_query(&mut bench, "/liquidations/heatmap-timeseries?symbol=BTCUSDT");
        bench.peers[p].stream.write_room = Some(0);
        answer(&mut bench, &query, &body);
    }
    assert_eq!(bench.core.http_pending_bytes(), body.len());
}

#[test]
fn answers_beyond_the_pending_bound_get_503_busy_naming_the_variable() {
    let mut bench = Bench::new(CoreConfig { http_pending_bytes_max: 150_000, ..CoreConfig::default() });
    // A first answer larger than the bound still goes out: nothing else is pending.
    let (slow, query) = start_query(&mut bench, "/liquidations/heatmap-timeseries?symbol=BTCUSDT");
    bench.peers[slow].stream.write_room = Some(0);
    answer(&mut bench, &query, &json_body_of(200_000));
    assert_eq!(bench.core.http_pending_bytes(), 200_000);
    // Over the bound, a new query is refused before it is computed.
    let p = bench.accept();
    bench.outputs.clear();
    bench.send_raw(p, b"GET /prices/klines?symbol=BTCUSDT HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(!bench.outputs.iter().any(|o| matches!(o, Output::Query(_))), "nothing is computed");
    let response = bench.take_http(p);
    assert_eq!(status(&response), 503);
    assert!(response.contains("Retry-After: 1\r\n"), "{response}");
    let error = body(&response);
    assert_eq!(error["error"]["code"], "BUSY");
    assert!(error["error"]["message"].as_str().unwrap().contains("HTTP_MAX_PENDING_BYTES=150000"), "{error}");
    // Once the slow client has read its answer, queries run again.
    bench.peers[slow].stream.write_room = None;
    let (id, now) = (bench.peers[slow].id, bench.now);
    bench.core.handle_writable(now, id, &mut bench.peers[slow].stream);
    bench.pump();
    assert_eq!(bench.core.http_pending_bytes(), 0);
    start_query(&mut bench, "/prices/klines?symbol=BTCUSDT");
}

#[test]
fn an_answer_that_would_pass_the_pending_bound_is_replaced_by_503_busy() {
    let mut bench = Bench::new(CoreConfig { http_pending_bytes_max: 150_000, ..CoreConfig::default() });
    let (first, first_query) = start_query(&mut bench, "/liquidations/heatmap-timeseries?symbol=BTCUSDT");
    let (second, second_query) = start_query(&mut bench, "/liquidations/heatmap-timeseries?symbol=ETHUSDT");
    bench.peers[first].stream.write_room = Some(0);
    answer(&mut bench, &first_query, &json_body_of(100_000));
    answer(&mut bench, &second_query, &json_body_of(100_000));
    let response = bench.take_http(second);
    assert_eq!(status(&response), 503, "{response}");
    assert_eq!(body(&response)["error"]["code"], "BUSY");
    assert_eq!(bench.core.http_pending_bytes(), 100_000, "only the first answer is held");
}

#[test]
fn a_client_that_goes_away_mid_answer_releases_its_pending_bytes() {
    let mut bench = Bench::new(CoreConfig::default());
    let (p, query) = start_query(&mut bench, "/liquidations/heatmap-timeseries?symbol=BTCUSDT");
    bench.peers[p].stream.write_room = Some(10_000);
    answer(&mut bench, &query, &json_body_of(500_000));
    assert_eq!(bench.core.http_pending_bytes(), 500_000);
    bench.peers[p].stream.broken = true;
    let (id, now) = (bench.peers[p].id, bench.now);
    bench.core.handle_writable(now, id, &mut bench.peers[p].stream);
    bench.pump();
    assert!(bench.is_released(p));
    assert_eq!(bench.core.http_pending_bytes(), 0);
}
