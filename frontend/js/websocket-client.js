// HeatmapWebSocket: the browser's connection to ws://HOST/ws/heatmap.
//
// It owns everything about staying connected so the page only has to render:
// subscriptions that survive reconnects, exponential backoff with jitter,
// an application-level ping/pong keepalive (a half-open TCP connection never
// fires `close`, so only a missing pong reveals it), per-symbol seq/epoch gap
// detection, and an optional REST polling fallback while the socket is down.
//
// Every source of time and randomness and the WebSocket constructor are
// injectable so Node's test runner can drive it with fakes.

export const STATUS = Object.freeze({
  CONNECTING: 'connecting',
  CONNECTED: 'connected',
  RECONNECTING: 'reconnecting',
  DISCONNECTED: 'disconnected',
  POLLING: 'polling',
});

// Server limit: a subscribe/unsubscribe message carries 1-10 symbols.
export const SYMBOLS_PER_MESSAGE_MAX = 10;
// The server's close code for a client-initiated normal close.
const CLOSE_NORMAL = 1000;
// Application close code (4000-4999 is free for applications) used when we
// give up on a connection that stopped answering pings.
export const CLOSE_PONG_TIMEOUT = 4000;
// WebSocket.readyState values (same in browsers and the `ws` package).
const READY_OPEN = 1;

export const DEFAULT_OPTIONS = Object.freeze({
  reconnectBaseMs: 1000,
  reconnectCapMs: 30000,
  reconnectAttemptsMax: 5,
  pingIntervalMs: 30000,
  pongTimeoutMs: 10000,
  // Failed attempts in a row after which the poll fallback takes over.
  pollAfterFailedAttempts: 3,
  pollIntervalMs: 5000,
  // Pace of background WebSocket retries once the fast attempts are used up
  // while polling keeps the page alive.
  slowRetryMs: 45000,
});

function defaultTimers() {
  return {
    setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
    clearTimeout: (id) => globalThis.clearTimeout(id),
    setInterval: (fn, ms) => globalThis.setInterval(fn, ms),
    clearInterval: (id) => globalThis.clearInterval(id),
    now: () => Date.now(),
    random: () => Math.random(),
  };
}

function noop() {}

/**
 * Delay before reconnect attempt `attempt` (1-based): exponential growth from
 * `baseMs`, capped at `capMs`, with "equal jitter" so the result lies in
 * [ceiling/2, ceiling). Half the delay stays deterministic (no thundering
 * herd of instant retries), the other half spreads clients apart after a
 * server restart.
 */
export function backoffDelayMs(attempt, baseMs, capMs, random01) {
  const exponent = Math.max(0, attempt - 1);
  const ceiling = Math.min(capMs, baseMs * 2 ** exponent);
  const jitter = Math.min(Math.max(random01, 0), 0.999999);
  return Math.floor(ceiling / 2 + (ceiling / 2) * jitter);
}

function normaliseSymbols(symbols) {
  const list = Array.isArray(symbols) ? symbols : [symbols];
  const out = [];
  for (const raw of list) {
    if (typeof raw !== 'string' || raw.trim() === '') {
      throw new TypeError(`symbol must be a non-empty string, got ${JSON.stringify(raw)}`);
    }
    const symbol = raw.trim().toUpperCase();
    if (!out.includes(symbol)) out.push(symbol);
  }
  return out;
}

