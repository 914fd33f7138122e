// The safety properties of the protocol, checked by the simulator after every step, shown
// live: a green tick while each holds, red with the first violation (when, where, what) once
// one breaks. Clicking a violation jumps to the moment it was first seen.

import { h, $, setAttr, setText } from '../dom.js';
import { has, t } from '../i18n.js';

export class InvariantsPanel {
  constructor(root, badge, { onJump }) {
    this.root = root;
    this.list = $('.invariant-list', root);
    this.badge = badge;
    this.onJump = onJump;
    this.key = null;
  }

  invalidate() {
    this.key = null;
  }

  update(session) {
    const text = session.pg.invariants();
    if (text === this.key) return;
    this.key = text;
    const list = JSON.parse(text);
    // The slider marks where each invariant first broke.
    session.violations = list.filter((inv) => inv.first_violation).map((inv) => inv.first_violation);
    this.list.replaceChildren();
    let broken = 0;
    for (const inv of list) {
      const v = inv.first_violation;
      if (!inv.ok) broken++;
      const item = h('li', { class: inv.ok ? 'inv ok' : 'inv broken', 'data-invariant': inv.name, 'data-ok': String(inv.ok) }, [
        h('span', { class: 'inv-icon', 'aria-hidden': 'true', text: inv.ok ? '✓' : '✗' }),
        // Invariants keep the paper's English names; a table may add a translation.
        h('span', { class: 'inv-name', text: has(`invariant.${inv.name}`) ? t(`invariant.${inv.name}`) : inv.name }),
        h('span', { class: 'inv-source', text: inv.source }),
      ]);
      item.title = `${inv.name}: ${inv.statement}`;
      if (v) {
        const jump = h('button', { type: 'button', class: 'inv-jump', 'data-testid': 'violation-jump', 'data-at': v.at_us },
          [t('inv.firstAt', { ms: (v.at_us / 1000).toFixed(3), step: v.step, count: v.count })]);
        jump.addEventListener('click', () => this.onJump(v.at_us / 1000));
        item.append(h('div', { class: 'inv-detail' }, [h('span', { text: v.detail }), jump]));
      } else {
        item.append(h('div', { class: 'inv-statement', text: inv.statement }));
      }
      this.list.append(item);
    }
    setAttr(this.root, 'data-state', broken ? 'violated' : 'ok');
    setAttr(this.badge, 'data-state', broken ? 'violated' : 'ok');
    setText(this.badge, broken ? t('inv.badgeBroken', { n: broken }) : t('inv.badgeOk', { n: list.length }));
  }
}
