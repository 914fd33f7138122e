// High availability's drawing (crate/src/protocols/ha/): primary-backup, active-active and a
// load-balanced cluster, one protocol with a `mode`.
// - roles: the primary is drawn as the page's leader (its status role is `leader`); backup,
//   view server, active node, balancer and server each have their own colour (ha.css);
// - under each node: its view number and whether it may serve now ("view 2 · serving"), the
//   replication lag (entries written but not yet held by the backup furthest behind), a
//   semi-synchronous primary fallen back to async, siblings held (active-active) and, under the
//   balancer, the servers it marks down;
// - the inspector: role, view, lease/confirmation, lag, the siblings with their version
//   vectors, the balancer's health table, then the full state as a tree;
// - figureLines: failover time, acknowledged writes lost, conflicts, split-brain writes,
//   requests lost before detection; chart: availability per half second.
// Test hooks on each node: data-view, data-serving, data-lag, data-siblings.

import { h } from '../js/dom.js';
import { t as tr } from '../js/i18n.js';
import * as generic from './generic.js';

export const name = 'ha';
// The engine's `leader` is HA's primary.
export const roleAliases = { leader: 'primary' };

export const roles = ['leader', 'backup', 'view_server', 'active', 'balancer', 'server', 'crashed', 'paused'];
export const termKey = 'ha.node.view';

export function messageStyle(m) {
  const client = generic.clientStyle(m);
  if (client) return client;
  switch (m.label) {
    case 'Heartbeat': return { kind: 'vote', shape: 'circle', hollow: false };
    case 'Replicate': return { kind: 'append', shape: 'square', hollow: false };
    case 'Ack': return { kind: 'append', shape: 'square', hollow: true };
    case 'Ping': return { kind: 'k2', shape: 'circle', hollow: false };
    case 'ViewIs': return { kind: 'k2', shape: 'circle', hollow: true };
    case 'Versions': return { kind: 'append', shape: 'square', hollow: false };
    case 'VersionsAck': return { kind: 'append', shape: 'square', hollow: true };
    case 'Forward': return { kind: 'k3', shape: 'square', hollow: false };
    case 'ForwardReply': return { kind: 'k3', shape: 'square', hollow: true };
    case 'HealthCheck': return { kind: 'vote', shape: 'circle', hollow: false };
    case 'HealthOk': return { kind: 'vote', shape: 'circle', hollow: true };
    default: return generic.messageStyle(m);
  }
}

/** What a node's inspect state says for the lines under it: [{text, cls}]. */
export function lines(st) {
  if (!st || !st.role) return [];
  const out = [];
  if (st.mode === 'primary_backup' && st.role !== 'view_server') {
    out.push({ text: st.serving ? tr('ha.node.serving') : tr(st.role === 'primary' ? 'ha.node.notServing' : 'ha.node.backupOf', { p: st.view?.primary ?? '—' }), cls: st.role === 'primary' && !st.serving ? 'ha-line warn' : 'ha-line' });
  } else if (st.role === 'view_server') {
    out.push({ text: tr('ha.node.viewIs', { p: st.view?.primary ?? '—', b: st.view?.backup ?? '—' }), cls: 'ha-line' });
  }
  if (st.unshipped > 0) out.push({ text: tr('ha.node.lag', { n: st.unshipped }), cls: 'ha-line warn' });
  if (st.degraded) out.push({ text: tr('ha.node.degraded'), cls: 'ha-line warn' });
  if (st.siblings?.length) out.push({ text: tr('ha.node.siblings', { n: st.siblings.length }), cls: 'ha-line warn' });
  if (st.role === 'balancer') {
    const down = Object.entries(st.health ?? {}).filter(([, hl]) => !hl.up).map(([n]) => n);
    out.push({ text: down.length ? tr('ha.node.down', { nodes: down.join(', ') }) : tr('ha.node.allUp'), cls: down.length ? 'ha-line warn' : 'ha-line' });
  }
  return out;
}

export function belowNode(r) {
  const font = Math.max(10, Math.min(13, Math.round(r * 0.34)));
  return 6 + 3 * (font + 3) + 8;
}

