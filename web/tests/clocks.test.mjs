// Each node's own clock on the page: the node menu makes a clock run fast, steps it and pauses
// a node for 3 s like a GC stop; the clock shows above the node; a copied link replays it all
// to the same trace hash.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage, replayCopiedLink, seek, setup, shot, text } from './helpers.mjs';

const clocks = (page) => page.$$eval('#cluster [data-node]', (els) => Object.fromEntries(els.map((e) => {
  const c = e.querySelector('.clock');
  return [e.dataset.node, { role: e.dataset.role, reading: c?.dataset.clock ?? '', drift: c?.dataset.drift ?? '', text: c?.textContent ?? '' }];
})));

async function menu(page, node, item) {
  await page.locator(`#cluster [data-node="${node}"]`).click();
  await page.locator(`[data-menu="${item}"]`).click();
}

test('the node menu sets a clock running fast, steps it, and pauses a node like a GC stop', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors, context } = await openPage(browser, url, '?scenario=raft-election&seed=3&tour=0');
  await seek(page, 1000);
  let c = await clocks(page);
  assert.equal(c.n2.text, '', 'a true clock is not shown');
  // n2 runs 50 % fast from 1 s on.
  await page.locator('#cluster [data-node="n2"]').click();
  await page.locator('[data-menu="clock-drift"]').selectOption('50');
  // n3's clock jumps half a second ahead.
  await menu(page, 'n3', 'clock-ahead');
  // n4 stops for 3 s.
  await menu(page, 'n4', 'gc-pause');
  await seek(page, 2000);
  c = await clocks(page);
  assert.equal(c.n2.reading, '2500', 'n2 read 1000 ms at 1 s and ran 1.5 ms a ms since');
  assert.equal(c.n2.drift, '0.5');
  assert.match(c.n2.text, /clock 2\.50 s · \+50 %/);
  assert.equal(c.n3.reading, '2500', 'n3 reads true time + 0.5 s');
  assert.equal(c.n4.role, 'paused');
  await shot(page, 'clocks');
  await seek(page, 4000.5);
  c = await clocks(page);
  assert.notEqual(c.n4.role, 'paused', 'the pause ended by itself after 3 s');

  // A copied link replays the clock actions and the timed pause to the same trace.
  const { other, hash } = await replayCopiedLink(page, context, 4000.5);
  assert.equal(await text(other, 'trace-hash'), hash);
  assert.deepEqual(await clocks(other), c);
  assert.deepEqual(errors, []);
});
