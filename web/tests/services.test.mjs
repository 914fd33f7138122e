// The service graph on the page (web/protocols/services.js). Pure parts first: the layered
// layout, the Patterns form sending only what changed, the charts made from figures. Then in
// the browser: the services-breaker tour's breaker opens when the database turns slow and
// closes once it recovers (badge on the edge, breaker timeline, figures); the
// services-retry-storm tour's naive retries multiply the load on the database above the
// users' rate and success falls; the Patterns tab changes a service and a breaker live through
// one recorded `configure` each, and a copied link replays them to the same trace; a bad value
// shows the engine's refusal, keeps the form, and the run goes on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeRun, openPage, replayCopiedLink, seek, setup, shot, text } from './helpers.mjs';
import { chart, layers, layout } from '../protocols/services.js';
import { edgeChange, edgeValues, serviceChange, serviceValues } from '../protocols/services-panel.js';

// The breaker story inline as well: the Patterns tab tests rely on its names and fields.
const BREAKER = {
  format: 1, name: 'services-breaker-inline', title: 'Breaker', protocol: 'services', nodes: 4, clients: 0, seed: 1, duration_ms: 16000,
  network: { latency_ms: [1, 3] },
  params: {
    services: [
      { name: 'users', rate: 40 },
      { name: 'gateway', capacity: 30, queue: 30, service_ms: [1, 3] },
      { name: 'api', capacity: 10, queue: 20, service_ms: [5, 15] },
      { name: 'db', capacity: 8, queue: 16, service_ms: [10, 30] },
    ],
    calls: [
      { from: 'users', to: 'gateway', timeout_ms: 1000 },
      { from: 'gateway', to: 'api', timeout_ms: 500 },
      { from: 'api', to: 'db', timeout_ms: 200, breaker: { sliding_window_size: 20, minimum_number_of_calls: 10, wait_duration_in_open_state_ms: 2000, permitted_number_of_calls_in_half_open_state: 5 }, fallback: 'cache' },
    ],
  },
  timeline: [
    { at_ms: 3000, action: 'configure', params: { services: { db: { service_ms: [400, 600] } } } },
    { at_ms: 9000, action: 'configure', params: { services: { db: { service_ms: [10, 30] } } } },
  ],
};

const t = (k, vars) => (vars ? `${k} ${JSON.stringify(vars)}` : k);

test('layers: a service sits one column right of its furthest caller', () => {
  const services = ['users', 'gateway', 'api', 'auth', 'db'].map((name) => ({ name }));
  const calls = [['users', 'gateway'], ['gateway', 'api'], ['gateway', 'auth'], ['api', 'db'], ['auth', 'api']].map(([from, to]) => ({ from, to }));
  assert.deepEqual(layers(services, calls), [0, 1, 3, 2, 4]);
  // A cycle is drawable too.
  assert.deepEqual(layers(services.slice(0, 2), [{ from: 'users', to: 'gateway' }, { from: 'gateway', to: 'users' }]).length, 2);
  const pos = layout(['n1', 'n2', 'n3', 'n4', 'n5'], { w: 600, h: 400, r: 24, above: 40, below: 40 }, { params: { services, calls } });
  const xs = ['n1', 'n2', 'n4', 'n3', 'n5'].map((id) => pos[id].x);
  assert.deepEqual([...xs].sort((a, b) => a - b), xs, 'left to right by layer');
});

test('the form sends only what changed: a field, a whole pattern, or null to switch it off', () => {
  const edge = { timeout_ms: 200, retry: null, breaker: { state: 'open', failure_rate_threshold: 50, sliding_window_size: 20 }, bulkhead: null, fallback: 'cache' };
  const before = edgeValues(edge);
  assert.deepEqual(edgeChange(before, { ...before }, t), {});
  const now = { ...before, 'breaker.failure_rate_threshold': '40', 'timeout.on': false, fallback: 'none', 'retry.on': true };
  const change = edgeChange(before, now, t);
  assert.equal(change.timeout_ms, null);
  assert.equal(change.fallback, null);
  assert.equal(change.breaker.failure_rate_threshold, 40);
  assert.equal(change.breaker.sliding_window_size, 20, 'the rest of the pattern as it was');
  assert.equal(change.breaker.state, undefined, 'no inspect fields sent');
  assert.deepEqual(change.retry, { max_attempts: 3, wait_duration_ms: 500, multiplier: 1.5, max_wait_duration_ms: 30000, jitter: 'none', budget: null });
  assert.equal('bulkhead' in change, false);
  assert.deepEqual(edgeChange(before, { ...before, 'breaker.on': false }, t), { breaker: null });
  assert.throws(() => edgeChange(before, { ...before, 'breaker.failure_rate_threshold': 'x' }, t), /svc.err.number/);

  const sv = serviceValues({ name: 'db', capacity: 8, queue: 16, service_ms: [10, 30], error_rate: 0, limiter: null, drop_expired: false });
  assert.deepEqual(serviceChange(sv, { ...sv, 'service_ms.hi': '600', 'service_ms.lo': '400' }, t), { service_ms: [400, 600] });
  assert.deepEqual(serviceChange(sv, { ...sv, 'limiter.kind': 'token_bucket' }, t),
    { limiter: { kind: 'token_bucket', per: 'global', capacity: 10, per_second: 5, limit: 10, window_ms: 1000 } });
});

