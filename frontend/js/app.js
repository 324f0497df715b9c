// The heatmap page: loads config and history over REST, renders, then keeps
// the newest column live over the WebSocket (or REST polling as fallback).

import { HeatmapWebSocket } from './websocket-client.js';
import {
  DEFAULT_CONFIG,
  RecentSnapshotFetcher,
  TIME_WINDOWS,
  fetchConfig,
  fetchHeatmap,
  fetchHeatmapRange,
  fetchKlines,
  probeWebSocket,
} from './api.js';
import { intervalToMs, timestampMs } from './binning.js';
import { HeatmapModel } from './heatmap-model.js';
import { HeatmapRenderer } from './heatmap-renderer.js';
import { drawLegend } from './legend.js';
import { describeStatus } from './status-indicator.js';
import { renderStats } from './stats-panel.js';
import { wireChartInteraction } from './chart-interaction.js';
import { GapFiller } from './gap-filler.js';
import { describeCoverage } from './data-coverage.js';
import { describeFeed } from './feed.js';
import { LiquidationMarkers } from './liquidation-markers.js';
import { FeedIndicator } from './feed-indicator.js';

// Snapshots that arrive while history is loading are applied afterwards;
// beyond this many the oldest are dropped (history will cover them).
const PENDING_SNAPSHOTS_MAX = 50;
// A SLOW_CONSUMER warning keeps the pill yellow this long.
const DEGRADED_HOLD_MS = 30000;
const STATS_REFRESH_MS = 1000;
const POLL_INTERVAL_MIN_MS = 1000;
// While /api/config has not been read, ask again at most this often.
const CONFIG_RETRY_MS = 10000;

const $ = (id) => document.getElementById(id);

const els = {
  symbol: $('symbol-select'),
  windowButtons: [...document.querySelectorAll('#window-select button')],
  status: $('connection-status'),
  statusLabel: document.querySelector('#connection-status .status-label'),
  canvas: $('heatmap-canvas'),
  overlay: $('heatmap-overlay'),
  wrap: $('chart-wrap'),
  tooltip: $('tooltip'),
  message: $('chart-message'),
  legend: $('legend-canvas'),
  legendLabels: $('legend-labels'),
  statSymbol: $('stat-symbol'),
  statPrice: $('stat-price'),
  statChange: $('stat-change'),
  statLong: $('stat-long'),
  statShort: $('stat-short'),
  statSource: $('stat-source'),
  statUpdated: $('stat-updated'),
  statRange: $('stat-range'),
  zoomReset: $('zoom-reset'),
  coverage: $('data-coverage'),
  feedBadge: $('feed-badge'),
  loadError: $('load-error'),
  loadErrorText: $('load-error-text'),
  loadErrorRetry: $('load-error-retry'),
  loadErrorDismiss: $('load-error-dismiss'),
};

const state = {
  config: { ...DEFAULT_CONFIG },
  configLoaded: false,
  configAttemptMs: 0,
  symbol: null,
  timeWindow: '48h',
  clientStatus: 'connecting',
  reconnectAttempt: 0,
  degradedUntilMs: 0,
  pollFailing: false,
  probedThisOutage: false,
  pageState: 'connecting',
  loading: false,
  reloadQueued: false,
  pending: [],
  lastSnapshot: null,
  lastUpdateMs: null,
  historyLoads: 0,
  liveApplied: 0,
  pollCount: 0,
  lastError: null,
  source: null,
  // The selection whose history is drawn; a failed load goes back to it.
  committed: null,
  // The last history load failed (shown in the banner and the pill) ...
  historyError: null,
  // ... for this selection, which the banner's Retry asks for again (null: the drawn one).
  retrySelection: null,
  // Snapshots were skipped (seq gap): refetch the newest column's state too.
  refreshPrevious: false,
  // The server streams recorded or made-up data (/api/config feed), not the market.
  feed: describeFeed(null),
};

