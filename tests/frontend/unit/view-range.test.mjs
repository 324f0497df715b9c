import { test } from 'node:test';
import assert from 'node:assert/strict';

import { zoomRange, panRange, clampRange, isFullRange } from '../../../frontend/js/view-range.js';

const bounds = { start: 0, end: 100 };

test('zooming in keeps the anchor at the same relative place', () => {
  const r = zoomRange({ start: 0, end: 100 }, 25, 0.5, bounds, 1);
  assert.deepEqual(r, { start: 12.5, end: 62.5 });
});

test('zooming out never goes past the bounds', () => {
  const r = zoomRange({ start: 40, end: 60 }, 50, 100, bounds, 1);
  assert.deepEqual(r, bounds);
});

test('zooming in stops at the minimum span', () => {
  const r = zoomRange({ start: 40, end: 60 }, 50, 0.01, bounds, 10);
  assert.equal(r.end - r.start, 10);
  assert.deepEqual(r, { start: 45, end: 55 });
});

test('panning stops at the edge and keeps the span', () => {
  assert.deepEqual(panRange({ start: 80, end: 95 }, 20, bounds), { start: 85, end: 100 });
  assert.deepEqual(panRange({ start: 5, end: 20 }, -20, bounds), { start: 0, end: 15 });
});

test('a range wider than the bounds is clamped to the bounds', () => {
  assert.deepEqual(clampRange({ start: -10, end: 130 }, bounds), bounds);
});

test('only a range covering the bounds counts as full', () => {
  assert.equal(isFullRange({ start: 0, end: 100 }, bounds), true);
  assert.equal(isFullRange({ start: 0, end: 99 }, bounds), false);
});
