// Guided tours, the scenario library, and embed mode with its postMessage API, as a student, a
// teacher and a course page use them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage, seek, setup, shot, text } from './helpers.mjs';

const state = (page) => page.evaluate(() => window.caplab.app.publicState());
const tourSteps = (page) => page.evaluate(() => window.caplab.app.tour.steps.map((s) => ({ at: s.atMs, pause: s.pause })));

test('a tour steps forwards and really back in time, pauses only where asked, and lets go', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=raft-leader-crash');
  const tour = page.locator('[data-testid="tour"]');
  assert.ok(await tour.isVisible(), 'a tour scenario opens as a tour');
  const steps = await tourSteps(page);
  assert.ok(steps.length >= 5);
  assert.equal(await text(page, 'tour-progress'), `Step 1 of ${steps.length}`);

  await page.locator('[data-action="tour-next"]').click();
  await page.locator('[data-action="tour-next"]').click();
  assert.equal((await state(page)).now, steps[2].at);
  assert.equal(await text(page, 'tour-progress'), `Step 3 of ${steps.length}`);
  const third = { note: await text(page, 'note'), hash: (await state(page)).hash };
  await page.locator('[data-action="tour-next"]').click();
  assert.notEqual(await text(page, 'note'), third.note);
  await shot(page, 'tour-step');
  await page.locator('[data-action="tour-prev"]').click();
  const back = await state(page);
  assert.equal(back.now, steps[2].at, 'Previous goes back in time');
  assert.equal(back.hash, third.hash, 'to exactly the state first seen there');
  assert.equal(await text(page, 'note'), third.note);

  // Play stops at the next step that asks to pause, exactly at its moment, and nowhere else.
  const nextPause = steps.find((s, i) => i > 2 && s.pause);
  await page.evaluate(() => window.caplab.app.transport.setSpeed(13, false));
  await page.locator('[data-action="play"]').click();
  await page.waitForFunction(() => !window.caplab.app.playing, null, { timeout: 20000 });
  assert.equal((await state(page)).now, nextPause.at);
  assert.match(await text(page, 'status'), /tour stops here/);

  // Play freely: the tour goes, the state stays, and Play runs through the later pauses.
  const before = await state(page);
  await page.locator('[data-action="tour-free"]').click();
  assert.ok(!(await tour.isVisible()));
  assert.equal((await state(page)).hash, before.hash, 'leaving the tour keeps the state');
  await page.locator('[data-action="play"]').click();
  const lastPause = steps.filter((s) => s.pause).at(-1);
  await page.waitForFunction((ms) => window.caplab.app.session.now > ms, lastPause.at, { timeout: 20000 });
  await page.locator('[data-action="pause"]').click();
  // And the tour can be taken again from where the student is.
  await page.locator('[data-action="tour-start"]').click();
  assert.ok(await tour.isVisible());
  assert.deepEqual(errors, []);
});

test('the library lists every scenario by topic and loads one by name', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=raft-leader-isolated');
  assert.equal(await text(page, 'scenario-title'), 'Raft: a leader cut off in a minority');
  await page.locator('[data-action="library"]').click();
  const cards = page.locator('[data-testid="library"] [data-scenario]');
  const names = await cards.evaluateAll((els) => els.map((e) => e.dataset.scenario));
  const all = await page.evaluate(() => JSON.parse(window.caplab.app.scenarios.length ? JSON.stringify(window.caplab.app.scenarios.map((s) => s.name)) : '[]'));
  assert.deepEqual([...names].sort(), [...all].sort(), 'every scenario has a card');
  assert.ok(all.length >= 7);
  // In teaching order (the scenarios' `order`), not the alphabet's.
  const raft = names.filter((n) => n.startsWith('raft-'));
  assert.deepEqual(raft.slice(0, 3), ['raft-election', 'raft-leader-crash', 'raft-leader-isolated']);
  assert.ok(names.indexOf('raft-figure8') < names.indexOf('raft-figure8-unsafe'));
  assert.match(await page.locator('[data-scenario="raft-split-vote"]').textContent(), /tour · \d+ steps/);
  await shot(page, 'library');
  await page.locator('[data-scenario="raft-split-vote"]').click();
  assert.ok(await page.locator('#library').isHidden());
  assert.match(page.url(), /scenario=raft-split-vote/);
  assert.match(await text(page, 'scenario-title'), /split vote/i);
  assert.deepEqual(errors, []);
});

