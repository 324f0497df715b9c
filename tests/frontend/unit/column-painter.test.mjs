import { test } from 'node:test';
import assert from 'node:assert/strict';

import { paintColumn, paintAll } from '../../../frontend/js/column-painter.js';
import { buildColorLut, buildIntensityTable, LUT_SIZE, positivePercentile } from '../../../frontend/js/color-scale.js';
import { binLevels, makePriceGrid } from '../../../frontend/js/binning.js';

const lut = buildColorLut();
const table = buildIntensityTable();

function column(values) {
  return { long: Float32Array.from(values), short: new Float32Array(values.length) };
}

test('row 0 (lowest price) is painted at the bottom of the image', () => {
  const pixels = new Uint32Array(3);
  paintColumn(pixels, 1, 0, column([100, 0, 0]), 3, lut, table, 100);
  assert.equal(pixels[2], lut[LUT_SIZE - 1]);
  assert.equal(pixels[0], lut[0]);
});

test('long and short densities add up in one cell', () => {
  const a = new Uint32Array(1);
  paintColumn(a, 1, 0, { long: Float32Array.of(50), short: Float32Array.of(50) }, 1, lut, table, 100);
  assert.equal(a[0], lut[LUT_SIZE - 1]);
});

test('a missing column is painted as background', () => {
  const pixels = new Uint32Array(4).fill(7);
  paintColumn(pixels, 2, 1, null, 2, lut, table, 100);
  assert.deepEqual([...pixels], [7, lut[0], 7, lut[0]]);
});

test('stronger density never gets a darker colour than weaker density', () => {
  const values = Array.from({ length: 200 }, (_, i) => i);
  const pixels = new Uint32Array(200);
  paintColumn(pixels, 1, 0, column(values), 200, lut, table, 150);
  const indexOf = (px) => lut.indexOf(px);
  let previous = -1;
  for (let row = 0; row < 200; row++) {
    const idx = indexOf(pixels[199 - row]);
    assert.ok(idx >= previous, `row ${row} index ${idx} < ${previous}`);
    previous = idx;
  }
});

test('a full repaint of 300 columns x 600 rows takes well under a frame', () => {
  const grid = makePriceGrid(54_000, 66_000, 20, 600);
  assert.equal(grid.rows, 600);
  const columns = [];
  for (let i = 0; i < 300; i++) {
    const levels = [];
    for (let p = 54_000; p < 66_000; p += 20) levels.push({ price: p, long_density: (i * 7 + p) % 1000, short_density: (i * 13 + p) % 700 });
    columns.push(binLevels(levels, grid));
  }
  const view = { capacity: 300, grid, columns };
  const pixels = new Uint32Array(300 * 600);
  const totals = new Float32Array(300 * 600);
  const timings = [];
  for (let run = 0; run < 9; run++) {
    const started = performance.now();
    // What a full redraw costs: the contrast scale plus every pixel.
    let n = 0;
    for (const c of columns) for (let r = 0; r < grid.rows; r++) totals[n++] = c.long[r] + c.short[r];
    paintAll(pixels, view, lut, table, positivePercentile(totals, 0.99));
    timings.push(performance.now() - started);
  }
  // The fastest run is the cost of the code itself; slower runs measure
  // whatever else shares the CPU (this machine also compiles Rust).
  const fastest = Math.min(...timings);
  assert.ok(fastest < 16, `fastest repaint ${fastest.toFixed(1)} ms`);
  assert.notEqual(pixels[0], 0, 'the image was not painted');
});
