// End-to-end: the real server binary + headless Chromium (playwright-core).
//
// Run from the repository root after `cargo build --release` and
// `npm install --prefix tests/frontend`:
//   node --test tests/frontend/e2e/heatmap.e2e.mjs
// Env: LHM_BIN (server binary; default $CARGO_TARGET_DIR/release/liquidationheatmap,
// CARGO_TARGET_DIR defaulting to $HOME/.cache/liquidationheatmap/target),
// CHROMIUM_PATH (default /usr/bin/chromium).
// Screenshots of each state go to test-artifacts/screenshots/, server logs to
// test-artifacts/logs/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

import { CHROMIUM, CHROMIUM_ARGS, LOG_DIR, REPO, SCREENSHOT_DIR, SERVER_BIN } from './env.mjs';
import { freePort, sleep, waitFor } from './wait.mjs';


// Bounds on every wait. The server's first start loads the demo data into a
// fresh DuckDB file, which is the slowest step.
const HEALTH_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 10_000;
const PAGE_READY_TIMEOUT_MS = 30_000;
const LIVE_UPDATE_TIMEOUT_MS = 20_000;
const STATUS_RED_TIMEOUT_MS = 30_000;
// Recovery normally takes one poll interval (a poll that works again makes
// the page retry the socket at once); the slow background retry (45 s +/- 20 %)
// is the upper bound.
const STATUS_GREEN_AGAIN_TIMEOUT_MS = 70_000;
const VIEWPORT = { width: 1400, height: 820 };


const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lhm-e2e-'));
let browser = null; // a persistent BrowserContext
let server = null;
let port = 0;
let page = null;

// `after` stops the server and removes the folder; should the process end before it runs (a
// crash, SIGINT or SIGTERM), this does, so no run leaves a server or a folder behind.
process.once('exit', () => {
  if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  fs.rmSync(tmpDir, { recursive: true, force: true });
});
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) process.once(signal, () => process.exit(code));


async function startServer({ serverPort, extraEnv = {}, label }) {
  assert.ok(fs.existsSync(SERVER_BIN), `server binary not found at ${SERVER_BIN}; run cargo build --release or set LHM_BIN`);
  fs.mkdirSync(LOG_DIR, { recursive: true });
  const log = fs.openSync(path.join(LOG_DIR, `server-${label}.log`), 'w');
  const env = {
    ...process.env,
    PORT: String(serverPort),
    HOST: '127.0.0.1',
    DUCKDB_PATH: path.join(tmpDir, 'heatmap.duckdb'),
    FRONTEND_DIR: path.join(REPO, 'frontend'),
    WS_UPDATE_INTERVAL: '1',
    // The brief names the replay pace DEMO_REPLAY_INTERVAL_MS; the server's
    // config reads DEMO_REPLAY_INTERVAL in seconds. Set both to one second.
    DEMO_REPLAY_INTERVAL_MS: '1000',
    DEMO_REPLAY_INTERVAL: '1',
    ...extraEnv,
  };
  // cwd = the temp dir: the server reads ./.env, and a developer's .env in
  // the repository must not change what the test runs against.
  const child = spawn(SERVER_BIN, [], { cwd: tmpDir, env, stdio: ['ignore', log, log] });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.exited = exited;
  let exitInfo = null;
  exited.then((info) => {
    exitInfo = info;
  });
  await waitFor(`GET /health on port ${serverPort}`, HEALTH_TIMEOUT_MS, async () => {
    if (exitInfo) throw new Error(`server exited early: ${JSON.stringify(exitInfo)} (see test-artifacts/logs/server-${label}.log)`);
    const response = await fetch(`http://127.0.0.1:${serverPort}/health`);
    if (!response.ok) return false;
    const body = await response.json();
    return body.status === 'ok';
  });
  return child;
}

async function stopServer(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const stopped = await Promise.race([child.exited, sleep(STOP_TIMEOUT_MS).then(() => null)]);
  if (!stopped) {
    child.kill('SIGKILL');
    await child.exited;
  }
}

