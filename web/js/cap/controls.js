// The CAP lab's controls: one set of faults that acts on every side at once (isolate a node,
// split the servers into a minority and a majority with each client beside the node it asks
// first, cut every client off from the majority, heal; when every side has a leader, crash each
// side's own leader and restart what is crashed), and the live settings of each NWR side (N, W,
// R, strict or sloppy), applied as a `configure` action on that side only.

import { $, h, setText } from '../dom.js';
import { t } from '../i18n.js';

/** Node ids n1..nN and client ids c1..cM; client ci asks n((i-1) mod N + 1) first. */
function actors(scenario) {
  const nodes = Array.from({ length: scenario.nodes }, (_, i) => `n${i + 1}`);
  const clients = Array.from({ length: scenario.clients ?? 0 }, (_, i) => `c${i + 1}`);
  return { nodes, clients, home: (c) => nodes[(Number(c.slice(1)) - 1) % nodes.length] };
}

/** Each client's first node: {c1: 'n1', ...}. */
export function clientHomes(scenario) {
  const { clients, home } = actors(scenario);
  return Object.fromEntries(clients.map((c) => [c, home(c)]));
}

/** A minority | majority split of the servers, each client with its first node, except that
 * with two clients or more each side keeps at least one (the last client moves over). */
export function splitGroups(scenario) {
  const { nodes, clients, home } = actors(scenario);
  const cut = Math.floor(nodes.length / 2);
  const minority = nodes.slice(0, cut);
  const majority = nodes.slice(cut);
  const low = clients.filter((c) => minority.includes(home(c)));
  const high = clients.filter((c) => majority.includes(home(c)));
  if (clients.length >= 2 && !high.length) high.push(low.pop());
  if (clients.length >= 2 && !low.length) low.push(high.shift());
  return [[...minority, ...low], [...majority, ...high]];
}

/** Every client with the minority of the servers, cut off from the majority. */
export function clientsCutGroups(scenario) {
  const { nodes, clients } = actors(scenario);
  const cut = Math.floor(nodes.length / 2);
  return [[...nodes.slice(0, cut), ...clients], nodes.slice(cut)];
}

export class Controls {
  constructor(root, { act }) {
    this.root = root;
    this.act = act;
    this.isolate = $('#isolate-select', root);
    this.isolate.addEventListener('change', () => {
      const node = this.isolate.value;
      this.isolate.value = '';
      if (node) this.act({ action: 'isolate', node });
    });
    $('[data-action="cap-split"]', root).addEventListener('click', () => this.act({ action: 'partition', groups: splitGroups(this.scenario) }));
    $('[data-action="cap-cut-clients"]', root).addEventListener('click', () => this.act({ action: 'partition', groups: clientsCutGroups(this.scenario) }));
    $('[data-action="cap-heal"]', root).addEventListener('click', () => this.act({ action: 'heal' }));
    this.leaderTools = $('.leader-tools', root);
    // "leader" is resolved by each side to the node that leads there.
    $('[data-action="cap-crash-leader"]', root).addEventListener('click', () => this.act({ action: 'crash', node: 'leader' }));
    $('[data-action="cap-restart"]', root).addEventListener('click', () => this.restartCrashed());
    this.settings = $('#settings', root);
  }

  /** Restarts each side's crashed nodes (sides may have lost different nodes: one action per
   * side and node). */
  restartCrashed() {
    let any = false;
    this.sessions.forEach((s, i) => {
      for (const v of JSON.parse(s.pg.nodes())) {
        if (v.role === 'crashed') { any = true; this.act({ action: 'restart', node: v.id }, i); }
      }
    });
    if (!any) this.act(null);
  }

  setup(scenario, sessions, { leaders = false } = {}) {
    this.scenario = scenario;
    this.sessions = sessions;
    this.leaderTools.hidden = !leaders;
    this.settingsKey = null;
    this.relabel();
  }

  relabel() {
    if (!this.scenario) return;
    const { nodes } = actors(this.scenario);
    this.isolate.replaceChildren(h('option', { value: '', text: t('cap.isolatePick') }), ...nodes.map((n) => h('option', { value: n, text: n })));
    const [a, b] = splitGroups(this.scenario);
    const servers = (g) => g.filter((x) => x.startsWith('n')).length;
    setText($('#split-label'), t('cap.split', { a: servers(a), b: servers(b) }));
    setText($('#settings-label'), '');
    this.settingsKey = null;
    if (this.sessions) this.render(this.sessions);
  }

  /** The settings a side runs with now: its scenario's params and every configure since. */
  current(session) {
    const params = { ...(session.scenario.params ?? {}) };
    for (const a of JSON.parse(session.pg.actions())) {
      if (a.action === 'configure') Object.assign(params, a.params);
    }
    return params;
  }

  render(sessions) {
    const sides = sessions.map((s, i) => ({ s, i })).filter(({ s }) => s.protocol === 'nwr');
    const now = sides.map(({ s, i }) => [i, this.current(s)]);
    const key = JSON.stringify(now) + t('cap.settingsFor', { side: '' });
    if (key === this.settingsKey) return;
    this.settingsKey = key;
    setText($('#settings-label'), sides.length ? t('cap.settings') : '');
    const nodes = this.scenario.nodes;
    const groups = now.map(([i, p]) => {
      const side = this.scenario.compare[i];
      const select = (name, options, value) => {
        const el = h('select', { 'data-setting': name, 'data-side': i, 'aria-label': `${side.name} ${name.toUpperCase()}` },
          options.map((o) => h('option', { value: o, text: name === 'mode' ? t(`cap.mode.${o}`) : String(o) })));
        el.value = String(value);
        el.addEventListener('change', () => {
          const v = name === 'mode' ? el.value : Number(el.value);
          if (!this.act({ action: 'configure', params: { [name]: v } }, i)) el.value = String(value);
        });
        return h('label', { class: 'setting' }, [h('span', { text: name === 'mode' ? t('cap.modeLabel') : name.toUpperCase() }), el]);
      };
      const n = p.n ?? 3;
      const range = (hi) => Array.from({ length: hi }, (_, k) => k + 1);
      return h('span', { class: 'setting-group', 'data-side': i }, [
        h('span', { class: 'setting-side', text: t('cap.settingsFor', { side: side.name }) }),
        select('n', range(nodes), n), select('w', range(n), p.w ?? 2), select('r', range(n), p.r ?? 2),
        select('mode', ['strict', 'sloppy'], p.mode ?? 'strict'),
        h('span', { class: `overlap ${(p.w ?? 2) + (p.r ?? 2) > n ? 'yes' : 'no'}`, text: (p.w ?? 2) + (p.r ?? 2) > n ? 'W + R > N' : 'W + R ≤ N' }),
      ]);
    });
    this.settings.replaceChildren(...groups);
  }
}
