// The gap filler against a real HeatmapModel: buckets the live stream skipped
// are asked for over REST (a fake fetchRange that answers like the server's
// timeseries), written into the model, and the page ends with no empty column
// between two received states.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { GapFiller, GAP_RETRY_MS } from '../../../frontend/js/gap-filler.js';
import { HeatmapModel } from '../../../frontend/js/heatmap-model.js';
import { FakeClock } from './helpers/fakes.mjs';

const FIVE_MIN = 300_000;
const T0 = Date.UTC(2026, 5, 14, 12, 0);

function state(timeMs, density = 1) {
  return {
    timestamp: new Date(timeMs).toISOString(),
    timestamp_ms: timeMs,
    current_price: 1000,
    levels: [{ price: 990, long_density: density, short_density: 0 }],
  };
}

/** A model with history up to T0 + 9 buckets, in a 20-bucket window. */
function loadedModel() {
  const model = new HeatmapModel();
  const snapshots = [];
  for (let i = 0; i < 10; i++) snapshots.push(state(T0 + i * FIVE_MIN));
  model.loadHistory({ snapshots, intervalMs: FIVE_MIN, capacity: 20 });
  return model;
}

/** The server's answer for [startMs, endMs]: one state per 5-minute bar, newest last. */
function serverRange(startMs, endMs) {
  const data = [];
  for (let t = startMs; t <= endMs; t += FIVE_MIN) data.push(state(t, 7));
  return { data };
}

/** Applies a live snapshot the way the page does and tells the filler about the advance. */
function applyLive(model, filler, timeMs, options) {
  const previousMs = model.slotTimeMs(model.newestSlot());
  const change = model.applySnapshot(state(timeMs));
  filler.noteAdvance(previousMs, model.slotTimeMs(change.slot), options);
  return change;
}

function setup({ fetchRange = async (s, e) => serverRange(s, e) } = {}) {
  const clock = new FakeClock();
  const model = loadedModel();
  const requests = [];
  const filled = [];
  let tooLarge = 0;
  const errors = [];
  const filler = new GapFiller({
    model,
    timers: clock.timers(),
    fetchRange: async (startMs, endMs) => {
      requests.push({ startMs, endMs });
      return fetchRange(startMs, endMs);
    },
    applyColumn: (data) => {
      const change = model.fillSlot(data);
      if (change.kind === 'fill') filled.push(change.slot);
    },
    onTooLarge: () => tooLarge++,
    onError: (err) => errors.push(err.message),
    slotsMax: 50,
  });
  return { clock, model, filler, requests, filled, errors, tooLarge: () => tooLarge };
}

test('a live snapshot three buckets after the newest column fetches the two in between', async () => {
  const { clock, model, filler, requests, filled } = setup();
  applyLive(model, filler, T0 + 12 * FIVE_MIN);
  assert.equal(model.holeCount(), 2, 'the live snapshot left two empty columns');
  await clock.advance(0);
  assert.deepEqual(requests, [{ startMs: T0 + 10 * FIVE_MIN, endMs: T0 + 11 * FIVE_MIN + FIVE_MIN - 1000 }]);
  assert.deepEqual(filled, [model.slotFor(T0 + 10 * FIVE_MIN), model.slotFor(T0 + 11 * FIVE_MIN)]);
  assert.equal(model.holeCount(), 0);
  assert.equal(filler.pending, 0);
});

test('consecutive live bars need no request', async () => {
  const { clock, model, filler, requests } = setup();
  applyLive(model, filler, T0 + 10 * FIVE_MIN);
  applyLive(model, filler, T0 + 11 * FIVE_MIN);
  await clock.advance(0);
  assert.deepEqual(requests, []);
  assert.equal(model.holeCount(), 0);
});

test('after skipped snapshots the previous newest column is fetched again too', async () => {
  const { clock, model, filler, requests, filled } = setup();
  applyLive(model, filler, T0 + 10 * FIVE_MIN, { refreshPrevious: true });
  await clock.advance(0);
  assert.equal(requests.length, 1);
  assert.equal(requests[0].startMs, T0 + 9 * FIVE_MIN);
  const previous = model.slotFor(T0 + 9 * FIVE_MIN);
  assert.deepEqual(filled, [previous]);
  const row = Math.floor((990 - model.grid.minPrice) / model.grid.rowSize);
  assert.equal(model.cellAt(previous, row).long, 7, 'the refreshed column holds the server state');
});

test('a failed fill is retried after the retry delay and then fills the gap', async () => {
  let fail = true;
  const { clock, model, filler, requests, errors } = setup({
    fetchRange: async (s, e) => {
      if (fail) throw new Error('network error');
      return serverRange(s, e);
    },
  });
  applyLive(model, filler, T0 + 13 * FIVE_MIN);
  await clock.advance(0);
  assert.deepEqual(errors, ['network error']);
  assert.equal(model.holeCount(), 3);
  fail = false;
  await clock.advance(GAP_RETRY_MS - 1);
  assert.equal(requests.length, 1, 'retried before the delay');
  await clock.advance(1);
  assert.equal(requests.length, 2);
  assert.equal(model.holeCount(), 0);
  assert.equal(filler.stats.failures, 1);
});

test('an answer for an older layout is dropped', async () => {
  let release;
  const { clock, model, filler, filled } = setup({
    fetchRange: (s, e) => new Promise((resolve) => { release = () => resolve(serverRange(s, e)); }),
  });
  applyLive(model, filler, T0 + 12 * FIVE_MIN);
  await clock.advance(0);
  filler.reset(); // e.g. history reloaded meanwhile
  release();
  await clock.advance(0);
  assert.deepEqual(filled, []);
});

test('a gap wider than the bound asks for a history reload instead', async () => {
  const { clock, model, filler, requests, tooLarge } = setup();
  model.capacity = 200; // room for a long gap inside the window
  model.columns.length = 200;
  model.candles.length = 200;
  model.columns.fill(null, 20);
  model.candles.fill(null, 20);
  applyLive(model, filler, T0 + 70 * FIVE_MIN);
  await clock.advance(0);
  assert.equal(tooLarge(), 1);
  assert.deepEqual(requests, []);
});

test('buckets the server has no bar for stay empty and are not asked for again', async () => {
  const { clock, model, filler, requests } = setup({ fetchRange: async () => ({ data: [] }) });
  applyLive(model, filler, T0 + 12 * FIVE_MIN);
  await clock.advance(GAP_RETRY_MS * 2);
  assert.equal(requests.length, 1);
  assert.equal(filler.pending, 0);
});
