// The wasm build runs in a real browser and gives the same trace hash as the native CLI.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { chromium } from 'playwright-core';
import { startServer } from './server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const web = join(here, '..');
const repo = join(web, '..');

export const LAUNCH = {
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run'],
};

function nativeHash(scenario) {
  const out = execFileSync(join(repo, 'target/release/caplab'), ['run', scenario, '--json'], { encoding: 'utf8' });
  return JSON.parse(out).trace_hash;
}

test('the simulator runs in wasm and matches the native trace hash', async (t) => {
  const { server, url } = await startServer({ root: web });
  const browser = await chromium.launch(LAUNCH);
  t.after(async () => { await browser.close(); server.close(); });
  const page = await browser.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${url}/index.html?scenario=raft-election`);
  const hash = page.locator('[data-testid="trace-hash"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="trace-hash"]').textContent !== '…');
  assert.deepEqual(errors, []);
  assert.equal(await hash.textContent(), nativeHash('raft-election'));
  assert.equal(await page.locator('[data-role="leader"]').count(), 1);
});
