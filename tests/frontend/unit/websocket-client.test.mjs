import { test, describe } from 'node:test';
import assert from 'node:assert/strict';

import {
  HeatmapWebSocket,
  STATUS,
  backoffDelayMs,
  CLOSE_PONG_TIMEOUT,
} from '../../../frontend/js/websocket-client.js';
import { FakeClock, makeFakeWebSocketClass, snapshotMessage, flushMicrotasks } from './helpers/fakes.mjs';

const URL = 'ws://127.0.0.1:9/ws/heatmap';

function setup(extraOptions = {}) {
  const clock = new FakeClock();
  const WS = makeFakeWebSocketClass();
  const events = { statuses: [], snapshots: [], errors: [], warnings: [], resyncs: [], subscribed: [], unsubscribed: [], pongs: [] };
  const client = new HeatmapWebSocket(URL, {
    WebSocket: WS,
    timers: clock.timers(),
    onStatusChange: (status, detail) => events.statuses.push({ status, detail }),
    onSnapshot: (s) => events.snapshots.push(s),
    onError: (e) => events.errors.push(e),
    onWarning: (w) => events.warnings.push(w),
    onResync: (symbol, reason) => events.resyncs.push({ symbol, reason }),
    onSubscribed: (symbols) => events.subscribed.push(symbols),
    onUnsubscribed: (symbols) => events.unsubscribed.push(symbols),
    onPong: (p) => events.pongs.push(p),
    ...extraOptions,
  });
  const statusNames = () => events.statuses.map((s) => s.status);
  return { clock, WS, events, client, statusNames };
}

async function connected(extraOptions) {
  const h = setup(extraOptions);
  h.client.connect();
  h.WS.latest().open();
  return h;
}

/** Lets the current socket fail and waits exactly until the next attempt is made. */
async function failCurrentAndWait(h, waitMs) {
  h.WS.latest().failToConnect();
  await h.clock.advance(waitMs);
}

describe('connecting', () => {
  test('connect opens a socket to the given url and reports connecting', () => {
    const h = setup();
    h.client.connect();
    assert.equal(h.WS.instances.length, 1);
    assert.equal(h.WS.latest().url, URL);
    assert.deepEqual(h.statusNames(), [STATUS.CONNECTING]);
  });

  test('an opened socket reports connected', () => {
    const h = setup();
    h.client.connect();
    h.WS.latest().open();
    assert.deepEqual(h.statusNames(), [STATUS.CONNECTING, STATUS.CONNECTED]);
  });

  test('calling connect twice does not open a second socket', () => {
    const h = setup();
    h.client.connect();
    h.client.connect();
    assert.equal(h.WS.instances.length, 1);
  });
});

describe('subscriptions', () => {
  test('symbols subscribed before the socket opens are sent once it opens', () => {
    const h = setup();
    h.client.subscribe(['BTCUSDT']);
    h.client.connect();
    assert.deepEqual(h.WS.latest().sent, []);
    h.WS.latest().open();
    assert.deepEqual(h.WS.latest().sent, [{ action: 'subscribe', symbols: ['BTCUSDT'] }]);
  });

  test('subscribe on an open socket sends only symbols not yet subscribed, upper-cased', async () => {
    const h = await connected();
    h.client.subscribe(['btcusdt']);
    h.client.subscribe(['BTCUSDT', 'ethusdt']);
    assert.deepEqual(h.WS.latest().sent, [
      { action: 'subscribe', symbols: ['BTCUSDT'] },
      { action: 'subscribe', symbols: ['ETHUSDT'] },
    ]);
  });

  test('more than ten symbols are split into messages of at most ten', async () => {
    const h = await connected();
    const symbols = Array.from({ length: 12 }, (_, i) => `SYM${i}USDT`);
    h.client.subscribe(symbols);
    const sent = h.WS.latest().sent;
    assert.equal(sent.length, 2);
    assert.equal(sent[0].symbols.length, 10);
    assert.deepEqual(sent[1].symbols, ['SYM10USDT', 'SYM11USDT']);
  });

  test('an empty symbol is rejected with a TypeError', () => {
    const h = setup();
    assert.throws(() => h.client.subscribe(['']), TypeError);
  });

  test('unsubscribe sends the unsubscribe action for subscribed symbols only', async () => {
    const h = await connected();
    h.client.subscribe(['BTCUSDT', 'ETHUSDT']);
    h.client.unsubscribe(['ETHUSDT', 'XRPUSDT']);
    assert.deepEqual(h.WS.latest().sent.at(-1), { action: 'unsubscribe', symbols: ['ETHUSDT'] });
    assert.deepEqual(h.client.subscriptions, ['BTCUSDT']);
  });

  test('snapshots of a symbol arriving after unsubscribe are not delivered', async () => {
    const h = await connected();
    h.client.subscribe(['BTCUSDT', 'ETHUSDT']);
    h.client.unsubscribe(['ETHUSDT']);
    h.WS.latest().receive(snapshotMessage('ETHUSDT', 1));
    assert.equal(h.events.snapshots.length, 0);
  });
});