const model = new HeatmapModel();
const renderer = new HeatmapRenderer(els.canvas, els.overlay);
const recentFetcher = new RecentSnapshotFetcher();
// Realised liquidations over the heatmap, redrawn after every composite.
const markers = new LiquidationMarkers(els.wrap, renderer, model);
const compositeHeatmap = renderer.composite.bind(renderer);
renderer.composite = () => {
  compositeHeatmap();
  markers.draw();
};
const feedIndicator = new FeedIndicator(els.status, () => state.symbol);
let client = null;

// Buckets the live stream skipped are fetched from REST (see gap-filler.js).
const gapFiller = new GapFiller({
  model,
  fetchRange: (startMs, endMs) => {
    const { symbol, timeWindow } = state.committed;
    return fetchHeatmapRange({ symbol, interval: TIME_WINDOWS[timeWindow].interval, startMs, endMs });
  },
  applyColumn: (data) => {
    const change = model.fillSlot(data);
    if (change.kind !== 'fill') return;
    const rebuildsBefore = renderer.stats.fullRebuilds;
    renderer.update(model, change);
    if (renderer.stats.fullRebuilds !== rebuildsBefore) refreshLegend();
  },
  onTooLarge: () => loadHistory(),
  onError: (err) => {
    state.lastError = `filling skipped columns: ${err.message}`;
    console.warn('gap fill failed, retrying:', err.message);
  },
});

// ---- diagnostics for tests (read-only) ----------------------------------------

window.__heatmap = Object.freeze({
  get columns() { return model.columnCount(); },
  get capacity() { return model.capacity; },
  get newestColumnTimeMs() { const s = model.newestSlot(); return s >= 0 ? model.slotTimeMs(s) : null; },
  get lastSnapshot() { return state.lastSnapshot ? { ...state.lastSnapshot } : null; },
  get renderCount() { return renderer.stats.renderCount; },
  get fullRebuilds() { return renderer.stats.fullRebuilds; },
  get columnPaints() { return renderer.stats.columnPaints; },
  get lastRebuildMs() { return renderer.stats.lastRebuildMs; },
  get lastCompositeMs() { return renderer.stats.lastCompositeMs; },
  get scaleMax() { return renderer.scaleMax; },
  get state() { return state.pageState; },
  get clientStatus() { return state.clientStatus; },
  get symbol() { return state.symbol; },
  get timeWindow() { return state.timeWindow; },
  get loading() { return state.loading; },
  get historyLoads() { return state.historyLoads; },
  get liveApplied() { return state.liveApplied; },
  get pollCount() { return state.pollCount; },
  get lastError() { return state.lastError; },
  get holes() { return model.holeCount(); },
  get gapFill() { return { ...gapFiller.stats, pending: gapFiller.pending, inFlight: gapFiller.inFlight }; },
  get coverage() { return describeCoverage(model, TIME_WINDOWS[drawnWindow()].windowMs); },
  get visibleSlots() { return model.ready && renderer.model === model ? { ...renderer.visible().slots } : null; },
  get historyError() { return state.historyError; },
  get committed() { return state.committed ? { ...state.committed } : null; },
  get feedMode() { return state.config.feed ? state.config.feed.mode : null; },
});

window.__liquidations = Object.freeze({
  get count() { return markers.count; },
  get drawn() { return markers.drawn.map((d) => ({ x: d.x, y: d.y, radius: d.radius, side: d.marker.side })); },
  get feed() { return { ...feedIndicator.last }; },
});

// ---- status ---------------------------------------------------------------------

function refreshStatus() {
  const { state: pageState, label, tone } = describeStatus(state.clientStatus, {
    attempt: state.reconnectAttempt,
    degraded: Date.now() < state.degradedUntilMs,
    pollFailing: state.pollFailing,
    pollIntervalS: pollIntervalMs() / 1000,
    historyFailed: state.historyError !== null,
    replay: state.feed.notMarket,
  });
  state.pageState = pageState;
  els.status.dataset.state = pageState;
  els.status.dataset.tone = tone;
  els.statusLabel.textContent = label;
  els.status.title = state.lastError ? `Last problem: ${state.lastError}` : label;
}

