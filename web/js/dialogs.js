// The page's dialogs: the scenario library, share and embed, editing a scenario's JSON, and
// scenario files (export as a download, import from disk or by drag and drop). Each works
// through the App; errors go to the page's one alert, and a refused file or edit leaves the
// running simulation as it was.

import { $, h } from './dom.js';
import { has, pick, t } from './i18n.js';
import { iframeSnippet } from './embed.js';

const MAX_FILE = 1024 * 1024;

/** Opens and closes an overlay, giving focus back where it was. */
export function showOverlay(el, show = true) {
  if (show) {
    el.returnFocus = document.activeElement;
    el.hidden = false;
    (el.querySelector('[autofocus]') ?? el.querySelector('button, a, input, textarea, select'))?.focus();
  } else if (!el.hidden) {
    el.hidden = true;
    el.returnFocus?.focus?.({ preventScroll: true });
  }
}

export function wireOverlay(el) {
  el.addEventListener('click', (e) => { if (e.target === el) showOverlay(el, false); });
  for (const b of el.querySelectorAll('[data-action="close-dialog"]')) b.addEventListener('click', () => showOverlay(el, false));
}

/** The library: every built-in scenario, grouped by topic, with its description. */
export function fillLibrary(root, scenarios, current, onPick) {
  const topics = new Map();
  for (const sc of scenarios) {
    const topic = sc.topic ?? 'other';
    if (!topics.has(topic)) topics.set(topic, []);
    topics.get(topic).push(sc);
  }
  root.replaceChildren();
  for (const [topic, list] of topics) {
    root.append(h('h3', { text: has(`topic.${topic}`) ? t(`topic.${topic}`) : topic }));
    const grid = h('div', { class: 'library-grid' });
    for (const sc of list) {
      const tags = [t('lib.nodes', { n: sc.nodes })];
      if (sc.tour) tags.unshift(t('lib.tour', { n: sc.steps }));
      // A comparison of two systems opens in the CAP lab, which shows both sides.
      const compare = sc.sides?.length === 2;
      if (compare) tags.unshift(t('lib.compare'));
      grid.append(h('button', {
        type: 'button', class: `library-card${sc.name === current ? ' current' : ''}`, 'data-scenario': sc.name,
        'data-compare': compare ? '' : null,
        onclick: () => (compare ? location.assign(`./cap.html?scenario=${encodeURIComponent(sc.name)}`) : onPick(sc.name)),
      }, [
        h('span', { class: 'library-title', text: pick(sc.title) || sc.name }),
        h('span', { class: 'library-desc', text: pick(sc.description) }),
        h('span', { class: 'library-tags' }, [...tags.map((x) => h('span', { class: 'tag', text: x })), h('code', { text: sc.name })]),
      ]));
    }
    root.append(grid);
  }
}

/** The scenario file for the current run: the user's actions become timeline entries. */
export function exportScenario(session, hash) {
  const sc = structuredClone(session.scenario);
  const timeline = sc.timeline ?? [];
  const us = (ms) => Math.round(ms * 1000); // as the simulator orders times
  for (const { at_us: atUs, action } of session.userActions()) {
    const entry = { at_ms: atUs / 1000, ...action };
    // After every entry at the same time: the page applied the action once all of them had run.
    let i = timeline.length;
    while (i > 0 && us(timeline[i - 1].at_ms) > atUs) i--;
    timeline.splice(i, 0, entry);
  }
  const now = session.now;
  const last = timeline.length ? timeline.at(-1).at_ms : 0;
  sc.timeline = timeline;
  sc.seed = session.seed;
  const end = Math.max(sc.duration_ms, Math.ceil(last), Math.ceil(now));
  if (end > sc.duration_ms) {
    // The clients' workload stops at the original end, as it did on the page.
    if (sc.workload && sc.workload.stop_ms == null) sc.workload.stop_ms = sc.duration_ms;
    sc.duration_ms = end;
  }
  // The expectations described the original script; the user's actions may well change it.
  sc.expect = [];
  const line = (lang) => t('file.exportedNote', { ms: now, hash }, lang);
  const desc = sc.description;
  sc.description = desc && typeof desc === 'object'
    ? { en: `${desc.en ?? ''} ${line('en')}`.trim(), zh: `${desc.zh ?? ''} ${line('zh')}`.trim() }
    : `${desc ?? ''} ${line('en')}`.trim();
  return sc;
}

export function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Reads a dropped or chosen file as text; rejects with a sentence when it cannot. */
export async function readScenarioFile(file) {
  if (file.size > MAX_FILE) throw new Error(t('err.fileSize', { name: file.name, kb: Math.round(file.size / 1024), max: MAX_FILE / 1024 }));
  const text = await file.text();
  if (!text.trim().startsWith('{')) throw new Error(t('err.fileNotJson', { name: file.name }));
  return text;
}

/** Drag and drop of scenario files anywhere on the page. */
export function installDrop(onFile) {
  let depth = 0;
  const hasFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes('Files');
  document.addEventListener('dragenter', (e) => { if (hasFiles(e)) { depth++; document.body.classList.add('dropping'); } });
  document.addEventListener('dragleave', () => { if (--depth <= 0) { depth = 0; document.body.classList.remove('dropping'); } });
  document.addEventListener('dragover', (e) => { if (hasFiles(e)) e.preventDefault(); });
  document.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    document.body.classList.remove('dropping');
    const file = e.dataTransfer.files[0];
    if (file) onFile(file);
  });
}

/** The share dialog's contents for a link. */
export function fillShare(link, info, embedOpts) {
  const a = $('[data-testid="share-url"]');
  a.textContent = link;
  a.href = link;
  $('#share-info').textContent = info;
  $('[data-testid="embed-snippet"]').value = iframeSnippet(link, embedOpts);
}
