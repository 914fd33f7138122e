// Share links, scenario files and bad links: a copied link replays the same run (same trace
// hash, same clock) in a fresh page; an exported file gives the same trace hash in the native
// CLI and loads back into the page; a corrupted, truncated, oversized or hand-edited link shows
// what was wrong in role="alert" and loads the default scenario, without a page error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, copyLink, openPage, seek, setup, shot, text } from './helpers.mjs';

const DEFAULT_TITLE = 'Raft: the first election';

const state = (page) => page.evaluate(() => window.caplab.app.publicState());

/** A run with the usual things a student does: a crash, a partition, a request, a message
 * dropped after stepping to a moment between two whole milliseconds, a restart. */
async function aTypicalRun(page) {
  await seek(page, 400);
  await page.evaluate(() => window.caplab.act({ action: 'crash', node: 'leader' }));
  await seek(page, 900);
  await page.evaluate(() => window.caplab.act({ action: 'partition', groups: [['n1', 'n2'], ['n3', 'n4', 'n5']] }));
  await seek(page, 1300);
  await page.evaluate(() => window.caplab.act({ action: 'request', client: 'c1', op: 'put', key: 'x', value: '7' }));
  // Step until a message is on the wire, then drop it: a user action at a fractional time.
  const dropped = await page.evaluate(() => {
    const app = window.caplab.app;
    for (let i = 0; i < 200; i++) {
      app.step();
      const wire = JSON.parse(app.session.pg.inFlight());
      if (wire.length && app.session.now !== Math.round(app.session.now)) {
        app.dropMessage(wire[0].id);
        return { id: wire[0].id, at: app.session.now };
      }
    }
    return null;
  });
  assert.ok(dropped, 'a message to drop');
  await seek(page, 1800);
  await page.evaluate(() => window.caplab.act({ action: 'heal' }));
  const crashed = await page.evaluate(() => JSON.parse(window.caplab.app.session.pg.nodes()).find((n) => n.role === 'crashed')?.id);
  await page.evaluate((node) => window.caplab.act({ action: 'restart', node }), crashed);
  await seek(page, 2345.5);
  return dropped;
}

test('a copied link opened in a new page gives the same trace hash and clock', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors, context } = await openPage(browser, url, '?scenario=raft-election&seed=42');
  const dropped = await aTypicalRun(page);
  assert.notEqual(dropped.at, Math.round(dropped.at), 'the drop happened between two whole milliseconds');
  const link = await copyLink(page);
  const here = await state(page);
  assert.equal(here.now, 2345.5);
  assert.match(link, /\?run=[A-Za-z0-9_-]+/);
  assert.ok(link.length < 600, `a short link for six actions: ${link.length} characters`);
  await shot(page, 'share-dialog');

  const other = await context.newPage();
  await other.goto(link);
  await other.waitForFunction(() => window.caplab?.ready === true);
  const there = await state(other);
  assert.equal(there.hash, here.hash, 'same trace hash');
  assert.equal(there.now, here.now, 'same virtual time');
  assert.equal(there.steps, here.steps);
  assert.equal(await text(other, 'clock'), await text(page, 'clock'));
  assert.equal(await text(other, 'trace-hash'), here.hash);
  assert.equal(await text(other, 'alert'), '', 'no error');
  // The replayed actions are the user's on the new page too: copying again gives the same link.
  assert.equal(await copyLink(other), link);

  // The address bar carries the run up to the last action: a reload restores it.
  await page.waitForFunction(() => location.search.startsWith('?run='));
  await page.reload();
  await page.waitForFunction(() => window.caplab?.ready === true);
  assert.equal((await state(page)).now, 1800, 'the time of the last action');
  await seek(page, 2345.5);
  assert.equal((await state(page)).hash, here.hash, 'same run after a reload');

  // After Step the clock can stand inside an instant (events still due at that time, here the
  // partition and the note at 1000 ms): the link first runs the rest of it, so what it names
  // is what the page shows.
  const { page: stepper } = await openPage(browser, url, '?scenario=raft-leader-isolated&seed=1');
  await seek(stepper, 999.9);
  const mid = await stepper.evaluate(() => {
    const app = window.caplab.app;
    for (let i = 0; i < 500; i++) {
      app.step();
      if (app.session.pg.nextMs() === app.session.now) return app.session.now;
    }
    return null;
  });
  assert.equal(mid, 1000, 'stopped inside the instant at 1000 ms');
  const midLink = await copyLink(stepper);
  const mine = await state(stepper);
  const replay = await context.newPage();
  await replay.goto(midLink);
  await replay.waitForFunction(() => window.caplab?.ready === true);
  assert.deepEqual([(await state(replay)).hash, (await state(replay)).steps], [mine.hash, mine.steps]);

  // Without actions the link is the plain, readable form.
  const plain = (await openPage(browser, url, '?scenario=raft-leader-crash&seed=3')).page;
  await seek(plain, 1200);
  const plainLink = await copyLink(plain);
  assert.match(plainLink, /\?scenario=raft-leader-crash&seed=3&t=1200(&|$)/);
  assert.deepEqual(errors, []);
});