// ---- history load errors ------------------------------------------------------

function showLoadError(text) {
  els.loadErrorText.textContent = text;
  els.loadError.hidden = false;
}

function clearLoadError() {
  state.historyError = null;
  state.retrySelection = null;
  els.loadError.hidden = true;
  refreshStatus();
}

/**
 * A history load for `failed` did not work. A switch to another symbol or
 * window goes back to the selection that is drawn, so buttons, URL, chart and
 * figures agree; the banner says what failed and offers Retry, and the pill
 * turns yellow until the error is dismissed or a load succeeds.
 */
function historyFailed(failed, err) {
  state.lastError = err.message;
  state.historyError = err.message;
  const previous = state.committed;
  const what = `${failed.symbol} ${failed.timeWindow}`;
  if (previous && (previous.symbol !== failed.symbol || previous.timeWindow !== failed.timeWindow)) {
    state.retrySelection = failed;
    restoreSelection(previous, failed);
    showLoadError(`Could not load ${what} history: ${err.message}. Showing ${previous.symbol} ${previous.timeWindow} instead.`);
  } else {
    state.retrySelection = null;
    showLoadError(`Could not load ${what} history: ${err.message}.`);
    if (!model.ready) showMessage(`Could not load history: ${err.message}`);
  }
  refreshStatus();
}

function restoreSelection(previous, failed) {
  state.symbol = previous.symbol;
  state.timeWindow = previous.timeWindow;
  els.symbol.value = previous.symbol;
  selectWindowButton();
  rememberSelection();
  if (failed.symbol !== previous.symbol) {
    // The switch cleared the chart and moved the subscription: undo both.
    if (client) {
      client.unsubscribe([failed.symbol]);
      client.subscribe([previous.symbol]);
    }
    state.reloadQueued = true;
  }
}

function retryLoad() {
  const target = state.retrySelection;
  clearLoadError();
  if (!target) {
    loadHistory();
    return;
  }
  if (target.symbol !== state.symbol) switchSymbol(target.symbol);
  if (target.timeWindow !== state.timeWindow) switchWindow(target.timeWindow);
}

// ---- feed ------------------------------------------------------------------------

/** Badge for a server that replays recorded data, so nobody takes it for the market. */
function refreshFeed() {
  state.feed = describeFeed(state.config.feed);
  els.feedBadge.hidden = !state.feed.badge;
  els.feedBadge.textContent = state.feed.badge || '';
  els.feedBadge.title = state.feed.title;
  refreshStatus();
}

function showMessage(text) {
  els.message.textContent = text;
  els.message.hidden = !text;
}

// ---- stats ----------------------------------------------------------------------

function drawnWindow() {
  return state.committed ? state.committed.timeWindow : state.timeWindow;
}

function refreshStats() {
  renderStats(els, {
    model,
    renderer,
    symbol: state.symbol,
    // The figures describe what is drawn, also while another window loads.
    timeWindow: drawnWindow(),
    coverage: describeCoverage(model, TIME_WINDOWS[drawnWindow()].windowMs),
    feedNote: state.feed.notMarket ? (state.config.feed.mode === 'demo_replay' ? 'replay' : 'demo') : null,
    source: state.source,
    lastUpdateMs: state.lastUpdateMs,
    nowMs: Date.now(),
  });
}

function refreshLegend() {
  drawLegend(els.legend, els.legendLabels, renderer.scaleMax, renderer.gamma);
}

// ---- history --------------------------------------------------------------------

