// Turns binned densities into pixels. One heatmap column is one pixel wide
// and one pixel per price row tall; the renderer scales the whole image to
// the plot with smoothing off. Pure: works on a Uint32Array view of ImageData.

import { INTENSITY_TABLE_SIZE } from './color-scale.js';

/**
 * Writes column `column` (or background when null) at x into `pixels`
 * (width `width`, height = rows). Row 0 is the lowest price, so it is drawn
 * at the bottom (y = rows - 1).
 */
export function paintColumn(pixels, width, x, column, rows, lut, intensityTable, scaleMax) {
  const background = lut[0];
  if (!column || !(scaleMax > 0)) {
    for (let r = 0; r < rows; r++) pixels[(rows - 1 - r) * width + x] = background;
    return;
  }
  const toIndex = (INTENSITY_TABLE_SIZE - 1) / scaleMax;
  const top = INTENSITY_TABLE_SIZE - 1;
  const { long, short } = column;
  for (let r = 0; r < rows; r++) {
    const v = long[r] + short[r];
    let color = background;
    if (v > 0) {
      const q = v * toIndex;
      color = lut[intensityTable[q >= top ? top : q | 0]];
    }
    pixels[(rows - 1 - r) * width + x] = color;
  }
}

/** Paints every slot of the model into `pixels` (width = model.capacity). */
export function paintAll(pixels, model, lut, intensityTable, scaleMax) {
  const rows = model.grid.rows;
  for (let slot = 0; slot < model.capacity; slot++) {
    paintColumn(pixels, model.capacity, slot, model.columns[slot], rows, lut, intensityTable, scaleMax);
  }
}
