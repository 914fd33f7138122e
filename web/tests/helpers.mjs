// Shared set-up for the browser tests: one static server and one chromium per test file, a
// page that records console errors, the native CLI's trace hash to compare with, and
// screenshots under tests/output/ (git-ignored) for a person to look at.

import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from './server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const WEB = join(here, '..');
export const REPO = join(WEB, '..');
export const OUTPUT = join(here, 'output');

export const LAUNCH = {
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run'],
};

/** Starts the server and the browser for one test file; both stop when the test ends. */
export async function setup(t) {
  const { server, url } = await startServer({ root: WEB, port: 0 });
  const browser = await chromium.launch(LAUNCH);
  t.after(async () => { await browser.close(); server.close(); });
  return { browser, url };
}

/** Opens the page (`file`: index.html, or cap.html for the CAP lab) with a query string and
 * waits until the simulator is ready. */
export async function openPage(browser, url, query = '', { viewport = { width: 1280, height: 720 }, locale = 'en-US', file = 'index.html' } = {}) {
  const context = await browser.newContext({ viewport, locale });
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${url}/${file}${query}`);
  await page.waitForFunction(() => window.caplab?.ready === true);
  return { page, errors, context };
}

export function nativeRun(scenario) {
  const out = execFileSync(join(REPO, 'target/release/caplab'), ['run', scenario, '--json'], { encoding: 'utf8' });
  return JSON.parse(out);
}

export async function shot(page, name) {
  mkdirSync(OUTPUT, { recursive: true });
  await page.screenshot({ path: join(OUTPUT, `${name}.png`) });
}

/** Moves virtual time through the page's hook, as the time slider does. */
export async function seek(page, ms) {
  await page.evaluate((t) => window.caplab.seek(t), ms);
}

export const text = (page, testid) => page.locator(`[data-testid="${testid}"]`).textContent();

/** Clicks "Copy link" and returns the share link the page shows. */
export async function copyLink(page) {
  await page.locator('[data-action="copy-link"]').click();
  const url = page.locator('[data-testid="share-url"]');
  await url.filter({ hasText: 'http' }).waitFor();
  return url.textContent();
}

/** Copies the page's share link, opens it in a new page of the same context and moves it to
 * `ms`: returns that page and the original's trace hash, for the caller to compare. */
export async function replayCopiedLink(page, context, ms) {
  const link = await copyLink(page);
  const hash = await text(page, 'trace-hash');
  const other = await context.newPage();
  await other.goto(link);
  await other.waitForFunction(() => window.caplab?.ready === true);
  await seek(other, ms);
  return { other, hash };
}

/** Role and term of every node as the page draws them. */
export function roles(page) {
  return page.$$eval('[data-node]', (els) => els.map((e) => ({ id: e.dataset.node, role: e.dataset.role, term: Number(e.dataset.term) })));
}

/** Clicks a link (data-link="n1-n3") at a point along it where nothing else is on top. */
export async function clickLink(page, id, { shift = false, near = null, button = 'left' } = {}) {
  const point = await page.evaluate(({ id, near }) => {
    const g = document.querySelector(`[data-link="${id}"]`);
    const line = g.querySelector('.hit');
    const m = line.getScreenCTM();
    const [x1, y1, x2, y2] = ['x1', 'y1', 'x2', 'y2'].map((k) => Number(line.getAttribute(k)));
    // Near the first end unless asked for the second one.
    const fromB = near && id.split('-')[1] === near;
    for (const f of [0.3, 0.25, 0.35, 0.2, 0.4, 0.45]) {
      const t = fromB ? 1 - f : f;
      const x = m.a * (x1 + (x2 - x1) * t) + m.c * (y1 + (y2 - y1) * t) + m.e;
      const y = m.b * (x1 + (x2 - x1) * t) + m.d * (y1 + (y2 - y1) * t) + m.f;
      if (g.contains(document.elementFromPoint(x, y))) return { x, y };
    }
    return null;
  }, { id, near });
  if (!point) throw new Error(`no free point to click on link ${id}`);
  if (shift) await page.keyboard.down('Shift');
  await page.mouse.click(point.x, point.y, { button });
  if (shift) await page.keyboard.up('Shift');
}

/** Opens a node's menu and picks an item (data-menu="crash", ...). */
export async function nodeAction(page, node, item) {
  await page.locator(`[data-node="${node}"]`).click();
  await page.locator(`.menu [data-menu="${item}"]`).click();
}

export const leaders = async (page) => (await roles(page)).filter((n) => n.role === 'leader');

/** Plays from past the script's end for `ms` wall milliseconds and records the script time of
 * every frame (sorted), whether the node and link elements survived, and how far time moved. */
export async function playAndTimeFrames(page, ms) {
  return page.evaluate(async (wall) => {
    const app = window.caplab.app;
    for (const el of document.querySelectorAll('[data-node], [data-link]')) el.__kept = true;
    app.seek(app.session.duration + 1); // past the script's end, so Play does not stop there
    const times = [];
    const frame = app.frame.bind(app);
    app.frame = (ts) => { const t0 = performance.now(); frame(ts); if (app.playing) times.push(performance.now() - t0); };
    app.play();
    await new Promise((ok) => setTimeout(ok, wall));
    app.pause();
    app.frame = frame;
    times.sort((a, b) => a - b);
    return {
      kept: [...document.querySelectorAll('[data-node], [data-link]')].every((el) => el.__kept),
      times,
      advanced: app.session.now - app.session.duration,
    };
  }, ms);
}
