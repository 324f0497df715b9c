//! gzip and validators on HTTP answers against the real binary on the demo data: curl with
//! `--compressed` decodes what the server sends, static files and REST answers carry strong
//! ETags, and an unchanged refetch with `If-None-Match` gets 304 without content.

// Tests and benches drive real processes, sockets and clocks; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::process::Command;

use support::*;

const HISTORY: &str = "/liquidations/heatmap-timeseries?symbol=BTCUSDT&time_window=7d&interval=1h";

/// `curl --compressed`: (response head, decoded body, bytes on the wire).
fn curl_compressed(server: &ServerProcess, path: &str) -> (String, Vec<u8>, usize) {
    let dir = TempDir::new("curl");
    let head = dir.path().join("head");
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--compressed", "--max-time", "60", "--dump-header"])
        .arg(&head)
        .args(["--write-out", "%{size_download}", "--output"])
        .arg(dir.path().join("body"))
        .arg(server.url(path))
        .output()
        .expect("curl runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let wire: usize = String::from_utf8_lossy(&output.stdout).trim().parse().unwrap();
    (std::fs::read_to_string(head).unwrap(), std::fs::read(dir.path().join("body")).unwrap(), wire)
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

fn get(server: &ServerProcess, path: &str, extra: &str) -> HttpResponse {
    http_raw(server.addr, format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n").as_bytes())
}

#[test]
fn compression_and_validators_on_the_demo_data() {
    let server = ServerProcess::start(&[("DEMO_REPLAY_INTERVAL", "0"), ("WS_UPDATE_INTERVAL", "0.5")]);
    run_cases(
        &server,
        cases![ServerProcess;
            the_page_reaches_curl_gzip_and_decodes_to_the_file,
            an_unchanged_static_file_is_answered_304,
            the_history_answer_reaches_curl_gzip_and_decodes_to_the_plain_answer,
            an_unchanged_history_refetch_is_answered_304,
            small_answers_and_clients_without_gzip_get_plain_bodies,
        ],
    );
}

fn the_page_reaches_curl_gzip_and_decodes_to_the_file(server: &ServerProcess) {
    let file = std::fs::read(repo_root().join("frontend/coinglass_heatmap.html")).unwrap();
    let (head, body, wire) = curl_compressed(server, "/");
    assert_eq!(header(&head, "content-encoding").as_deref(), Some("gzip"), "{head}");
    assert_eq!(header(&head, "vary").as_deref(), Some("Accept-Encoding"));
    assert!(header(&head, "etag").is_some_and(|e| e.ends_with("-gzip\"")), "{head}");
    assert_eq!(body, file);
    assert!(wire * 2 < file.len(), "{wire} bytes on the wire for a {}-byte file", file.len());
}

fn an_unchanged_static_file_is_answered_304(server: &ServerProcess) {
    for accept in ["", "Accept-Encoding: gzip\r\n"] {
        let first = get(server, "/", accept);
        assert_eq!(first.status, 200);
        let etag = first.header("etag").expect("a strong ETag");
        assert!(etag.starts_with('"'), "{etag}");
        let again = get(server, "/", &format!("{accept}If-None-Match: {etag}\r\n"));
        assert_eq!(again.status, 304, "{}", again.head);
        assert!(again.body.is_empty());
        assert_eq!(again.header("etag").as_deref(), Some(etag.as_str()));
        assert_eq!(again.header("content-length"), None, "a 304 states no length");
        let other = get(server, "/", &format!("{accept}If-None-Match: \"something-else\"\r\n"));
        assert_eq!(other.status, 200);
    }
}

fn the_history_answer_reaches_curl_gzip_and_decodes_to_the_plain_answer(server: &ServerProcess) {
    let plain = get(server, HISTORY, "");
    assert_eq!(plain.status, 200, "{}", plain.head);
    assert_eq!(plain.header("content-encoding"), None);
    let (head, body, wire) = curl_compressed(server, HISTORY);
    assert_eq!(header(&head, "content-encoding").as_deref(), Some("gzip"), "{head}");
    assert_eq!(header(&head, "vary").as_deref(), Some("Accept-Encoding"));
    assert_eq!(body, plain.body);
    assert!(wire * 3 < plain.body.len(), "{wire} bytes on the wire for {} bytes of JSON", plain.body.len());
}

fn an_unchanged_history_refetch_is_answered_304(server: &ServerProcess) {
    let first = get(server, HISTORY, "Accept-Encoding: gzip\r\n");
    let etag = first.header("etag").expect("an ETag on the history answer");
    let again = get(server, HISTORY, &format!("Accept-Encoding: gzip\r\nIf-None-Match: {etag}\r\n"));
    assert_eq!(again.status, 304, "{}", again.head);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag));
}

fn small_answers_and_clients_without_gzip_get_plain_bodies(server: &ServerProcess) {
    let health = get(server, "/health", "Accept-Encoding: gzip\r\n");
    assert_eq!(health.status, 200);
    assert_eq!(health.header("content-encoding"), None);
    let refused = get(server, "/", "Accept-Encoding: gzip;q=0, br\r\n");
    assert_eq!(refused.header("content-encoding"), None);
    assert_eq!(refused.header("vary").as_deref(), Some("Accept-Encoding"));
}
