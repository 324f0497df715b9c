// k6 load test of the live heatmap WebSocket (/ws/heatmap), following the original plan:
// ramp to 100 clients in 1 min, to 500 in 5 min, to the 1,000 peak over 2 min, ramp down in
// 2 min. Each virtual user opens one WebSocket, subscribes, and holds it, checking the 101 upgrade
// and that snapshots arrive and parse; delivery latency is receipt time minus the snapshot's
// `sent_at_ms` (server and k6 on one host, so one clock).
//
// Run (always with --no-usage-report; see docs/load_testing.md):
//   k6 run --no-usage-report tests/load/ws_load_test.js
// Environment:
//   TARGET_URL    ws://127.0.0.1:8000/ws/heatmap
//   SYMBOLS       BTCUSDT            comma-separated, all subscribed by every user
//   STAGE_SCALE   1                  multiplies every stage length (0.05 turns 10 min into 30 s)
//   VU_SCALE      1                  multiplies every stage target (0.005 peaks at 5 users)
//   HOLD_S        60                 seconds each user keeps its socket before reconnecting
//   PING_S        30                 seconds between keepalive pings (the server's idle timeout is 60 s)

import ws from 'k6/ws';
import { check } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';

const TARGET_URL = __ENV.TARGET_URL || 'ws://127.0.0.1:8000/ws/heatmap';
const SYMBOLS = (__ENV.SYMBOLS || 'BTCUSDT').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
const STAGE_SCALE = Number(__ENV.STAGE_SCALE || '1');
const VU_SCALE = Number(__ENV.VU_SCALE || '1');
const HOLD_S = Number(__ENV.HOLD_S || '60');
const PING_S = Number(__ENV.PING_S || '30');

// The original plan's stages, in seconds and users.
const PLAN = [
  { seconds: 60, users: 100 },
  { seconds: 300, users: 500 },
  { seconds: 120, users: 1000 },
  { seconds: 120, users: 0 },
];

function stages() {
  return PLAN.map((stage) => ({
    duration: `${Math.max(1, Math.round(stage.seconds * STAGE_SCALE))}s`,
    target: stage.users === 0 ? 0 : Math.max(1, Math.round(stage.users * VU_SCALE)),
  }));
}

const connectFailed = new Rate('ws_connect_failed');
const snapshotParsed = new Rate('snapshot_parsed');
const snapshotsReceived = new Counter('snapshots_received');
const deliveryMs = new Trend('snapshot_delivery_ms', true);
const seqGaps = new Counter('snapshot_seq_gaps');

export const options = {
  scenarios: {
    heatmap_viewers: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: stages(),
      gracefulRampDown: `${Math.max(2, Math.round(10 * STAGE_SCALE))}s`,
    },
  },
  thresholds: {
    ws_connect_failed: ['rate<0.01'],
    snapshot_delivery_ms: ['p(95)<500', 'p(99)<1000'],
    snapshot_parsed: ['rate>0.99'],
    snapshots_received: ['count>0'],
    checks: ['rate>0.99'],
  },
};

export default function () {
  const lastSeq = {};
  let firstOfSymbol = {};
  const res = ws.connect(TARGET_URL, {}, function (socket) {
    socket.on('open', () => {
      socket.send(JSON.stringify({ action: 'subscribe', symbols: SYMBOLS }));
      socket.setInterval(() => socket.send(JSON.stringify({ action: 'ping' })), PING_S * 1000);
      socket.setTimeout(() => socket.close(), HOLD_S * 1000);
    });
    socket.on('message', (text) => {
      const receivedMs = Date.now();
      let msg;
      try {
        msg = JSON.parse(text);
      } catch (e) {
        snapshotParsed.add(false);
        return;
      }
      if (msg.type !== 'snapshot') {
        return;
      }
      const ok = typeof msg.seq === 'number' && typeof msg.sent_at_ms === 'number' && msg.data !== null && typeof msg.data === 'object';
      snapshotParsed.add(ok);
      if (!ok) {
        return;
      }
      snapshotsReceived.add(1);
      const previous = lastSeq[msg.symbol];
      if (previous && previous.epoch === msg.epoch && msg.seq !== previous.seq + 1) {
        seqGaps.add(1);
      }
      lastSeq[msg.symbol] = { epoch: msg.epoch, seq: msg.seq };
      // The first snapshot after subscribing is the server's latest, framed before we asked:
      // its age is not delivery latency.
      if (firstOfSymbol[msg.symbol]) {
        deliveryMs.add(receivedMs - msg.sent_at_ms);
      }
      firstOfSymbol[msg.symbol] = true;
    });
  });
  const upgraded = check(res, { 'upgrade answered 101': (r) => r && r.status === 101 });
  connectFailed.add(!upgraded);
}
