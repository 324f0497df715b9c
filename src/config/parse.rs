//! Typed, range-checked reading of configuration variables with precise errors.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: String,
    pub message: String,
}

impl ConfigError {
    fn new(variable: &str, value: &str, accepted: impl fmt::Display) -> ConfigError {
        ConfigError { variable: variable.to_string(), message: format!("{value:?} is not valid: expected {accepted}") }
    }

    pub fn dotenv(path: &Path, error: dotenvy::Error) -> ConfigError {
        ConfigError { variable: path.display().to_string(), message: format!("cannot read: {error}") }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}: {}", self.variable, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Symbols are upper-case letters and digits, like exchange tickers.
const SYMBOL_CHARS_MIN: usize = 2;
const SYMBOL_CHARS_MAX: usize = 20;

pub struct Vars<'a> {
    map: &'a BTreeMap<String, String>,
}

impl<'a> Vars<'a> {
    pub fn new(map: &'a BTreeMap<String, String>) -> Vars<'a> {
        Vars { map }
    }

    /// The trimmed value, or `None` when unset or empty (empty means "use the default").
    fn get(&self, name: &str) -> Option<&'a str> {
        self.map.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    pub fn integer(&self, name: &str, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
        let Some(raw) = self.get(name) else { return Ok(default) };
        let accepted = format!("an integer from {min} to {max}");
        let value: u64 = raw.parse().map_err(|_| ConfigError::new(name, raw, &accepted))?;
        if value < min || value > max {
            return Err(ConfigError::new(name, raw, &accepted));
        }
        Ok(value)
    }

    /// A count of threads: an integer from 1 to `max`, or `auto` for the cores this process may
    /// use (`std::thread::available_parallelism`, capped at `max`).
    pub fn threads(&self, name: &str, default: usize, max: usize) -> Result<usize, ConfigError> {
        match self.get(name) {
            Some(raw) if raw.eq_ignore_ascii_case("auto") => {
                Ok(std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, max))
            }
            Some(raw) => {
                let accepted = format!("an integer from 1 to {max}, or auto");
                match raw.parse::<usize>() {
                    Ok(n) if (1..=max).contains(&n) => Ok(n),
                    _ => Err(ConfigError::new(name, raw, &accepted)),
                }
            }
            None => Ok(default),
        }
    }

    /// A duration given in (possibly fractional) seconds, returned in milliseconds.
    pub fn seconds_ms(&self, name: &str, default_s: f64, min_s: f64, max_s: f64) -> Result<u64, ConfigError> {
        let seconds = match self.get(name) {
            None => default_s,
            Some(raw) => {
                let accepted = format!("a number of seconds from {min_s} to {max_s}");
                let value: f64 = raw.parse().map_err(|_| ConfigError::new(name, raw, &accepted))?;
                if !value.is_finite() || value < min_s || value > max_s {
                    return Err(ConfigError::new(name, raw, &accepted));
                }
                value
            }
        };
        Ok((seconds * 1000.0).round() as u64)
    }

