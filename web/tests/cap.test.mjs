// The CAP lab (cap.html): a CP store (Raft) and an AP store (NWR, sloppy, W = 1, R = 1) side by
// side under one partition. A split made with the page's own control makes the CP side refuse
// its minority clients while the AP side keeps serving them, and stale reads appear on the AP
// side only; each side's trace equals the native CLI's for that side; a link replays both
// sides, actions on one side included; the timeline jumps to an anomaly; bad links say why.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO, openPage, setup, shot } from './helpers.mjs';

const openLab = (browser, url, query, viewport = { width: 1280, height: 800 }) => openPage(browser, url, query, { viewport, file: 'cap.html' });

const state = (page) => page.evaluate(() => window.caplab.state());
const seekTo = (page, ms) => page.evaluate((t) => window.caplab.seek(t), ms);
const stats = (page, side) => page.locator(`[data-testid="stats-${side}"]`).evaluate((e) => ({ ...e.dataset }));

function nativeSide(side, untilMs) {
  const out = execFileSync(join(REPO, 'target/release/caplab'),
    ['run', 'cap-split', '--side', side, '--until-ms', String(untilMs), '--json'], { encoding: 'utf8' });
  return JSON.parse(out);
}

test('a partition: the CP side refuses its minority clients, the AP side serves them and reads stale', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openLab(browser, url, '?scenario=cap-split&tour=0');
  const first = await state(page);
  assert.deepEqual(first.sides.map((s) => s.protocol), ['raft', 'nwr']);
  await seekTo(page, 1000);
  const before = [await stats(page, 0), await stats(page, 1)];
  assert.match(await page.locator('[data-testid="explain"]').textContent(), /PACELC/);
  assert.equal(before[0].staleReads, '0');
  assert.equal(before[0].minorityAvailability, '', 'no partition yet, so no minority');
  // The page's own control, on both sides at the same instant.
  await page.click('[data-action="cap-split"]');
  // Before any minority operation has ended, neither side is said to choose anything yet.
  await seekTo(page, 1010);
  assert.match(await page.locator('[data-testid="explain"]').textContent(), /CP: Raft key-value store: no operation of a minority-side client has ended/);
  await seekTo(page, 1900);
  const [cp, ap] = [await stats(page, 0), await stats(page, 1)];
  assert.ok(Number(cp.minorityAvailability) < 20, `CP minority availability ${cp.minorityAvailability}`);
  assert.ok(Number(cp.majorityAvailability) > 90, `CP majority availability ${cp.majorityAvailability}`);
  assert.ok(Number(ap.minorityAvailability) > 90, `AP minority availability ${ap.minorityAvailability}`);
  assert.equal(cp.staleReads, '0', 'the CP side never reads stale');
  assert.equal(cp.linearizable, 'true');
  assert.ok(Number(ap.staleReads) > Number(before[1].staleReads), `AP stale reads ${before[1].staleReads} → ${ap.staleReads}`);
  assert.equal(ap.linearizable, 'false');
  // The charts and the explanation say the same.
  assert.equal(await page.locator('[data-side="0"] [data-chart]').count(), 4);
  assert.match(await page.locator('[data-testid="explain"]').textContent(), /CAP: the network has been partitioned since 1000 ms/);
  assert.equal(await page.locator('[data-testid="timeline-1"] [data-anomaly="stale"]').count() > 0, true);
  assert.equal(await page.locator('[data-testid="timeline-0"] [data-anomaly]').count(), 0);
  await shot(page, 'cap-partition');
  assert.deepEqual(errors, []);
});

test('each side runs exactly as the native CLI runs that side', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openLab(browser, url, '?scenario=cap-split&tour=0');
  await seekTo(page, 6500);
  const st = await state(page);
  for (const [i, side] of ['cp', 'ap'].entries()) {
    const native = nativeSide(side, 6500);
    assert.equal(st.sides[i].hash, native.trace_hash, `${side} trace hash`);
    assert.equal(st.sides[i].stats.stale, native.stale_reads, `${side} stale reads`);
    assert.equal(st.sides[i].stats.linearizable, native.linearizable, `${side} verdict`);
    // The page's own availability: ok among the operations that ended, as the CLI counts it.
    assert.ok(Math.abs(st.sides[i].stats.availability - 100 * native.availability) < 1e-9, `${side} availability`);
  }
  // After the heal at 6000 ms: each side settled again when caplab run says it did.
  await seekTo(page, 8000);
  const text = await page.locator('[data-testid="explain"]').textContent();
  for (const side of ['cp', 'ap']) {
    const { converged_ms: ms } = nativeSide(side, 8000);
    assert.ok(ms > 0, `${side} converges`);
    assert.ok(text.includes(`settled again ${ms} ms after the heal`), `${side}: ${ms} ms in “${text}”`);
  }
  assert.deepEqual(errors, []);
});

