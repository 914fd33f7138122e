// Choosing the run: the scenario picker (grouped by topic), the cluster size, and the seed.
// A size other than the scenario's own is made by editing its JSON; timeline actions and
// expectations that name a node which no longer exists are left out, and the page says which.

import { h } from './dom.js';
import { has, t, pick } from './i18n.js';

export const MIN_NODES = 3;
export const MAX_NODES = 9;

export function fillPicker(select, scenarios, current) {
  select.replaceChildren();
  const topics = new Map();
  for (const sc of scenarios) {
    const topic = sc.topic ?? 'other';
    if (!topics.has(topic)) topics.set(topic, []);
    topics.get(topic).push(sc);
  }
  for (const [topic, list] of topics) {
    const group = h('optgroup', { label: has(`topic.${topic}`) ? t(`topic.${topic}`) : topic });
    for (const sc of list) group.append(h('option', { value: sc.name, text: pick(sc.title) || sc.name }));
    select.append(group);
  }
  select.value = current;
}

export function fillSizes(select, current) {
  select.replaceChildren();
  const sizes = new Set([current]);
  for (let n = MIN_NODES; n <= MAX_NODES; n++) sizes.add(n);
  for (const n of [...sizes].sort((a, b) => a - b)) select.append(h('option', { value: String(n), text: String(n) }));
  select.value = String(current);
}

const nodeNumber = (id) => (typeof id === 'string' && /^n\d+$/.test(id) ? Number(id.slice(1)) : 0);

/** Every node id mentioned anywhere in a value (actions, expectations). */
function mentionedNodes(value, out = []) {
  if (typeof value === 'string') { if (nodeNumber(value)) out.push(value); }
  else if (Array.isArray(value)) value.forEach((v) => mentionedNodes(v, out));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) if (k !== 'text') mentionedNodes(v, out);
  }
  return out;
}

/** The scenario with `n` nodes, and the timeline actions left out because they name a node
 * that is gone. */
export function resizeScenario(scenario, n) {
  const copy = structuredClone(scenario);
  copy.nodes = n;
  const removed = [];
  copy.timeline = (copy.timeline ?? []).filter((entry) => {
    const missing = mentionedNodes(entry).filter((id) => nodeNumber(id) > n);
    if (missing.length) removed.push({ entry, missing: [...new Set(missing)] });
    return missing.length === 0;
  });
  copy.expect = (copy.expect ?? []).filter((e) => mentionedNodes(e).every((id) => nodeNumber(id) <= n));
  return { json: JSON.stringify(copy), removed };
}

/** A seed typed by a person: a whole number from 0 to 2^53-1, or null. */
export function parseSeed(text) {
  const s = String(text ?? '').trim();
  if (!/^\d{1,16}$/.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}

export function randomSeed() {
  const a = new Uint32Array(1);
  crypto.getRandomValues(a);
  return a[0];
}
