// Density -> colour. A Coinglass-like ramp (deep purple, blue, teal, green,
// yellow) in a 256-entry lookup table, and a contrast scale taken from a high
// percentile of the visible densities so a few giant clusters do not wash
// everything else out to the background colour.

export const LUT_SIZE = 256;

// Stops sampled from matplotlib's viridis, with the bottom pulled darker so
// empty space reads as background, like Coinglass.
export const PALETTE_STOPS = Object.freeze([
  [0.0, [22, 8, 40]],
  [0.08, [52, 14, 82]],
  [0.25, [68, 57, 131]],
  [0.42, [49, 104, 142]],
  [0.58, [33, 145, 140]],
  [0.74, [53, 183, 121]],
  [0.87, [144, 215, 67]],
  [1.0, [253, 231, 37]],
]);

export const DEFAULT_GAMMA = 0.6;
export const DEFAULT_PERCENTILE = 0.99;
// Upper bound on values sorted to estimate the percentile (strided sample):
// keeps the scale computation O(n) and well under a frame for 720x600 cells.
export const PERCENTILE_SAMPLES_MAX = 20000;

/** Linear interpolation between palette stops; t in [0, 1]. */
export function paletteColor(t, stops = PALETTE_STOPS) {
  const x = Math.min(1, Math.max(0, t));
  for (let i = 1; i < stops.length; i++) {
    const [t1, c1] = stops[i];
    if (x <= t1) {
      const [t0, c0] = stops[i - 1];
      const f = t1 === t0 ? 0 : (x - t0) / (t1 - t0);
      return c0.map((v, k) => Math.round(v + (c1[k] - v) * f));
    }
  }
  return [...stops[stops.length - 1][1]];
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([0x01020304]).buffer)[0] === 0x04;

/** Packs RGBA into the Uint32 layout of ImageData on this machine. */
export function packRgba(r, g, b, a = 255) {
  return LITTLE_ENDIAN
    ? ((a << 24) | (b << 16) | (g << 8) | r) >>> 0
    : ((r << 24) | (g << 16) | (b << 8) | a) >>> 0;
}

/** 256 packed colours, index 0 = background (zero density). */
export function buildColorLut(stops = PALETTE_STOPS) {
  const lut = new Uint32Array(LUT_SIZE);
  for (let i = 0; i < LUT_SIZE; i++) {
    const [r, g, b] = paletteColor(i / (LUT_SIZE - 1), stops);
    lut[i] = packRgba(r, g, b);
  }
  return lut;
}

/** Maps a density to a LUT index with gamma contrast; >= scaleMax saturates. */
export function colorIndex(value, scaleMax, gamma = DEFAULT_GAMMA) {
  if (!(value > 0) || !(scaleMax > 0)) return 0;
  const t = Math.min(1, value / scaleMax) ** gamma;
  return Math.max(1, Math.round(t * (LUT_SIZE - 1)));
}

/**
 * The p-th percentile (0..1) of the positive values, from a strided sample of
 * at most `samplesMax` of them. Returns 0 when nothing is positive.
 */
export function positivePercentile(values, p = DEFAULT_PERCENTILE, samplesMax = PERCENTILE_SAMPLES_MAX) {
  let positives = 0;
  for (let i = 0; i < values.length; i++) if (values[i] > 0) positives++;
  if (positives === 0) return 0;
  const stride = Math.max(1, Math.ceil(positives / samplesMax));
  const sample = new Float64Array(Math.ceil(positives / stride));
  let seen = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    if (!(values[i] > 0)) continue;
    if (seen % stride === 0) sample[n++] = values[i];
    seen++;
  }
  const sorted = sample.subarray(0, n).sort();
  const rank = Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1));
  return sorted[rank];
}

// Resolution of the precomputed value -> colour-index table used when
// painting whole columns (avoids a pow() per cell).
export const INTENSITY_TABLE_SIZE = 4096;

/**
 * Table t[q] = colour index for density q/(size-1) of the scale, so the hot
 * loop is one multiply and two lookups. Entry 0 is 1, not 0: any positive
 * density must stay distinguishable from empty background.
 */
export function buildIntensityTable(gamma = DEFAULT_GAMMA, size = INTENSITY_TABLE_SIZE) {
  const table = new Uint8Array(size);
  for (let q = 0; q < size; q++) table[q] = Math.max(1, colorIndex(q / (size - 1), 1, gamma));
  return table;
}
