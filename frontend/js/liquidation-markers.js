// Realised liquidations drawn over the heatmap: one marker per liquidation
// the live feed stored (the exchange's forceOrder stream), sized by notional,
// coloured by the side that was liquidated, with a tooltip. The stream is a
// sample (the exchange sends at most one liquidation per symbol per second),
// and the tooltip says so.
//
// Markers come from GET /liquidations/realised when history loads and from
// {"type":"liquidation"} WebSocket messages after that. They are drawn on
// their own canvas layer above the heatmap, after every composite.

import { formatDateTimeUtc, formatPrice, formatUsd } from './format.js';

// Markers kept per symbol; beyond it the oldest go (the window is bounded too).
export const MARKERS_MAX = 5000;
// Marker radius in CSS pixels: the smallest, and the largest however big the order.
const RADIUS_MIN_PX = 2.5;
const RADIUS_MAX_PX = 14;
// Notional at which a marker starts to grow, USD.
const NOTIONAL_SMALL_USD = 1_000;
// A pointer this close (CSS px) to a marker's edge shows its tooltip.
const HOVER_SLACK_PX = 3;

export const MARKER_COLORS = Object.freeze({
  long: { fill: 'rgba(255, 107, 61, 0.85)', stroke: '#ffd2c2' },
  short: { fill: 'rgba(61, 214, 255, 0.85)', stroke: '#c9f3ff' },
});

export const SAMPLE_NOTE = 'Sample: the exchange publishes at most one liquidation per symbol per second';

/** Radius (CSS px) of a marker for `notionalUsd`: logarithmic, bounded. */
export function markerRadius(notionalUsd) {
  if (!(notionalUsd > 0)) return RADIUS_MIN_PX;
  const steps = Math.log10(Math.max(notionalUsd, NOTIONAL_SMALL_USD) / NOTIONAL_SMALL_USD);
  return Math.min(RADIUS_MAX_PX, RADIUS_MIN_PX + 3 * steps);
}

/** A marker from a REST row or a WebSocket message; null when it is not one. */
export function toMarker(row) {
  const timeMs = Number(row.time_ms);
  const price = Number(row.price);
  const quantity = Number(row.quantity);
  const notional = Number(row.notional_usd);
  if (!Number.isFinite(timeMs) || !(price > 0) || !(quantity > 0) || !(notional > 0)) return null;
  if (row.side !== 'long' && row.side !== 'short') return null;
  return { symbol: row.symbol, timeMs, side: row.side, price, quantity, notional };
}

/** One line of text per marker, for the tooltip. */
export function describeMarker(m) {
  const who = m.side === 'long' ? 'Long liquidated' : 'Short liquidated';
  return [
    `${who} · ${formatUsd(m.notional)}`,
    `${m.quantity} @ ${formatPrice(m.price)}`,
    formatDateTimeUtc(m.timeMs),
    SAMPLE_NOTE,
  ];
}

export class LiquidationMarkers {
  /**
   * @param {HTMLElement} wrap the chart's container (the layer and tooltip go in it)
   * @param {object} renderer the HeatmapRenderer (maps slots and prices to pixels)
   * @param {object} model the HeatmapModel (its time grid)
   */
  constructor(wrap, renderer, model) {
    this.renderer = renderer;
    this.model = model;
    this.symbol = null;
    this.markers = [];
    this.keys = new Set();
    this.layer = document.createElement('canvas');
    this.layer.id = 'liquidation-layer';
    this.layer.className = 'liquidation-layer';
    this.layer.setAttribute('aria-hidden', 'true');
    this.tooltip = document.createElement('div');
    this.tooltip.id = 'liquidation-tooltip';
    this.tooltip.className = 'tooltip liquidation-tooltip';
    this.tooltip.setAttribute('role', 'tooltip');
    this.tooltip.hidden = true;
    wrap.append(this.layer, this.tooltip);
    wrap.addEventListener('mousemove', (event) => this.hover(event));
    wrap.addEventListener('mouseleave', () => { this.tooltip.hidden = true; });
    this.drawn = [];
  }

  /** Forgets the markers of another symbol. */
  setSymbol(symbol) {
    if (symbol === this.symbol) return;
    this.symbol = symbol;
    this.markers = [];
    this.keys.clear();
    this.draw();
  }

