// The stats row under the header, filled from the model and the renderer's
// visible range.

import { formatAge, formatPrice, formatUsd } from './format.js';

/**
 * @param {Record<string, HTMLElement>} els stat elements (statSymbol, statPrice, …)
 * @param {{model, renderer, symbol: string|null, timeWindow: string, coverage: ReturnType<import('./data-coverage.js').describeCoverage>, feedNote: string|null, source: string|null, lastUpdateMs: number|null, nowMs: number}} view
 *   `coverage`: what the data spans (the change is labelled by it, and a
 *   window the data does not fill says so); `feedNote`: "replay" / "demo" when
 *   the server does not stream the market, appended to source and update age.
 */
export function renderStats(els, { model, renderer, symbol, timeWindow, coverage, feedNote, source, lastUpdateMs, nowMs }) {
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
    const span = coverage && !coverage.complete ? coverage.spanLabel : timeWindow;
    els.statChange.textContent = `${change >= 0 ? '+' : ''}${change.toFixed(2)}% ${span}`;
    els.statChange.dataset.sign = change >= 0 ? 'up' : 'down';
  } else {
    els.statChange.textContent = '';
  }
  els.statLong.textContent = column ? formatUsd(column.longTotal) : '–';
  els.statShort.textContent = column ? formatUsd(column.shortTotal) : '–';
  const note = feedNote ? ` · ${feedNote}` : '';
  els.statSource.textContent = source ? `${source}${note}` : '–';
  els.statUpdated.textContent = lastUpdateMs ? `${formatAge(nowMs - lastUpdateMs)}${note}` : '–';
  if (els.coverage) {
    const partial = Boolean(coverage) && !coverage.complete;
    els.coverage.hidden = !partial;
    els.coverage.textContent = partial ? `${coverage.spanLabel} of data available` : '';
    els.coverage.title = partial ? `The ${timeWindow} window shows all the data there is: ${coverage.spanLabel}.` : '';
  }
  if (drawn) {
    const { low, high } = renderer.priceRange();
    els.statRange.textContent = `${formatPrice(low)} – ${formatPrice(high)}`;
  } else {
    els.statRange.textContent = '–';
  }
}
