// Number and time formatting for labels and the tooltip. Pure functions;
// times are shown in UTC because the data and the server speak UTC.

const USD_UNITS = [
  { value: 1e12, suffix: 'T' },
  { value: 1e9, suffix: 'B' },
  { value: 1e6, suffix: 'M' },
  { value: 1e3, suffix: 'K' },
];

/** Compact dollar amount: 1234567 -> "$1.23M", 950 -> "$950", -2500 -> "-$2.5K". */
export function formatUsd(value) {
  if (!Number.isFinite(value)) return '–';
  const sign = value < 0 ? '-' : '';
  const abs = Math.abs(value);
  for (const unit of USD_UNITS) {
    // Round first so 999_999 shows as "$1M", not "$1000K".
    const scaled = abs / unit.value;
    if (Number(scaled.toPrecision(3)) >= 1) return `${sign}$${trimZeros(scaled.toPrecision(3))}${unit.suffix}`;
  }
  return `${sign}$${Math.round(abs)}`;
}

function trimZeros(text) {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

/** Decimals needed so adjacent prices `step` apart print differently. */
export function decimalsForStep(step) {
  if (!(step > 0) || step >= 1) return 0;
  return Math.min(8, Math.ceil(-Math.log10(step) - 1e-9));
}

/** Price with thousands separators: 61234.5 with step 0.5 -> "61,234.5". */
export function formatPrice(price, step = 1) {
  if (!Number.isFinite(price)) return '–';
  const decimals = decimalsForStep(step);
  const fixed = Math.abs(price).toFixed(decimals);
  const [whole, frac] = fixed.split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${price < 0 ? '-' : ''}${grouped}${frac ? `.${frac}` : ''}`;
}

function pad2(n) {
  return String(n).padStart(2, '0');
}

/** "2026-06-12 14:05 UTC" */
export function formatDateTimeUtc(ms) {
  const d = new Date(ms);
  return `${formatDateUtc(ms)} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())} UTC`;
}

/** Axis label: "14:00" inside a day, "06-12" at midnight (day boundaries stand out). */
export function formatAxisTime(ms) {
  const d = new Date(ms);
  if (d.getUTCHours() === 0 && d.getUTCMinutes() === 0) return `${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
  return `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}`;
}

/** "3s ago", "2m ago", "1h ago" for the last-update stat. */
export function formatAge(ageMs) {
  if (!Number.isFinite(ageMs) || ageMs < 0) return '–';
  const s = Math.floor(ageMs / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}

/**
 * A time span for labels, in the units of the window buttons: "45m", "36h"
 * (under three days), "6d 10h", "7d". Rounded down to whole minutes / hours.
 */
export function formatSpan(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 72) return `${hours}h`;
  const days = Math.floor(hours / 24);
  const rest = hours % 24;
  return rest === 0 ? `${days}d` : `${days}d ${rest}h`;
}

/** "2026-06-07" */
export function formatDateUtc(ms) {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
}
