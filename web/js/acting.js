// What happens when a person acts on the cluster: an action goes to the simulator (refused
// ones are explained in the alert and change nothing), a click on a link cuts or restores it,
// a click on a node opens its menu, a hover over a message shows what it carries. These are
// methods of the page's App (mixed into it in main.js).

import { t } from './i18n.js';
import { describeAction, fmtUs, roleText } from './describe.js';
import { nodeMenuItems } from './node-menus.js';

export const Acting = {
  /** Applies one action now; false (with the reason shown) when the simulator refuses it. */
  act(action) {
    if (this.opts.readonly) {
      this.status(t('ui.readonly'));
      return false;
    }
    try {
      this.session.apply(JSON.stringify(action));
    } catch (e) {
      // The simulator refuses what cannot apply now (crash a crashed node, isolate "the
      // leader" with none), with the reason, and the run is untouched.
      this.error(t('err.action', { action: describeAction(action), msg: e.message ?? String(e) }));
      return false;
    }
    this.error('');
    this.status(t('ui.done', { action: describeAction(action), ms: Math.floor(this.session.now) }));
    this.updateUrl();
    this.renderNow();
    return true;
  },

  dropMessage(id) {
    if (this.opts.readonly) return;
    try {
      this.session.dropMessage(id);
      this.status(t('ui.dropped', { id }));
      this.updateUrl();
    } catch (e) {
      this.error(t('err.action', { action: t('menu.drop'), msg: e.message ?? String(e) }));
    }
    this.renderNow();
  },

  clickLink(a, b, e, near) {
    if (this.partition.grouping || this.opts.readonly) return;
    const link = this.cluster.links.get(`${a}-${b}`);
    if (!link) return;
    if (e.shiftKey) {
      const far = near === a ? b : a;
      const blocked = link.state === 'cut' || (link.state === 'oneway' && link.down[0] === near);
      this.act({ action: blocked ? 'restore' : 'cut', from: near, to: far, oneway: true });
    } else {
      this.act({ action: link.state === 'up' ? 'cut' : 'restore', from: a, to: b });
    }
  },

  openMenu(e, title, items) {
    this.tooltip.hide();
    const box = e.target.getBoundingClientRect?.();
    const x = e.clientX || (box ? box.right : 100);
    const y = e.clientY || (box ? box.top : 100);
    this.menu.open(x + 4, y + 4, title, items);
  },

  openNodeMenu(id, e) {
    const view = this.nodes?.find((n) => n.id === id);
    this.inspect(id, this.opts.readonly);
    if (this.opts.readonly) return;
    const title = view ? [id, roleText(view.role), this.module.leaderless ? '' : t(this.module.termKey ?? 'node.term', { term: view.term })].filter(Boolean).join(' · ') : id;
    this.openMenu(e, title, nodeMenuItems(this, id, view));
  },

  inspect(id, switchTab = true) {
    this.inspector.select(id);
    this.cluster.setSelected(id);
    this.swarm?.setSelected(id);
    if (switchTab) this.showTab('inspector');
    else { this.slowPending = true; this.renderNow(); }
  },

  hoverMessage(m, e) {
    if (!m) { this.tooltip.hide(); return; }
    const rows = this.module.describeMessage(m).map(([k, v]) => [k, v]);
    rows.push([t('msg.sent'), `${fmtUs(m.send_us)} ms`], [t('msg.arrives'), `${fmtUs(m.deliver_us)} ms`]);
    this.tooltip.show(e.clientX, e.clientY, `${m.label}  ${m.from} → ${m.to}`, rows);
  },
};
