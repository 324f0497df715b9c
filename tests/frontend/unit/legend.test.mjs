import { test } from 'node:test';
import assert from 'node:assert/strict';

import { densityAtPosition } from '../../../frontend/js/legend.js';
import { colorIndex, LUT_SIZE } from '../../../frontend/js/color-scale.js';

test('legend labels invert the gamma mapping used for colours', () => {
  for (const t of [0.25, 0.5, 0.75]) {
    const value = densityAtPosition(t, 1000, 0.6);
    assert.equal(colorIndex(value, 1000, 0.6), Math.round(t * (LUT_SIZE - 1)));
  }
});

test('the ends of the legend are zero and the scale maximum', () => {
  assert.equal(densityAtPosition(0, 1000, 0.6), 0);
  assert.equal(densityAtPosition(1, 1000, 0.6), 1000);
});
