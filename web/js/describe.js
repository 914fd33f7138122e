// Sentences for people from trace events and actions, in the current language: used by the
// event log, the caption and the messages shown after an action.

import { has, t, pick } from './i18n.js';

export const fmtUs = (us) => (us / 1000).toFixed(3);

// A protocol may call a role by its own name: HA's primary has the engine's role `leader`
// (so that leader changes are tracked) but is a primary to the reader (`roleAliases` in its
// module, set when the module loads).
let roleAliases = {};
export function setRoleAliases(map) { roleAliases = map ?? {}; }
/** The role's name for the reader, in the current language. */
export function roleText(role) { return t(`role.${roleAliases[role] ?? role}`); }

/** An action ({"action":"crash","node":"n2"}) as a short sentence. */
export function describeAction(a) {
  switch (a.action) {
    case 'partition': return t('act.partition', { groups: a.groups.map((g) => `{${g.join(', ')}}`).join(' | ') });
    case 'cut':
    case 'restore':
      return t(`act.${a.action}${a.oneway ? 'Oneway' : ''}`, { from: a.from, to: a.to });
    case 'request':
      return t('act.request', { client: a.client, op: opText(a), node: a.node ?? t('act.itsLeader') });
    case 'network':
      return t('act.network', { detail: JSON.stringify({ latency_ms: a.latency_ms, drop: a.drop, duplicate: a.duplicate }) });
    case 'note': return pick(a.text);
    case 'drop': return t('act.drop', { message: a.message });
    case 'pause':
      if (a.ms == null) return plain(a);
      return t('act.pauseFor', { node: nodeName(a), s: a.ms / 1000 });
    case 'clock': {
      const parts = [];
      if (a.offset_ms != null) parts.push(t('act.clockOffset', { offset: signed(a.offset_ms / 1000, 3) }));
      if (a.drift != null) parts.push(t('act.clockDrift', { drift: signed(a.drift * 100, 0) }));
      return t('act.clock', { node: nodeName(a), detail: parts.join(', ') });
    }
    case 'configure': {
      // Services: {"calls": {"api->db": {"breaker": {...}, "retry": null}}} → "api->db: breaker, retry=off".
      const graph = ['services', 'calls'].filter((k) => a.params?.[k] && typeof a.params[k] === 'object');
      if (graph.length) {
        const field = ([f, x]) => (x === null ? `${f}=off` : typeof x === 'object' && !Array.isArray(x) ? f : `${f}=${JSON.stringify(x)}`);
        const parts = graph.flatMap((k) => Object.entries(a.params[k]).map(([n, v]) => `${n}: ${Object.entries(v ?? {}).map(field).join(', ')}`));
        return t('act.configure', { detail: parts.join('; ') });
      }
      // {"w": 3, "mode": "strict"} → "w=3, mode=strict"
      const detail = Object.entries(a.params ?? {}).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ');
      return t('act.configure', { detail });
    }
    default: return plain(a);
  }
}

const nodeName = (a) => (a.node === 'leader' ? t('act.theLeader') : a.node);

function plain(a) {
  // An action this page does not know (from a hand-edited link) is named as it came.
  if (!has(`act.${a.action}`)) return String(a.action);
  return t(`act.${a.action}`, { node: nodeName(a) });
}

/** +1.5 / −0.25: a number with its sign, for clock offsets and drifts. */
export function signed(x, digits) {
  const v = Number(x.toFixed(digits));
  return `${v > 0 ? '+' : v < 0 ? '−' : '±'}${Math.abs(v).toFixed(digits)}`;
}

/** What a node's clock says, above the node: "clock 12.35 s · +20 %". */
export function clockText(c) {
  const drift = Math.round(c.drift * 100);
  const parts = [t('clock.reading', { s: (c.reading_us / 1e6).toFixed(2) })];
  if (drift) parts.push(t('clock.drift', { drift: signed(drift, 0) }));
  if (Math.abs(c.offset_us) >= 1000) parts.push(t('clock.offset', { offset: signed(c.offset_us / 1e6, 2) }));
  return parts.join(' · ');
}

