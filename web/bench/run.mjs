// `make bench`, the browser half: simulated events per second in wasm inside headless Chromium
// for the same scenario the native `caplab bench` runs, their ratio, the weight of the wasm and
// of the whole page, and the page's frame time while playing a 9-node Raft cluster at 10x and
// while playing the CAP lab's split view.
// It prints numbers; nothing here passes or fails.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { REPO, WEB, openPage, playAndTimeFrames, setup } from '../tests/helpers.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const caplab = (...args) => execFileSync(join(REPO, 'target/release/caplab'), args, { encoding: 'utf8' });
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

function nativeEventsPerSecond(protocol = 'raft') {
  const runs = [];
  const line = new RegExp(`^${protocol}\\s.*\\son\\s`);
  for (let i = 0; i < 3; i++) {
    const row = caplab('bench', '--seconds', String(SECONDS)).split('\n').find((l) => line.test(l));
    runs.push(Number(row.trim().split(/\s+/).at(-1)));
  }
  return median(runs);
}

/** The other protocols too, native and in wasm (two-key transactions for the atomic-commitment ones). */
const MORE = ['twopc', 'threepc', 'saga', 'paxos', 'multipaxos', 'zab', 'gossip', 'swim', 'lease', 'ha', 'services'];

function pageFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (['tests', 'bench', 'node_modules', 'examples'].includes(name)) return [];
    if (name.endsWith('.LICENSE')) return [];
    if (statSync(path).isDirectory()) return pageFiles(path);
    return /\.(html|css|js|wasm)$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The length of the share link for three typical runs: a named scenario looked at but not
 * touched, the same with ten actions, and an edited scenario (carried inline) with three. */
async function shareLinkLengths(browser, url) {
  const { page } = await openPage(browser, url, '?scenario=raft-leader-isolated&seed=12');
  return page.evaluate(async () => {
    const app = window.caplab.app;
    const at = (ms, action) => { app.seek(ms); if (!app.act(action)) throw new Error(JSON.stringify(action)); };
    app.seek(1500);
    const untouched = (await app.shareLink()).length;
    app.seek(0);
    at(300, { action: 'request', client: 'c1', op: 'put', key: 'x', value: '1' });
    at(600, { action: 'crash', node: 'leader' });
    at(900, { action: 'partition', groups: [['n1', 'n2', 'c1'], ['n3', 'n4', 'n5', 'c2']] });
    at(1100, { action: 'request', client: 'c2', op: 'put', key: 'y', value: '2' });
    at(1400, { action: 'cut', from: 'n4', to: 'n5', oneway: true });
    at(1700, { action: 'heal' });
    const crashed = JSON.parse(app.session.pg.nodes()).find((n) => n.role === 'crashed').id;
    at(1900, { action: 'restart', node: crashed });
    at(2200, { action: 'pause', node: 'n2' });
    at(2600, { action: 'resume', node: 'n2' });
    at(2900, { action: 'request', client: 'c1', op: 'get', key: 'y' });
    app.seek(3200);
    const tenActions = (await app.shareLink()).length;
    const edited = JSON.parse(app.session.pg.scenarioJson());
    edited.params.election_timeout_ms = [300, 600];
    app.loadText(JSON.stringify(edited), 'bench');
    at(500, { action: 'isolate', node: 'leader' });
    at(1500, { action: 'heal' });
    at(1800, { action: 'request', client: 'c1', op: 'put', key: 'x', value: '9' });
    app.seek(2500);
    const inline = (await app.shareLink()).length;
    return [['named, no actions', untouched], ['named, ten actions', tenActions], ['edited, three acts', inline]];
  });
}

/** The CAP lab's split view playing cap-split at 1x from 0 to 4 s (through the partition at
 * 2 s): script time per frame, both sides drawn, the checker run four times a second. */
async function splitViewFrames(browser, url) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  await page.goto(`${url}/cap.html?scenario=cap-split&tour=0`);
  await page.waitForFunction(() => window.caplab?.ready === true);
  await page.locator('#speed').fill('10');
  const times = await page.evaluate(async () => {
    const lab = window.caplab.lab;
    const out = [];
    const frame = lab.frame.bind(lab);
    lab.frame = (ts) => { const t0 = performance.now(); frame(ts); if (lab.playing) out.push(performance.now() - t0); };
    lab.play();
    await new Promise((ok) => setTimeout(ok, 4000));
    lab.pause();
    lab.frame = frame;
    return out.sort((a, b) => a - b);
  });
  await context.close();
  return { count: times.length, median: times[times.length >> 1], p95: times[Math.floor(times.length * 0.95)], max: times.at(-1) };
}

/** A 2,000-node push-pull gossip (scenarios/gossip-scale.json) played on the canvas at `speed`
 * for `wall` ms of wall-clock time: frames per second actually drawn (requestAnimationFrame
 * callbacks while playing, over the wall time) and the script time of each frame. */
