// Draws the model on the visible canvas. The density image lives in an
// offscreen canvas with one pixel per (slot, row); live updates repaint only
// the changed column (or scroll the image by whole columns), and compositing
// scales that image into the plot, then draws candles and axes on top.

import { buildColorLut, buildIntensityTable, DEFAULT_GAMMA, DEFAULT_PERCENTILE } from './color-scale.js';
import { paintAll, paintColumn } from './column-painter.js';
import { AXIS_BOTTOM_PX, AXIS_RIGHT_PX, COLORS, PAD_TOP_PX, drawCandles, drawCrosshair, drawGrid, drawPriceTag } from './chart-decorations.js';
import { clampRange, isFullRange, panRange, zoomRange } from './view-range.js';

// A new column this many times above the current scale makes the old
// colouring misleading, so the whole image is repainted with a new scale.
const SCALE_DRIFT_MAX = 2;
// Zoom limits: never fewer than this many columns or rows on screen.
const VIEW_SLOTS_MIN = 24;
const VIEW_ROWS_MIN = 12;

export class HeatmapRenderer {
  constructor(canvas, overlay, options = {}) {
    this.canvas = canvas;
    this.overlay = overlay;
    this.ctx = canvas.getContext('2d', { alpha: false });
    this.overlayCtx = overlay.getContext('2d');
    this.gamma = options.gamma || DEFAULT_GAMMA;
    this.percentile = options.percentile || DEFAULT_PERCENTILE;
    this.lut = buildColorLut();
    this.intensityTable = buildIntensityTable(this.gamma);
    this.offscreen = document.createElement('canvas');
    this.offCtx = this.offscreen.getContext('2d');
    this.scaleMax = 0;
    this.model = null;
    // Visible part of the image in slot and row units; null = everything.
    this.view = null;
    this.cssWidth = 0;
    this.cssHeight = 0;
    this.dpr = 1;
    this.stats = { renderCount: 0, fullRebuilds: 0, columnPaints: 0, lastRebuildMs: 0, lastCompositeMs: 0 };
  }

  /** Matches the backing store to the element size times devicePixelRatio. */
  resize() {
    const rect = this.canvas.getBoundingClientRect();
    this.dpr = Math.max(1, Math.min(3, window.devicePixelRatio || 1));
    this.cssWidth = Math.max(1, Math.floor(rect.width));
    this.cssHeight = Math.max(1, Math.floor(rect.height));
    for (const c of [this.canvas, this.overlay]) {
      c.width = Math.round(this.cssWidth * this.dpr);
      c.height = Math.round(this.cssHeight * this.dpr);
    }
    if (this.model) this.composite();
  }

  get plot() {
    return {
      x: 0,
      y: PAD_TOP_PX,
      w: Math.max(1, this.cssWidth - AXIS_RIGHT_PX),
      h: Math.max(1, this.cssHeight - AXIS_BOTTOM_PX - PAD_TOP_PX),
    };
  }

  /** Repaints the whole density image (new history, new scale). */
  rebuild(model) {
    const started = performance.now();
    this.model = model;
    if (!model.ready) {
      this.scheduleComposite();
      return;
    }
    const { capacity } = model;
    const { rows } = model.grid;
    if (this.offscreen.width !== capacity || this.offscreen.height !== rows) {
      this.offscreen.width = capacity;
      this.offscreen.height = rows;
      this.view = null; // a different grid: the old zoom means nothing
    }
    this.scaleMax = model.densityScale(this.percentile);
    // Reuse the pixel buffer between repaints of the same size (no 1-2 MB
    // allocation per live rescale).
    if (!this.fullImage || this.fullImage.width !== capacity || this.fullImage.height !== rows) {
      this.fullImage = this.offCtx.createImageData(capacity, rows);
    }
    const image = this.fullImage;
    paintAll(new Uint32Array(image.data.buffer), model, this.lut, this.intensityTable, this.scaleMax);
    this.offCtx.putImageData(image, 0, 0);
    this.stats.fullRebuilds += 1;
    this.stats.lastRebuildMs = performance.now() - started;
    this.scheduleComposite();
  }

