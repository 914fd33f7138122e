// The consensus comparison in the CAP lab (consensus-compare): Raft, Multi-Paxos and ZAB in
// three columns under the same seed and faults. Each side's leader crashes at 2 s: the page
// counts the time without a leader while it lasts, and afterwards shows the same figures as
// the native CLI (time without a leader, messages per committed write, write latency, trace
// hash). The page's own "Crash the leader" and "Restart crashed nodes" act on each side's own
// nodes, and a link with those actions replays all three sides.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO, openPage, setup, shot } from './helpers.mjs';

const openLab = (browser, url, query, viewport = { width: 1440, height: 900 }) => openPage(browser, url, query, { viewport, file: 'cap.html' });
const state = (page) => page.evaluate(() => window.caplab.state());
const seekTo = (page, ms) => page.evaluate((t) => window.caplab.seek(t), ms);
const stats = (page, side) => page.locator(`[data-testid="stats-${side}"]`).evaluate((e) => ({ ...e.dataset }));

function nativeSide(side, untilMs) {
  const out = execFileSync(join(REPO, 'target/release/caplab'),
    ['run', 'consensus-compare', '--side', side, '--until-ms', String(untilMs), '--json'], { encoding: 'utf8' });
  return JSON.parse(out);
}

const SIDES = ['raft', 'multipaxos', 'zab'];

test('three protocols lose their leader at the same instant; the page counts and reports what the CLI does', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openLab(browser, url, '?scenario=consensus-compare&tour=0');
  const first = await state(page);
  assert.deepEqual(first.sides.map((s) => s.protocol), SIDES);
  assert.equal(await page.locator('[data-testid="side-2"]').isVisible(), true);
  assert.equal(await page.locator('[data-action="cap-crash-leader"]').isVisible(), true);
  // 100 ms after the crash, no side can have elected anyone yet (the shortest timeout is 150 ms).
  await seekTo(page, 2100);
  for (const i of [0, 1, 2]) {
    const s = await stats(page, i);
    assert.equal(Number(s.leaderlessNow), 100, `side ${i} has been without a leader for 100 ms: ${JSON.stringify(s)}`);
  }
  assert.match(await page.locator('[data-testid="explain"]').textContent(), /no leader since n\d crashed, 100 ms so far/);
  await shot(page, 'compare-leaderless');
  await seekTo(page, 5000);
  const st = await state(page);
  for (const [i, side] of SIDES.entries()) {
    const native = nativeSide(side, 5000);
    const c = native.consensus;
    const s = await stats(page, i);
    assert.equal(st.sides[i].hash, native.trace_hash, `${side} trace hash`);
    assert.equal(s.leaderlessNow, '', `${side} has a leader again`);
    assert.equal(s.leaderlessMs, c.leaderless_after_crash_ms.toFixed(1), `${side} time without a leader`);
    assert.equal(s.messagesPerWrite, c.messages_per_write.toFixed(1), `${side} messages per write`);
    assert.equal(s.writeP50, c.write_latency_ms.p50.toFixed(1), `${side} write p50`);
    assert.ok(c.leaderless_after_crash_ms >= 150, `${side}: no leader can be elected before a timeout runs out`);
  }
  assert.match(await page.locator('[data-testid="explain"]').textContent(), /without a leader after n\d crashed/);
  await shot(page, 'compare-end');
  assert.deepEqual(errors, []);
});

test('the page crashes each side’s own leader and restarts each side’s own nodes; a link replays it', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openLab(browser, url, '?scenario=consensus-compare&tour=0');
  await seekTo(page, 1000);
  await page.click('[data-action="cap-crash-leader"]');
  const crashed = async (p) => p.evaluate(() => window.caplab.lab.sessions.map((s) => JSON.parse(s.pg.nodes()).filter((n) => n.role === 'crashed').map((n) => n.id)));
  const down = await crashed(page);
  assert.ok(down.every((list) => list.length === 1), `one node down per side: ${JSON.stringify(down)}`);
  await seekTo(page, 1500);
  await page.click('[data-action="cap-restart"]');
  assert.deepEqual(await crashed(page), [[], [], []]);
  // Recorded as each side resolved it: the crash names each side's leader, the restarts each
  // side's own node (one action for all sides where they agree, one per side where not).
  const applied = await page.evaluate(() => window.caplab.lab.userActions());
  const perSide = [0, 1, 2].map((i) => applied.filter((a) => a.length === 2 || a[2] === i).map((a) => `${a[1].action} ${a[1].node}`));
  perSide.forEach((list, i) => assert.deepEqual(list, [`crash ${down[i][0]}`, `restart ${down[i][0]}`], `side ${i}`));
  await seekTo(page, 2500);
  const link = await page.evaluate(() => window.caplab.shareLink());
  const before = await state(page);
  const other = await openLab(browser, url, link.slice(link.indexOf('?')));
  const after = await state(other.page);
  assert.equal(after.now, before.now);
  assert.deepEqual(after.sides.map((s) => s.hash), before.sides.map((s) => s.hash));
  assert.deepEqual(errors, []);
  assert.deepEqual(other.errors, []);
});
