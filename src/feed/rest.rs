//! The REST thread: backfill and open-interest polling.
//!
//! A round asks the exchange, per symbol, for every closed 5-minute kline from the bar after the
//! applied watermark (or `WARMUP_DAYS` back on an empty database) up to now, then for the
//! `openInterestHist` samples (period 5m, USD `sumOpenInterestValue`) of the same span (the
//! exchange keeps 30 days of them), hands both to the writer, and reports the span covered.
//! Rounds run on start, after every (re)connection of the stream, a few seconds after every bar
//! closes (catching any bar the stream lost), and every second while a stored bar
//! waits for its open interest.
//!
//! Requests go through the [`WeightBudget`]; a 429/418 stops every request for its
//! `Retry-After`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use log::{debug, info, warn};

use super::rate::{self, WeightBudget};
use super::url::UrlKind;
use super::wire::{self, Rejected};
use super::{FeedCtx, FeedRow};

/// Klines asked per request (the exchange's maximum; weight 10).
const KLINES_PER_REQUEST_MAX: i64 = 1_500;
/// `openInterestHist` rows per request (the exchange's maximum).
const OPEN_INTEREST_PER_REQUEST_MAX: i64 = 500;
/// The exchange serves `openInterestHist` for the last 30 days only.
const OPEN_INTEREST_HISTORY_MS: i64 = 30 * DAY_MS;
/// A round runs this long after each bar's close, when the exchange has published it.
const AFTER_CLOSE_DELAY: Duration = Duration::from_secs(3);
/// A REST kline that closed less than this before the round started is left to the stream (or the
/// next round): the exchange may not have rolled it over yet, and it must not be stored unfinished.
const SETTLE_MS: i64 = 2_000;
/// While a bar waits for its open interest, the exchange is asked again this often (two
/// weight-1 requests per symbol: well inside the budget for the bounded wait).
const OPEN_INTEREST_RETRY: Duration = Duration::from_secs(1);
/// A failed round is retried after this.
const FAILED_ROUND_RETRY: Duration = Duration::from_secs(5);
/// Largest answer body read.
const BODY_BYTES_MAX: u64 = 8 * 1024 * 1024;
/// One request's whole-exchange timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// 429/418 answers in a row after which a round gives up (the next round tries again).
const LIMITED_ANSWERS_MAX: u32 = 5;
const DAY_MS: i64 = 86_400_000;

pub fn wall_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

struct Client {
    agent: ureq::Agent,
    budget: WeightBudget,
    origin: Instant,
}

impl Client {
    fn mono_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }
}

/// The feed's roots ([`super::tls::roots`]) as `ureq` takes them.
fn ureq_roots(roots: &super::tls::Roots) -> ureq::tls::RootCerts {
    match roots {
        super::tls::Roots::Platform(certs) => {
            ureq::tls::RootCerts::new_with_certs(&certs.iter().map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned()).collect::<Vec<_>>())
        }
        super::tls::Roots::Mozilla => ureq::tls::RootCerts::WebPki,
    }
}