  /** Applies the result of model.applySnapshot by touching only what changed. */
  update(model, change) {
    if (change.kind === 'stale') return;
    if (!this.model || this.model !== model || this.scaleMax === 0 || change.shift >= model.capacity) {
      this.rebuild(model);
      return;
    }
    const column = model.columns[change.slot];
    if (this.columnExceedsScale(column)) {
      this.rebuild(model);
      return;
    }
    if (change.kind === 'shift') {
      this.scrollImage(change.shift);
      this.followShift(change.shift);
    }
    this.paintSlot(model, change.slot);
    this.scheduleComposite();
  }

  columnExceedsScale(column) {
    return Boolean(column) && percentileAbove(column, this.scaleMax * SCALE_DRIFT_MAX);
  }

  scrollImage(shift) {
    const { width, height } = this.offscreen;
    const ctx = this.offCtx;
    ctx.save();
    ctx.globalCompositeOperation = 'copy';
    ctx.drawImage(this.offscreen, -shift, 0);
    ctx.restore();
    const blank = ctx.createImageData(shift, height);
    new Uint32Array(blank.data.buffer).fill(this.lut[0]);
    ctx.putImageData(blank, width - shift, 0);
  }

  paintSlot(model, slot) {
    const rows = model.grid.rows;
    const image = this.offCtx.createImageData(1, rows);
    paintColumn(new Uint32Array(image.data.buffer), 1, 0, model.columns[slot], rows, this.lut, this.intensityTable, this.scaleMax);
    this.offCtx.putImageData(image, slot, 0);
    this.stats.columnPaints += 1;
  }

  // ---- view (zoom / pan) ------------------------------------------------------

  /**
   * What the view may show: time from the oldest bucket with data (a 30d
   * window over a week of data shows the week, not three weeks of nothing)
   * to the window's end; every price row.
   */
  bounds() {
    const { capacity } = this.model;
    const first = this.model.firstDataSlot();
    const start = first > 0 ? Math.min(first, capacity - 1) : 0;
    return { slots: { start, end: capacity }, rows: { start: 0, end: this.model.grid.rows } };
  }

  visible() {
    const b = this.bounds();
    if (!this.view) return b;
    return { slots: clampRange(this.view.slots, b.slots), rows: clampRange(this.view.rows, b.rows) };
  }

  resetView() {
    this.view = null;
    if (this.model) this.scheduleComposite();
  }

  get zoomed() {
    return this.view !== null;
  }

  setView(view) {
    const b = this.bounds();
    this.view = isFullRange(view.slots, b.slots) && isFullRange(view.rows, b.rows) ? null : view;
    this.scheduleComposite();
  }

  /** Wheel zoom around a point: on the price axis it zooms price, elsewhere time. */
  zoomAt(x, y, factor, axis) {
    if (!this.model || !this.model.ready) return;
    const plot = this.plot;
    const v = this.visible();
    const b = this.bounds();
    if (axis === 'price') {
      const anchor = v.rows.start + ((plot.y + plot.h - y) / plot.h) * (v.rows.end - v.rows.start);
      this.setView({ slots: v.slots, rows: zoomRange(v.rows, anchor, factor, b.rows, Math.min(VIEW_ROWS_MIN, b.rows.end)) });
    } else {
      const anchor = v.slots.start + ((x - plot.x) / plot.w) * (v.slots.end - v.slots.start);
      this.setView({ slots: zoomRange(v.slots, anchor, factor, b.slots, Math.min(VIEW_SLOTS_MIN, b.slots.end - b.slots.start)), rows: v.rows });
    }
  }

  /** Drag pan by CSS pixels (content follows the pointer). */
  panBy(dx, dy) {
    if (!this.view || !this.model || !this.model.ready) return;
    const plot = this.plot;
    const v = this.visible();
    const b = this.bounds();
    const slotDelta = (-dx / plot.w) * (v.slots.end - v.slots.start);
    const rowDelta = (dy / plot.h) * (v.rows.end - v.rows.start);
    this.setView({ slots: panRange(v.slots, slotDelta, b.slots), rows: panRange(v.rows, rowDelta, b.rows) });
  }

