// Hover tooltip: time, price band and long/short liquidation notional of the
// cell under the pointer.

import { formatDateTimeUtc, formatPrice, formatUsd } from './format.js';

const OFFSET_PX = 14;

function row(label, value, className = '') {
  const wrap = document.createElement('div');
  wrap.className = `tt-row ${className}`.trim();
  const l = document.createElement('span');
  l.textContent = label;
  const v = document.createElement('span');
  v.textContent = value;
  wrap.append(l, v);
  return wrap;
}

export function showTooltip(el, container, x, y, cell, rowSize) {
  const title = document.createElement('div');
  title.className = 'tt-title';
  title.textContent = formatDateTimeUtc(cell.timeMs);
  const children = [
    title,
    row('Price', `${formatPrice(cell.priceLow, rowSize)} – ${formatPrice(cell.priceHigh, rowSize)}`),
    row('Long liquidations', formatUsd(cell.long), 'tt-long'),
    row('Short liquidations', formatUsd(cell.short), 'tt-short'),
    row('Total', formatUsd(cell.long + cell.short)),
  ];
  if (cell.candle) children.push(row('Close', formatPrice(cell.candle.close, 0.1)));
  if (!cell.hasData) children.push(row('', 'no data for this bar', 'tt-muted'));
  el.replaceChildren(...children);
  el.hidden = false;
  const box = el.getBoundingClientRect();
  const bounds = container.getBoundingClientRect();
  const left = x + OFFSET_PX + box.width > bounds.width ? x - OFFSET_PX - box.width : x + OFFSET_PX;
  const top = Math.min(Math.max(0, y + OFFSET_PX), bounds.height - box.height);
  el.style.transform = `translate(${Math.round(left)}px, ${Math.round(top)}px)`;
}

export function hideTooltip(el) {
  el.hidden = true;
}
