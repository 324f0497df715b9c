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
fn echo_message_limit_defaults_to_64_kib_and_accepts_up_to_16_mib() {
    assert_eq!(config(&[]).unwrap().core.echo_message_bytes_max, 64 * 1024);
    let big = config(&[("WS_ECHO_ENABLED", "true"), ("WS_ECHO_MAX_MESSAGE_BYTES", "16777216"), ("WS_MAX_QUEUE_BYTES", "33554432")]).unwrap();
    assert_eq!(big.core.echo_message_bytes_max, 16 * 1024 * 1024);
    for bad in ["16777217", "1023", "64k"] {
        let e = config(&[("WS_ECHO_MAX_MESSAGE_BYTES", bad)]).unwrap_err();
        assert_eq!(e.variable, "WS_ECHO_MAX_MESSAGE_BYTES", "{bad}");
        assert!(e.to_string().contains("an integer from 1024 to 16777216"), "{e}");
    }
}

#[test]
fn echo_message_limit_beyond_the_queue_bound_is_refused_when_echo_is_on() {
    let pairs = [("WS_ECHO_MAX_MESSAGE_BYTES", "16777216"), ("WS_MAX_QUEUE_BYTES", "8388608")];
    assert!(config(&pairs).is_ok(), "echo off: the limit is not used");
    let e = config(&[pairs[0], pairs[1], ("WS_ECHO_ENABLED", "true")]).unwrap_err();
    assert_eq!(e.variable, "WS_ECHO_MAX_MESSAGE_BYTES");
    assert!(e.message.contains("WS_MAX_QUEUE_BYTES"), "{e}");
}

#[test]
fn the_model_preset_defaults_to_calibrated_and_legacy_stays_selectable() {
    use crate::engine::EngineParams;
    assert_eq!(config(&[]).unwrap().engine_params, EngineParams::calibrated());
    assert_eq!(config(&[("MODEL_PRESET", "legacy")]).unwrap().engine_params, EngineParams::legacy());
    let e = config(&[("MODEL_PRESET", "best")]).unwrap_err();
    assert_eq!(e.variable, "MODEL_PRESET");
    assert!(e.to_string().contains("one of calibrated, legacy"), "{e}");
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

#[test]
fn the_redis_bus_is_off_by_default_with_documented_bounds() {
    let c = config(&[("PORT", "8000")]).unwrap();
    assert!(!c.bus.enabled);
    assert_eq!(c.bus.url, "redis://127.0.0.1:6379");
    assert!(c.bus.node_id.ends_with(":8000"), "{}", c.bus.node_id);
    assert_eq!((c.bus.lease_ttl_ms, c.bus.history_messages_max), (6000, 64));
    assert_eq!((c.bus.probe_interval_ms, c.bus.probe_timeout_ms), (1000, 3000));
}

#[test]
fn bad_redis_variables_name_the_variable() {
    let cases: &[(&str, &str)] = &[
        ("REDIS_ENABLED", "maybe"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("REDIS_URL", "redis://"),
        ("NODE_ID", "has space"),
        ("REDIS_LEASE_TTL_MS", "10"),
        ("REDIS_HISTORY_MESSAGES_MAX", "0"),
        ("REDIS_PROBE_TIMEOUT_MS", "1500"),
        ("REDIS_COMMAND_TIMEOUT_MS", "5000"),
    ];
    for (name, value) in cases {
        let err = config(&[(name, value)]).unwrap_err();
        assert_eq!(&err.variable, name, "{value}: {err}");
    }
}

#[test]
fn the_env_template_states_every_default_the_code_uses() {
    // .env.template documents each variable with its default; set to those values, the
    // configuration must equal the one built with no variable at all. The defaults themselves are
    // written once, in CoreConfig::default and the config's parsers.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".env.template");
    let pairs: Vec<(String, String)> = dotenvy::from_path_iter(&path).unwrap().map(|item| item.unwrap()).collect();
    assert!(pairs.iter().any(|(k, v)| k == "HTTP_MAX_CONNECTIONS" && v == "1024"), "{pairs:?}");
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let from_template = config(&borrowed).unwrap();
    let from_nothing = config(&[]).unwrap();
    assert_eq!(from_template, from_nothing);
}

#[test]
fn trusted_proxies_and_per_address_bounds_are_read_and_checked() {
    let c = config(&[]).unwrap();
    assert!(c.core.trusted_proxies.is_empty());
    assert_eq!((c.core.ws_connections_per_address_max, c.core.http_connections_per_address_max), (100, 128));
    let c = config(&[("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8,::1"), ("WS_MAX_CONNECTIONS_PER_ADDRESS", "7")]).unwrap();
    assert!(c.core.trusted_proxies.contains("10.9.8.7".parse().unwrap()));
    assert_eq!(c.core.ws_connections_per_address_max, 7);
    let e = config(&[("TRUSTED_PROXIES", "10.0.0.1/8")]).unwrap_err();
    assert_eq!(e.variable, "TRUSTED_PROXIES");
    assert!(e.to_string().contains("beyond its /8 prefix"), "{e}");
    assert_eq!(config(&[("TRUSTED_PROXIES", "nginx")]).unwrap_err().variable, "TRUSTED_PROXIES");
    assert_eq!(config(&[("HTTP_MAX_CONNECTIONS_PER_ADDRESS", "0")]).unwrap_err().variable, "HTTP_MAX_CONNECTIONS_PER_ADDRESS");
}

#[test]
fn event_loops_take_a_count_or_auto_and_refuse_anything_else() {
    assert_eq!(config(&[]).unwrap().event_loops, 1);
    assert_eq!(config(&[("EVENT_LOOPS", "3")]).unwrap().event_loops, 3);
    let auto = config(&[("EVENT_LOOPS", "auto")]).unwrap().event_loops;
    assert_eq!(auto, std::thread::available_parallelism().unwrap().get().min(super::EVENT_LOOPS_MAX));
    for bad in ["0", "257", "two", "-1"] {
        let e = config(&[("EVENT_LOOPS", bad)]).unwrap_err();
        assert_eq!(e.variable, "EVENT_LOOPS", "{bad}");
        assert!(e.to_string().contains("or auto"), "{e}");
    }
}

#[test]
fn compression_is_on_by_default_and_its_variables_are_validated() {
    let defaults = config(&[]).unwrap().core;
    assert!(defaults.ws_compression);
    assert_eq!(defaults.ws_compression_min_bytes, 512);
    let off = config(&[("WS_COMPRESSION", "false"), ("WS_COMPRESSION_MIN_BYTES", "0")]).unwrap().core;
    assert!(!off.ws_compression);
    assert_eq!(off.ws_compression_min_bytes, 0);
    for (name, bad) in [("WS_COMPRESSION", "maybe"), ("WS_COMPRESSION_MIN_BYTES", "-1"), ("WS_COMPRESSION_MIN_BYTES", "1k")] {
        let e = config(&[(name, bad)]).unwrap_err();
        assert_eq!(e.variable, name, "{bad}");
    }
}
