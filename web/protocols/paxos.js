// Basic Paxos's own drawing (crate/src/protocols/paxos/): every node is proposer, acceptor and
// learner, and every key is its own single-decree instance (a write-once register). What a
// student needs to see is each acceptor's promise and accepted (ballot, value), and each
// proposer's phase and whether it had to adopt someone else's value:
// - under each node, one line per key: "x · promised 3.n2 · accepted 2.n1=v1", and what it
//   learned ("learned x=v1");
// - first under a node that proposes, its ballot and phase ("3.n2 phase 1"), and "adopted the
//   value of 2.n1" when a promise carried an accepted value it must propose instead of its own;
// - the "Paxos" panel: per key, a row per node with promised, accepted and learned, and the
//   proposer's phase, ballot, value and promises;
// - the inspector: the same for one node, then its state as a tree.
// Test hooks on each node: data-promised ("x:3.n2;..."), data-accepted ("x:2.n1=v1;..."),
// data-learned ("x=v1;..."), data-phase ("x:prepare;..."); in the panel (data-testid
// "paxos-table") each row's data-key, data-node, data-promised, data-accepted-ballot,
// data-accepted-value, data-learned, data-phase, data-adopted.

import { h, s, setAttr } from '../js/dom.js';
import { t as tr } from '../js/i18n.js';
import * as generic from './generic.js';

export const name = 'paxos';
/** No leader and no term: every node may propose. */
export const leaderless = true;
export const roles = ['proposer', 'acceptor', 'crashed', 'paused'];

export function messageStyle(m) {
  const client = generic.clientStyle(m);
  if (client) return client;
  switch (m.label) {
    case 'Prepare': return { kind: 'vote', shape: 'circle', hollow: false };
    case 'Promise': return { kind: 'vote', shape: 'circle', hollow: true };
    case 'Nack': return { kind: 'vote', shape: 'circle', hollow: true, denied: true };
    case 'Accept': return { kind: 'append', shape: 'square', hollow: false };
    case 'Accepted': return { kind: 'append', shape: 'square', hollow: true };
    default: return generic.messageStyle(m);
  }
}

/** The instances of a node's inspect state, in key order: [[key, instance], ...]. */
export function instances(info) {
  const st = info?.state ?? {};
  const all = st.instances ?? st.on_disk?.instances ?? {};
  return Object.entries(all).sort(([a], [b]) => a.localeCompare(b));
}

const ACTIVE = new Set(['prepare', 'accept', 'backoff']);

/** The lines under a node: for one key, its promise and its accepted value on two lines; for
 * several, one short line each (the last three); then what it learned. */
export function nodeLines(list) {
  const lines = [];
  const known = list.filter(([, inst]) => inst.acceptor?.promised || inst.acceptor?.accepted);
  if (known.length === 1) {
    const [key, inst] = known[0];
    const a = inst.acceptor;
    if (a.promised) lines.push({ text: `${key}: ${tr('paxos.node.promised', { b: a.promised })}`, cls: 'paxos-line' });
    if (a.accepted) lines.push({ text: tr('paxos.node.accepted', { b: a.accepted.ballot, v: a.accepted.value }), cls: 'paxos-line' });
  } else {
    for (const [key, inst] of known.slice(-3)) {
      const a = inst.acceptor;
      lines.push({ text: `${key}: ${a.promised ?? '—'}${a.accepted ? ` · ${a.accepted.ballot}=${a.accepted.value}` : ''}`, cls: 'paxos-line' });
    }
  }
  const learned = list.filter(([, inst]) => inst.learner?.learned !== null && inst.learner?.learned !== undefined);
  if (learned.length) {
    lines.push({ text: tr('paxos.node.learned', { kv: learned.map(([k, inst]) => `${k}=${inst.learner.learned}`).join(' ') }), cls: 'paxos-line learned' });
  }
  return lines.slice(-4);
}

