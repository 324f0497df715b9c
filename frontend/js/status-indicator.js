// Connection status shown in the header pill: the client's status plus the
// page's own knowledge (slow-consumer warning, failing polls, a failed
// history load, a demo replay) mapped to one of seven states and a colour.

export const PAGE_STATES = Object.freeze(['live', 'connecting', 'reconnecting', 'degraded', 'history_failed', 'disconnected', 'polling']);

const TONES = {
  live: 'ok',
  history_failed: 'warn',
  connecting: 'warn',
  reconnecting: 'warn',
  degraded: 'warn',
  disconnected: 'bad',
  polling: 'bad',
};

/**
 * @param {string} clientStatus HeatmapWebSocket status
 * @param {{attempt?: number, degraded?: boolean, pollFailing?: boolean, pollIntervalS?: number, historyFailed?: boolean, replay?: boolean}} info
 *   `historyFailed`: the last history load failed (the page shows why);
 *   `replay`: the server replays recorded data, so "Live" would mislead.
 */
export function describeStatus(clientStatus, info = {}) {
  let state;
  let label;
  switch (clientStatus) {
    case 'connected': {
      const live = info.replay ? 'Replay' : 'Live';
      if (info.historyFailed) {
        state = 'history_failed';
        label = `${live} · history failed`;
      } else {
        state = info.degraded ? 'degraded' : 'live';
        label = info.degraded ? `${live} · slow connection` : info.replay ? 'Replay streaming' : 'Live';
      }
      break;
    }
    case 'connecting':
      state = 'connecting';
      label = 'Connecting…';
      break;
    case 'reconnecting':
      state = 'reconnecting';
      label = info.attempt ? `Reconnecting (attempt ${info.attempt})…` : 'Reconnecting…';
      break;
    case 'polling':
      state = info.pollFailing ? 'disconnected' : 'polling';
      label = info.pollFailing ? 'Offline · retrying' : info.historyFailed ? 'Polling · history failed' : `Polling · every ${info.pollIntervalS || '?'}s`;
      break;
    default:
      state = 'disconnected';
      label = 'Disconnected';
  }
  return { state, label, tone: TONES[state] };
}