test('embed options: no chrome, minimal controls, autoplay, speed, start time, read-only', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=raft-election&tour=0&embed=1&controls=minimal&autoplay=1&speed=10&t=500&readonly=1', { viewport: { width: 640, height: 420 } });
  assert.ok(await page.locator('.topbar').isHidden(), 'no top bar');
  assert.ok(await page.locator('.side').isHidden(), 'minimal: no side panels');
  assert.ok(await page.locator('[data-action="play"]').isVisible());
  assert.ok(await page.locator('.speed').isHidden());
  assert.equal(await text(page, 'speed-label'), '10×');
  assert.ok((await state(page)).now >= 500, 'starts at t');
  // Autoplay from t = 500: time moves on by itself (a tour would stop at its first pause).
  await page.waitForFunction(() => window.caplab.app.session.now > 600, null, { timeout: 10000 });
  // Read-only: a click on a node inspects it but opens no menu, and actions are refused.
  await page.locator('[data-action="pause"]').click();
  await page.locator('[data-node="n1"]').click();
  assert.ok(await page.locator('.menu').isHidden());
  const hash = (await state(page)).hash;
  assert.equal(await page.evaluate(() => window.caplab.act({ action: 'heal' })), false);
  assert.equal((await state(page)).hash, hash);
  // The body fits its frame: nothing scrolls.
  assert.ok(await page.evaluate(() => document.documentElement.scrollHeight <= window.innerHeight + 1));
  await shot(page, 'embed-minimal');

  // The Embed button of the full page gives an iframe snippet for the current run.
  const full = (await openPage(browser, url, '?scenario=raft-leader-crash&seed=4')).page;
  await seek(full, 1000);
  await full.locator('[data-action="embed"]').click();
  await full.locator('#embed-controls').selectOption('none');
  await full.locator('#embed-readonly').check();
  const snippet = await full.locator('[data-testid="embed-snippet"]').inputValue();
  assert.match(snippet, /^<iframe src="[^"]*scenario=raft-leader-crash&amp;seed=4&amp;t=1000&amp;embed=1&amp;controls=none&amp;readonly=1"/);
  assert.deepEqual(errors, []);
});

test('the example course page loads two playgrounds and drives one through postMessage', async (t) => {
  const { browser, url } = await setup(t);
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`${url}/examples/course.html`);
  const frames = ['#left', '#right'].map((id) => page.frameLocator(id));
  for (const f of frames) await f.locator('body[data-ready="true"]').waitFor();
  await page.waitForFunction(() => window.received?.some((m) => m.event === 'ready'));
  assert.ok(await frames[0].locator('.topbar').isHidden(), 'embedded without chrome');
  assert.ok(await frames[1].locator('.transport').isHidden(), 'controls=none');

  await page.locator('[data-cmd="seek"][data-t="2000"]').click();
  await page.waitForFunction(() => window.received.some((m) => m.event === 'state' && m.now === 2000));
  const right = page.frames().find((f) => f.url().includes('raft-leader-crash'));
  assert.equal(await right.evaluate(() => window.caplab.app.session.now), 2000);
  const leaders = await page.evaluate(() => window.received.filter((m) => m.event === 'leader'));
  assert.ok(leaders.length >= 2, 'a leader elected, then another after the crash');
  assert.match(await page.locator('[data-testid="remote-log"]').textContent(), /leader elected: n\d \(term 2\)/);

  await page.locator('[data-cmd="play"]').click();
  await page.waitForFunction(() => window.received.some((m) => m.event === 'state' && m.playing));
  await page.locator('[data-cmd="pause"]').click();
  await page.locator('#scenario').selectOption('raft-split-vote');
  await page.locator('[data-cmd="load"]').click();
  await page.waitForFunction(() => window.received.some((m) => m.event === 'loaded' && m.scenario === 'raft-split-vote'));
  assert.match(await frames[1].locator('[data-testid="scenario-title"]').textContent(), /split vote/i);
  // A command that makes no sense gets an error back, and nothing breaks.
  await page.evaluate(() => document.getElementById('right').contentWindow.postMessage({ type: 'caplab', cmd: 'seek', t: -5 }, '*'));
  await page.waitForFunction(() => window.received.some((m) => m.event === 'error' && /seek needs t/.test(m.message)));
  await page.screenshot({ path: new URL('./output/embed-course.png', import.meta.url).pathname });
  assert.deepEqual(errors, []);
});
