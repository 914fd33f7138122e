// A large cluster drawn on a canvas: one dot per node, coloured by the byte the simulator gives
// each node (`Playground.shades()`, a Uint8Array: the protocol's own codes, 254 paused, 255
// crashed), laid out on a sunflower spiral so that any number of nodes fills a disc evenly.
// Messages in flight (`Playground.wires()`, a Uint32Array of node pairs) are faint lines, and
// none at all past a threshold, where they would only grey the picture. The SVG view
// (cluster.js) stays for small clusters; this one takes over past SVG_LIMIT nodes, where an
// element per node and per link would be too slow.
// Test hooks: data-nodes, data-counts (JSON: shade code → nodes), data-wires, data-hover.

const GOLDEN = Math.PI * (3 - Math.sqrt(5));
/** Past this many nodes a protocol whose module names shades (gossip, SWIM) is drawn on the
 * canvas instead of the SVG view: more circles than this round a ring overlap. */
export const SVG_LIMIT = 24;
/** At most this many messages are drawn as lines; with more in flight, none are. */
export const WIRE_LIMIT = 2500;

export const SHADE_CRASHED = 255;
export const SHADE_PAUSED = 254;

export class SwarmView {
  constructor(canvas, handlers) {
    this.canvas = canvas;
    this.handlers = handlers;
    this.ctx = canvas.getContext('2d');
    this.n = 0;
    this.selected = null;
    this.hover = null;
    this.shades = new Uint8Array(0);
    this.wires = new Uint32Array(0);
    this.palette = new Map();
    new ResizeObserver(() => { this.resize(); this.draw(); }).observe(canvas);
    const pick = (e) => this.nodeAt(e.offsetX, e.offsetY);
    canvas.addEventListener('click', (e) => {
      const i = pick(e);
      if (i !== null) handlers.onNode(`n${i + 1}`, e);
    });
    canvas.addEventListener('contextmenu', (e) => {
      const i = pick(e);
      if (i !== null) { e.preventDefault(); handlers.onNode(`n${i + 1}`, e); }
    });
    canvas.addEventListener('pointermove', (e) => {
      const i = pick(e);
      if (i !== this.hover) {
        this.hover = i;
        canvas.dataset.hover = i === null ? '' : `n${i + 1}`;
        canvas.style.cursor = i === null ? 'default' : 'pointer';
        this.draw();
      }
    });
    canvas.addEventListener('pointerleave', () => { this.hover = null; this.draw(); });
  }

  /** A new run: `palette` is the protocol module's [{code, key, color}]. */
  setup(n, palette, label) {
    this.n = n;
    this.label = label;
    this.selected = null;
    this.hover = null;
    this.shades = new Uint8Array(n);
    this.wires = new Uint32Array(0);
    this.palette = new Map((palette ?? []).map((p) => [p.code, p]));
    this.canvas.dataset.nodes = String(n);
    this.resize();
  }

  resize() {
    const dpr = window.devicePixelRatio || 1;
    const w = this.canvas.clientWidth;
    const hgt = this.canvas.clientHeight;
    if (!w || !hgt) return;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(hgt * dpr);
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.w = w;
    this.h = hgt;
    this.layout();
  }

  /** Node i at radius ∝ √i and angle i × the golden angle: an even disc for any n. */
  layout() {
    const n = Math.max(1, this.n);
    const radius = Math.max(10, Math.min(this.w, this.h) / 2 - 14);
    const step = radius / Math.sqrt(n);
    this.dot = Math.max(1.2, Math.min(9, step * 0.42));
    this.xs = new Float32Array(n);
    this.ys = new Float32Array(n);
    const cx = this.w / 2;
    const cy = this.h / 2;
    for (let i = 0; i < n; i++) {
      const r = step * Math.sqrt(i + 0.5);
      const a = i * GOLDEN;
      this.xs[i] = cx + r * Math.cos(a);
      this.ys[i] = cy + r * Math.sin(a);
    }
    this.step = step;
  }

  nodeAt(x, y) {
    if (!this.xs) return null;
    let best = null;
    let bestD = Math.max(this.step * 0.7, 6) ** 2;
    for (let i = 0; i < this.n; i++) {
      const d = (this.xs[i] - x) ** 2 + (this.ys[i] - y) ** 2;
      if (d < bestD) { bestD = d; best = i; }
    }
    return best;
  }

  setSelected(id) {
    const i = typeof id === 'string' && /^n\d+$/.test(id) ? Number(id.slice(1)) - 1 : null;
    this.selected = i !== null && i < this.n ? i : null;
    this.draw();
  }

