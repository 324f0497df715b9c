// The heatmap's data: a fixed number of time slots (columns) ending at the
// newest bucket, each holding density per price row, plus one candle per slot.
// Pure and DOM-free so the live-update rules can be unit-tested.

import {
  bucketStartMs,
  binLevels,
  detectLevelStep,
  makePriceGrid,
  paddedPriceRange,
  rowForPrice,
  timestampMs,
} from './binning.js';
import { positivePercentile } from './color-scale.js';

// Bounds: the page never holds more than this many columns or rows, whatever
// the server sends (memory stays flat for a tab left open all day).
export const COLUMNS_MAX = 2000;
export const ROWS_MAX = 600;
// Cells read to estimate the colour scale (see densityScale).
export const SCALE_SAMPLES_MAX = 40000;

export class HeatmapModel {
  constructor() {
    this.clear();
  }

  clear() {
    this.intervalMs = 0;
    this.capacity = 0;
    this.startMs = 0;
    this.grid = null;
    this.columns = [];
    this.candles = [];
    this.source = null;
  }

  get ready() {
    return this.grid !== null && this.capacity > 0;
  }

  /**
   * Lays out history. `anchorMs` is the newest time the server knows about
   * (meta.end_time); the window ends at its bucket, not at the browser clock,
   * because the demo data is historical.
   */
  loadHistory({ snapshots, candles = [], intervalMs, capacity, anchorMs = null, rowsMax = ROWS_MAX, levelStep: knownStep = 0 }) {
    if (!(intervalMs > 0)) throw new RangeError(`intervalMs must be positive, got ${intervalMs}`);
    this.clear();
    this.intervalMs = intervalMs;
    this.capacity = Math.max(1, Math.min(COLUMNS_MAX, Math.floor(capacity)));

    const times = snapshots.map(timestampMs);
    const candleTimes = candles.map(timestampMs);
    let newestMs = Number.isFinite(anchorMs) ? anchorMs : -Infinity;
    for (const t of times) newestMs = Math.max(newestMs, t);
    for (const t of candleTimes) newestMs = Math.max(newestMs, t);
    if (!Number.isFinite(newestMs)) return false;
    this.startMs = bucketStartMs(newestMs, intervalMs) - (this.capacity - 1) * intervalMs;

    const inWindow = (t) => t >= this.startMs;
    const lows = [];
    const highs = [];
    candles.forEach((c, i) => {
      if (!inWindow(candleTimes[i])) return;
      lows.push(Number(c.low));
      highs.push(Number(c.high));
    });
    snapshots.forEach((s, i) => {
      if (!inWindow(times[i])) return;
      lows.push(s.current_price);
      highs.push(s.current_price);
    });
    const range = paddedPriceRange(lows, highs);
    if (!range) return false;

    // The server's bin size when it says so (meta.price_bin_size), else the
    // spacing seen in the data.
    let levelStep = knownStep > 0 ? knownStep : 0;
    for (let i = snapshots.length - 1; i >= 0 && levelStep === 0; i--) levelStep = detectLevelStep(snapshots[i].levels || []);
    this.grid = makePriceGrid(range.min, range.max, levelStep, rowsMax);
    this.columns = new Array(this.capacity).fill(null);
    this.candles = new Array(this.capacity).fill(null);

    snapshots.forEach((s, i) => {
      const slot = this.slotFor(times[i]);
      if (slot >= 0 && slot < this.capacity) this.columns[slot] = this.makeColumn(s, times[i]);
    });
    candles.forEach((c, i) => {
      const slot = this.slotFor(candleTimes[i]);
      if (slot < 0 || slot >= this.capacity) return;
      this.candles[slot] = { open: Number(c.open), high: Number(c.high), low: Number(c.low), close: Number(c.close) };
    });
    // Without klines, draw the price from the snapshots' current_price.
    this.columns.forEach((column, slot) => {
      if (column && !this.candles[slot] && Number.isFinite(column.currentPrice)) {
        const p = column.currentPrice;
        this.candles[slot] = { open: p, high: p, low: p, close: p };
      }
    });
    return true;
  }

  slotFor(ms) {
    return Math.floor((bucketStartMs(ms, this.intervalMs) - this.startMs) / this.intervalMs);
  }

  slotTimeMs(slot) {
    return this.startMs + slot * this.intervalMs;
  }

  /**
   * Binned densities plus the side totals over all levels (also those outside
   * the visible band). The raw levels are not kept: hundreds of columns of
   * thousands of level objects would cost a long-lived tab tens of megabytes.
   */
  makeColumn(snapshot, timeMs) {
    const { long, short } = binLevels(snapshot.levels, this.grid);
    let longTotal = 0;
    let shortTotal = 0;
    for (const level of snapshot.levels || []) {
      if (level.long_density > 0) longTotal += level.long_density;
      if (level.short_density > 0) shortTotal += level.short_density;
    }
    return { timeMs, long, short, longTotal, shortTotal, currentPrice: snapshot.current_price };
  }

  newestSlot() {
    for (let slot = this.capacity - 1; slot >= 0; slot--) if (this.columns[slot]) return slot;
    return -1;
  }

  /** The oldest slot holding a column or a candle, or -1: where the data begins in the window. */
  firstDataSlot() {
    for (let slot = 0; slot < this.capacity; slot++) if (this.columns[slot] || this.candles[slot]) return slot;
    return -1;
  }

