use super::harness::Bench;
use super::super::{CoreConfig, ProcessStats};

fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
}

#[test]
fn metrics_count_sent_messages_and_bytes_per_symbol() {
    let mut bench = Bench::new(CoreConfig::default());
    let a = bench.connect_ws();
    let b = bench.connect_ws();
    bench.subscribe(a, &["BTCUSDT"]);
    bench.subscribe(b, &["BTCUSDT", "ETHUSDT"]);
    bench.publish("BTCUSDT", 0, "{}");
    bench.publish("ETHUSDT", 0, "{}");
    let now = bench.now;
    let text = bench.core.render_metrics(now, ProcessStats::default());
    assert_eq!(metric_value(&text, "ws_active_connections "), Some(2.0));
    assert_eq!(metric_value(&text, "ws_subscriptions{symbol=\"BTCUSDT\"} "), Some(2.0));
    assert_eq!(metric_value(&text, "ws_messages_sent_total{symbol=\"BTCUSDT\"} "), Some(2.0));
    assert_eq!(metric_value(&text, "ws_messages_sent_total{symbol=\"ETHUSDT\"} "), Some(1.0));
    assert!(metric_value(&text, "ws_bytes_sent_total{symbol=\"BTCUSDT\"} ").unwrap() > 100.0);
    assert_eq!(metric_value(&text, "ws_broadcast_duration_seconds_count{symbol=\"BTCUSDT\"} "), Some(1.0));
}

#[test]
fn metric_types_are_declared() {
    let mut bench = Bench::new(CoreConfig::default());
    let now = bench.now;
    let text = bench.core.render_metrics(now, ProcessStats { resident_memory_bytes: 1234, ..ProcessStats::default() });
    for declaration in [
        "# TYPE ws_active_connections gauge",
        "# TYPE ws_messages_sent counter",
        "# TYPE ws_broadcast_duration_seconds histogram",
        "# TYPE ws_disconnects counter",
        "# TYPE heatmap_snapshot_compute_seconds histogram",
        "# TYPE process_resident_memory_bytes gauge",
    ] {
        assert!(text.contains(declaration), "missing {declaration:?} in\n{text}");
    }
    assert_eq!(metric_value(&text, "process_resident_memory_bytes "), Some(1234.0));
}

#[test]
fn disconnects_and_errors_are_counted_by_reason_and_code() {
    let mut bench = Bench::new(CoreConfig::default());
    let p = bench.connect_ws();
    bench.send_text(p, "nonsense");
    bench.send_message(p, tungstenite::Message::Close(None));
    let now = bench.now;
    let text = bench.core.render_metrics(now, ProcessStats::default());
    assert_eq!(metric_value(&text, "ws_errors_total{code=\"INVALID_MESSAGE\"} "), Some(1.0));
    assert_eq!(metric_value(&text, "ws_disconnects_total{reason=\"client_closed\"} "), Some(1.0));
}

#[test]
fn every_loop_of_a_process_renders_the_process_counters() {
    let mut loops = super::harness::process_of(2, CoreConfig::default());
    for bench in &mut loops {
        let p = bench.connect_ws();
        bench.subscribe(p, &["BTCUSDT"]);
        bench.send_text(p, "nonsense");
    }
    // Every loop receives every snapshot.
    for bench in &mut loops {
        bench.publish("BTCUSDT", 0, "{}");
    }
    for bench in &mut loops {
        let now = bench.now;
        let text = bench.core.render_metrics(now, ProcessStats::default());
        assert_eq!(metric_value(&text, "ws_messages_sent_total{symbol=\"BTCUSDT\"} "), Some(2.0), "{text}");
        assert_eq!(metric_value(&text, "ws_errors_total{code=\"INVALID_MESSAGE\"} "), Some(2.0));
        assert_eq!(metric_value(&text, "ws_active_connections "), Some(2.0));
        // Each loop's fan-out is one observation; the snapshot's computation is one, once.
        assert_eq!(metric_value(&text, "ws_broadcast_duration_seconds_count{symbol=\"BTCUSDT\"} "), Some(2.0));
        assert_eq!(metric_value(&text, "heatmap_snapshot_compute_seconds_count{symbol=\"BTCUSDT\"} "), Some(1.0));
    }
}
