use std::collections::BTreeMap;

use super::AppConfig;

fn config(pairs: &[(&str, &str)]) -> Result<AppConfig, super::ConfigError> {
    let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    AppConfig::from_vars(&map)
}

#[test]
fn defaults_match_the_documented_values() {
    let c = config(&[]).unwrap();
    assert_eq!(c.bind_addr().to_string(), "127.0.0.1:8000");
    assert!(c.core.ws_enabled);
    assert_eq!(c.core.update_interval_ms, 5000);
    assert_eq!(c.core.ws_connections_max, 1000);
    assert_eq!(c.core.slow_consumer_timeout_ms, 1000);
    assert_eq!(c.core.queue_messages_max, 5);
    assert_eq!(c.core.supported_symbols, vec!["BTCUSDT", "ETHUSDT"]);
}

#[test]
fn fractional_seconds_are_accepted() {
    let c = config(&[("WS_SLOW_CONSUMER_TIMEOUT", "0.25")]).unwrap();
    assert_eq!(c.core.slow_consumer_timeout_ms, 250);
}

#[test]
fn non_number_names_the_variable_and_the_range() {
    let e = config(&[("PORT", "eighty")]).unwrap_err();
    assert_eq!(e.variable, "PORT");
    assert!(e.to_string().contains("an integer from 0 to 65535"), "{e}");
}

#[test]
fn out_of_range_is_refused() {
    assert_eq!(config(&[("WS_MAX_QUEUE_SIZE", "0")]).unwrap_err().variable, "WS_MAX_QUEUE_SIZE");
    assert_eq!(config(&[("WS_UPDATE_INTERVAL", "-1")]).unwrap_err().variable, "WS_UPDATE_INTERVAL");
}

#[test]
fn malformed_symbol_list_is_refused() {
    for bad in ["btcusdt", "BTC-USDT", "BTCUSDT,,ETHUSDT", "BTCUSDT,BTCUSDT", "X"] {
        assert_eq!(config(&[("SUPPORTED_SYMBOLS", bad)]).unwrap_err().variable, "SUPPORTED_SYMBOLS", "{bad}");
    }
}

#[test]
fn bad_boolean_and_log_level_are_refused() {
    assert_eq!(config(&[("WS_ENABLED", "maybe")]).unwrap_err().variable, "WS_ENABLED");
    assert_eq!(config(&[("LOG_LEVEL", "loud")]).unwrap_err().variable, "LOG_LEVEL");
}

#[test]
fn empty_value_means_the_default() {
    assert_eq!(config(&[("PORT", "")]).unwrap().port, 8000);
}

#[test]
fn feed_defaults_to_the_demo_and_the_exchange_urls() {
    let c = config(&[]).unwrap();
    assert_eq!(c.feed, crate::feed::FeedKind::Demo);
    assert!(c.demo_seed);
    assert_eq!(c.feed_settings.ws_url.host, "fstream.binance.com");
    assert!(c.feed_settings.ws_url.secure && c.feed_settings.rest_url.secure);
    assert_eq!(c.feed_settings.rest_url.host, "fapi.binance.com");
    assert_eq!(c.feed_settings.oi_wait_ms, 60_000);
}

#[test]
fn a_live_feed_does_not_seed_the_demo_and_takes_loopback_urls() {
    let c = config(&[("FEED", "binance"), ("FEED_WS_URL", "ws://127.0.0.1:9001"), ("FEED_REST_URL", "http://127.0.0.1:9002")]).unwrap();
    assert_eq!(c.feed, crate::feed::FeedKind::Binance);
    assert!(!c.demo_seed);
    assert_eq!((c.feed_settings.ws_url.port, c.feed_settings.rest_url.port), (9001, 9002));
    assert!(!config(&[("FEED", "none")]).unwrap().demo_seed);
}

#[test]
fn bad_feed_variables_name_the_variable() {
    assert_eq!(config(&[("FEED", "kraken")]).unwrap_err().variable, "FEED");
    assert_eq!(config(&[("FEED_WS_URL", "https://fstream.binance.com")]).unwrap_err().variable, "FEED_WS_URL");
    assert_eq!(config(&[("FEED_REST_URL", "fapi.binance.com")]).unwrap_err().variable, "FEED_REST_URL");
    assert_eq!(config(&[("FEED_OI_WAIT", "forever")]).unwrap_err().variable, "FEED_OI_WAIT");
}
