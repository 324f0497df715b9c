// REST calls to our server. Every request has a timeout; server errors in
// the {"error":{"code","message"}} shape become ApiError with that code.

import { intervalToMs } from './binning.js';

export const REQUEST_TIMEOUT_MS = 15000;
// Binance-style kline endpoints cap a request at 1500 candles.
export const KLINES_LIMIT_MAX = 1500;

// View windows and the bucket size that keeps each at 576-720 columns.
export const TIME_WINDOWS = Object.freeze({
  '48h': { interval: '5m', windowMs: 48 * 3_600_000 },
  '7d': { interval: '15m', windowMs: 7 * 86_400_000 },
  '30d': { interval: '1h', windowMs: 30 * 86_400_000 },
});

export const DEFAULT_CONFIG = Object.freeze({
  supported_symbols: ['BTCUSDT'],
  ws_enabled: true,
  ws_update_interval_s: 5,
  feed: null,
});

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function fetchJson(path, { timeoutMs = REQUEST_TIMEOUT_MS, fetchImpl = globalThis.fetch } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let response;
  try {
    response = await fetchImpl(path, { signal: controller.signal, cache: 'no-store', headers: { Accept: 'application/json' } });
  } catch (err) {
    const reason = err && err.name === 'AbortError' ? `timed out after ${timeoutMs} ms` : 'network error';
    throw new ApiError(0, 'NETWORK', `${path}: ${reason}`);
  } finally {
    clearTimeout(timer);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const error = body && body.error ? body.error : {};
    throw new ApiError(response.status, error.code || `HTTP_${response.status}`, `${path}: ${error.message || response.statusText}`);
  }
  if (body === null) throw new ApiError(response.status, 'BAD_JSON', `${path}: response is not JSON`);
  return body;
}

export async function fetchConfig() {
  const config = await fetchJson('/api/config');
  const symbols = Array.isArray(config.supported_symbols) && config.supported_symbols.length > 0 ? config.supported_symbols : DEFAULT_CONFIG.supported_symbols;
  const interval = Number(config.ws_update_interval_s) > 0 ? Number(config.ws_update_interval_s) : DEFAULT_CONFIG.ws_update_interval_s;
  // `feed` says what is streamed (e.g. a demo replay); older servers have none.
  const feed = config.feed && typeof config.feed === 'object' ? config.feed : null;
  return { supported_symbols: symbols, ws_enabled: config.ws_enabled !== false, ws_update_interval_s: interval, feed };
}

export function heatmapPath(params) {
  const query = new URLSearchParams({ symbol: params.symbol, interval: params.interval });
  if (params.timeWindow) query.set('time_window', params.timeWindow);
  if (params.startTime) query.set('start_time', params.startTime);
  if (params.endTime) query.set('end_time', params.endTime);
  return `/liquidations/heatmap-timeseries?${query}`;
}

/** The states of the bars with open time in [startMs, endMs] at `interval` (gap filling). */
export function fetchHeatmapRange({ symbol, interval, startMs, endMs }) {
  const iso = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');
  return fetchJson(heatmapPath({ symbol, interval, startTime: iso(startMs), endTime: iso(endMs) }));
}

export function fetchHeatmap({ symbol, timeWindow }) {
  const { interval } = TIME_WINDOWS[timeWindow];
  return fetchJson(heatmapPath({ symbol, interval, timeWindow }));
}

export function fetchKlines({ symbol, timeWindow }) {
  const { interval, windowMs } = TIME_WINDOWS[timeWindow];
  const limit = Math.min(KLINES_LIMIT_MAX, Math.ceil(windowMs / intervalToMs(interval)));
  const query = new URLSearchParams({ symbol, interval, limit: String(limit) });
  return fetchJson(`/prices/klines?${query}`);
}

/**
 * Snapshots from `sinceMs` on, for the polling fallback. Asks for just that
 * range (start one bucket early so the range is never empty when no new bar
 * has arrived; the server's end defaults to its newest data). A server that
 * does not know the range parameters (400) is polled with the whole window
 * from then on; a range it cannot serve right now (422) gets the whole
 * window for this poll only.
 */
export class RecentSnapshotFetcher {
  constructor(fetchImpl = globalThis.fetch) {
    this.fetchImpl = fetchImpl;
    this.rangeSupported = true;
  }

  async fetch({ symbol, timeWindow, sinceMs }) {
    const { interval } = TIME_WINDOWS[timeWindow];
    if (this.rangeSupported && Number.isFinite(sinceMs)) {
      const startTime = new Date(sinceMs - intervalToMs(interval)).toISOString();
      try {
        return await fetchJson(heatmapPath({ symbol, interval, startTime }), { fetchImpl: this.fetchImpl });
      } catch (err) {
        if (!(err instanceof ApiError) || (err.status !== 400 && err.status !== 422)) throw err;
        if (err.status === 400) this.rangeSupported = false;
      }
    }
    return fetchJson(heatmapPath({ symbol, interval, timeWindow }), { fetchImpl: this.fetchImpl });
  }
}

/**
 * Asks GET /ws/heatmap (no upgrade) whether WebSockets are on: 'disabled' on
 * 503 WS_DISABLED, 'unreachable' when the server does not answer, else 'enabled'.
 */
export async function probeWebSocket({ fetchImpl = globalThis.fetch, timeoutMs = 5000 } = {}) {
  try {
    await fetchJson('/ws/heatmap', { fetchImpl, timeoutMs });
    return 'enabled';
  } catch (err) {
    if (err.status === 503 && err.code === 'WS_DISABLED') return 'disabled';
    if (err.status === 0) return 'unreachable';
    return 'enabled'; // e.g. 400/426 "upgrade required": the endpoint is live
  }
}
