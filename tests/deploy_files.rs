//! The deployment files agree with each other and with the server: deploy/docker-compose.yml and
//! deploy/Dockerfile (containers cannot run here, so they are read, not run) against
//! deploy/nginx.conf and deploy/local-cluster (which the other deploy tests run), the systemd
//! unit against the server's shutdown timing, nginx's timeout against the page's pings, and the
//! metric names of the alerts and the dashboard against a running server's /metrics.

// Tests drive real processes, sockets and clocks; the sans-IO rules are the core's.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod support;

use std::collections::BTreeSet;

use serde_yaml::Value;

fn read(path: &str) -> String {
    std::fs::read_to_string(support::repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn compose() -> Value {
    serde_yaml::from_str(&read("deploy/docker-compose.yml")).expect("docker-compose.yml is YAML")
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// The services built from this repository (the servers), by name.
fn app_services(compose: &Value) -> Vec<(String, Value)> {
    let services = compose["services"].as_mapping().expect("services");
    let mut apps: Vec<(String, Value)> = services
        .iter()
        .filter(|(_, s)| s.get("<<").map(|m| m.get("build").is_some()).unwrap_or(false) || s.get("build").is_some())
        .map(|(k, v)| (text(k), v.clone()))
        .collect();
    apps.sort_by(|a, b| a.0.cmp(&b.0));
    apps
}

fn env_of(service: &Value, name: &str) -> Option<String> {
    service["environment"].get(name).map(text)
}

/// `NAME` in every `${NAME}` of `s` (with `$${NAME}` read as compose's escape of the same).
fn placeholders(s: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        let tail = &rest[at + 2..];
        let end = tail.find('}').expect("closed placeholder");
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

/// The variable names in the `env_words=(...)` and `env_words+=(REDIS...)` lists of local-cluster.
fn local_cluster_server_vars() -> BTreeSet<String> {
    let script = read("deploy/local-cluster");
    let mut vars = BTreeSet::new();
    for start in ["env_words=(", "env_words+=(REDIS_ENABLED"] {
        let at = script.find(start).unwrap_or_else(|| panic!("{start} in local-cluster"));
        let from = at + "env_words".len() + script[at + "env_words".len()..].find('(').unwrap() + 1;
        let list = &script[from..from + script[from..].find(')').unwrap()];
        for word in list.split_whitespace() {
            if let Some((name, _)) = word.split_once('=') {
                vars.insert(name.to_string());
            }
        }
    }
    vars
}

/// `NAME=` lines of .env.template: the variables it documents (the file the systemd unit's
/// `EnvironmentFile` is copied from).
fn documented_vars() -> BTreeSet<String> {
    read(".env.template").lines().filter_map(|l| l.split_once('=')).filter(|(k, _)| !k.starts_with('#') && !k.contains(' ')).map(|(k, _)| k.to_string()).collect()
}

/// The variables the systemd unit sets itself (`Environment=NAME=value`).
fn systemd_vars() -> BTreeSet<String> {
    read("deploy/liquidationheatmap.service")
        .lines()
        .filter_map(|l| l.strip_prefix("Environment="))
        .filter_map(|v| v.split_once('=').map(|(k, _)| k.to_string()))
        .collect()
}

/// The variables the Dockerfile sets for the server (`ENV NAME=value`).
fn dockerfile_vars() -> BTreeSet<String> {
    // One instruction per logical line (a trailing `\` continues it).
    read("deploy/Dockerfile")
        .replace("\\\n", " ")
        .lines()
        .filter_map(|l| l.strip_prefix("ENV "))
        .flat_map(|v| v.split_whitespace().filter_map(|w| w.split_once('=').map(|(k, _)| k.to_string())).collect::<Vec<_>>())
        .collect()
}

#[test]
fn every_variable_a_deploy_file_gives_the_server_is_documented_in_the_env_template() {
    let documented = documented_vars();
    // The bus's three, which every multi-server deploy file sets, are among them.
    for bus in ["REDIS_ENABLED", "REDIS_URL", "NODE_ID"] {
        assert!(documented.contains(bus), "{bus} is not in .env.template");
    }
    let compose = compose();
    let mut given: Vec<(String, String)> = Vec::new();
    for (name, app) in app_services(&compose) {
        given.extend(app["environment"].as_mapping().expect("environment").keys().map(|k| (format!("compose {name}"), text(k))));
    }
    given.extend(local_cluster_server_vars().into_iter().map(|v| ("local-cluster".to_string(), v)));
    given.extend(systemd_vars().into_iter().map(|v| ("liquidationheatmap.service".to_string(), v)));
    given.extend(dockerfile_vars().into_iter().map(|v| ("Dockerfile".to_string(), v)));
    assert!(given.len() > 20, "{given:?}");
    let undocumented: Vec<&(String, String)> = given.iter().filter(|(_, v)| !documented.contains(v)).collect();
    assert!(undocumented.is_empty(), "set by deploy files but not in .env.template: {undocumented:?}");
    // The unit's environment file is .env.template as shipped, edited: the server accepts it.
    let template: std::collections::BTreeMap<String, String> =
        dotenvy::from_read_iter(read(".env.template").as_bytes()).map(|item| item.expect(".env.template parses as an environment file")).collect();
    liquidationheatmap::config::AppConfig::from_vars(&template).expect("the server accepts .env.template as it is");
    // Several servers under systemd: the bus's variables in each one's file, with a distinct
    // NODE_ID (docs/deployment.md); the template's own values turn the bus on cleanly.
    let mut node = template.clone();
    node.insert("REDIS_ENABLED".into(), "true".into());
    node.insert("NODE_ID".into(), "node-1".into());
    let config = liquidationheatmap::config::AppConfig::from_vars(&node).expect("the bus switched on in the env file");
    assert!(config.bus.enabled);
}

#[test]
fn compose_runs_the_same_servers_with_the_same_variables_as_local_cluster() {
    let compose = compose();
    let services: BTreeSet<String> = compose["services"].as_mapping().unwrap().keys().map(text).collect();
    assert_eq!(services, ["app1", "app2", "nginx", "redis"].map(String::from).into(), "two servers, redis, nginx");
    let apps = app_services(&compose);
    assert_eq!(apps.len(), 2, "two servers");
    let wanted = local_cluster_server_vars();
    assert!(wanted.contains("TRUSTED_PROXIES") && wanted.contains("NODE_ID"), "{wanted:?}");
    let template = read(".env.template");
    let mut node_ids = BTreeSet::new();
    for (name, app) in &apps {
        let keys: BTreeSet<String> = app["environment"].as_mapping().expect("environment").keys().map(text).collect();
        assert_eq!(keys, wanted, "{name} sets what local-cluster sets for each server");
        for key in &keys {
            assert!(template.lines().any(|l| l.starts_with(&format!("{key}="))), "{name}: {key} is not in .env.template");
        }
        node_ids.insert(env_of(app, "NODE_ID").unwrap());
        assert_eq!(env_of(app, "REDIS_ENABLED").as_deref(), Some("true"));
        // Each server's database in its own volume (DuckDB: one writing process per file).
        let volume = text(&app["volumes"][0]);
        let duckdb = env_of(app, "DUCKDB_PATH").unwrap();
        let mount = volume.split(':').nth(1).unwrap();
        assert!(duckdb.starts_with(&format!("{mount}/")), "{name}: {duckdb} outside its volume {volume}");
    }
    assert_eq!(node_ids.len(), apps.len(), "distinct NODE_IDs");
    let volumes: BTreeSet<String> = apps.iter().map(|(_, a)| text(&a["volumes"][0]).split(':').next().unwrap().to_string()).collect();
    assert_eq!(volumes.len(), apps.len(), "a volume per server");

    // Redis: the port its command line sets is the one the servers' REDIS_URL names.
    let redis = &compose["services"]["redis"];
    let command: Vec<String> = redis["command"].as_sequence().unwrap().iter().map(text).collect();
    let port = &command[command.iter().position(|a| a == "--port").unwrap() + 1];
    for (_, app) in &apps {
        assert_eq!(env_of(app, "REDIS_URL").unwrap(), format!("redis://redis:{port}"));
    }
}

#[test]
fn compose_nginx_fills_nginx_conf_like_local_cluster_and_names_every_server() {
    let compose = compose();
    let nginx = &compose["services"]["nginx"];
    let conf = read("deploy/nginx.conf");
    let script = read("deploy/local-cluster");
    // The placeholders of nginx.conf = the list its header documents = local-cluster's envsubst
    // list = compose's envsubst list = the variables compose gives nginx.
    let body: String = conf.lines().filter(|l| !l.trim_start().starts_with('#')).collect::<Vec<_>>().join("\n");
    let used = placeholders(&body);
    let header_line = conf.lines().find(|l| l.contains("envsubst '")).expect("the envsubst line in nginx.conf's header");
    let script_line = script.lines().find(|l| l.contains("envsubst '")).expect("local-cluster's envsubst");
    let command: Vec<String> = nginx["command"].as_sequence().unwrap().iter().map(text).collect();
    let compose_line = command.last().unwrap().replace("$$", "$");
    let compose_env: BTreeSet<String> = nginx["environment"].as_mapping().unwrap().keys().map(text).collect();
    let quoted = |line: &str| placeholders(line.split('\'').nth(1).unwrap());
    assert_eq!(quoted(header_line), used);
    assert_eq!(quoted(script_line), used);
    assert_eq!(quoted(&compose_line), used);
    assert_eq!(compose_env, used);

    // Every server, on its PORT, in the upstream; nothing else.
    let upstream = env_of(nginx, "UPSTREAM_SERVERS").unwrap();
    let named: BTreeSet<String> = upstream.split(';').filter_map(|s| s.split_whitespace().nth(1)).map(String::from).collect();
    let apps: BTreeSet<String> = app_services(&compose).iter().map(|(n, a)| format!("{n}:{}", env_of(a, "PORT").unwrap())).collect();
    assert_eq!(named, apps);
    // The published port reaches LISTEN.
    let ports = text(&nginx["ports"][0]);
    assert_eq!(ports.rsplit(':').next().unwrap(), env_of(nginx, "LISTEN").unwrap());
    // The servers trust nginx's fixed address, and only addresses of their own network.
    let nginx_ip = text(&nginx["networks"]["heatmap"]["ipv4_address"]);
    for (name, app) in app_services(&compose) {
        let trusted = liquidationheatmap::core::TrustedProxies::parse(&env_of(&app, "TRUSTED_PROXIES").unwrap()).unwrap();
        assert!(trusted.contains(nginx_ip.parse().unwrap()), "{name} does not trust nginx at {nginx_ip}");
        assert!(!trusted.contains("8.8.8.8".parse().unwrap()), "{name} trusts the world");
    }
}

#[test]
fn dockerfile_matches_what_compose_expects_of_the_image() {
    let docker = read("deploy/Dockerfile");
    let compose = compose();
    let (_, app) = app_services(&compose).remove(0);
    let expose = docker.lines().find_map(|l| l.strip_prefix("EXPOSE ")).expect("EXPOSE");
    assert_eq!(expose.trim(), env_of(&app, "PORT").unwrap());
    let frontend = env_of(&app, "FRONTEND_DIR").unwrap();
    assert!(docker.contains(&format!("COPY frontend {frontend}")), "the image holds the page at {frontend}");
    assert!(docker.contains(&format!("FRONTEND_DIR={frontend}")));
    assert!(docker.contains("VOLUME /data") && env_of(&app, "DUCKDB_PATH").unwrap().starts_with("/data/"));
    assert!(docker.contains("STOPSIGNAL SIGTERM") && docker.contains(r#"CMD ["liquidationheatmap", "serve"]"#));
}

/// Seconds of a systemd/compose duration like `20s` or `20`.
fn seconds(value: &str) -> f64 {
    value.trim().trim_end_matches('s').parse().unwrap_or_else(|_| panic!("{value:?} is not N or Ns"))
}

#[test]
fn stop_timeouts_outlast_the_graceful_shutdown_and_the_open_files_limit_covers_the_connections() {
    let defaults = liquidationheatmap::config::AppConfig::from_vars(&Default::default()).unwrap().core;
    // The server needs SHUTDOWN_TIMEOUT for the close frames, then WS_CLOSE_TIMEOUT at most.
    let graceful_s = (defaults.shutdown_timeout_ms + defaults.close_timeout_ms) as f64 / 1000.0;
    let unit = read("deploy/liquidationheatmap.service");
    let setting = |name: &str| unit.lines().find_map(|l| l.strip_prefix(&format!("{name}="))).unwrap_or_else(|| panic!("{name}= in the unit"));
    assert!(seconds(setting("TimeoutStopSec")) > graceful_s, "TimeoutStopSec must outlast {graceful_s} s");
    assert_eq!(setting("KillSignal"), "SIGTERM");
    assert_eq!(setting("Restart"), "on-failure");
    assert_eq!(setting("RestartPreventExitStatus"), "2", "bad configuration exits 2 and is not retried");
    let nofile: usize = setting("LimitNOFILE").parse().unwrap();
    assert!(nofile > defaults.ws_connections_max + defaults.http_connections_max, "LimitNOFILE {nofile}");
    let compose = compose();
    let grace = text(&compose["x-server"]["stop_grace_period"]);
    assert!(seconds(&grace) > graceful_s, "stop_grace_period {grace}");
}

#[test]
fn nginx_idle_timeout_outlasts_the_page_pings_and_the_servers_own_idle_close() {
    let script = read("deploy/local-cluster");
    let default = script.lines().find_map(|l| l.strip_prefix("PROXY_TIMEOUT=${PROXY_TIMEOUT:-")).expect("local-cluster's PROXY_TIMEOUT default");
    let proxy_s = seconds(default.trim_end_matches('}'));
    let compose = compose();
    assert_eq!(seconds(&env_of(&compose["services"]["nginx"], "PROXY_TIMEOUT").unwrap()), proxy_s);
    let client = read("frontend/js/websocket-client.js");
    let ping_ms: f64 = client
        .lines()
        .find_map(|l| l.trim().strip_prefix("pingIntervalMs: "))
        .map(|v| v.trim_end_matches(',').parse().unwrap())
        .expect("pingIntervalMs in the page's client");
    let idle_s = liquidationheatmap::config::AppConfig::from_vars(&Default::default()).unwrap().core.idle_timeout_ms as f64 / 1000.0;
    assert!(proxy_s > ping_ms / 1000.0, "a pinging page must never meet nginx's timeout");
    assert!(proxy_s > idle_s, "the server's own idle close (4002, with a reason) must come before nginx's silent cut");
}

/// Metric names used in PromQL `text`: identifiers with one of the server's prefixes.
fn metric_names(text: &str) -> BTreeSet<String> {
    const PREFIXES: [&str; 8] = ["ws_", "http_", "heatmap_", "process_", "feed_", "connection", "ingest_", "bus_"];
    // Label values in quotes are not metric names.
    let unquoted: String = text.split('"').step_by(2).collect::<Vec<_>>().join(" ");
    let mut names = BTreeSet::new();
    for word in unquoted.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if PREFIXES.iter().any(|p| word.starts_with(p)) && !word.ends_with('_') {
            names.insert(word.to_string());
        }
    }
    names
}

#[test]
fn alerts_and_dashboard_name_only_metrics_the_server_exports() {
    // The live feed's metrics exist only with FEED=binance, the bus's only with REDIS_ENABLED=true;
    // an unreachable exchange and an unreachable Redis are enough to register them.
    let server = support::ServerProcess::start(&[
        ("FEED", "binance"),
        ("FEED_WS_URL", "ws://127.0.0.1:9"),
        ("FEED_REST_URL", "http://127.0.0.1:9"),
        ("REDIS_ENABLED", "true"),
        ("REDIS_URL", "redis://127.0.0.1:9"),
        ("NODE_ID", "metrics-check"),
        ("LOG_LEVEL", "error"),
    ]);
    let metrics = String::from_utf8(support::http_get(server.addr, "/metrics").body).unwrap();
    let exported: BTreeSet<String> = metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect();
    let alerts: Value = serde_yaml::from_str(&read("deploy/prometheus/alerts.yml")).unwrap();
    let mut exprs = String::new();
    for group in alerts["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            exprs.push_str(&text(&rule["expr"]));
            exprs.push('\n');
        }
    }
    let dashboard: serde_json::Value = serde_json::from_str(&read("deploy/grafana/liquidationheatmap.json")).unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push_str(target["expr"].as_str().unwrap());
            exprs.push('\n');
        }
    }
    let used = metric_names(&exprs);
    assert!(used.len() >= 12, "{used:?}");
    // The bus is watched: its link, its leader, its lag and the holes it let through.
    for bus in ["bus_up", "bus_leader", "bus_lag_seconds_bucket", "bus_gaps_let_through_total"] {
        assert!(used.contains(bus), "{bus} is neither in the alerts nor on the dashboard");
    }
    let missing: Vec<&String> = used.iter().filter(|n| !exported.contains(*n)).collect();
    assert!(missing.is_empty(), "named in deploy/ but not exported: {missing:?}\nexported: {exported:?}");
    // The disconnect reasons the alerts match are reasons the server counts.
    let matchers = exprs.split("reason").skip(1).filter(|t| ["=~\"", "!~\"", "=\"", "!=\""].iter().any(|op| t.starts_with(op)));
    for quoted in matchers.filter_map(|t| t.split('"').nth(1)) {
        for reason in quoted.split('|') {
            assert!(metrics.contains(&format!("reason=\"{reason}\"")), "no disconnect reason {reason:?} in /metrics");
        }
    }
}
