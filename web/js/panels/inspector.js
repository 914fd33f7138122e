// The node inspector: everything about one node, from Playground.inspect, drawn by the
// protocol module (Raft: term, vote, log, nextIndex/matchIndex, timers). It follows the run,
// redrawn at most a few times a second while playing.

import { h, $ } from '../dom.js';
import { t } from '../i18n.js';

export class Inspector {
  constructor(root) {
    this.root = root;
    this.title = $('.inspector-title', root);
    this.body = $('.inspector-body', root);
    this.node = null;
    this.key = null;
  }

  select(id) {
    this.node = id;
    this.key = null;
  }

  invalidate() {
    this.key = null;
  }

  update(session, module, now) {
    if (!this.node || session.scenario.nodes < Number(this.node.slice(1))) {
      this.node = null;
      if (this.key === 'none') return;
      this.key = 'none';
      this.title.textContent = t('inspector.title');
      this.body.replaceChildren(h('p', { class: 'hint', text: t(module.pickKey ?? 'inspector.pick') }));
      return;
    }
    const key = `${this.node}|${session.steps}|${session.version}`;
    if (key === this.key) return;
    this.key = key;
    let info;
    try {
      info = JSON.parse(session.pg.inspect(this.node));
    } catch (e) {
      this.body.replaceChildren(h('p', { class: 'hint', text: String(e.message ?? e) }));
      return;
    }
    // A service's state has its health where other protocols have a role.
    const role = info.up ? (info.paused ? 'paused' : info.state.role ?? info.state.health) : 'crashed';
    this.title.textContent = t('inspector.of', { node: this.node, role: t(`role.${role}`) });
    const box = document.createDocumentFragment();
    const div = h('div');
    module.inspector(div, info, { t, now, scenario: session.scenario, session });
    box.append(div);
    this.body.replaceChildren(box);
  }
}
