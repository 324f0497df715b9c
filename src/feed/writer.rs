//! The feed's writer: runs on the snapshot producer's thread (the one thread that writes DuckDB
//! while the server runs), stores what the feed's threads hand over, and tells the producer how
//! far it may apply bars.
//!
//! Storage rules (each keeps the stored bars replaying to exactly what was streamed):
//! - Candles and open interest are inserted idempotently: a key already stored is left alone, so
//!   duplicates, reordering and overlapping backfills change nothing.
//! - Nothing is stored at or before a symbol's released watermark: those bars were applied, and a
//!   late row (a bar the exchange sent after its hole was skipped, open interest after its bar's
//!   wait ran out) would make a replay differ from the live output. Such rows are counted.
//! - Realised liquidations are stored once each and the new ones are handed back for the
//!   subscribers.

use std::collections::BTreeMap;

use log::{info, warn};

use super::release::ReleaseGate;
use super::{FeedLink, FeedRow};
use crate::core::time::iso8601_utc_ms;
use crate::core::FeedReport;
use crate::store::{CandleSeries, OpenInterestSeries, RealisedLiquidation, Store, StoreError};

/// Rows handled per step, so the producer's own work is never starved.
const ROWS_PER_STEP_MAX: usize = 256;

/// What one step produced for the producer and the loop.
#[derive(Debug, Default)]
pub struct WriterStep {
    /// Bars were released: the producer should update now.
    pub released: bool,
    /// Newly stored liquidations, as `{"type":"liquidation",...}` messages by symbol.
    pub liquidation_messages: Vec<(String, String)>,
    /// The feed's report, when it changed.
    pub report: Option<FeedReport>,
}

pub struct FeedWriter {
    link: FeedLink,
    gates: BTreeMap<String, ReleaseGate>,
    last_report: Option<FeedReport>,
}

impl FeedWriter {
    /// A writer whose watermarks start at the newest stored bar of each symbol.
    pub fn new(link: FeedLink, store: &Store) -> Result<FeedWriter, StoreError> {
        let mut gates = BTreeMap::new();
        for symbol in &link.settings.symbols {
            let newest = store.time_range(symbol)?.map(|(_, last)| last);
            gates.insert(symbol.clone(), ReleaseGate::new(link.settings.interval_ms, link.settings.oi_wait_ms, newest));
        }
        let writer = FeedWriter { link, gates, last_report: None };
        writer.publish_progress();
        Ok(writer)
    }

    pub fn link(&self) -> &FeedLink {
        &self.link
    }

    /// The newest bar of `symbol` the producer may apply (`None`: none yet).
    pub fn released_ms(&self, symbol: &str) -> Option<i64> {
        self.gates.get(symbol).and_then(ReleaseGate::released_ms)
    }

    /// Handles `first` and whatever else is queued (up to a bound), releases what can be
    /// released at `now_ms`, and reports.
    pub fn step(&mut self, store: &Store, first: Option<FeedRow>, now_ms: i64) -> Result<WriterStep, StoreError> {
        let mut out = WriterStep::default();
        let mut rows: Vec<FeedRow> = first.into_iter().collect();
        while rows.len() < ROWS_PER_STEP_MAX {
            match self.link.rows.try_recv() {
                Ok(row) => rows.push(row),
                Err(_) => break,
            }
        }
        for row in rows {
            self.handle(store, row, now_ms, &mut out)?;
        }
        for (symbol, gate) in &mut self.gates {
            let released = gate.release(now_ms);
            if released.bars > 0 || released.holes_skipped > 0 {
                out.released = true;
                self.link.metrics.bars_without_open_interest.inc_by(released.without_open_interest);
                self.link.metrics.bar_holes_skipped.inc_by(released.holes_skipped);
                if released.without_open_interest > 0 || released.holes_skipped > 0 {
                    warn!(
                        "event=feed_release symbol={symbol} bars={} without_open_interest={} holes_skipped={}",
                        released.bars, released.without_open_interest, released.holes_skipped
                    );
                }
            }
        }
        self.publish_progress();
        self.update_ages(now_ms);
        let report = self.report();
        if self.last_report.as_ref() != Some(&report) {
            self.last_report = Some(report.clone());
            out.report = Some(report);
        }
        Ok(out)
    }

