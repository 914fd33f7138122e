// Consensus beyond Raft on the page (web/protocols/paxos.js, multipaxos.js, zab.js): a Paxos
// race in which the second proposer must adopt the first value; ZAB's recovery, where a
// committed proposal survives the leader's crash and a proposal only the old leader had is
// discarded (TRUNC) when it rejoins; Multi-Paxos filling a hole with a no-op; and each
// protocol's tour running in the page exactly as in the native CLI.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeRun, openPage, seek, setup, shot } from './helpers.mjs';

const nodeData = (page) => page.$$eval('#cluster [data-node]', (els) => Object.fromEntries(els.map((e) => [e.dataset.node, { ...e.dataset }])));
const history = (page) => page.evaluate(() => JSON.parse(window.caplab.session.pg.history()));
const actions = (page) => page.evaluate(() => JSON.parse(window.caplab.session.pg.actions()));

test('Paxos: two proposers race for x; the second adopts the first value and every node learns it', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=paxos-race&tour=0', { viewport: { width: 1440, height: 900 } });
  await page.locator('[data-tab="protocol"]').click();
  // The key moment: n5 has its promises and has adopted n1's value for its own higher ballot.
  await seek(page, 142);
  let nodes = await nodeData(page);
  assert.equal(nodes.n5.role, 'proposer');
  assert.match(nodes.n5.phase, /^x:accept/, `n5 is in phase 2: ${nodes.n5.phase}`);
  const n5 = page.locator('[data-testid="paxos-table"] tr[data-node="n5"][data-key="x"]');
  assert.equal(await n5.getAttribute('data-adopted'), '1.n1', 'n5 proposes the value of ballot 1.n1');
  const accepted = await n5.getAttribute('data-accepted-value');
  assert.match(await page.locator('#cluster [data-node="n5"]').textContent(), /adopted the value of 1\.n1/);
  await shot(page, 'paxos-race');
  await seek(page, 800);
  nodes = await nodeData(page);
  const learned = new Set(Object.values(nodes).map((n) => n.learned));
  assert.deepEqual([...learned], [`x=${accepted}`], 'every node learned the one value n5 carried forward');
  assert.equal(await page.locator('[data-testid="paxos-table"] h4[data-key="x"]').getAttribute('data-chosen'), accepted);
  // c1's value won, c2's was refused with certainty.
  const ops = (await history(page)).filter((e) => e.op === 'put');
  assert.deepEqual(ops.map((e) => [e.client, e.value === accepted, e.outcome]), [['c1', true, 'ok'], ['c2', false, 'fail']]);
  assert.equal(await page.locator('[data-testid="invariants"]').getAttribute('data-state'), 'ok');
  assert.deepEqual(errors, []);
});

test('ZAB: a committed proposal survives the leader crash; a proposal only the old leader had is discarded when it rejoins', async (t) => {
  const { browser, url } = await setup(t);
  // A leader commits and tells only some followers, then crashes: the new leader has it.
  const one = await openPage(browser, url, '?scenario=zab-commit-crash&tour=0', { viewport: { width: 1440, height: 900 } });
  const crashAt = await one.page.evaluate(() => window.caplab.session.scenario.timeline.find((e) => e.action === 'crash').at_ms);
  await seek(one.page, crashAt - 1);
  let nodes = await nodeData(one.page);
  // The timeline crashes "the leader": the one leading just before.
  const crash = { node: Object.entries(nodes).find(([, n]) => n.role === 'leader')[0] };
  const committedBefore = nodes[crash.node].committed;
  assert.match(committedBefore, /^1\.\d+$/, `the old leader had committed ${committedBefore}`);
  await seek(one.page, 2800);
  nodes = await nodeData(one.page);
  const leader = Object.entries(nodes).find(([, n]) => n.role === 'leader');
  assert.ok(leader, 'a new leader is established');
  assert.notEqual(leader[0], crash.node);
  await one.page.locator('[data-tab="protocol"]').click();
  const cells = await one.page.$$eval(`[data-testid="zab-histories"] [data-zxid="${committedBefore}"]`, (els) => els.map((e) => [e.dataset.node, e.dataset.state]));
  assert.equal(cells.length, 5);
  assert.ok(cells.every(([, s]) => s === 'committed'), `${committedBefore} is committed everywhere: ${JSON.stringify(cells)}`);
  assert.deepEqual(one.errors, []);

  // A leader's proposal that no follower received: discarded with TRUNC when it comes back.
  const { page, errors } = await openPage(browser, url, '?scenario=zab-discard&tour=0', { viewport: { width: 1440, height: 900 } });
  await page.locator('[data-tab="protocol"]').click();
  await seek(page, 2800);
  const old = (await actions(page)).find((a) => a.action === 'crash').node;
  nodes = await nodeData(page);
  assert.equal(nodes[old].role, 'follower', 'the old leader rejoined as a follower');
  assert.equal(nodes[old].sync, 'TRUNC');
  const discarded = await page.$$eval('[data-testid="zab-histories"] [data-state="discarded"]', (els) => els.map((e) => [e.dataset.node, e.dataset.zxid]));
  assert.equal(discarded.length, 1, JSON.stringify(discarded));
  const [[node, zxid]] = discarded;
  assert.equal(node, old);
  const others = await page.$$eval(`[data-testid="zab-histories"] [data-zxid="${zxid}"]`, (els) => els.map((e) => e.dataset.state));
  assert.deepEqual(others.sort(), ['absent', 'absent', 'absent', 'absent', 'discarded'], `${zxid} was only ever on ${old}`);
  assert.match(await page.locator(`#cluster [data-node="${old}"]`).textContent(), /TRUNC: dropped/);
  // Everyone agrees on the rest, and the history is linearizable: nothing that was discarded
  // was ever acknowledged to a client.
  const zxids = new Set(Object.values(nodes).map((n) => n.committed));
  assert.equal(zxids.size, 1, `one committed prefix: ${[...zxids]}`);
  await shot(page, 'zab-discard');
  assert.deepEqual(errors, []);
});

test('Multi-Paxos: the new leader recovers the slots in progress and fills the hole with a no-op', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=multipaxos-leader-change&tour=0', { viewport: { width: 1440, height: 900 } });
  await page.locator('[data-tab="protocol"]').click();
  await seek(page, 1000);
  const noops = await page.$$eval('[data-testid="mp-slots"] [data-noop="true"]', (els) => els.map((e) => [e.dataset.node, e.dataset.slot, e.dataset.state]));
  assert.ok(noops.length >= 4, `the no-op is in the slot on every running node: ${JSON.stringify(noops)}`);
  assert.equal(new Set(noops.map(([, slot]) => slot)).size, 1, 'in one slot');
  assert.ok(noops.every(([, , state]) => state === 'chosen'));
  const nodes = await nodeData(page);
  assert.equal(Object.values(nodes).filter((n) => n.role === 'leader').length, 1);
  await shot(page, 'multipaxos-leader-change');
  assert.deepEqual(errors, []);
});

test('each consensus protocol runs in the page exactly as the native CLI runs it (trace hash at the end)', async (t) => {
  const { browser, url } = await setup(t);
  for (const name of ['paxos-acceptor-crash', 'multipaxos-partition', 'zab-propose-crash']) {
    const { page, errors } = await openPage(browser, url, `?scenario=${name}&tour=0`);
    const native = nativeRun(name);
    await seek(page, native.end_ms);
    assert.equal(await page.evaluate(() => window.caplab.session.pg.traceHash()), native.trace_hash, name);
    assert.deepEqual(errors, [], name);
  }
});