async function screenshot(name) {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`) });
}

/** Reads the diagnostics object the page exposes for tests. */
function diagnostics() {
  return page.evaluate(() => {
    const d = window.__heatmap;
    if (!d) return null;
    const out = {};
    for (const key of Object.keys(Object.getOwnPropertyDescriptors(d))) out[key] = d[key];
    return out;
  });
}

function pillState() {
  return page.evaluate(() => {
    const el = document.getElementById('connection-status');
    return { state: el.dataset.state, tone: el.dataset.tone, label: el.textContent.trim() };
  });
}

/**
 * Share of sampled pixels in the plot that carry heat colour (the palette's
 * blue/teal/green/yellow, clearly brighter than the dark background), and
 * the number of distinct colours seen.
 */
function heatPixelStats() {
  return page.evaluate(() => {
    const canvas = document.getElementById('heatmap-canvas');
    const ctx = canvas.getContext('2d');
    // Plot area: leave out the price axis on the right and time axis below.
    const w = Math.floor(canvas.width * 0.85);
    const h = Math.floor(canvas.height * 0.85);
    const { data } = ctx.getImageData(0, 0, w, h);
    let heat = 0;
    let samples = 0;
    const colours = new Set();
    for (let y = 10; y < h; y += 7) {
      for (let x = 0; x < w; x += 7) {
        const i = (y * w + x) * 4;
        const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
        samples++;
        colours.add((r << 16) | (g << 8) | b);
        if (g > 60 || b > 100) heat++;
      }
    }
    return { heatShare: heat / samples, distinctColours: colours.size };
  });
}

async function openPage(url) {
  page = await browser.newPage();
  page.on('pageerror', (err) => {
    pageErrors.push(err.message);
  });
  page.on('request', (request) => requestedUrls.push(request.url()));
  page.on('websocket', (ws) => requestedUrls.push(ws.url()));
  await page.goto(url);
  await waitFor('history rendered', PAGE_READY_TIMEOUT_MS, async () => {
    const d = await diagnostics();
    return d && !d.loading && d.columns > 0 && d.renderCount > 0 ? d : false;
  });
}

const pageErrors = [];
const requestedUrls = [];

before(async () => {
  port = await freePort();
  server = await startServer({ serverPort: port, label: 'main' });
  // A fresh profile directory per run (playwright passes it as --user-data-dir).
  browser = await chromium.launchPersistentContext(path.join(tmpDir, 'chromium-profile'), {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    viewport: VIEWPORT,
  });
});

after(async () => {
  if (browser) await browser.close();
  await stopServer(server);
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

test('the page loads and draws a non-empty heatmap', async () => {
  await openPage(`http://127.0.0.1:${port}/`);
  const stats = await heatPixelStats();
  await screenshot('01-loaded');
  assert.ok(stats.heatShare > 0.05, `only ${(stats.heatShare * 100).toFixed(1)} % of the plot shows heat colours`);
  assert.ok(stats.distinctColours > 20, `only ${stats.distinctColours} distinct colours: no density gradient drawn`);
  const d = await diagnostics();
  console.log(`history: ${d.columns}/${d.capacity} columns, full repaint ${d.lastRebuildMs.toFixed(1)} ms, composite ${d.lastCompositeMs.toFixed(1)} ms`);
  assert.deepEqual(pageErrors, []);
});

test('every request the page makes goes to our server', async () => {
  const ours = [`http://127.0.0.1:${port}/`, `ws://127.0.0.1:${port}/`];
  await waitFor('the WebSocket to be opened', PAGE_READY_TIMEOUT_MS, async () => requestedUrls.some((u) => u.startsWith('ws://')));
  const foreign = requestedUrls.filter((u) => !ours.some((prefix) => u.startsWith(prefix)));
  assert.deepEqual(foreign, []);
  assert.ok(requestedUrls.some((u) => u.endsWith('/js/app.js')), 'the page scripts were not loaded from our server');
});

test('the connection status turns green once the WebSocket is live', async () => {
  const pill = await waitFor('status live', PAGE_READY_TIMEOUT_MS, async () => {
    const p = await pillState();
    return p.state === 'live' ? p : false;
  });
  assert.equal(pill.tone, 'ok');
  const dot = await page.evaluate(() => getComputedStyle(document.querySelector('#connection-status .status-dot')).backgroundColor);
  const [r, g, b] = dot.match(/\d+/g).map(Number);
  assert.ok(g > 150 && g > r + 60 && g > b + 60, `status dot is not green: ${dot}`);
  await screenshot('02-live');
});

