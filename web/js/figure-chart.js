// A small line chart beside the large-cluster view: what the protocol module makes of the
// protocol's figures (`Playground.figures()`), e.g. gossip's informed nodes per round, measured
// and as the theory predicts. A module's `chart(figures, t)` returns
// { title, xLabel, yLabel, ymax, series: [{ label, color, values, dash }] } or null.
// Test hooks on the canvas: data-series (labels), data-last (last value of each series).

export class FigureChart {
  constructor(box) {
    this.box = box;
    this.title = box.querySelector('.chart-title');
    this.canvas = box.querySelector('canvas');
    this.readout = box.querySelector('.chart-readout');
    this.ctx = this.canvas.getContext('2d');
    this.spec = null;
    new ResizeObserver(() => this.draw()).observe(this.canvas);
  }

  /** `spec`: the module's chart, or null to hide the box; `lines`: figures as text. */
  update(spec, lines = []) {
    this.spec = spec;
    this.box.hidden = !spec && lines.length === 0;
    this.readout.replaceChildren(...lines.map((l) => {
      const li = document.createElement('li');
      li.textContent = l.text;
      if (l.name) li.dataset.figure = l.name;
      if (l.value !== undefined && l.value !== null) li.dataset.value = String(l.value);
      return li;
    }));
    this.canvas.hidden = !spec;
    if (!spec) return;
    this.title.textContent = spec.title ?? '';
    this.canvas.dataset.series = spec.series.map((s) => s.label).join('|');
    this.canvas.dataset.last = spec.series.map((s) => String(s.values.at(-1) ?? '')).join('|');
    this.draw();
  }

  draw() {
    const spec = this.spec;
    if (!spec || this.canvas.hidden) return;
    const dpr = window.devicePixelRatio || 1;
    const w = this.canvas.clientWidth;
    const h = this.canvas.clientHeight;
    if (!w || !h) return;
    if (this.canvas.width !== Math.round(w * dpr)) this.canvas.width = Math.round(w * dpr);
    if (this.canvas.height !== Math.round(h * dpr)) this.canvas.height = Math.round(h * dpr);
    const ctx = this.ctx;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const css = getComputedStyle(this.box);
    const ink = css.getPropertyValue('--ink').trim() || '#222';
    const faint = css.getPropertyValue('--line').trim() || '#ccc';
    const left = 42;
    const right = 8;
    const top = 8;
    const bottom = 30;
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