async function largeClusterFrames(browser, url, speed, wall) {
  const { page } = await openPage(browser, url, '?scenario=gossip-scale');
  return page.evaluate(async ({ speed, wall }) => {
    const app = window.caplab.app;
    app.tour.pauseBetween = () => null; // play straight through the tour's pauses
    app.seek(0);
    app.transport.speed.value = String(speed === 1 ? 10 : 12); // SPEEDS in js/controls.js: 1x, 5x
    app.transport.speedChanged(false);
    const times = [];
    const frame = app.frame.bind(app);
    app.frame = (ts) => { const t0 = performance.now(); frame(ts); if (app.playing) times.push(performance.now() - t0); };
    const start = performance.now();
    app.play();
    await new Promise((ok) => setTimeout(ok, wall));
    const elapsed = performance.now() - start;
    app.pause();
    app.frame = frame;
    const virtual = app.session.now;
    times.sort((a, b) => a - b);
    return {
      fps: (times.length / elapsed) * 1000, count: times.length, median: times[times.length >> 1],
      p95: times[Math.floor(times.length * 0.95)], max: times.at(-1), virtual,
      informed: JSON.parse(app.session.pg.figures()).informed,
    };
  }, { speed, wall });
}

const kb = (bytes) => `${(bytes / 1024).toFixed(0)} KB`;

const t = { after: (fn) => process.on('beforeExit', fn) };
const { browser, url } = await setup({ after: (fn) => t.after(fn) });
try {
  const scenario = caplab('bench', '--print-scenario', 'raft', '--seconds', String(SECONDS));
  const native = nativeEventsPerSecond();

  const { page } = await openPage(browser, url, '?scenario=raft-election');
  const wasmRate = (json) => page.evaluate(async (json) => {
    const { Playground } = await import('./pkg/caplab.js');
    const rates = [];
    for (let i = 0; i < 3; i++) {
      const pg = new Playground(json);
      pg.setRecording(false);
      const t0 = performance.now();
      const steps = pg.runUntil(pg.durationMs());
      rates.push(steps / ((performance.now() - t0) / 1000));
      pg.free();
    }
    rates.sort((a, b) => a - b);
    return rates[1];
  }, json);
  const wasm = await wasmRate(scenario);
  const more = [];
  for (const p of MORE) {
    more.push([p, nativeEventsPerSecond(p), await wasmRate(caplab('bench', '--print-scenario', p, '--seconds', String(SECONDS)))]);
  }

  const nine = await openPage(browser, url, '?scenario=raft-leader-crash&nodes=9');
  await nine.page.locator('#speed').fill('13');
  const { times } = await playAndTimeFrames(nine.page, 4000);
  const frames = { count: times.length, median: times[times.length >> 1], p95: times[Math.floor(times.length * 0.95)] };


  const split = await splitViewFrames(browser, url);
  const large1 = await largeClusterFrames(browser, url, 1, 8000);
  const large5 = await largeClusterFrames(browser, url, 5, 4500);

  const links = await shareLinkLengths(browser, url);

  const wasmFile = readFileSync(join(WEB, 'pkg/caplab_bg.wasm'));
  const files = pageFiles(WEB);
  const raw = files.reduce((n, f) => n + statSync(f).size, 0);
  const gz = files.reduce((n, f) => n + gzipSync(readFileSync(f), { level: 9 }).length, 0);

  console.log(`scenario                       bench-raft: 5 nodes, 2 clients, ${SECONDS} virtual s, invariants on`);
  console.log(`events/second native           ${native.toFixed(0)}`);
  console.log(`events/second wasm (chromium)  ${wasm.toFixed(0)}`);
  console.log(`native / wasm                  ${(native / wasm).toFixed(2)}x`);
  const TXN = new Set(['twopc', 'threepc', 'saga']);
  for (const [p, n, w] of more) console.log(`events/second ${p.padEnd(10)}       native ${n.toFixed(0)}, wasm ${w.toFixed(0)}${TXN.has(p) ? ' (two-key transactions)' : ''}`);
  console.log(`wasm size                      ${kb(wasmFile.length)} raw, ${kb(gzipSync(wasmFile, { level: 9 }).length)} gzipped`);
  console.log(`page weight (${files.length} files)         ${kb(raw)} raw, ${kb(gz)} gzipped`);
  for (const [what, n] of links) console.log(`share link, ${what.padEnd(19)} ${n} characters`);
  console.log(`frame time, 9 nodes at 10x     median ${frames.median.toFixed(2)} ms, p95 ${frames.p95.toFixed(2)} ms of script per frame (${frames.count} frames)`);
  for (const [speed, f] of [[1, large1], [5, large5]]) {
    console.log(`frames, 2,000-node gossip ${speed}x  ${f.fps.toFixed(1)} frames/s drawn (${f.count} frames, ${f.virtual} virtual ms, ${f.informed} informed); script per frame median ${f.median.toFixed(2)} ms, p95 ${f.p95.toFixed(2)} ms, max ${f.max.toFixed(2)} ms`);
  }
  console.log(`frame time, CAP split view 1x  median ${split.median.toFixed(2)} ms, p95 ${split.p95.toFixed(2)} ms, max ${split.max.toFixed(2)} ms of script per frame (${split.count} frames)`);
} finally {
  await browser.close();
  process.exit(0);
}