test('a live snapshot updates the newest column without a full repaint', async () => {
  const before = await diagnostics();
  const after = await waitFor('a new live snapshot', LIVE_UPDATE_TIMEOUT_MS, async () => {
    const d = await diagnostics();
    const advanced = d.lastSnapshot && (!before.lastSnapshot || d.lastSnapshot.seq !== before.lastSnapshot.seq);
    return advanced && d.renderCount > before.renderCount && d.liveApplied > before.liveApplied ? d : false;
  });
  assert.equal(after.lastSnapshot.symbol, 'BTCUSDT');
  assert.ok(after.columnPaints > before.columnPaints, 'no column was painted for the live snapshot');
  assert.equal(after.fullRebuilds, before.fullRebuilds, 'the live snapshot repainted the whole heatmap');
  const snapshotBucket = Date.parse(after.lastSnapshot.timestamp);
  assert.ok(after.newestColumnTimeMs <= snapshotBucket && snapshotBucket - after.newestColumnTimeMs < 300_000,
    `newest column ${after.newestColumnTimeMs} does not hold the snapshot at ${after.lastSnapshot.timestamp}`);
  await screenshot('03-live-update');
});

test('compression: the WebSocket negotiates permessage-deflate, snapshots decode, HTTP answers come gzip', async () => {
  // A browser of its own, so its cache is empty and every answer is a full 200 (not a 304).
  const fresh = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const context = await fresh.newContext({ viewport: VIEWPORT });
    const other = await context.newPage();
    const cdp = await context.newCDPSession(other);
    await cdp.send('Network.enable');
    const handshakes = [];
    const frames = [];
    cdp.on('Network.webSocketHandshakeResponseReceived', (e) => handshakes.push(e.response.headers));
    // Chromium reports a frame's payload after inflating it.
    cdp.on('Network.webSocketFrameReceived', (e) => frames.push(e.response.payloadData));
    const encodings = new Map();
    other.on('response', async (response) => {
      const headers = await response.allHeaders().catch(() => ({}));
      encodings.set(new URL(response.url()).pathname, `${response.status()} ${headers['content-encoding'] || 'identity'}`);
    });
    await other.goto(`http://127.0.0.1:${port}/`);
    const snapshot = await waitFor('a snapshot over the WebSocket', LIVE_UPDATE_TIMEOUT_MS, async () => {
      const text = frames.find((p) => p.includes('"type":"snapshot"'));
      return text ? JSON.parse(text) : false;
    });
    assert.equal(snapshot.symbol, 'BTCUSDT');
    assert.ok(snapshot.seq >= 1 && snapshot.data, 'the inflated snapshot is a whole message');
    const extensions = handshakes.map((h) => Object.entries(h).find(([k]) => k.toLowerCase() === 'sec-websocket-extensions')?.[1]);
    assert.ok(extensions.some((v) => v && v.includes('permessage-deflate')), `negotiated: ${JSON.stringify(extensions)}`);
    // The page applied what it received: its diagnostics show a live snapshot.
    const applied = await waitFor('the page to apply a live snapshot', LIVE_UPDATE_TIMEOUT_MS, async () =>
      other.evaluate(() => (window.__heatmap && window.__heatmap.liveApplied > 0 ? window.__heatmap.liveApplied : false)));
    assert.ok(applied > 0);
    assert.equal(encodings.get('/js/app.js'), '200 gzip', JSON.stringify([...encodings]));
    assert.equal(encodings.get('/liquidations/heatmap-timeseries'), '200 gzip', JSON.stringify([...encodings]));
    await context.close();
  } finally {
    await fresh.close();
  }
});

test('hovering the heatmap shows time, price and long/short USD', async () => {
  const box = await page.locator('#heatmap-canvas').boundingBox();
  await page.mouse.move(box.x + box.width * 0.7, box.y + box.height * 0.45);
  const text = await waitFor('tooltip', 5000, async () => {
    const visible = await page.locator('#tooltip').isVisible();
    return visible ? page.locator('#tooltip').innerText() : false;
  });
  assert.match(text, /UTC/);
  assert.match(text, /Long liquidations\s+-?\$[\d.]+[KMBT]?/);
  assert.match(text, /Short liquidations\s+-?\$[\d.]+[KMBT]?/);
  await screenshot('04-tooltip');
  await page.mouse.move(2, 2);
});