    fn handle(&mut self, store: &Store, row: FeedRow, now_ms: i64, out: &mut WriterStep) -> Result<(), StoreError> {
        match row {
            FeedRow::Klines { symbol, candles } => {
                let Some(gate) = self.gates.get_mut(&symbol) else { return Ok(()) };
                let released = gate.released_ms();
                // Bars at or before the watermark are duplicates of applied bars (the normal case
                // after a reconnect) or a bar whose hole was already skipped: neither is written.
                let fresh: Vec<_> = candles.into_iter().filter(|c| released.is_none_or(|r| c.open_time_ms > r)).collect();
                if fresh.is_empty() {
                    return Ok(());
                }
                let series = CandleSeries { symbol: symbol.clone(), interval_ms: self.link.settings.interval_ms, candles: fresh };
                let counts = store.insert_series(std::slice::from_ref(&series), &[])?;
                self.link.metrics.bars_stored.inc_by(counts.candles_added);
                for candle in &series.candles {
                    gate.bar_stored(candle.open_time_ms, now_ms);
                }
            }
            FeedRow::OpenInterest { symbol, points } => {
                let Some(gate) = self.gates.get_mut(&symbol) else { return Ok(()) };
                let (fresh, late): (Vec<_>, Vec<_>) = points.into_iter().partition(|p| gate.accept_open_interest(p.time_ms));
                // Late samples are expected for the applied bar a backfill starts next to; only
                // count them.
                self.link.metrics.open_interest_late.inc_by(late.len() as u64);
                if !fresh.is_empty() {
                    store.insert_series(&[], &[OpenInterestSeries { symbol, points: fresh }])?;
                }
            }
            FeedRow::Liquidations(liquidations) => {
                let added = store.insert_realised_liquidations(&liquidations)?;
                for liquidation in &added {
                    self.link.metrics.liquidations_stored(&liquidation.symbol, 1);
                    out.liquidation_messages.push((liquidation.symbol.clone(), liquidation_message(liquidation)));
                }
            }
            FeedRow::BackfillDone { symbol, covered_until_ms } => {
                if let Some(gate) = self.gates.get_mut(&symbol) {
                    if gate.released_ms().is_none() {
                        info!("event=feed_first_backfill symbol={symbol} until={}", iso8601_utc_ms(covered_until_ms));
                    }
                    gate.backfill_done(covered_until_ms);
                }
            }
            FeedRow::StateChanged => {}
        }
        Ok(())
    }

    fn publish_progress(&self) {
        for (symbol, gate) in &self.gates {
            self.link.status.set_progress(
                symbol,
                super::status::SymbolProgress {
                    wanted_from_ms: gate.wanted_from_ms(),
                    waiting_for_open_interest: gate.waiting_for_open_interest(),
                    released_ms: gate.released_ms(),
                },
            );
        }
    }

    fn update_ages(&self, now_ms: i64) {
        for (symbol, gate) in &self.gates {
            if let Some(released) = gate.released_ms() {
                let closed_at = released + self.link.settings.interval_ms;
                self.link.metrics.newest_bar_age(symbol, (now_ms - closed_at).max(0) as f64 / 1000.0);
            }
        }
    }

    fn report(&self) -> FeedReport {
        FeedReport {
            kind: "binance".to_string(),
            state: self.link.status.state().as_str().to_string(),
            interval_ms: self.link.settings.interval_ms,
            newest_bar_ms: self.gates.iter().map(|(s, g)| (s.clone(), g.released_ms())).collect(),
        }
    }
}