describe('server messages', () => {
  test('subscribed reports the full list the server holds', async () => {
    const h = await connected();
    h.WS.latest().receive({ type: 'subscribed', symbols: ['BTCUSDT', 'ETHUSDT'] });
    assert.deepEqual(h.events.subscribed, [['BTCUSDT', 'ETHUSDT']]);
  });

  test('unsubscribed reports the symbols removed', async () => {
    const h = await connected();
    h.WS.latest().receive({ type: 'unsubscribed', symbols: ['ETHUSDT'] });
    assert.deepEqual(h.events.unsubscribed, [['ETHUSDT']]);
  });

  test('snapshot of a subscribed symbol is delivered whole', async () => {
    const h = await connected();
    h.client.subscribe(['BTCUSDT']);
    const message = snapshotMessage('BTCUSDT', 7);
    h.WS.latest().receive(message);
    assert.deepEqual(h.events.snapshots, [message]);
  });

  test('warning is passed to onWarning with its dropped count', async () => {
    const h = await connected();
    h.WS.latest().receive({ type: 'warning', code: 'SLOW_CONSUMER', message: 'slow', dropped_messages: 3 });
    assert.equal(h.events.warnings.length, 1);
    assert.equal(h.events.warnings[0].code, 'SLOW_CONSUMER');
    assert.equal(h.events.warnings[0].dropped_messages, 3);
  });

  test('server error is passed to onError and the connection stays up', async () => {
    const h = await connected();
    h.WS.latest().receive({ type: 'error', code: 'INVALID_SYMBOL', message: 'nope', symbols: ['FOO'] });
    assert.deepEqual(h.events.errors.map((e) => e.code), ['INVALID_SYMBOL']);
    assert.equal(h.client.status, STATUS.CONNECTED);
    assert.equal(h.WS.latest().closedWith, null);
  });

  test('pong is reported with the round-trip latency of the last ping', async () => {
    const h = await connected();
    await h.clock.advance(30_000);
    await h.clock.advance(120);
    h.WS.latest().receive({ type: 'pong', timestamp: 1 });
    assert.equal(h.events.pongs.length, 1);
    assert.equal(h.events.pongs[0].latencyMs, 120);
  });

  test('a frame that is not JSON is reported as BAD_FRAME', async () => {
    const h = await connected();
    h.WS.latest().receive('not json{');
    assert.deepEqual(h.events.errors.map((e) => e.code), ['BAD_FRAME']);
  });

  test('an unknown message type is reported as a warning, not an error', async () => {
    const h = await connected();
    h.WS.latest().receive({ type: 'mystery' });
    assert.deepEqual(h.events.warnings.map((w) => w.code), ['UNKNOWN_MESSAGE_TYPE']);
    assert.equal(h.events.errors.length, 0);
  });
});

