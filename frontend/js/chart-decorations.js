// Everything drawn over the density image: grid and axis labels, candles or
// a price line, the current-price tag and the hover crosshair. The `view`
// argument is the renderer, which maps prices and slots to pixels.

import { priceTicks, timeTicks } from './axis-ticks.js';
import { formatAxisTime, formatDateTimeUtc, formatPrice } from './format.js';

// Layout of the chart canvas, CSS pixels.
export const AXIS_RIGHT_PX = 76;
export const AXIS_BOTTOM_PX = 26;
export const PAD_TOP_PX = 8;

const PRICE_LABEL_SPACING_PX = 44;
const TIME_LABEL_SPACING_PX = 96;
// Half the height of a highlighted axis tag plus a little air.
const LABEL_CLEARANCE_PX = 14;
// Candles need a few pixels per column to read as candles; below this the
// price is drawn as a line.
const CANDLE_MIN_WIDTH_PX = 3;
const FONT = '11px system-ui, -apple-system, Segoe UI, Roboto, sans-serif';
const FONT_BOLD = `600 ${FONT}`;

export const COLORS = Object.freeze({
  background: '#0b0d17',
  grid: 'rgba(255,255,255,0.06)',
  axisText: '#8b93a7',
  up: '#26c281',
  down: '#f0506e',
  priceLine: '#f5f7fa',
  priceTagLine: 'rgba(245,197,66,0.7)',
  priceTagBg: '#f5c542',
  priceTagText: '#101322',
  crosshair: 'rgba(255,255,255,0.45)',
  crosshairTagBg: '#2a3147',
  crosshairTagText: '#ffffff',
});

/** Grid lines and axis labels; price labels the current-price tag at `reservedY` would cover are left out. */
export function drawGrid(ctx, view, plot, reservedY) {
  const model = view.model;
  const { low, high } = view.priceRange();
  const { slots } = view.visible();
  const prices = priceTicks(low, high, Math.max(2, Math.floor(plot.h / PRICE_LABEL_SPACING_PX)));
  const startMs = model.startMs + slots.start * model.intervalMs;
  const endMs = model.startMs + slots.end * model.intervalMs;
  const times = timeTicks(startMs, endMs, Math.max(2, Math.floor(plot.w / TIME_LABEL_SPACING_PX)));
  ctx.font = FONT;
  ctx.textBaseline = 'middle';
  ctx.lineWidth = 1;
  ctx.strokeStyle = COLORS.grid;
  ctx.fillStyle = COLORS.axisText;
  ctx.textAlign = 'left';
  for (const price of prices.values) {
    const y = Math.round(view.priceToY(price, plot)) + 0.5;
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
    const x = Math.round(view.slotToX((t - model.startMs) / model.intervalMs, plot)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(x, plot.y);
    ctx.lineTo(x, plot.y + plot.h);
    ctx.stroke();
    ctx.fillText(formatAxisTime(t), x, plot.y + plot.h + 7);
  }
}

/** Candles when columns are wide enough, else a close-price line. */
export function drawCandles(ctx, view, plot) {
  const model = view.model;
  const slotWidth = view.slotWidth(plot);
  const { slots } = view.visible();
  const first = Math.max(0, Math.floor(slots.start));
  const last = Math.min(model.capacity - 1, Math.ceil(slots.end));
  if (slotWidth >= CANDLE_MIN_WIDTH_PX) {
    const bodyWidth = Math.max(1, Math.floor(slotWidth * 0.6));
    for (let slot = first; slot <= last; slot++) {
      const c = model.candles[slot];
      if (!c) continue;
      const xMid = Math.floor(view.slotToX(slot, plot) + slotWidth / 2) + 0.5;
      ctx.strokeStyle = ctx.fillStyle = c.close >= c.open ? COLORS.up : COLORS.down;
      ctx.beginPath();
      ctx.moveTo(xMid, view.priceToY(c.high, plot));
      ctx.lineTo(xMid, view.priceToY(c.low, plot));
      ctx.stroke();
      const yOpen = view.priceToY(c.open, plot);
      const yClose = view.priceToY(c.close, plot);
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
    const x = view.slotToX(slot, plot) + slotWidth / 2;
    const y = view.priceToY(c.close, plot);
    if (started) ctx.lineTo(x, y);
    else ctx.moveTo(x, y);
    started = true;
  }
  ctx.stroke();
  ctx.lineWidth = 1;
}

/** Dashed line at the current price and its tag on the price axis. */
export function drawPriceTag(ctx, plot, price, priceY) {
  const y = Math.round(priceY) + 0.5;
  ctx.save();
  ctx.setLineDash([4, 3]);
  ctx.strokeStyle = COLORS.priceTagLine;
  ctx.beginPath();
  ctx.moveTo(plot.x, y);
  ctx.lineTo(plot.x + plot.w, y);
  ctx.stroke();
  ctx.restore();
  axisTag(ctx, formatPrice(price, 0.1), plot.x + plot.w, y, COLORS.priceTagBg, COLORS.priceTagText);
}

/** Crosshair lines with price and time tags; `cell` from model.cellAt. */
export function drawCrosshair(ctx, plot, x, y, cell, rowSize) {
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
  axisTag(ctx, formatPrice(price, rowSize), plot.x + plot.w, y, COLORS.crosshairTagBg, COLORS.crosshairTagText);
  const label = formatDateTimeUtc(cell.timeMs);
  ctx.font = FONT_BOLD;
  const w = ctx.measureText(label).width + 12;
  const left = Math.min(Math.max(plot.x, x - w / 2), plot.x + plot.w - w);
  ctx.fillStyle = COLORS.crosshairTagBg;
  ctx.fillRect(left, plot.y + plot.h + 3, w, 18);
  ctx.fillStyle = COLORS.crosshairTagText;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  ctx.fillText(label, left + 6, plot.y + plot.h + 12);
}

function axisTag(ctx, text, x, y, background, color) {
  ctx.font = FONT_BOLD;
  ctx.fillStyle = background;
  ctx.fillRect(x + 1, y - 9, AXIS_RIGHT_PX - 2, 18);
  ctx.fillStyle = color;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  ctx.fillText(text, x + 7, y);
}
