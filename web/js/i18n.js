// The interface's languages: one message table per language (web/i18n/*.js), the current
// language, and the translation of static markup marked with data-i18n attributes. Scenario
// texts may be plain strings or {en, zh} objects; `pick` chooses the right one.

import en from '../i18n/en.js';
import zh from '../i18n/zh.js';

export const TABLES = { en, zh };
export const LANGS = Object.keys(TABLES);

let current = 'en';
const listeners = [];

/** ?lang= wins, then a saved choice, then the browser's languages. */
export function detectLang(params) {
  const asked = params.get('lang');
  if (asked && TABLES[asked]) return asked;
  const saved = globalThis.localStorage?.getItem('caplab.lang');
  if (saved && TABLES[saved]) return saved;
  for (const l of navigator.languages ?? [navigator.language]) {
    const base = String(l).toLowerCase().split('-')[0];
    if (TABLES[base]) return base;
  }
  return 'en';
}

export function lang() {
  return current;
}

export function setLang(next) {
  if (!TABLES[next]) return;
  current = next;
  document.documentElement.lang = next === 'zh' ? 'zh-CN' : 'en';
  try { localStorage.setItem('caplab.lang', next); } catch { /* private mode: not remembered */ }
  translateTree(document);
  for (const fn of listeners) fn(next);
}

export function onLangChange(fn) {
  listeners.push(fn);
}

/** The message `key` in the current language (or `inLang`), with {name} placeholders filled
 * from `vars`. */
export function t(key, vars, inLang = current) {
  let text = (TABLES[inLang] ?? TABLES[current])[key] ?? TABLES.en[key];
  if (text === undefined) {
    console.error(`CAPlab: no message for "${key}"`);
    text = `⟦${key}⟧`;
  }
  return vars ? text.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : text;
}

export function has(key) {
  return key in TABLES[current] || key in TABLES.en;
}

/** A scenario text: a plain string, or {en, zh} with English as the fallback. */
export function pick(text) {
  if (text === null || text === undefined) return '';
  if (typeof text === 'string') return text;
  return text[current] ?? text.en ?? '';
}

const ATTRS = [['data-i18n-title', 'title'], ['data-i18n-aria-label', 'aria-label'], ['data-i18n-placeholder', 'placeholder']];

export function translateTree(root) {
  for (const node of root.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  for (const [data, attr] of ATTRS) {
    for (const node of root.querySelectorAll(`[${data}]`)) node.setAttribute(attr, t(node.getAttribute(data)));
  }
}
