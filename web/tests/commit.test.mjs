// The atomic-commitment protocols on the page (web/protocols/commit.js): 2PC's block, where
// participants that voted yes hold their locks, unable to decide, for as long as the
// coordinator is down (the "blocked" time grows, a read of a locked key is refused); 3PC's
// split under a partition, shown as the lesson (a red "not atomic" row, the invariant broken)
// while the page keeps working; a transaction sent from a client's menu.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeRun, openPage, seek, setup, shot } from './helpers.mjs';

/** Each node's data-* hooks: role, transactions (txn:state:decision;...), locks, blocked ms. */
const nodeData = (page) => page.$$eval('#cluster [data-node]', (els) => Object.fromEntries(els.map((e) => [e.dataset.node, {
  role: e.dataset.role, txns: e.dataset.txns ?? '', locks: e.dataset.locks ?? '', blocked: Number(e.dataset.blockedMs ?? 0),
  badge: e.querySelector('.commit-badge')?.textContent ?? '',
}])));

/** The Transactions panel: {txn: {atomic, decided, cells: {node: {state, decision}}}}. */
const matrix = (page) => page.$$eval('[data-testid="commit-matrix"] tr[data-txn]', (rows) => Object.fromEntries(rows.map((r) => [r.dataset.txn, {
  atomic: r.dataset.atomic, decided: r.dataset.decided, split: r.classList.contains('split'), text: r.textContent,
  cells: Object.fromEntries([...r.querySelectorAll('td[data-node]')].map((td) => [td.dataset.node, { state: td.dataset.state, decision: td.dataset.decision }])),
}])));

test('2PC: the coordinator crashes after the votes; the participants block with their locks until it restarts', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=twopc-coordinator-crash', { viewport: { width: 1280, height: 800 } });
  await seek(page, 3000);
  let nodes = await nodeData(page);
  assert.equal(nodes.n1.role, 'crashed');
  for (const [id, key] of [['n2', 'x'], ['n3', 'y']]) {
    assert.match(nodes[id].txns, /c1\.1:[a-z]+:undecided/, `${id} is undecided: ${nodes[id].txns}`);
    assert.equal(nodes[id].locks, key, `${id} holds ${key} locked`);
    assert.ok(nodes[id].blocked > 2500 && nodes[id].blocked < 3000, `${id} blocked ${nodes[id].blocked} ms at 3 s`);
    assert.match(nodes[id].badge, /blocked 2\.\d s/);
  }
  assert.equal(nodes.n4.txns, '', 'z is not in the transaction: n4 takes no part');
  await page.locator('[data-tab="protocol"]').click();
  await seek(page, 5000);
  nodes = await nodeData(page);
  assert.ok(nodes.n2.blocked > 4500, `the blocked time grows: ${nodes.n2.blocked} ms at 5 s`);
  assert.match(nodes.n2.badge, /blocked 4\.\d s/);
  let m = await matrix(page);
  assert.equal(m['c1.1'].decided, 'false');
  assert.equal(m['c1.1'].atomic, 'true');
  assert.equal(m['c1.1'].cells.n2.decision, '');
  assert.match(m['c1.1'].text, /4\.\d s/, 'the row shows the block');
  // c2's read of x at 2 s was refused: x is locked.
  const history = JSON.parse(await page.evaluate(() => window.caplab.session.pg.history()));
  const read = history.find((e) => e.client === 'c2' && e.op === 'get');
  assert.equal(read.outcome, 'fail');
  await shot(page, 'commit-1-2pc-blocked');

  await seek(page, 6600);
  nodes = await nodeData(page);
  for (const id of ['n2', 'n3']) {
    assert.match(nodes[id].txns, /c1\.1:[a-z]+:abort/, `${id} learned the outcome: ${nodes[id].txns}`);
    assert.equal(nodes[id].locks, '', `${id} released its lock`);
    assert.equal(nodes[id].badge, '', `${id} is no longer blocked`);
  }
  m = await matrix(page);
  assert.equal(m['c1.1'].decided, 'true');
  assert.equal(await page.locator('[data-invariant][data-ok="false"]').count(), 0, 'no invariant broken: 2PC blocks but never disagrees');
  await shot(page, 'commit-2-2pc-after-restart');
  assert.deepEqual(errors, []);
});