  /** The state to draw: the simulator's bytes and wire pairs for this frame. */
  update(shades, wires) {
    this.shades = shades;
    this.wires = wires;
    const counts = {};
    for (const c of shades) counts[c] = (counts[c] ?? 0) + 1;
    this.counts = counts;
    this.canvas.dataset.counts = JSON.stringify(counts);
    this.canvas.dataset.wires = String(wires.length / 2);
    this.draw();
  }

  color(code) {
    if (code === SHADE_CRASHED) return this.palette.get(code)?.color ?? '#3b3b3b';
    if (code === SHADE_PAUSED) return this.palette.get(code)?.color ?? '#a67c00';
    return this.palette.get(code)?.color ?? '#8a94a6';
  }

  draw() {
    const { ctx } = this;
    if (!this.w || !this.xs) return;
    ctx.clearRect(0, 0, this.w, this.h);
    const pairs = this.wires.length / 2;
    if (pairs > 0 && pairs <= WIRE_LIMIT) {
      const dark = document.documentElement.dataset.theme === 'dark';
      // The more lines, the fainter each: a few stand out, thousands make a light haze.
      const alpha = Math.max(0.04, Math.min(0.45, 4 / Math.sqrt(pairs)));
      ctx.strokeStyle = dark ? `rgba(220, 230, 255, ${alpha})` : `rgba(30, 60, 120, ${alpha})`;
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (let k = 0; k < this.wires.length; k += 2) {
        const a = this.wires[k];
        const b = this.wires[k + 1];
        if (a >= this.n || b >= this.n) continue;
        ctx.moveTo(this.xs[a], this.ys[a]);
        ctx.lineTo(this.xs[b], this.ys[b]);
      }
      ctx.stroke();
    }
    // One path per colour: a few fills a frame, not one per node.
    const byCode = new Map();
    for (let i = 0; i < this.n; i++) {
      const c = this.shades[i] ?? 0;
      if (!byCode.has(c)) byCode.set(c, []);
      byCode.get(c).push(i);
    }
    const r = this.dot;
    for (const [code, list] of byCode) {
      ctx.fillStyle = this.color(code);
      ctx.beginPath();
      for (const i of list) {
        ctx.moveTo(this.xs[i] + r, this.ys[i]);
        ctx.arc(this.xs[i], this.ys[i], r, 0, Math.PI * 2);
      }
      ctx.fill();
      if ((code === SHADE_CRASHED || this.palette.get(code)?.crashed) && r >= 3) {
        // A cross on each crashed node, as the SVG view draws one.
        ctx.strokeStyle = '#ffffff';
        ctx.lineWidth = 1;
        ctx.beginPath();
        const q = r * 0.55;
        for (const i of list) {
          ctx.moveTo(this.xs[i] - q, this.ys[i] - q);
          ctx.lineTo(this.xs[i] + q, this.ys[i] + q);
          ctx.moveTo(this.xs[i] + q, this.ys[i] - q);
          ctx.lineTo(this.xs[i] - q, this.ys[i] + q);
        }
        ctx.stroke();
      }
    }
    if (this.n <= 100 && r >= 5) {
      // Few enough nodes to name each, under its dot.
      ctx.font = '10px system-ui, sans-serif';
      ctx.textAlign = 'center';
      ctx.fillStyle = getComputedStyle(this.canvas).getPropertyValue('--muted').trim() || '#5d667a';
      for (let i = 0; i < this.n; i++) ctx.fillText(`n${i + 1}`, this.xs[i], this.ys[i] + r + 10);
      ctx.textAlign = 'left';
    }
    for (const [i, width] of [[this.selected, 2.5], [this.hover, 1.5]]) {
      if (i === null || i === undefined) continue;
      ctx.strokeStyle = document.documentElement.dataset.theme === 'dark' ? '#ffffff' : '#111111';
      ctx.lineWidth = width;
      ctx.beginPath();
      ctx.arc(this.xs[i], this.ys[i], r + 3, 0, Math.PI * 2);
      ctx.stroke();
    }
    if (this.hover !== null) this.tag(this.hover);
  }

  /** The hovered node's name and state, beside it. */
  tag(i) {
    const { ctx } = this;
    const p = this.palette.get(this.shades[i]);
    const state = this.label ? this.label(this.shades[i], p) : '';
    const text = state ? `n${i + 1} · ${state}` : `n${i + 1}`;
    ctx.font = '12px system-ui, sans-serif';
    const w = ctx.measureText(text).width + 10;
    let x = this.xs[i] + this.dot + 6;
    if (x + w > this.w) x = this.xs[i] - this.dot - 6 - w;
    const y = Math.max(2, this.ys[i] - 10);
    ctx.fillStyle = 'rgba(20, 24, 32, 0.85)';
    ctx.fillRect(x, y, w, 18);
    ctx.fillStyle = '#ffffff';
    ctx.fillText(text, x + 5, y + 13);
  }
}
