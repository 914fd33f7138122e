// The partition tool above the cluster: presets (isolate the leader; split into a majority and
// a minority that holds the leader), free grouping (click nodes and clients to put them in
// groups A, B, C, then apply), and "heal all". Everything ends as one action for the simulator.

import { $ } from './dom.js';

const GROUPS = 3;

export class PartitionTool {
  constructor(root, { act, cluster, nodes, onMode }) {
    this.root = root;
    this.act = act;
    this.cluster = cluster;
    this.nodes = nodes; // () => current node views
    this.onMode = onMode;
    this.groups = null; // Map actor → group index while grouping
    $('[data-action="isolate-leader"]', root).addEventListener('click', () => this.act({ action: 'isolate', node: 'leader' }));
    $('[data-action="split"]', root).addEventListener('click', () => this.split());
    $('[data-action="heal"]', root).addEventListener('click', () => this.act({ action: 'heal' }));
    $('[data-action="group"]', root).addEventListener('click', () => this.startGrouping());
    $('[data-action="group-apply"]', root).addEventListener('click', () => this.applyGroups());
    $('[data-action="group-cancel"]', root).addEventListener('click', () => this.stopGrouping());
  }

  get grouping() { return this.groups !== null; }

  /** The leader (or n1) and the fewest others it takes to be a minority; the rest are a majority. */
  split() {
    const views = this.nodes();
    const ids = views.map((v) => v.id);
    const leader = views.find((v) => v.role === 'leader')?.id ?? ids[0];
    const start = ids.indexOf(leader);
    const ring = ids.slice(start).concat(ids.slice(0, start));
    const minority = ring.slice(0, Math.floor((ids.length - 1) / 2));
    const majority = ring.slice(minority.length);
    this.act({ action: 'partition', groups: [minority, majority] });
  }

  startGrouping() {
    this.groups = new Map();
    this.root.dataset.mode = 'grouping';
    this.cluster.setGroups(this.groups);
    this.onMode(true);
  }

  stopGrouping() {
    this.groups = null;
    delete this.root.dataset.mode;
    this.cluster.setGroups(null);
    this.onMode(false);
  }

  /** In grouping mode a click moves an actor to the next group (A → B → C → none). */
  cycle(id) {
    const now = this.groups.get(id);
    const next = now === undefined ? 0 : now + 1;
    if (next >= GROUPS) this.groups.delete(id);
    else this.groups.set(id, next);
    this.cluster.setGroups(this.groups);
  }

  applyGroups() {
    const groups = Array.from({ length: GROUPS }, () => []);
    for (const [id, g] of this.groups) groups[g].push(id);
    const nonEmpty = groups.filter((g) => g.length);
    if (this.act({ action: 'partition', groups: nonEmpty })) this.stopGrouping();
  }
}
