// The client history as a timeline: one lane per client, each operation a bar from its
// invocation to its return, coloured by outcome (ok, fail, unknown; still waiting is grey and
// grows with time). The bars are rebuilt only when the history changes; the "now" line and the
// growing bars move every frame.

import { h, s, setAttr, $ } from '../dom.js';
import { t } from '../i18n.js';
import { opText } from '../describe.js';

const LANE = 30;
const LEFT = 36;
const TOP = 20;

export class ClientHistory {
  constructor(root, { onJump }) {
    this.root = root;
    this.onJump = onJump;
    this.svg = $('svg', root);
    this.summary = $('[data-testid="history-summary"]', root);
    this.key = null;
    this.svg.addEventListener('click', (e) => {
      const bar = e.target.closest('[data-invoke]');
      if (bar) this.onJump(Number(bar.dataset.invoke) / 1000);
    });
  }

  invalidate() {
    this.key = null;
  }

  /** Which history entry ends at which time: the k-th operation of a client has seq k+1. */
  returns(session) {
    const ends = new Map();
    for (const e of session.events) if (e.type === 'op_returned') ends.set(`${e.client}#${e.seq}`, e.at_us);
    return ends;
  }

  /** Rebuilds the bars when the history changed (the caller throttles this). */
  refresh(session, clients) {
    const width = Math.max(240, this.svg.getBoundingClientRect().width || 300);
    const historyText = session.pg.history();
    const key = `${historyText.length}|${session.steps}|${width}|${session.end}|${session.version}|${clients.length}`;
    if (key === this.key) return;
    this.key = key;
    this.build(session, JSON.parse(historyText), clients, width);
    if (!clients.length) this.summary.textContent = t('history.noClients');
  }

  /** Every frame: the "now" line and the operations still waiting. */
  tick(now) {
    if (!this.nowLine) return;
    const x = (ms) => LEFT + (Math.min(ms, this.end) / this.end) * (this.width - LEFT - 8);
    setAttr(this.nowLine, 'x1', x(now).toFixed(1));
    setAttr(this.nowLine, 'x2', x(now).toFixed(1));
    for (const bar of this.growing) setAttr(bar, 'width', Math.max(3, x(now) - Number(bar.getAttribute('x'))).toFixed(1));
  }

  build(session, entries, clients, width) {
    this.width = width;
    this.end = Math.max(1, session.end);
    const ends = this.returns(session);
    const lanes = clients.map((c) => c.id);
    const height = TOP + Math.max(1, lanes.length) * LANE + 6;
    this.svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    this.svg.setAttribute('height', height);
    this.svg.replaceChildren();
    const x = (ms) => LEFT + (Math.min(ms, this.end) / this.end) * (width - LEFT - 8);
    // Time axis: a tick every round step.
    const stepMs = [100, 200, 250, 500, 1000, 2000, 5000, 10000, 30000, 60000].find((v) => this.end / v <= 8) ?? 120000;
    for (let ms = 0; ms <= this.end; ms += stepMs) {
      this.svg.append(s('line', { class: 'tick', x1: x(ms), x2: x(ms), y1: TOP - 4, y2: height }));
      this.svg.append(s('text', { class: 'tick-label', x: x(ms), y: TOP - 8, 'text-anchor': 'middle', text: `${ms / 1000}s` }));
    }
    lanes.forEach((id, i) => this.svg.append(s('text', { class: 'lane-label', x: 4, y: TOP + i * LANE + LANE / 2 + 4, text: id })));
    this.growing = [];
    const perClient = new Map();
    const counts = { ok: 0, fail: 0, unknown: 0, pending: 0 };
    for (const op of entries) {
      const lane = lanes.indexOf(op.client);
      if (lane < 0) continue;
      const k = (perClient.get(op.client) ?? 0) + 1;
      perClient.set(op.client, k);
      const client = clients.find((c) => c.id === op.client);
      const isLast = entries.findLast((e) => e.client === op.client) === op;
      const pending = op.return_us === null && op.outcome === 'unknown' && isLast && client?.busy;
      const endUs = op.return_us ?? ends.get(`${op.client}#${k}`) ?? null;
      const outcome = pending ? 'pending' : op.outcome;
      counts[outcome]++;
      const x0 = x(op.invoke_us / 1000);
      const x1 = endUs === null ? x0 + 6 : x(endUs / 1000);
      const y = TOP + lane * LANE + 4;
      const bar = s('rect', { class: `op op-${outcome}`, x: x0.toFixed(1), y, height: LANE - 8, width: Math.max(3, x1 - x0).toFixed(1), rx: 3, 'data-invoke': op.invoke_us });
      const label = `${op.client} ${opText(op)}${op.op === 'get' && op.value !== null ? ` → ${op.value}` : ''}`;
      const when = endUs === null ? `${(op.invoke_us / 1000).toFixed(1)} ms – ?` : `${(op.invoke_us / 1000).toFixed(1)} – ${(endUs / 1000).toFixed(1)} ms`;
      bar.append(s('title', { text: `${label}: ${t(`outcome.${outcome}`)} (${when})` }));
      this.svg.append(bar);
      if (pending) this.growing.push(bar);
      const short = op.op === 'get' ? `${op.key}→${op.value ?? '∅'}` : `${op.key}=${op.value ?? ''}`;
      if (x1 - x0 > short.length * 6.5 + 6) {
        this.svg.append(s('text', { class: 'op-label', x: x0 + 4, y: y + LANE / 2, text: short }));
      }
    }
    this.nowLine = s('line', { class: 'now-line', y1: TOP - 4, y2: height });
    this.svg.append(this.nowLine);
    this.summary.textContent = entries.length
      ? t('history.summary', { total: entries.length, ok: counts.ok, fail: counts.fail, unknown: counts.unknown, pending: counts.pending })
      : t('history.empty');
  }
}

export function historyLegend() {
  return ['ok', 'fail', 'unknown', 'pending'].map((o) => h('span', { class: 'legend-item' }, [h('span', { class: `swatch op-${o}` }), h('span', { text: t(`outcome.${o}`) })]));
}
