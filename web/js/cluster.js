// The cluster drawn in SVG: nodes on a circle (role, term, and what the protocol module adds),
// clients in a band apart, a link for every pair, and the messages in flight (messages.js).
// Elements are made once per run and then only their attributes change, so a 9-node cluster
// at full speed stays smooth. Test hooks: data-node/data-role/data-term and data-link/data-state.

import { s, setAttr, setText } from './dom.js';
import { MessageLayer } from './messages.js';
import { clockText, roleText } from './describe.js';

const linkId = (a, b) => `${a}-${b}`;

export class ClusterView {
  constructor(svg, handlers) {
    this.svg = svg;
    this.handlers = handlers;
    this.layers = {};
    // `graph`: what a module draws over the links (the services' call edges and their badges).
    for (const name of ['links', 'graph', 'msgs', 'nodes', 'clients']) {
      this.layers[name] = s('g', { class: name });
      svg.append(this.layers[name]);
    }
    this.messages = new MessageLayer(this.layers.msgs, handlers);
    this.positions = new Map();
    new ResizeObserver(() => this.resize()).observe(svg);
  }

  /** Makes the elements for a new run. */
  setup(session, module, ctx) {
    this.module = module;
    this.ctx = ctx;
    for (const layer of Object.values(this.layers)) layer.replaceChildren();
    this.messages.reset(module);
    this.nodes = new Map();
    this.links = new Map();
    this.clients = new Map();
    const n = session.scenario.nodes;
    const m = session.scenario.clients ?? 0;
    this.nodeIds = Array.from({ length: n }, (_, i) => `n${i + 1}`);
    this.clientIds = Array.from({ length: m }, (_, i) => `c${i + 1}`);
    for (const id of this.nodeIds) this.makeNode(id);
    for (const id of this.clientIds) this.makeClient(id);
    // Client links first, so that where they run close to a link between servers, the
    // server link (drawn later, on top) takes the click.
    const pairs = [];
    for (const c of this.clientIds) for (const b of this.nodeIds) pairs.push([c, b]);
    this.nodeIds.forEach((a, i) => this.nodeIds.slice(i + 1).forEach((b) => pairs.push([a, b])));
    // A module may leave out links that carry nothing in its protocol (the services draw only
    // their call edges); the network still has every link.
    for (const [a, b] of pairs) if (this.module.linkShown?.(a, b, session.scenario) ?? true) this.makeLink(a, b);
    this.graph = this.module.graphExtras?.(this.layers.graph, ctx, this) ?? null;
    this.resize();
  }

