// Time travel without a browser: the Session class over the wasm build, in node. Seeking back
// must show exactly the state first seen at that time, replaying known ground must repeat user
// actions, and acting in the past must fork (discard the later timeline).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import init, { Playground } from '../pkg/caplab.js';
import { Session } from '../js/session.js';

await init({ module_or_path: await readFile(fileURLToPath(new URL('../pkg/caplab_bg.wasm', import.meta.url))) });

const state = (s) => ({ now: s.now, steps: s.steps, nodes: s.pg.nodes(), hash: s.pg.traceHash() });

test('seeking back shows the state first seen at that time', () => {
  const s = new Session(Playground, 'raft-leader-crash');
  const seen = [];
  for (const t of [137, 250, 999, 1601, 2345]) {
    s.seek(t);
    seen.push(state(s));
  }
  for (const want of [...seen].reverse()) {
    s.seek(want.now);
    assert.deepEqual(state(s), want);
  }
  s.free();
});

test('replaying known ground repeats user actions, by seek and by step', () => {
  const s = new Session(Playground, 'raft-election');
  s.seek(500);
  s.apply('{"action":"crash","node":"n2"}');
  s.seek(700);
  s.apply('{"action":"restart","node":"n2"}');
  s.seek(900);
  const end = state(s);
  s.seek(100);
  assert.equal(s.inPast, true);
  s.seek(900);
  assert.deepEqual(state(s), end);
  // Step through the same ground one event at a time.
  s.seek(480);
  while (s.now < 900 && s.pg.nextMs() <= 900) s.step();
  s.seek(900);
  assert.deepEqual(state(s), end);
  s.free();
});

test('acting in the past forks and discards the later timeline', () => {
  const s = new Session(Playground, 'raft-election');
  s.seek(2000);
  const steps = s.steps;
  s.seek(400);
  s.apply('{"action":"crash","node":"leader"}');
  assert.equal(s.inPast, false);
  assert.equal(s.end, s.duration);
  assert.ok(s.events.every((e) => e.step <= s.steps));
  s.seek(2000);
  assert.notEqual(s.steps, steps);
  s.free();
});

test('a refused action changes nothing', () => {
  const s = new Session(Playground, 'raft-election');
  s.seek(1000);
  s.seek(300);
  const before = state(s);
  assert.throws(() => s.apply('{"action":"crash","node":"n9"}'), /n9 does not exist/);
  assert.deepEqual(state(s), before);
  assert.equal(s.inPast, true);
  s.free();
});

test('the trace hash at the end matches a straight run', () => {
  const s = new Session(Playground, 'raft-leader-isolated');
  s.seek(1234);
  s.seek(10);
  s.seek(s.duration);
  const straight = new Playground('raft-leader-isolated');
  straight.runUntil(straight.durationMs());
  assert.equal(s.pg.traceHash(), straight.traceHash());
  s.free();
});

test('a removed message stays removed when its ground is replayed', () => {
  const s = new Session(Playground, 'raft-election');
  s.seek(600);
  const msg = JSON.parse(s.pg.inFlight())[0];
  assert.ok(msg, 'a message is in flight at 600 ms');
  s.dropMessage(msg.id);
  s.seek(800);
  const end = state(s);
  s.seek(590);
  while (s.pg.nextMs() <= 800) s.step();
  s.seek(800);
  assert.deepEqual(state(s), end);
  s.seek(0);
  s.seek(800);
  assert.deepEqual(state(s), end);
  s.free();
});