describe('backoff', () => {
  test('delay grows as base times two to the attempt minus one, within the jitter band', () => {
    for (let attempt = 1; attempt <= 5; attempt++) {
      const ceiling = 1000 * 2 ** (attempt - 1);
      assert.equal(backoffDelayMs(attempt, 1000, 60_000, 0), ceiling / 2);
      const high = backoffDelayMs(attempt, 1000, 60_000, 0.999999999);
      assert.ok(high < ceiling && high >= ceiling - 1, `attempt ${attempt}: ${high} not just below ${ceiling}`);
    }
  });

  test('delay never exceeds the cap', () => {
    assert.ok(backoffDelayMs(10, 1000, 3000, 0.99) < 3000);
    assert.equal(backoffDelayMs(10, 1000, 3000, 0), 1500);
  });

  test('reconnect attempts are made exactly after the jittered delays', async () => {
    const h = setup();
    h.clock.randomDefault = 0; // lower jitter bound: 500, 1000, 2000 ms
    h.client.connect();
    for (const delayMs of [500, 1000, 2000]) {
      const before = h.WS.instances.length;
      await failCurrentAndWait(h, delayMs - 1);
      assert.equal(h.WS.instances.length, before, `attempt came before ${delayMs} ms`);
      await h.clock.advance(1);
      assert.equal(h.WS.instances.length, before + 1, `no attempt at ${delayMs} ms`);
    }
  });

  test('upper jitter bound keeps each delay below the exponential ceiling', async () => {
    const h = setup();
    h.clock.randomDefault = 0.999;
    h.client.connect();
    const delays = [];
    h.client.onStatusChange = (status, detail) => {
      if (status === STATUS.RECONNECTING && detail.delayMs !== undefined) delays.push(detail.delayMs);
    };
    for (let i = 0; i < 5; i++) await failCurrentAndWait(h, 16_000);
    assert.equal(delays.length, 5);
    delays.forEach((d, i) => {
      const ceiling = 1000 * 2 ** i;
      assert.ok(d >= ceiling / 2 && d < ceiling, `delay ${d} outside [${ceiling / 2}, ${ceiling})`);
    });
  });

  test('gives up after five reconnect attempts and reports it', async () => {
    const h = setup();
    h.client.connect();
    for (let i = 0; i < 6; i++) await failCurrentAndWait(h, 60_000);
    assert.equal(h.WS.instances.length, 6); // the first try plus five reconnects
    assert.equal(h.client.status, STATUS.DISCONNECTED);
    assert.ok(h.events.errors.some((e) => e.code === 'RECONNECT_EXHAUSTED'));
    await h.clock.advance(600_000);
    assert.equal(h.WS.instances.length, 6);
  });

  test('attempt limit and base are configurable', async () => {
    const h = setup({ reconnectAttemptsMax: 2, reconnectBaseMs: 100 });
    h.clock.randomDefault = 0;
    h.client.connect();
    await failCurrentAndWait(h, 50);
    await failCurrentAndWait(h, 100);
    await failCurrentAndWait(h, 10_000);
    assert.equal(h.WS.instances.length, 3);
    assert.equal(h.client.status, STATUS.DISCONNECTED);
  });

  test('a successful open resets the attempt count', async () => {
    const h = setup();
    h.clock.randomDefault = 0;
    h.client.connect();
    await failCurrentAndWait(h, 500);
    await failCurrentAndWait(h, 1000);
    h.WS.latest().open();
    const before = h.WS.instances.length;
    h.WS.latest().serverClose(1001, 'server shutdown');
    await h.clock.advance(500);
    assert.equal(h.WS.instances.length, before + 1, 'first reconnect after a good connection waits only the base delay');
  });

  test('a server close reports reconnecting with the close code', async () => {
    const h = await connected();
    h.WS.latest().serverClose(4001, 'slow consumer');
    const last = h.events.statuses.at(-1);
    assert.equal(last.status, STATUS.RECONNECTING);
    assert.equal(last.detail.code, 4001);
  });
});

