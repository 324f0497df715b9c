// Where to put axis labels: "nice" price steps (1, 2, 2.5, 5 x 10^n) and
// calendar-friendly time steps, both aligned to multiples of the step.

const NICE_MANTISSAS = [1, 2, 2.5, 5, 10];

/** Smallest nice step that yields at most `ticksMax` intervals over `span`. */
export function niceStep(span, ticksMax) {
  if (!(span > 0) || !(ticksMax >= 1)) return 0;
  const raw = span / ticksMax;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  for (const m of NICE_MANTISSAS) if (m * magnitude >= raw - 1e-12) return m * magnitude;
  return 10 * magnitude;
}

/** Price tick values in [min, max] at a nice step; `step` is returned for label precision. */
export function priceTicks(min, max, ticksMax) {
  const step = niceStep(max - min, ticksMax);
  if (step === 0) return { step, values: [] };
  const values = [];
  for (let v = Math.ceil(min / step) * step; v <= max + 1e-9; v += step) values.push(Number(v.toFixed(10)));
  return { step, values };
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
export const TIME_STEPS_MS = [5 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY];

/** Time ticks (UTC-aligned multiples of a step) in [startMs, endMs], at most `ticksMax`. */
export function timeTicks(startMs, endMs, ticksMax) {
  const span = endMs - startMs;
  if (!(span > 0) || !(ticksMax >= 1)) return { stepMs: 0, values: [] };
  const stepMs = TIME_STEPS_MS.find((s) => span / s <= ticksMax) || TIME_STEPS_MS.at(-1);
  const values = [];
  for (let t = Math.ceil(startMs / stepMs) * stepMs; t <= endMs; t += stepMs) values.push(t);
  return { stepMs, values };
}
