import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describeModelQuality, showModelQuality, MODEL_QUALITY_URL } from '../../../frontend/js/model-quality.js';

// The report the backtest wrote into the repository (make bench): the page's text comes from it.
const report = JSON.parse(readFileSync(new URL('../../../frontend/data/model-quality.json', import.meta.url)));

test('the sentence carries the measured figures of both sides, the bar count and the last day', () => {
  const text = describeModelQuality(report);
  const expected = report.long.spearman.model.value.toFixed(2);
  assert.ok(text.startsWith(`Long bands: Spearman ${expected} [`), text);
  assert.ok(text.includes(`vs ${report.short.spearman.candle.value.toFixed(2)} for the candle rule`), text);
  assert.ok(text.includes(`on ${report.data.scored_bars} 30-minute ${report.data.symbol} bars to ${report.data.last_open_time.slice(0, 10)}`), text);
});

test('a report without figures gives no sentence', () => {
  assert.equal(describeModelQuality({}), null);
  assert.equal(describeModelQuality({ data: {}, long: {}, short: {} }), null);
});

test('the element stays hidden when the report cannot be fetched', async () => {
  const element = { hidden: true, textContent: '' };
  await showModelQuality(element, async () => ({ ok: false }));
  assert.equal(element.hidden, true);
  let asked = null;
  await showModelQuality(element, async (url) => { asked = url; return { ok: true, json: async () => report }; });
  assert.equal(asked, MODEL_QUALITY_URL);
  assert.equal(element.hidden, false);
  assert.ok(element.textContent.startsWith('Measured quality — Long bands: Spearman'), element.textContent);
});
