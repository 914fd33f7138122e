// Share links: the whole run in one URL. A run is {scenario by name or inline, seed, cluster
// size, the user's actions with their virtual times, the time to stop at}; it travels as
// `?run=` + URL-safe base64 of [format byte, FNV-1a 32-bit checksum of the JSON, deflate-raw of
// the JSON]. The checksum makes a truncated or altered link fail loudly instead of replaying
// something else. Hand-written links use the plain parameters (`?scenario=...&seed=...&t=...`).
// Every failure is a LinkError whose message says what was wrong, for the alert.

export const RUN_FORMAT = 1;
/** Links longer than this are refused before any decoding. */
export const MAX_LINK = 64 * 1024;
/** A run decompressing to more than this is refused (a link is not a place for megabytes). */
const MAX_JSON = 1024 * 1024;
/** Replaying each action costs a copy of the simulation: a link holds at most this many. */
export const MAX_ACTIONS = 2000;
/** Replaying a link may run at most this many events (a few seconds in the page); beyond, the
 * link is refused rather than freezing the page. Deterministic, unlike a wall-clock limit. */
export const MAX_REPLAY_STEPS = 150000;

/** Every query parameter a link may carry; anything else is an error (a hand-edited typo). */
export const KNOWN_PARAMS = ['scenario', 'seed', 'nodes', 'lang', 'run', 't', 'tour', 'embed', 'controls', 'autoplay', 'speed', 'readonly'];
/** Parameters that sites and mail add to links on their way (tracking); they are ignored. */
const FOREIGN = /^(utm_\w+|fbclid|gclid|msclkid|mc_cid|mc_eid|ref|ref_src)$/;

export class LinkError extends Error {}

function fnv32(bytes) {
  let h = 0x811c9dc5;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function toBase64Url(bytes) {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) {
    const bad = text.match(/[^A-Za-z0-9_-]/)[0];
    throw new LinkError(`the run in this link contains “${bad}”, which a link made by CAPlab never has: it was altered`);
  }
  if (text.length % 4 === 1) throw new LinkError('the run in this link is cut short (its length is impossible): copy the whole link');
  const padded = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  let bin;
  try {
    bin = atob(padded);
  } catch {
    throw new LinkError('the run in this link is not valid base64');
  }
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

async function pipe(bytes, stream) {
  const out = new Blob([bytes]).stream().pipeThrough(stream);
  const reader = out.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > MAX_JSON) {
      await reader.cancel();
      throw new LinkError(`the run in this link unpacks to more than ${MAX_JSON / 1024} KB: refused`);
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) { all.set(c, at); at += c.length; }
  return all;
}

/** A run object to the text of a `run=` parameter. */
export async function encodeRun(run) {
  const json = new TextEncoder().encode(JSON.stringify(run));
  const packed = await pipe(json, new CompressionStream('deflate-raw'));
  const bytes = new Uint8Array(5 + packed.length);
  bytes[0] = RUN_FORMAT;
  new DataView(bytes.buffer).setUint32(1, fnv32(json));
  bytes.set(packed, 5);
  return toBase64Url(bytes);
}

