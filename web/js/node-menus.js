// What a click offers: the actions on a node (crash, restart, pause, resume, time out now,
// isolate, a client request sent to it), on a client, on a link (cut either or both ways,
// restore) and on a message in flight (drop it). Each item ends in one action for the
// simulator, through app.act.

import { h } from './dom.js';
import { t } from './i18n.js';
import { signed } from './describe.js';

/** A small form for one client operation; `node` is where it goes first (null: the leader). */
function requestForm(app, { node, client }) {
  const clients = app.session.scenario.clients ?? 0;
  if (!clients) return h('p', { class: 'menu-hint', text: t('menu.noClients') });
  const pickClient = h('select', { name: 'client', 'aria-label': t('menu.client') });
  for (let i = 1; i <= clients; i++) pickClient.append(h('option', { value: `c${i}`, text: `c${i}` }));
  if (client) pickClient.value = client;
  // A protocol may offer other operations (the commit protocols: a transaction over several
  // keys, then get).
  const ops = app.module.ops ?? ['put', 'get'];
  const op = h('select', { name: 'op', 'aria-label': t('menu.op') }, ops.map((o) => h('option', { value: o, text: o })));
  const key = h('input', { name: 'key', value: 'x', size: 3, 'aria-label': t('menu.key') });
  const value = h('input', { name: 'value', size: 4, placeholder: t('menu.auto'), 'aria-label': t('menu.value') });
  const fit = () => {
    value.disabled = op.value !== 'put';
    // A transaction names its keys, each written a fresh value.
    if (op.value === 'txn') {
      if (!key.value.includes(',')) key.value = 'x,y,z';
      key.size = 6;
      key.title = t('menu.txnKeys');
    } else {
      if (key.value.includes(',')) key.value = key.value.split(',')[0].trim() || 'x';
      key.size = 3;
      key.title = '';
    }
  };
  op.addEventListener('change', fit);
  fit();
  const send = h('button', { type: 'submit', class: 'btn primary', 'data-menu': 'send-request', text: t('menu.send') });
  const form = h('form', { class: 'req-form' }, [
    h('div', { class: 'menu-heading', text: node ? t('menu.requestTo', { node }) : t(app.module.menuKeys?.requestAny ?? 'menu.requestLeader') }),
    h('div', { class: 'req-row' }, [client ? null : pickClient, op, key, h('span', { text: '=' }), value, send]),
  ]);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const action = { action: 'request', client: client ?? pickClient.value, op: op.value };
    if (op.value === 'txn') action.keys = key.value.split(',').map((k) => k.trim()).filter(Boolean);
    else action.key = key.value.trim();
    if (op.value === 'put' && value.value.trim()) action.value = value.value.trim();
    if (node) action.node = node;
    app.menu.close();
    app.act(action);
  });
  return form;
}

/** The node's clock: run fast or slow, or step it; the engine keeps true time regardless. */
function clockForm(app, id, view) {
  const clock = view?.clock ?? { drift: 0, offset_us: 0 };
  const drift = h('select', { name: 'drift', 'data-menu': 'clock-drift', 'aria-label': t('menu.clockDrift') });
  const current = Math.round(clock.drift * 100);
  const choices = [...new Set([-50, -20, -10, 0, 10, 20, 50, 100, current])].sort((a, b) => a - b);
  for (const d of choices) drift.append(h('option', { value: d, text: d ? t('clock.drift', { drift: signed(d, 0) }) : t('menu.clockTrue') }));
  drift.value = String(current);
  drift.addEventListener('change', () => {
    app.menu.close();
    app.act({ action: 'clock', node: id, drift: Number(drift.value) / 100 });
  });
  const offset = Math.round(clock.offset_us / 1000);
  const step = (ms) => h('button', {
    type: 'button', class: 'btn', 'data-menu': ms < 0 ? 'clock-back' : 'clock-ahead', title: t('menu.clockStepHint'),
    text: `${signed(ms / 1000, 1)} s`,
    onclick: () => { app.menu.close(); app.act({ action: 'clock', node: id, offset_ms: offset + ms }); },
  });
  return h('div', { class: 'clock-form' }, [
    h('div', { class: 'menu-heading', text: t('menu.clock') }),
    h('div', { class: 'req-row' }, [drift, step(-500), step(500)]),
  ]);
}

export function nodeMenuItems(app, id, view) {
  const role = view?.role ?? 'follower';
  const crashed = role === 'crashed';
  const paused = role === 'paused';
  const act = (action) => () => app.act({ action, node: id });
  return [
    { id: 'inspect', label: t('menu.inspect'), run: () => app.inspect(id) },
    'separator',
    crashed
      ? { id: 'restart', label: t('menu.restart'), hint: t('menu.restartHint'), run: act('restart') }
      : { id: 'crash', label: t('menu.crash'), hint: t('menu.crashHint'), danger: true, run: act('crash') },
    paused
      ? { id: 'resume', label: t('menu.resume'), run: act('resume') }
      : { id: 'pause', label: t('menu.pause'), hint: t('menu.pauseHint'), disabled: crashed, run: act('pause') },
    paused ? null : { id: 'gc-pause', label: t('menu.gcPause'), hint: t('menu.gcPauseHint'), disabled: crashed, run: () => app.act({ action: 'pause', node: id, ms: 3000 }) },
    { id: 'timeout', label: t(app.module.menuKeys?.timeout ?? 'menu.timeout'), hint: t(app.module.menuKeys?.timeoutHint ?? 'menu.timeoutHint'), disabled: crashed || paused, run: act('timeout') },
    { id: 'isolate', label: t('menu.isolate'), hint: t('menu.isolateHint'), run: () => app.act({ action: 'isolate', node: id }) },
    'separator',
    { element: clockForm(app, id, view) },
    'separator',
    { element: requestForm(app, { node: id }) },
  ].filter(Boolean);
}

export function clientMenuItems(app, id) {
  return [{ element: requestForm(app, { node: null, client: id }) }];
}

export function linkMenuItems(app, a, b) {
  return [
    { id: 'cut', label: t('menu.cutBoth'), run: () => app.act({ action: 'cut', from: a, to: b }) },
    { id: 'cut-ab', label: t('menu.cutOne', { from: a, to: b }), run: () => app.act({ action: 'cut', from: a, to: b, oneway: true }) },
    { id: 'cut-ba', label: t('menu.cutOne', { from: b, to: a }), run: () => app.act({ action: 'cut', from: b, to: a, oneway: true }) },
    { id: 'restore', label: t('menu.restoreBoth'), run: () => app.act({ action: 'restore', from: a, to: b }) },
  ];
}

/** What the message carries (as in the hover tooltip, for touch screens), and "drop it". */
export function messageMenuItems(app, m) {
  const table = h('table', { class: 'menu-fields' });
  for (const [k, v] of app.module.describeMessage(m)) table.append(h('tr', {}, [h('th', { text: k }), h('td', { text: v })]));
  return [
    { element: table },
    { id: 'drop', label: t('menu.drop'), hint: t('menu.dropHint'), danger: true, run: () => app.dropMessage(m.id) },
  ];
}
