// One side's client histories as a timeline: a lane per client, each operation a bar from its
// invocation to its end (green ok, red failed, grey unknown, dashed while waiting), stale reads
// and the linearizability checker's witness marked, partitions shaded. Clicking an operation
// moves both sides to the moment it ended (invoked, while it waits). Test hooks: data-op
// (history index), data-at (where a click goes, ms), data-outcome, data-anomaly="stale|witness".
// Bars are made once and then only changed, as in the cluster view: a long history redraws
// in well under a millisecond per frame.

import { s, setAttr } from '../dom.js';
import { t } from '../i18n.js';
import { endUs, pending } from './measure.js';

const LANE = 15;
const LABEL = 26;
const TOP = 4;

export class Timeline {
  constructor(svg, { onJump }) {
    this.svg = svg;
    this.onJump = onJump;
    this.layers = { back: s('g'), ops: s('g'), marks: s('g') };
    this.now = s('line', { class: 'tl-now' });
    svg.append(this.layers.back, this.layers.ops, this.layers.marks, this.now);
    this.bars = new Map();
    // The operation clicked stays outlined, so it can be found again after the jump.
    const pick = (op) => {
      this.selected = Number(op.dataset.op);
      for (const bar of this.bars.values()) bar.key = null;
      this.onJump(Number(op.dataset.at));
    };
    svg.addEventListener('click', (e) => {
      const op = e.target.closest('[data-op]');
      if (op) pick(op);
    });
    svg.addEventListener('keydown', (e) => {
      const op = e.target.closest('[data-op]');
      if (op && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); pick(op); }
    });
    // The width comes from a ResizeObserver: reading it while drawing would force a layout of
    // the whole page in the middle of a frame.
    this.width = 400;
    new ResizeObserver(([entry]) => {
      const width = Math.round(entry.contentRect.width);
      if (width > 0 && width !== this.width) {
        this.width = width;
        if (this.last) this.render(this.last);
      }
    }).observe(svg);
  }

  /** Forgets every bar: a new run. */
  reset() {
    this.selected = null;
    this.bars.clear();
    this.layers.ops.replaceChildren();
    this.layers.marks.replaceChildren();
    this.backKey = null;
    this.last = null;
  }

  /** `stale` and `witness`: sets of history indices. */
  render(args) {
    this.last = args;
    const { history, clients, now, end, windows, stale, witness } = args;
    const width = Math.max(200, this.width);
    const height = TOP * 2 + Math.max(1, clients.length) * LANE;
    const x = (ms) => LABEL + ((width - LABEL - 4) * Math.max(0, Math.min(ms, end))) / Math.max(1, end);
    const scale = `${width}|${end}`;
    const backKey = `${scale}|${clients.length}|${JSON.stringify(windows)}|${windows.some((w) => w.end === null) ? now : ''}`;
    if (backKey !== this.backKey) {
      this.backKey = backKey;
      this.svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
      this.svg.setAttribute('height', height);
      const back = [];
      for (const w of windows) {
        const x0 = x(w.start);
        back.push(s('rect', { class: 'tl-partition', x: x0, y: 0, width: Math.max(1, x(w.end ?? now) - x0), height }));
      }
      clients.forEach((c, i) => {
        back.push(s('text', { class: 'tl-client', x: 2, y: TOP + i * LANE + LANE * 0.7, text: c }));
        back.push(s('line', { class: 'tl-lane', x1: LABEL, x2: width - 4, y1: TOP + (i + 1) * LANE - 0.5, y2: TOP + (i + 1) * LANE - 0.5 }));
      });
      this.layers.back.replaceChildren(...back);
    }
    const lane = new Map(clients.map((c, i) => [c, i]));
    // A time-travel back shortens the history: bars past its end go.
    for (const [index, bar] of this.bars) {
      if (index >= history.length) { bar.rect.remove(); bar.mark?.remove(); this.bars.delete(index); }
    }
    history.forEach((op, index) => {
      const i = lane.get(op.client);
      if (i === undefined) return;
      const open = pending(op) || endUs(op) === null;
      const startMs = op.invoke_us / 1000;
      const endMs = open ? now : endUs(op) / 1000;
      const anomaly = witness.has(index) ? 'witness' : stale.has(index) ? 'stale' : null;
      const outcome = pending(op) ? 'pending' : op.outcome;
      const key = `${scale}|${open ? now : endMs}|${outcome}|${anomaly}|${op.value}|${op.invoke_us}|${i}`;
      let bar = this.bars.get(index);
      if (bar?.key === key) return;
      if (!bar) {
        const title = s('title');
        const rect = s('rect', { rx: 2, height: LANE - 5 }, [title]);
        this.layers.ops.append(rect);
        bar = { rect, title };
        this.bars.set(index, bar);
      }
      bar.key = key;
      const x0 = x(startMs);
      const w = Math.max(2, x(endMs) - x0);
      const { rect } = bar;
      setAttr(rect, 'class', `tl-op ${op.op} ${outcome}${anomaly ? ` anomaly ${anomaly}` : ''}${index === this.selected ? ' selected' : ''}`);
      setAttr(rect, 'x', x0);
      setAttr(rect, 'y', TOP + i * LANE + 2);
      setAttr(rect, 'width', w);
      setAttr(rect, 'data-op', index);
      // A click goes to where the operation ended: where its answer, and any anomaly, is known.
      setAttr(rect, 'data-at', open ? startMs : endMs);
      setAttr(rect, 'data-outcome', outcome);
      if (anomaly) { setAttr(rect, 'data-anomaly', anomaly); setAttr(rect, 'tabindex', 0); } else { rect.removeAttribute('data-anomaly'); rect.removeAttribute('tabindex'); }
      const value = op.value !== null && op.value !== undefined ? ` = ${op.value}` : '';
      bar.title.textContent = `${op.client} ${op.op} ${op.key}${value} · ${t(`cap.outcome.${outcome}`)} · ${startMs.toFixed(1)}–${pending(op) ? '…' : endMs.toFixed(1)} ms${anomaly ? ` · ${t(`cap.anomaly.${anomaly}`)}` : ''}`;
      bar.mark?.remove();
      bar.mark = anomaly ? s('path', { class: `tl-mark ${anomaly}`, d: `M${x0 + w / 2 - 4},${TOP + i * LANE} h8 l-4,5 z`, 'pointer-events': 'none' }) : null;
      if (bar.mark) this.layers.marks.append(bar.mark);
    });
    const xn = x(now);
    setAttr(this.now, 'x1', xn);
    setAttr(this.now, 'x2', xn);
    setAttr(this.now, 'y2', height);
  }
}
