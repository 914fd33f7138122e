// Moving through virtual time: one step is exactly one event; seeking back shows exactly what
// was there the first time; acting in the past forks the timeline; the keyboard drives it all.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeAction, openPage, roles, seek, setup, shot, text } from './helpers.mjs';

const snapshot = async (page) => ({
  clock: await text(page, 'clock'),
  hash: await text(page, 'trace-hash'),
  events: await text(page, 'event-count'),
  nodes: await roles(page),
  links: await page.$$eval('[data-link]', (els) => els.map((e) => `${e.dataset.link}:${e.dataset.state}`)),
});

test('Step applies exactly one event', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=raft-election');
  await seek(page, 150);
  await page.locator('[data-tab="events"]').click();
  for (let i = 0; i < 6; i++) {
    const before = Number(await text(page, 'event-count'));
    const next = await page.evaluate(() => window.caplab.session.pg.nextMs());
    await page.locator('[data-action="step"]').click();
    assert.equal(Number(await text(page, 'event-count')), before + 1);
    assert.equal(await text(page, 'clock'), String(Math.floor(next)));
    // The newest row of the event log belongs to that step.
    assert.equal(await page.locator('.event-list li').last().getAttribute('data-step'), String(before + 1));
  }
  // "." is the same as the Step button.
  const before = Number(await text(page, 'event-count'));
  await page.locator('#cluster').click({ position: { x: 5, y: 5 } });
  await page.keyboard.press('.');
  assert.equal(Number(await text(page, 'event-count')), before + 1);
  await shot(page, '08-stepping');
  assert.deepEqual(errors, []);
});

test('seeking back shows exactly the state first seen at that time', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=raft-leader-crash');
  const seen = [];
  for (const ms of [170, 420, 1490, 1650, 2300, 3700]) {
    await page.locator('#time').fill(String(ms));
    seen.push(await snapshot(page));
  }
  assert.ok(seen.some((s) => s.nodes.some((n) => n.role === 'crashed')), 'the leader crash is among them');
  for (const want of [...seen].reverse()) {
    await page.locator('#time').fill(want.clock);
    assert.deepEqual(await snapshot(page), want);
  }
  await shot(page, '09-seek-back');
  assert.deepEqual(errors, []);
});

test('acting after seeking back forks: the later timeline is discarded', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=raft-election');
  await seek(page, 2500);
  const later = await text(page, 'trace-hash');
  await seek(page, 600);
  assert.equal(await page.locator('#past-banner').isVisible(), true);
  assert.equal(await page.locator('#time').getAttribute('max'), '3000');
  await shot(page, '10-in-the-past');
  await nodeAction(page, 'n1', 'crash');
  assert.equal(await page.locator('#past-banner').isVisible(), false);
  await seek(page, 2500);
  assert.notEqual(await text(page, 'trace-hash'), later);
  // Going back and forth over the new timeline replays the crash.
  const fork = await snapshot(page);
  await seek(page, 100);
  await seek(page, 2500);
  assert.deepEqual(await snapshot(page), fork);
  assert.equal(fork.nodes.find((n) => n.id === 'n1').role, 'crashed');
  assert.deepEqual(errors, []);
});

test('keyboard: space plays and pauses, arrows seek, ? opens the help', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=raft-election');
  await page.locator('#cluster').click({ position: { x: 5, y: 5 } });
  await page.keyboard.press(' ');
  assert.equal(await page.evaluate(() => window.caplab.app.playing), true);
  assert.equal(await page.locator('[data-action="play"]').getAttribute('aria-pressed'), 'true');
  await page.keyboard.press(' ');
  assert.equal(await page.evaluate(() => window.caplab.app.playing), false);
  await seek(page, 500);
  await page.keyboard.press('Shift+ArrowRight');
  assert.equal(await text(page, 'clock'), '600');
  await page.keyboard.press('ArrowLeft');
  assert.equal(await text(page, 'clock'), '590');
  await page.keyboard.press('?');
  assert.equal(await page.locator('#help').isVisible(), true);
  await shot(page, '11-help');
  await page.keyboard.press('Escape');
  assert.equal(await page.locator('#help').isVisible(), false);
  assert.deepEqual(errors, []);
});
