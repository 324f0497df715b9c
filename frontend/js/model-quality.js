// The model's measured quality, shown under the chart: figures the backtest
// (`liquidationheatmap backtest --output frontend/data/model-quality.json`,
// run by `make bench`) wrote, never typed by hand. See docs/model.md.

export const MODEL_QUALITY_URL = '/data/model-quality.json';

function fixed(value) {
  return Number.isFinite(value) ? value.toFixed(2) : '–';
}

/**
 * One sentence per side from a backtest report:
 * "Long bands: Spearman 0.72 [0.65–0.78] vs 0.68 for the candle rule, …".
 * Returns null when the report lacks the figures.
 */
export function describeModelQuality(report) {
  const data = report && report.data;
  if (!data || !report.long || !report.short) return null;
  const side = (name, scores) => {
    const s = scores && scores.spearman;
    if (!s || !s.model || !s.candle) return null;
    return `${name} bands: Spearman ${fixed(s.model.value)} [${fixed(s.model.low)}–${fixed(s.model.high)}]`
      + ` vs ${fixed(s.candle.value)} for the candle rule`;
  };
  const long = side('Long', report.long);
  const short = side('Short', report.short);
  if (!long || !short) return null;
  const day = String(data.last_open_time || '').slice(0, 10);
  const minutes = Math.round((data.interval_ms || 0) / 60000);
  return `${long}; ${short}: correlation with liquidations that really happened, `
    + `on ${data.scored_bars} ${minutes}-minute ${data.symbol} bars to ${day}`
    + ` (95% intervals; model ${report.model ? report.model.preset : '?'}).`;
}

/** Fetches the report and fills `element`; leaves it hidden when there is none. */
export async function showModelQuality(element, fetchImpl = fetch) {
  if (!element) return;
  try {
    const response = await fetchImpl(MODEL_QUALITY_URL);
    if (!response.ok) return;
    const text = describeModelQuality(await response.json());
    if (!text) return;
    element.textContent = `Measured quality — ${text}`;
    element.hidden = false;
  } catch {
    // No report, or not JSON: the page simply does not claim a quality.
  }
}

if (typeof document !== 'undefined') {
  const start = () => showModelQuality(document.getElementById('model-quality'));
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
}