/** The text of a `run=` parameter back to a run object; a LinkError says what was wrong. */
export async function decodeRun(text) {
  if (!text) throw new LinkError('the link’s run= is empty');
  const bytes = fromBase64Url(text);
  if (bytes.length < 6) throw new LinkError('the run in this link is cut short: copy the whole link');
  if (bytes[0] !== RUN_FORMAT) {
    throw new LinkError(`this link’s run is in format ${bytes[0]}, and this CAPlab reads format ${RUN_FORMAT}`);
  }
  const expected = new DataView(bytes.buffer).getUint32(1);
  let json;
  try {
    json = await pipe(bytes.subarray(5), new DecompressionStream('deflate-raw'));
  } catch (e) {
    if (e instanceof LinkError) throw e;
    throw new LinkError('the run in this link cannot be unpacked: it is cut short or altered');
  }
  if (fnv32(json) !== expected) throw new LinkError('the run in this link does not match its checksum: it is cut short or altered');
  let run;
  try {
    run = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch {
    throw new LinkError('the run in this link is not valid JSON');
  }
  return checkRun(run);
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The shape of a run, checked field by field (the simulator checks the actions themselves). */
export function checkRun(run) {
  if (!isObject(run)) throw new LinkError('the run in this link is not an object');
  const known = ['v', 's', 'sc', 'seed', 'n', 'a', 't'];
  const extra = Object.keys(run).filter((k) => !known.includes(k));
  if (extra.length) throw new LinkError(`the run in this link has unknown fields: ${extra.join(', ')}`);
  if (run.v !== RUN_FORMAT) throw new LinkError(`the run’s format is ${JSON.stringify(run.v)}, not ${RUN_FORMAT}`);
  if ((run.s === undefined) === (run.sc === undefined)) throw new LinkError('the run must name a scenario (s) or carry one (sc), and not both');
  if (run.s !== undefined && typeof run.s !== 'string') throw new LinkError('the run’s scenario name is not text');
  if (run.sc !== undefined && !isObject(run.sc)) throw new LinkError('the run’s inline scenario is not an object');
  if (run.seed !== undefined && !(Number.isSafeInteger(run.seed) && run.seed >= 0)) throw new LinkError(`the run’s seed ${JSON.stringify(run.seed)} is not a whole number`);
  if (run.n !== undefined && !Number.isInteger(run.n)) throw new LinkError(`the run’s cluster size ${JSON.stringify(run.n)} is not a whole number`);
  if (run.t !== undefined && !(Number.isFinite(run.t) && run.t >= 0)) throw new LinkError(`the run’s time ${JSON.stringify(run.t)} is not a time`);
  const actions = run.a ?? [];
  if (!Array.isArray(actions)) throw new LinkError('the run’s actions are not a list');
  if (actions.length > MAX_ACTIONS) throw new LinkError(`the run has ${actions.length} actions; a link holds at most ${MAX_ACTIONS}`);
  let last = 0;
  actions.forEach((entry, i) => {
    // A third element, 0, 1 or 2, marks an action the CAP lab applied to one of its sides only.
    const sided = entry?.length === 3 && [0, 1, 2].includes(entry[2]);
    if (!Array.isArray(entry) || (entry.length !== 2 && !sided) || !Number.isSafeInteger(entry[0]) || entry[0] < 0 || !isObject(entry[1])) {
      throw new LinkError(`action ${i + 1} in this link is not [time in µs, action]`);
    }
    if (entry[0] < last) throw new LinkError(`action ${i + 1} in this link is earlier than the one before it`);
    last = entry[0];
  });
  return { ...run, a: actions };
}

/** Reads the page's query parameters into what to load; throws a LinkError when they are bad. */
export async function readLink(href, params) {
  if (href.length > MAX_LINK) throw new LinkError(`this link is ${href.length} characters long; links over ${MAX_LINK / 1024} KB are refused`);
  const unknown = [...params.keys()].filter((k) => !KNOWN_PARAMS.includes(k) && !FOREIGN.test(k));
  if (unknown.length) throw new LinkError(`the link has parameters CAPlab does not know: ${unknown.map((k) => `“${k}”`).join(', ')}`);
  for (const k of KNOWN_PARAMS) if (params.getAll(k).length > 1) throw new LinkError(`the link gives “${k}” more than once`);
  const t = params.has('t') ? Number(params.get('t')) : undefined;
  if (params.has('t') && !(params.get('t').trim() !== '' && Number.isFinite(t) && t >= 0)) {
    throw new LinkError(`t=${params.get('t')} is not a time in milliseconds`);
  }
  if (params.has('run')) {
    if (params.has('scenario') || params.has('seed') || params.has('nodes')) {
      throw new LinkError('the link carries a whole run (run=) and also scenario, seed or nodes: it was edited by hand');
    }
    const run = await decodeRun(params.get('run'));
    if (t !== undefined) run.t = t;
    return run;
  }
  return null;
}
