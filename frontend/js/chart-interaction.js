// Pointer handling on the chart: crosshair + tooltip on hover, wheel zoom
// (time, or price over the price axis / with Shift), drag to pan when zoomed,
// double-click or the reset button to show everything again.

import { hideTooltip, showTooltip } from './tooltip.js';

const WHEEL_ZOOM_PER_PIXEL = 0.0015;

/**
 * @param {{overlay: HTMLCanvasElement, wrap: HTMLElement, tooltip: HTMLElement, zoomReset: HTMLButtonElement}} els
 * @param {import('./heatmap-renderer.js').HeatmapRenderer} renderer
 * @param {import('./heatmap-model.js').HeatmapModel} model
 * @returns {{refreshZoomHint: () => void}}
 */
export function wireChartInteraction(els, renderer, model) {
  let drag = null;

  const refreshZoomHint = () => {
    els.zoomReset.hidden = !renderer.zoomed;
  };
  const pointIn = (event) => {
    const rect = els.overlay.getBoundingClientRect();
    return { x: event.clientX - rect.left, y: event.clientY - rect.top };
  };
  const resetZoom = () => {
    renderer.resetView();
    refreshZoomHint();
  };

  els.overlay.addEventListener('pointermove', (event) => {
    const { x, y } = pointIn(event);
    if (drag) {
      renderer.panBy(x - drag.x, y - drag.y);
      drag = { x, y };
      refreshZoomHint();
    }
    const hit = renderer.hitTest(x, y);
    const cell = hit ? model.cellAt(hit.slot, hit.row) : null;
    renderer.drawCrosshair(x, y, cell);
    if (cell) showTooltip(els.tooltip, els.wrap, x, y, cell, model.grid.rowSize);
    else hideTooltip(els.tooltip);
  });
  els.overlay.addEventListener('pointerleave', () => {
    renderer.drawCrosshair(0, 0, null);
    hideTooltip(els.tooltip);
  });
  els.overlay.addEventListener(
    'wheel',
    (event) => {
      event.preventDefault();
      const { x, y } = pointIn(event);
      const overPriceAxis = x >= renderer.plot.x + renderer.plot.w;
      const factor = Math.exp(event.deltaY * WHEEL_ZOOM_PER_PIXEL);
      renderer.zoomAt(x, y, factor, overPriceAxis || event.shiftKey ? 'price' : 'time');
      refreshZoomHint();
    },
    { passive: false },
  );
  els.overlay.addEventListener('pointerdown', (event) => {
    if (event.button !== 0 || !renderer.zoomed) return;
    drag = pointIn(event);
    els.overlay.setPointerCapture(event.pointerId);
  });
  const endDrag = () => {
    drag = null;
  };
  els.overlay.addEventListener('pointerup', endDrag);
  els.overlay.addEventListener('pointercancel', endDrag);
  els.overlay.addEventListener('dblclick', resetZoom);
  els.zoomReset.addEventListener('click', resetZoom);

  return { refreshZoomHint };
}
