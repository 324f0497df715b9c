//! The page's model-quality line comes from the backtest's file, served as it is by the server.

// Tests drive real processes and sockets; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use support::*;

#[test]
fn the_server_serves_the_backtest_figures_the_page_shows() {
    let server = ServerProcess::start(&[("DEMO_SEED", "false"), ("WS_ENABLED", "false")]);
    let reply = http_get(server.addr, "/data/model-quality.json");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type").as_deref(), Some("application/json"));
    let written = std::fs::read(repo_root().join("frontend/data/model-quality.json")).unwrap();
    assert_eq!(reply.body, written, "served byte for byte as the backtest wrote it");
    let report = reply.json();
    assert_eq!(report["model"]["preset"], "calibrated");
    assert!(report["long"]["spearman"]["model"]["value"].is_f64());
    let page = String::from_utf8(http_get(server.addr, "/").body).unwrap();
    assert!(page.contains(r#"src="/js/model-quality.js""#) && page.contains(r#"id="model-quality""#), "{page}");
}