  makeNode(id) {
    const g = s('g', { class: 'node', 'data-node': id, 'data-role': 'follower', 'data-term': '0', tabindex: 0, role: 'button' });
    const halo = s('circle', { class: 'group-halo' });
    const body = s('circle', { class: 'body' });
    const name = s('text', { class: 'name', 'text-anchor': 'middle', text: id });
    const term = s('text', { class: 'term', 'text-anchor': 'middle' });
    const pill = s('g', { class: 'pill' }, [s('rect', { rx: 7 }), s('text', { 'text-anchor': 'middle' })]);
    const cross = s('path', { class: 'cross' });
    const tag = s('text', { class: 'group-tag', 'text-anchor': 'middle' });
    // The node's own clock, above its role, when it is not true time (a lease's holder judges
    // expiry by it).
    const clock = s('text', { class: 'clock', 'text-anchor': 'middle', 'data-clock': '' });
    g.append(halo, body, cross, name, term, pill, tag, clock);
    const extras = this.module.nodeExtras(g, this.ctx);
    const open = (e) => { e.preventDefault(); this.handlers.onNode(id, e); };
    g.addEventListener('click', open);
    g.addEventListener('contextmenu', open);
    g.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(e); });
    this.layers.nodes.append(g);
    this.nodes.set(id, { g, halo, body, name, term, pill, cross, tag, clock, extras, view: null });
  }

  makeClient(id) {
    const g = s('g', { class: 'client', 'data-client': id, tabindex: 0, role: 'button' });
    const rect = s('rect', { class: 'body', rx: 8 });
    const label = s('text', { class: 'name', 'text-anchor': 'middle', text: id });
    const busy = s('circle', { class: 'busy', r: 4 });
    const title = s('title');
    const tag = s('text', { class: 'group-tag', 'text-anchor': 'middle', x: -32, y: -12 });
    g.append(rect, label, busy, title, tag);
    const open = (e) => { e.preventDefault(); this.handlers.onClient(id, e); };
    g.addEventListener('click', open);
    g.addEventListener('contextmenu', open);
    g.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(e); });
    this.layers.clients.append(g);
    this.clients.set(id, { g, rect, label, busy, title, tag });
  }

  makeLink(a, b) {
    const id = linkId(a, b);
    const client = a.startsWith('c');
    const g = s('g', { class: client ? 'link client-link' : 'link', 'data-link': id, 'data-state': 'up' });
    const hit = s('line', { class: 'hit' });
    const wire = s('line', { class: 'wire' });
    const mark = s('g', { class: 'mark' }, [s('circle', { r: 9 }), s('path')]);
    const title = s('title');
    g.append(hit, wire, mark, title);
    g.addEventListener('click', (e) => this.handlers.onLink(a, b, e, this.pointNearer(a, b, e)));
    g.addEventListener('contextmenu', (e) => { e.preventDefault(); this.handlers.onLinkMenu(a, b, e); });
    this.layers.links.append(g);
    this.links.set(id, { a, b, g, hit, wire, mark, title, state: 'up', down: null });
  }

  /** Which end of a link the pointer is nearer to: shift-click cuts messages leaving it. */
  pointNearer(a, b, e) {
    const p = this.toSvg(e);
    const pa = this.positions.get(a);
    const pb = this.positions.get(b);
    if (!p || !pa || !pb) return a;
    return Math.hypot(p.x - pa.x, p.y - pa.y) <= Math.hypot(p.x - pb.x, p.y - pb.y) ? a : b;
  }

  toSvg(e) {
    const box = this.svg.getBoundingClientRect();
    return { x: e.clientX - box.left, y: e.clientY - box.top };
  }

  resize() {
    if (!this.nodes) return;
    const box = this.svg.getBoundingClientRect();
    const w = Math.max(280, box.width);
    const hgt = Math.max(260, box.height);
    this.svg.setAttribute('viewBox', `0 0 ${w} ${hgt}`);
    const n = this.nodeIds.length;
    const m = this.clientIds.length;
    const wide = w >= hgt * 1.05;
    const band = m ? (wide ? 96 : 70) : 0;
    const area = wide ? { w: w - band, h: hgt } : { w, h: hgt - band };
    const crowded = n > 5;
    const r = this.module.nodeRadius?.(area, this.ctx?.scenario) ?? Math.round(Math.max(18, Math.min(40, Math.min(area.w, area.h) * (crowded ? 0.062 : 0.08))));
    const cell = Math.max(9, Math.round(r * 0.36));
    const logHalf = ((crowded ? 6 : 8) * (cell + 2)) / 2 + 12;
    // Room under the bottom node for its log strip, or for what the protocol draws there.
    const below = Math.max(r + cell + 18, r + (this.module.belowNode?.(r, crowded) ?? 0));
    const above = r + (this.hasClocks ? 38 : 24);
    const R = Math.max(40, Math.min(area.w / 2 - Math.max(r, logHalf) - 6, (area.h - above - below) / 2 - 4));
    const cx = area.w / 2;
    const cy = above + (area.h - above - below) / 2;
    this.r = r;
    // A module may place the nodes itself (services: layers of a call graph, left to right).
    const placed = this.module.layout?.(this.nodeIds, { w: area.w, h: area.h, r, above, below }, this.ctx?.scenario);
    this.nodeIds.forEach((id, i) => {
      const angle = -Math.PI / 2 + (2 * Math.PI * i) / n;
      const p = placed?.[id] ?? { x: cx + R * Math.cos(angle), y: cy + R * Math.sin(angle) };
      this.positions.set(id, { x: p.x, y: p.y, r });
    });
    this.clientIds.forEach((id, i) => {
      const slot = (i + 1) / (m + 1);
      const p = wide ? { x: w - band / 2, y: hgt * slot } : { x: w * slot, y: hgt - band / 2 };
      this.positions.set(id, { ...p, r: 20 });
    });
    for (const [id, node] of this.nodes) this.placeNode(id, node, crowded);
    for (const [id, c] of this.clients) {
      const p = this.positions.get(id);
      setAttr(c.g, 'transform', `translate(${p.x.toFixed(1)},${p.y.toFixed(1)})`);
      setAttr(c.rect, 'x', -26); setAttr(c.rect, 'y', -16); setAttr(c.rect, 'width', 52); setAttr(c.rect, 'height', 32);
      setAttr(c.label, 'y', 5);
      setAttr(c.busy, 'cx', 20); setAttr(c.busy, 'cy', -12);
    }
    for (const link of this.links.values()) this.placeLink(link);
    this.graph?.layout(this.positions, r);
    this.messages.layout(this.positions, r);
  }

  placeNode(id, node, crowded) {
    const p = this.positions.get(id);
    const r = p.r;
    setAttr(node.g, 'transform', `translate(${p.x.toFixed(1)},${p.y.toFixed(1)})`);
    setAttr(node.body, 'r', r);
    setAttr(node.halo, 'r', r + 11);
    setAttr(node.name, 'y', -r * 0.08);
    setAttr(node.name, 'font-size', Math.round(r * 0.55));
    setAttr(node.term, 'y', r * 0.45);
    setAttr(node.term, 'font-size', Math.max(9, Math.round(r * 0.3)));
    const k = r * 0.62;
    setAttr(node.cross, 'd', `M${-k},${-k}L${k},${k}M${k},${-k}L${-k},${k}`);
    setAttr(node.tag, 'x', -r - 8);
    setAttr(node.tag, 'y', -r + 2);
    const [rect, text] = node.pill.children;
    setAttr(rect, 'y', -r - 22); setAttr(rect, 'height', 15);
    setAttr(text, 'y', -r - 11);
    setAttr(node.clock, 'y', -r - 26);
    node.extras.layout(r, crowded);
    node.pillText = null;
  }

  placeLink(link) {
    const pa = this.positions.get(link.a);
    const pb = this.positions.get(link.b);
    for (const line of [link.hit, link.wire]) {
      setAttr(line, 'x1', pa.x.toFixed(1)); setAttr(line, 'y1', pa.y.toFixed(1));
      setAttr(line, 'x2', pb.x.toFixed(1)); setAttr(line, 'y2', pb.y.toFixed(1));
    }
    link.drawn = null;
    this.drawLink(link);
  }

  /** Cut marks sit off-centre so that marks of links crossing the middle do not pile up. */
  drawLink(link) {
    const key = `${link.state}|${link.down}`;
    if (link.drawn === key) return;
    link.drawn = key;
    setAttr(link.g, 'data-state', link.state);
    if (link.state === 'up') return;
    const [from, to] = link.state === 'oneway' ? link.down : [link.a, link.b];
    const pa = this.positions.get(from);
    const pb = this.positions.get(to);
    const f = link.state === 'oneway' ? 0.5 : 0.42;
    const x = pa.x + (pb.x - pa.x) * f;
    const y = pa.y + (pb.y - pa.y) * f;
    const deg = (Math.atan2(pb.y - pa.y, pb.x - pa.x) * 180) / Math.PI;
    // A cross reads the same at any angle; the one-way arrow turns to point the blocked way.
    const turn = link.state === 'oneway' ? ` rotate(${deg.toFixed(1)})` : '';
    setAttr(link.mark, 'transform', `translate(${x.toFixed(1)},${y.toFixed(1)})${turn}`);
    // Both ways: a cross. One way: an arrow in the blocked direction, stopped by a bar.
    const d = link.state === 'cut' ? 'M-4,-4L4,4M4,-4L-4,4' : 'M-5.5,-4.5L2,0L-5.5,4.5ZM5,-6L5,6';
    setAttr(link.mark.children[1], 'd', d);
  }

  updateLinks(list, t) {
    for (const l of list) {
      const link = this.links.get(linkId(l.a, l.b));
      if (!link) continue;
      const ab = l.a_to_b;
      const ba = l.b_to_a;
      link.state = ab && ba ? 'up' : !ab && !ba ? 'cut' : 'oneway';
      link.down = link.state === 'oneway' ? (ab ? [l.b, l.a] : [l.a, l.b]) : null;
      this.drawLink(link);
      const text = link.state === 'up' ? t('link.up', { a: l.a, b: l.b })
        : link.state === 'cut' ? t('link.cut', { a: l.a, b: l.b })
          : t('link.oneway', { from: link.down[0], to: link.down[1] });
      setText(link.title, `${text} — ${t('link.hint')}`);
    }
  }

  updateNodes(views, timers, now, t) {
    const hasClocks = views.some((v) => v.clock);
    if (hasClocks !== Boolean(this.hasClocks)) {
      this.hasClocks = hasClocks;
      this.resize();
    }
    for (const v of views) {
      const node = this.nodes.get(v.id);
      if (!node) continue;
      node.view = v;
      node.timers = timers?.[v.id];
      setAttr(node.g, 'data-role', v.role);
      setAttr(node.g, 'data-term', v.term);
      // A leaderless protocol (NWR) has no term to show.
      const term = this.module.leaderless ? '' : t(this.module.termKey ?? 'node.term', { term: v.term });
      setText(node.term, term);
      setAttr(node.g, 'aria-label', `${v.id}: ${roleText(v.role)}${term ? `, ${term}` : ''}`);
      const pill = v.role === 'follower' ? '' : roleText(v.role);
      if (node.pillText !== pill) {
        node.pillText = pill;
        const [rect, text] = node.pill.children;
        setText(text, pill);
        const width = pill ? Math.max(34, text.getComputedTextLength() + 14) : 0;
        setAttr(rect, 'x', -width / 2); setAttr(rect, 'width', width);
      }
      const clock = v.clock ? clockText(v.clock) : '';
      if (node.clockText !== clock) {
        node.clockText = clock;
        setText(node.clock, clock);
        setAttr(node.clock, 'data-clock', v.clock ? (v.clock.reading_us / 1000).toFixed(0) : '');
        setAttr(node.clock, 'data-drift', v.clock ? v.clock.drift : '');
      }
      node.extras.update(v, node.timers, now);
    }
    this.graph?.update(views);
  }

  /** Per frame: only what moves with time (timer rings). */
  tick(now) {
    for (const node of this.nodes.values()) if (node.view) node.extras.update(node.view, node.timers, now);
  }

  updateClients(list, t) {
    for (const c of list) {
      const el = this.clients.get(c.id);
      if (!el) continue;
      setAttr(el.busy, 'display', c.busy ? 'inline' : 'none');
      setText(el.title, t(c.busy ? 'client.busy' : 'client.idle', { id: c.id, node: c.guess, queued: c.queued }));
    }
  }

  setSelected(id) {
    for (const [nid, node] of this.nodes) node.g.classList.toggle('selected', nid === id);
  }

  /** Partition tool: colours each node's halo by the group it is being put in. */
  setGroups(groups) {
    for (const [id, node] of [...this.nodes, ...this.clients]) {
      const gi = groups?.get(id);
      if (gi === undefined) node.g.removeAttribute('data-group');
      else node.g.setAttribute('data-group', String(gi));
      node.tag.textContent = gi === undefined ? '' : 'ABC'[gi];
    }
  }
}
