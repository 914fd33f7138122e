// What a student does to the cluster: watch an election, cut every link of the leader (the
// majority elects a new one), heal (one leader again), crash and restart a node, cut one way,
// partition with a preset and by hand, and send a client request. Virtual time moves only
// through the page's hook, so every run of this file sees the same cluster.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clickLink, leaders, nodeAction, openPage, playAndTimeFrames, roles, seek, setup, shot, text } from './helpers.mjs';

const linkState = (page, id) => page.locator(`[data-link="${id}"]`).getAttribute('data-state');
const clock = async (page) => Number(await text(page, 'clock'));

test('a leader is elected; cutting its links elects another in the majority; healing leaves one', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=raft-election');
  await seek(page, 800);
  const [leader] = await leaders(page);
  assert.ok(leader, 'a leader by 800 ms');
  assert.equal((await leaders(page)).length, 1);
  await shot(page, '02-leader-elected');

  // Cut every link of the leader, one click each, both ways.
  const others = (await roles(page)).map((n) => n.id).filter((id) => id !== leader.id);
  for (const other of others) {
    const id = [leader.id, other].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1))).join('-');
    await clickLink(page, id);
    assert.equal(await linkState(page, id), 'cut');
  }
  await seek(page, (await clock(page)) + 1500);
  const fresh = (await leaders(page)).filter((n) => n.id !== leader.id);
  assert.equal(fresh.length, 1, 'one new leader among the majority');
  assert.ok(fresh[0].term > leader.term, 'in a later term');
  await shot(page, '03-leader-cut-off');

  await page.locator('[data-action="heal"]').click();
  assert.equal(await page.locator('[data-link][data-state="up"]').count(), await page.locator('[data-link]').count());
  await seek(page, (await clock(page)) + 1000);
  const after = await leaders(page);
  assert.equal(after.length, 1, 'exactly one leader after the heal');
  assert.equal(after[0].term, Math.max(...(await roles(page)).map((n) => n.term)));
  assert.deepEqual(errors, []);
});

test('crashing and restarting a node from its menu', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=raft-election');
  await seek(page, 1000);
  const [leader] = await leaders(page);
  const victim = leader.id === 'n2' ? 'n4' : 'n2';
  await nodeAction(page, victim, 'crash');
  assert.equal(await page.locator(`[data-node="${victim}"]`).getAttribute('data-role'), 'crashed');
  await seek(page, 1300);
  await shot(page, '04-node-crashed');
  assert.equal(await page.locator(`[data-node="${victim}"]`).getAttribute('data-role'), 'crashed');
  await nodeAction(page, victim, 'restart');
  assert.notEqual(await page.locator(`[data-node="${victim}"]`).getAttribute('data-role'), 'crashed');
  await seek(page, 1800);
  const node = (await roles(page)).find((n) => n.id === victim);
  assert.equal(node.role, 'follower');
  assert.equal(node.term, (await leaders(page))[0].term, 'it caught up with the leader’s term');

  // Pause and resume, from the same menu.
  await nodeAction(page, victim, 'pause');
  assert.equal(await page.locator(`[data-node="${victim}"]`).getAttribute('data-role'), 'paused');
  await nodeAction(page, victim, 'resume');
  assert.equal(await page.locator(`[data-node="${victim}"]`).getAttribute('data-role'), 'follower');
  assert.deepEqual(errors, []);
});

