// The live feed's state and the age of its newest bar, next to the connection
// status (from GET /health, whose `feed` object has a `state` only when the
// server runs a live feed; otherwise it says what the data is, the replay badge
// shows that, and this pill stays hidden).

import { formatAge } from './format.js';

// /health is read this often.
export const FEED_POLL_MS = 5000;

const TONES = { live: 'ok', backfilling: 'warn', connecting: 'warn', down: 'bad' };

/**
 * What the pill shows for `/health`'s `feed` object and the selected symbol:
 * {hidden} without a feed, else {label, tone, title}.
 */
export function describeLiveFeed(feed, symbol) {
  if (!feed || typeof feed !== 'object' || !feed.state) return { hidden: true };
  const state = String(feed.state || 'unknown');
  const entry = (feed.symbols || {})[symbol] || {};
  const ageS = Number(entry.newest_bar_age_s);
  const age = Number.isFinite(ageS) ? formatAge(ageS * 1000).replace(' ago', ' old') : 'no data yet';
  const stale = entry.degraded === true;
  const tone = stale && state === 'live' ? 'warn' : TONES[state] || 'warn';
  const label = `Feed: ${state} · data ${age}`;
  const title = `${feed.kind || 'live'} feed ${state}; newest bar ${entry.newest_bar_time || 'none'}${stale ? ' (older than two bar intervals)' : ''}`;
  return { hidden: false, label, tone, title, state, stale };
}

export class FeedIndicator {
  /** @param {HTMLElement} after the element the pill is placed after (the connection status) */
  constructor(after, getSymbol) {
    this.getSymbol = getSymbol;
    this.pill = document.createElement('div');
    this.pill.id = 'feed-status';
    this.pill.className = 'status-pill feed-pill';
    this.pill.setAttribute('role', 'status');
    this.pill.hidden = true;
    const dot = document.createElement('span');
    dot.className = 'status-dot';
    dot.setAttribute('aria-hidden', 'true');
    this.label = document.createElement('span');
    this.label.className = 'status-label';
    this.pill.append(dot, this.label);
    after.after(this.pill);
    this.last = { hidden: true };
  }

  async refresh() {
    try {
      const response = await fetch('/health');
      const body = await response.json();
      this.show(describeLiveFeed(body.feed, this.getSymbol()));
    } catch {
      // The connection pill already says the server is unreachable.
    }
  }

  show(view) {
    this.last = view;
    this.pill.hidden = view.hidden;
    if (view.hidden) return;
    this.pill.dataset.tone = view.tone;
    this.pill.dataset.state = view.state;
    this.label.textContent = view.label;
    this.pill.title = view.title;
  }

  start() {
    this.refresh();
    setInterval(() => this.refresh(), FEED_POLL_MS);
  }
}
