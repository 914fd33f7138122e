// The event log: the trace events up to the current step, newest at the bottom, filtered by
// node and by kind. Rows are appended as the run moves on and the list is rebuilt only when the
// filter changes or the run goes back in time. Clicking a row jumps to that moment.

import { h, $ } from '../dom.js';
import { t } from '../i18n.js';
import { actorsOf, describeEvent, fmtUs, kindOf } from '../describe.js';

const MAX_ROWS = 300;
const KINDS = ['messages', 'timers', 'roles', 'clients', 'faults', 'notes', 'violations'];

export class EventLog {
  constructor(root, { onJump, onChange }) {
    this.root = root;
    this.onJump = onJump;
    this.node = $('[data-filter="node"]', root);
    this.kind = $('[data-filter="kind"]', root);
    this.list = $('.event-list', root);
    this.count = $('[data-testid="event-log-count"]', root);
    this.node.addEventListener('change', () => { this.invalidate(); onChange(); });
    this.kind.addEventListener('change', () => { this.invalidate(); onChange(); });
    this.list.addEventListener('click', (e) => {
      const row = e.target.closest('[data-at]');
      if (row) this.onJump(Number(row.dataset.at) / 1000);
    });
    this.state = null;
  }

  /** New run: the node filter lists its actors. */
  setup(session) {
    const keep = this.node.value;
    this.node.replaceChildren(h('option', { value: '', text: t('events.allNodes') }));
    const n = session.scenario.nodes;
    const m = session.scenario.clients ?? 0;
    for (let i = 1; i <= n; i++) this.node.append(h('option', { value: `n${i}`, text: `n${i}` }));
    for (let i = 1; i <= m; i++) this.node.append(h('option', { value: `c${i}`, text: `c${i}` }));
    this.node.value = [...this.node.options].some((o) => o.value === keep) ? keep : '';
    this.fillKinds();
    this.invalidate();
  }

  fillKinds() {
    const keep = this.kind.value;
    this.kind.replaceChildren(h('option', { value: '', text: t('events.allKinds') }));
    for (const k of KINDS) this.kind.append(h('option', { value: k, text: t(`events.kind.${k}`) }));
    this.kind.value = keep;
  }

  relabel() {
    const keepNode = this.node.value;
    if (this.node.options.length) this.node.options[0].textContent = t('events.allNodes');
    this.node.value = keepNode;
    this.fillKinds();
    this.invalidate();
  }

  invalidate() {
    this.state = null;
  }

  matches(e) {
    if (this.kind.value && kindOf(e) !== this.kind.value) return false;
    if (this.node.value && !actorsOf(e).includes(this.node.value)) return false;
    return true;
  }

  row(e) {
    const text = describeEvent(e);
    if (text === null) return null;
    return h('li', { class: `ev ev-${kindOf(e)}`, 'data-at': e.at_us, 'data-step': e.step, title: t('events.jump') }, [
      h('span', { class: 'ev-time', text: fmtUs(e.at_us) }),
      h('span', { class: 'ev-step', text: `#${e.step}` }),
      h('span', { class: 'ev-text', text }),
    ]);
  }

  /** Brings the list up to the session's current step. Cheap when nothing changed. */
  update(session, visible, playing = false) {
    // While playing, a shorter list: at speed the rows pass too fast to read anyway.
    const maxRows = playing ? MAX_ROWS / 3 : MAX_ROWS;
    const end = session.eventsUpTo(session.steps);
    const s = this.state;
    if (s && s.version === session.version && s.end === end) return;
    if (!visible) return; // caught up when shown again
    const rebuild = !s || s.version !== session.version || end < s.end;
    // Walk back from the end for at most MAX_ROWS rows: at full speed thousands of events
    // pass between two frames, and only the last screenful is worth making elements for.
    const stop = rebuild ? 0 : s.end;
    const rows = [];
    for (let i = end - 1; i >= stop && rows.length < maxRows; i--) {
      const e = session.events[i];
      if (!this.matches(e)) continue;
      const row = this.row(e);
      if (row) rows.push(row);
    }
    const atBottom = rebuild || this.list.scrollTop + this.list.clientHeight >= this.list.scrollHeight - 30;
    if (rebuild || rows.length >= maxRows) this.list.replaceChildren();
    rows.reverse();
    this.list.append(...rows);
    const extra = this.list.childElementCount - maxRows;
    for (let i = 0; i < extra; i++) this.list.firstElementChild.remove();
    this.state = { version: session.version, end };
    this.count.textContent = t('events.shown', { n: this.list.childElementCount });
    if (atBottom) this.list.scrollTop = this.list.scrollHeight;
  }
}
