// Protocol modules keyed by the protocol's name in the scenario ("raft", ...). A module draws
// what is particular to its protocol; whatever hook it leaves out comes from the generic one,
// so a new protocol works on the page at once and looks better as soon as it adds a module.
// To add one: write protocols/NAME.js exporting any of the hooks in generic.js, list it here.

import generic from './generic.js';
import raft from './raft.js';
import nwr from './nwr.js';
import commit from './commit.js';
import paxos from './paxos.js';
import multipaxos from './multipaxos.js';
import zab from './zab.js';
import gossip from './gossip.js';
import swim from './swim.js';
import lease from './lease.js';
import ha from './ha.js';
import services from './services.js';

const MODULES = { raft, nwr, twopc: commit, threepc: commit, saga: commit, paxos, multipaxos, zab, gossip, swim, lease, ha, services };

export function protocolModule(name) {
  return { ...generic, ...(MODULES[name] ?? {}), name };
}
