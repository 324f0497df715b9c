// Pure parts of the realised-liquidation markers and the feed pill.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { SAMPLE_NOTE, describeMarker, markerRadius, toMarker } from '../../../frontend/js/liquidation-markers.js';
import { describeLiveFeed } from '../../../frontend/js/feed-indicator.js';

test('marker radius grows with notional, logarithmically and bounded', () => {
  const small = markerRadius(500);
  const mid = markerRadius(100_000);
  const big = markerRadius(10_000_000);
  assert.equal(small, markerRadius(1000), 'below $1K every marker has the smallest size');
  assert.ok(small < mid && mid < big, `${small} < ${mid} < ${big}`);
  assert.equal(markerRadius(1e15), markerRadius(1e12), 'the largest size is capped');
  assert.equal(markerRadius(NaN), markerRadius(0));
});

test('a WebSocket liquidation message or REST row becomes a marker; bad ones do not', () => {
  const message = { type: 'liquidation', symbol: 'BTCUSDT', time_ms: 1781448960000, side: 'long', price: 62000.5, quantity: 0.25, notional_usd: 15500.125 };
  assert.deepEqual(toMarker(message), { symbol: 'BTCUSDT', timeMs: 1781448960000, side: 'long', price: 62000.5, quantity: 0.25, notional: 15500.125 });
  assert.equal(toMarker({ ...message, side: 'SELL' }), null);
  assert.equal(toMarker({ ...message, price: -1 }), null);
  assert.equal(toMarker({ ...message, time_ms: 'soon' }), null);
});

test('the tooltip names the liquidated side, the amounts, the time and that the stream is a sample', () => {
  const lines = describeMarker({ timeMs: Date.UTC(2026, 5, 14, 14, 56), side: 'short', price: 62100, quantity: 1.5, notional: 93150 });
  assert.equal(lines[0], 'Short liquidated · $93.2K');
  assert.equal(lines[1], '1.5 @ 62,100');
  assert.equal(lines[2], '2026-06-14 14:56 UTC');
  assert.equal(lines[3], SAMPLE_NOTE);
});

test('the feed pill is hidden without a live feed and shows state and data age with one', () => {
  assert.deepEqual(describeLiveFeed(null, 'BTCUSDT'), { hidden: true });
  // /health always has `feed`; without a live feed it only says what the data is.
  assert.deepEqual(describeLiveFeed({ mode: 'demo_replay', period_start: '2026-06-07T00:00:00Z' }, 'BTCUSDT'), { hidden: true });
  const live = describeLiveFeed({ kind: 'binance', state: 'live', symbols: { BTCUSDT: { newest_bar_time: '2026-06-14T14:55:00Z', newest_bar_age_s: 130, degraded: false } } }, 'BTCUSDT');
  assert.equal(live.label, 'Feed: live · data 2m old');
  assert.equal(live.tone, 'ok');
  const stale = describeLiveFeed({ state: 'live', symbols: { BTCUSDT: { newest_bar_age_s: 3600, degraded: true } } }, 'BTCUSDT');
  assert.equal(stale.tone, 'warn');
  assert.equal(describeLiveFeed({ state: 'down', symbols: {} }, 'BTCUSDT').tone, 'bad');
  assert.match(describeLiveFeed({ state: 'backfilling', symbols: {} }, 'BTCUSDT').label, /no data yet/);
});
