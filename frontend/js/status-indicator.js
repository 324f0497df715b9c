// Connection status shown in the header pill: the client's status plus the
// page's own knowledge (slow-consumer warning, failing polls) mapped to one
// of six states and a colour.

export const PAGE_STATES = Object.freeze(['live', 'connecting', 'reconnecting', 'degraded', 'disconnected', 'polling']);

const TONES = {
  live: 'ok',
  connecting: 'warn',
  reconnecting: 'warn',
  degraded: 'warn',
  disconnected: 'bad',
  polling: 'bad',
};

/**
 * @param {string} clientStatus HeatmapWebSocket status
 * @param {{attempt?: number, degraded?: boolean, pollFailing?: boolean, pollIntervalS?: number}} info
 */
export function describeStatus(clientStatus, info = {}) {
  let state;
  let label;
  switch (clientStatus) {
    case 'connected':
      state = info.degraded ? 'degraded' : 'live';
      label = info.degraded ? 'Live · slow connection' : 'Live';
      break;
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
      label = info.pollFailing ? 'Offline · retrying' : `Polling · every ${info.pollIntervalS || '?'}s`;
      break;
    default:
      state = 'disconnected';
      label = 'Disconnected';
  }
  return { state, label, tone: TONES[state] };
}
