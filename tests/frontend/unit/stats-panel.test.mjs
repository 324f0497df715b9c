// The stats row's labels, rendered into plain objects standing in for the
// DOM elements (renderStats only sets textContent, hidden, title, dataset).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { renderStats } from '../../../frontend/js/stats-panel.js';
import { describeCoverage } from '../../../frontend/js/data-coverage.js';
import { HeatmapModel } from '../../../frontend/js/heatmap-model.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 5, 7);

function elements() {
  const names = ['statSymbol', 'statPrice', 'statChange', 'statLong', 'statShort', 'statSource', 'statUpdated', 'statRange', 'coverage'];
  return Object.fromEntries(names.map((n) => [n, { textContent: '', hidden: false, title: '', dataset: {} }]));
}

/** `hours` hourly columns, price rising from 100 to 110, in a window of `capacity` hours. */
function drawn(hours, capacity) {
  const model = new HeatmapModel();
  const snapshots = [];
  for (let i = 0; i < hours; i++) {
    const price = 100 + (10 * i) / (hours - 1);
    snapshots.push({ timestamp_ms: T0 + i * HOUR, current_price: price, levels: [{ price: 90, long_density: 5, short_density: 3 }] });
  }
  model.loadHistory({ snapshots, intervalMs: HOUR, capacity });
  const renderer = {
    model,
    latestClose: (m) => m.candles[m.newestSlot()].close,
    priceRange: () => ({ low: 80, high: 120 }),
  };
  return { model, renderer };
}

function render(hours, capacity, timeWindow, windowMs, feedNote = null) {
  const els = elements();
  const { model, renderer } = drawn(hours, capacity);
  renderStats(els, {
    model,
    renderer,
    symbol: 'BTCUSDT',
    timeWindow,
    coverage: describeCoverage(model, windowMs),
    feedNote,
    source: 'binance',
    lastUpdateMs: 1000,
    nowMs: 4000,
  });
  return els;
}

test('30d over a week of data labels the change by the week and says how much data there is', () => {
  const els = render(7 * 24, 30 * 24, '30d', 30 * DAY);
  assert.equal(els.statChange.textContent, '+10.00% 7d');
  assert.equal(els.coverage.hidden, false);
  assert.equal(els.coverage.textContent, '7d of data available');
});

test('a window the data fills is labelled by its name and shows no coverage note', () => {
  const els = render(48, 48, '48h', 48 * HOUR);
  assert.equal(els.statChange.textContent, '+10.00% 48h');
  assert.equal(els.coverage.hidden, true);
});

test('a demo replay marks source and last update', () => {
  const els = render(48, 48, '48h', 48 * HOUR, 'replay');
  assert.equal(els.statSource.textContent, 'binance · replay');
  assert.equal(els.statUpdated.textContent, '3s ago · replay');
});
