// The transport bar (play, pause, step, speed on a log scale, the time slider, clock, event
// count and trace hash), the keyboard shortcuts, and the help overlay that lists them.

import { h, $, setAttr, setText } from './dom.js';
import { t } from './i18n.js';

// Virtual milliseconds per wall-clock millisecond, on a roughly logarithmic scale of round
// numbers from 1/1000 to 10 times real time. At 1/30 a 10 ms message takes a third of a second.
export const SPEEDS = [1 / 1000, 1 / 500, 1 / 200, 1 / 100, 1 / 50, 1 / 30, 1 / 20, 1 / 10, 1 / 5, 1 / 2, 1, 2, 5, 10];
const DEFAULT_SPEED = 5;

/** 0.0333 → "1/30×", 2 → "2×". */
export function speedLabel(speed) {
  if (speed >= 1) return `${Number(speed.toFixed(1))}×`;
  return `1/${Math.round(1 / speed)}×`;
}

export class Transport {
  constructor(app) {
    this.app = app;
    this.clock = $('#clock');
    this.end = $('#end-label');
    this.slider = $('#time');
    this.speed = $('#speed');
    this.speedOut = $('#speed-label');
    this.count = $('#event-count');
    this.hash = $('#trace-hash');
    this.play = $('[data-action="play"]');
    this.pause = $('[data-action="pause"]');
    this.speed.max = String(SPEEDS.length - 1);
    const saved = localStorage.getItem('caplab.speed');
    this.speed.value = saved !== null && SPEEDS[Number(saved)] ? saved : String(DEFAULT_SPEED);
    this.speed.addEventListener('input', () => this.speedChanged());
    this.speedChanged();
    this.play.addEventListener('click', () => app.play());
    this.pause.addEventListener('click', () => app.pause());
    $('[data-action="step"]').addEventListener('click', () => app.step());
    // Dragging the time slider pauses and seeks; the run resumes only on Play.
    this.slider.addEventListener('input', () => {
      app.pause();
      app.seek(Number(this.slider.value));
    });
  }

  get factor() { return SPEEDS[Number(this.speed.value)] ?? SPEEDS[DEFAULT_SPEED]; }

  speedChanged(remember = true) {
    setText(this.speedOut, speedLabel(this.factor));
    if (!remember) return;
    try { localStorage.setItem('caplab.speed', this.speed.value); } catch { /* not remembered */ }
  }

  /** Sets the speed by its place on the scale; `remember`: keep it for the next visit. */
  setSpeed(index, remember = true) {
    this.speed.value = String(Math.max(0, Math.min(SPEEDS.length - 1, index)));
    this.speedChanged(remember);
  }

  nudgeSpeed(direction) {
    this.speed.value = String(Math.max(0, Math.min(SPEEDS.length - 1, Number(this.speed.value) + direction)));
    this.speedChanged();
  }

  render(session, playing) {
    const now = session.now;
    setText(this.clock, Math.floor(now));
    setText(this.end, Math.round(session.end));
    setAttr(this.slider, 'max', Math.ceil(session.end));
    if (document.activeElement !== this.slider) this.slider.value = String(Math.floor(now));
    setText(this.count, session.steps);
    this.renderMarks(session);
    setText(this.hash, session.pg.traceHash());
    setAttr(this.play, 'aria-pressed', playing);
    setAttr(this.pause, 'aria-pressed', !playing);
  }
}

/** Ticks under the time slider, rebuilt only when something they show has changed. */
Transport.prototype.renderMarks = function renderMarks(session) {
  const violations = session.violations ?? [];
  const key = `${session.end}|${session.snapshots.length}|${session.version}|${violations.length}`;
  if (key === this.marksKey) return;
  this.marksKey = key;
  const end = Math.max(1, session.end);
  const mark = (ms, cls) => h('span', { class: cls, style: `left:${((100 * ms) / end).toFixed(2)}%` });
  const marks = [];
  for (const entry of session.scenario.timeline ?? []) if (entry.action !== 'note') marks.push(mark(entry.at_ms, 'mark-script'));
  for (const snap of session.snapshots) if (snap.action) marks.push(mark(snap.t, 'mark-user'));
  for (const v of violations) marks.push(mark(v.at_us / 1000, 'mark-violation'));
  document.getElementById('time-marks').replaceChildren(...marks);
};

const KEYS = [
  ['Space', 'keys.play'], ['.', 'keys.step'], ['← / →', 'keys.seek'], ['[ / ]', 'keys.speed'],
  ['h', 'keys.heal'], ['r', 'keys.restart'], ['Esc', 'keys.escape'], ['?', 'keys.help'],
];
const MOUSE = ['mouse.node', 'mouse.link', 'mouse.linkShift', 'mouse.linkMenu', 'mouse.message', 'mouse.client', 'mouse.slider'];

export function fillHelp() {
  const keys = $('#help-keys');
  keys.replaceChildren(...KEYS.map(([k, key]) => h('tr', {}, [h('td', {}, [h('kbd', { text: k })]), h('td', { text: t(key) })])));
  $('#help-mouse').replaceChildren(...MOUSE.map((key) => h('li', { text: t(key) })));
}

export function installKeyboard(app) {
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const typing = e.target.closest?.('input:not([type="range"]), select, textarea, [contenteditable]');
    if (e.key === 'Escape') { app.escape(); return; }
    if (typing) return;
    const onButton = e.target.closest?.('button, [role="button"]');
    switch (e.key) {
      case ' ':
        if (onButton) return; // Space presses the focused button
        e.preventDefault();
        app.toggle();
        break;
      case '.': app.step(); break;
      case '?': app.toggleHelp(); break;
      case 'ArrowLeft': case 'ArrowRight':
        if (e.target.type === 'range') return;
        e.preventDefault();
        app.pause();
        app.seek(app.session.now + (e.key === 'ArrowLeft' ? -1 : 1) * (e.shiftKey ? 100 : 10));
        break;
      case '[': app.transport.nudgeSpeed(-1); break;
      case ']': app.transport.nudgeSpeed(1); break;
      case 'h': app.act({ action: 'heal' }); break;
      case 'r': app.restart(app.session.seed); break;
      default: return;
    }
  });
}