/// Runs until the stop flag is set. `requests` carries the stream's "connected: backfill now".
pub fn run(ctx: FeedCtx, requests: Receiver<()>) {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(REQUEST_TIMEOUT))
        .http_status_as_error(false)
        .user_agent(concat!("liquidationheatmap/", env!("CARGO_PKG_VERSION")))
        .tls_config(ureq::tls::TlsConfig::builder().root_certs(ureq_roots(super::tls::roots())).build())
        .build();
    let mut client = Client { agent: ureq::Agent::new_with_config(config), budget: WeightBudget::new(), origin: Instant::now() };
    // The first round is a backfill; so is every round a (re)connection asks for.
    let mut next_round = Instant::now();
    let mut backfill = true;
    let mut last_round_end = Instant::now();
    while !ctx.stopping() {
        let mut due = next_round;
        if waiting_for_open_interest(&ctx) {
            due = due.min(last_round_end + OPEN_INTEREST_RETRY);
        }
        let wait = due.saturating_duration_since(Instant::now()).min(Duration::from_millis(250));
        match requests.recv_timeout(wait) {
            Ok(()) => {
                due = Instant::now();
                backfill = true;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        while requests.try_recv().is_ok() {}
        if Instant::now() < due {
            continue;
        }
        if backfill {
            ctx.status.set_backfilling(true);
            ctx.publish_state();
        }
        let mut failed = false;
        for symbol in &ctx.settings.symbols {
            if let Err(e) = round(&ctx, &mut client, symbol) {
                failed = true;
                warn!("event=feed_backfill_failed symbol={symbol} error={e:?}");
            }
            if ctx.stopping() {
                return;
            }
        }
        if backfill && !failed {
            backfill = false;
            ctx.status.set_backfilling(false);
            ctx.publish_state();
        }
        last_round_end = Instant::now();
        next_round = last_round_end + next_delay(&ctx, failed);
    }
}

fn waiting_for_open_interest(ctx: &FeedCtx) -> bool {
    ctx.settings.symbols.iter().any(|s| ctx.status.progress(s).waiting_for_open_interest)
}

/// When the next round is due.
fn next_delay(ctx: &FeedCtx, failed: bool) -> Duration {
    if failed {
        return FAILED_ROUND_RETRY;
    }
    if waiting_for_open_interest(ctx) {
        return OPEN_INTEREST_RETRY;
    }
    let interval = ctx.settings.interval_ms;
    let now = wall_ms();
    let next_close = (now.div_euclid(interval) + 1) * interval;
    Duration::from_millis((next_close - now).max(0) as u64) + AFTER_CLOSE_DELAY
}

/// One symbol's backfill round.
fn round(ctx: &FeedCtx, client: &mut Client, symbol: &str) -> Result<(), String> {
    let interval = ctx.settings.interval_ms;
    let started_ms = wall_ms();
    // Bars closed before this are asked for, and one the exchange does not return there is a hole.
    let covered_until_ms = started_ms - SETTLE_MS;
    let warmup_from = (started_ms - i64::from(ctx.settings.warmup_days) * DAY_MS).div_euclid(interval) * interval;
    let from = ctx.status.progress(symbol).wanted_from_ms.unwrap_or(warmup_from);
    let mut klines_done = false;
    let mut start = from;
    // Enough pages for the span (the weight budget paces them), plus slack for a short page.
    let klines_pages_max = ((started_ms - from).max(0) / (interval * KLINES_PER_REQUEST_MAX) + 2) as usize;
    for _ in 0..klines_pages_max {
        let wanted = ((started_ms - start) / interval + 2).clamp(1, KLINES_PER_REQUEST_MAX);
        let path = format!("/fapi/v1/klines?symbol={symbol}&interval=5m&startTime={start}&limit={wanted}");
        let body = get(ctx, client, "klines", &path, rate::klines_weight(wanted as u32))?;
        let (candles, rejected) = wire::parse_rest_klines(&body, interval, covered_until_ms).map_err(|e| rejected_error(ctx, "klines", e))?;
        count_rejects(ctx, "klines", &rejected);
        let newest = candles.iter().map(|c| c.open_time_ms).max();
        if !candles.is_empty() {
            ctx.send_row(FeedRow::Klines { symbol: symbol.to_string(), candles });
        }
        match newest {
            // Caught up when the page ends at the last closed bar, or it came back short.
            Some(t) if t + 2 * interval <= started_ms && (wanted == KLINES_PER_REQUEST_MAX) => start = t + interval,
            _ => {
                klines_done = true;
                break;
            }
        }
    }
    let oi_from = from.max((started_ms - OPEN_INTEREST_HISTORY_MS).div_euclid(interval) * interval + interval);
    let mut start = oi_from;
    let mut oi_done = false;
    let oi_pages_max = ((started_ms - oi_from).max(0) / (interval * OPEN_INTEREST_PER_REQUEST_MAX) + 2) as usize;
    for _ in 0..oi_pages_max {
        if start > started_ms {
            oi_done = true;
            break;
        }
        let end = (start + OPEN_INTEREST_PER_REQUEST_MAX * interval - 1).min(started_ms);
        let path = format!(
            "/futures/data/openInterestHist?symbol={symbol}&period=5m&startTime={start}&endTime={end}&limit={OPEN_INTEREST_PER_REQUEST_MAX}"
        );
        let body = get(ctx, client, "open_interest_hist", &path, rate::OPEN_INTEREST_HIST_WEIGHT)?;
        let (points, rejected) =
            wire::parse_open_interest_hist(&body, symbol).map_err(|e| rejected_error(ctx, "open_interest_hist", e))?;
        count_rejects(ctx, "open_interest_hist", &rejected);
        if !points.is_empty() {
            ctx.send_row(FeedRow::OpenInterest { symbol: symbol.to_string(), points });
        }
        start = end + 1;
    }
    if klines_done && (oi_done || start > started_ms) {
        ctx.send_row(FeedRow::BackfillDone { symbol: symbol.to_string(), covered_until_ms });
        debug!("event=feed_backfill_done symbol={symbol} from_ms={from} until_ms={covered_until_ms}");
    } else {
        info!("event=feed_backfill_partial symbol={symbol} from_ms={from} detail=\"more pages next round\"");
    }
    Ok(())
}

fn rejected_error(ctx: &FeedCtx, endpoint: &str, e: Rejected) -> String {
    ctx.metrics.reject(e.reason);
    format!("{endpoint} answer rejected: {}: {}", e.reason.as_str(), e.detail)
}

fn count_rejects(ctx: &FeedCtx, endpoint: &str, rejected: &[Rejected]) {
    for r in rejected {
        ctx.metrics.reject(r.reason);
    }
    if let Some(first) = rejected.first() {
        warn!("event=feed_reject source={endpoint} rows={} reason={} detail={:?}", rejected.len(), first.reason.as_str(), first.detail);
    }
}

/// GET `path` under the REST base URL within the weight budget; 429/418 wait for `Retry-After`.
fn get(ctx: &FeedCtx, client: &mut Client, endpoint: &'static str, path: &str, weight: u32) -> Result<String, String> {
    let url = ctx.settings.rest_url.join(UrlKind::Rest, path);
    let mut limited = 0;
    loop {
        let wait = client.budget.wait_ms(weight, client.mono_ms());
        if wait > 0 {
            if !ctx.sleep(Duration::from_millis(wait)) {
                return Err("stopping".into());
            }
            continue;
        }
        client.budget.spend(weight, client.mono_ms());
        let mut response = match client.agent.get(&url).call() {
            Ok(response) => response,
            Err(e) => {
                ctx.metrics.request(endpoint, None);
                return Err(format!("GET {url}: {e}"));
            }
        };
        let status = response.status().as_u16();
        ctx.metrics.request(endpoint, Some(status));
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        if let Some(used) = header("x-mbx-used-weight-1m").and_then(|v| v.parse().ok()) {
            client.budget.reported(used, client.mono_ms());
        }
        if status == 429 || status == 418 {
            let retry_after = rate::parse_retry_after_ms(header("retry-after").as_deref());
            let waited = client.budget.back_off(retry_after, client.mono_ms());
            warn!("event=feed_rest_limited endpoint={endpoint} status={status} retry_after_ms={waited}");
            limited += 1;
            if limited >= LIMITED_ANSWERS_MAX {
                return Err(format!("GET {url}: {limited} answers {status} in a row"));
            }
            continue;
        }
        let body = response.body_mut().with_config().limit(BODY_BYTES_MAX).read_to_string().map_err(|e| format!("GET {url}: body: {e}"))?;
        if status != 200 {
            let sample: String = body.chars().take(200).collect();
            return Err(format!("GET {url}: HTTP {status}: {sample}"));
        }
        return Ok(body);
    }
}