    pub fn boolean(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        let Some(raw) = self.get(name) else { return Ok(default) };
        match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(ConfigError::new(name, raw, "true or false (also 1/0, yes/no, on/off)")),
        }
    }

    pub fn ip(&self, name: &str, default: &str) -> Result<IpAddr, ConfigError> {
        let raw = self.get(name).unwrap_or(default);
        raw.parse().map_err(|_| ConfigError::new(name, raw, "an IPv4 or IPv6 address such as 127.0.0.1"))
    }

    pub fn path(&self, name: &str, default: &str) -> Result<PathBuf, ConfigError> {
        Ok(PathBuf::from(self.get(name).unwrap_or(default)))
    }

    pub fn optional_path(&self, name: &str) -> Result<Option<PathBuf>, ConfigError> {
        Ok(self.get(name).map(PathBuf::from))
    }

    /// The liquidation model's parameter preset: `calibrated` or `legacy`.
    pub fn model_preset(&self, name: &str, default: &str) -> Result<crate::engine::EngineParams, ConfigError> {
        let raw = self.get(name).unwrap_or(default);
        crate::engine::EngineParams::preset(raw).map_err(|_| {
            ConfigError::new(name, raw, format!("one of {}", crate::engine::PRESET_NAMES.join(", ")))
        })
    }

    pub fn log_level(&self, name: &str, default: &str) -> Result<log::LevelFilter, ConfigError> {
        let raw = self.get(name).unwrap_or(default);
        raw.parse().map_err(|_| ConfigError::new(name, raw, "one of off, error, warn, info, debug, trace"))
    }

    /// One of `choices` (case-insensitive), returned lower-case.
    pub fn choice(&self, name: &str, default: &str, choices: &[&str]) -> Result<String, ConfigError> {
        let raw = self.get(name).unwrap_or(default);
        let lower = raw.to_ascii_lowercase();
        if choices.contains(&lower.as_str()) {
            Ok(lower)
        } else {
            Err(ConfigError::new(name, raw, format!("one of {}", choices.join(", "))))
        }
    }

    /// A base URL of the exchange (`ws(s)://` or `http(s)://`, see `feed::url`).
    pub fn base_url(&self, name: &str, default: &str, kind: crate::feed::UrlKind) -> Result<crate::feed::BaseUrl, ConfigError> {
        let raw = self.get(name).unwrap_or(default);
        crate::feed::BaseUrl::parse(raw, kind).map_err(|accepted| ConfigError::new(name, raw, accepted))
    }

    /// A Redis URL `redis://[user:password@]host[:port][/db]` (no TLS: the bus runs on a
    /// private network or loopback).
    pub fn redis_url(&self, name: &str, default: &str) -> Result<String, ConfigError> {
        let raw = self.get(name).unwrap_or(default);
        let accepted = "a redis:// URL such as redis://127.0.0.1:6379 or redis://10.0.0.5:6379/0";
        if !raw.starts_with("redis://") || redis::Client::open(raw).is_err() {
            return Err(ConfigError::new(name, raw, accepted));
        }
        Ok(raw.to_string())
    }

    /// A node name: 1 to 64 letters, digits, `.`, `_`, `:` or `-`.
    pub fn node_id(&self, name: &str, default: &str) -> Result<String, ConfigError> {
        let raw = self.get(name).unwrap_or(default);
        let ok = (1..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
        if !ok {
            return Err(ConfigError::new(name, raw, "1 to 64 letters, digits, '.', '_', ':' or '-'"));
        }
        Ok(raw.to_string())
    }

    /// A comma-separated list of trusted proxy addresses and ranges (empty: none).
    pub fn trusted_proxies(&self, name: &str) -> Result<crate::core::TrustedProxies, ConfigError> {
        let raw = self.get(name).unwrap_or("");
        crate::core::TrustedProxies::parse(raw).map_err(|why| ConfigError {
            variable: name.to_string(),
            message: format!(
                "{why}; expected a comma-separated list of up to {} IPv4/IPv6 addresses or ADDRESS/BITS ranges, e.g. 127.0.0.1,10.0.0.0/8",
                crate::core::TRUSTED_PROXIES_MAX
            ),
        })
    }

    /// A comma-separated list of distinct symbols.
    pub fn symbols(&self, name: &str, default: &str, count_max: usize) -> Result<Vec<String>, ConfigError> {
        let raw = self.get(name).unwrap_or(default);
        let accepted = format!(
            "a comma-separated list of 1 to {count_max} distinct symbols of {SYMBOL_CHARS_MIN} to \
             {SYMBOL_CHARS_MAX} upper-case letters or digits, e.g. BTCUSDT,ETHUSDT"
        );
        let mut symbols: Vec<String> = Vec::new();
        for part in raw.split(',') {
            let symbol = part.trim();
            let well_formed = (SYMBOL_CHARS_MIN..=SYMBOL_CHARS_MAX).contains(&symbol.len())
                && symbol.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            if !well_formed || symbols.iter().any(|s| s == symbol) {
                return Err(ConfigError::new(name, raw, &accepted));
            }
            symbols.push(symbol.to_string());
        }
        if symbols.is_empty() || symbols.len() > count_max {
            return Err(ConfigError::new(name, raw, &accepted));
        }
        Ok(symbols)
    }
}

/// This machine's host name (for the default `NODE_ID`), cleaned to the characters a node id
/// accepts; "node" when it cannot be read.
pub fn host_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let cleaned: String = raw.trim().chars().filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c)).take(40).collect();
    if cleaned.is_empty() {
        "node".into()
    } else {
        cleaned
    }
}
