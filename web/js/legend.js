// The legend over the cluster: node colours by role, link states, and the message shapes the
// protocol module uses (filled: a request; hollow: a reply; red outline: refused).

import { h, s } from './dom.js';
import { t } from './i18n.js';
import { legendIcon } from './messages.js';
import { roleText } from './describe.js';

// Not data-role: tests count nodes by [data-role], so the legend must not look like one.
const ROLE_STYLE = {
  leader: 'fill: var(--leader); stroke: var(--leader)',
  candidate: 'fill: var(--candidate); stroke: var(--candidate)',
  follower: 'fill: var(--follower); stroke: var(--follower-stroke)',
  replica: 'fill: var(--follower); stroke: var(--follower-stroke)',
  coordinator: 'fill: var(--leader); stroke: var(--leader)',
  orchestrator: 'fill: var(--leader); stroke: var(--leader)',
  participant: 'fill: var(--follower); stroke: var(--follower-stroke)',
  susceptible: 'fill: var(--follower); stroke: var(--follower-stroke)',
  infective: 'fill: #e69f00; stroke: #b36b00',
  removed: 'fill: #0072b2; stroke: #00507d',
  member: 'fill: var(--follower); stroke: var(--follower-stroke)',
  // Leases and HA (panels.css).
  grantor: 'fill: #CC79A7; stroke: #8a3f6c',
  storage: 'fill: #E69F00; stroke: #a87400',
  holder: 'fill: var(--follower); stroke: var(--follower-stroke)',
  backup: 'fill: #56B4E9; stroke: #0072B2',
  view_server: 'fill: #CC79A7; stroke: #8a3f6c',
  active: 'fill: #009E73; stroke: #006b4e',
  balancer: 'fill: #E69F00; stroke: #a87400',
  server: 'fill: #F0E442; stroke: #a89f1c',
  // Services (services.css): a source and the health of a service.
  source: 'fill: #56B4E9; stroke: #0072B2',
  ok: 'fill: #bfe5c8; stroke: #2e7d32',
  busy: 'fill: #ffe08a; stroke: #b07d00',
  overloaded: 'fill: #f4a6a0; stroke: #b3261e',
  crashed: 'fill: var(--crashed); stroke: var(--crashed)',
  paused: 'fill: var(--paused); stroke: var(--paused-stroke)',
};

function roleIcon(role) {
  return s('svg', { class: 'legend-icon', viewBox: '-9 -9 18 18', width: 16, height: 16, 'aria-hidden': 'true' }, [
    s('circle', { r: 7, style: `${ROLE_STYLE[role] ?? ''}; stroke-width: 2` }),
  ]);
}

function linkIcon(state) {
  return s('svg', { class: 'legend-icon wide', viewBox: '0 -6 28 12', width: 28, height: 12, 'aria-hidden': 'true' }, [
    s('g', { class: `legend-link state-${state}` }, [s('line', { class: 'wire', x1: 0, y1: 0, x2: 28, y2: 0 })]),
  ]);
}

export function buildLegend(box, module, roles) {
  const item = (icon, label) => h('li', {}, [icon, h('span', { text: label })]);
  box.replaceChildren(
    h('h4', { text: t('legend.nodes') }),
    h('ul', {}, [...roles.map((r) => item(roleIcon(r), roleText(r))), ...module.legendExtras(t).map((x) => item(x.icon, x.label))]),
    h('h4', { text: t('legend.links') }),
    h('ul', {}, ['up', 'cut', 'oneway'].map((st) => item(linkIcon(st), t(`legend.link.${st}`)))),
    h('h4', { text: t('legend.messages') }),
    h('ul', {}, module.legend(t).map((st) => item(legendIcon(st), st.label))),
  );
}

/** The legend of a large cluster: each colour the protocol module names, with how many nodes
 * have it now (`counts`: shade code → nodes), then crashed and paused. */
export function buildSwarmLegend(box, module, counts) {
  const dot = (color) => s('svg', { class: 'legend-icon', viewBox: '-9 -9 18 18', width: 16, height: 16, 'aria-hidden': 'true' }, [
    s('circle', { r: 7, style: `fill: ${color}; stroke: ${color}` }),
  ]);
  const rows = [...(module.shades ?? []), { code: 254, key: 'role.paused', color: '#a67c00' }, { code: 255, key: 'role.crashed', color: '#3b3b3b' }]
    .filter((p, i, all) => all.findIndex((q) => q.code === p.code) === i)
    .filter((p) => p.code < 254 || counts[p.code]);
  box.replaceChildren(
    h('h4', { text: t('legend.nodes') }),
    h('ul', {}, rows.map((p) => h('li', { 'data-shade': String(p.code) }, [
      dot(p.color), h('span', { text: t(p.key) }), h('span', { class: 'legend-count', text: String(counts[p.code] ?? 0) }),
    ]))),
    h('p', { class: 'legend-note', text: t('swarm.legendNote') }),
  );
}
