// Gossip's own drawing (crate/src/protocols/gossip/): epidemic dissemination, rumor mongering
// and anti-entropy (Demers et al. 1987). What a student needs to see is who knows an update,
// who is still spreading it and who has lost interest:
// - `shades`: the colours of the canvas view of a large cluster, one per byte that
//   `Protocol::shades` sends for each node (relative to the newest update created anywhere):
//   grey uninformed, orange spreading (infective), blue removed, teal informed by anti-entropy
//   alone. Okabe–Ito colours, distinct for the common colour-blindnesses and on both themes.
// - under each node of a small cluster (SVG), one line per key it holds (the last two):
//   "rumor=hello · r3 · spreading" (r3: informed in round 3 after the update was created);
// - the inspector: the node's store as a table (value, version, round, how it came, whether
//   hot, how many messages carried it), then its state as a tree.
// Test hooks on each node: data-informed ("rumor;x"), data-spreading ("rumor"), data-round
// ("rumor:3;x:0").

import { h, s } from '../js/dom.js';
import { t as tr } from '../js/i18n.js';
import * as generic from './generic.js';

export const name = 'gossip';
/** No leader: every node gossips the same way. */
export const leaderless = true;
export const roles = ['susceptible', 'infective', 'removed', 'crashed', 'paused'];

/** The canvas colours, by the shade byte (255 crashed and 254 paused are the page's own). */
export const shades = [
  { code: 0, key: 'gossip.shade.uninformed', color: '#9e9e9e' },
  { code: 1, key: 'gossip.shade.spreading', color: '#e69f00' },
  { code: 2, key: 'gossip.shade.removed', color: '#0072b2' },
  { code: 3, key: 'gossip.shade.quiet', color: '#009e73' },
];

export function messageStyle(m) {
  const client = generic.clientStyle(m);
  if (client) return client;
  switch (m.label) {
    case 'Push': return { kind: 'vote', shape: 'circle', hollow: false };
    case 'Feedback': return { kind: 'vote', shape: 'circle', hollow: true };
    case 'Pull': return { kind: 'append', shape: 'square', hollow: false };
    case 'PullReply': return { kind: 'append', shape: 'square', hollow: true };
    case 'PushPull': return { kind: 'k2', shape: 'circle', hollow: false };
    case 'PushPullReply': return { kind: 'k2', shape: 'circle', hollow: true };
    case 'AntiEntropy': return { kind: 'k4', shape: 'square', hollow: false };
    case 'AntiEntropyReply': return { kind: 'k4', shape: 'square', hollow: true };
    default: return generic.messageStyle(m);
  }
}

/** The store of a node's inspect state, in key order: [[key, entry], ...]. */
export function entries(info) {
  // A crashed node's state is its durable view, whose store is a list of [key, value] pairs
  // with no versions or rounds: nothing to draw under it.
  const store = info?.state?.store;
  if (!store || Array.isArray(store) || typeof store !== 'object') return [];
  return Object.entries(store).sort(([a], [b]) => a.localeCompare(b));
}

/** The lines under a node: its last two keys, each with its round and whether it is hot. */
export function nodeLines(list) {
  return list.slice(-2).map(([k, e]) => ({
    text: `${k}=${e.value} · r${e.round} · ${tr(e.hot ? 'gossip.node.spreading' : (e.via === 'anti_entropy' ? 'gossip.node.quiet' : 'gossip.node.removed'))}`,
    cls: e.hot ? 'gossip-line spreading' : 'gossip-line',
  }));
}

export function belowNode(r) {
  const font = Math.max(10, Math.min(13, Math.round(r * 0.34)));
  return 6 + 2 * (font + 3) + 8;
}

export function nodeExtras(group, ctx) {
  return generic.textPlate(group, ctx, {
    protocol: 'gossip',
    prefix: 'gossip',
    lines(info) {
      const list = entries(info);
      group.dataset.informed = list.map(([k]) => k).join(';');
      group.dataset.spreading = list.filter(([, e]) => e.hot).map(([k]) => k).join(';');
      group.dataset.round = list.map(([k, e]) => `${k}:${e.round}`).join(';');
      return nodeLines(list);
    },
  });
}

