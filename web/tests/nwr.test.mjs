// The NWR store drawn in its own terms (web/protocols/nwr.js): each node shows the versions it
// holds (data-keys, data-siblings, data-hints) and no term; messages are shaped by what they
// do; the inspector lists every key's versions with their clocks and its preference list, and
// the hints a stand-in keeps; the Replicas panel says whether home replicas agree.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage, seek, setup, shot, text } from './helpers.mjs';

// W = 3 under a partition: n1 (a home replica of x) writes through stand-ins n3 and n4,
// which keep hints for the unreachable home replicas n5 and n2 until the heal.
const HINTS = {
  format: 1, name: 'nwr-hints-test', title: 'Hinted handoff', protocol: 'nwr', nodes: 5, clients: 2, seed: 1, duration_ms: 4000,
  params: { n: 3, w: 3, r: 1, mode: 'sloppy', versioning: 'vector' },
  network: { latency_ms: [5, 15] },
  workload: { rate: 0 },
  timeline: [
    { at_ms: 1000, action: 'partition', groups: [['n1', 'n3', 'n4', 'c1'], ['n2', 'n5', 'c2']] },
    { at_ms: 1100, action: 'request', client: 'c1', op: 'put', key: 'x', value: '7', node: 'n1' },
    { at_ms: 2500, action: 'heal' },
  ],
};

/** Each node's data-* hooks and the text it visibly shows. */
const nodeData = (page) => page.$$eval('[data-node]', (els) => {
  // checkVisibility() says yes to SVG text inside a hidden group: look at every ancestor.
  const shown = (el) => {
    for (let x = el; x; x = x.parentElement) if (getComputedStyle(x).display === 'none' || x.getAttribute('display') === 'none') return false;
    return true;
  };
  return Object.fromEntries(els.map((e) => [e.dataset.node, {
    keys: e.dataset.keys, siblings: e.dataset.siblings, hints: e.dataset.hints, role: e.dataset.role,
    text: [...e.querySelectorAll('text')].filter(shown).map((t) => t.textContent.trim()).filter(Boolean).join(' '),
  }]));
});

async function inspect(page, node) {
  await page.locator(`[data-node="${node}"]`).click();
  await page.locator('.menu [data-menu="inspect"]').click();
}

test('siblings: every node shows its versions, no term, and the inspector lists the versions with their clocks', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=nwr-siblings', { viewport: { width: 1280, height: 800 } });
  await seek(page, 800);
  let nodes = await nodeData(page);
  // x = 1 reached its home replicas n5, n1, n2 and nowhere else.
  assert.deepEqual(Object.fromEntries(Object.entries(nodes).map(([id, n]) => [id, n.keys])), { n1: 'x=1', n2: 'x=1', n3: '', n4: '', n5: 'x=1' });
  for (const [id, n] of Object.entries(nodes)) {
    assert.ok(!/term/i.test(n.text), `${id} shows no term: "${n.text}"`);
    assert.ok(!n.text.includes('replica'), `${id} has no "replica" pill: "${n.text}"`);
  }
  assert.match(nodes.n1.text, /x = 1/);
  assert.match(nodes.n3.text, /\(empty\)/);

  await seek(page, 4100);
  nodes = await nodeData(page);
  for (const id of ['n1', 'n2', 'n5']) {
    assert.equal(nodes[id].keys, 'x=2|3', `${id} keeps both concurrent writes`);
    assert.equal(nodes[id].siblings, 'x');
    assert.match(nodes[id].text, /x = 2 ‖ 3/);
  }
  assert.equal(await page.locator('[data-node="n1"] .nwr-line.siblings').count(), 1, 'siblings are marked');

  await inspect(page, 'n1');
  const inspector = page.locator('[data-testid="inspector"]');
  const card = inspector.locator('.nwr-key[data-key="x"]');
  assert.equal(await card.getAttribute('data-versions'), '2');
  const cells = await card.locator('.nwr-versions td').allTextContents();
  assert.deepEqual(cells, ['2', '[n1:2]', 'n1', '3', '[n1:1 n2:1]', 'n2'], 'each sibling with its vector clock and writer');
  assert.deepEqual(await card.locator('.nwr-home .nwr-chip').allTextContents(), ['n5', 'n1', 'n2'], 'the preference list');
  assert.equal(await card.locator('.nwr-chip.self').textContent(), 'n1');
  const all = await text(page, 'inspector');
  for (const words of ['N = 3', 'W = 1', 'R = 1', 'sloppy quorum', 'vector clocks', '2 siblings', 'Hinted versions kept for others (0)']) {
    assert.ok(all.includes(words), words);
  }
  assert.ok(!/term/i.test(all), 'no term in the inspector');
  await shot(page, 'nwr-1-siblings-inspector');

  await page.locator('[data-tab="protocol"]').click();
  assert.equal((await page.locator('#protocol-tab').textContent()).trim(), 'Replicas');
  const row = page.locator('[data-testid="nwr-matrix"] tr[data-key="x"]');
  assert.equal((await row.locator('.nwr-badge').textContent()).trim(), 'agree', 'after the heal and a sync, the home replicas agree');
  await seek(page, 3000);
  assert.equal((await row.locator('.nwr-badge').textContent()).trim(), 'diverged', 'n5 has not heard of x = 2 yet');
  await shot(page, 'nwr-2-siblings-replicas');
  assert.deepEqual(errors, []);
});