async function loadHistory() {
  if (state.loading) {
    state.reloadQueued = true;
    return;
  }
  state.loading = true;
  const { symbol, timeWindow } = state;
  const { interval, windowMs } = TIME_WINDOWS[timeWindow];
  const intervalMs = intervalToMs(interval);
  if (!model.ready) showMessage(`Loading ${symbol} ${timeWindow}…`);
  try {
    const [heatmap, klines] = await Promise.all([
      fetchHeatmap({ symbol, timeWindow }),
      fetchKlines({ symbol, timeWindow }).catch((err) => {
        // The heatmap is still useful without candles; draw the price from snapshots.
        console.warn('klines unavailable, drawing price from snapshots:', err.message);
        return { data: [] };
      }),
    ]);
    if (symbol !== state.symbol || timeWindow !== state.timeWindow) {
      // The user switched while this was in flight; load the new selection.
      state.reloadQueued = true;
    } else {
      applyHistory(heatmap, klines, intervalMs, windowMs);
      const restored = state.retrySelection !== null;
      state.committed = { symbol, timeWindow };
      // A reload of the selection we went back to keeps the banner about the one that failed.
      if (!restored) clearLoadError();
    }
  } catch (err) {
    console.error('history load failed:', err);
    // A failure of a selection the user has already left is moot: the newer one is queued.
    if (symbol === state.symbol && timeWindow === state.timeWindow) historyFailed({ symbol, timeWindow }, err);
  } finally {
    state.loading = false;
  }
  const queued = state.pending.splice(0);
  for (const snapshot of queued) applyLiveSnapshot(snapshot);
  refreshStats();
  if (state.reloadQueued) {
    state.reloadQueued = false;
    loadHistory();
  }
}

function applyHistory(heatmap, klines, intervalMs, windowMs) {
  const snapshots = Array.isArray(heatmap.data) ? heatmap.data : [];
  const meta = heatmap.meta || {};
  const candles = Array.isArray(klines.data) ? klines.data : [];
  // The window ends at the newest bar we have (demo data is historical, so
  // never the browser clock); meta.end_time only anchors an empty window.
  const anchor = Date.parse(meta.end_time);
  const loaded = model.loadHistory({
    snapshots,
    candles,
    intervalMs,
    capacity: windowMs / intervalMs,
    anchorMs: snapshots.length === 0 && candles.length === 0 && Number.isFinite(anchor) ? anchor : null,
    levelStep: Number(meta.price_bin_size) > 0 ? Number(meta.price_bin_size) : 0,
  });
  gapFiller.reset();
  state.refreshPrevious = false;
  state.source = meta.source || state.source;
  state.historyLoads += 1;
  if (snapshots.length > 0) state.lastUpdateMs = Date.now();
  renderer.rebuild(model);
  refreshLegend();
  showMessage(loaded ? '' : `No heatmap data for ${state.symbol} yet.`);
  markers.setSymbol(state.symbol);
  if (model.ready) {
    markers.load(model.startMs, model.startMs + model.capacity * model.intervalMs).catch((err) => console.warn('realised liquidations unavailable:', err.message));
  }
}

// ---- live data ------------------------------------------------------------------

function applyLiveSnapshot(message) {
  if (message.symbol !== state.symbol || !message.data) return;
  if (state.loading) {
    state.pending.push(message);
    if (state.pending.length > PENDING_SNAPSHOTS_MAX) state.pending.shift();
    return;
  }
  if (!model.ready) {
    loadHistory();
    return;
  }
  const previousSlot = model.newestSlot();
  const previousMs = previousSlot >= 0 ? model.slotTimeMs(previousSlot) : NaN;
  let change;
  try {
    change = model.applySnapshot({ ...message.data, timestamp_ms: timestampMs(message.data) });
  } catch (err) {
    state.lastError = `bad snapshot: ${err.message}`;
    return;
  }
  state.lastSnapshot = {
    symbol: message.symbol,
    seq: message.seq,
    epoch: message.epoch,
    timestamp: message.timestamp || message.data.timestamp,
    source: message.source,
    kind: change.kind,
    receivedAtMs: Date.now(),
  };
  if (message.source) state.source = message.source;
  if (change.kind === 'stale') return;
  if (change.kind === 'append' || change.kind === 'shift') {
    // More than one bucket later than the newest column: fetch the ones in between.
    gapFiller.noteAdvance(previousMs, model.slotTimeMs(change.slot), { refreshPrevious: state.refreshPrevious });
  }
  if (change.kind !== 'replace') state.refreshPrevious = false;
  state.liveApplied += 1;
  state.lastUpdateMs = Date.now();
  if (change.outOfRange) {
    // Price left the visible band: re-lay the grid around the new range.
    loadHistory();
    return;
  }
  const rebuildsBefore = renderer.stats.fullRebuilds;
  renderer.update(model, change);
  if (renderer.stats.fullRebuilds !== rebuildsBefore) refreshLegend();
  refreshStats();
}