/** The badge above a proposing node: its ballot and phase (the key too when there are
 * several), and whose value it adopted. */
export function badge(list) {
  const active = list.filter(([, inst]) => ACTIVE.has(inst.proposer?.phase));
  if (!active.length) return '';
  const [key, inst] = active[active.length - 1];
  const p = inst.proposer;
  const text = `${list.length > 1 ? `${key}: ` : ''}${p.ballot ?? ''} ${tr(`paxos.phaseWord.${p.phase}`)}`;
  return p.adopted_from ? `${text} · ${tr('paxos.node.adopted', { b: p.adopted_from })}` : text;
}

export function belowNode(r) {
  const font = Math.max(10, Math.min(13, Math.round(r * 0.34)));
  return 6 + 4 * (font + 3) + 8;
}

export function nodeExtras(group, ctx) {
  return generic.textPlate(group, ctx, {
    protocol: 'paxos',
    prefix: 'paxos',
    lines(info, view) {
      const list = instances(info);
      const badgeText = view.role === 'crashed' ? '' : badge(list);
      const join = (f) => list.map(f).filter(Boolean).join(';');
      setAttr(group, 'data-promised', join(([k, i]) => i.acceptor?.promised && `${k}:${i.acceptor.promised}`));
      setAttr(group, 'data-accepted', join(([k, i]) => i.acceptor?.accepted && `${k}:${i.acceptor.accepted.ballot}=${i.acceptor.accepted.value}`));
      setAttr(group, 'data-learned', join(([k, i]) => i.learner?.learned != null && `${k}=${i.learner.learned}`));
      setAttr(group, 'data-phase', join(([k, i]) => i.proposer?.phase && i.proposer.phase !== 'idle' && `${k}:${i.proposer.phase}`));
      // The proposer's line first, in its colour: the lines under a node never leave the
      // drawing (a badge above a node at the top would).
      return [...(badgeText ? [{ text: badgeText, cls: 'paxos-line proposing' }] : []), ...nodeLines(list)].slice(0, 4);
    },
  });
}

// ---- the inspector and the panel ----

function instanceRows(key, inst, id) {
  const a = inst.acceptor ?? {};
  const p = inst.proposer ?? {};
  const learned = inst.learner?.learned;
  return {
    key, node: id,
    promised: a.promised ?? '',
    acceptedBallot: a.accepted?.ballot ?? '',
    acceptedValue: a.accepted?.value ?? '',
    learned: learned === null || learned === undefined ? '' : String(learned),
    phase: p.phase ?? 'idle',
    ballot: p.ballot ?? '',
    value: p.value ?? '',
    own: p.own_value ?? '',
    adopted: p.adopted_from ?? '',
    promises: (p.promises ?? []).join(', '),
  };
}

function table(rows, t, withNode) {
  const head = [
    ...(withNode ? ['paxos.col.node'] : ['paxos.col.key']), 'paxos.col.promised', 'paxos.col.accepted', 'paxos.col.learned', 'paxos.col.proposer',
  ];
  const el = h('table', { class: 'grid-table paxos-table' }, [h('tr', {}, head.map((k) => h('th', { text: t(k) })))]);
  for (const r of rows) {
    const proposer = r.phase === 'idle' ? '—'
      : [r.ballot, t(`paxos.phaseWord.${r.phase}`), r.value && `= ${r.value}`, r.adopted && t('paxos.node.adoptsShort', { b: r.adopted })].filter(Boolean).join(' ');
    el.append(h('tr', {
      'data-key': r.key, 'data-node': r.node, 'data-promised': r.promised, 'data-accepted-ballot': r.acceptedBallot,
      'data-accepted-value': r.acceptedValue, 'data-learned': r.learned, 'data-phase': r.phase, 'data-adopted': r.adopted,
      class: r.learned ? 'learned' : '',
    }, [
      h('th', { class: 'mono', text: withNode ? r.node : r.key }),
      h('td', { class: 'mono', text: r.promised || '—' }),
      h('td', { class: 'mono', text: r.acceptedBallot ? `${r.acceptedBallot} = ${r.acceptedValue}` : '—' }),
      h('td', { class: 'mono', text: r.learned || '—' }),
      h('td', { class: 'mono', text: proposer }),
    ]));
  }
  return el;
}

