// `make bench`, the browser half: simulated events per second in wasm inside headless Chromium
// for the same scenario the native `caplab bench` runs, their ratio, the weight of the wasm and
// of the whole page, and the page's frame time while playing a 9-node Raft cluster at 10x.
// It prints numbers; nothing here passes or fails.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { REPO, WEB, openPage, playAndTimeFrames, setup } from '../tests/helpers.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const caplab = (...args) => execFileSync(join(REPO, 'target/release/caplab'), args, { encoding: 'utf8' });
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

function nativeEventsPerSecond() {
  const runs = [];
  for (let i = 0; i < 3; i++) {
    const row = caplab('bench', '--seconds', String(SECONDS)).split('\n').find((l) => /^raft\s.*\son\s/.test(l));
    runs.push(Number(row.trim().split(/\s+/).at(-1)));
  }
  return median(runs);
}

function pageFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (['tests', 'bench', 'node_modules', 'examples'].includes(name)) return [];
    if (statSync(path).isDirectory()) return pageFiles(path);
    return /\.(html|css|js|wasm)$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

const kb = (bytes) => `${(bytes / 1024).toFixed(0)} KB`;

const t = { after: (fn) => process.on('beforeExit', fn) };
const { browser, url } = await setup({ after: (fn) => t.after(fn) });
try {
  const scenario = caplab('bench', '--print-scenario', 'raft', '--seconds', String(SECONDS));
  const native = nativeEventsPerSecond();

  const { page } = await openPage(browser, url, '?scenario=raft-election');
  const wasm = await page.evaluate(async (json) => {
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
  }, scenario);

  const nine = await openPage(browser, url, '?scenario=raft-leader-crash&nodes=9');
  await nine.page.locator('#speed').fill('13');
  const { times } = await playAndTimeFrames(nine.page, 4000);
  const frames = { count: times.length, median: times[times.length >> 1], p95: times[Math.floor(times.length * 0.95)] };


  const wasmFile = readFileSync(join(WEB, 'pkg/caplab_bg.wasm'));
  const files = pageFiles(WEB);
  const raw = files.reduce((n, f) => n + statSync(f).size, 0);
  const gz = files.reduce((n, f) => n + gzipSync(readFileSync(f), { level: 9 }).length, 0);

  console.log(`scenario                       bench-raft: 5 nodes, 2 clients, ${SECONDS} virtual s, invariants on`);
  console.log(`events/second native           ${native.toFixed(0)}`);
  console.log(`events/second wasm (chromium)  ${wasm.toFixed(0)}`);
  console.log(`native / wasm                  ${(native / wasm).toFixed(2)}x`);
  console.log(`wasm size                      ${kb(wasmFile.length)} raw, ${kb(gzipSync(wasmFile, { level: 9 }).length)} gzipped`);
  console.log(`page weight (${files.length} files)         ${kb(raw)} raw, ${kb(gz)} gzipped`);
  console.log(`frame time, 9 nodes at 10x     median ${frames.median.toFixed(2)} ms, p95 ${frames.p95.toFixed(2)} ms of script per frame (${frames.count} frames)`);
} finally {
  await browser.close();
  process.exit(0);
}
