// Runs a scenario to its end in wasm and shows the result; replaced by the playground.
import init, { Playground } from './pkg/caplab.js';

const params = new URLSearchParams(location.search);

try {
  await init();
  const pg = new Playground(params.get('scenario') ?? 'raft-election');
  pg.runUntil(pg.durationMs());
  document.querySelector('[data-testid="clock"]').textContent = String(pg.nowMs());
  document.querySelector('[data-testid="trace-hash"]').textContent = pg.traceHash();
  const box = document.getElementById('nodes');
  for (const n of JSON.parse(pg.nodes())) {
    const el = document.createElement('div');
    el.className = 'node';
    el.dataset.node = n.id;
    el.dataset.role = n.role;
    el.dataset.term = String(n.term);
    el.textContent = `${n.id} ${n.role} t${n.term}`;
    box.append(el);
  }
} catch (e) {
  document.getElementById('error').textContent = String(e?.message ?? e);
}