  get count() {
    return this.markers.length;
  }

  /** Adds markers (REST rows or WebSocket messages) of the current symbol, once each. */
  add(rows) {
    let added = 0;
    for (const row of rows) {
      const m = toMarker(row);
      if (!m || (m.symbol && m.symbol !== this.symbol)) continue;
      const key = `${m.timeMs}|${m.side}|${m.price}|${m.quantity}`;
      if (this.keys.has(key)) continue;
      this.keys.add(key);
      this.markers.push(m);
      added += 1;
    }
    if (added > 0) {
      this.markers.sort((a, b) => a.timeMs - b.timeMs);
      while (this.markers.length > MARKERS_MAX) {
        const old = this.markers.shift();
        this.keys.delete(`${old.timeMs}|${old.side}|${old.price}|${old.quantity}`);
      }
      this.draw();
    }
    return added;
  }

  /** Loads the stored liquidations of [startMs, endMs) for the current symbol. */
  async load(startMs, endMs) {
    const symbol = this.symbol;
    const query = new URLSearchParams({ symbol, start: String(Math.floor(startMs)), end: String(Math.ceil(endMs)), limit: '10000' });
    const response = await fetch(`/liquidations/realised?${query}`);
    if (!response.ok) throw new Error(`GET /liquidations/realised: HTTP ${response.status}`);
    const body = await response.json();
    if (symbol === this.symbol) this.add(Array.isArray(body.data) ? body.data : []);
  }

  /** Redraws every marker inside the visible plot. */
  draw() {
    const r = this.renderer;
    const canvas = this.layer;
    const width = r.cssWidth || 0;
    const height = r.cssHeight || 0;
    const dpr = r.dpr || 1;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
      canvas.style.width = `${width}px`;
      canvas.style.height = `${height}px`;
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    this.drawn = [];
    const model = this.model;
    if (!model || !model.ready || !r.plot) return;
    const plot = r.plot;
    const { low, high } = r.priceRange();
    for (const m of this.markers) {
      if (m.price < low || m.price >= high) continue;
      // Fractional slot: a liquidation sits inside its bar's column.
      const slot = (m.timeMs - model.startMs) / model.intervalMs;
      const x = r.slotToX(slot);
      if (x < plot.x || x > plot.x + plot.w) continue;
      const y = r.priceToY(m.price);
      const radius = markerRadius(m.notional);
      const colors = MARKER_COLORS[m.side];
      ctx.beginPath();
      ctx.arc(x, y, radius, 0, 2 * Math.PI);
      ctx.fillStyle = colors.fill;
      ctx.fill();
      ctx.lineWidth = 1;
      ctx.strokeStyle = colors.stroke;
      ctx.stroke();
      this.drawn.push({ x, y, radius, marker: m });
    }
  }

  /** The drawn marker under (x, y) CSS px, the largest when several overlap. */
  markerAt(x, y) {
    let best = null;
    for (const d of this.drawn) {
      const dist = Math.hypot(d.x - x, d.y - y);
      if (dist <= d.radius + HOVER_SLACK_PX && (!best || d.radius > best.radius)) best = d;
    }
    return best;
  }

  hover(event) {
    const rect = this.layer.getBoundingClientRect();
    const x = event.clientX - rect.left;
    const y = event.clientY - rect.top;
    const hit = this.markerAt(x, y);
    if (!hit) {
      this.tooltip.hidden = true;
      return;
    }
    this.tooltip.replaceChildren(
      ...describeMarker(hit.marker).map((line, i) => {
        const div = document.createElement('div');
        div.textContent = line;
        if (i === 3) div.className = 'liquidation-note';
        return div;
      }),
    );
    this.tooltip.hidden = false;
    // Right of the marker, or left of it when that would leave the chart.
    const width = this.tooltip.offsetWidth;
    const right = hit.x + hit.radius + 8;
    const left = right + width > this.layer.clientWidth ? hit.x - hit.radius - 8 - width : right;
    this.tooltip.style.left = `${Math.round(Math.max(0, left))}px`;
    this.tooltip.style.top = `${Math.round(hit.y - 10)}px`;
  }
}