function chunk(list, size) {
  const out = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

export class HeatmapWebSocket {
  constructor(url, options = {}) {
    if (typeof url !== 'string' || url === '') throw new TypeError('url must be a non-empty string');
    this.url = url;
    this.options = { ...DEFAULT_OPTIONS, ...options };
    this.timers = { ...defaultTimers(), ...(options.timers || {}) };
    this.WebSocketImpl = options.WebSocket || globalThis.WebSocket;
    if (typeof this.WebSocketImpl !== 'function') {
      throw new TypeError('no WebSocket implementation available; pass options.WebSocket');
    }

    this.onSnapshot = options.onSnapshot || noop;
    this.onError = options.onError || noop;
    this.onStatusChange = options.onStatusChange || noop;
    this.onResync = options.onResync || noop;
    this.onWarning = options.onWarning || noop;
    // Realised liquidations of subscribed symbols ({"type":"liquidation",...}).
    this.onLiquidation = options.onLiquidation || noop;
    this.onSubscribed = options.onSubscribed || noop;
    this.onUnsubscribed = options.onUnsubscribed || noop;
    this.onPong = options.onPong || noop;
    // async (symbols) => void; the page fetches REST data itself.
    this.poll = options.poll || null;
    // async () => boolean; false means "the server says WS is off, do not try".
    this.probe = options.probe || null;

    this.status = STATUS.DISCONNECTED;
    this.socket = null;
    this.wanted = []; // symbols the caller wants, in subscription order
    this.serverSubscribed = []; // last list confirmed by the server
    this.sequence = new Map(); // symbol -> { epoch, seq }
    this.failedAttempts = 0; // consecutive attempts that never opened
    this.reconnectAttempt = 0; // fast attempts used since the last open
    this.wantConnection = false;
    this.polling = false;
    this.pollInFlight = false;
    this.pollFailing = false;
    this.lastPongAtMs = null;
    this.latencyMs = null;

    this.reconnectTimer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.pollTimer = null;
  }

  // ---- public API -------------------------------------------------------

  connect() {
    this.wantConnection = true;
    if (this.socket) return;
    this.reconnectAttempt = 0;
    this.failedAttempts = 0;
    this.clearReconnectTimer();
    this.openSocket();
  }

  subscribe(symbols) {
    const fresh = normaliseSymbols(symbols).filter((s) => !this.wanted.includes(s));
    if (fresh.length === 0) return;
    this.wanted.push(...fresh);
    this.sendSymbols('subscribe', fresh);
  }

  unsubscribe(symbols) {
    const gone = normaliseSymbols(symbols).filter((s) => this.wanted.includes(s));
    if (gone.length === 0) return;
    this.wanted = this.wanted.filter((s) => !gone.includes(s));
    for (const s of gone) this.sequence.delete(s);
    this.sendSymbols('unsubscribe', gone);
  }

  /** Stop for good: no reconnects, no polling, until connect() is called again. */
  disconnect() {
    this.wantConnection = false;
    this.clearReconnectTimer();
    this.stopPolling();
    this.closeSocket(CLOSE_NORMAL, 'client disconnect');
    this.setStatus(STATUS.DISCONNECTED, { reason: 'client disconnect' });
  }

  /**
   * Switch to REST polling immediately (e.g. the server answered 503
   * WS_DISABLED) and keep retrying the socket at the slow pace.
   */
  startPolling(reason = 'fallback') {
    this.wantConnection = true;
    this.closeSocket(CLOSE_NORMAL, 'switching to polling');
    // The server told us the socket is off: skip the fast attempts and only
    // retry at the slow background pace.
    this.reconnectAttempt = this.options.reconnectAttemptsMax;
    this.beginPolling(reason);
    this.scheduleSlowRetry();
  }

  get subscriptions() {
    return [...this.wanted];
  }

  // ---- socket lifecycle -------------------------------------------------

  openSocket() {
    const isRetry = this.reconnectAttempt > 0 || this.polling;
    if (!this.polling) {
      this.setStatus(isRetry ? STATUS.RECONNECTING : STATUS.CONNECTING, { attempt: this.reconnectAttempt });
    }
    let socket;
    try {
      socket = new this.WebSocketImpl(this.url);
    } catch (err) {
      this.onError({ code: 'CONNECT_FAILED', message: String(err && err.message ? err.message : err) });
      this.handleConnectionLost({ code: 1006, reason: 'constructor threw', opened: false });
      return;
    }
    const state = { opened: false };
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      state.opened = true;
      this.handleOpen();
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      this.handleMessage(event.data);
    };
    socket.onerror = () => {
      // Browsers give no detail here; the close event that follows drives recovery.
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.handleConnectionLost({
        code: event && event.code,
        reason: (event && event.reason) || '',
        opened: state.opened,
      });
    };
  }

  handleOpen() {
    this.reconnectAttempt = 0;
    this.failedAttempts = 0;
    this.clearReconnectTimer();
    this.stopPolling();
    this.setStatus(STATUS.CONNECTED, {});
    this.startKeepalive();
    // The server forgets subscriptions with the connection; restore them all.
    for (const group of chunk(this.wanted, SYMBOLS_PER_MESSAGE_MAX)) {
      this.send({ action: 'subscribe', symbols: group });
    }
  }

  handleConnectionLost({ code, reason, opened }) {
    this.stopKeepalive();
    this.serverSubscribed = [];
    if (!this.wantConnection) return;
    if (!opened) this.failedAttempts += 1;

    if (this.poll && !this.polling && this.failedAttempts >= this.options.pollAfterFailedAttempts) {
      this.beginPolling('websocket unavailable');
    }
    if (this.polling && this.reconnectAttempt >= this.options.reconnectAttemptsMax) {
      this.scheduleSlowRetry();
      return;
    }
    if (this.reconnectAttempt >= this.options.reconnectAttemptsMax) {
      this.setStatus(STATUS.DISCONNECTED, { code, reason, gaveUp: true });
      this.onError({
        code: 'RECONNECT_EXHAUSTED',
        message: `gave up after ${this.options.reconnectAttemptsMax} reconnect attempts`,
      });
      this.wantConnection = false;
      return;
    }
    this.reconnectAttempt += 1;
    const delayMs = backoffDelayMs(
      this.reconnectAttempt,
      this.options.reconnectBaseMs,
      this.options.reconnectCapMs,
      this.timers.random(),
    );
    if (!this.polling) {
      this.setStatus(STATUS.RECONNECTING, { attempt: this.reconnectAttempt, delayMs, code, reason });
    }
    this.clearReconnectTimer();
    this.reconnectTimer = this.timers.setTimeout(() => {
      this.reconnectTimer = null;
      if (this.wantConnection && !this.socket) this.openSocket();
    }, delayMs);
  }

  scheduleSlowRetry() {
    this.clearReconnectTimer();
    const base = this.options.slowRetryMs;
    // +/-20 % so a fleet of open pages does not retry in lockstep.
    const delayMs = Math.floor(base * (0.8 + 0.4 * this.timers.random()));
    this.reconnectTimer = this.timers.setTimeout(() => {
      this.reconnectTimer = null;
      this.attemptFromBackground();
    }, delayMs);
  }

  async attemptFromBackground() {
    if (!this.wantConnection || this.socket) return;
    if (this.probe) {
      let allowed = false;
      try {
        allowed = await this.probe();
      } catch {
        allowed = false;
      }
      if (!this.wantConnection || this.socket) return;
      if (!allowed) {
        this.scheduleSlowRetry();
        return;
      }
    }
    this.openSocket();
  }

  closeSocket(code, reason) {
    this.stopKeepalive();
    const socket = this.socket;
    this.socket = null;
    if (!socket) return;
    socket.onopen = null;
    socket.onmessage = null;
    socket.onclose = null;
    socket.onerror = null;
    try {
      socket.close(code, reason);
    } catch {
      // Already closing or never opened; nothing left to release.
    }
  }

  // ---- keepalive ----------------------------------------------------------

  startKeepalive() {
    this.stopKeepalive();
    this.lastPingAtMs = this.timers.now();
    this.pingTimer = this.timers.setInterval(() => this.sendPing(), this.options.pingIntervalMs);
  }

  stopKeepalive() {
    if (this.pingTimer !== null) this.timers.clearInterval(this.pingTimer);
    if (this.pongTimer !== null) this.timers.clearTimeout(this.pongTimer);
    this.pingTimer = null;
    this.pongTimer = null;
  }

  sendPing() {
    if (!this.send({ action: 'ping' })) return;
    this.pingSentAtMs = this.timers.now();
    this.lastPingAtMs = this.pingSentAtMs;
    if (this.pongTimer !== null) return; // an earlier ping is still waiting
    this.pongTimer = this.timers.setTimeout(() => {
      this.pongTimer = null;
      this.onError({ code: 'PONG_TIMEOUT', message: `no pong within ${this.options.pongTimeoutMs} ms` });
      // Treat as dead without waiting for a close event that may never come.
      this.closeSocket(CLOSE_PONG_TIMEOUT, 'pong timeout');
      this.handleConnectionLost({ code: CLOSE_PONG_TIMEOUT, reason: 'pong timeout', opened: true });
    }, this.options.pongTimeoutMs);
  }

  // ---- polling fallback ---------------------------------------------------

  beginPolling(reason) {
    if (!this.poll) return;
    if (!this.polling) {
      this.polling = true;
      this.setStatus(STATUS.POLLING, { reason });
    }
    if (this.pollTimer === null && !this.pollInFlight) this.runPoll();
  }

  stopPolling() {
    this.polling = false;
    if (this.pollTimer !== null) this.timers.clearTimeout(this.pollTimer);
    this.pollTimer = null;
  }

  async runPoll() {
    this.pollTimer = null;
    if (!this.polling) return;
    let succeeded = false;
    this.pollInFlight = true;
    try {
      await this.poll([...this.wanted]);
      succeeded = true;
    } catch (err) {
      this.onError({ code: 'POLL_FAILED', message: String(err && err.message ? err.message : err) });
    } finally {
      this.pollInFlight = false;
    }
    if (!this.polling) return;
    const wasFailing = this.pollFailing;
    this.pollFailing = !succeeded;
    // A poll that works again after failing means the server is back: try the
    // socket now instead of waiting out the slow retry timer.
    if (succeeded && wasFailing && !this.socket) {
      this.clearReconnectTimer();
      this.attemptFromBackground();
    }
    if (this.polling) {
      this.pollTimer = this.timers.setTimeout(() => this.runPoll(), this.options.pollIntervalMs);
    }
  }

  // ---- messages -------------------------------------------------------------

  send(message) {
    const socket = this.socket;
    if (!socket || socket.readyState !== READY_OPEN) return false;
    socket.send(JSON.stringify(message));
    return true;
  }

  sendSymbols(action, symbols) {
    for (const group of chunk(symbols, SYMBOLS_PER_MESSAGE_MAX)) this.send({ action, symbols: group });
  }

  /**
   * Browsers throttle timers in background tabs (Chrome: to once a minute),
   * which would stretch the ping period past the server's idle timeout.
   * Message events are not throttled, so a due ping also goes out here.
   */
  pingIfDue() {
    if (this.pingTimer === null) return;
    if (this.timers.now() - this.lastPingAtMs >= this.options.pingIntervalMs) this.sendPing();
  }

  handleMessage(raw) {
    this.pingIfDue();
    let message;
    try {
      message = JSON.parse(raw);
    } catch {
      this.onError({ code: 'BAD_FRAME', message: 'server sent a frame that is not JSON' });
      return;
    }
    if (!message || typeof message !== 'object') {
      this.onError({ code: 'BAD_FRAME', message: 'server sent a frame that is not a JSON object' });
      return;
    }
    switch (message.type) {
      case 'subscribed':
        this.serverSubscribed = Array.isArray(message.symbols) ? [...message.symbols] : [];
        this.onSubscribed(this.serverSubscribed);
        return;
      case 'unsubscribed':
        this.onUnsubscribed(Array.isArray(message.symbols) ? [...message.symbols] : []);
        return;
      case 'snapshot':
        this.handleSnapshot(message);
        return;
      case 'warning':
        this.onWarning(message);
        return;
      case 'error':
        this.onError(message);
        return;
      case 'pong':
        this.handlePong(message);
        return;
      case 'liquidation':
        this.onLiquidation(message);
        return;
      default:
        this.onWarning({ code: 'UNKNOWN_MESSAGE_TYPE', message: `unknown message type ${JSON.stringify(message.type)}` });
    }
  }

  handlePong(message) {
    if (this.pongTimer !== null) this.timers.clearTimeout(this.pongTimer);
    this.pongTimer = null;
    this.lastPongAtMs = this.timers.now();
    if (typeof this.pingSentAtMs === 'number') this.latencyMs = this.lastPongAtMs - this.pingSentAtMs;
    this.onPong({ timestamp: message.timestamp, latencyMs: this.latencyMs });
  }

  handleSnapshot(message) {
    const symbol = message.symbol;
    if (typeof symbol !== 'string' || !this.wanted.includes(symbol)) return; // late frame after unsubscribe
    const seq = Number(message.seq);
    const epoch = message.epoch;
    const previous = this.sequence.get(symbol);
    // The same epoch and seq again is the very snapshot already shown: a (re)subscription is
    // answered at once with the newest snapshot, which after a reconnect (to this server, or to
    // another one behind the Redis bus, which sends the same stream) is often the last one seen.
    // Nothing was missed, so no resync and nothing to draw twice.
    if (previous && previous.epoch === epoch && previous.seq === seq) return;
    if (previous) {
      if (previous.epoch !== epoch) {
        this.onResync(symbol, 'epoch_changed');
      } else if (seq !== previous.seq + 1) {
        this.onResync(symbol, seq > previous.seq + 1 ? 'seq_gap' : 'seq_regression');
      }
    }
    this.sequence.set(symbol, { epoch, seq });
    this.onSnapshot(message);
  }

  // ---- helpers --------------------------------------------------------------

  setStatus(status, detail) {
    if (this.status === status && status !== STATUS.RECONNECTING) return;
    this.status = status;
    this.onStatusChange(status, detail || {});
  }

  clearReconnectTimer() {
    if (this.reconnectTimer !== null) this.timers.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }
}
