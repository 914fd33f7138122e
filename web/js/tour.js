// Guided tours. The steps of a tour are the scenario's notes (notes at the same time make one
// step). Next and Previous move through virtual time (Previous really goes back, through the
// session's snapshots); Play runs on and stops at a step only when its note asks to (`pause`);
// "Play freely" leaves the tour and keeps the state. The tour never holds state of its own
// beyond "on or off": where the student is comes from the session's clock.

import { $, h, setAttr, setText } from './dom.js';
import { pick, t } from './i18n.js';

const msToUs = (ms) => Math.round(ms * 1000);

export class Tour {
  constructor(root, { seek, onChange }) {
    this.root = root;
    this.seek = seek;
    this.onChange = onChange;
    this.active = false;
    this.steps = [];
    this.progress = $('[data-testid="tour-progress"]', root);
    this.dots = $('.tour-dots', root);
    this.prev = $('[data-action="tour-prev"]', root);
    this.next = $('[data-action="tour-next"]', root);
    this.prev.addEventListener('click', () => this.go(-1));
    this.next.addEventListener('click', () => this.go(1));
    $('[data-action="tour-free"]', root).addEventListener('click', () => this.setActive(false));
    this.startButton = $('[data-action="tour-start"]');
    this.startButton.addEventListener('click', () => this.setActive(true));
  }

  /** Builds the steps from a scenario's timeline; `active`: whether to start in the tour. */
  setup(scenario, active) {
    const byTime = new Map();
    for (const entry of scenario.timeline ?? []) {
      if (entry.action !== 'note') continue;
      const us = msToUs(entry.at_ms);
      const step = byTime.get(us) ?? { atMs: entry.at_ms, atUs: us, pause: false };
      step.pause ||= Boolean(entry.pause);
      byTime.set(us, step);
    }
    this.steps = [...byTime.values()].sort((a, b) => a.atUs - b.atUs);
    this.lastIndex = undefined;
    this.renderKey = null;
    this.setActive(active && this.available, true);
  }

  /** A tour needs at least two steps. */
  get available() { return this.steps.length >= 2; }

  setActive(on, quiet = false) {
    this.active = Boolean(on) && this.available;
    this.root.hidden = !this.active;
    this.startButton.hidden = this.active || !this.available;
    document.body.classList.toggle('touring', this.active);
    this.renderKey = null;
    if (!quiet) this.onChange?.(this.active);
  }

  /** The step the student is at: the latest whose note has happened by the current step. */
  index(session) {
    const note = session.currentNote();
    if (!note) return -1;
    return this.steps.findIndex((s) => s.atUs === note.at_us);
  }

  /** The first pausing step after `fromMs` and at or before `toMs`, as a time, or null. */
  pauseBetween(fromMs, toMs) {
    if (!this.active) return null;
    const from = msToUs(fromMs);
    const to = msToUs(toMs);
    const step = this.steps.find((s) => s.pause && s.atUs > from && s.atUs <= to);
    return step ? step.atUs / 1000 : null;
  }

  go(direction) {
    const session = this.session;
    if (!session) return;
    const i = this.index(session);
    let target;
    if (direction < 0) {
      // Past the current step's moment, Previous first returns to it, as a player does.
      const here = this.steps[i];
      target = here && msToUs(session.now) > here.atUs + 999 ? i : i - 1;
    } else {
      target = i + 1;
    }
    this.goTo(Math.max(0, Math.min(this.steps.length - 1, target)));
  }

  goTo(i) {
    const step = this.steps[i];
    if (step) this.seek(step.atUs / 1000);
  }

  /** Progress, dots and buttons; returns the step index when it changed (for the host page). */
  render(session) {
    this.session = session;
    if (!this.active) return null;
    const i = this.index(session);
    const n = this.steps.length;
    const key = `${i}|${n}|${t('tour.step', { i: 1, n: 1 })}`;
    if (key !== this.renderKey) {
      this.renderKey = key;
      setText(this.progress, i < 0 ? t('tour.before', { n }) : t('tour.step', { i: i + 1, n }));
      this.dots.replaceChildren(...this.steps.map((s, k) => h('button', {
        type: 'button', class: `tour-dot${k === i ? ' current' : ''}${k < i ? ' done' : ''}${s.pause ? ' pause' : ''}`,
        title: t('tour.dot', { i: k + 1, ms: Math.round(s.atMs) }), 'aria-label': t('tour.dot', { i: k + 1, ms: Math.round(s.atMs) }),
        'aria-current': k === i ? 'step' : null, onclick: () => this.goTo(k),
      })));
      setAttr(this.root, 'data-step', i + 1);
      this.prev.disabled = i <= 0 && !(i === 0 && msToUs(session.now) > this.steps[0].atUs + 999);
      this.next.disabled = i >= n - 1;
    }
    // The "back to this step's start" case depends on the clock, not only on the step.
    if (i >= 0) this.prev.disabled = i === 0 && msToUs(session.now) <= this.steps[0].atUs + 999;
    if (i === this.lastIndex) return null;
    this.lastIndex = i;
    return i;
  }
}

/** The scenario's caption at the current step in `el` (every note of that moment, joined), with
 * its time in data-at; hidden when there is none. Both pages show captions this way. */
export function showNote(el, session) {
  const note = session.currentNote();
  const text = note
    ? session.notes.filter((e) => e.at_us === note.at_us && e.step <= session.steps).map((e) => pick(e.text)).join(' ')
    : '';
  setText(el, text);
  el.dataset.at = note ? String(Math.round(note.at_us / 1000)) : '';
  el.hidden = !text;
}