/// The WebSocket message for one stored liquidation (docs/websocket_api.md).
pub fn liquidation_message(l: &RealisedLiquidation) -> String {
    serde_json::json!({
        "type": "liquidation",
        "symbol": l.symbol,
        "timestamp": iso8601_utc_ms(l.time_ms),
        "time_ms": l.time_ms,
        "side": l.side.as_str(),
        "price": l.price,
        "quantity": l.quantity,
        "notional_usd": l.notional_usd,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crossbeam_channel::{bounded, Sender};

    use super::*;
    use crate::feed::{BaseUrl, FeedMetrics, FeedSettings, SharedStatus, UrlKind};
    use crate::store::{Candle, LiquidatedSide, OpenInterestPoint};

    const I: i64 = 300_000;
    const T0: i64 = 1_781_448_000_000;

    fn writer(store: &Store) -> (FeedWriter, Sender<FeedRow>) {
        let settings = FeedSettings {
            ws_url: BaseUrl::parse("ws://127.0.0.1:1", UrlKind::WebSocket).unwrap(),
            rest_url: BaseUrl::parse("http://127.0.0.1:1", UrlKind::Rest).unwrap(),
            symbols: vec!["BTCUSDT".into()],
            interval_ms: I,
            warmup_days: 1,
            oi_wait_ms: 60_000,
            connection_max_age: std::time::Duration::from_secs(60),
            jitter_seed: 1,
        };
        let (tx, rx) = bounded(64);
        let link = FeedLink {
            metrics: FeedMetrics::new(&settings.symbols),
            settings: Arc::new(settings),
            status: Arc::new(SharedStatus::new()),
            rows: rx,
        };
        (FeedWriter::new(link, store).unwrap(), tx)
    }

    fn candle(t: i64, close: f64) -> Candle {
        Candle { open_time_ms: t, open: 100.0, high: 110.0, low: 90.0, close, volume: None, quote_volume: None, taker_buy_volume: None, trade_count: None }
    }

    fn klines(candles: Vec<Candle>) -> FeedRow {
        FeedRow::Klines { symbol: "BTCUSDT".into(), candles }
    }

    fn oi(times: &[i64]) -> FeedRow {
        let points = times.iter().map(|&t| OpenInterestPoint { time_ms: t, contracts: None, value_usd: Some(1e9 + t as f64) }).collect();
        FeedRow::OpenInterest { symbol: "BTCUSDT".into(), points }
    }

    #[test]
    fn bars_are_stored_once_and_released_in_order_after_the_backfill() {
        let store = Store::open_in_memory().unwrap();
        let (mut w, tx) = writer(&store);
        tx.send(klines(vec![candle(T0 + I, 101.0), candle(T0, 100.0)])).unwrap();
        tx.send(oi(&[T0, T0 + I])).unwrap();
        let step = w.step(&store, None, 0).unwrap();
        assert!(!step.released, "nothing before the first backfill");
        assert_eq!(w.released_ms("BTCUSDT"), None);
        tx.send(FeedRow::BackfillDone { symbol: "BTCUSDT".into(), covered_until_ms: T0 + 2 * I }).unwrap();
        // A duplicate with other values changes nothing.
        tx.send(klines(vec![candle(T0, 999.0)])).unwrap();
        let step = w.step(&store, None, 0).unwrap();
        assert!(step.released);
        assert_eq!(w.released_ms("BTCUSDT"), Some(T0 + I));
        let bars = store.bars("BTCUSDT", 0, i64::MAX / 2).unwrap();
        assert_eq!(bars.iter().map(|b| (b.open_time_ms, b.close)).collect::<Vec<_>>(), vec![(T0, 100.0), (T0 + I, 101.0)]);
        assert_eq!(step.report.unwrap().newest_bar_ms, vec![("BTCUSDT".to_string(), Some(T0 + I))]);
    }

    #[test]
    fn late_open_interest_and_late_bars_are_not_stored() {
        let store = Store::open_in_memory().unwrap();
        let (mut w, tx) = writer(&store);
        tx.send(klines(vec![candle(T0, 100.0)])).unwrap();
        tx.send(oi(&[T0])).unwrap();
        tx.send(FeedRow::BackfillDone { symbol: "BTCUSDT".into(), covered_until_ms: T0 + I }).unwrap();
        w.step(&store, None, 0).unwrap();
        // The next bar waits for its open interest, then goes without it.
        tx.send(klines(vec![candle(T0 + I, 101.0)])).unwrap();
        w.step(&store, None, 1_000).unwrap();
        assert_eq!(w.released_ms("BTCUSDT"), Some(T0));
        w.step(&store, None, 61_000).unwrap();
        assert_eq!(w.released_ms("BTCUSDT"), Some(T0 + I));
        let replayed = store.bars("BTCUSDT", 0, i64::MAX / 2).unwrap();
        tx.send(oi(&[T0 + I])).unwrap();
        w.step(&store, None, 62_000).unwrap();
        assert_eq!(store.bars("BTCUSDT", 0, i64::MAX / 2).unwrap(), replayed, "the applied bars replay the same");
        assert_eq!(w.link().metrics.open_interest_late.get(), 1);
        assert_eq!(w.link().metrics.bars_without_open_interest.get(), 1);
    }

    #[test]
    fn new_liquidations_become_messages_once() {
        let store = Store::open_in_memory().unwrap();
        let (mut w, tx) = writer(&store);
        let l = RealisedLiquidation { symbol: "BTCUSDT".into(), time_ms: T0, side: LiquidatedSide::Long, price: 62000.5, quantity: 0.25, notional_usd: 15500.125 };
        tx.send(FeedRow::Liquidations(vec![l.clone()])).unwrap();
        tx.send(FeedRow::Liquidations(vec![l])).unwrap();
        let step = w.step(&store, None, 0).unwrap();
        assert_eq!(step.liquidation_messages.len(), 1);
        let (symbol, json) = &step.liquidation_messages[0];
        assert_eq!(symbol, "BTCUSDT");
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(value["type"], "liquidation");
        assert_eq!(value["side"], "long");
        assert_eq!(value["notional_usd"], 15500.125);
        assert_eq!(value["timestamp"], "2026-06-14T14:40:00Z");
    }
}