describe('keepalive', () => {
  test('a ping is sent every thirty seconds while connected', async () => {
    const h = await connected();
    await h.clock.advance(29_999);
    assert.deepEqual(h.WS.latest().sent, []);
    await h.clock.advance(1);
    assert.deepEqual(h.WS.latest().sent, [{ action: 'ping' }]);
    h.WS.latest().receive({ type: 'pong', timestamp: 1 });
    await h.clock.advance(30_000);
    assert.equal(h.WS.latest().sent.filter((m) => m.action === 'ping').length, 2);
  });

  test('no pong within the timeout closes the socket and reconnects', async () => {
    const h = await connected();
    await h.clock.advance(30_000);
    const dead = h.WS.latest();
    await h.clock.advance(9_999);
    assert.equal(dead.closedWith, null);
    await h.clock.advance(1);
    assert.equal(dead.closedWith.code, CLOSE_PONG_TIMEOUT);
    assert.ok(h.events.errors.some((e) => e.code === 'PONG_TIMEOUT'));
    assert.equal(h.client.status, STATUS.RECONNECTING);
    await h.clock.advance(1000);
    assert.equal(h.WS.instances.length, 2);
  });

  test('a pong in time keeps the connection open', async () => {
    const h = await connected();
    await h.clock.advance(30_000);
    await h.clock.advance(5_000);
    h.WS.latest().receive({ type: 'pong', timestamp: 1 });
    await h.clock.advance(20_000);
    assert.equal(h.WS.latest().closedWith, null);
    assert.equal(h.WS.instances.length, 1);
  });

  test('a ping that a throttled timer missed is sent on the next incoming message', async () => {
    const h = await connected();
    h.client.subscribe(['BTCUSDT']);
    h.clock.nowMs += 31_000; // a background tab: time passes, the interval does not fire
    h.WS.latest().receive(snapshotMessage('BTCUSDT', 1));
    assert.deepEqual(h.WS.latest().sent.filter((m) => m.action === 'ping'), [{ action: 'ping' }]);
  });

  test('messages do not cause extra pings before the interval is due', async () => {
    const h = await connected();
    h.client.subscribe(['BTCUSDT']);
    h.clock.nowMs += 29_000;
    h.WS.latest().receive(snapshotMessage('BTCUSDT', 1));
    assert.equal(h.WS.latest().sent.filter((m) => m.action === 'ping').length, 0);
  });

  test('ping interval and pong timeout are configurable', async () => {
    const h = await connected({ pingIntervalMs: 1000, pongTimeoutMs: 200 });
    await h.clock.advance(1000);
    assert.deepEqual(h.WS.latest().sent, [{ action: 'ping' }]);
    await h.clock.advance(200);
    assert.equal(h.WS.latest().closedWith.code, CLOSE_PONG_TIMEOUT);
  });
});

describe('reconnect restores subscriptions', () => {
  test('every wanted symbol is subscribed again on the new socket', async () => {
    const h = await connected();
    h.client.subscribe(['BTCUSDT']);
    h.client.subscribe(['ETHUSDT']);
    h.WS.latest().serverClose(1001, 'server shutdown');
    await h.clock.advance(1000);
    h.WS.latest().open();
    assert.deepEqual(h.WS.latest().sent, [{ action: 'subscribe', symbols: ['BTCUSDT', 'ETHUSDT'] }]);
  });

  test('an unsubscribed symbol is not restored', async () => {
    const h = await connected();
    h.client.subscribe(['BTCUSDT', 'ETHUSDT']);
    h.client.unsubscribe(['BTCUSDT']);
    h.WS.latest().serverClose(1006);
    await h.clock.advance(1000);
    h.WS.latest().open();
    assert.deepEqual(h.WS.latest().sent, [{ action: 'subscribe', symbols: ['ETHUSDT'] }]);
  });
});