  /** Empty columns between the oldest and the newest column (the dark stripes a trader would see). */
  holeCount() {
    let first = -1;
    let holes = 0;
    let run = 0;
    for (let slot = 0; slot < this.capacity; slot++) {
      if (this.columns[slot]) {
        if (first >= 0) holes += run;
        first = first >= 0 ? first : slot;
        run = 0;
      } else {
        run++;
      }
    }
    return holes;
  }

  /**
   * Writes the state of a past bucket the live stream skipped (fetched over
   * REST). Only buckets older than the newest column take a fill: the newest
   * one is the live edge and only live snapshots move it. Returns
   * `{kind: 'fill', slot}` for the renderer, or `{kind: 'stale'}` when the
   * bucket is outside the window or not older than the newest column.
   */
  fillSlot(data) {
    if (!this.ready) return { kind: 'stale' };
    const timeMs = timestampMs(data);
    const slot = this.slotFor(timeMs);
    if (slot < 0 || slot >= this.newestSlot()) return { kind: 'stale', slot };
    this.columns[slot] = this.makeColumn(data, timeMs);
    const price = data.current_price;
    // No kline for it: a candle from the previous close to this bar's close.
    if (!this.candles[slot]) this.updateCandle(slot, price);
    return { kind: 'fill', slot, shift: 0 };
  }

  /**
   * Applies one live snapshot's data. Returns what changed so the renderer
   * can draw just that: 'replace' (same bucket as the newest column),
   * 'append' (a later bucket inside the window), 'shift' (window scrolled by
   * `shift` slots), or 'stale' (older than the newest column; ignored).
   * `outOfRange` means the price left the grid and the view needs a reload.
   */
  applySnapshot(data) {
    if (!this.ready) return { kind: 'stale' };
    const timeMs = timestampMs(data);
    let slot = this.slotFor(timeMs);
    const newest = this.newestSlot();
    if (slot < newest || slot < 0) return { kind: 'stale', slot };
    let kind = slot === newest ? 'replace' : 'append';
    let shift = 0;
    if (slot >= this.capacity) {
      shift = slot - this.capacity + 1;
      kind = 'shift';
      this.shiftSlots(shift);
      slot = this.capacity - 1;
    }
    this.columns[slot] = this.makeColumn(data, timeMs);
    this.updateCandle(slot, data.current_price);
    const outOfRange = Number.isFinite(data.current_price) && rowForPrice(this.grid, data.current_price) < 0;
    return { kind, slot, shift, outOfRange };
  }

  shiftSlots(shift) {
    const keep = Math.max(0, this.capacity - shift);
    this.columns = this.columns.slice(this.capacity - keep).concat(new Array(this.capacity - keep).fill(null));
    this.candles = this.candles.slice(this.capacity - keep).concat(new Array(this.capacity - keep).fill(null));
    this.startMs += shift * this.intervalMs;
  }

  updateCandle(slot, price) {
    if (!Number.isFinite(price)) return;
    const candle = this.candles[slot];
    if (candle) {
      candle.high = Math.max(candle.high, price);
      candle.low = Math.min(candle.low, price);
      candle.close = price;
      return;
    }
    let open = price;
    for (let s = slot - 1; s >= 0; s--) {
      if (this.candles[s]) {
        open = this.candles[s].close;
        break;
      }
    }
    this.candles[slot] = { open, high: Math.max(open, price), low: Math.min(open, price), close: price };
  }

  /**
   * Contrast reference: high percentile of long+short density over the
   * cells. Reads an evenly strided sample of at most SCALE_SAMPLES_MAX cells
   * instead of all of them, so a full repaint stays well inside one frame.
   */
  densityScale(percentile) {
    if (!this.ready) return 0;
    const rows = this.grid.rows;
    const cells = this.capacity * rows;
    // Odd stride: never a multiple of an even row count, so the sample walks
    // across rows instead of repeating the same ones.
    const stride = Math.max(1, Math.floor(cells / SCALE_SAMPLES_MAX)) | 1;
    const sample = new Float64Array(Math.ceil(cells / stride));
    let n = 0;
    for (let cell = 0; cell < cells; cell += stride) {
      const column = this.columns[Math.floor(cell / rows)];
      if (!column) continue;
      const r = cell % rows;
      const v = column.long[r] + column.short[r];
      if (v > 0) sample[n++] = v;
    }
    return positivePercentile(sample.subarray(0, n), percentile);
  }

  columnCount() {
    let n = 0;
    for (const column of this.columns) if (column) n++;
    return n;
  }

  /** Everything the tooltip shows for one cell, or null outside the data. */
  cellAt(slot, row) {
    if (!this.ready || slot < 0 || slot >= this.capacity || row < 0 || row >= this.grid.rows) return null;
    const column = this.columns[slot];
    const priceLow = this.grid.minPrice + row * this.grid.rowSize;
    return {
      timeMs: this.slotTimeMs(slot),
      priceLow,
      priceHigh: priceLow + this.grid.rowSize,
      long: column ? column.long[row] : 0,
      short: column ? column.short[row] : 0,
      candle: this.candles[slot],
      hasData: Boolean(column),
    };
  }
}
