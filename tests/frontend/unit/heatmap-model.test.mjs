import { test } from 'node:test';
import assert from 'node:assert/strict';

import { HeatmapModel, COLUMNS_MAX } from '../../../frontend/js/heatmap-model.js';

const FIVE_MIN = 300_000;
const T0 = Date.UTC(2026, 5, 14, 12, 0);

function snapshot(timeMs, price, levels = [{ price, long_density: 1, short_density: 2 }]) {
  return { timestamp: new Date(timeMs).toISOString(), timestamp_ms: timeMs, current_price: price, levels };
}

function candle(timeMs, low, high) {
  return { timestamp: new Date(timeMs).toISOString(), open: low, high, low, close: high };
}

/** Ten 5-minute columns ending at T0 + 9 slots, price 1000, levels 10 apart. */
function loaded(capacity = 10) {
  const model = new HeatmapModel();
  const snaps = [];
  for (let i = 0; i < 10; i++) {
    snaps.push(snapshot(T0 + i * FIVE_MIN, 1000, [
      { price: 990, long_density: i + 1, short_density: 0 },
      { price: 1010, long_density: 0, short_density: 5 },
    ]));
  }
  model.loadHistory({ snapshots: snaps, intervalMs: FIVE_MIN, capacity });
  return model;
}

test('the window ends at the newest bucket, not at the clock', () => {
  const model = loaded();
  assert.equal(model.slotTimeMs(model.capacity - 1), T0 + 9 * FIVE_MIN);
  assert.equal(model.startMs, T0);
});

test('an anchor newer than the data moves the window end to the anchor', () => {
  const model = new HeatmapModel();
  model.loadHistory({ snapshots: [snapshot(T0, 1000)], intervalMs: FIVE_MIN, capacity: 4, anchorMs: T0 + 3 * FIVE_MIN + 1000 });
  assert.equal(model.slotTimeMs(3), T0 + 3 * FIVE_MIN);
  assert.ok(model.columns[0]);
  assert.equal(model.columns[3], null);
});

test('history fills one column per bucket with binned densities', () => {
  const model = loaded();
  assert.equal(model.columnCount(), 10);
  const cell = model.cellAt(4, findRow(model, 990));
  assert.equal(cell.long, 5);
  assert.equal(cell.short, 0);
});

function findRow(model, price) {
  return Math.floor((price - model.grid.minPrice) / model.grid.rowSize);
}

test('a snapshot in the newest bucket replaces the newest column', () => {
  const model = loaded();
  const result = model.applySnapshot(snapshot(T0 + 9 * FIVE_MIN + 60_000, 1001, [{ price: 990, long_density: 42, short_density: 0 }]));
  assert.equal(result.kind, 'replace');
  assert.equal(result.slot, 9);
  assert.equal(model.cellAt(9, findRow(model, 990)).long, 42);
});

test('a snapshot in the next bucket past a full window shifts by one slot', () => {
  const model = loaded();
  const result = model.applySnapshot(snapshot(T0 + 10 * FIVE_MIN, 1000));
  assert.equal(result.kind, 'shift');
  assert.equal(result.shift, 1);
  assert.equal(model.startMs, T0 + FIVE_MIN);
  // The old second column (long density 2) is now the first.
  assert.equal(model.cellAt(0, findRow(model, 990)).long, 2);
});

test('a snapshot after an empty slot inside the window appends without shifting', () => {
  const model = new HeatmapModel();
  model.loadHistory({ snapshots: [snapshot(T0, 1000)], intervalMs: FIVE_MIN, capacity: 5, anchorMs: T0 + 4 * FIVE_MIN });
  model.columns[4] = null;
  const result = model.applySnapshot(snapshot(T0 + FIVE_MIN, 1000));
  assert.equal(result.kind, 'append');
  assert.equal(result.slot, 1);
});

test('a snapshot older than the newest column is ignored', () => {
  const model = loaded();
  const before = model.columns[3];
  const result = model.applySnapshot(snapshot(T0 + 3 * FIVE_MIN, 5000));
  assert.equal(result.kind, 'stale');
  assert.equal(model.columns[3], before);
});

test('a jump of more than the window leaves only the new column', () => {
  const model = loaded();
  const result = model.applySnapshot(snapshot(T0 + 100 * FIVE_MIN, 1000));
  assert.equal(result.kind, 'shift');
  assert.equal(model.columnCount(), 1);
});

