import { test } from 'node:test';
import assert from 'node:assert/strict';

import { describeCoverage } from '../../../frontend/js/data-coverage.js';
import { HeatmapModel } from '../../../frontend/js/heatmap-model.js';
import { formatSpan } from '../../../frontend/js/format.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 5, 7);

function hourly(count) {
  const snapshots = [];
  for (let i = 0; i < count; i++) {
    snapshots.push({ timestamp_ms: T0 + i * HOUR, current_price: 100, levels: [{ price: 90, long_density: 1, short_density: 0 }] });
  }
  return snapshots;
}

test('a 30d window over a week of data covers 7d and says so', () => {
  const model = new HeatmapModel();
  model.loadHistory({ snapshots: hourly(7 * 24), intervalMs: HOUR, capacity: 30 * 24 });
  const coverage = describeCoverage(model, 30 * DAY);
  assert.equal(coverage.firstSlot, 30 * 24 - 7 * 24);
  assert.equal(coverage.spanMs, 7 * DAY);
  assert.equal(coverage.complete, false);
  assert.equal(coverage.spanLabel, '7d');
});

test('a window the data fills is complete', () => {
  const model = new HeatmapModel();
  model.loadHistory({ snapshots: hourly(48), intervalMs: HOUR, capacity: 48 });
  const coverage = describeCoverage(model, 48 * HOUR);
  assert.equal(coverage.firstSlot, 0);
  assert.equal(coverage.complete, true);
  assert.equal(coverage.spanLabel, '48h');
});

test('no data, no coverage', () => {
  assert.equal(describeCoverage(new HeatmapModel(), DAY), null);
});

test('spans print in the units of the window buttons', () => {
  assert.equal(formatSpan(45 * 60_000), '45m');
  assert.equal(formatSpan(48 * HOUR), '48h');
  assert.equal(formatSpan(71 * HOUR + 59 * 60_000), '71h');
  assert.equal(formatSpan(6 * DAY + 10 * HOUR + 5 * 60_000), '6d 10h');
  assert.equal(formatSpan(30 * DAY), '30d');
  assert.equal(formatSpan(NaN), '–');
});
