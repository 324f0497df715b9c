import { test } from 'node:test';
import assert from 'node:assert/strict';

import { describeStatus, PAGE_STATES } from '../../../frontend/js/status-indicator.js';

test('a connected socket is live and green', () => {
  assert.deepEqual(describeStatus('connected'), { state: 'live', label: 'Live', tone: 'ok' });
});

test('a slow-consumer warning turns live into yellow degraded', () => {
  const s = describeStatus('connected', { degraded: true });
  assert.equal(s.state, 'degraded');
  assert.equal(s.tone, 'warn');
});

test('connecting and reconnecting are yellow; reconnecting names the attempt', () => {
  assert.equal(describeStatus('connecting').tone, 'warn');
  const s = describeStatus('reconnecting', { attempt: 3 });
  assert.equal(s.tone, 'warn');
  assert.match(s.label, /attempt 3/);
});

test('polling is red and states the poll interval', () => {
  const s = describeStatus('polling', { pollIntervalS: 5 });
  assert.equal(s.state, 'polling');
  assert.equal(s.tone, 'bad');
  assert.match(s.label, /every 5s/);
});

test('polling while polls fail shows the page as disconnected', () => {
  const s = describeStatus('polling', { pollFailing: true });
  assert.equal(s.state, 'disconnected');
  assert.equal(s.tone, 'bad');
});

test('disconnected is red', () => {
  assert.equal(describeStatus('disconnected').tone, 'bad');
});

test('every state produced is one the page documents', () => {
  const inputs = [['connected'], ['connected', { degraded: true }], ['connecting'], ['reconnecting'], ['polling'], ['polling', { pollFailing: true }], ['disconnected']];
  for (const [status, info] of inputs) assert.ok(PAGE_STATES.includes(describeStatus(status, info).state));
});

test('a failed history load turns a live pill yellow and says so', () => {
  const s = describeStatus('connected', { historyFailed: true });
  assert.equal(s.state, 'history_failed');
  assert.equal(s.tone, 'warn');
  assert.match(s.label, /history failed/);
  assert.ok(PAGE_STATES.includes(s.state));
});

test('a demo replay never calls itself Live', () => {
  const s = describeStatus('connected', { replay: true });
  assert.equal(s.state, 'live');
  assert.equal(s.tone, 'ok');
  assert.doesNotMatch(s.label, /Live/);
  assert.match(s.label, /Replay/);
  assert.match(describeStatus('connected', { replay: true, degraded: true }).label, /^Replay/);
});