test('charts: success, latency, load per service and a breaker timeline from the figures', () => {
  const f = {
    bucket_ms: 500,
    series: [0, 1, 2, 3].map((i) => ({ t_ms: i * 500, offered: 40, success: 100 - i * 10, p50: 10, p99: 50, load: { gateway: 40, db: 40 + 20 * i } })),
    services: [{ name: 'gateway' }, { name: 'db' }],
    breakers: [{ edge: 'gateway->db', state: 'half_open', transitions: [{ at_ms: 500, from: 'closed', to: 'open' }, { at_ms: 1000, from: 'open', to: 'half_open' }] }],
  };
  const [success, latency, load, breakers] = chart(f, t);
  assert.deepEqual(success.series[0].values, [100, 90, 80, 70]);
  assert.deepEqual(latency.series.map((x) => x.label), ['p50', 'p99']);
  assert.deepEqual(load.series.map((x) => x.values.at(-1)), [40, 40, 100]);
  assert.deepEqual(breakers.rows[0].bands.map((b) => [b.from, b.to, b.state]), [[0, 1, 'closed'], [1, 2, 'open'], [2, 3, 'half_open']]);
});

/** Opens the tour if the build has it, else (or with `name` null) the story inline. */
async function openStory(browser, url, name, inline) {
  const opened = await openPage(browser, url, name ? `?scenario=${name}&tour=0` : '', { viewport: { width: 1280, height: 800 } });
  const has = Boolean(name) && await opened.page.evaluate((n) => window.caplab.app.scenarios.some((sc) => sc.name === n), name);
  if (!has) {
    assert.equal(await opened.page.evaluate((src) => window.caplab.app.load({ inline: src }), JSON.stringify(inline)), true);
    opened.errors.length = 0; // the unknown name in the URL, reported before the inline load
  }
  return { ...opened, tour: has };
}

const figures = (page) => page.evaluate(() => JSON.parse(window.caplab.session.pg.figures()));
const badge = (page, edge) => page.locator(`#cluster [data-edge="${edge}"]`);
const chartAttr = (page, id, attr) => page.locator(`#figure-chart canvas[data-chart="${id}"]`).getAttribute(attr);

/** The first breaker edge of the run and when it opened and closed again. */
async function breakerStory(page) {
  const f = await figures(page);
  assert.ok(f.breakers.length >= 1, 'a breaker in the scenario');
  return f.breakers[0];
}

test('a circuit breaker opens on a slow dependency and closes after it recovers', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors, tour } = await openStory(browser, url, 'services-breaker', BREAKER);
  assert.ok(tour, 'the services-breaker tour is in the build');
  const end = await page.evaluate(() => window.caplab.session.duration);
  await seek(page, end);
  const b = await breakerStory(page);
  const opened = b.transitions.find((x) => x.from === 'closed' && x.to === 'open');
  const closed = b.transitions.find((x) => x.from === 'half_open' && x.to === 'closed' && x.at_ms > opened.at_ms);
  assert.ok(opened && closed, `opens then closes: ${JSON.stringify(b.transitions)}`);
  assert.ok(b.transitions.some((x) => x.to === 'half_open'), 'probes in half-open');

  // On the graph: the edge's badge is red while open, green once closed again.
  await seek(page, opened.at_ms + 50);
  assert.equal(await badge(page, b.edge).getAttribute('data-breaker-state'), 'open');
  assert.match(await badge(page, b.edge).textContent(), /open/);
  await shot(page, 'services-breaker-open');
  await seek(page, closed.at_ms + 50);
  assert.equal(await badge(page, b.edge).getAttribute('data-breaker-state'), 'closed');

  // The timeline beside the graph has a row for the breaker; its last band is closed, and the
  // figures under the charts say the same.
  await seek(page, end);
  assert.equal(await chartAttr(page, 'breakers', 'data-series'), b.edge);
  assert.equal(await chartAttr(page, 'breakers', 'data-last'), 'closed');
  assert.equal(await page.locator(`#figure-chart [data-figure="breaker:${b.edge}"]`).getAttribute('data-value'), 'closed');
  // Every service draws its health, load and queue.
  const nodes = await page.$$eval('#cluster [data-node]', (els) => els.map((e) => ({ s: e.dataset.service, h: e.dataset.health, p: e.dataset.inProgress, q: e.dataset.queued })));
  assert.deepEqual(nodes.map((n) => n.s), ['users', 'gateway', 'api', 'db']);
  assert.ok(nodes.every((n) => ['source', 'ok', 'busy', 'overloaded'].includes(n.h) && /^\d+$/.test(n.p) && /^\d+$/.test(n.q)), JSON.stringify(nodes));
  await shot(page, 'services-breaker-closed');
  assert.deepEqual(errors, []);
});

