// The services' Patterns tab: pick a call edge and edit its patterns (timeout, retry with its
// budget, circuit breaker, bulkhead, fallback), or pick a service and edit it (rate, capacity,
// queue, service time, error rate, rate limiter, dropping expired requests). "Apply" sends one
// `configure` action through the page's act path, so it is recorded in the share link and
// replays; only the groups that changed are sent (an unchanged breaker keeps its state). The
// engine's refusal shows in the page's alert and the form keeps what was typed.
// Below the form: each service's and each edge's counters.
// Test hooks: data-testid svc-edge, svc-service, svc-apply, svc-form-status; inputs by
// data-field ("retry.max_attempts", "breaker.on", "service_ms.hi", ...).

import { h } from '../js/dom.js';

const JITTER = ['none', 'full', 'equal', 'decorrelated'];
const FALLBACK = ['none', 'cache', 'default'];
const LIMITER = ['none', 'token_bucket', 'leaky_bucket', 'sliding_window'];

// Each pattern's fields with their defaults (resilience4j / Envoy, as the engine has them).
// A field is [name, kind, default]; kind 'int' | 'num' | 'bool' | a list of choices.
const EDGE_GROUPS = [
  { key: 'timeout', fields: [['timeout_ms', 'int', 1000]] },
  { key: 'retry', fields: [['max_attempts', 'int', 3], ['wait_duration_ms', 'int', 500], ['multiplier', 'num', 1.5], ['max_wait_duration_ms', 'int', 30000], ['jitter', JITTER, 'none']] },
  { key: 'retry.budget', fields: [['budget_percent', 'int', 20], ['min_retry_concurrency', 'int', 3]] },
  { key: 'breaker', fields: [['failure_rate_threshold', 'int', 50], ['slow_call_rate_threshold', 'int', 100], ['slow_call_duration_threshold_ms', 'int', 60000],
    ['sliding_window_type', ['count_based', 'time_based'], 'count_based'], ['sliding_window_size', 'int', 100], ['minimum_number_of_calls', 'int', 100],
    ['wait_duration_in_open_state_ms', 'int', 60000], ['permitted_number_of_calls_in_half_open_state', 'int', 10],
    ['automatic_transition_from_open_to_half_open_enabled', 'bool', false]] },
  { key: 'bulkhead', fields: [['max_concurrent_calls', 'int', 25], ['max_wait_duration_ms', 'int', 0]] },
];
const LIMITER_FIELDS = [['per', ['global', 'caller'], 'global'], ['capacity', 'int', 10], ['per_second', 'int', 5], ['limit', 'int', 10], ['window_ms', 'int', 1000]];

const get = (obj, path) => path.split('.').reduce((o, k) => (o === null || o === undefined ? undefined : o[k]), obj);

/** The form's values (strings, booleans) for an edge's current configuration. */
export function edgeValues(edge) {
  const v = { 'timeout.on': edge.timeout_ms !== null && edge.timeout_ms !== undefined, timeout_ms: String(edge.timeout_ms ?? 1000) };
  for (const g of EDGE_GROUPS.slice(1)) {
    const cfg = get(edge, g.key);
    v[`${g.key}.on`] = Boolean(cfg);
    for (const [f, kind, def] of g.fields) {
      const val = cfg?.[f] ?? def;
      v[`${g.key}.${f}`] = kind === 'bool' ? Boolean(val) : String(val);
    }
  }
  v.fallback = edge.fallback ?? 'none';
  return v;
}

/** The form's values for a service's spec. */
export function serviceValues(spec) {
  const ms = Array.isArray(spec.service_ms) ? spec.service_ms : [1, 10];
  const v = { capacity: String(spec.capacity ?? 10), queue: String(spec.queue ?? 20), 'service_ms.lo': String(ms[0]), 'service_ms.hi': String(ms[1]), error_rate: String(spec.error_rate ?? 0), drop_expired: Boolean(spec.drop_expired) };
  if (Number(spec.rate) > 0) v.rate = String(spec.rate);
  v['limiter.kind'] = spec.limiter?.kind ?? 'none';
  for (const [f, , def] of LIMITER_FIELDS) v[`limiter.${f}`] = String(spec.limiter?.[f] ?? def);
  return v;
}

