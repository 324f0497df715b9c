// What the server streams, from /api/config's `feed`: a trader must never take
// a demo replay of recorded data for the market. Pure, so it is unit-tested.

import { formatDateTimeUtc, formatDateUtc } from './format.js';

/** Feed modes that show recorded or made-up data, not the market now. */
const NOT_MARKET_MODES = new Set(['demo_replay', 'demo', 'synthetic_load']);

/**
 * @param {{mode?: string, period_start?: string, period_end?: string, replay_interval_s?: number} | null | undefined} feed
 * @returns {{notMarket: boolean, badge: string | null, title: string}}
 *   `badge` is the header badge's text (null: no badge), `title` its explanation.
 */
export function describeFeed(feed) {
  const mode = feed && typeof feed.mode === 'string' ? feed.mode : null;
  if (!mode || !NOT_MARKET_MODES.has(mode)) return { notMarket: false, badge: null, title: '' };
  if (mode === 'synthetic_load') {
    return { notMarket: true, badge: 'Synthetic test data', title: 'The server publishes synthetic snapshots for load tests; this is not market data.' };
  }
  const start = Date.parse(feed.period_start);
  const end = Date.parse(feed.period_end);
  const period = Number.isFinite(start) && Number.isFinite(end) ? periodLabel(start, end) : 'recorded data';
  const range = Number.isFinite(start) && Number.isFinite(end) ? ` (${formatDateTimeUtc(start)} – ${formatDateTimeUtc(end)})` : '';
  if (mode === 'demo') {
    return { notMarket: true, badge: `Demo data of ${period}`, title: `Demo: recorded data${range}, not live market data.` };
  }
  const pace = Number(feed.replay_interval_s) > 0 ? ` one bar every ${Number(feed.replay_interval_s)} s` : '';
  return {
    notMarket: true,
    badge: `Replay of ${period}`,
    title: `Demo replay, not live market data: recorded bars${range} are replayed${pace}, then the replay starts over.`,
  };
}

/** "2026-06-07 – 06-14"; the year is repeated only when it changes. */
export function periodLabel(startMs, endMs) {
  const first = formatDateUtc(startMs);
  const last = formatDateUtc(endMs);
  return `${first} – ${first.slice(0, 4) === last.slice(0, 4) ? last.slice(5) : last}`;
}