test('an exported file gives the same trace hash in caplab run, and loads back', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=raft-leader-isolated&seed=7');
  await aTypicalRun(page);
  const here = await state(page);
  const download = page.waitForEvent('download');
  await page.locator('[data-action="file-menu"]').click();
  await page.locator('.menu [data-menu="export"]').click();
  const file = join(mkdtempSync(join(tmpdir(), 'caplab-')), (await download).suggestedFilename());
  await (await download).saveAs(file);
  const exported = JSON.parse(readFileSync(file, 'utf8'));
  assert.equal(exported.seed, 7);
  assert.ok(exported.timeline.some((e) => e.action === 'drop'), 'the dropped message is a timeline entry');
  assert.match(await text(page, 'status'), /--until-ms 2345.5/);

  const native = JSON.parse(execFileSync(join(REPO, 'target/release/caplab'), ['run', file, '--until-ms', String(here.now), '--json'], { encoding: 'utf8' }));
  assert.equal(native.trace_hash, here.hash, 'caplab run reproduces the page’s trace');

  // Loading the file: the run starts from it, and the same time gives the same hash.
  await page.locator('#file-input').setInputFiles(file);
  await page.waitForFunction(() => /Loaded/.test(document.getElementById('status').textContent));
  await seek(page, here.now);
  assert.equal((await state(page)).hash, here.hash);
  // Dropping the file on the page loads it the same way.
  await page.evaluate((json) => {
    const dt = new DataTransfer();
    dt.items.add(new File([json], 'dropped.json', { type: 'application/json' }));
    document.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, readFileSync(file, 'utf8'));
  await page.waitForFunction(() => /dropped\.json/.test(document.getElementById('status').textContent));
  await seek(page, here.now);
  assert.equal((await state(page)).hash, here.hash);
  // A link to an imported scenario carries it inline, and replays too.
  const link = await copyLink(page);
  await page.keyboard.press('Escape');
  const { page: other } = await openPage(browser, url, link.slice(link.indexOf('?')));
  assert.equal((await state(other)).hash, here.hash);

  // Exported after the script's end: the clients stop at the original end there too.
  await seek(page, 5600);
  await page.evaluate(() => window.caplab.act({ action: 'heal' }));
  await seek(page, 6500);
  const late = await state(page);
  const lateDownload = page.waitForEvent('download');
  await page.locator('[data-action="file-menu"]').click();
  await page.locator('.menu [data-menu="export"]').click();
  const lateFile = `${file}.late.json`;
  await (await lateDownload).saveAs(lateFile);
  const lateNative = JSON.parse(execFileSync(join(REPO, 'target/release/caplab'), ['run', lateFile, '--until-ms', '6500', '--json'], { encoding: 'utf8' }));
  assert.equal(lateNative.trace_hash, late.hash, 'an export past the end replays too');

  // A resized imported scenario keeps what was imported.
  await page.locator('#nodes-select').selectOption('7');
  assert.ok(await page.evaluate(() => window.caplab.app.inline), 'still the imported scenario');
  assert.equal(await page.evaluate(() => window.caplab.app.session.scenario.seed), 7);
  assert.equal(await page.locator('[data-node]').count(), 7);
  // The editor takes a scenario, not a name.
  await page.locator('[data-action="file-menu"]').click();
  await page.locator('.menu [data-menu="edit"]').click();
  await page.locator('#editor-text').fill('raft-split-vote');
  await page.locator('[data-action="edit-apply"]').click();
  assert.match(await page.locator('#editor-error').textContent(), /JSON object/);
  await page.keyboard.press('Escape');
  assert.equal(await page.locator('[data-node]').count(), 7, 'the run is untouched');

  // A file that is not a scenario is refused and the run goes on.
  const untouched = await state(page);
  await page.locator('#file-input').setInputFiles({ name: 'notes.json', mimeType: 'application/json', buffer: Buffer.from('{"format": 1, "name": "x"}') });
  await page.getByRole('alert').filter({ hasText: 'notes.json' }).waitFor();
  assert.equal((await state(page)).hash, untouched.hash, 'the current run is untouched');
  assert.deepEqual(errors, []);
});

/** A deterministic generator for the corruptions, so that a failure can be repeated. */
function rng(seed) {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    x ^= x >>> 12;
    return x / 2 ** 32;
  };
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