test('a live price updates the high, low and close of its candle', () => {
  const model = loaded();
  model.applySnapshot(snapshot(T0 + 10 * FIVE_MIN, 1003));
  model.applySnapshot(snapshot(T0 + 10 * FIVE_MIN + 1000, 997));
  model.applySnapshot(snapshot(T0 + 10 * FIVE_MIN + 2000, 1001));
  assert.deepEqual(model.candles[9], { open: 1000, high: 1003, low: 997, close: 1001 });
});

test('candles from klines set the price range, padded around it', () => {
  const model = new HeatmapModel();
  model.loadHistory({
    snapshots: [snapshot(T0, 1000, [{ price: 1000, long_density: 1, short_density: 1 }])],
    candles: [candle(T0, 900, 1100)],
    intervalMs: FIVE_MIN,
    capacity: 2,
  });
  assert.ok(model.grid.minPrice < 900 && model.grid.maxPrice > 1100);
});

test('a price outside the grid is reported so the page can reload', () => {
  const model = loaded();
  const result = model.applySnapshot(snapshot(T0 + 10 * FIVE_MIN, 5000));
  assert.equal(result.outOfRange, true);
});

test('the capacity is bounded by COLUMNS_MAX', () => {
  const model = new HeatmapModel();
  model.loadHistory({ snapshots: [snapshot(T0, 1000)], intervalMs: FIVE_MIN, capacity: COLUMNS_MAX * 10 });
  assert.equal(model.capacity, COLUMNS_MAX);
});

test('the density scale ignores empty cells', () => {
  const model = new HeatmapModel();
  model.loadHistory({
    snapshots: [snapshot(T0, 1000, [{ price: 1000, long_density: 3, short_density: 4 }])],
    intervalMs: FIVE_MIN,
    capacity: 3,
  });
  assert.equal(model.densityScale(0.99), 7);
});

test('history with no usable time loads nothing', () => {
  const model = new HeatmapModel();
  assert.equal(model.loadHistory({ snapshots: [], intervalMs: FIVE_MIN, capacity: 3 }), false);
  assert.equal(model.ready, false);
});

test('side totals count every level, also those outside the visible band', () => {
  const model = loaded();
  model.applySnapshot(snapshot(T0 + 10 * FIVE_MIN, 1000, [
    { price: 990, long_density: 4, short_density: 0 },
    { price: 1010, long_density: 0, short_density: 6 },
    { price: 100, long_density: 50, short_density: 0 },
  ]));
  const column = model.columns[model.newestSlot()];
  assert.equal(column.longTotal, 54);
  assert.equal(column.shortTotal, 6);
});

test('a bin size given by the server sets the row size even when the data skips bins', () => {
  const model = new HeatmapModel();
  model.loadHistory({
    snapshots: [snapshot(T0, 1000, [{ price: 900, long_density: 1, short_density: 0 }, { price: 1100, long_density: 0, short_density: 1 }])],
    intervalMs: FIVE_MIN,
    capacity: 2,
    levelStep: 10,
  });
  assert.equal(model.grid.rowSize, 10);
});

test('a REST state fills a skipped bucket behind the live edge, never the edge itself', () => {
  const model = loaded(20);
  model.applySnapshot(snapshot(T0 + 12 * FIVE_MIN, 1002));
  assert.equal(model.holeCount(), 2);
  const filled = model.fillSlot(snapshot(T0 + 10 * FIVE_MIN, 1001));
  assert.equal(filled.kind, 'fill');
  assert.equal(filled.slot, model.slotFor(T0 + 10 * FIVE_MIN));
  assert.equal(model.holeCount(), 1);
  assert.deepEqual(model.candles[filled.slot], { open: 1000, high: 1001, low: 1000, close: 1001 });
  assert.equal(model.fillSlot(snapshot(T0 + 12 * FIVE_MIN, 5)).kind, 'stale', 'the newest column is the live one');
  assert.equal(model.fillSlot(snapshot(T0 - 30 * FIVE_MIN, 5)).kind, 'stale', 'before the window');
});

test('the first data slot is where the data begins in a window it does not fill', () => {
  const model = loaded(20);
  assert.equal(model.firstDataSlot(), 10);
  assert.equal(model.holeCount(), 0);
});