export function inspector(box, info, ctx) {
  const { t } = ctx;
  const st = info.state ?? {};
  const list = instances(info);
  if (st.crashed) box.append(h('p', { class: 'hint', text: t('paxos.crashedNote') }));
  box.append(h('p', { class: 'hint', text: t('paxos.roleText') }));
  box.append(list.length ? table(list.map(([k, inst]) => instanceRows(k, inst, info.id)), t, false) : h('p', { class: 'hint', text: t('paxos.noInstances') }));
  const rest = Object.fromEntries(Object.entries(st.crashed ? st.on_disk ?? {} : st).filter(([k]) => k !== 'instances'));
  box.append(h('h4', { text: t('inspector.state') }), generic.tree(rest));
  generic.timersSection(box, info, ctx);
}

export const panel = {
  titleKey: 'paxos.panelTab',
  render(box, nodes, ctx) {
    const { t } = ctx;
    const byKey = new Map();
    for (const v of nodes) {
      let info = null;
      if (ctx.session?.pg) { try { info = JSON.parse(ctx.session.pg.inspect(v.id)); } catch { info = null; } }
      for (const [k, inst] of instances(info)) {
        if (!byKey.has(k)) byKey.set(k, []);
        byKey.get(k).push(instanceRows(k, inst, v.id));
      }
    }
    const wrap = h('div', { 'data-testid': 'paxos-table' });
    for (const [k, rows] of [...byKey].sort(([a], [b]) => a.localeCompare(b))) {
      const values = new Set(rows.map((r) => r.learned).filter(Boolean));
      wrap.append(h('h4', { 'data-key': k, 'data-chosen': [...values].join(','), text: values.size ? t('paxos.chosen', { key: k, v: [...values].join(', ') }) : t('paxos.notChosen', { key: k }) }));
      wrap.append(table(rows, t, true));
    }
    box.append(byKey.size ? h('div', { class: 'paxos-scroll' }, [wrap]) : h('p', { class: 'hint', text: t('paxos.noInstances') }));
    box.append(h('p', { class: 'hint', text: t('paxos.panelHint') }));
  },
};

export function legendExtras(t) {
  const w = 110;
  const icon = (cls, text) => s('svg', { class: 'legend-icon wide', viewBox: `0 -8 ${w} 16`, width: w, height: 16, 'aria-hidden': 'true' }, [
    s('text', { class: cls, x: w / 2, y: 4, 'text-anchor': 'middle', 'font-size': 10, text }),
  ]);
  return [
    { icon: icon('paxos-line', `x · ${t('paxos.node.promised', { b: '3.n2' })}`), label: t('paxos.legend.promised') },
    { icon: icon('paxos-line', t('paxos.node.accepted', { b: '2.n1', v: 'v1' })), label: t('paxos.legend.accepted') },
    { icon: icon('paxos-line proposing', `3.n2 ${t('paxos.phaseWord.prepare')}`), label: t('paxos.legend.phase') },
  ];
}

export function legend(t) {
  return [
    { kind: 'vote', shape: 'circle', hollow: false, label: 'Prepare' },
    { kind: 'vote', shape: 'circle', hollow: true, label: 'Promise' },
    { kind: 'vote', shape: 'circle', hollow: true, denied: true, label: 'Nack' },
    { kind: 'append', shape: 'square', hollow: false, label: 'Accept' },
    { kind: 'append', shape: 'square', hollow: true, label: 'Accepted' },
    ...generic.legend(t),
  ];
}

export default { name, leaderless, roles, messageStyle, belowNode, nodeExtras, inspector, panel, legend, legendExtras };
