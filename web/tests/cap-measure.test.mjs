// The CAP lab's own figures, without a browser: partition windows and which side each client
// is on, availability per side, the charts' series (the partial last bucket included), and the
// split control's groups.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bySide, cumulative, isolation, liveHistory, partitions, series } from '../js/cap/measure.js';
import { clientsCutGroups, clientHomes, splitGroups } from '../js/cap/controls.js';

const op = (client, invokeMs, endMs, outcome = 'ok') => ({
  client, op: 'get', key: 'x', value: null, invoke_us: invokeMs * 1000, return_us: outcome === 'ok' || outcome === 'fail' ? endMs * 1000 : null,
  outcome, open: false, end_us: endMs * 1000,
});

test('partition windows: groups make sides, isolate makes the node and its clients the minority, heal ends', () => {
  const homes = { c1: 'n1', c2: 'n2', c3: 'n3' };
  const w = partitions([
    { at_us: 1e6, action: 'partition', groups: [['n1', 'n2', 'c1'], ['n3', 'n4', 'n5', 'c2', 'c3']] },
    { at_us: 2e6, action: 'heal' },
    { at_us: 3e6, action: 'isolate', node: 'n2' },
    { at_us: 3.5e6, action: 'crash', node: 'n5' },
  ], 5, homes);
  assert.equal(w.length, 2);
  assert.deepEqual([w[0].start, w[0].end, w[0].side], [1000, 2000, { c1: 'minority', c2: 'majority', c3: 'majority' }]);
  assert.deepEqual([w[1].start, w[1].end, w[1].side], [3000, null, { c1: 'majority', c2: 'minority', c3: 'majority' }]);
});

test('availability per side counts the operations invoked during a window, by the client’s side', () => {
  const windows = [{ start: 1000, end: 2000, side: { c1: 'minority', c2: 'majority' } }];
  const history = [
    op('c1', 500, 520), // before the partition: not counted
    op('c1', 1100, 1600, 'unknown'),
    op('c1', 1700, 1750, 'fail'),
    op('c2', 1100, 1120),
    op('c2', 1900, 2100), // invoked during, ends after: counted
  ];
  const s = bySide(history, windows);
  assert.deepEqual(s.minority, { ok: 0, all: 2, pct: 0 });
  assert.deepEqual(s.majority, { ok: 2, all: 2, pct: 100 });
});

test('series: rates by end time, the last bucket partial and drawn at now, nothing in the future', () => {
  // Two ok in the first 500 ms; then, in the 300 ms up to now, two ok and one given up.
  const history = [op('c1', 0, 100), op('c1', 100, 300), op('c2', 0, 600), op('c2', 600, 700, 'unknown'), op('c1', 650, 750)];
  const sr = series(history, 10000, 500, 800);
  assert.deepEqual(sr.x, [0.5, 0.8]);
  assert.deepEqual(sr.okRate, [4, 2000 / 300]);
  assert.deepEqual(sr.failRate, [0, 1000 / 300]);
  assert.deepEqual(sr.availability, [100, 200 / 3]);
  assert.deepEqual(sr.p50, [100, 100]);
  assert.deepEqual(cumulative([100, 700, 900], sr.x), [1, 2]);
});

test('the live history marks what is in flight and when a client gave up', () => {
  const live = { entries: [{ client: 'c1', return_us: null, outcome: 'unknown', invoke_us: 5 }, { client: 'c2', return_us: null, outcome: 'unknown', invoke_us: 7 }], open: [1], gave_up_us: [[0, 505]] };
  const [a, b] = liveHistory(live);
  assert.deepEqual([a.open, a.end_us, b.open, b.end_us], [false, 505, true, null]);
});

test('the split control keeps a client on each side; cutting clients puts them all with the minority', () => {
  const four = { nodes: 5, clients: 4 };
  assert.deepEqual(splitGroups(four), [['n1', 'n2', 'c1', 'c2'], ['n3', 'n4', 'n5', 'c3', 'c4']]);
  const two = { nodes: 5, clients: 2 };
  assert.deepEqual(splitGroups(two), [['n1', 'n2', 'c1'], ['n3', 'n4', 'n5', 'c2']]);
  assert.deepEqual(clientsCutGroups(two), [['n1', 'n2', 'c1', 'c2'], ['n3', 'n4', 'n5']]);
  assert.deepEqual(clientHomes({ nodes: 3, clients: 4 }), { c1: 'n1', c2: 'n2', c3: 'n3', c4: 'n1' });
});

test('isolation: reads refused, and reads of a value whose transaction then failed', () => {
  const base = { open: false, invoke_us: 0, return_us: 10, end_us: 10 };
  const history = [
    { ...base, client: 'c1', op: 'txn', key: 'x+y', value: null, writes: [{ key: 'x', value: '1' }, { key: 'y', value: '2' }], outcome: 'fail' },
    { ...base, client: 'c2', op: 'get', key: 'x', value: '1', outcome: 'ok' },
    { ...base, client: 'c2', op: 'get', key: 'y', value: null, outcome: 'fail' },
    { ...base, client: 'c1', op: 'txn', key: 'x+z', value: null, writes: [{ key: 'x', value: '3' }, { key: 'z', value: '4' }], outcome: 'ok' },
    { ...base, client: 'c2', op: 'get', key: 'x', value: '3', outcome: 'ok' },
    // Same value on another key is another write.
    { ...base, client: 'c2', op: 'get', key: 'z', value: '1', outcome: 'ok' },
    // Still waiting: counts for nothing yet.
    { ...base, client: 'c3', op: 'get', key: 'y', value: null, outcome: 'unknown', open: true, return_us: null, end_us: null },
  ];
  const r = isolation(history);
  assert.equal(r.refused, 1);
  assert.deepEqual([...r.dirty], [1]);
});
