// Placing data on the heatmap grid: time buckets (columns) and price rows.
// Pure functions, shared by the page and the unit tests.

const INTERVAL_UNITS_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "5m" -> 300000. Throws on anything the server would not accept either. */
export function intervalToMs(interval) {
  const match = /^(\d+)([mhd])$/.exec(String(interval));
  if (!match || Number(match[1]) <= 0) throw new RangeError(`invalid interval ${JSON.stringify(interval)}`);
  return Number(match[1]) * INTERVAL_UNITS_MS[match[2]];
}

/** Start of the bucket that contains `ms` (buckets aligned to the Unix epoch). */
export function bucketStartMs(ms, intervalMs) {
  return Math.floor(ms / intervalMs) * intervalMs;
}

/** Unix ms of a snapshot/candle: prefers timestamp_ms, else parses the ISO timestamp. */
export function timestampMs(record) {
  if (record && Number.isFinite(record.timestamp_ms)) return record.timestamp_ms;
  const parsed = Date.parse(record && record.timestamp);
  if (!Number.isFinite(parsed)) throw new RangeError(`record has no usable timestamp: ${JSON.stringify(record && record.timestamp)}`);
  return parsed;
}

/** Smallest positive gap between distinct level prices (the server's bin size), or 0. */
export function detectLevelStep(levels) {
  const prices = levels.map((l) => l.price).filter(Number.isFinite).sort((a, b) => a - b);
  let step = 0;
  for (let i = 1; i < prices.length; i++) {
    const gap = prices[i] - prices[i - 1];
    if (gap > 1e-9 && (step === 0 || gap < step)) step = gap;
  }
  return step;
}

/**
 * Price rows covering [minPrice, maxPrice]. Row height is a whole multiple of
 * the level step so each server bin lands in exactly one row (no striping),
 * and there are at most `rowsMax` rows. Row 0 is the lowest price.
 */
export function makePriceGrid(minPrice, maxPrice, levelStep, rowsMax) {
  if (!(maxPrice > minPrice)) throw new RangeError(`empty price range ${minPrice}..${maxPrice}`);
  if (!(rowsMax >= 1)) throw new RangeError(`rowsMax must be >= 1, got ${rowsMax}`);
  const span = maxPrice - minPrice;
  const step = levelStep > 0 ? levelStep : span / rowsMax;
  const rowSize = step * Math.max(1, Math.ceil(span / step / rowsMax));
  const low = Math.floor(minPrice / rowSize) * rowSize;
  const rows = Math.max(1, Math.ceil((maxPrice - low) / rowSize));
  return { minPrice: low, rowSize, rows, maxPrice: low + rows * rowSize };
}

/** Row containing `price`, or -1 outside the grid. */
export function rowForPrice(grid, price) {
  if (!(price >= grid.minPrice) || !(price < grid.maxPrice)) return -1;
  return Math.min(grid.rows - 1, Math.floor((price - grid.minPrice) / grid.rowSize + 1e-9));
}

/** Sums level densities into rows: { long, short } Float32Arrays of grid.rows. */
export function binLevels(levels, grid) {
  const long = new Float32Array(grid.rows);
  const short = new Float32Array(grid.rows);
  for (const level of levels || []) {
    const row = rowForPrice(grid, level.price);
    if (row < 0) continue;
    if (level.long_density > 0) long[row] += level.long_density;
    if (level.short_density > 0) short[row] += level.short_density;
  }
  return { long, short };
}

/**
 * Visible price range: the traded range plus padding, so the liquidation
 * bands just above and below price are in view. Padding is a fraction of the
 * range, but at least `minPadFraction` of the price (a calm market would
 * otherwise hide the 25x-100x bands).
 */
export function paddedPriceRange(lows, highs, padFraction = 0.35, minPadFraction = 0.02) {
  let min = Infinity;
  let max = -Infinity;
  for (const v of lows) if (Number.isFinite(v) && v < min) min = v;
  for (const v of highs) if (Number.isFinite(v) && v > max) max = v;
  if (!(max >= min)) return null;
  const pad = Math.max((max - min) * padFraction, ((max + min) / 2) * minPadFraction);
  return { min: Math.max(0, min - pad), max: max + pad };
}