export function nodeExtras(group, ctx) {
  return generic.textPlate(group, ctx, {
    protocol: 'ha',
    prefix: 'ha',
    skipCrashed: true,
    lines: (info) => lines(info?.state ?? null),
    attrs: (info) => {
      const st = info?.state ?? null;
      return {
        'data-ha-role': st?.role ?? '',
        'data-view': st?.view ? String(st.view.num) : '',
        'data-serving': st ? String(Boolean(st.serving)) : '',
        'data-lag': st ? String(st.unshipped ?? 0) : '',
        'data-siblings': st ? String(st.siblings?.length ?? 0) : '',
      };
    },
  });
}

export function inspector(box, info, ctx) {
  const { t } = ctx;
  const st = info.state ?? {};
  if (!st.role) {
    generic.inspector(box, info, ctx);
    return;
  }
  box.append(h('p', { class: 'hint', text: t(`ha.roleText.${st.role}`) }));
  box.append(generic.kvTable([
    [t('ha.col.mode'), t(`ha.mode.${st.mode}`)],
    [t('ha.col.view'), st.view ? `${st.view.num} · ${t('ha.col.primary')} ${st.view.primary ?? '—'} · ${t('ha.col.backup')} ${st.view.backup ?? '—'}` : '—'],
    [t('ha.col.serving'), st.serving ? t('ha.yes') : t('ha.no')],
    [t('ha.col.log'), st.log_len],
    [t('ha.col.lag'), st.unshipped],
    [t('ha.col.waiting'), st.waiting],
    [t('ha.col.acked'), st.acked_writes],
    [t('ha.col.conflicts'), st.conflicts],
  ]));
  if (st.siblings?.length) {
    box.append(h('h4', { text: t('ha.siblingsTitle') }));
    const table = h('table', { class: 'grid-table', 'data-testid': 'ha-siblings' }, [
      h('tr', {}, ['ha.col.key', 'ha.col.value', 'ha.col.writer', 'ha.col.vv'].map((k) => h('th', { text: t(k) }))),
    ]);
    for (const sib of st.siblings) {
      for (const v of sib.versions) {
        const vv = Object.entries(v.vv ?? {}).map(([n, c]) => `${n}:${c}`).join(' ');
        table.append(h('tr', {}, [h('th', { class: 'mono', text: sib.key }), h('td', { class: 'mono', text: v.value }), h('td', { class: 'mono', text: v.node }), h('td', { class: 'mono', text: vv })]));
      }
    }
    box.append(table);
  }
  if (st.role === 'balancer') {
    box.append(h('h4', { text: t('ha.healthTitle') }));
    const table = h('table', { class: 'grid-table', 'data-testid': 'ha-health' }, [
      h('tr', {}, ['ha.col.server', 'ha.col.state', 'ha.col.fails', 'ha.col.oks', 'ha.col.active'].map((k) => h('th', { text: t(k) }))),
    ]);
    for (const [n, hl] of Object.entries(st.health ?? {})) {
      table.append(h('tr', { 'data-server': n, class: hl.up ? 'ha-up' : 'ha-down' }, [
        h('th', { class: 'mono', text: n }),
        h('td', { text: t(hl.up ? 'ha.up' : 'ha.down') }),
        h('td', { class: 'mono', text: String(hl.fails) }),
        h('td', { class: 'mono', text: String(hl.oks) }),
        h('td', { class: 'mono', text: String(hl.active) }),
      ]));
    }
    box.append(table);
  }
  box.append(h('h4', { text: t('inspector.state') }), generic.tree(st));
  generic.timersSection(box, info, ctx);
}

const MODES = ['primary_backup', 'active_active', 'load_balanced'];

/** The scenario in another mode: the same nodes, clients, workload, faults and seed; the tour's
 * notes, written for one mode, are left out. */
export function inMode(scenario, mode, t) {
  const copy = JSON.parse(JSON.stringify(scenario));
  // The name stays the original scenario's through any number of switches.
  copy.title = t('ha.switchedTitle', { mode: t(`ha.mode.${mode}`), from: copy.name });
  copy.description = t('ha.switchedDesc');
  copy.params = { ...(copy.params ?? {}), mode };
  copy.timeline = (copy.timeline ?? []).filter((e) => e.action !== 'note');
  delete copy.tour;
  delete copy.expect;
  return copy;
}

