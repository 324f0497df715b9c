// Test doubles for HeatmapWebSocket: a virtual clock that implements the
// timer functions the client accepts, and a WebSocket class whose server side
// the test drives by hand. Neither touches the network or the real clock.

export class FakeClock {
  constructor(startMs = 1_750_000_000_000) {
    this.nowMs = startMs;
    this.nextId = 1;
    this.pending = new Map(); // id -> { dueMs, fn, everyMs }
    this.randomValues = [];
    this.randomDefault = 0.5;
  }

  timers() {
    return {
      setTimeout: (fn, ms) => this.add(fn, ms, null),
      clearTimeout: (id) => this.pending.delete(id),
      setInterval: (fn, ms) => this.add(fn, ms, ms),
      clearInterval: (id) => this.pending.delete(id),
      now: () => this.nowMs,
      random: () => (this.randomValues.length > 0 ? this.randomValues.shift() : this.randomDefault),
    };
  }

  add(fn, ms, everyMs) {
    const id = this.nextId++;
    this.pending.set(id, { dueMs: this.nowMs + Math.max(0, ms), fn, everyMs });
    return id;
  }

  /** Runs every timer due within `ms`, in due order, letting promises settle between them. */
  async advance(ms) {
    const targetMs = this.nowMs + ms;
    for (;;) {
      await flushMicrotasks();
      let nextId = null;
      let next = null;
      for (const [id, timer] of this.pending) {
        if (timer.dueMs <= targetMs && (next === null || timer.dueMs < next.dueMs)) {
          nextId = id;
          next = timer;
        }
      }
      if (next === null) break;
      this.nowMs = next.dueMs;
      if (next.everyMs === null) this.pending.delete(nextId);
      else next.dueMs += next.everyMs;
      next.fn();
    }
    this.nowMs = targetMs;
    await flushMicrotasks();
  }

  count() {
    return this.pending.size;
  }
}

export async function flushMicrotasks() {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

export function makeFakeWebSocketClass() {
  class FakeWebSocket {
    static instances = [];

    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      this.closedWith = null;
      this.onopen = null;
      this.onmessage = null;
      this.onclose = null;
      this.onerror = null;
      FakeWebSocket.instances.push(this);
    }

    send(text) {
      if (this.readyState !== 1) throw new Error('send on a socket that is not open');
      this.sent.push(JSON.parse(text));
    }

    close(code, reason) {
      this.closedWith = { code, reason };
      this.readyState = 3;
    }

    // --- server side, driven by the test ---
    open() {
      this.readyState = 1;
      if (this.onopen) this.onopen({});
    }

    receive(message) {
      const data = typeof message === 'string' ? message : JSON.stringify(message);
      if (this.onmessage) this.onmessage({ data });
    }

    /** The server (or the network) ends the connection. */
    serverClose(code = 1006, reason = '') {
      this.readyState = 3;
      if (this.onerror) this.onerror({});
      if (this.onclose) this.onclose({ code, reason });
    }

    /** A connection attempt that never opens (e.g. connection refused). */
    failToConnect() {
      this.serverClose(1006, '');
    }

    static latest() {
      return FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
    }
  }
  return FakeWebSocket;
}

export function snapshotMessage(symbol, seq, epoch = 'e1', extra = {}) {
  return {
    type: 'snapshot',
    symbol,
    seq,
    epoch,
    timestamp: '2026-06-14T14:55:00Z',
    sent_at_ms: 1_781_449_000_000,
    source: 'binance',
    data: {
      timestamp: '2026-06-14T14:55:00Z',
      timestamp_ms: 1_781_449_000_000,
      levels: [{ price: 60000, long_density: 10, short_density: 0 }],
      current_price: 61234.5,
    },
    ...extra,
  };
}
