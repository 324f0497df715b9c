// REST helpers against a real HTTP server on 127.0.0.1 that answers the way
// the server contract says (status codes and {"error":{code,message}} bodies).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import { ApiError, RecentSnapshotFetcher, fetchJson, heatmapPath, probeWebSocket } from '../../../frontend/js/api.js';

let server;
let base;
const requests = [];
let wsMode = 'enabled';
let rangeMode = 'accepted';

before(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://local');
    requests.push(url);
    const send = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (url.pathname === '/ws/heatmap') {
      if (wsMode === 'disabled') return send(503, { error: { code: 'WS_DISABLED', message: 'off' } });
      if (wsMode === 'full') return send(503, { error: { code: 'SERVER_FULL', message: 'full' } });
      return send(400, { error: { code: 'BAD_REQUEST', message: 'upgrade required' } });
    }
    if (url.pathname === '/liquidations/heatmap-timeseries') {
      if (url.searchParams.has('start_time') && rangeMode === 'unknown') {
        return send(400, { error: { code: 'INVALID_PARAMETER', message: 'unknown parameter "start_time"' } });
      }
      if (url.searchParams.has('start_time') && rangeMode === 'unservable') {
        return send(422, { error: { code: 'INVALID_WINDOW', message: 'start is not before end' } });
      }
      return send(200, { data: [{ timestamp: '2026-06-14T14:55:00Z' }], meta: { path: url.search } });
    }
    if (url.pathname === '/broken') return send(200, 'not json');
    return send(404, { error: { code: 'NOT_FOUND', message: 'no such path' } });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => server.close());

// Page code uses root-relative paths; prefix them with the test server.
const localFetch = (path, init) => fetch(base + path, init);

test('a server error body becomes an ApiError with its code and status', async () => {
  await assert.rejects(fetchJson('/nope', { fetchImpl: localFetch }), (err) => {
    assert.ok(err instanceof ApiError);
    assert.equal(err.status, 404);
    assert.equal(err.code, 'NOT_FOUND');
    assert.match(err.message, /no such path/);
    return true;
  });
});

test('a 200 response that is not JSON is rejected as BAD_JSON', async () => {
  await assert.rejects(fetchJson('/broken', { fetchImpl: localFetch }), (err) => err.code === 'BAD_JSON');
});

test('an unreachable server is reported as NETWORK with status 0', async () => {
  const deadFetch = (path, init) => fetch('http://127.0.0.1:9' + path, init);
  await assert.rejects(fetchJson('/health', { fetchImpl: deadFetch }), (err) => err.code === 'NETWORK' && err.status === 0);
});

test('the probe reports disabled only for 503 WS_DISABLED', async () => {
  wsMode = 'disabled';
  assert.equal(await probeWebSocket({ fetchImpl: localFetch }), 'disabled');
  wsMode = 'full';
  assert.equal(await probeWebSocket({ fetchImpl: localFetch }), 'enabled');
  wsMode = 'enabled';
  assert.equal(await probeWebSocket({ fetchImpl: localFetch }), 'enabled');
});

test('the probe reports an unreachable server as unreachable', async () => {
  const deadFetch = (path, init) => fetch('http://127.0.0.1:9' + path, init);
  assert.equal(await probeWebSocket({ fetchImpl: deadFetch }), 'unreachable');
});

test('heatmap paths carry symbol, interval and the time selection', () => {
  const path = heatmapPath({ symbol: 'BTCUSDT', interval: '5m', timeWindow: '48h' });
  const url = new URL(path, 'http://x');
  assert.equal(url.pathname, '/liquidations/heatmap-timeseries');
  assert.equal(url.searchParams.get('symbol'), 'BTCUSDT');
  assert.equal(url.searchParams.get('interval'), '5m');
  assert.equal(url.searchParams.get('time_window'), '48h');
});

test('polling asks for the range from one bucket before the newest column', async () => {
  rangeMode = 'accepted';
  requests.length = 0;
  const fetcher = new RecentSnapshotFetcher(localFetch);
  const since = Date.UTC(2026, 5, 14, 14, 50);
  await fetcher.fetch({ symbol: 'BTCUSDT', timeWindow: '48h', sinceMs: since });
  assert.equal(requests.length, 1);
  assert.equal(requests[0].searchParams.get('start_time'), '2026-06-14T14:45:00.000Z');
  assert.equal(requests[0].searchParams.get('end_time'), null, 'the end defaults to the newest data');
  assert.equal(requests[0].searchParams.get('time_window'), null);
});

test('a server that does not know the range parameters is polled with the whole window from then on', async () => {
  rangeMode = 'unknown';
  requests.length = 0;
  const fetcher = new RecentSnapshotFetcher(localFetch);
  const body = await fetcher.fetch({ symbol: 'BTCUSDT', timeWindow: '48h', sinceMs: Date.UTC(2026, 5, 14) });
  assert.equal(body.data.length, 1);
  await fetcher.fetch({ symbol: 'BTCUSDT', timeWindow: '48h', sinceMs: Date.UTC(2026, 5, 14) });
  assert.deepEqual(requests.map((u) => u.searchParams.has('start_time')), [true, false, false]);
  assert.equal(requests[2].searchParams.get('time_window'), '48h');
  rangeMode = 'accepted';
});

test('a range the server cannot serve now falls back to the window for that poll only', async () => {
  rangeMode = 'unservable';
  requests.length = 0;
  const fetcher = new RecentSnapshotFetcher(localFetch);
  await fetcher.fetch({ symbol: 'BTCUSDT', timeWindow: '48h', sinceMs: Date.UTC(2026, 5, 14) });
  rangeMode = 'accepted';
  await fetcher.fetch({ symbol: 'BTCUSDT', timeWindow: '48h', sinceMs: Date.UTC(2026, 5, 14) });
  assert.deepEqual(requests.map((u) => u.searchParams.has('start_time')), [true, false, true]);
});