test('wheel zooms time and price, double-click resets the view', async () => {
  const box = await page.locator('#heatmap-canvas').boundingBox();
  const rangeBefore = await page.locator('#stat-range').innerText();
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
  for (let i = 0; i < 4; i++) await page.mouse.wheel(0, -240);
  await waitFor('reset button shown', 5000, async () => page.locator('#zoom-reset').isVisible());
  await page.keyboard.down('Shift');
  for (let i = 0; i < 4; i++) await page.mouse.wheel(0, -240);
  await page.keyboard.up('Shift');
  await waitFor('price range narrowed', 5000, async () => (await page.locator('#stat-range').innerText()) !== rangeBefore);
  await screenshot('05-zoomed');
  await page.mouse.dblclick(box.x + box.width * 0.5, box.y + box.height * 0.5);
  await waitFor('reset button hidden', 5000, async () => !(await page.locator('#zoom-reset').isVisible()));
  await waitFor('full price range back', 5000, async () => (await page.locator('#stat-range').innerText()) === rangeBefore);
  await page.mouse.move(2, 2);
});

test('switching the symbol loads the other symbol and streams it', async () => {
  const config = await (await fetch(`http://127.0.0.1:${port}/api/config`)).json();
  const other = config.supported_symbols.find((s) => s !== 'BTCUSDT');
  assert.ok(other, `server offers only ${JSON.stringify(config.supported_symbols)}; need two symbols`);
  const options = await page.locator('#symbol-select option').allTextContents();
  assert.deepEqual(options, config.supported_symbols);
  const before = await diagnostics();
  await page.selectOption('#symbol-select', other);
  const after = await waitFor(`${other} streaming`, PAGE_READY_TIMEOUT_MS, async () => {
    const d = await diagnostics();
    return d.symbol === other && !d.loading && d.historyLoads > before.historyLoads && d.columns > 0 &&
      d.lastSnapshot && d.lastSnapshot.symbol === other ? d : false;
  });
  assert.equal(after.state, 'live');
  const stats = await heatPixelStats();
  assert.ok(stats.heatShare > 0.05, `${other} heatmap looks empty`);
  await screenshot('06-other-symbol');
  await page.selectOption('#symbol-select', 'BTCUSDT');
  await waitFor('back on BTCUSDT', PAGE_READY_TIMEOUT_MS, async () => {
    const d = await diagnostics();
    return d.symbol === 'BTCUSDT' && !d.loading && d.columns > 0;
  });
});

test('the 7d window shows a week anchored to the newest data', async () => {
  await page.click('#window-select button[data-window="7d"]');
  const d = await waitFor('7d window', PAGE_READY_TIMEOUT_MS, async () => {
    const x = await diagnostics();
    return x.timeWindow === '7d' && !x.loading && x.columns > 0 ? x : false;
  });
  console.log(`7d: ${d.columns}/${d.capacity} columns, full repaint ${d.lastRebuildMs.toFixed(1)} ms, composite ${d.lastCompositeMs.toFixed(1)} ms`);
  assert.equal(d.capacity, (7 * 24 * 60) / 15);
  assert.ok(d.columns > d.capacity / 2, `7d window has only ${d.columns} of ${d.capacity} columns: not anchored to the data`);
  await screenshot('07-window-7d');
  await page.click('#window-select button[data-window="48h"]');
  await waitFor('48h window', PAGE_READY_TIMEOUT_MS, async () => {
    const x = await diagnostics();
    return x.timeWindow === '48h' && !x.loading && x.columns > 0;
  });
});

test('the demo says it is a replay of its recorded period, not the market', async () => {
  const config = await (await fetch(`http://127.0.0.1:${port}/api/config`)).json();
  assert.equal(config.feed.mode, 'demo_replay');
  const badge = await waitFor('replay badge', PAGE_READY_TIMEOUT_MS, async () => {
    const visible = await page.locator('#feed-badge').isVisible();
    return visible ? page.locator('#feed-badge').innerText() : false;
  });
  assert.equal(badge, 'Replay of 2026-06-07 – 06-14');
  assert.match(await page.locator('#feed-badge').getAttribute('title'), /not live market data/);
  const pill = await pillState();
  assert.equal(pill.state, 'live');
  assert.doesNotMatch(pill.label, /Live/, 'a replay must not be labelled Live');
  assert.match(pill.label, /Replay/);
  assert.match(await page.locator('#stat-updated').innerText(), /ago · replay$/);
  assert.equal((await diagnostics()).feedMode, 'demo_replay');
});

