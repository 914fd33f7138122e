// Leases on the page (web/protocols/lease.js): a holder paused past its lease writes after its
// successor; without fencing the storage accepts it (two writers: the invariants fencing_order
// and single_writer fail, the Lease tab marks the stale write), with fencing it rejects it
// (the storage shows the rejection, every invariant holds).
// Then: the lease tours, Raft's lease read and HA's tours run in the page exactly as the native
// CLI runs them (trace hash at the end).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeRun, openPage, seek, setup, shot } from './helpers.mjs';

const nodeData = (page) => page.$$eval('#cluster [data-node]', (els) => Object.fromEntries(els.map((e) => [e.dataset.node, {
  role: e.dataset.role, token: e.dataset.token ?? '', holder: e.dataset.holder ?? '', highest: e.dataset.highest ?? '', rejected: e.dataset.rejected ?? '',
}])));

const violated = (page) => page.evaluate(() => JSON.parse(window.caplab.session.pg.invariants()).filter((v) => !v.ok).map((v) => v.name).sort());

for (const [scenario, fencing] of [['lease-paused-holder', false], ['lease-fencing', true]]) {
  test(`${scenario}: the paused holder's late write is ${fencing ? 'rejected' : 'accepted'}`, async (t) => {
    const { browser, url } = await setup(t);
    const { page, errors } = await openPage(browser, url, `?scenario=${scenario}`, { viewport: { width: 1280, height: 800 } });
    await seek(page, 2500);
    let nodes = await nodeData(page);
    assert.equal(nodes.n3.role, 'paused');
    assert.equal(nodes.n1.holder, 'n4', 'the grantor gave the lease to n4 while n3 slept');
    assert.equal(nodes.n4.token, '2');
    await page.locator('[data-tab="protocol"]').click();
    await seek(page, 3600);
    nodes = await nodeData(page);
    assert.equal(nodes.n3.token, '', 'n3 no longer believes it holds the lease');
    assert.equal(nodes.n2.highest, '2');
    const panel = page.locator('[data-overlap-ms]');
    assert.equal(await panel.getAttribute('data-overlap-ms'), '0', 'lease exclusivity held: no overlap of beliefs');
    if (fencing) {
      assert.equal(nodes.n2.rejected, '1');
      assert.equal(await panel.getAttribute('data-stale'), '0');
      assert.equal(await page.locator('[data-write="rejected"]').count(), 1);
    } else {
      assert.equal(nodes.n2.rejected, '0');
      assert.equal(await panel.getAttribute('data-stale'), '1');
      assert.equal(await page.locator('[data-write="stale"]').count(), 1);
      assert.match(await page.locator('.lease-warning').first().textContent(), /accepted 1 write/);
    }
    assert.deepEqual(await violated(page), fencing ? [] : ['fencing_order', 'single_writer']);
    await shot(page, `lease-${fencing ? 'fencing' : 'paused'}`);
    assert.deepEqual(errors, []);
  });
}

test('leases and leader leases run in the page exactly as the native CLI runs them (trace hash at the end)', async (t) => {
  const { browser, url } = await setup(t);
  for (const name of ['lease-renewal', 'lease-fencing', 'lease-drift', 'raft-lease-read', 'raft-lease-stale']) {
    const { page, errors } = await openPage(browser, url, `?scenario=${name}&tour=0`);
    const native = nativeRun(name);
    await seek(page, native.end_ms);
    assert.equal(await page.evaluate(() => window.caplab.session.pg.traceHash()), native.trace_hash, name);
    assert.deepEqual(errors, [], name);
  }
});
