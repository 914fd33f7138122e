// Epidemic protocols on the page, drawn on the canvas of a large cluster (js/swarm.js): a rumor
// spreading to every one of 200 nodes with the measured curve beside the theory's, the same run
// as the native CLI's; a node crashed by a click on its dot and SWIM detecting it, the news
// reaching every live node; and the CAP lab's three gossip styles side by side.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeRun, openPage, seek, setup, shot } from './helpers.mjs';

const counts = async (page, sel = '#swarm') => JSON.parse((await page.locator(sel).getAttribute('data-counts')) ?? '{}');
const figures = (page) => page.evaluate(() => JSON.parse(window.caplab.session.pg.figures()));

test('Gossip: a rumor spreads to all 200 nodes, drawn on the canvas, with the measured curve beside the theory', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=gossip-push&tour=0', { viewport: { width: 1440, height: 900 } });
  assert.equal(await page.locator('#cluster').isHidden(), true, 'no SVG for 200 nodes');
  assert.equal(await page.locator('#swarm').getAttribute('data-nodes'), '200');
  await seek(page, 1);
  let c = await counts(page);
  assert.equal(c['0'], 199, `one node knows the rumor at the start: ${JSON.stringify(c)}`);
  const f0 = await figures(page);
  // Halfway through the theory's rounds some but not all know it.
  await seek(page, f0.created_ms + f0.period_ms * 5 + 1);
  c = await counts(page);
  assert.ok(c['0'] > 0 && c['0'] < 199, `part of the cluster is informed after 5 rounds: ${JSON.stringify(c)}`);
  const duration = await page.evaluate(() => window.caplab.session.duration);
  await seek(page, duration);
  c = await counts(page);
  assert.equal(c['0'] ?? 0, 0, `every node is informed at the end: ${JSON.stringify(c)}`);
  const f = await figures(page);
  assert.equal(f.informed, 200);
  assert.ok(Number.isFinite(f.rounds_to_all), 'the rounds until all are measured');
  assert.ok(Math.abs(f.rounds_to_all - f.theory.rounds) < 6, `${f.rounds_to_all} rounds against the theory's ${f.theory.rounds}`);
  // The chart shows this run's curve ending at 200 beside the theory's.
  const chart = page.locator('#figure-chart canvas');
  assert.match(await chart.getAttribute('data-series'), /this run/);
  assert.match(await chart.getAttribute('data-last'), /\|200$/);
  assert.match(await page.locator('[data-testid="figure-readout"]').textContent(), /round/i);
  // The same run as the native simulator's.
  const native = nativeRun('gossip-push');
  assert.equal(await page.evaluate(() => window.caplab.session.pg.traceHash()), native.trace_hash);
  assert.equal(await page.locator('[data-testid="invariants"]').getAttribute('data-state'), 'ok');
  await shot(page, 'gossip-push');
  assert.deepEqual(errors, []);
});

test('SWIM: a node crashed with a click on its dot is suspected, then declared dead by every live node', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=swim-large&tour=0', { viewport: { width: 1440, height: 900 } });
  const n = Number(await page.locator('#swarm').getAttribute('data-nodes'));
  assert.ok(n > 64, `${n} nodes: drawn on the canvas`);
  await seek(page, 500);
  // Pick the node the scenario does not crash itself: the last one.
  const target = `n${n}`;
  const at = await page.evaluate((i) => {
    const v = window.caplab.app.swarm;
    const box = document.querySelector('#swarm').getBoundingClientRect();
    return { x: box.left + v.xs[i], y: box.top + v.ys[i] };
  }, n - 1);
  await page.mouse.click(at.x, at.y);
  await page.locator('[data-menu="crash"]').click();
  const crashedAt = await page.evaluate(() => window.caplab.session.now);
  let c = await counts(page);
  assert.ok((c['3'] ?? 0) >= 1, `the crashed node is not yet noticed: ${JSON.stringify(c)}`);
  assert.equal(await page.locator('.inspector-title').textContent().then((s) => s.includes(target)), true, 'the click selected it in the inspector');
  // Within a few protocol periods someone suspects it; after the suspicion timeout every live
  // node has it dead.
  const detection = async () => (await figures(page)).detections.find((d) => d.node === target);
  let found = null;
  for (let ms = crashedAt + 200; ms <= crashedAt + 20000 && (found?.all_dead_ms ?? null) === null; ms += 500) {
    await seek(page, ms);
    found = await detection();
  }
  assert.ok(found, 'the crash is listed among the detections');
  assert.ok(found.first_suspect_ms !== null && found.first_dead_ms !== null && found.all_dead_ms !== null, JSON.stringify(found));
  assert.ok(found.first_suspect_ms <= found.first_dead_ms && found.first_dead_ms <= found.all_dead_ms, JSON.stringify(found));
  c = await counts(page);
  assert.ok((c['6'] ?? 0) >= 1, `some crashed node is dead for every live node: ${JSON.stringify(c)}`);
  const f = await figures(page);
  assert.equal(f.false_dead, 0, 'no live node declared dead');
  assert.equal(await page.locator('[data-testid="invariants"]').getAttribute('data-state'), 'ok');
  await shot(page, 'swim-detected');
  assert.deepEqual(errors, []);
});

test('CAP lab: push, pull and push-pull on 500 nodes side by side, push-pull informing everyone first', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=gossip-compare&tour=0', { viewport: { width: 1440, height: 1000 }, file: 'cap.html' });
  const sides = await page.locator('.cap-side:not([hidden]) .swarm').count();
  assert.equal(sides, 3, 'three canvases');
  assert.equal(await page.locator('#explain').isHidden(), true, 'no CAP explanation for gossip');
  const all = await page.evaluate(async () => {
    const lab = window.caplab;
    const out = [];
    for (let ms = 200; ms <= 6000; ms += 200) {
      lab.seek(ms);
      out.push(lab.lab.views.slice(0, 3).map((v) => JSON.parse(v.session.pg.figures()).informed));
    }
    return out;
  });
  const firstFull = [0, 1, 2].map((side) => all.findIndex((row) => row[side] === 500));
  assert.ok(firstFull.every((i) => i >= 0), `every side informs all 500 nodes by 6 s: ${JSON.stringify(firstFull)}`);
  assert.ok(firstFull[2] <= firstFull[0] && firstFull[2] <= firstFull[1], `push-pull is first: ${JSON.stringify(firstFull)}`);
  await page.waitForTimeout(200); // a frame draws the canvases at the last time
  const side2 = await counts(page, '[data-testid="side-2"] .swarm');
  assert.equal(side2['0'] ?? 0, 0);
  await shot(page, 'gossip-compare');
  assert.deepEqual(errors, []);
});
