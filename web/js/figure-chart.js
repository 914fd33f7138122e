// A small line chart beside the large-cluster view: what the protocol module makes of the
// protocol's figures (`Playground.figures()`), e.g. gossip's informed nodes per round, measured
// and as the theory predicts. A module's `chart(figures, t)` returns
// { title, xLabel, yLabel, ymax, series: [{ label, color, values, dash }] } or null, or an
// array of such charts, drawn stacked (services: success, latency, load, breaker states). A
// chart with `kind: 'bands'` is a timeline instead: { rows: [{ label, bands: [{ from, to,
// color, state }] }], xmax }, one row of coloured bands per row, x in steps of the series.
// Test hooks on each canvas: data-series (labels), data-last (last value of each series, or
// the state of each row's last band).

import { clearedCanvas, drawBands } from './figure-bands.js';

export class FigureChart {
  constructor(box) {
    this.box = box;
    this.title = box.querySelector('.chart-title');
    this.canvas = box.querySelector('canvas');
    this.readout = box.querySelector('.chart-readout');
    this.specs = [];
    this.extra = [];
    this.observer = new ResizeObserver(() => this.draw());
    this.observer.observe(this.canvas);
  }

  /** `spec`: the module's chart (or charts), or null to hide the box; `lines`: figures as text. */
  update(spec, lines = []) {
    const specs = (Array.isArray(spec) ? spec : [spec]).filter(Boolean);
    this.specs = specs;
    this.box.hidden = specs.length === 0 && lines.length === 0;
    this.box.classList.toggle('stacked', specs.length > 1);
    this.readout.replaceChildren(...lines.map((l) => {
      const li = document.createElement('li');
      li.textContent = l.text;
      if (l.name) li.dataset.figure = l.name;
      if (l.value !== undefined && l.value !== null) li.dataset.value = String(l.value);
      return li;
    }));
    this.canvas.hidden = specs.length === 0;
    // The charts after the first get their own title and canvas, made when needed.
    while (this.extra.length < specs.length - 1) {
      const title = document.createElement('div');
      title.className = 'chart-title';
      const canvas = document.createElement('canvas');
      this.readout.before(title, canvas);
      this.observer.observe(canvas);
      this.extra.push({ title, canvas });
    }
    while (this.extra.length > Math.max(0, specs.length - 1)) {
      const { title, canvas } = this.extra.pop();
      this.observer.unobserve(canvas);
      title.remove();
      canvas.remove();
    }
    specs.forEach((sp, i) => {
      const { title, canvas } = this.panel(i);
      title.textContent = sp.title ?? '';
      canvas.dataset.chart = sp.id ?? '';
      if (sp.kind === 'bands') {
        canvas.dataset.series = sp.rows.map((r) => r.label).join('|');
        canvas.dataset.last = sp.rows.map((r) => r.bands.at(-1)?.state ?? '').join('|');
        canvas.style.height = `${Math.max(1, sp.rows.length) * 26 + (sp.key?.length ? 48 : 34)}px`;
      } else {
        canvas.dataset.series = sp.series.map((x) => x.label).join('|');
        canvas.dataset.last = sp.series.map((x) => String(x.values.at(-1) ?? '')).join('|');
        canvas.style.height = '';
      }
    });
    this.draw();
  }

  panel(i) {
    return i === 0 ? { title: this.title, canvas: this.canvas } : this.extra[i - 1];
  }

  /** The first chart (what a single-chart module gave). */
  get spec() {
    return this.specs[0] ?? null;
  }

  draw() {
    this.specs.forEach((spec, i) => {
      const { canvas } = this.panel(i);
      if (spec.kind === 'bands') drawBands(this.box, canvas, spec);
      else this.drawLines(canvas, spec);
    });
  }

