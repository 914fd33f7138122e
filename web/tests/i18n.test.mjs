// Two languages from two message tables with the same keys; every key the code asks for
// exists; the page renders in English and in Simplified Chinese (from ?lang= and from the
// browser's language) with no missing-key placeholder; dark theme and a phone in portrait.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import en from '../i18n/en.js';
import zh from '../i18n/zh.js';
import { WEB, openPage, seek, setup, shot, text } from './helpers.mjs';

test('the English and Chinese tables have the same keys, none empty', () => {
  assert.deepEqual(Object.keys(zh).sort(), Object.keys(en).sort());
  for (const [k, v] of [...Object.entries(en), ...Object.entries(zh)]) assert.ok(typeof v === 'string' && v.trim(), k);
  // The same {placeholders} on both sides.
  const holes = (s) => (s.match(/\{\w+\}/g) ?? []).sort().join();
  for (const k of Object.keys(en)) assert.equal(holes(zh[k]), holes(en[k]), k);
});

test('every literal key used by the code and the markup is in the tables', async () => {
  const files = [join(WEB, 'index.html')];
  for (const dir of ['js', 'js/panels', 'protocols']) {
    for (const f of await readdir(join(WEB, dir))) if (f.endsWith('.js')) files.push(join(WEB, dir, f));
  }
  const used = new Set();
  const prefixes = new Set(Object.keys(en).map((k) => k.split('.')[0]));
  for (const f of files) {
    const src = await readFile(f, 'utf8');
    for (const m of src.matchAll(/\bt\('([\w.]+)'/g)) used.add(m[1]);
    for (const m of src.matchAll(/data-i18n(?:-[a-z-]+)?="([\w.]+)"/g)) used.add(m[1]);
    // Any other quoted 'group.name' whose group is one the tables use (KEYS lists, titleKey...).
    for (const m of src.matchAll(/'([a-z]+\.[\w.]+)'/g)) if (prefixes.has(m[1].split('.')[0]) && !/\.(js|css|html|mjs)$/.test(m[1])) used.add(m[1]);
  }
  assert.ok(used.size > 100, `found ${used.size} keys`);
  for (const k of used) assert.ok(k in en, `missing key ${k}`);
});

async function noPlaceholders(page) {
  const body = await page.evaluate(() => document.body.innerText + [...document.querySelectorAll('[title],[aria-label],[placeholder]')]
    .map((e) => `${e.getAttribute('title')} ${e.getAttribute('aria-label')} ${e.getAttribute('placeholder')}`).join(' '));
  assert.ok(!body.includes('⟦'), 'no missing-key placeholder');
  return body;
}

test('the page renders in English and in Chinese, chosen by URL, by browser, and on the page', async (t) => {
  const { browser, url } = await setup(t);
  const en1 = await openPage(browser, url, '?scenario=raft-leader-isolated&lang=en');
  await seek(en1.page, 2500);
  await en1.page.locator('[data-tab="events"]').click();
  assert.match(await noPlaceholders(en1.page), /leader/);
  assert.equal(await en1.page.getAttribute('html', 'lang'), 'en');
  await shot(en1.page, '17-english');
  assert.deepEqual(en1.errors, []);

  const zh1 = await openPage(browser, url, '?scenario=raft-leader-isolated&lang=zh');
  await seek(zh1.page, 2500);
  await zh1.page.locator('[data-tab="events"]').click();
  const body = await noPlaceholders(zh1.page);
  for (const word of ['场景', '领导者', '播放', '单步', '安全性不变量']) assert.ok(body.includes(word), word);
  assert.equal(await text(zh1.page, 'scenario-title'), 'Raft：被隔离在少数派中的领导者');
  assert.equal(await zh1.page.getAttribute('html', 'lang'), 'zh-CN');
  await shot(zh1.page, '18-chinese');
  assert.deepEqual(zh1.errors, []);

  // From the browser's language, with no ?lang; then switched on the page.
  const zh2 = await openPage(browser, url, '?scenario=raft-election', { locale: 'zh-CN' });
  assert.equal((await zh2.page.locator('[data-action="play"]').textContent()).trim(), '播放');
  await zh2.page.locator('#lang-select').selectOption('en');
  assert.equal((await zh2.page.locator('[data-action="play"]').textContent()).trim(), 'Play');
  assert.equal(await text(zh2.page, 'scenario-title'), 'Raft: the first election');
  assert.match(zh2.page.url(), /lang=en/);
  await noPlaceholders(zh2.page);
  assert.deepEqual(zh2.errors, []);
});

test('dark theme on a laptop, and a phone in portrait', async (t) => {
  const { browser, url } = await setup(t);
  const dark = await openPage(browser, url, '?scenario=raft-figure8-unsafe&lang=zh');
  await dark.page.locator('[data-action="theme"]').click();
  assert.equal(await dark.page.getAttribute('html', 'data-theme'), 'dark');
  await seek(dark.page, 2000);
  await dark.page.locator('[data-node="n5"]').click();
  await shot(dark.page, '19-dark-menu');
  assert.deepEqual(dark.errors, []);

  const phone = await openPage(browser, url, '?scenario=raft-leader-isolated', { viewport: { width: 390, height: 844 } });
  await seek(phone.page, 2500);
  const box = await phone.page.locator('#cluster').boundingBox();
  assert.ok(box.width >= 340 && box.height >= 300, `the cluster gets the width of the phone (${box.width}×${box.height})`);
  const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, 'no sideways scrolling');
  await shot(phone.page, '20-phone');
  await phone.page.locator('[data-node="n3"]').tap?.().catch(() => {});
  assert.deepEqual(phone.errors, []);
});
