// The live charts under each side of the CAP lab, drawn with uPlot (web/vendor/, installed by
// npm from the lock file; loaded as a classic script, so it is `window.uPlot`). Four small
// charts per side: operations per second by outcome, availability, stale reads and
// linearizability witnesses, latency. Both sides share their scales, so equal heights mean
// equal numbers; partitions are shaded and the current moment is a vertical line.

import { h } from '../dom.js';
import { t } from '../i18n.js';

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';

/** The charts' definitions: title key, series (label key, colour variable, dashed), y range. */
const CHARTS = [
  { id: 'ops', title: 'cap.chartOps', series: [['cap.okPerSec', '--good'], ['cap.failPerSec', '--bad']], y: 'shared' },
  { id: 'avail', title: 'cap.chartAvail', series: [['cap.availPct', '--accent']], y: [0, 100] },
  { id: 'anomalies', title: 'cap.chartAnomalies', series: [['cap.staleReads', '--warn'], ['cap.witnessOps', '--bad', true]], y: 'shared' },
  { id: 'latency', title: 'cap.chartLatency', series: [['cap.p50', '--accent'], ['cap.p99', '--candidate', true]], y: 'shared' },
];

export class SideCharts {
  /** `shared`: an object both sides' chart sets hold, carrying the common y maxima. */
  constructor(root, shared) {
    this.root = root;
    this.shared = shared;
    this.plots = new Map();
    this.now = 0;
    this.windows = [];
    this.end = 1;
    new ResizeObserver(() => this.resize()).observe(root);
  }

  build() {
    for (const p of this.plots.values()) p.plot.destroy();
    this.plots.clear();
    this.root.replaceChildren();
    const U = window.uPlot;
    if (!U) return;
    // Read once per build (a theme change rebuilds): reading styles while drawing would force
    // the browser to recompute them on every frame.
    this.colors = { bad: css('--bad'), ink: css('--ink') };
    for (const def of CHARTS) {
      const box = h('figure', { class: 'chart', 'data-chart': def.id });
      const caption = h('figcaption', { text: t(def.title) });
      const target = h('div', { class: 'chart-plot' });
      box.append(caption, target);
      this.root.append(box);
      const plot = new U(this.options(def, target), [[0], ...def.series.map(() => [null])], target);
      this.plots.set(def.id, { def, plot, caption, target });
    }
    this.resize();
  }

  options(def, target) {
    const muted = css('--muted');
    const grid = css('--line');
    const yRange = def.y === 'shared'
      ? (u, lo, hi) => [0, Math.max(1, hi, this.shared[def.id] ?? 0) * 1.1]
      : def.y;
    return {
      width: Math.max(120, target.clientWidth || 200),
      height: 96,
      padding: [6, 14, 0, 0],
      legend: { show: true, live: false },
      cursor: { show: false },
      scales: { x: { time: false, range: () => [0, this.end / 1000] }, y: { range: yRange } },
      axes: [
        { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: 22, font: '10px system-ui', values: (u, v) => v.map((s) => `${s}s`) },
        { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: 34, font: '10px system-ui' },
      ],
      series: [{}, ...def.series.map(([label, color, dashed]) => ({
        // Empty buckets (no operation ended there) are bridged, and points show where data is
        // sparse, so a run with a few operations still draws something.
        label: t(label), stroke: css(color), width: 1.6, dash: dashed ? [4, 3] : undefined, spanGaps: true, points: { size: 4, fill: css(color) },
      }))],
      hooks: { drawClear: [(u) => this.shade(u)], draw: [(u) => this.nowLine(u)] },
    };
  }

  /** Partitions as a band behind the lines. */
  shade(u) {
    const ctx = u.ctx;
    ctx.save();
    ctx.fillStyle = this.colors.bad;
    ctx.globalAlpha = document.documentElement.dataset.theme === 'dark' ? 0.2 : 0.09;
    for (const w of this.windows) {
      const x0 = u.valToPos(w.start / 1000, 'x', true);
      const x1 = u.valToPos((w.end ?? this.now) / 1000, 'x', true);
      ctx.fillRect(x0, u.bbox.top, Math.max(1, x1 - x0), u.bbox.height);
    }
    ctx.restore();
  }

  nowLine(u) {
    const ctx = u.ctx;
    const x = u.valToPos(this.now / 1000, 'x', true);
    ctx.save();
    ctx.strokeStyle = this.colors.ink;
    ctx.globalAlpha = 0.5;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(x, u.bbox.top);
    ctx.lineTo(x, u.bbox.top + u.bbox.height);
    ctx.stroke();
    ctx.restore();
  }

  resize() {
    for (const { plot, target } of this.plots.values()) {
      const width = Math.max(120, Math.floor(target.clientWidth));
      if (width !== plot.width) plot.setSize({ width, height: 96 });
    }
  }

  /** New data: `data[id]` is [x, ...ys] for each chart. */
  update(data, { now, end, windows }) {
    this.now = now;
    this.end = end;
    this.windows = windows;
    for (const [id, { plot }] of this.plots) {
      if (data[id]) plot.setData(data[id], true);
    }
  }

  /** Redraws with the shared maxima (after the other side's update changed them). */
  redraw() {
    for (const { plot } of this.plots.values()) plot.redraw(true, false);
  }

  relabel() {
    for (const { def, caption } of this.plots.values()) caption.textContent = t(def.title);
    this.build();
  }
}

export const CHART_IDS = CHARTS.map((c) => c.id);
