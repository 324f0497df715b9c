import { test } from 'node:test';
import assert from 'node:assert/strict';

import { formatUsd, formatPrice, decimalsForStep, formatDateTimeUtc, formatAxisTime, formatAge } from '../../../frontend/js/format.js';

test('millions are shown with an M suffix and up to three significant digits', () => {
  assert.equal(formatUsd(1_234_567), '$1.23M');
  assert.equal(formatUsd(1_200_000), '$1.2M');
});

test('thousands, billions and small amounts use K, B and plain dollars', () => {
  assert.equal(formatUsd(2_500), '$2.5K');
  assert.equal(formatUsd(6_300_000_000), '$6.3B');
  assert.equal(formatUsd(950), '$950');
  assert.equal(formatUsd(0), '$0');
});

test('an amount that rounds up to the next unit uses that unit', () => {
  assert.equal(formatUsd(999_999), '$1M');
});

test('negative amounts keep the sign before the dollar', () => {
  assert.equal(formatUsd(-2_500), '-$2.5K');
});

test('non-finite amounts print a dash', () => {
  assert.equal(formatUsd(NaN), '–');
  assert.equal(formatUsd(Infinity), '–');
});

test('prices get thousands separators and the decimals their step needs', () => {
  assert.equal(formatPrice(61234.5, 0.5), '61,234.5');
  assert.equal(formatPrice(61234.5, 100), '61,235');
  assert.equal(formatPrice(3456.789, 0.01), '3,456.79');
});

test('decimals for a step are the digits needed to tell neighbours apart', () => {
  assert.equal(decimalsForStep(100), 0);
  assert.equal(decimalsForStep(0.5), 1);
  assert.equal(decimalsForStep(0.25), 1);
  assert.equal(decimalsForStep(0.01), 2);
});

test('date-times are printed in UTC', () => {
  assert.equal(formatDateTimeUtc(Date.UTC(2026, 5, 12, 14, 5)), '2026-06-12 14:05 UTC');
});

test('axis labels show the date at midnight and the time otherwise', () => {
  assert.equal(formatAxisTime(Date.UTC(2026, 5, 12, 0, 0)), '06-12');
  assert.equal(formatAxisTime(Date.UTC(2026, 5, 12, 8, 30)), '08:30');
});

test('ages are rounded down to seconds, minutes or hours', () => {
  assert.equal(formatAge(4_900), '4s ago');
  assert.equal(formatAge(125_000), '2m ago');
  assert.equal(formatAge(7_300_000), '2h ago');
});