test('a failed history load goes back to the drawn window and says what failed', async () => {
  const before = await diagnostics();
  assert.equal(before.timeWindow, '48h');
  // The failure is injected at the network boundary (the connection drops),
  // which a healthy server cannot be made to do on cue; the page code is real.
  const history30d = (url) => url.pathname === '/liquidations/heatmap-timeseries' && url.searchParams.get('time_window') === '30d';
  const failing = (route) => route.abort('connectionreset');
  await page.route(history30d, failing);
  try {
    await page.click('#window-select button[data-window="30d"]');
    const d = await waitFor('the failure handled', PAGE_READY_TIMEOUT_MS, async () => {
      const x = await diagnostics();
      return x.historyError && !x.loading ? x : false;
    });
    assert.equal(d.timeWindow, '48h', 'the selection did not go back to the drawn window');
    assert.deepEqual(d.committed, { symbol: 'BTCUSDT', timeWindow: '48h' });
    assert.equal(d.capacity, 576, 'the 48h chart is still drawn');
    const pressed = await page.locator('#window-select button[aria-pressed="true"]').allInnerTexts();
    assert.deepEqual(pressed, ['48h']);
    assert.equal(new URL(page.url()).searchParams.get('window'), '48h');
    const banner = await page.locator('#load-error').innerText();
    assert.match(banner, /Could not load BTCUSDT 30d history/);
    assert.match(banner, /Showing BTCUSDT 48h instead/);
    const pill = await pillState();
    assert.equal(pill.state, 'history_failed');
    assert.equal(pill.tone, 'warn');
    assert.match(pill.label, /history failed/);
    assert.doesNotMatch(await page.locator('#stat-change').innerText(), /30d/);
    await screenshot('08a-history-failed');
  } finally {
    await page.unroute(history30d, failing);
  }
  await page.click('#load-error-retry');
  const retried = await waitFor('30d after retry', PAGE_READY_TIMEOUT_MS, async () => {
    const x = await diagnostics();
    return x.timeWindow === '30d' && !x.loading && x.committed && x.committed.timeWindow === '30d' ? x : false;
  });
  assert.equal(retried.historyError, null);
  assert.equal(await page.locator('#load-error').isVisible(), false);
  await waitFor('pill no longer reports the failure', 5000, async () => (await pillState()).state === 'live');
});

test('30d over a week of data shows the week and labels figures by the real span', async () => {
  const d = await waitFor('30d drawn', PAGE_READY_TIMEOUT_MS, async () => {
    const x = await diagnostics();
    return x.timeWindow === '30d' && !x.loading && x.coverage ? x : false;
  });
  assert.equal(d.capacity, 720);
  assert.equal(d.coverage.complete, false);
  assert.ok(d.coverage.spanMs <= 8 * 86_400_000, `the demo holds about a week, coverage says ${d.coverage.spanLabel}`);
  assert.deepEqual(d.visibleSlots, { start: d.coverage.firstSlot, end: 720 }, 'the view does not start where the data starts');
  assert.equal(await page.locator('#data-coverage').innerText(), `${d.coverage.spanLabel} of data available`);
  const change = await page.locator('#stat-change').innerText();
  assert.ok(change.endsWith(` ${d.coverage.spanLabel}`), `change "${change}" is not labelled by the data's span`);
  assert.doesNotMatch(change, /30d/);
  // The left quarter of the plot is data, not the dark background of three empty weeks.
  const leftHeat = await page.evaluate(() => {
    const canvas = document.getElementById('heatmap-canvas');
    const { data } = canvas.getContext('2d').getImageData(0, 0, Math.floor(canvas.width * 0.2), Math.floor(canvas.height * 0.8));
    let heat = 0;
    let samples = 0;
    for (let i = 0; i < data.length; i += 4 * 13) {
      samples++;
      if (data[i + 1] > 60 || data[i + 2] > 100) heat++;
    }
    return heat / samples;
  });
  assert.ok(leftHeat > 0.05, `the left fifth of the 30d chart is empty (${(leftHeat * 100).toFixed(1)} % heat)`);
  await screenshot('08b-window-30d');
  await page.click('#window-select button[data-window="48h"]');
  await waitFor('48h window', PAGE_READY_TIMEOUT_MS, async () => {
    const x = await diagnostics();
    return x.timeWindow === '48h' && !x.loading && x.committed.timeWindow === '48h';
  });
  assert.equal(await page.locator('#data-coverage').isVisible(), false, 'a window the data fills needs no coverage note');
});

