// What stretch of time the loaded data really covers, so the view and the
// figures can say so: a 30d window over a week of data shows the week and
// says "6d 10h of data available", and the price change is labelled by the
// span it was measured over, not by the button that was pressed.

import { formatSpan } from './format.js';

/**
 * @param {import('./heatmap-model.js').HeatmapModel} model
 * @param {number} windowMs the selected window's length
 * @returns {{firstSlot: number, newestSlot: number, spanMs: number, complete: boolean, spanLabel: string} | null}
 *   null before any data; `spanMs` runs from the oldest bucket with data to the
 *   end of the newest one; `complete` when only less than one bucket is missing.
 */
export function describeCoverage(model, windowMs) {
  if (!model.ready) return null;
  const firstSlot = model.firstDataSlot();
  if (firstSlot < 0) return null;
  let newestSlot = model.capacity - 1;
  while (newestSlot > firstSlot && !model.columns[newestSlot] && !model.candles[newestSlot]) newestSlot--;
  const spanMs = (newestSlot - firstSlot + 1) * model.intervalMs;
  return { firstSlot, newestSlot, spanMs, complete: spanMs >= windowMs - model.intervalMs, spanLabel: formatSpan(spanMs) };
}