test('naive retries: the load on the database climbs above the users\' rate and success falls', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors, tour } = await openStory(browser, url, 'services-retry-storm', null);
  assert.ok(tour, 'the services-retry-storm tour is in the build');
  // The database turns slow by the scenario's first configure of a service.
  const slow = await page.evaluate(() => window.caplab.session.scenario.timeline.find((e) => e.action === 'configure' && e.params?.services));
  const db = Object.keys(slow.params.services)[0];
  const slowAt = slow.at_ms;
  await seek(page, slowAt + 3000);
  const f = await figures(page);
  const before = f.series.filter((p) => p.t_ms + f.bucket_ms <= slowAt);
  const during = f.series.filter((p) => p.t_ms >= slowAt + 500);
  const rate = Math.max(...before.map((p) => p.offered));
  const peak = Math.max(...during.map((p) => p.load[db]));
  assert.ok(peak >= 1.5 * rate, `retries amplify the load on ${db}: ${peak}/s against users' ${rate}/s`);
  assert.ok(Math.min(...during.map((p) => p.success ?? 100)) < 50, 'success falls');
  assert.ok(f.success_rate < 90, `overall success ${f.success_rate}`);
  // The load chart shows the same: a line per service beside the users' rate.
  assert.match(await chartAttr(page, 'load', 'data-series'), new RegExp(`\\|${db}$`));
  await shot(page, 'services-retry-storm');
  assert.deepEqual(errors, []);
});

test('the Patterns tab changes a service and a breaker live, and a copied link replays both', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors, context } = await openStory(browser, url, null, BREAKER);
  await seek(page, 2000);
  const p99Before = (await figures(page)).p99_ms;
  await page.locator('[data-tab="protocol"]').click();
  // The database turns slow: one configure, recorded.
  await page.locator('[data-testid="svc-service"]').selectOption('db');
  await page.locator('[data-field="service_ms.lo"]').fill('300');
  await page.locator('[data-field="service_ms.hi"]').fill('500');
  await page.locator('[data-testid="svc-apply"]').click();
  assert.equal(await text(page, 'svc-form-status'), 'Applied.');
  // A stricter breaker on the call to it.
  await page.locator('[data-testid="svc-edge"]').selectOption('api->db');
  const threshold = page.locator('[data-field="breaker.failure_rate_threshold"]');
  assert.equal(await page.locator('[data-field="breaker.on"]').isChecked(), true);
  await threshold.fill('30');
  await page.locator('[data-field="breaker.minimum_number_of_calls"]').fill('5');
  await page.locator('[data-testid="svc-apply"]').click();
  assert.equal(await text(page, 'svc-form-status'), 'Applied.');
  assert.equal(await page.locator('#alert').textContent(), '');
  // Two recorded actions, each with only what changed (an untouched pattern keeps its state).
  const configures = (await page.evaluate(() => window.caplab.session.userActions())).map((a) => a.action).filter((a) => a.action === 'configure');
  assert.deepEqual(configures.map((a) => a.params), [
    { services: { db: { service_ms: [300, 500] } } },
    { calls: { 'api->db': { breaker: {
      failure_rate_threshold: 30, slow_call_rate_threshold: 100, slow_call_duration_threshold_ms: 60000, sliding_window_type: 'count_based',
      sliding_window_size: 20, minimum_number_of_calls: 5, wait_duration_in_open_state_ms: 2000, permitted_number_of_calls_in_half_open_state: 5,
      automatic_transition_from_open_to_half_open_enabled: false,
    } } } },
  ]);
  await seek(page, 4500);
  const f = await figures(page);
  assert.ok(f.p99_ms > p99Before + 100, `the slow database shows in p99: ${p99Before} -> ${f.p99_ms} ms`);
  assert.equal(f.recovery_from_ms !== null, true, 'the change counts as the last configure');
  assert.ok(f.breakers[0].transitions.some((x) => x.to === 'open' && x.at_ms > 2000), 'the new breaker opens');
  assert.match(await page.locator('[data-testid="svc-edges"]').textContent(), /api->db/);
  await shot(page, 'services-patterns-tab');
  const { other, hash } = await replayCopiedLink(page, context, 4500);
  assert.equal(await text(other, 'trace-hash'), hash, 'the link replays both changes');
  assert.deepEqual(errors, []);
});