  drawLines(canvas, spec) {
    const c = spec ? clearedCanvas(this.box, canvas) : null;
    if (!c) return;
    const { ctx, w, h, ink, faint } = c;
    const left = 42;
    const right = 8;
    ctx.font = '11px system-ui, sans-serif';
    // `legendRow`: the legend in rows over the plot rather than inside it (small stacked charts).
    const row = spec.legendRow && spec.legend !== false ? legendRows(ctx, spec.series, w - 8) : null;
    const top = row ? 6 + row.lines * 13 : 8;
    const bottom = spec.xLabel ? 30 : 18;
    const pw = w - left - right;
    const ph = h - top - bottom;
    const xmax = Math.max(1, ...spec.series.map((s) => s.values.length - 1));
    const ymax = spec.ymax ?? Math.max(1, ...spec.series.flatMap((s) => s.values.filter(Number.isFinite)));
    const X = (i) => left + (i / xmax) * pw;
    const Y = (v) => top + ph - (v / ymax) * ph;
    ctx.font = '11px system-ui, sans-serif';
    ctx.strokeStyle = faint;
    ctx.fillStyle = ink;
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (const f of [0, 0.5, 1]) {
      const y = Y(ymax * f);
      ctx.moveTo(left, y);
      ctx.lineTo(left + pw, y);
      ctx.textAlign = 'right';
      ctx.fillText(String(Math.round(ymax * f)), left - 4, y + 4);
    }
    ctx.stroke();
    const xticks = Math.min(xmax, 10);
    ctx.textAlign = 'center';
    // With `xScale` the ticks fall on whole steps of the series, at most nine of them.
    const ticks = spec.xScale
      ? Array.from({ length: Math.floor(xmax / Math.ceil(xmax / 8)) + 1 }, (_, k) => k * Math.ceil(xmax / 8))
      : Array.from({ length: xticks + 1 }, (_, k) => Math.round((k / xticks) * xmax));
    for (const i of ticks) {
      // `xScale`: what one step of the series is worth on the axis (HA: 0.5 s a bucket).
      const label = spec.xScale ? String(Math.round(i * spec.xScale * 10) / 10) : String(i);
      ctx.fillText(label, X(i), top + ph + 13);
    }
    if (spec.xLabel) ctx.fillText(spec.xLabel, left + pw / 2, h - 3);
    for (const s of spec.series) {
      ctx.strokeStyle = s.color;
      ctx.lineWidth = s.dash ? 1.5 : 2.2;
      ctx.setLineDash(s.dash ? [5, 4] : []);
      ctx.beginPath();
      s.values.forEach((v, i) => {
        if (!Number.isFinite(v)) return;
        if (i === 0) ctx.moveTo(X(i), Y(v));
        else ctx.lineTo(X(i), Y(v));
      });
      ctx.stroke();
    }
    ctx.setLineDash([]);
    // The legend, top left inside the plot (none for a single series the title names).
    ctx.textAlign = 'left';
    if (spec.legend === false) return;
    if (row) {
      for (const it of row.items) {
        ctx.strokeStyle = it.s.color;
        ctx.lineWidth = 2;
        ctx.setLineDash(it.s.dash ? [4, 3] : []);
        ctx.beginPath();
        ctx.moveTo(it.x, it.y - 4);
        ctx.lineTo(it.x + 14, it.y - 4);
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = ink;
        ctx.fillText(it.s.label, it.x + 17, it.y);
      }
      return;
    }
    spec.series.forEach((s, k) => {
      const y = top + 12 + k * 14;
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 2;
      ctx.setLineDash(s.dash ? [4, 3] : []);
      ctx.beginPath();
      ctx.moveTo(left + 6, y - 4);
      ctx.lineTo(left + 24, y - 4);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = ink;
      ctx.fillText(s.label, left + 28, y);
    });
  }
}

/** Where each legend entry goes when they run in rows across the top of a chart `width` wide. */
function legendRows(ctx, series, width) {
  const items = [];
  let x = 4;
  let line = 0;
  for (const s of series) {
    const need = 17 + ctx.measureText(s.label).width + 10;
    if (x > 4 && x + need > width) { x = 4; line += 1; }
    items.push({ s, x, y: 10 + line * 13 });
    x += need;
  }
  return { items, lines: line + 1 };
}
