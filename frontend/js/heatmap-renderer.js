// Draws the model on the visible canvas. The density image lives in an
// offscreen canvas with one pixel per (slot, row); live updates repaint only
// the changed column (or scroll the image by whole columns), and compositing
// scales that image into the plot, then draws candles and axes on top.

import { buildColorLut, buildIntensityTable, DEFAULT_GAMMA, DEFAULT_PERCENTILE } from './color-scale.js';
import { paintAll, paintColumn } from './column-painter.js';
import { priceTicks, timeTicks } from './axis-ticks.js';
import { formatAxisTime, formatPrice, formatDateTimeUtc } from './format.js';

const AXIS_RIGHT_PX = 76;
const AXIS_BOTTOM_PX = 26;
const PAD_TOP_PX = 8;
const PRICE_LABEL_SPACING_PX = 44;
const TIME_LABEL_SPACING_PX = 96;
// Candles need a few pixels per column to read as candles; below this the
// price is drawn as a line.
const CANDLE_MIN_WIDTH_PX = 3;
// A new column this many times above the current scale makes the old
// colouring misleading, so the whole image is repainted with a new scale.
const SCALE_DRIFT_MAX = 2;

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
      this.composite();
      return;
    }
    const { capacity } = model;
    const { rows } = model.grid;
    if (this.offscreen.width !== capacity || this.offscreen.height !== rows) {
      this.offscreen.width = capacity;
      this.offscreen.height = rows;
    }
    this.scaleMax = model.densityScale(this.percentile);
    const image = this.offCtx.createImageData(capacity, rows);
    paintAll(new Uint32Array(image.data.buffer), model, this.lut, this.intensityTable, this.scaleMax);
    this.offCtx.putImageData(image, 0, 0);
    this.stats.fullRebuilds += 1;
    this.stats.lastRebuildMs = performance.now() - started;
    this.composite();
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
    if (change.kind === 'shift') this.scrollImage(change.shift);
    this.paintSlot(model, change.slot);
    this.composite();
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

  // ---- compositing ----------------------------------------------------------

  composite() {
    const started = performance.now();
    const ctx = this.ctx;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = COLORS.background;
    ctx.fillRect(0, 0, this.cssWidth, this.cssHeight);
    const model = this.model;
    if (model && model.ready) {
      const plot = this.plot;
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(this.offscreen, 0, 0, model.capacity, model.grid.rows, plot.x, plot.y, plot.w, plot.h);
      this.drawGrid(ctx, model, plot);
      this.drawCandles(ctx, model, plot);
      this.drawCurrentPrice(ctx, model, plot);
    }
    this.stats.renderCount += 1;
    this.stats.lastCompositeMs = performance.now() - started;
  }

  priceToY(price, plot = this.plot) {
    const { minPrice, maxPrice } = this.model.grid;
    return plot.y + plot.h * (1 - (price - minPrice) / (maxPrice - minPrice));
  }

  slotToX(slot, plot = this.plot) {
    return plot.x + (slot * plot.w) / this.model.capacity;
  }

  drawGrid(ctx, model, plot) {
    const { minPrice, maxPrice } = model.grid;
    const prices = priceTicks(minPrice, maxPrice, Math.max(2, Math.floor(plot.h / PRICE_LABEL_SPACING_PX)));
    const endMs = model.slotTimeMs(model.capacity);
    const times = timeTicks(model.startMs, endMs, Math.max(2, Math.floor(plot.w / TIME_LABEL_SPACING_PX)));
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
      ctx.fillText(formatPrice(price, prices.step), plot.x + plot.w + 8, y);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const slotWidth = plot.w / model.capacity;
    for (const t of times.values) {
      const x = Math.round(plot.x + ((t - model.startMs) / model.intervalMs) * slotWidth) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, plot.y);
      ctx.lineTo(x, plot.y + plot.h);
      ctx.stroke();
      ctx.fillText(formatAxisTime(t), x, plot.y + plot.h + 7);
    }
  }

  drawCandles(ctx, model, plot) {
    const slotWidth = plot.w / model.capacity;
    if (slotWidth >= CANDLE_MIN_WIDTH_PX) {
      const bodyWidth = Math.max(1, Math.floor(slotWidth * 0.6));
      for (let slot = 0; slot < model.capacity; slot++) {
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
    for (let slot = 0; slot < model.capacity; slot++) {
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

  drawCurrentPrice(ctx, model, plot) {
    const price = this.latestClose(model);
    if (!Number.isFinite(price)) return;
    const y = Math.round(this.priceToY(price, plot)) + 0.5;
    ctx.save();
    ctx.setLineDash([4, 3]);
    ctx.strokeStyle = 'rgba(245,197,66,0.7)';
    ctx.beginPath();
    ctx.moveTo(plot.x, y);
    ctx.lineTo(plot.x + plot.w, y);
    ctx.stroke();
    ctx.restore();
    this.axisLabel(ctx, formatPrice(price, model.grid.rowSize < 1 ? model.grid.rowSize : 0.1), plot.x + plot.w, y, COLORS.priceLabelBg, COLORS.priceLabelText);
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
    const slot = Math.floor(((x - plot.x) / plot.w) * model.capacity);
    const row = Math.floor(((plot.y + plot.h - y) / plot.h) * model.grid.rows);
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