describe('gap detection', () => {
  async function subscribedTo(symbol) {
    const h = await connected();
    h.client.subscribe([symbol]);
    return h;
  }

  test('consecutive seq numbers do not trigger a resync', async () => {
    const h = await subscribedTo('BTCUSDT');
    for (const seq of [5, 6, 7]) h.WS.latest().receive(snapshotMessage('BTCUSDT', seq));
    assert.deepEqual(h.events.resyncs, []);
    assert.equal(h.events.snapshots.length, 3);
  });

  test('a skipped seq triggers a resync for that symbol and the snapshot is still delivered', async () => {
    const h = await subscribedTo('BTCUSDT');
    h.WS.latest().receive(snapshotMessage('BTCUSDT', 5));
    h.WS.latest().receive(snapshotMessage('BTCUSDT', 7));
    assert.deepEqual(h.events.resyncs, [{ symbol: 'BTCUSDT', reason: 'seq_gap' }]);
    assert.equal(h.events.snapshots.length, 2);
  });

  test('a seq that goes backwards triggers a resync', async () => {
    const h = await subscribedTo('BTCUSDT');
    h.WS.latest().receive(snapshotMessage('BTCUSDT', 5));
    h.WS.latest().receive(snapshotMessage('BTCUSDT', 4));
    assert.deepEqual(h.events.resyncs, [{ symbol: 'BTCUSDT', reason: 'seq_regression' }]);
  });

  test('the snapshot already seen, sent again after a reconnect, is neither a resync nor drawn twice', async () => {
    const h = await subscribedTo('BTCUSDT');
    h.WS.latest().receive(snapshotMessage('BTCUSDT', 5));
    h.WS.latest().serverClose(1006);
    await h.clock.advance(1000);
    h.WS.latest().open();
    // The server (or another one behind the bus) answers the subscription with its newest.
    h.WS.latest().receive(snapshotMessage('BTCUSDT', 5));
    h.WS.latest().receive(snapshotMessage('BTCUSDT', 6));
    assert.deepEqual(h.events.resyncs, []);
    assert.deepEqual(h.events.snapshots.map((m) => m.seq), [5, 6]);
  });

  test('a changed epoch triggers a resync even when seq follows on', async () => {
    const h = await subscribedTo('BTCUSDT');
    h.WS.latest().receive(snapshotMessage('BTCUSDT', 5, 'e1'));
    h.WS.latest().receive(snapshotMessage('BTCUSDT', 6, 'e2'));
    assert.deepEqual(h.events.resyncs, [{ symbol: 'BTCUSDT', reason: 'epoch_changed' }]);
  });

  test('seq is tracked per symbol', async () => {
    const h = await subscribedTo('BTCUSDT');
    h.client.subscribe(['ETHUSDT']);
    h.WS.latest().receive(snapshotMessage('BTCUSDT', 5));
    h.WS.latest().receive(snapshotMessage('ETHUSDT', 100));
    h.WS.latest().receive(snapshotMessage('BTCUSDT', 6));
    h.WS.latest().receive(snapshotMessage('ETHUSDT', 101));
    assert.deepEqual(h.events.resyncs, []);
  });

  test('snapshots missed while reconnecting are detected as a gap', async () => {
    const h = await subscribedTo('BTCUSDT');
    h.WS.latest().receive(snapshotMessage('BTCUSDT', 5));
    h.WS.latest().serverClose(1006);
    await h.clock.advance(1000);
    h.WS.latest().open();
    h.WS.latest().receive(snapshotMessage('BTCUSDT', 9));
    assert.deepEqual(h.events.resyncs, [{ symbol: 'BTCUSDT', reason: 'seq_gap' }]);
  });

  test('a symbol subscribed again after unsubscribe starts a fresh sequence', async () => {
    const h = await subscribedTo('BTCUSDT');
    h.WS.latest().receive(snapshotMessage('BTCUSDT', 5));
    h.client.unsubscribe(['BTCUSDT']);
    h.client.subscribe(['BTCUSDT']);
    h.WS.latest().receive(snapshotMessage('BTCUSDT', 50));
    assert.deepEqual(h.events.resyncs, []);
  });
});

describe('disconnect', () => {
  test('disconnect closes the socket normally and reports disconnected', async () => {
    const h = await connected();
    h.client.disconnect();
    assert.equal(h.WS.latest().closedWith.code, 1000);
    assert.equal(h.client.status, STATUS.DISCONNECTED);
  });

  test('disconnect stops any further reconnect attempts', async () => {
    const h = await connected();
    h.WS.latest().serverClose(1006);
    h.client.disconnect();
    await h.clock.advance(600_000);
    assert.equal(h.WS.instances.length, 1);
    assert.equal(h.clock.count(), 0, 'no timer left running');
  });

  test('no pings are sent after disconnect', async () => {
    const h = await connected();
    const socket = h.WS.latest();
    h.client.disconnect();
    await h.clock.advance(120_000);
    assert.deepEqual(socket.sent, []);
  });
});