test('3PC: a partition splits a pre-committed participant from uncertain ones; one side commits, the other aborts', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=threepc-partition', { viewport: { width: 1280, height: 800 } });
  await page.locator('[data-tab="protocol"]').click();
  await seek(page, 1600);
  const m = await matrix(page);
  const row = m['c1.1'];
  assert.equal(row.atomic, 'false');
  assert.ok(row.split, 'the row is marked');
  assert.equal(await page.locator('tr[data-txn="c1.1"] [data-outcome]').getAttribute('data-outcome'), 'split');
  assert.equal(await page.locator('[data-split="c1.1"]').textContent(),
    'c1.1 is NOT atomic: committed on n2, aborted on n3, n4. The invariant Atomic Commitment is broken.');
  assert.equal(row.cells.n2.decision, 'commit');
  assert.equal(row.cells.n3.decision, 'abort');
  assert.equal(row.cells.n4.decision, 'abort');
  const nodes = await nodeData(page);
  assert.match(nodes.n2.txns, /c1\.1:[a-z]+:commit/);
  assert.match(nodes.n3.txns, /c1\.1:[a-z]+:abort/);
  assert.equal(await page.locator('[data-invariant="Atomic Commitment"]').getAttribute('data-ok'), 'false');
  await shot(page, 'commit-3-3pc-split');
  // The lesson is shown, not a crash: the run goes on to its end.
  await seek(page, 3000);
  assert.equal(await page.evaluate(() => window.caplab.session.now), 3000);
  assert.deepEqual(errors, []);
});

test('a transaction sent from a client’s menu commits on every participant', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=twopc-happy');
  await seek(page, 100);
  await page.locator('[data-client="c2"]').click();
  const op = page.locator('.menu select[name="op"]');
  assert.deepEqual(await op.locator('option').allTextContents(), ['txn', 'get']);
  await op.selectOption('txn');
  assert.equal(await page.locator('.menu input[name="key"]').inputValue(), 'x,y,z');
  await page.locator('.menu input[name="key"]').fill('y,z');
  await page.locator('.menu [data-menu="send-request"]').click();
  const start = await page.evaluate(() => window.caplab.session.now);
  await seek(page, start + 600);
  const history = JSON.parse(await page.evaluate(() => window.caplab.session.pg.history()));
  const txn = history.find((e) => e.client === 'c2' && e.op === 'txn');
  assert.ok(txn, 'the transaction is in the history');
  assert.equal(txn.key, 'y+z');
  assert.deepEqual(txn.writes.map((w) => w.key), ['y', 'z']);
  assert.equal(txn.outcome, 'ok');
  const nodes = await nodeData(page);
  for (const id of ['n3', 'n4']) assert.match(nodes[id].txns, /c2\.\d+:[a-z]+:commit/, `${id}: ${nodes[id].txns}`);
  await page.locator('[data-tab="events"]').click();
  assert.match(await page.locator('[data-testid="event-log"]').textContent(), /txn y=\d+ z=\d+/);
  assert.deepEqual(errors, []);
});

test('the CAP lab sets 2PC’s locks beside a saga: refused reads on one side, reads of undone values on the other', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=commit-locks-vs-saga', { viewport: { width: 1280, height: 900 }, file: 'cap.html' });
  await page.evaluate(() => window.caplab.seek(3500));
  await page.waitForFunction(() => document.querySelector('[data-testid="stats-1"]')?.dataset.dirtyReads !== undefined);
  const stats = (i) => page.locator(`[data-testid="stats-${i}"]`).evaluate((e) => ({ ...e.dataset }));
  const [locks, saga] = [await stats(0), await stats(1)];
  // The same figures as `caplab run commit-locks-vs-saga --side ...`: 2 reads refused and a
  // linearizable history with 2PC; 12 reads of compensated values (stale reads) with the saga.
  assert.equal(locks.refusedReads, '2');
  assert.equal(locks.dirtyReads, '0');
  assert.equal(locks.linearizable, 'true');
  assert.equal(saga.refusedReads, '0');
  assert.equal(saga.dirtyReads, '12');
  assert.equal(saga.staleReads, '12');
  assert.equal(saga.linearizable, 'false');
  const explained = await page.locator('[data-explain]').evaluateAll((els) => els.map((e) => e.dataset.explain));
  assert.deepEqual(explained, ['cap.explainCommit', 'cap.explainLocked', 'cap.explainDirty']);
  await shot(page, 'commit-4-locks-vs-saga');
  assert.deepEqual(errors, []);
});

test('each commit protocol runs in the page exactly as the native CLI runs it (trace hash at the end)', async (t) => {
  const { browser, url } = await setup(t);
  for (const name of ['twopc-coordinator-crash', 'threepc-partition', 'saga-no-isolation']) {
    const native = nativeRun(name);
    const { page, errors, context } = await openPage(browser, url, `?scenario=${name}&tour=0`);
    await seek(page, native.end_ms);
    assert.equal(await page.evaluate(() => window.caplab.session.pg.traceHash()), native.trace_hash, name);
    assert.deepEqual(errors, [], name);
    await context.close();
  }
});