export function inspector(box, info, ctx) {
  const { t } = ctx;
  const st = info.state ?? {};
  const list = entries(info);
  box.append(h('p', { class: 'hint', text: t('gossip.roleText') }));
  if (!list.length) {
    box.append(h('p', { class: 'hint', text: t('gossip.empty') }));
  } else {
    const head = ['gossip.col.key', 'gossip.col.value', 'gossip.col.version', 'gossip.col.round', 'gossip.col.via', 'gossip.col.hot', 'gossip.col.carried'];
    const table = h('table', { class: 'grid-table gossip-table' }, [h('tr', {}, head.map((k) => h('th', { text: t(k) })))]);
    for (const [k, e] of list) {
      table.append(h('tr', { 'data-key': k, 'data-hot': String(Boolean(e.hot)), class: e.hot ? 'spreading' : '' }, [
        h('th', { class: 'mono', text: k }),
        h('td', { class: 'mono', text: e.value }),
        h('td', { class: 'mono', text: e.version }),
        h('td', { class: 'mono', text: String(e.round) }),
        h('td', { text: t(`gossip.via.${e.via}`) }),
        h('td', { text: e.hot ? t('gossip.yes') : '—' }),
        h('td', { class: 'mono', text: String(e.carried) }),
      ]));
    }
    box.append(table);
  }
  const rest = Object.fromEntries(Object.entries(st).filter(([k]) => k !== 'store'));
  box.append(h('h4', { text: t('inspector.state') }), generic.tree(rest));
  generic.timersSection(box, info, ctx);
}

export function legendExtras(t) {
  const dot = (color) => s('svg', { class: 'legend-icon', viewBox: '-8 -8 16 16', width: 16, height: 16, 'aria-hidden': 'true' }, [
    s('circle', { r: 6, fill: color }),
  ]);
  return shades.map((sh) => ({ icon: dot(sh.color), label: t(sh.key) }));
}

export function legend(t) {
  return [
    { kind: 'vote', shape: 'circle', hollow: false, label: 'Push' },
    { kind: 'vote', shape: 'circle', hollow: true, label: 'Feedback' },
    { kind: 'append', shape: 'square', hollow: false, label: 'Pull' },
    { kind: 'append', shape: 'square', hollow: true, label: 'PullReply' },
    { kind: 'k2', shape: 'circle', hollow: false, label: 'PushPull' },
    { kind: 'k2', shape: 'circle', hollow: true, label: 'PushPullReply' },
    { kind: 'k4', shape: 'square', hollow: false, label: 'AntiEntropy' },
    { kind: 'k4', shape: 'square', hollow: true, label: 'AntiEntropyReply' },
    ...generic.legend(t),
  ];
}

/** The figures under the chart (and, in the CAP lab, as each side's headline numbers):
 * [{name, value, text, stat, statValue}]. */
export function figureLines(f, t) {
  if (!f || typeof f !== 'object') return [];
  const num = (v, d = 0) => (v === null || v === undefined ? '–' : Number(v).toFixed(d));
  const lines = [
    { name: 'informed', value: f.informed, text: t('gossip.fig.informed', { informed: f.informed, live: f.live, spreading: f.spreading }), stat: t('gossip.stat.informed'), statValue: `${f.informed}/${f.live}` },
    { name: 'round', value: f.round, text: t('gossip.fig.round', { round: f.round, period: f.period_ms }) },
    { name: 'rounds_to_all', value: f.rounds_to_all, text: t('gossip.fig.roundsToAll', { rounds: num(f.rounds_to_all), theory: num(f.theory?.rounds, 1), formula: f.theory?.formula ?? '' }), stat: t('gossip.stat.roundsToAll'), statValue: num(f.rounds_to_all) },
    { name: 'messages_per_node', value: f.messages_per_node, text: t('gossip.fig.messages', { per: num(f.messages_per_node, 2), messages: f.messages }), stat: t('gossip.stat.messages'), statValue: num(f.messages_per_node, 2) },
  ];
  if (f.residue !== null && f.residue !== undefined) {
    lines.push({ name: 'residue', value: f.residue, text: t('gossip.fig.residue', { pct: (f.residue * 100).toFixed(2) }), stat: t('gossip.stat.residue'), statValue: `${(f.residue * 100).toFixed(1)}%`, tone: f.residue > 0 ? 'warn' : '' });
  }
  return lines;
}

export default { name, leaderless, roles, shades, messageStyle, belowNode, nodeExtras, inspector, legend, legendExtras, figureLines };