test('corrupted, truncated, oversized and hand-edited links show the error and the default scenario', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=raft-leader-crash&seed=5');
  await aTypicalRun(page);
  const link = await copyLink(page);
  const query = link.slice(link.indexOf('?'));
  const blob = query.slice('?run='.length);
  const random = rng(20261122);
  const bad = [];
  // Truncations anywhere inside the run.
  for (let i = 0; i < 20; i++) bad.push(['truncated', `?run=${blob.slice(0, Math.floor(random() * blob.length))}`]);
  // One character changed to another base64url character: the checksum catches it.
  for (let i = 0; i < 25; i++) {
    const at = Math.floor(random() * blob.length);
    let c = blob[at];
    while (c === blob[at]) c = B64[Math.floor(random() * 64)];
    bad.push(['flipped', `?run=${blob.slice(0, at)}${c}${blob.slice(at + 1)}`]);
  }
  // A byte flipped into characters a link should not have (%-encoded so that it stays one URL).
  for (let i = 0; i < 5; i++) {
    const at = Math.floor(random() * blob.length);
    const c = encodeURIComponent(String.fromCharCode(33 + Math.floor(random() * 90)));
    if (!B64.includes(decodeURIComponent(c))) bad.push(['odd character', `?run=${blob.slice(0, at)}${c}${blob.slice(at + 1)}`]);
  }
  bad.push(['oversized', `?run=${'A'.repeat(70 * 1024)}`]);
  bad.push(['unknown scenario', '?scenario=raft-no-such-thing']);
  bad.push(['unknown parameter', `${query}&sede=3`]);
  // Tracking parameters that sites add are not errors.
  const tracked = `${query}&utm_source=course&fbclid=abc`;
  bad.push(['run and scenario', `${query}&scenario=raft-election`]);
  bad.push(['bad time', '?scenario=raft-election&t=soon']);
  bad.push(['time far past the end', '?scenario=raft-election&t=3000000']);
  bad.push(['bad embed option', '?scenario=raft-election&embed=1&controls=most']);
  // Links with a valid checksum but a wrong content, as a person editing one by hand would make.
  const forge = (run) => page.evaluate(async (r) => (await import('./js/share.js')).encodeRun(r), run);
  bad.push(['node that does not exist', `?run=${await forge({ v: 1, s: 'raft-election', seed: 1, a: [[500000, { action: 'crash', node: 'n9' }]], t: 800 })}`]);
  bad.push(['action that is not one', `?run=${await forge({ v: 1, s: 'raft-election', a: [[500000, { action: 'explode' }]] })}`]);
  bad.push(['actions out of order', `?run=${await forge({ v: 1, s: 'raft-election', a: [[500000, { action: 'heal' }], [100, { action: 'heal' }]] })}`]);
  bad.push(['scenario that fails validation', `?run=${await forge({ v: 1, sc: { format: 1, name: 'mine', title: 'Mine', protocol: 'raft', nodes: 0, seed: 1, duration_ms: 1000 } })}`]);
  bad.push(['unknown protocol', `?run=${await forge({ v: 1, sc: { format: 1, name: 'mine', title: 'Mine', protocol: 'paxos-ish', nodes: 3, seed: 1, duration_ms: 1000 } })}`]);
  bad.push(['a heavy inline scenario', `?run=${await forge({ v: 1, sc: { format: 1, name: 'heavy', title: 'Heavy', protocol: 'raft', nodes: 64, seed: 1, duration_ms: 3600000, params: { heartbeat_ms: 1, election_timeout_ms: [2, 3] } }, t: 3500000 })}`]);
  bad.push(['a seed a page cannot hold', `?run=${await forge({ v: 1, sc: { format: 1, name: 'big', title: 'Big', protocol: 'raft', nodes: 3, seed: 2 ** 60, duration_ms: 1000 } })}`]);
  bad.push(['wrong format', `?run=${await forge({ v: 9, s: 'raft-election' })}`]);
  bad.push(['too many actions', `?run=${await forge({ v: 1, s: 'raft-election', a: Array.from({ length: 2001 }, (_, i) => [i * 1000, { action: 'heal' }]) })}`]);

  const failures = [];
  for (const [kind, q] of bad) {
    await page.goto(`${url}/index.html${q}`);
    await page.waitForFunction(() => window.caplab?.ready === true || /could not start/.test(document.getElementById('alert')?.textContent ?? ''), null, { timeout: 15000 });
    const alert = await text(page, 'alert');
    const title = await text(page, 'scenario-title');
    const alive = await page.evaluate(() => { window.caplab.seek(300); return window.caplab.app.publicState().now; });
    if (!/could not be opened/.test(alert) || !title.startsWith(DEFAULT_TITLE) || alive !== 300) {
      failures.push(`${kind}: ${q.slice(0, 80)}… → alert “${alert}”, title “${title}”, clock ${alive}`);
    }
  }
  await shot(page, 'bad-link');
  await page.goto(`${url}/index.html${tracked}`);
  await page.waitForFunction(() => window.caplab?.ready === true);
  assert.equal(await text(page, 'alert'), '', 'tracking parameters are ignored');
  assert.ok(!(await text(page, 'scenario-title')).startsWith(DEFAULT_TITLE));
  assert.deepEqual(failures, [], `${bad.length} bad links tried`);
  assert.deepEqual(errors, [], 'no page error, no console error');
});
