// The page loads cleanly, and a run in the browser is the run of the native CLI: the same
// trace hash at the scenario's end, and the same hash again after a reload with the same seed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeRun, openPage, seek, setup, shot, text } from './helpers.mjs';

test('the page loads with no console error, and shows the scenario and its controls', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url);
  assert.equal(await text(page, 'scenario-title'), 'Raft: the first election');
  assert.equal(await page.locator('[data-node]').count(), 5);
  assert.equal(await page.locator('[data-link]').count(), 10 + 5);
  for (const action of ['play', 'pause', 'step', 'heal']) assert.equal(await page.locator(`[data-action="${action}"]`).count(), 1);
  assert.equal(await text(page, 'clock'), '0');
  assert.match(await text(page, 'trace-hash'), /^[0-9a-f]{16}$/);
  await shot(page, '01-start');
  assert.deepEqual(errors, []);
});

test('at the scenario’s end the trace hash equals the native CLI’s', async (t) => {
  const { browser, url } = await setup(t);
  // By the time slider, as a person would drag it to the end.
  const { page, errors } = await openPage(browser, url, '?scenario=raft-election');
  const native = nativeRun('raft-election');
  await page.locator('#time').fill(String(native.end_ms));
  assert.equal(await text(page, 'clock'), String(native.end_ms));
  assert.equal(await text(page, 'trace-hash'), native.trace_hash);
  assert.equal(await page.locator('[data-role="leader"]').count(), 1);

  // By Play at full speed: the page stops by itself exactly at the end of the script.
  await page.goto(`${url}/index.html?scenario=raft-leader-isolated&tour=0`); // a tour would stop at its pauses
  await page.waitForFunction(() => window.caplab?.ready === true);
  const isolated = nativeRun('raft-leader-isolated');
  await page.locator('#speed').fill('13');
  await page.locator('[data-action="play"]').click();
  await page.waitForFunction(() => !window.caplab.app.playing, null, { timeout: 20000 });
  assert.equal(await text(page, 'clock'), String(isolated.end_ms));
  assert.equal(await text(page, 'trace-hash'), isolated.trace_hash);
  assert.deepEqual(errors, []);
});

test('the same seed gives the same trace hash after a reload', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=raft-leader-crash&seed=42');
  await seek(page, 2500);
  const first = await text(page, 'trace-hash');
  await page.reload();
  await page.waitForFunction(() => window.caplab?.ready === true);
  assert.equal(await page.locator('#seed-input').inputValue(), '42');
  await seek(page, 2500);
  assert.equal(await text(page, 'trace-hash'), first);

  // A new seed is a different run, and the URL carries it, so a reload repeats it.
  await page.locator('[data-action="new-seed"]').click();
  const seed = await page.locator('#seed-input').inputValue();
  assert.notEqual(seed, '42');
  assert.match(page.url(), new RegExp(`seed=${seed}`));
  await seek(page, 2500);
  const other = await text(page, 'trace-hash');
  assert.notEqual(other, first);
  await page.reload();
  await page.waitForFunction(() => window.caplab?.ready === true);
  await seek(page, 2500);
  assert.equal(await text(page, 'trace-hash'), other);

  // Typing a seed restarts with it.
  await page.locator('#seed-input').fill('42');
  await page.locator('#seed-input').press('Enter');
  await seek(page, 2500);
  assert.equal(await text(page, 'trace-hash'), first);
  assert.deepEqual(errors, []);
});
