// End-to-end on the live feed: the fake exchange (examples/fake_exchange,
// tests/support/fake_exchange.rs) on loopback -> the server with FEED=binance
// -> headless Chromium. Covers the realised-liquidation markers and the feed
// pill next to the connection status.
//
// Run from the repository root after `cargo build --release --all-targets`:
//   node --test tests/frontend/e2e/live_feed.e2e.mjs
// Env: LHM_BIN, LHM_FAKE_EXCHANGE_BIN (default $CARGO_TARGET_DIR/release/examples/fake_exchange),
// CHROMIUM_PATH. Screenshots go to test-artifacts/screenshots/, logs to test-artifacts/logs/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

import { chromium } from 'playwright-core';

import { CHROMIUM, CHROMIUM_ARGS, LOG_DIR, REPO, SCREENSHOT_DIR, SERVER_BIN, TARGET_DIR } from './env.mjs';
import { freePort, sleep, waitFor } from './wait.mjs';

const FAKE_BIN = process.env.LHM_FAKE_EXCHANGE_BIN || path.join(TARGET_DIR, 'release/examples/fake_exchange');

const START_TIMEOUT_MS = 60_000;
const MARKERS_TIMEOUT_MS = 40_000;
const STOP_TIMEOUT_MS = 10_000;
// Bars the fake exchange publishes after start, one every BAR_EVERY_MS, each
// with a long and a short liquidation inside it.
const FUTURE_BARS = 6;
const BAR_EVERY_MS = 1500;

const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lhm-live-e2e-'));
const children = [];
let browser = null;
let page = null;
let port = 0;

function launch(bin, args, env, label) {
  assert.ok(fs.existsSync(bin), `${bin} not found; run cargo build --release --all-targets`);
  fs.mkdirSync(LOG_DIR, { recursive: true });
  const log = fs.openSync(path.join(LOG_DIR, `${label}.log`), 'w');
  const child = spawn(bin, args, { cwd: tmpDir, env, stdio: ['ignore', 'pipe', log] });
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  children.push(child);
  return child;
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  if (!(await Promise.race([child.exited, sleep(STOP_TIMEOUT_MS).then(() => null)]))) {
    child.kill('SIGKILL');
    await child.exited;
  }
}

/** Starts the fake exchange and returns its stream and REST base URLs. */
async function startFakeExchange() {
  const child = launch(FAKE_BIN, ['--history', '600', '--bars', String(FUTURE_BARS), '--every-ms', String(BAR_EVERY_MS)], process.env, 'fake-exchange');
  const lines = readline.createInterface({ input: child.stdout });
  const first = await Promise.race([
    new Promise((resolve) => lines.once('line', resolve)),
    sleep(START_TIMEOUT_MS).then(() => ''),
  ]);
  const match = /ws=(\S+) rest=(\S+)/.exec(first);
  assert.ok(match, `the fake exchange printed ${JSON.stringify(first)}`);
  return { ws: match[1], rest: match[2] };
}

before(async () => {
  const fake = await startFakeExchange();
  port = await freePort();
  const server = launch(SERVER_BIN, ['serve'], {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: String(port),
    DUCKDB_PATH: path.join(tmpDir, 'live.duckdb'),
    FRONTEND_DIR: path.join(REPO, 'frontend'),
    FEED: 'binance',
    FEED_WS_URL: fake.ws,
    FEED_REST_URL: fake.rest,
    SUPPORTED_SYMBOLS: 'BTCUSDT',
    WARMUP_DAYS: '3',
    FEED_OI_WAIT: '20',
    WS_UPDATE_INTERVAL: '0.5',
  }, 'server-live');
  server.stdout.resume();
  await waitFor('the feed to apply its backfill', START_TIMEOUT_MS, async () => {
    const body = await (await fetch(`http://127.0.0.1:${port}/health`)).json();
    return body.feed && body.feed.symbols.BTCUSDT.newest_bar_time ? body : false;
  });
  browser = await chromium.launchPersistentContext(path.join(tmpDir, 'chromium-profile'), {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 820 },
  });
  page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${port}/`);
});

after(async () => {
  if (browser) await browser.close();
  for (const child of children.reverse()) await stop(child);
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

test('realised liquidations streamed by the feed are drawn as markers with a tooltip', async () => {
  const drawn = await waitFor('markers of both sides drawn', MARKERS_TIMEOUT_MS, async () => {
    const d = await page.evaluate(() => window.__liquidations && window.__liquidations.drawn);
    return d && d.some((m) => m.side === 'long') && d.some((m) => m.side === 'short') ? d : false;
  });
  // The long liquidation (2.5 BTC) is larger than the short one (1 BTC) at a similar price.
  const long = drawn.filter((m) => m.side === 'long').at(-1);
  const short = drawn.filter((m) => m.side === 'short').at(-1);
  assert.ok(long.radius > short.radius, `long ${long.radius}px > short ${short.radius}px`);
  // Different colours by side, read back from the marker layer's pixels.
  const colours = await page.evaluate(([a, b]) => {
    const layer = document.getElementById('liquidation-layer');
    const ctx = layer.getContext('2d');
    const dpr = layer.width / layer.clientWidth;
    const at = (m) => Array.from(ctx.getImageData(Math.round(m.x * dpr), Math.round(m.y * dpr), 1, 1).data);
    return [at(a), at(b)];
  }, [long, short]);
  assert.notDeepEqual(colours[0], colours[1], `long ${colours[0]} vs short ${colours[1]}`);
  assert.ok(colours[0][3] > 0 && colours[1][3] > 0, 'both markers are painted');

  const box = await page.locator('#liquidation-layer').boundingBox();
  await page.mouse.move(box.x + long.x, box.y + long.y);
  const tooltip = await waitFor('the marker tooltip', 5000, async () => {
    const t = await page.evaluate(() => {
      const el = document.getElementById('liquidation-tooltip');
      return el && !el.hidden ? el.textContent : '';
    });
    return t || false;
  });
  assert.match(tooltip, /Long liquidated/);
  assert.match(tooltip, /at most one liquidation per symbol per second/);
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'live-feed-markers.png') });
});

test('the feed pill shows the feed state and the age of its data', async () => {
  const pill = await waitFor('the feed pill to say live', MARKERS_TIMEOUT_MS, async () => {
    const p = await page.evaluate(() => {
      const el = document.getElementById('feed-status');
      return el && !el.hidden ? { label: el.textContent.trim(), state: el.dataset.state, tone: el.dataset.tone } : null;
    });
    return p && p.state === 'live' ? p : false;
  });
  assert.match(pill.label, /^Feed: live · data \d+[smh] old$/);
  // A page without a live feed (FEED=demo) keeps the pill hidden: covered by the unit test of
  // describeLiveFeed; here /health's feed object is what the pill shows.
  const health = await (await fetch(`http://127.0.0.1:${port}/health`)).json();
  assert.equal(health.feed.state, 'live');
});