function number(values, path, t) {
  const n = Number(values[path]);
  if (String(values[path]).trim() === '' || !Number.isFinite(n)) throw new Error(t('svc.err.number', { field: path }));
  return n;
}

const changed = (before, now, prefix) => Object.keys(now).some((k) => (k === prefix || k.startsWith(`${prefix}.`)) && now[k] !== before[k]);

/** What changed on an edge, as the `configure` action's edge object ({} when nothing). */
export function edgeChange(before, now, t) {
  const out = {};
  if (changed(before, now, 'timeout') || changed(before, now, 'timeout_ms')) out.timeout_ms = now['timeout.on'] ? number(now, 'timeout_ms', t) : null;
  const group = (key) => {
    const g = EDGE_GROUPS.find((x) => x.key === key);
    const cfg = {};
    for (const [f, kind] of g.fields) {
      const path = `${key}.${f}`;
      cfg[f] = kind === 'bool' || Array.isArray(kind) ? now[path] : number(now, path, t);
    }
    return cfg;
  };
  if (changed(before, now, 'retry')) {
    out.retry = now['retry.on'] ? { ...group('retry'), budget: now['retry.budget.on'] ? group('retry.budget') : null } : null;
  }
  for (const key of ['breaker', 'bulkhead']) if (changed(before, now, key)) out[key] = now[`${key}.on`] ? group(key) : null;
  if (changed(before, now, 'fallback')) out.fallback = now.fallback === 'none' ? null : now.fallback;
  return out;
}

/** What changed on a service, as the `configure` action's service object. */
export function serviceChange(before, now, t) {
  const out = {};
  for (const f of ['rate', 'capacity', 'queue', 'error_rate']) if (f in now && now[f] !== before[f]) out[f] = number(now, f, t);
  if (changed(before, now, 'service_ms')) out.service_ms = [number(now, 'service_ms.lo', t), number(now, 'service_ms.hi', t)];
  if (changed(before, now, 'limiter')) {
    if (now['limiter.kind'] === 'none') out.limiter = null;
    else {
      out.limiter = { kind: now['limiter.kind'], per: now['limiter.per'] };
      for (const [f, kind] of LIMITER_FIELDS) if (kind === 'int') out.limiter[f] = number(now, `limiter.${f}`, t);
    }
  }
  if (now.drop_expired !== before.drop_expired) out.drop_expired = now.drop_expired;
  return out;
}

function input(path, kind, value, t) {
  const attrs = { 'data-field': path, 'aria-label': path };
  if (kind === 'bool') {
    const el = h('input', { ...attrs, type: 'checkbox' });
    el.checked = Boolean(value);
    return el;
  }
  if (Array.isArray(kind)) {
    const el = h('select', attrs, kind.map((c) => h('option', { value: c, text: t(`svc.choice.${c}`) })));
    el.value = value;
    return el;
  }
  return h('input', { ...attrs, type: 'text', inputmode: kind === 'int' ? 'numeric' : 'decimal', value: String(value), size: 7 });
}

const row = (label, el) => h('label', { class: 'svc-row' }, [h('span', { text: label }), el]);

/** A fieldset with an on/off switch in its legend (`toggle`: the switch's path, or null). */
function fieldset(title, toggle, values, fields, prefix, t) {
  const legend = h('legend', {}, toggle ? [row(title, input(toggle, 'bool', values[toggle], t))] : [h('span', { text: title })]);
  const box = h('fieldset', { class: 'svc-group', 'data-group': prefix || toggle || title }, [legend]);
  for (const [f, kind] of fields) {
    const path = prefix ? `${prefix}.${f}` : f;
    box.append(row(t(`svc.f.${f}`), input(path, kind, values[path], t)));
  }
  return box;
}