test('one-way cuts, the link menu, partition presets and free grouping', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=raft-leader-crash');
  await seek(page, 600);
  await clickLink(page, 'n1-n2', { shift: true, near: 'n1' });
  assert.equal(await linkState(page, 'n1-n2'), 'oneway');
  const links = JSON.parse(await page.evaluate(() => window.caplab.session.pg.links()));
  const l12 = links.find((l) => l.a === 'n1' && l.b === 'n2');
  assert.deepEqual([l12.a_to_b, l12.b_to_a], [false, true], 'shift-click near n1 stops what leaves n1');
  await clickLink(page, 'n1-n2');
  assert.equal(await linkState(page, 'n1-n2'), 'up', 'a click on a broken link restores it');

  await clickLink(page, 'n2-n4', { button: 'right' });
  await page.locator('.menu [data-menu="cut-ba"]').click();
  assert.equal(await linkState(page, 'n2-n4'), 'oneway');

  await page.locator('[data-action="isolate-leader"]').click();
  const [leader] = await leaders(page);
  const cut = await page.$$eval(`[data-link*="${leader.id}"]`, (els) => els.filter((e) => !e.dataset.link.startsWith('c')).map((e) => e.dataset.state));
  assert.deepEqual(new Set(cut), new Set(['cut']));

  await page.locator('[data-action="split"]').click();
  // Five servers: the leader and one other against three.
  const cutLinks = await page.locator('[data-link^="n"][data-state="cut"]').count();
  assert.equal(cutLinks, 2 * 3);
  await seek(page, 1200);
  await shot(page, '05-split');

  await page.locator('[data-action="group"]').click();
  for (const [node, clicks] of [['n1', 1], ['n2', 1], ['c1', 1], ['n3', 2], ['n4', 2], ['n5', 2]]) {
    for (let i = 0; i < clicks; i++) await page.locator(`[data-node="${node}"], [data-client="${node}"]`).click();
  }
  await shot(page, '06-grouping');
  await page.locator('[data-action="group-apply"]').click();
  assert.equal(await linkState(page, 'n1-n2'), 'up');
  assert.equal(await linkState(page, 'n2-n3'), 'cut');
  assert.equal(await linkState(page, 'c1-n1'), 'up');
  assert.equal(await linkState(page, 'c1-n3'), 'cut');
  assert.equal(await linkState(page, 'c2-n3'), 'up', 'a client in no group keeps its links');
  await page.keyboard.press('h');
  assert.equal(await page.locator('[data-link][data-state="up"]').count(), await page.locator('[data-link]').count());
  assert.deepEqual(errors, []);
});

test('a client request from a node’s menu is answered and drawn in the history', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=raft-election');
  await seek(page, 500);
  const [leader] = await leaders(page);
  await page.locator(`[data-node="${leader.id}"]`).click();
  await page.locator('.menu input[name="value"]').fill('42');
  await page.locator('.menu [data-menu="send-request"]').click();
  await seek(page, 700);
  await page.locator('[data-tab="history"]').click();
  assert.equal(await page.locator('.history-svg .op-ok').count(), 1);
  const history = JSON.parse(await page.evaluate(() => window.caplab.session.pg.history()));
  assert.deepEqual([history[0].op, history[0].key, history[0].value, history[0].outcome], ['put', 'x', '42', 'ok']);
  await shot(page, '07-history');
  assert.deepEqual(errors, []);
});

test('a message in flight can be read and dropped', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=raft-election');
  await seek(page, 160);
  const msg = page.locator('#cluster .msg').first();
  const label = await msg.getAttribute('data-label');
  const id = await msg.getAttribute('data-msg');
  await msg.hover();
  assert.match(await page.locator('.tooltip').textContent(), new RegExp(`${label}.*term`));
  await msg.click();
  assert.match(await page.locator('.menu').textContent(), /term/);
  await page.locator('.menu [data-menu="drop"]').click();
  assert.equal(await page.locator(`#cluster .msg[data-msg="${id}"]`).count(), 0);
  const last = await page.evaluate(() => window.caplab.session.events.at(-1));
  assert.deepEqual([last.type, String(last.id), last.reason], ['dropped', id, 'removed']);
  assert.deepEqual(errors, []);
});

test('nine nodes at 10×: elements are updated, never re-created', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=raft-leader-crash&nodes=9');
  await page.locator('#speed').fill('13');
  await page.locator('[data-tab="events"]').click();
  const run = await playAndTimeFrames(page, 2000);
  const result = { ...run, frames: run.times.length, median: run.times[run.times.length >> 1] ?? 0 };
  t.diagnostic(`frames ${result.frames}, median ${result.median.toFixed(1)} ms of script per frame, ${result.advanced.toFixed(0)} virtual ms`);
  // Frame time is measured by `make bench`, not asserted here: a timed test flakes on a busy
  // machine. What must hold whatever the speed of the machine is below.
  assert.ok(result.kept, 'the same node and link elements throughout');
  assert.ok(result.frames >= 2, 'frames keep coming');
  assert.ok(result.advanced > 0, 'virtual time moves while playing');
  assert.deepEqual(errors, []);
});
