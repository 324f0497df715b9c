// Colour legend under the chart: the palette as a bar, labelled with the
// densities that land at each position given the current scale and gamma.

import { paletteColor, DEFAULT_GAMMA } from './color-scale.js';
import { formatUsd } from './format.js';

const LABEL_POSITIONS = [0, 0.25, 0.5, 0.75, 1];

/** Density at bar position t (inverse of the gamma mapping). */
export function densityAtPosition(t, scaleMax, gamma = DEFAULT_GAMMA) {
  return scaleMax * t ** (1 / gamma);
}

export function drawLegend(canvas, labelsEl, scaleMax, gamma = DEFAULT_GAMMA) {
  const dpr = Math.max(1, Math.min(3, window.devicePixelRatio || 1));
  const width = Math.max(1, Math.floor(canvas.getBoundingClientRect().width));
  const height = Math.max(1, Math.floor(canvas.getBoundingClientRect().height));
  canvas.width = width * dpr;
  canvas.height = height * dpr;
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(canvas.width, canvas.height);
  for (let x = 0; x < canvas.width; x++) {
    const [r, g, b] = paletteColor(x / (canvas.width - 1 || 1));
    for (let y = 0; y < canvas.height; y++) {
      const i = (y * canvas.width + x) * 4;
      image.data[i] = r;
      image.data[i + 1] = g;
      image.data[i + 2] = b;
      image.data[i + 3] = 255;
    }
  }
  ctx.putImageData(image, 0, 0);
  labelsEl.replaceChildren(
    ...LABEL_POSITIONS.map((t) => {
      const span = document.createElement('span');
      const value = densityAtPosition(t, scaleMax, gamma);
      span.textContent = scaleMax > 0 ? `${t === 1 ? '≥ ' : ''}${formatUsd(value)}` : '–';
      return span;
    }),
  );
}