test('a link replays both sides, an action on one side included', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openLab(browser, url, '?scenario=cap-split&tour=0');
  await seekTo(page, 800);
  await page.click('[data-action="cap-cut-clients"]');
  await seekTo(page, 1200.5);
  // Raise W on the AP side only, with its live setting.
  await page.selectOption('[data-setting="w"][data-side="1"]', '3');
  await seekTo(page, 2500);
  const applied = await page.evaluate(() => window.caplab.lab.userActions());
  assert.equal(applied.length, 2);
  assert.equal(applied[1][2], 1, 'the configure action belongs to side 1 only');
  const link = await page.evaluate(() => window.caplab.shareLink());
  assert.match(link, /cap\.html\?run=/);
  const before = await state(page);
  const other = await openLab(browser, url, link.slice(link.indexOf('?')));
  const after = await state(other.page);
  assert.equal(after.now, before.now);
  assert.deepEqual(after.sides.map((s) => s.hash), before.sides.map((s) => s.hash));
  assert.equal(await other.page.locator('[data-setting="w"][data-side="1"]').inputValue(), '3');
  // Raft has no live settings: refused with a message, and nothing changes.
  const hashes = after.sides.map((s) => s.hash);
  const ok = await other.page.evaluate(() => window.caplab.act({ action: 'configure', params: { w: 2 } }, 0));
  assert.equal(ok, false);
  assert.match(await other.page.locator('[data-testid="alert"]').textContent(), /raft/i);
  assert.deepEqual((await state(other.page)).sides.map((s) => s.hash), hashes);
  assert.deepEqual(errors, []);
  assert.deepEqual(other.errors, []);
});

test('clicking an anomaly in the timeline moves both sides to its moment', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openLab(browser, url, '?scenario=cap-split&tour=0&t=5000');
  const mark = page.locator('[data-testid="timeline-1"] [data-anomaly="stale"]').first();
  const at = Number(await mark.getAttribute('data-at'));
  const index = await mark.getAttribute('data-op');
  await mark.click();
  const st = await state(page);
  assert.equal(st.now, at);
  assert.deepEqual(st.sides.map((x) => x.steps > 0), [true, true]);
  // Both sides are at that moment, and the operation clicked is still marked there.
  const other = await page.evaluate(() => window.caplab.lab.views.map((v) => v.session.now));
  assert.deepEqual(other, [at, at]);
  const clicked = page.locator(`[data-testid="timeline-1"] [data-op="${index}"]`);
  assert.equal(await clicked.getAttribute('data-anomaly'), 'stale', 'a stale read is known as such when it returns');
  assert.match(await clicked.getAttribute('class'), /selected/);
  assert.deepEqual(errors, []);
});

test('bad links say what was wrong and open the default comparison', async (t) => {
  const { browser, url } = await setup(t);
  for (const [query, pattern] of [
    ['?scenario=raft-election', /does not compare two systems/],
    ['?scenario=no-such-thing', /does not compare two systems/],
    ['?run=AQAAAAAA', /cut short|altered|cannot be unpacked/],
    ['?scenario=cap-split&bogus=1', /parameters CAPlab does not know/],
  ]) {
    const { page, errors, context } = await openLab(browser, url, query);
    assert.match(await page.locator('[data-testid="alert"]').textContent(), pattern, query);
    assert.equal((await state(page)).scenario, 'cap-split');
    assert.deepEqual(errors, [], query);
    await context.close();
  }
});

test('the lab in Chinese and in the dark theme', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openLab(browser, url, '?scenario=cap-split&tour=0&lang=zh&t=3000', { width: 1600, height: 1000 });
  await page.click('[data-action="theme"]');
  assert.match(await page.locator('[data-testid="explain"]').textContent(), /CAP：网络从/);
  await shot(page, 'cap-zh-dark');
  assert.deepEqual(errors, []);
});

test('the playground sends a comparison to the lab, and says so when a link opens one there', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=cap-split');
  assert.match(await page.locator('[data-testid="status"]').textContent(), /compares two systems.*cap\.html\?scenario=cap-split/);
  await page.selectOption('[data-testid="scenario-select"]', 'cap-siblings');
  await page.waitForURL(/cap\.html\?scenario=cap-siblings/);
  await page.waitForFunction(() => window.caplab?.ready === true);
  assert.equal((await state(page)).scenario, 'cap-siblings');
  assert.deepEqual((await state(page)).sides.map((s) => s.name), ['vector', 'lww']);
  assert.deepEqual(errors, []);
});
