// Columns the live stream skipped, fetched from REST so that no empty column
// sits between two received states.
//
// The server sends one snapshot per new bar, but a slow client's queue keeps
// only the newest unsent snapshot of a symbol (conflation), a producer that
// fell behind sends only its newest bars, and a browser's connection can
// stall. Whenever a live snapshot lands more than one bucket after the newest
// column, the buckets in between are asked from
// /liquidations/heatmap-timeseries (the same model over the same stored bars,
// so the filled columns are each bar's true state, not an invented one).

import { bucketStartMs, timestampMs } from './binning.js';

// A gap wider than this is not patched column by column: the whole history is
// reloaded instead (one request either way, and a reload also re-lays the grid).
export const GAP_FILL_SLOTS_MAX = 288;
// After a failed fill, the next attempt waits this long.
export const GAP_RETRY_MS = 5000;

export class GapFiller {
  /**
   * @param {object} options
   * @param {import('./heatmap-model.js').HeatmapModel} options.model
   * @param {(startMs: number, endMs: number) => Promise<{data?: object[]}>} options.fetchRange
   *   REST timeseries for bars with open time in [startMs, endMs], at the model's interval
   * @param {(data: object) => void} options.applyColumn writes one returned state into the model and paints it
   * @param {() => void} [options.onTooLarge] the gap is wider than `slotsMax`: reload history
   * @param {(err: Error) => void} [options.onError] a fill failed (it is retried after `retryMs`)
   */
  constructor({ model, fetchRange, applyColumn, onTooLarge = () => {}, onError = () => {}, timers = globalThis, retryMs = GAP_RETRY_MS, slotsMax = GAP_FILL_SLOTS_MAX }) {
    this.model = model;
    this.fetchRange = fetchRange;
    this.applyColumn = applyColumn;
    this.onTooLarge = onTooLarge;
    this.onError = onError;
    this.timers = timers;
    this.retryMs = retryMs;
    this.slotsMax = slotsMax;
    this.wanted = new Set(); // bucket start times (Unix ms) still to fetch
    this.inFlight = false;
    this.timer = null;
    this.layout = 0; // bumped by reset(): answers for an older layout are dropped
    this.stats = { requests: 0, filled: 0, failures: 0 };
  }

  /** A new history layout (reload, symbol or window switch): forget every gap. */
  reset() {
    this.layout += 1;
    this.wanted.clear();
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
  }

  /** Buckets still waiting for their state. */
  get pending() {
    return this.wanted.size;
  }

  /**
   * Call after a live snapshot moved the newest column from `previousMs` to
   * `newestMs` (bucket start times). The buckets strictly between them have
   * no state; with `refreshPrevious` (snapshots of the same stream were
   * skipped) the previous newest bucket is asked for again too, since it may
   * hold an earlier bar's state than its last.
   */
  noteAdvance(previousMs, newestMs, { refreshPrevious = false } = {}) {
    const { intervalMs } = this.model;
    if (!(intervalMs > 0) || !Number.isFinite(previousMs) || !(newestMs > previousMs)) return;
    const from = refreshPrevious ? previousMs : previousMs + intervalMs;
    for (let t = from; t < newestMs; t += intervalMs) {
      if (t < this.model.startMs) continue;
      this.wanted.add(t);
      if (this.wanted.size > this.slotsMax) {
        this.wanted.clear();
        this.onTooLarge();
        return;
      }
    }
    this.schedule(0);
  }

  schedule(delayMs) {
    if (this.timer !== null || this.inFlight || this.wanted.size === 0) return;
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      this.fill();
    }, delayMs);
  }

  async fill() {
    const { intervalMs } = this.model;
    // Buckets that scrolled out of the window need nothing any more.
    for (const t of this.wanted) if (t < this.model.startMs) this.wanted.delete(t);
    if (this.inFlight || this.wanted.size === 0) return;
    const times = [...this.wanted];
    const startMs = Math.min(...times);
    const endMs = Math.max(...times) + intervalMs - 1000; // the last wanted bucket's bars, not the next one's
    const layout = this.layout;
    this.inFlight = true;
    this.stats.requests += 1;
    let body;
    try {
      body = await this.fetchRange(startMs, endMs);
    } catch (err) {
      this.inFlight = false;
      if (layout !== this.layout) return;
      this.stats.failures += 1;
      this.onError(err);
      this.schedule(this.retryMs);
      return;
    }
    this.inFlight = false;
    if (layout !== this.layout) return;
    for (const data of (body && body.data) || []) {
      let bucket;
      try {
        bucket = bucketStartMs(timestampMs(data), intervalMs);
      } catch {
        continue;
      }
      if (!this.wanted.has(bucket)) continue;
      this.wanted.delete(bucket);
      this.applyColumn(data);
      this.stats.filled += 1;
    }
    // Asked-for buckets the server has no bar for (a gap in the market data
    // itself) stay empty: there is no state to show.
    for (const t of times) this.wanted.delete(t);
    this.schedule(0); // gaps noted while this request was out
  }
}