test('stopping the server turns the status red', async () => {
  await stopServer(server);
  server = null;
  const pill = await waitFor('status red', STATUS_RED_TIMEOUT_MS, async () => {
    const p = await pillState();
    return p.tone === 'bad' ? p : false;
  });
  assert.ok(['disconnected', 'polling'].includes(pill.state), `unexpected state ${pill.state}`);
  await screenshot('08-server-stopped');
});

test('restarting the server on the same port turns the status green again', async () => {
  server = await startServer({ serverPort: port, label: 'restarted' });
  await waitFor('status live again', STATUS_GREEN_AGAIN_TIMEOUT_MS, async () => (await pillState()).state === 'live');
  const before = await diagnostics();
  await waitFor('live data after restart', LIVE_UPDATE_TIMEOUT_MS, async () => {
    const d = await diagnostics();
    return d.liveApplied > before.liveApplied;
  });
  await screenshot('09-server-restarted');
});

test('with WebSockets disabled the page falls back to polling and still shows data', async () => {
  await page.close();
  await stopServer(server);
  server = await startServer({ serverPort: port, extraEnv: { WS_ENABLED: 'false' }, label: 'ws-disabled' });
  await openPage(`http://127.0.0.1:${port}/`);
  const pill = await waitFor('status polling', PAGE_READY_TIMEOUT_MS, async () => {
    const p = await pillState();
    return p.state === 'polling' ? p : false;
  });
  assert.equal(pill.tone, 'bad');
  assert.match(pill.label, /Polling/);
  const before = await diagnostics();
  await waitFor('polls arriving', LIVE_UPDATE_TIMEOUT_MS, async () => (await diagnostics()).pollCount >= before.pollCount + 2);
  const stats = await heatPixelStats();
  assert.ok(stats.heatShare > 0.05, 'polling page shows no heatmap');
  await screenshot('10-polling-fallback');
});

test('bars the stream skipped are filled from REST: no empty column between two received states', async () => {
  // A bar every 0.1 s and an update every 2 s: 20 new bars per update, of
  // which the producer sends the newest 12 (BAR_SNAPSHOTS_PER_UPDATE_MAX), and
  // a burst of 12 snapshots also gets conflated for a browser that reads
  // slower than it is sent. The page must fetch every skipped bar.
  await page.close();
  await stopServer(server);
  server = await startServer({ serverPort: port, extraEnv: { DEMO_REPLAY_INTERVAL: '0.1', WS_UPDATE_INTERVAL: '2' }, label: 'gaps' });
  await openPage(`http://127.0.0.1:${port}/`);
  const start = await waitFor('a first live snapshot', LIVE_UPDATE_TIMEOUT_MS, async () => {
    const x = await diagnostics();
    return x.lastSnapshot ? x : false;
  });
  // The 48h history fills all 576 columns; after 20 more bars of the same
  // replay (the same epoch: a replay starting over reloads the whole history)
  // every column must still hold a state once the page has caught up.
  const d = await waitFor('20 bars later, every column filled', LIVE_UPDATE_TIMEOUT_MS, async () => {
    const x = await diagnostics();
    const sameReplay = x.lastSnapshot.epoch === start.lastSnapshot.epoch;
    const advanced = x.newestColumnTimeMs >= start.newestColumnTimeMs + 20 * 300_000;
    return sameReplay && advanced && !x.loading && x.columns === x.capacity ? x : false;
  });
  console.log(`gap fill: ${d.gapFill.requests} requests, ${d.gapFill.filled} columns, ${d.gapFill.failures} failures`);
  assert.equal(d.holes, 0);
  assert.ok(d.gapFill.filled >= 8, 'the producer sent at most 12 of 20 bars per update, yet nothing was filled');
  assert.equal(d.gapFill.failures, 0);
  await screenshot('11-gaps-filled');
  assert.deepEqual(pageErrors, []);
});