function readValues(box) {
  const v = {};
  for (const el of box.querySelectorAll('[data-field]')) v[el.dataset.field] = el.type === 'checkbox' ? el.checked : el.value;
  return v;
}

/** Folds away a group's fields while its switch is off (a limiter of kind "none" too). */
function syncDisabled(box) {
  const v = readValues(box);
  for (const el of box.querySelectorAll('[data-field]')) {
    const path = el.dataset.field;
    const offBy = ['timeout', 'retry', 'retry.budget', 'breaker', 'bulkhead']
      .filter((g) => path !== `${g}.on` && (path.startsWith(`${g}.`) || (g === 'timeout' && path === 'timeout_ms')))
      .some((g) => v[`${g}.on`] === false);
    // A limiter's fields by its kind: buckets have a capacity and a rate, a window a limit.
    const kind = v['limiter.kind'];
    const limiterOff = path.startsWith('limiter.') && path !== 'limiter.kind' && path !== 'limiter.per'
      && (['limiter.limit', 'limiter.window_ms'].includes(path) ? kind !== 'sliding_window' : kind === 'sliding_window');
    el.disabled = offBy || (path.startsWith('limiter.') && path !== 'limiter.kind' && kind === 'none') || limiterOff;
    const row = el.closest('.svc-row');
    if (row && !row.parentElement.matches('legend')) row.hidden = el.disabled;
  }
}

function inspectOf(ctx, id) {
  try { return JSON.parse(ctx.session?.pg?.inspect(id) ?? 'null')?.state ?? null; } catch { return null; }
}

