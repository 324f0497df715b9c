import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  intervalToMs,
  bucketStartMs,
  timestampMs,
  detectLevelStep,
  makePriceGrid,
  rowForPrice,
  binLevels,
  paddedPriceRange,
} from '../../../frontend/js/binning.js';

test('intervals the server accepts convert to milliseconds', () => {
  assert.equal(intervalToMs('5m'), 300_000);
  assert.equal(intervalToMs('4h'), 14_400_000);
  assert.equal(intervalToMs('1d'), 86_400_000);
});

test('malformed intervals are rejected', () => {
  assert.throws(() => intervalToMs('5x'), RangeError);
  assert.throws(() => intervalToMs('0m'), RangeError);
  assert.throws(() => intervalToMs(''), RangeError);
});

test('a time inside a bucket maps to the bucket start', () => {
  const t = Date.UTC(2026, 5, 12, 14, 7, 31);
  assert.equal(bucketStartMs(t, 300_000), Date.UTC(2026, 5, 12, 14, 5));
  assert.equal(bucketStartMs(t, 3_600_000), Date.UTC(2026, 5, 12, 14, 0));
});

test('timestamps come from timestamp_ms, else from the ISO string', () => {
  assert.equal(timestampMs({ timestamp_ms: 5, timestamp: '2026-06-12T00:00:00Z' }), 5);
  assert.equal(timestampMs({ timestamp: '2026-06-12T00:05:00Z' }), Date.UTC(2026, 5, 12, 0, 5));
  assert.throws(() => timestampMs({ timestamp: 'yesterday' }), RangeError);
});

test('the level step is the smallest gap between distinct prices', () => {
  const levels = [100, 300, 200, 200, 250].map((price) => ({ price }));
  assert.equal(detectLevelStep(levels), 50);
  assert.equal(detectLevelStep([{ price: 1 }]), 0);
});

test('a grid with fewer bins than the row limit uses one row per level bin', () => {
  const grid = makePriceGrid(60_000, 61_000, 50, 600);
  assert.equal(grid.rowSize, 50);
  assert.equal(grid.minPrice, 60_000);
  assert.equal(grid.rows, 20);
});

test('a grid with more bins than the row limit merges whole bins per row', () => {
  const grid = makePriceGrid(0, 10_000, 10, 300); // 1000 bins -> 4 bins per row
  assert.equal(grid.rowSize, 40);
  assert.ok(grid.rows <= 300);
  assert.ok(grid.maxPrice >= 10_000);
});

test('the grid start is aligned to the row size so bins never straddle rows', () => {
  const grid = makePriceGrid(60_012, 61_000, 25, 600);
  assert.equal(grid.minPrice, 60_000);
});

test('an empty range is rejected', () => {
  assert.throws(() => makePriceGrid(5, 5, 1, 10), RangeError);
});

test('prices map to rows from the bottom and outside prices to -1', () => {
  const grid = makePriceGrid(100, 200, 10, 600);
  assert.equal(rowForPrice(grid, 100), 0);
  assert.equal(rowForPrice(grid, 109.99), 0);
  assert.equal(rowForPrice(grid, 110), 1);
  assert.equal(rowForPrice(grid, 199), 9);
  assert.equal(rowForPrice(grid, 200), -1);
  assert.equal(rowForPrice(grid, 99), -1);
});

test('levels in the same row are summed per side and outside levels dropped', () => {
  const grid = makePriceGrid(100, 200, 20, 600);
  const { long, short } = binLevels(
    [
      { price: 100, long_density: 1, short_density: 0 },
      { price: 110, long_density: 2, short_density: 4 },
      { price: 190, long_density: 0, short_density: 8 },
      { price: 500, long_density: 99, short_density: 99 },
    ],
    grid,
  );
  assert.deepEqual([...long], [3, 0, 0, 0, 0]);
  assert.deepEqual([...short], [4, 0, 0, 0, 8]);
});

test('the price range is padded by a fraction of the traded range', () => {
  const range = paddedPriceRange([60_000, 61_000], [62_000, 64_000], 0.25, 0);
  assert.deepEqual(range, { min: 59_000, max: 65_000 });
});

test('a flat market still gets the minimum padding around the price', () => {
  const range = paddedPriceRange([100], [100], 0.25, 0.02);
  assert.deepEqual(range, { min: 98, max: 102 });
});

test('no finite price means no range', () => {
  assert.equal(paddedPriceRange([NaN], [undefined]), null);
});