test('a bad value shows the engine\'s refusal, keeps the form, and the run goes on', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openStory(browser, url, null, BREAKER);
  await seek(page, 2000);
  const hash = await page.evaluate(() => window.caplab.session.pg.traceHash());
  await page.locator('[data-tab="protocol"]').click();
  await page.locator('[data-testid="svc-edge"]').selectOption('api->db');
  await page.locator('[data-field="breaker.failure_rate_threshold"]').fill('500');
  await page.locator('[data-testid="svc-apply"]').click();
  assert.match(await page.locator('#alert').textContent(), /failure_rate_threshold/);
  assert.match(await text(page, 'svc-form-status'), /Refused/);
  assert.equal(await page.locator('[data-field="breaker.failure_rate_threshold"]').inputValue(), '500', 'what was typed is kept');
  assert.equal(await page.evaluate(() => window.caplab.session.pg.traceHash()), hash, 'nothing changed');
  // Not a number: refused by the form before the engine.
  await page.locator('[data-field="breaker.failure_rate_threshold"]').fill('abc');
  await page.locator('[data-testid="svc-apply"]').click();
  assert.match(await text(page, 'svc-form-status'), /must be a number/);
  await shot(page, 'services-bad-value');
  await seek(page, 6000);
  assert.equal(await page.evaluate(() => window.caplab.session.now), 6000, 'the run goes on');
  assert.equal(await badge(page, 'api->db').getAttribute('data-breaker-state'), 'open', 'with the scenario\'s breaker, which opens');
  assert.deepEqual(errors, []);
});

test('the limiters and the fallback are drawn where they act', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors, tour } = await openStory(browser, url, 'services-rate-limit', null);
  assert.ok(tour);
  await seek(page, 3100);
  const limiters = await page.$$eval('#cluster [data-node] [data-limiter]', (els) => els.map((e) => [e.closest('[data-node]').dataset.service, e.dataset.limiter, e.textContent]));
  const byService = Object.fromEntries(limiters.filter(([, kind]) => kind).map(([sv, kind, txt]) => [sv, { kind, txt }]));
  assert.equal(byService['api-token'].kind, 'token_bucket');
  assert.match(byService['api-token'].txt, /^tokens \d+\/20 \+20\/s$/);
  assert.equal(byService['api-leaky'].kind, 'leaky_bucket');
  await shot(page, 'services-rate-limit');
  const deg = await openStory(browser, url, 'services-degradation', null);
  assert.ok(deg.tour);
  await seek(deg.page, 6000);
  const edge = deg.page.locator('#cluster [data-edge="frontpage->recommend"]');
  assert.match(await edge.getAttribute('data-patterns'), /F/);
  assert.ok(['open', 'half_open', 'closed'].includes(await edge.getAttribute('data-breaker-state')));
  assert.equal(await deg.page.locator('#cluster [data-service="recommend"]').getAttribute('data-role'), 'crashed');
  await shot(deg.page, 'services-degradation');
  assert.deepEqual([...errors, ...deg.errors], []);
});

test('the services tours run in the page exactly as the native CLI runs them (trace hash and figures at the end)', async (t) => {
  const { browser, url } = await setup(t);
  for (const name of ['services-cascade', 'services-timeouts', 'services-retry-storm', 'services-backoff', 'services-breaker', 'services-rate-limit', 'services-degradation']) {
    const { page, errors } = await openPage(browser, url, `?scenario=${name}&tour=0`);
    const native = nativeRun(name);
    await seek(page, native.end_ms);
    assert.equal(await page.evaluate(() => window.caplab.session.pg.traceHash()), native.trace_hash, name);
    if (native.figures) assert.equal((await figures(page)).success_rate, native.figures.success_rate, name);
    assert.deepEqual(errors, [], name);
    await page.context().close();
  }
});
