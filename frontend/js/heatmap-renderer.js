// Draws the model on the visible canvas. The density image lives in an
// offscreen canvas with one pixel per (slot, row); live updates repaint only
// the changed column (or scroll the image by whole columns), and compositing
// scales that image into the plot, then draws candles and axes on top.

import { buildColorLut, buildIntensityTable, DEFAULT_GAMMA, DEFAULT_PERCENTILE } from './color-scale.js';
import { paintAll, paintColumn } from './column-painter.js';
import { priceTicks, timeTicks } from './axis-ticks.js';
import { formatAxisTime, formatPrice, formatDateTimeUtc } from './format.js';
import { clampRange, isFullRange, panRange, zoomRange } from './view-range.js';

const AXIS_RIGHT_PX = 76;
const AXIS_BOTTOM_PX = 26;
const PAD_TOP_PX = 8;
const PRICE_LABEL_SPACING_PX = 44;
const TIME_LABEL_SPACING_PX = 96;
// Half the height of a highlighted axis tag plus a little air.
const LABEL_CLEARANCE_PX = 14;
// Candles need a few pixels per column to read as candles; below this the
// price is drawn as a line.
const CANDLE_MIN_WIDTH_PX = 3;
// A new column this many times above the current scale makes the old
// colouring misleading, so the whole image is repainted with a new scale.
const SCALE_DRIFT_MAX = 2;
// Zoom limits: never fewer than this many columns or rows on screen.
const VIEW_SLOTS_MIN = 24;
const VIEW_ROWS_MIN = 12;