/** The actors an event concerns, for the event log's node filter. */
export function actorsOf(e) {
  switch (e.type) {
    case 'sent': case 'delivered': case 'dropped': return [e.from, e.to];
    case 'held': return [e.to];
    case 'timer_fired': case 'state_changed': return [e.node];
    case 'op_invoked': case 'op_retried': return [e.client, e.node];
    case 'op_returned': return [e.client];
    case 'note': return e.node ? [e.node] : [];
    case 'fault': case 'skipped': return [e.node, e.from, e.to, e.client, ...(e.groups ?? []).flat()].filter(Boolean);
    default: return [];
  }
}

/** Which filter group an event belongs to. */
export function kindOf(e) {
  switch (e.type) {
    case 'sent': case 'delivered': case 'dropped': case 'held': return 'messages';
    case 'timer_fired': return 'timers';
    case 'state_changed': return 'roles';
    case 'op_invoked': case 'op_retried': case 'op_returned': return 'clients';
    case 'fault': case 'skipped': case 'note': return e.type === 'fault' && e.action === 'note' ? 'notes' : e.type === 'note' ? 'notes' : 'faults';
    case 'violation': return 'violations';
    default: return 'other';
  }
}

function timerName(timer) {
  return typeof timer === 'string' ? timer : JSON.stringify(timer);
}

/** One event as a sentence; null for events the log does not show. */
export function describeEvent(e) {
  switch (e.type) {
    case 'sent':
      return e.deliver_us === null
        ? t('ev.sentLost', { from: e.from, to: e.to, label: e.label })
        : t('ev.sent', { from: e.from, to: e.to, label: e.label });
    case 'delivered': return t('ev.delivered', { from: e.from, to: e.to, label: e.label });
    case 'dropped': return t('ev.dropped', { from: e.from, to: e.to, label: e.label, reason: t(`drop.${e.reason}`) });
    case 'held': return t('ev.held', { to: e.to, label: e.label });
    case 'timer_fired': return t('ev.timer', { node: e.node, timer: timerName(e.timer) });
    case 'state_changed': return t('ev.state', { node: e.node, role: roleText(e.role), term: e.term });
    case 'op_invoked': return t('ev.invoked', { client: e.client, op: opText(e), node: e.node });
    case 'op_retried': return t('ev.retried', { client: e.client, seq: e.seq, node: e.node });
    case 'op_returned': return t('ev.returned', { client: e.client, seq: e.seq, outcome: t(`outcome.${e.outcome}`), value: e.value ?? '' });
    case 'fault': return e.action === 'note' ? `“${pick(e.text)}”` : describeAction(e);
    case 'skipped': return t('ev.skipped', { action: describeAction(e), reason: e.reason });
    // Timeline notes come twice (as an action and as a note): the action carries both languages.
    case 'note': return e.node ? `${e.node}: ${e.text}` : null;
    case 'violation': return t('ev.violation', { invariant: e.invariant, detail: e.detail });
    default: return e.type;
  }
}

export function opText(op) {
  if (op.op === 'get') return `get ${op.key}`;
  // A transaction: from a trace event with its writes, or from an action with its keys.
  if (op.op === 'txn') {
    if (Array.isArray(op.writes)) return `txn ${op.writes.map((w) => `${w.key}=${w.value}`).join(' ')}`;
    return `txn ${(op.keys ?? []).join(',')}`;
  }
  return op.value === undefined || op.value === null ? `put ${op.key}` : `put ${op.key}=${op.value}`;
}

/** An action as a sentence, or its bare name when it is too malformed for that (a hand-edited
 * link). */
export function safeDescribe(a) {
  try {
    return describeAction(a);
  } catch {
    return String(a?.action ?? '?');
  }
}