export const panel = {
  titleKey: 'svc.panelTab',
  controls(box, ctx) {
    const { t } = ctx;
    const params = ctx.scenario?.params ?? {};
    const services = params.services ?? [];
    const calls = params.calls ?? [];
    const idOf = (name) => `n${services.findIndex((sv) => sv.name === name) + 1}`;
    const pick = (testid, label, options) => {
      const el = h('select', { 'data-testid': testid }, [h('option', { value: '', text: t('svc.form.pick') }), ...options.map((o) => h('option', { value: o, text: o }))]);
      return { el, label: h('label', { class: 'svc-pick' }, [h('span', { text: label }), el]) };
    };
    const edgeSel = pick('svc-edge', t('svc.form.edge'), calls.map((c) => `${c.from}->${c.to}`));
    const svcSel = pick('svc-service', t('svc.form.service'), services.map((sv) => sv.name));
    const fields = h('div', { class: 'svc-fields' });
    const apply = h('button', { type: 'button', class: 'btn primary', 'data-testid': 'svc-apply', text: t('svc.form.apply'), disabled: true });
    const status = h('p', { class: 'hint', 'data-testid': 'svc-form-status' });
    let target = null;
    let before = {};
    const show = () => {
      fields.replaceChildren();
      apply.disabled = !target;
      status.textContent = '';
      if (!target) return;
      if (target.kind === 'edge') {
        const call = calls.find((c) => `${c.from}->${c.to}` === target.key) ?? {};
        const live = inspectOf(ctx, idOf(call.from))?.edges?.find((e) => e.edge === target.key);
        before = edgeValues(live ?? call);
        fields.append(
          fieldset(t('svc.g.timeout'), 'timeout.on', before, [['timeout_ms', 'int']], '', t),
          fieldset(t('svc.g.retry'), 'retry.on', before, EDGE_GROUPS[1].fields, 'retry', t),
          fieldset(t('svc.g.budget'), 'retry.budget.on', before, EDGE_GROUPS[2].fields, 'retry.budget', t),
          fieldset(t('svc.g.breaker'), 'breaker.on', before, EDGE_GROUPS[3].fields, 'breaker', t),
          fieldset(t('svc.g.bulkhead'), 'bulkhead.on', before, EDGE_GROUPS[4].fields, 'bulkhead', t),
          fieldset(t('svc.g.fallback'), null, before, [['fallback', FALLBACK]], '', t),
        );
      } else {
        const spec = services.find((sv) => sv.name === target.key) ?? {};
        const live = inspectOf(ctx, idOf(target.key));
        before = serviceValues(live?.params ?? spec);
        const own = [...('rate' in before ? [['rate', 'int']] : []), ['capacity', 'int'], ['queue', 'int'], ['service_ms.lo', 'int'], ['service_ms.hi', 'int'], ['error_rate', 'num'], ['drop_expired', 'bool']];
        fields.append(
          fieldset(t('svc.g.service'), null, before, own, '', t),
          fieldset(t('svc.g.limiter'), null, before, [['kind', LIMITER], ...LIMITER_FIELDS], 'limiter', t),
        );
      }
      syncDisabled(fields);
    };
    fields.addEventListener('change', () => syncDisabled(fields));
    edgeSel.el.addEventListener('change', () => {
      svcSel.el.value = '';
      target = edgeSel.el.value ? { kind: 'edge', key: edgeSel.el.value } : null;
      show();
    });
    svcSel.el.addEventListener('change', () => {
      edgeSel.el.value = '';
      target = svcSel.el.value ? { kind: 'service', key: svcSel.el.value } : null;
      show();
    });
    apply.addEventListener('click', () => {
      if (!target) return;
      const now = readValues(fields);
      let change;
      try {
        change = target.kind === 'edge' ? edgeChange(before, now, t) : serviceChange(before, now, t);
      } catch (e) {
        status.textContent = e.message;
        return;
      }
      if (Object.keys(change).length === 0) { status.textContent = t('svc.form.nothing'); return; }
      const params = target.kind === 'edge' ? { calls: { [target.key]: change } } : { services: { [target.key]: change } };
      const ok = ctx.act?.({ action: 'configure', params });
      if (ok) before = now;
      status.textContent = ok ? t('svc.form.applied') : t('svc.form.refused');
    });
    box.append(h('div', { class: 'svc-form' }, [
      h('p', { class: 'hint', text: t('svc.form.hint') }),
      h('div', { class: 'svc-picks' }, [edgeSel.label, svcSel.label]),
      fields,
      h('div', { class: 'svc-actions' }, [apply, status]),
    ]));
  },
  render(box, nodes, ctx) {
    const { t } = ctx;
    let f = null;
    try { f = JSON.parse(ctx.session?.pg?.figures() ?? 'null'); } catch { f = null; }
    if (!f?.services) return;
    const table = (testid, heads, rows) => h('table', { class: 'grid-table svc-table', 'data-testid': testid }, [
      h('tr', {}, heads.map((k) => h('th', { text: t(k) }))),
      ...rows.map((cells) => h('tr', {}, cells.map((c, i) => h(i ? 'td' : 'th', { class: 'mono', text: String(c ?? '—') })))),
    ]);
    box.append(h('h4', { text: t('svc.counters.services') }), table('svc-services', ['svc.col.service', 'svc.col.arrived', 'svc.col.served', 'svc.col.errors', 'svc.col.shed', 'svc.col.limited'],
      f.services.map((sv) => [sv.name, sv.arrived, sv.served, sv.errors, sv.shed, sv.limited])));
    const edges = [];
    for (const n of nodes ?? []) for (const e of inspectOf(ctx, n.id)?.edges ?? []) edges.push(e);
    if (edges.length) {
      box.append(h('h4', { text: t('svc.counters.edges') }), table('svc-edges', ['svc.col.edge', 'svc.col.calls', 'svc.col.attempts', 'svc.col.timeouts', 'svc.col.rejected', 'svc.col.fallbacks'],
        edges.map((e) => [e.edge, e.totals?.calls, e.totals?.attempts, e.totals?.timeouts, (e.totals?.rejected_by_breaker ?? 0) + (e.totals?.rejected_by_bulkhead ?? 0), e.totals?.fallbacks])));
    }
  },
};