const COLORS = {
  background: '#0b0d17',
  grid: 'rgba(255,255,255,0.06)',
  axisText: '#8b93a7',
  up: '#26c281',
  down: '#f0506e',
  priceLine: '#f5f7fa',
  priceLabelBg: '#f5c542',
  priceLabelText: '#101322',
  crosshair: 'rgba(255,255,255,0.45)',
  crosshairLabelBg: '#2a3147',
};

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

  bounds() {
    return { slots: { start: 0, end: this.model.capacity }, rows: { start: 0, end: this.model.grid.rows } };
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
      this.setView({ slots: zoomRange(v.slots, anchor, factor, b.slots, Math.min(VIEW_SLOTS_MIN, b.slots.end)), rows: v.rows });
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
      this.drawGrid(ctx, model, plot, priceVisible ? priceY : null);
      ctx.save();
      ctx.beginPath();
      ctx.rect(plot.x, plot.y, plot.w, plot.h);
      ctx.clip();
      this.drawCandles(ctx, model, plot);
      ctx.restore();
      if (priceVisible) this.drawCurrentPrice(ctx, model, plot, price, priceY);
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

  /** Grid lines and axis labels; price labels that the current-price tag would cover are left out. */
  drawGrid(ctx, model, plot, reservedY) {
    const { low, high } = this.priceRange();
    const { slots } = this.visible();
    const prices = priceTicks(low, high, Math.max(2, Math.floor(plot.h / PRICE_LABEL_SPACING_PX)));
    const startMs = model.startMs + slots.start * model.intervalMs;
    const endMs = model.startMs + slots.end * model.intervalMs;
    const times = timeTicks(startMs, endMs, Math.max(2, Math.floor(plot.w / TIME_LABEL_SPACING_PX)));
    ctx.font = '11px system-ui, -apple-system, Segoe UI, Roboto, sans-serif';
    ctx.textBaseline = 'middle';
    ctx.lineWidth = 1;
    ctx.strokeStyle = COLORS.grid;
    ctx.fillStyle = COLORS.axisText;
    ctx.textAlign = 'left';
    for (const price of prices.values) {
      const y = Math.round(this.priceToY(price, plot)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(plot.x, y);
      ctx.lineTo(plot.x + plot.w, y);
      ctx.stroke();
      if (reservedY === null || Math.abs(y - reservedY) > LABEL_CLEARANCE_PX) {
        ctx.fillText(formatPrice(price, prices.step), plot.x + plot.w + 8, y);
      }
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (const t of times.values) {
      const x = Math.round(this.slotToX((t - model.startMs) / model.intervalMs, plot)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, plot.y);
      ctx.lineTo(x, plot.y + plot.h);
      ctx.stroke();
      ctx.fillText(formatAxisTime(t), x, plot.y + plot.h + 7);
    }
  }

  drawCandles(ctx, model, plot) {
    const slotWidth = this.slotWidth(plot);
    const { slots } = this.visible();
    const first = Math.max(0, Math.floor(slots.start));
    const last = Math.min(model.capacity - 1, Math.ceil(slots.end));
    if (slotWidth >= CANDLE_MIN_WIDTH_PX) {
      const bodyWidth = Math.max(1, Math.floor(slotWidth * 0.6));
      for (let slot = first; slot <= last; slot++) {
        const c = model.candles[slot];
        if (!c) continue;
        const xMid = Math.floor(this.slotToX(slot, plot) + slotWidth / 2) + 0.5;
        const up = c.close >= c.open;
        ctx.strokeStyle = ctx.fillStyle = up ? COLORS.up : COLORS.down;
        ctx.beginPath();
        ctx.moveTo(xMid, this.priceToY(c.high, plot));
        ctx.lineTo(xMid, this.priceToY(c.low, plot));
        ctx.stroke();
        const yOpen = this.priceToY(c.open, plot);
        const yClose = this.priceToY(c.close, plot);
        ctx.fillRect(xMid - bodyWidth / 2, Math.min(yOpen, yClose), bodyWidth, Math.max(1, Math.abs(yClose - yOpen)));
      }
      return;
    }
    ctx.strokeStyle = COLORS.priceLine;
    ctx.lineWidth = 1.25;
    ctx.beginPath();
    let started = false;
    for (let slot = first; slot <= last; slot++) {
      const c = model.candles[slot];
      if (!c) continue;
      const x = this.slotToX(slot, plot) + slotWidth / 2;
      const y = this.priceToY(c.close, plot);
      if (started) ctx.lineTo(x, y);
      else ctx.moveTo(x, y);
      started = true;
    }
    ctx.stroke();
    ctx.lineWidth = 1;
  }

  latestClose(model) {
    for (let slot = model.capacity - 1; slot >= 0; slot--) if (model.candles[slot]) return model.candles[slot].close;
    return NaN;
  }

  drawCurrentPrice(ctx, model, plot, price, priceY) {
    const y = Math.round(priceY) + 0.5;
    ctx.save();
    ctx.setLineDash([4, 3]);
    ctx.strokeStyle = 'rgba(245,197,66,0.7)';
    ctx.beginPath();
    ctx.moveTo(plot.x, y);
    ctx.lineTo(plot.x + plot.w, y);
    ctx.stroke();
    ctx.restore();
    this.axisLabel(ctx, formatPrice(price, 0.1), plot.x + plot.w, y, COLORS.priceLabelBg, COLORS.priceLabelText);
  }

  axisLabel(ctx, text, x, y, background, color) {
    ctx.font = '600 11px system-ui, -apple-system, Segoe UI, Roboto, sans-serif';
    ctx.fillStyle = background;
    ctx.fillRect(x + 1, y - 9, AXIS_RIGHT_PX - 2, 18);
    ctx.fillStyle = color;
    ctx.textAlign = 'left';
    ctx.textBaseline = 'middle';
    ctx.fillText(text, x + 7, y);
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
    if (!cell) return;
    const plot = this.plot;
    ctx.strokeStyle = COLORS.crosshair;
    ctx.setLineDash([3, 3]);
    ctx.beginPath();
    ctx.moveTo(Math.round(x) + 0.5, plot.y);
    ctx.lineTo(Math.round(x) + 0.5, plot.y + plot.h);
    ctx.moveTo(plot.x, Math.round(y) + 0.5);
    ctx.lineTo(plot.x + plot.w, Math.round(y) + 0.5);
    ctx.stroke();
    ctx.setLineDash([]);
    const price = (cell.priceLow + cell.priceHigh) / 2;
    this.axisLabel(ctx, formatPrice(price, this.model.grid.rowSize), plot.x + plot.w, y, COLORS.crosshairLabelBg, '#ffffff');
    const label = formatDateTimeUtc(cell.timeMs);
    ctx.font = '600 11px system-ui, -apple-system, Segoe UI, Roboto, sans-serif';
    const w = ctx.measureText(label).width + 12;
    const left = Math.min(Math.max(plot.x, x - w / 2), plot.x + plot.w - w);
    ctx.fillStyle = COLORS.crosshairLabelBg;
    ctx.fillRect(left, plot.y + plot.h + 3, w, 18);
    ctx.fillStyle = '#ffffff';
    ctx.textAlign = 'left';
    ctx.textBaseline = 'middle';
    ctx.fillText(label, left + 6, plot.y + plot.h + 12);
  }
}

/** True when more than 1 % of the column's cells exceed `limit`. */
function percentileAbove(column, limit) {
  let above = 0;
  for (let r = 0; r < column.long.length; r++) if (column.long[r] + column.short[r] > limit) above++;
  return above > column.long.length * 0.01;
}