  /** A view that ends at the newest column follows the live edge; one panned into history stays on its times. */
  followShift(shift) {
    if (!this.view) return;
    const b = this.bounds();
    if (this.view.slots.end >= b.slots.end) return;
    this.view = { ...this.view, slots: panRange(this.view.slots, -shift, b.slots) };
  }

  // ---- compositing ----------------------------------------------------------

  /**
   * Composites on the next animation frame, once however many updates came
   * in before it; a hidden tab gets no frames and so spends nothing on drawing.
   */
  scheduleComposite() {
    if (this.compositePending) return;
    this.compositePending = true;
    requestAnimationFrame(() => {
      this.compositePending = false;
      this.composite();
    });
  }

  composite() {
    const started = performance.now();
    const ctx = this.ctx;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = COLORS.background;
    ctx.fillRect(0, 0, this.cssWidth, this.cssHeight);
    const model = this.model;
    if (model && model.ready) {
      const plot = this.plot;
      const v = this.visible();
      const rows = model.grid.rows;
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(
        this.offscreen,
        v.slots.start,
        rows - v.rows.end,
        v.slots.end - v.slots.start,
        v.rows.end - v.rows.start,
        plot.x,
        plot.y,
        plot.w,
        plot.h,
      );
      const price = this.latestClose(model);
      const priceY = Number.isFinite(price) ? this.priceToY(price, plot) : null;
      const priceVisible = priceY !== null && priceY >= plot.y && priceY <= plot.y + plot.h;
      drawGrid(ctx, this, plot, priceVisible ? priceY : null);
      ctx.save();
      ctx.beginPath();
      ctx.rect(plot.x, plot.y, plot.w, plot.h);
      ctx.clip();
      drawCandles(ctx, this, plot);
      ctx.restore();
      if (priceVisible) drawPriceTag(ctx, plot, price, priceY);
    }
    this.stats.renderCount += 1;
    this.stats.lastCompositeMs = performance.now() - started;
  }

  /** Visible price band [low, high). */
  priceRange() {
    const v = this.visible();
    const { minPrice, rowSize } = this.model.grid;
    return { low: minPrice + v.rows.start * rowSize, high: minPrice + v.rows.end * rowSize };
  }

  priceToY(price, plot = this.plot) {
    const { low, high } = this.priceRange();
    return plot.y + plot.h * (1 - (price - low) / (high - low));
  }

  slotToX(slot, plot = this.plot) {
    const { slots } = this.visible();
    return plot.x + ((slot - slots.start) * plot.w) / (slots.end - slots.start);
  }

  slotWidth(plot = this.plot) {
    const { slots } = this.visible();
    return plot.w / (slots.end - slots.start);
  }

  latestClose(model) {
    for (let slot = model.capacity - 1; slot >= 0; slot--) if (model.candles[slot]) return model.candles[slot].close;
    return NaN;
  }

  // ---- hover ------------------------------------------------------------------

  /** Slot and row under a point in CSS pixels, or null outside the plot. */
  hitTest(x, y) {
    const model = this.model;
    if (!model || !model.ready) return null;
    const plot = this.plot;
    if (x < plot.x || x >= plot.x + plot.w || y < plot.y || y >= plot.y + plot.h) return null;
    const v = this.visible();
    const slot = Math.floor(v.slots.start + ((x - plot.x) / plot.w) * (v.slots.end - v.slots.start));
    const row = Math.floor(v.rows.start + ((plot.y + plot.h - y) / plot.h) * (v.rows.end - v.rows.start));
    return { slot, row };
  }

  drawCrosshair(x, y, cell) {
    const ctx = this.overlayCtx;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.cssWidth, this.cssHeight);
    if (cell) drawCrosshair(ctx, this.plot, x, y, cell, this.model.grid.rowSize);
  }
}

/** True when more than 1 % of the column's cells exceed `limit`. */
function percentileAbove(column, limit) {
  let above = 0;
  for (let r = 0; r < column.long.length; r++) if (column.long[r] + column.short[r] > limit) above++;
  return above > column.long.length * 0.01;
}