async function pollOnce() {
  const symbol = state.symbol;
  if (state.loading) return;
  const newest = model.ready ? model.newestSlot() : -1;
  const sinceMs = newest >= 0 ? model.slotTimeMs(newest) : null;
  let body;
  try {
    body = await recentFetcher.fetch({ symbol, timeWindow: state.timeWindow, sinceMs });
  } catch (err) {
    state.pollFailing = true;
    refreshStatus();
    throw err;
  }
  state.pollFailing = false;
  state.pollCount += 1;
  refreshStatus();
  if (symbol !== state.symbol) return;
  const meta = body.meta || {};
  for (const data of body.data || []) {
    applyLiveSnapshot({ type: 'snapshot', symbol, source: meta.source, timestamp: data.timestamp, data });
  }
}

// ---- connection -----------------------------------------------------------------

function wsUrl() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}/ws/heatmap`;
}

/** The server's update pace, but never faster than POLL_INTERVAL_MIN_MS (each poll is a REST query). */
function pollIntervalMs() {
  return Math.max(POLL_INTERVAL_MIN_MS, state.config.ws_update_interval_s * 1000);
}

function startConnection() {
  client = new HeatmapWebSocket(wsUrl(), {
    pollIntervalMs: pollIntervalMs(),
    poll: pollOnce,
    probe: async () => (await probeWebSocket()) !== 'disabled',
    onStatusChange: (status, detail) => {
      state.clientStatus = status;
      state.reconnectAttempt = detail.attempt || 0;
      if (status === 'connected') {
        state.pollFailing = false;
        state.probedThisOutage = false;
        reloadConfigIfMissing();
      }
      if (status === 'reconnecting') probeAfterFailure();
      refreshStatus();
    },
    onSnapshot: applyLiveSnapshot,
    onLiquidation: (message) => {
      if (message.symbol === state.symbol) markers.add([message]);
    },
    onResync: (symbol, reason) => {
      if (symbol !== state.symbol) return;
      console.info(`resync ${symbol}: ${reason}`);
      if (reason === 'seq_gap' && model.ready && !state.loading) {
        // Same stream, some snapshots skipped (a slow read conflated them, or
        // the socket was down): the next snapshot shows which buckets are
        // missing and the gap filler fetches just those.
        state.refreshPrevious = true;
        return;
      }
      loadHistory();
    },
    onWarning: (warning) => {
      if (warning.code === 'SLOW_CONSUMER') {
        state.degradedUntilMs = Date.now() + DEGRADED_HOLD_MS;
        refreshStatus();
      }
      console.warn('server warning', warning);
    },
    onError: (error) => {
      state.lastError = `${error.code}: ${error.message}`;
      if (error.code !== 'POLL_FAILED') console.warn('heatmap connection error', error);
      refreshStatus();
    },
  });
  client.subscribe([state.symbol]);
  return client;
}

async function connectOrPoll() {
  if (state.config.ws_enabled === false) client.startPolling('ws_disabled');
  else client.connect();
}

/**
 * A failed upgrade looks the same to the browser whether the server is down
 * or has WebSockets switched off (close 1006). Ask over plain HTTP once per
 * outage: 503 WS_DISABLED means poll right away instead of burning retries.
 */
async function probeAfterFailure() {
  if (state.probedThisOutage) return;
  state.probedThisOutage = true;
  if ((await probeWebSocket()) === 'disabled' && client.status !== 'connected') client.startPolling('ws_disabled');
}

// ---- controls -------------------------------------------------------------------

function populateSymbols() {
  els.symbol.replaceChildren(
    ...state.config.supported_symbols.map((symbol) => {
      const option = document.createElement('option');
      option.value = symbol;
      option.textContent = symbol;
      return option;
    }),
  );
  els.symbol.value = state.symbol;
}

function selectWindowButton() {
  for (const button of els.windowButtons) button.setAttribute('aria-pressed', String(button.dataset.window === state.timeWindow));
}

function rememberSelection() {
  const url = new URL(location.href);
  url.searchParams.set('symbol', state.symbol);
  url.searchParams.set('window', state.timeWindow);
  history.replaceState(null, '', url);
}

function switchSymbol(symbol) {
  if (symbol === state.symbol) return;
  const previous = state.symbol;
  if (state.historyError !== null) clearLoadError();
  state.symbol = symbol;
  state.lastSnapshot = null;
  state.pending = [];
  model.clear();
  gapFiller.reset();
  renderer.view = null;
  refreshZoomHint();
  renderer.rebuild(model);
  refreshStats();
  client.unsubscribe([previous]);
  client.subscribe([symbol]);
  rememberSelection();
  loadHistory();
}

function switchWindow(timeWindow) {
  if (timeWindow === state.timeWindow || !TIME_WINDOWS[timeWindow]) return;
  if (state.historyError !== null) clearLoadError();
  state.timeWindow = timeWindow;
  renderer.view = null;
  refreshZoomHint();
  selectWindowButton();
  rememberSelection();
  loadHistory();
}

let refreshZoomHint = () => {};

function wireControls() {
  els.symbol.addEventListener('change', () => switchSymbol(els.symbol.value));
  for (const button of els.windowButtons) button.addEventListener('click', () => switchWindow(button.dataset.window));
  els.loadErrorRetry.addEventListener('click', retryLoad);
  els.loadErrorDismiss.addEventListener('click', clearLoadError);

  ({ refreshZoomHint } = wireChartInteraction(els, renderer, model));

  new ResizeObserver(() => {
    renderer.resize();
    refreshLegend();
  }).observe(els.wrap);

  // Close the socket deliberately so the server frees the slot at once.
  window.addEventListener('pagehide', () => client && client.disconnect());
  // Back/forward cache restored the page: the socket was closed on pagehide.
  window.addEventListener('pageshow', (event) => {
    if (!event.persisted || !client) return;
    loadHistory();
    connectOrPoll();
  });
}

// ---- start ----------------------------------------------------------------------

/** Server config; on failure the defaults stay and it is fetched again once the socket is live. */
async function loadConfig() {
  state.configAttemptMs = Date.now();
  try {
    state.config = await fetchConfig();
    state.configLoaded = true;
  } catch (err) {
    state.lastError = err.message;
    console.warn('config unavailable, using defaults:', err.message);
  }
}

async function reloadConfigIfMissing() {
  if (state.configLoaded || Date.now() - state.configAttemptMs < CONFIG_RETRY_MS) return;
  await loadConfig();
  if (!state.configLoaded) return;
  populateSymbols();
  refreshFeed();
  // The symbol asked for in the URL may only now be known to be supported.
  const wanted = urlSymbol();
  if (wanted !== state.symbol && state.config.supported_symbols.includes(wanted)) switchSymbol(wanted);
}

function urlSymbol() {
  return (new URLSearchParams(location.search).get('symbol') || '').toUpperCase();
}

async function main() {
  refreshStatus();
  await loadConfig();
  const params = new URLSearchParams(location.search);
  const wantedSymbol = urlSymbol();
  state.symbol = state.config.supported_symbols.includes(wantedSymbol) ? wantedSymbol : state.config.supported_symbols[0];
  const wantedWindow = params.get('window');
  if (TIME_WINDOWS[wantedWindow]) state.timeWindow = wantedWindow;
  populateSymbols();
  selectWindowButton();
  refreshFeed();
  wireControls();
  renderer.resize();
  await loadHistory();
  startConnection();
  await connectOrPoll();
  feedIndicator.start();
  setInterval(() => {
    refreshStats();
    refreshStatus();
    reloadConfigIfMissing();
  }, STATS_REFRESH_MS);
}

main();
