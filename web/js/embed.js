// Embed mode and the host-page API. `?embed` drops the page chrome for an iframe; `controls`
// (none | minimal | full), `autoplay`, `speed`, `t` and `readonly` tune it. The host page talks
// to the playground with `postMessage`: commands in, events out, every message an object with
// `type: "caplab"`. The protocol is documented in the README ("Embedding").

import { SPEEDS } from './controls.js';
import { LinkError } from './share.js';

const CONTROLS = ['none', 'minimal', 'full'];

const flag = (params, name) => {
  if (!params.has(name)) return false;
  const v = params.get(name);
  if (['', '1', 'true', 'yes'].includes(v)) return true;
  if (['0', 'false', 'no'].includes(v)) return false;
  throw new LinkError(`${name}=${v} is neither 1 nor 0`);
};

/** The nearest speed on the slider's scale to a number ("0.05") or a fraction ("1/30"). */
export function parseSpeed(text) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(\d+(?:\.\d+)?))?\s*x?\s*$/i.exec(text);
  const value = m ? Number(m[1]) / (m[2] === undefined ? 1 : Number(m[2])) : NaN;
  if (!(Number.isFinite(value) && value > 0)) throw new LinkError(`speed=${text} is not a speed (try 1, 0.1 or 1/30)`);
  let best = 0;
  SPEEDS.forEach((s, i) => { if (Math.abs(Math.log(s / value)) < Math.abs(Math.log(SPEEDS[best] / value))) best = i; });
  return best;
}

/** Embed options from the query; throws a LinkError for a value that makes no sense. */
export function readEmbedOptions(params) {
  const embed = flag(params, 'embed');
  const controls = params.get('controls') ?? (embed ? 'minimal' : 'full');
  if (!CONTROLS.includes(controls)) throw new LinkError(`controls=${controls}: use none, minimal or full`);
  return {
    embed,
    controls,
    autoplay: flag(params, 'autoplay'),
    readonly: flag(params, 'readonly'),
    speed: params.has('speed') ? parseSpeed(params.get('speed')) : null,
  };
}

/** The layout for the options: classes on <body> that the style sheet reads. */
export function applyLayout(opts) {
  const body = document.body;
  body.classList.toggle('embed', opts.embed);
  body.classList.toggle('readonly', opts.readonly);
  body.dataset.controls = opts.controls;
}

/** The iframe snippet for a run link with embed options. */
export function iframeSnippet(link, { controls, autoplay, readonly, width = 900, height = 560 }) {
  const url = new URL(link);
  url.searchParams.set('embed', '1');
  url.searchParams.set('controls', controls);
  if (autoplay) url.searchParams.set('autoplay', '1');
  if (readonly) url.searchParams.set('readonly', '1');
  const src = url.toString().replace(/&/g, '&amp;').replace(/"/g, '&quot;');
  return `<iframe src="${src}" width="${width}" height="${height}" style="border:1px solid #ccc;border-radius:8px" title="CAPlab" loading="lazy" allow="clipboard-write"></iframe>`;
}

/** The postMessage side of the page: commands from the host, events to it. */
export class HostBridge {
  constructor(app) {
    this.app = app;
    this.host = window.parent !== window ? window.parent : null;
    this.posted = 0; // index in the session's events up to which events were reported
    this.version = -1;
    window.addEventListener('message', (e) => this.receive(e));
  }

  post(event, data = {}) {
    if (this.host) this.host.postMessage({ type: 'caplab', event, ...data }, '*');
  }

  async receive(e) {
    const m = e.data;
    if (!m || typeof m !== 'object' || m.type !== 'caplab' || typeof m.cmd !== 'string') return;
    const reply = (event, data) => (e.source ?? this.host)?.postMessage({ type: 'caplab', event, id: m.id, ...data }, '*');
    const app = this.app;
    try {
      switch (m.cmd) {
        case 'load': {
          const ok = app.load({ name: m.scenario, seed: m.seed ?? null, tour: m.tour });
          if (!ok) throw new Error(document.getElementById('alert').textContent);
          break;
        }
        case 'play': app.play(); break;
        case 'pause': app.pause(); break;
        case 'step': app.step(); break;
        case 'seek':
          if (!(Number.isFinite(m.t) && m.t >= 0)) throw new Error(`seek needs t, a time in milliseconds, not ${JSON.stringify(m.t)}`);
          app.pause();
          app.seek(m.t);
          break;
        case 'speed': app.transport.setSpeed(parseSpeed(String(m.speed)), false); break;
        case 'tour': app.tour.setActive(m.on !== false); break;
        case 'getState': break;
        default: throw new Error(`unknown command “${m.cmd}”; known: load, play, pause, step, seek, speed, tour, getState`);
      }
      reply('state', app.publicState());
    } catch (err) {
      reply('error', { message: err.message ?? String(err) });
    }
  }

  /** Forgets the position in the event list (a new run was installed). */
  reset() {
    this.posted = 0;
    this.version = -1;
  }

  /** Reports what happened since the last frame: leaders elected, invariants violated. Only
   * on the way forwards; a jump back reports nothing. */
  scan(session) {
    const end = session.eventsUpTo(session.steps);
    if (this.version !== session.version || end < this.posted) {
      this.version = session.version;
      this.posted = end;
      return;
    }
    let sent = 0;
    for (let i = this.posted; i < end && sent < 50; i++) {
      const e = session.events[i];
      const at = e.at_us / 1000;
      if (e.type === 'state_changed' && e.role === 'leader') { this.post('leader', { node: e.node, term: e.term, at_ms: at }); sent++; }
      if (e.type === 'violation') { this.post('violation', { invariant: e.invariant, detail: e.detail, at_ms: at }); sent++; }
    }
    this.posted = end;
  }
}
