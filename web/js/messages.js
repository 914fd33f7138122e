// Messages in flight, drawn as RaftScope does: each at (now - send) / (deliver - send) of the
// way along its link, shaped and coloured by the protocol module (messageStyle). Elements are
// kept by message id and reused; only their transform changes from frame to frame. Messages
// going opposite ways on one link travel on either side of it, so a request and its reply
// do not hide each other.

import { s, setAttr } from './dom.js';

function shape(style, size) {
  const k = style.small ? size * 0.7 : size;
  switch (style.shape) {
    case 'square': return s('rect', { x: -k, y: -k, width: 2 * k, height: 2 * k, rx: 1.5 });
    case 'diamond': return s('path', { d: `M0,${-k * 1.3}L${k * 1.3},0L0,${k * 1.3}L${-k * 1.3},0Z` });
    case 'triangle': return s('path', { d: `M0,${-k * 1.2}L${k * 1.1},${k * 0.9}L${-k * 1.1},${k * 0.9}Z` });
    default: return s('circle', { r: k * 1.1 });
  }
}

/** A small SVG of a message shape, for the legend. */
export function legendIcon(style) {
  const cls = ['msg', `kind-${style.kind}`, style.hollow ? 'hollow' : '', style.denied ? 'denied' : ''].join(' ');
  return s('svg', { class: 'legend-icon', viewBox: '-9 -9 18 18', width: 16, height: 16, 'aria-hidden': 'true' }, [
    s('g', { class: cls }, [shape(style, 5)]),
  ]);
}

export class MessageLayer {
  constructor(layer, handlers) {
    this.layer = layer;
    this.handlers = handlers;
    this.els = new Map();
    this.positions = new Map();
    this.size = 5;
  }

  reset(module) {
    this.module = module;
    this.layer.replaceChildren();
    this.els.clear();
  }

  layout(positions, r) {
    this.positions = positions;
    const size = Math.max(4, Math.round(r * 0.17));
    if (size !== this.size) {
      this.size = size;
      this.layer.replaceChildren();
      this.els.clear();
    }
  }

  make(m) {
    const style = this.module.messageStyle(m);
    const cls = ['msg', `kind-${style.kind}`, style.hollow ? 'hollow' : '', style.denied ? 'denied' : ''].join(' ');
    const g = s('g', { class: cls, 'data-msg': String(m.id), 'data-label': m.label }, [shape(style, this.size)]);
    g.addEventListener('pointerenter', (e) => {
      this.hovered = m.id;
      this.handlers.onMessageHover(this.els.get(m.id)?.m ?? m, e);
    });
    g.addEventListener('pointerleave', () => {
      this.hovered = null;
      this.handlers.onMessageHover(null);
    });
    g.addEventListener('click', (e) => { e.stopPropagation(); this.handlers.onMessage(this.els.get(m.id)?.m ?? m, e); });
    g.addEventListener('contextmenu', (e) => { e.preventDefault(); this.handlers.onMessage(this.els.get(m.id)?.m ?? m, e); });
    this.layer.append(g);
    return { g, m };
  }

  /** A brief red cross where a message was lost: at the receiver's end when it died on
   * arrival, at the sender's end when the link was already cut. */
  flashDrop(from, to, atReceiver) {
    const a = this.positions.get(from);
    const b = this.positions.get(to);
    if (!a || !b) return;
    const len = Math.hypot(b.x - a.x, b.y - a.y) || 1;
    const f = atReceiver ? 1 - (b.r + 10) / len : (a.r + 10) / len;
    const x = a.x + (b.x - a.x) * f;
    const y = a.y + (b.y - a.y) * f;
    const k = this.size;
    const g = s('g', { class: 'drop-flash', transform: `translate(${x.toFixed(1)},${y.toFixed(1)})` }, [
      s('path', { d: `M${-k},${-k}L${k},${k}M${k},${-k}L${-k},${k}` }),
    ]);
    g.addEventListener('animationend', () => g.remove());
    this.layer.append(g);
  }

  update(list, nowMs) {
    const now = nowMs * 1000;
    const seen = new Set();
    for (const m of list) {
      const a = this.positions.get(m.from);
      const b = this.positions.get(m.to);
      if (!a || !b) continue;
      seen.add(m.id);
      let el = this.els.get(m.id);
      if (!el) {
        el = this.make(m);
        this.els.set(m.id, el);
      }
      el.m = m;
      const span = Math.max(1, m.deliver_us - m.send_us);
      const p = Math.max(0, Math.min(1, (now - m.send_us) / span));
      const dx = b.x - a.x;
      const dy = b.y - a.y;
      const len = Math.hypot(dx, dy) || 1;
      const ux = dx / len;
      const uy = dy / len;
      // From the sender's rim to the receiver's rim, shifted to the right-hand side of travel.
      const start = a.r + 2;
      const travel = Math.max(0, len - a.r - b.r - 4);
      const off = this.size * 0.9;
      const x = a.x + ux * (start + travel * p) - uy * off;
      const y = a.y + uy * (start + travel * p) + ux * off;
      setAttr(el.g, 'transform', `translate(${x.toFixed(1)},${y.toFixed(1)})`);
    }
    for (const [id, el] of this.els) {
      if (!seen.has(id)) {
        el.g.remove();
        this.els.delete(id);
        // A delivered message under the pointer never gets its pointerleave.
        if (this.hovered === id) {
          this.hovered = null;
          this.handlers.onMessageHover(null);
        }
      }
    }
    return seen.size;
  }
}
