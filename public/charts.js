// Thin wrappers over uPlot (served from the bundled `uplot` package, global `uPlot`): time-series
// lines and log-log scatters in the dashboard's dark theme. Every chart records how many data
// points it last drew in its container's data-points attribute (the browser test reads it).
/* global uPlot */
import { TIER_COLORS } from './format.js';

const AXIS = { stroke: '#8b949e', grid: { stroke: '#30363d', width: 1 }, ticks: { stroke: '#30363d' } };
export const available = () => typeof uPlot === 'function';

function sizeOf(el, height) {
  return { width: Math.max(240, el.clientWidth || 480), height };
}

function countPoints(data) {
  let n = 0;
  for (let s = 1; s < data.length; s++) for (const v of data[s]) if (v !== null && v !== undefined) n++;
  return n;
}

function mount(el, opts, data, height) {
  if (!available()) {
    el.textContent = 'charts unavailable (uPlot not installed)';
    return null;
  }
  const u = new uPlot({ ...sizeOf(el, height), ...opts }, data, el);
  const ro = new ResizeObserver(() => u.setSize(sizeOf(el, height)));
  ro.observe(el);
  el.dataset.points = String(countPoints(data));
  return {
    set(d) {
      u.setData(d);
      el.dataset.points = String(countPoints(d));
    },
  };
}

/**
 * Lines over time. series: [{ label, color, fmt?, dash? }]; data: [[t seconds], [y]...].
 * yRange: [min, max] or null for auto; yFmt formats axis values.
 */
export function timeChart(el, { series, yRange = null, yFmt = (v) => String(v), height = 200 }) {
  const data = [[], ...series.map(() => [])];
  return mount(
    el,
    {
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: yRange ? { range: yRange } : { auto: true } },
      axes: [{ ...AXIS }, { ...AXIS, size: 56, values: (_u, vals) => vals.map(yFmt) }],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          dash: s.dash,
          value: (_u, v) => (v === null || v === undefined ? '–' : yFmt(v)),
          spanGaps: true,
        })),
      ],
    },
    data,
    height,
  );
}

/**
 * Log-log scatter coloured by tier: points [{ x, y, tier }]. uPlot's aligned mode needs one
 * sorted x array, so each tier is a series with values at its own points and gaps elsewhere.
 */
export function tierScatter(el, { xLabel, yLabel, xFmt, yFmt, height = 240 }) {
  const tiers = Object.keys(TIER_COLORS);
  const chart = mount(
    el,
    {
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: { x: { time: false, distr: 3 }, y: { distr: 3 } },
      axes: [
        { ...AXIS, label: xLabel, values: (_u, vals) => vals.map(xFmt) },
        { ...AXIS, label: yLabel, size: 56, values: (_u, vals) => vals.map(yFmt) },
      ],
      series: [
        {},
        ...tiers.map((t) => ({
          label: t,
          stroke: TIER_COLORS[t],
          fill: TIER_COLORS[t],
          paths: () => null,
          points: { show: true, size: 4, stroke: TIER_COLORS[t], fill: TIER_COLORS[t] },
        })),
      ],
    },
    [[], ...tiers.map(() => [])],
    height,
  );
  return {
    set(points) {
      if (!chart) return;
      const pts = points.filter((p) => p.x > 0 && p.y > 0 && Number.isFinite(p.x) && Number.isFinite(p.y));
      pts.sort((a, b) => a.x - b.x);
      const xs = pts.map((p) => p.x);
      const cols = tiers.map((t) => pts.map((p) => (p.tier === t ? p.y : null)));
      chart.set([xs, ...cols]);
    },
  };
}

/** A price line with the refresh moments as dots: points [{ t ms, price }], refreshes [t ms]. */
export function priceChart(el, { yFmt, height = 220 }) {
  return mount(
    el,
    {
      legend: { show: true, live: false },
      scales: { x: { time: true }, y: { auto: true } },
      // axis ticks need only 4 significant digits (a tiny price's full precision cut off the axis)
      axes: [
        { ...AXIS },
        { ...AXIS, size: 80, values: (_u, vals) => vals.map((v) => String(Number(v.toPrecision(4)))) },
      ],
      series: [
        {},
        { label: 'price', stroke: '#2f81f7', width: 2, spanGaps: true, value: (_u, v) => yFmt(v) },
        {
          label: 'refreshed',
          stroke: '#3fb950',
          fill: '#3fb950',
          paths: () => null,
          points: { show: true, size: 6, stroke: '#3fb950', fill: '#3fb950' },
          value: (_u, v) => yFmt(v),
        },
      ],
    },
    [[], [], []],
    height,
  );
}
