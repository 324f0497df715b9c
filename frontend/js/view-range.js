// Zoom and pan on one axis: a visible [start, end) range inside fixed
// bounds. Pure, so the interaction rules are unit-tested.

/**
 * Zooms `range` by `factor` (< 1 zooms in) keeping `anchor` at the same
 * relative position, then clamps into `bounds` with at least `minSpan`.
 */
export function zoomRange(range, anchor, factor, bounds, minSpan) {
  const span = range.end - range.start;
  const boundsSpan = bounds.end - bounds.start;
  const newSpan = Math.min(boundsSpan, Math.max(minSpan, span * factor));
  const ratio = span > 0 ? (anchor - range.start) / span : 0.5;
  return clampRange({ start: anchor - ratio * newSpan, end: anchor - ratio * newSpan + newSpan }, bounds);
}

/** Moves `range` by `delta`, stopping at the bounds without changing its span. */
export function panRange(range, delta, bounds) {
  return clampRange({ start: range.start + delta, end: range.end + delta }, bounds);
}

export function clampRange(range, bounds) {
  const span = Math.min(range.end - range.start, bounds.end - bounds.start);
  let start = Math.max(bounds.start, range.start);
  if (start + span > bounds.end) start = bounds.end - span;
  return { start, end: start + span };
}

export function isFullRange(range, bounds) {
  return range.start <= bounds.start && range.end >= bounds.end;
}
