import { test } from 'node:test';
import assert from 'node:assert/strict';

import { describeFeed, periodLabel } from '../../../frontend/js/feed.js';

const REPLAY = {
  mode: 'demo_replay',
  period_start: '2026-06-07T00:00:00Z',
  period_end: '2026-06-14T11:35:00Z',
  replay_interval_s: 3,
};

test('a demo replay gets a badge naming the replayed period', () => {
  const feed = describeFeed(REPLAY);
  assert.equal(feed.notMarket, true);
  assert.equal(feed.badge, 'Replay of 2026-06-07 – 06-14');
  assert.match(feed.title, /not live market data/);
  assert.match(feed.title, /2026-06-07 00:00 UTC – 2026-06-14 11:35 UTC/);
  assert.match(feed.title, /one bar every 3 s/);
});

test('recorded demo data without a replay is still marked as demo', () => {
  const feed = describeFeed({ ...REPLAY, mode: 'demo' });
  assert.equal(feed.notMarket, true);
  assert.equal(feed.badge, 'Demo data of 2026-06-07 – 06-14');
});

test('synthetic load-test snapshots are marked as synthetic', () => {
  assert.equal(describeFeed({ mode: 'synthetic_load' }).badge, 'Synthetic test data');
});

test('stored market data and servers without a feed field get no badge', () => {
  for (const feed of [{ mode: 'stored' }, null, undefined, {}, { mode: 42 }]) {
    assert.deepEqual(describeFeed(feed), { notMarket: false, badge: null, title: '' });
  }
});

test('a period across a new year repeats the year', () => {
  assert.equal(periodLabel(Date.UTC(2026, 11, 28), Date.UTC(2027, 0, 3)), '2026-12-28 – 2027-01-03');
});
