import { test } from 'node:test';
import assert from 'node:assert/strict';

import { niceStep, priceTicks, timeTicks } from '../../../frontend/js/axis-ticks.js';

test('nice steps are 1, 2, 2.5 or 5 times a power of ten', () => {
  assert.equal(niceStep(4000, 10), 500);
  assert.equal(niceStep(4000, 20), 200);
  assert.equal(niceStep(1000, 4), 250);
  assert.equal(niceStep(0.9, 10), 0.1);
});

test('price ticks are multiples of the step inside the range', () => {
  const { step, values } = priceTicks(60_730, 62_180, 6);
  assert.equal(step, 250);
  assert.deepEqual(values, [60_750, 61_000, 61_250, 61_500, 61_750, 62_000]);
});

test('an empty price range has no ticks', () => {
  assert.deepEqual(priceTicks(5, 5, 10).values, []);
});

test('time ticks fall on UTC multiples of a calendar-friendly step', () => {
  const start = Date.UTC(2026, 5, 12, 13, 7);
  const end = Date.UTC(2026, 5, 14, 13, 7);
  const { stepMs, values } = timeTicks(start, end, 10);
  assert.equal(stepMs, 6 * 3_600_000);
  assert.equal(values[0], Date.UTC(2026, 5, 12, 18, 0));
  assert.ok(values.length <= 10);
  for (const t of values) assert.equal(t % stepMs, 0);
});

test('a week with room for eight labels gets one label a day', () => {
  const start = Date.UTC(2026, 5, 7, 12, 0);
  const { stepMs } = timeTicks(start, start + 7 * 86_400_000, 8);
  assert.equal(stepMs, 86_400_000);
});
