// The panels and the guard rails: invariants turn red on the unsafe Figure 8 and point to
// the first violation; the event log filters; the inspector shows a node's Raft state; bad
// input (unknown scenario, bad seed, a refused action) says what is wrong in role="alert" and
// leaves the run as it was; the cluster resizes from 3 to 9 nodes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage, seek, setup, shot, text } from './helpers.mjs';

test('invariants go red on the unsafe Figure 8 and a click jumps to the first violation', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=raft-figure8-unsafe');
  assert.equal(await page.locator('#invariants').getAttribute('data-state'), 'ok');
  await seek(page, 3500);
  assert.equal(await page.locator('#invariants').getAttribute('data-state'), 'violated');
  const broken = await page.$$eval('[data-invariant][data-ok="false"]', (els) => els.map((e) => e.dataset.invariant).sort());
  assert.deepEqual(broken, ['Leader Completeness', 'State Machine Safety']);
  assert.match(await text(page, 'invariant-badge'), /2/);
  await page.locator('[data-tab="protocol"]').click();
  await shot(page, '12-figure8-violated');
  const jumps = page.locator('[data-testid="violation-jump"]');
  const atUs = Math.min(...(await jumps.evaluateAll((els) => els.map((e) => Number(e.dataset.at)))));
  const first = jumps.and(page.locator(`[data-at="${atUs}"]`));
  await first.click();
  assert.equal(await text(page, 'clock'), String(Math.floor(atUs / 1000)));
  assert.equal(await page.locator('#invariants').getAttribute('data-state'), 'violated', 'violated from that moment on');
  // Just before it, everything still held.
  await seek(page, atUs / 1000 - 1);
  assert.equal(await page.locator('#invariants').getAttribute('data-state'), 'ok');
  assert.deepEqual(errors, []);
});

test('the event log filters by node and kind; the inspector shows Raft state', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=raft-leader-crash');
  await seek(page, 1600);
  await page.locator('[data-tab="events"]').click();
  assert.ok(await page.locator('.event-list li').count() > 50);
  await page.locator('[data-filter="node"]').selectOption('n2');
  const texts = await page.locator('.event-list li .ev-text').allTextContents();
  assert.ok(texts.length > 0 && texts.every((s) => s.includes('n2')), 'every row concerns n2');
  await page.locator('[data-filter="kind"]').selectOption('roles');
  const roleRows = await page.locator('.event-list li .ev-text').allTextContents();
  assert.ok(roleRows.length > 0 && roleRows.every((s) => s.includes('becomes')));
  await page.locator('[data-filter="node"]').selectOption('');
  await page.locator('[data-filter="kind"]').selectOption('faults');
  assert.match((await page.locator('.event-list li .ev-text').allTextContents()).join('\n'), /crash n3/, 'the leader n3 crashes at 1500 ms');
  await shot(page, '13-event-log');

  await page.locator('[data-node="n3"]').click();
  await page.locator('.menu [data-menu="inspect"]').click();
  assert.match(await text(page, 'inspector'), /Crashed/);
  await seek(page, 1000);
  const inspector = await text(page, 'inspector');
  for (const word of ['commit index', 'nextIndex', 'matchIndex', 'heartbeat', 'Log (']) assert.ok(inspector.includes(word), word);
  await shot(page, '14-inspector');
  assert.deepEqual(errors, []);
});

test('bad input is explained in role="alert" and the run goes on', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=no-such-thing&seed=12x');
  const alert = page.getByRole('alert');
  assert.match(await alert.textContent(), /no-such-thing/);
  assert.equal(await text(page, 'scenario-title'), 'Raft: the first election', 'the default scenario runs instead');
  await seek(page, 700);
  assert.equal(await page.locator('[data-role="leader"]').count(), 1);

  const before = await text(page, 'trace-hash');
  const ok = await page.evaluate(() => window.caplab.act({ action: 'crash', node: 'n7' }));
  assert.equal(ok, false);
  assert.match(await alert.textContent(), /n7 does not exist/);
  assert.equal(await text(page, 'trace-hash'), before, 'nothing changed');

  await page.locator('#seed-input').fill('-3');
  await page.locator('#seed-input').press('Enter');
  assert.match(await alert.textContent(), /-3/);
  assert.equal(await page.locator('#seed-input').inputValue(), '1');
  assert.equal(await text(page, 'trace-hash'), before, 'still the same run');
  await shot(page, '15-bad-input');
  // Isolating "the leader" while none leads is refused by the simulator, and the page says why.
  await page.goto(`${url}/index.html?scenario=raft-election`);
  await page.waitForFunction(() => window.caplab?.ready === true);
  await page.locator('[data-action="isolate-leader"]').click();
  assert.match(await alert.textContent(), /no node leads right now/);
  const unexpected = errors.filter((e) => !/favicon/.test(e));
  assert.deepEqual(unexpected, []);
});

test('cluster size from 3 to 9; timeline actions naming removed nodes are left out', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=raft-election');
  await page.locator('#nodes-select').selectOption('9');
  assert.equal(await page.locator('[data-node]').count(), 9);
  assert.equal(await page.locator('[data-link]').count(), 36 + 9);
  assert.match(page.url(), /nodes=9/);
  await seek(page, 1200);
  assert.equal(await page.locator('[data-role="leader"]').count(), 1);
  await shot(page, '16-nine-nodes');

  await page.locator('#scenario-select').selectOption('raft-leader-isolated');
  await page.locator('#nodes-select').selectOption('3');
  assert.equal(await page.locator('[data-node]').count(), 3);
  assert.match(await text(page, 'status'), /left out/);
  assert.match(await text(page, 'status'), /n4|n5/);
  await seek(page, 4000);
  assert.ok(await page.locator('[data-role="leader"]').count() >= 1);
  // The size survives a reload.
  await page.reload();
  await page.waitForFunction(() => window.caplab?.ready === true);
  assert.equal(await page.locator('[data-node]').count(), 3);
  assert.deepEqual(errors, []);
});
