// High availability on the page (web/protocols/ha.js): a primary crashed by a real click on the
// node menu fails over to the backup (the view service names it primary, it serves, the page
// shows the failover time and the availability chart dips and recovers); a copied link replays
// the crash to the same trace; the HA tours run as the native CLI runs them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeRun, nodeAction, openPage, replayCopiedLink, seek, setup, shot, text } from './helpers.mjs';

const nodeData = (page) => page.$$eval('#cluster [data-node]', (els) => Object.fromEntries(els.map((e) => [e.dataset.node, {
  role: e.dataset.role, ha: e.dataset.haRole ?? '', serving: e.dataset.serving ?? '', view: e.dataset.view ?? '',
  pill: e.querySelector('.pill text')?.textContent ?? '',
}])));

const figure = (page, name) => page.locator(`#figure-chart [data-figure="${name}"]`);

test('a primary crashed from the node menu fails over to its backup', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors, context } = await openPage(browser, url, '?scenario=ha-replication-sync&tour=0', { viewport: { width: 1280, height: 800 } });
  await seek(page, 2000);
  let nodes = await nodeData(page);
  const [primary] = Object.entries(nodes).filter(([, n]) => n.ha === 'primary').map(([id]) => id);
  assert.ok(primary, 'one primary before the crash');
  assert.equal(nodes[primary].pill, 'primary');
  assert.equal(nodes[primary].serving, 'true');
  const view = Number(nodes[primary].view);

  await nodeAction(page, primary, 'crash');
  await seek(page, 3200);
  nodes = await nodeData(page);
  assert.equal(nodes[primary].role, 'crashed');
  const next = Object.entries(nodes).filter(([, n]) => n.ha === 'primary' && n.serving === 'true').map(([id]) => id);
  assert.equal(next.length, 1, `one serving primary after the failover: ${JSON.stringify(nodes)}`);
  assert.notEqual(next[0], primary);
  assert.ok(Number(nodes[next[0]].view) > view, 'in a later view');
  assert.equal(nodes[next[0]].pill, 'primary');
  assert.ok(await page.locator(`#cluster [data-node="${next[0]}"] .pill`).isVisible(), 'the new primary wears the pill');
  const failover = Number(await figure(page, 'failover_ms').getAttribute('data-value'));
  assert.ok(failover > 0 && failover < 1200, `failover time ${failover} ms`);
  assert.match(await figure(page, 'failover_ms').textContent(), /\d+ ms/);
  assert.equal(await figure(page, 'acked_lost').getAttribute('data-value'), '0', 'synchronous replication loses no acknowledged write');
  const last = await page.locator('#figure-chart canvas').getAttribute('data-last');
  assert.equal(last, '100', 'availability is back to 100 % in the last half second');
  await shot(page, 'ha-failover');

  // A copied link replays the click's crash to the same trace.
  const { other, hash } = await replayCopiedLink(page, context, 3200);
  assert.equal(await text(other, 'trace-hash'), hash);
  assert.deepEqual(errors, []);
});

test('the HA tours run in the page exactly as the native CLI runs them (trace hash at the end)', async (t) => {
  const { browser, url } = await setup(t);
  for (const name of ['ha-failover', 'ha-replication-async', 'ha-split-brain', 'ha-active-active', 'ha-load-balancer']) {
    const { page, errors } = await openPage(browser, url, `?scenario=${name}&tour=0`);
    const native = nativeRun(name);
    await seek(page, native.end_ms);
    assert.equal(await page.evaluate(() => window.caplab.session.pg.traceHash()), native.trace_hash, name);
    assert.deepEqual(errors, [], name);
  }
});

test('the HA tab switches the same workload between the three modes', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=ha-load-balancer&tour=0', { viewport: { width: 1280, height: 800 } });
  await page.locator('[data-tab="protocol"]').click();
  const mode = page.locator('[data-testid="ha-mode"]');
  assert.equal(await mode.inputValue(), 'load_balanced');
  const dir = mkdtempSync(join(tmpdir(), 'caplab-ha-'));
  for (const [m, roles] of [['active_active', ['active']], ['primary_backup', ['backup', 'primary', 'view_server']]]) {
    await mode.selectOption(m);
    await page.waitForFunction((want) => window.caplab.session.scenario.params.mode === want, m);
    const scenario = await page.evaluate(() => window.caplab.session.scenario);
    assert.equal(scenario.workload.rate, 10, 'the same workload');
    assert.deepEqual(scenario.timeline.map((e) => e.action), ['crash', 'restart'], 'the same faults, no notes');
    await seek(page, 2000);
    const seen = [...new Set(Object.values(await nodeData(page)).map((n) => n.ha))].sort();
    assert.deepEqual(seen, roles, m);
    // The page runs the switched scenario as the native CLI runs the same file.
    const file = join(dir, `${m}.json`);
    writeFileSync(file, JSON.stringify(scenario));
    const native = nativeRun(file);
    await seek(page, native.end_ms);
    assert.equal(await page.evaluate(() => window.caplab.session.pg.traceHash()), native.trace_hash, m);
    assert.equal(await mode.inputValue(), m);
  }
  await shot(page, 'ha-mode-switch');
  assert.deepEqual(errors, []);
});
