//! Helpers shared by the store and ingest integration tests: temporary folders, the real fixture
//! files, and an independent reading of the raw kline CSV to compare results against.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A fresh folder under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("lhm-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn kline_zip(day: u32) -> PathBuf {
    fixtures().join(format!(
        "binance-spot-klines-1m/BTCUSDT-1m-2020-01-0{day}.zip"
    ))
}

pub const WEEK_NAME: &str = "BTCUSDT-5m-ohlc-oi-2026-06-07_2026-06-14.csv";

pub fn week_csv() -> PathBuf {
    fixtures().join("binance-um-5m-ohlc-oi").join(WEEK_NAME)
}

/// Copies a fixture (and its `.CHECKSUM`, if any) into `dir`.
pub fn copy_with_checksum(fixture: &Path, dir: &Path) -> PathBuf {
    let target = dir.join(fixture.file_name().expect("file name"));
    std::fs::copy(fixture, &target).expect("copy fixture");
    let mut sum = fixture.as_os_str().to_owned();
    sum.push(".CHECKSUM");
    let sum = PathBuf::from(sum);
    if sum.exists() {
        let mut target_sum = target.as_os_str().to_owned();
        target_sum.push(".CHECKSUM");
        std::fs::copy(&sum, PathBuf::from(target_sum)).expect("copy checksum");
    }
    target
}

/// The CSV text inside a real kline archive.
pub fn kline_csv_text(day: u32) -> String {
    let file = std::fs::File::open(kline_zip(day)).expect("open fixture");
    let mut archive = zip::ZipArchive::new(file).expect("read zip");
    let mut entry = archive.by_index(0).expect("zip entry");
    let mut text = String::new();
    entry.read_to_string(&mut text).expect("read csv");
    text
}

/// One raw kline row, parsed here independently of the ingest code.
#[derive(Debug, Clone, Copy)]
pub struct RawKline {
    pub open_time_ms: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
    pub quote_volume: f64,
    pub trade_count: i64,
    pub taker_buy_volume: f64,
}

pub fn raw_klines(day: u32) -> Vec<RawKline> {
    kline_csv_text(day)
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let num = |i: usize| f[i].parse::<f64>().expect("number");
            RawKline {
                open_time_ms: f[0].parse().expect("time"),
                open: num(1),
                high: num(2),
                low: num(3),
                close: num(4),
                volume: num(5),
                quote_volume: num(7),
                trade_count: f[8].parse().expect("count"),
                taker_buy_volume: num(9),
            }
        })
        .collect()
}

/// Sets a file's modification time well in the past so the inbox treats it as complete.
pub fn make_old(path: &Path) {
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open for mtime");
    file.set_modified(SystemTime::now() - Duration::from_secs(60))
        .expect("set mtime");
}