test('the ring on the page is the simulator\'s (same preference lists); a coordinator shows its quorum', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=nwr-happy');
  await seek(page, 3000);
  const pairs = await page.evaluate(async () => {
    const { home } = await import('./protocols/nwr.js');
    const s = window.caplab.session;
    const out = [];
    for (let i = 1; i <= s.scenario.nodes; i++) {
      for (const k of JSON.parse(s.pg.inspect(`n${i}`)).state.keys) out.push([k.key, k.home, home(k.key, s.scenario.nodes, 3)]);
    }
    return out;
  });
  assert.ok(new Set(pairs.map(([k]) => k)).size >= 2, 'several keys to compare');
  for (const [key, fromSim, fromPage] of pairs) assert.deepEqual(fromPage, fromSim, key);
  // A coordinator shows the request it coordinates and its quorum so far (W = R = 2 here).
  let label = '';
  for (let ms = 40; ms < 600 && !label; ms += 7) {
    await seek(page, ms);
    label = (await page.$$eval('[data-node]', (els) => els.map((e) => e.dataset.coordinating).filter(Boolean)))[0] ?? '';
  }
  assert.match(label, /^(put \w+=\S+|get \w+) · [RW] [0-2]\/2$/);
  assert.deepEqual(errors, []);
});

test('partition, sloppy quorum: messages by kind, stale sides, and hints kept for unreachable home replicas', async (t) => {
  const { browser, url } = await setup(t);
  const { page, errors } = await openPage(browser, url, '?scenario=nwr-partition-ap', { viewport: { width: 1600, height: 1000 } });
  // During the split each side writes its own value of x.
  await seek(page, 2500);
  const during = await nodeData(page);
  assert.notEqual(during.n1.keys, during.n2.keys, `the sides diverge: ${during.n1.keys} vs ${during.n2.keys}`);
  // Message shapes by kind, whatever is in flight at some moment.
  const kinds = new Map();
  for (let ms = 100; ms <= 3000 && kinds.size < 4; ms += 37) {
    await seek(page, ms);
    for (const [label, cls] of await page.$$eval('[data-msg]', (els) => els.map((e) => [e.dataset.label, e.getAttribute('class')]))) kinds.set(label, cls);
  }
  const expected = { Read: 'kind-nwr-read', ReadReply: 'kind-nwr-read', Write: 'kind-nwr-write', WriteAck: 'kind-nwr-write', AntiEntropy: 'kind-nwr-sync', Response: 'kind-client' };
  let checked = 0;
  for (const [label, cls] of kinds) if (expected[label]) { assert.ok(cls.includes(expected[label]), `${label}: ${cls}`); checked++; }
  assert.ok(checked >= 3, `saw ${[...kinds.keys()]}`);
  for (const [label, cls] of kinds) if (label === 'Response') assert.ok(!cls.includes('denied'), 'a successful reply is not drawn as refused');
  await seek(page, 7000);
  const after = await nodeData(page);
  const homes = ['n1', 'n2', 'n5'].map((id) => after[id].keys);
  assert.equal(new Set(homes).size, 1, `converged after the heal: ${homes}`);
  await page.locator('#legend summary').click();
  const legend = await page.locator('#legend').textContent();
  for (const words of ['hinted write', 'hinted handoff', 'read repair', 'anti-entropy', 'siblings']) assert.ok(legend.includes(words), words);
  await shot(page, 'nwr-3-partition-after-heal');

  // Hints: kept by the stand-ins while the home replicas are cut off, handed back after.
  assert.equal(await page.evaluate((src) => window.caplab.app.load({ inline: src }), JSON.stringify(HINTS)), true);
  let seen = null;
  for (let ms = 1100; ms <= 1300 && !seen; ms += 3) {
    await seek(page, ms);
    seen = await page.$eval('[data-label="HintedWrite"]', (e) => e.getAttribute('class')).catch(() => null);
  }
  assert.ok(seen?.includes('kind-nwr-hint'), `a hinted write in flight: ${seen}`);
  await seek(page, 2000);
  const held = await nodeData(page);
  assert.equal(held.n3.hints, 'n5:x=7');
  assert.equal(held.n4.hints, 'n2:x=7');
  assert.equal(held.n3.keys, '', 'a hint is not the stand-in\'s own copy');
  assert.match(held.n3.text, /x = 7 · for n5/);
  await inspect(page, 'n3');
  const hint = page.locator('[data-testid="inspector"] .nwr-key.hinted');
  assert.equal(await hint.getAttribute('data-hint-for'), 'n5');
  assert.match(await hint.textContent(), /kept for n5/);
  assert.match(await hint.textContent(), /\[n1:1\]/);
  await shot(page, 'nwr-4-hints');
  await seek(page, 3500);
  const back = await nodeData(page);
  assert.equal(back.n3.hints, '', 'handed back after the heal');
  assert.equal(back.n5.keys, 'x=7');
  assert.equal(back.n2.keys, 'x=7');
  assert.deepEqual(errors, []);
});