describe('polling fallback', () => {
  function withPoll(extra = {}) {
    const polls = [];
    let failPolls = false;
    const h = setup({
      pollIntervalMs: 5000,
      poll: async (symbols) => {
        polls.push({ atMs: h.clock.nowMs, symbols });
        if (failPolls) throw new Error('server unreachable');
      },
      ...extra,
    });
    h.polls = polls;
    h.setPollsFail = (v) => {
      failPolls = v;
    };
    return h;
  }

  test('three failed attempts switch to polling the subscribed symbols', async () => {
    const h = withPoll();
    h.clock.randomDefault = 0;
    h.client.subscribe(['BTCUSDT']);
    h.client.connect();
    await failCurrentAndWait(h, 500);
    await failCurrentAndWait(h, 1000);
    assert.equal(h.polls.length, 0);
    h.WS.latest().failToConnect();
    await flushMicrotasks();
    assert.equal(h.client.status, STATUS.POLLING);
    assert.deepEqual(h.polls.map((p) => p.symbols), [['BTCUSDT']]);
  });

  test('polling repeats at the poll interval', async () => {
    const h = withPoll();
    h.client.startPolling('ws_disabled');
    await h.clock.advance(10_000);
    const startMs = h.polls[0].atMs;
    assert.deepEqual(h.polls.map((p) => p.atMs - startMs), [0, 5000, 10_000]);
  });

  test('a socket that opens while polling stops polling and reports connected', async () => {
    const h = withPoll();
    h.clock.randomDefault = 0;
    h.client.connect();
    for (const ms of [500, 1000, 2000]) await failCurrentAndWait(h, ms);
    assert.equal(h.client.status, STATUS.POLLING);
    h.WS.latest().open();
    const pollsAtOpen = h.polls.length;
    await h.clock.advance(25_000); // several poll intervals, before the first ping is due
    assert.equal(h.client.status, STATUS.CONNECTED);
    assert.equal(h.polls.length, pollsAtOpen);
  });

  test('after the fast attempts are used up the socket is retried at the slow pace', async () => {
    const h = withPoll({ slowRetryMs: 45_000 });
    h.clock.randomDefault = 0;
    h.client.connect();
    for (const ms of [500, 1000, 2000, 4000, 8000]) await failCurrentAndWait(h, ms);
    const before = h.WS.instances.length;
    h.WS.latest().failToConnect();
    await h.clock.advance(45_000 * 0.8 - 1);
    assert.equal(h.WS.instances.length, before);
    await h.clock.advance(1);
    assert.equal(h.WS.instances.length, before + 1);
    assert.equal(h.client.status, STATUS.POLLING);
  });

  test('with WebSocket disabled the probe stops background attempts', async () => {
    let probes = 0;
    const h = withPoll({ slowRetryMs: 1000, probe: async () => { probes += 1; return false; } });
    h.client.startPolling('ws_disabled');
    await h.clock.advance(5000);
    assert.ok(probes >= 4, `expected repeated probes, got ${probes}`);
    assert.equal(h.WS.instances.length, 0);
  });

  test('a probe that allows it opens the socket from polling', async () => {
    const h = withPoll({ slowRetryMs: 1000, probe: async () => true });
    h.clock.randomDefault = 0;
    h.client.startPolling('ws_disabled');
    await h.clock.advance(800);
    assert.equal(h.WS.instances.length, 1);
  });

  test('a poll that succeeds after failing triggers an immediate socket attempt', async () => {
    const h = withPoll({ slowRetryMs: 600_000 });
    h.setPollsFail(true);
    h.client.startPolling('ws_disabled');
    await h.clock.advance(10_000);
    assert.equal(h.WS.instances.length, 0);
    h.setPollsFail(false);
    await h.clock.advance(5000);
    assert.equal(h.WS.instances.length, 1);
  });

  test('failed polls are reported as POLL_FAILED and polling continues', async () => {
    const h = withPoll();
    h.setPollsFail(true);
    h.client.startPolling('ws_disabled');
    await h.clock.advance(10_000);
    assert.equal(h.events.errors.filter((e) => e.code === 'POLL_FAILED').length, 3);
    assert.equal(h.client.status, STATUS.POLLING);
  });

  test('without a poll function the client never reports polling', async () => {
    const h = setup();
    h.client.connect();
    for (let i = 0; i < 6; i++) await failCurrentAndWait(h, 60_000);
    assert.ok(!h.statusNames().includes(STATUS.POLLING));
  });

  test('disconnect stops polling and background retries', async () => {
    const h = withPoll({ slowRetryMs: 1000 });
    h.client.startPolling('ws_disabled');
    await h.clock.advance(1);
    h.client.disconnect();
    const polls = h.polls.length;
    await h.clock.advance(60_000);
    assert.equal(h.polls.length, polls);
    assert.equal(h.WS.instances.length, 0);
  });
});