/** The HA tab: a switch between the three modes on the same workload, then the figures. */
export const panel = {
  titleKey: 'ha.panelTab',
  controls(box, ctx) {
    const { t } = ctx;
    const current = ctx.scenario?.params?.mode ?? 'primary_backup';
    const select = h('select', { 'data-testid': 'ha-mode' }, MODES.map((m) => h('option', { value: m, text: t(`ha.mode.${m}`) })));
    select.value = current;
    select.addEventListener('change', () => {
      if (!ctx.restartWith(inMode(ctx.scenario, select.value, t))) select.value = current;
    });
    box.append(h('label', { class: 'ha-mode' }, [h('span', { text: t('ha.modeSwitch') }), select]), h('p', { class: 'hint', text: t('ha.modeHint') }));
  },
  render(box, _nodes, ctx) {
    const { t } = ctx;
    let f = null;
    try { f = JSON.parse(ctx.session?.pg?.figures() ?? 'null'); } catch { f = null; }
    const rows = figureLines(f, t);
    if (rows.length === 0) return;
    box.append(h('ul', { class: 'ha-figures' }, rows.map((l) => h('li', { 'data-figure': l.name, text: l.text }))));
  },
};

export function legendExtras() {
  return [];
}

export function legend(t) {
  return [
    { kind: 'vote', shape: 'circle', hollow: false, label: t('ha.legend.heartbeat') },
    { kind: 'append', shape: 'square', hollow: false, label: t('ha.legend.replicate') },
    { kind: 'append', shape: 'square', hollow: true, label: t('ha.legend.ack') },
    { kind: 'k2', shape: 'circle', hollow: false, label: t('ha.legend.ping') },
    { kind: 'k3', shape: 'square', hollow: false, label: t('ha.legend.forward') },
    ...generic.legend(t),
  ];
}

/** Availability per half second, in percent. */
export function chart(f, t) {
  const series = f?.availability?.series;
  if (!Array.isArray(series) || series.length === 0) return null;
  return {
    title: t('ha.chart.title'),
    xLabel: t('ha.chart.x', { ms: f.availability.bucket_ms ?? 500 }),
    xScale: (f.availability.bucket_ms ?? 500) / 1000,
    legend: false,
    ymax: 100,
    series: [{ label: t('ha.chart.availability'), color: '#0072B2', values: series.map((p) => p[1]) }],
  };
}

export function figureLines(f, t) {
  if (!f || typeof f !== 'object') return [];
  const ms = (v) => (v === null || v === undefined ? '…' : `${Math.round(v)} ms`);
  const out = [
    { name: 'availability', value: f.availability?.overall, text: t('ha.fig.availability', { pct: f.availability?.overall ?? 100, ok: f.availability?.answered ?? 0, all: f.availability?.requests ?? 0 }) },
    { name: 'acked_lost', value: f.acked_lost, text: t('ha.fig.ackedLost', { n: f.acked_lost ?? 0, of: f.acked_writes ?? 0 }) },
  ];
  if (f.mode === 'primary_backup') {
    out.push({ name: 'failover_ms', value: f.failover_ms, text: t('ha.fig.failover', { ms: ms(f.failover_ms) }) });
    out.push({ name: 'split_brain_writes', value: f.split_brain_writes, text: t('ha.fig.splitBrain', { n: f.split_brain_writes ?? 0, ms: f.split_brain_ms ?? 0 }) });
    out.push({ name: 'view', value: f.view, text: t('ha.fig.view', { view: f.view ?? 0, serving: (f.serving ?? []).join(', ') || '—' }) });
  }
  if (f.mode === 'active_active') out.push({ name: 'conflicts', value: f.conflicts, text: t('ha.fig.conflicts', { n: f.conflicts ?? 0 }) });
  if (f.mode === 'load_balanced') {
    out.push({ name: 'detection_ms', value: f.detection_ms, text: t('ha.fig.detection', { ms: ms(f.detection_ms) }) });
    out.push({ name: 'lost_before_detection', value: f.lost_before_detection, text: t('ha.fig.lostBeforeDetection', { n: f.lost_before_detection ?? 0 }) });
  }
  return out;
}

export default { name, roles, roleAliases, termKey, messageStyle, belowNode, nodeExtras, inspector, legend, legendExtras, chart, figureLines, figuresBeside: true, panel };
