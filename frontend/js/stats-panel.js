// The stats row under the header, filled from the model and the renderer's
// visible range.

import { formatAge, formatPrice, formatUsd } from './format.js';

/**
 * @param {Record<string, HTMLElement>} els stat elements (statSymbol, statPrice, …)
 * @param {{model, renderer, symbol: string|null, timeWindow: string, source: string|null, lastUpdateMs: number|null, nowMs: number}} view
 */
export function renderStats(els, { model, renderer, symbol, timeWindow, source, lastUpdateMs, nowMs }) {
  els.statSymbol.textContent = symbol || '–';
  const drawn = model.ready && renderer.model === model;
  const newest = model.ready ? model.newestSlot() : -1;
  const column = newest >= 0 ? model.columns[newest] : null;
  const price = drawn ? renderer.latestClose(model) : NaN;
  els.statPrice.textContent = Number.isFinite(price) ? formatPrice(price, 0.1) : '–';
  const first = model.ready ? model.candles.find(Boolean) : null;
  if (first && Number.isFinite(price) && first.open > 0) {
    const raw = ((price - first.open) / first.open) * 100;
    const change = Math.abs(raw) < 0.005 ? 0 : raw; // no "-0.00%"
    els.statChange.textContent = `${change >= 0 ? '+' : ''}${change.toFixed(2)}% ${timeWindow}`;
    els.statChange.dataset.sign = change >= 0 ? 'up' : 'down';
  } else {
    els.statChange.textContent = '';
  }
  els.statLong.textContent = column ? formatUsd(column.longTotal) : '–';
  els.statShort.textContent = column ? formatUsd(column.shortTotal) : '–';
  els.statSource.textContent = source || '–';
  els.statUpdated.textContent = lastUpdateMs ? formatAge(nowMs - lastUpdateMs) : '–';
  if (drawn) {
    const { low, high } = renderer.priceRange();
    els.statRange.textContent = `${formatPrice(low)} – ${formatPrice(high)}`;
  } else {
    els.statRange.textContent = '–';
  }
}
