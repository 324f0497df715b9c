import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  PALETTE_STOPS,
  LUT_SIZE,
  paletteColor,
  buildColorLut,
  packRgba,
  colorIndex,
  positivePercentile,
} from '../../../frontend/js/color-scale.js';

const brightness = ([r, g, b]) => 0.2126 * r + 0.7152 * g + 0.0722 * b;

test('the palette starts dark purple and ends bright yellow', () => {
  const [r0, g0, b0] = paletteColor(0);
  assert.ok(b0 > r0 && b0 > g0 && brightness([r0, g0, b0]) < 30, 'low end is a dark, blue-dominant purple');
  const [r1, g1, b1] = paletteColor(1);
  assert.ok(r1 > 200 && g1 > 200 && b1 < 80, 'high end is yellow');
});

test('palette brightness never decreases from low to high density', () => {
  let previous = -1;
  for (let i = 0; i <= 100; i++) {
    const b = brightness(paletteColor(i / 100));
    assert.ok(b >= previous - 0.5, `brightness drops at t=${i / 100}`);
    previous = b;
  }
});

test('the palette hits each stop exactly and clamps outside [0, 1]', () => {
  for (const [t, rgb] of PALETTE_STOPS) assert.deepEqual(paletteColor(t), rgb);
  assert.deepEqual(paletteColor(-3), PALETTE_STOPS[0][1]);
  assert.deepEqual(paletteColor(7), PALETTE_STOPS.at(-1)[1]);
});

test('the lookup table packs colours in ImageData byte order', () => {
  const lut = buildColorLut();
  assert.equal(lut.length, LUT_SIZE);
  const bytes = new Uint8ClampedArray(lut.buffer, (LUT_SIZE - 1) * 4, 4);
  assert.deepEqual([...bytes], [...PALETTE_STOPS.at(-1)[1], 255]);
  const one = new Uint8ClampedArray(new Uint32Array([packRgba(1, 2, 3, 4)]).buffer);
  assert.deepEqual([...one], [1, 2, 3, 4]);
});

test('zero and negative density map to the background index', () => {
  assert.equal(colorIndex(0, 100), 0);
  assert.equal(colorIndex(-5, 100), 0);
  assert.equal(colorIndex(5, 0), 0);
});

test('density at or above the scale saturates to the top colour', () => {
  assert.equal(colorIndex(100, 100), LUT_SIZE - 1);
  assert.equal(colorIndex(1e9, 100), LUT_SIZE - 1);
});

test('gamma below one lifts weak densities above their linear position', () => {
  // 25 % of the scale with gamma 0.5 is sqrt(0.25) = 50 % of the ramp.
  assert.equal(colorIndex(25, 100, 0.5), Math.round(0.5 * (LUT_SIZE - 1)));
  assert.equal(colorIndex(25, 100, 1), Math.round(0.25 * (LUT_SIZE - 1)));
});

test('any positive density is visibly above the background', () => {
  assert.equal(colorIndex(1e-6, 100), 1);
});

test('the percentile ignores zeros and picks the value at that rank', () => {
  const values = new Float32Array(1000);
  for (let i = 0; i < 100; i++) values[i * 10] = i + 1; // 1..100 among 900 zeros
  assert.equal(positivePercentile(values, 0.99), 99);
  assert.equal(positivePercentile(values, 0.5), 50);
  assert.equal(positivePercentile(values, 1), 100);
});

test('one huge outlier does not set the 99th percentile', () => {
  const values = new Float64Array(1000).fill(10);
  values[500] = 1e9;
  assert.equal(positivePercentile(values, 0.99), 10);
});

test('the percentile of nothing positive is zero', () => {
  assert.equal(positivePercentile(new Float32Array(10), 0.99), 0);
});

test('sampling large inputs keeps the percentile close to the exact one', () => {
  const values = new Float64Array(200_000);
  for (let i = 0; i < values.length; i++) values[i] = i + 1;
  const estimate = positivePercentile(values, 0.99, 20_000);
  assert.ok(Math.abs(estimate - 198_000) <= 200, `estimate ${estimate}`);
});
