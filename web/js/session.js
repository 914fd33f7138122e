// One run of one scenario, with time travel. The simulator only goes forwards, so this keeps
// copies of it (snapshots) every `interval` ms of virtual time and right after every user
// action. Seeking restores the nearest earlier snapshot and runs forwards to the target time;
// acting in the past forks: everything later is discarded. It also keeps the trace events of
// the known timeline, so panels can show exactly the events up to the current step.

const SNAPSHOT_MS = 100;
// Past this many time snapshots, every other one goes and the interval doubles.
const MAX_SNAPSHOTS = 400;
// A large cluster (drawn on the canvas) is a bigger copy each time and makes far more events:
// fewer, sparser snapshots, and no message-level events kept.
const LARGE_SNAPSHOT_MS = 1000;
const LARGE_MAX_SNAPSHOTS = 60;
const MAX_EVENTS = 60000;

/** Thrown when a run would go past its budget of steps (replaying a link). */
export class StepBudget extends Error {
  constructor(steps) {
    super(`more than ${steps} events`);
    this.steps = steps;
  }
}

export class Session {
  /** Throws (the simulator's message) when the scenario or the seed is refused. `large(n)`
   * says whether a cluster of n nodes of a protocol is drawn as a large one. */
  constructor(Playground, source, seed, { large = () => false } = {}) {
    this.pg = new Playground(source, seed ?? undefined);
    this.scenario = JSON.parse(this.pg.scenarioJson());
    this.protocol = this.pg.protocol();
    this.duration = this.pg.durationMs();
    this.seed = this.pg.seed();
    this.large = large(this.scenario.nodes, this.protocol);
    // Set before the first snapshot, so that every copy keeps it.
    if (this.large) this.pg.setRecordingMessages(false);
    this.interval = this.large ? LARGE_SNAPSHOT_MS : SNAPSHOT_MS;
    this.maxSnapshots = this.large ? LARGE_MAX_SNAPSHOTS : MAX_SNAPSHOTS;
    this.snapshots = [];
    this.events = [];
    this.notes = []; // the scenario's captions among `events`, for a quick look-up
    this.version = 0; // bumped whenever `events` loses its tail or head, so views rebuild
    this.knownStep = 0; // the last step whose events are in `events`
    this.maxReached = 0;
    this.collect(true);
    this.addSnapshot(false);
  }

  get now() { return this.pg.nowMs(); }
  get steps() { return this.pg.steps(); }
  /** The length of the time slider: the script's end, or further if the run went on. */
  get end() { return Math.max(this.duration, this.maxReached); }
  /** Whether later history exists that acting now would discard. */
  get inPast() { return this.isAhead(this.snapshots.at(-1)) || this.knownStep > this.steps; }

  /** Whether a snapshot lies later on the timeline than the current state. */
  isAhead(snap) {
    return snap.steps > this.steps;
  }

  /** What the user did on this timeline, in order: [{at_us, action}], what a share link and an
   * exported file carry. */
  userActions() {
    return this.snapshots.filter((s) => s.action).map((s) => s.action);
  }

  free() {
    for (const snap of this.snapshots) snap.pg.free();
    this.snapshots = [];
    this.pg.free();
  }

  /** Moves the trace events out of the simulator. A replay of known ground repeats events
   * already kept (the run is deterministic), so only steps past `knownStep` are new. */
  collect(all = false) {
    const batch = JSON.parse(this.pg.takeEvents());
    for (const e of batch) {
      if (!all && e.step <= this.knownStep) continue;
      this.events.push(e);
      if (e.type === 'fault' && e.action === 'note') this.notes.push(e);
    }
    this.knownStep = Math.max(this.knownStep, this.steps);
    if (this.events.length > MAX_EVENTS) {
      this.events.splice(0, this.events.length - MAX_EVENTS * 0.8);
      this.version++;
    }
    return batch;
  }

  /** `action`: false for a time snapshot, or the user action applied just before it. */
  addSnapshot(action) {
    this.snapshots.push({ t: this.now, steps: this.steps, pg: this.pg.snapshot(), action });
    const timed = this.snapshots.filter((s) => !s.action);
    if (timed.length <= this.maxSnapshots) return;
    // Thin the time snapshots; action snapshots stay, because only they hold what the user did.
    const drop = new Set(timed.filter((_, i) => i % 2 === 1));
    for (const s of drop) s.pg.free();
    this.snapshots = this.snapshots.filter((s) => !drop.has(s));
    this.interval *= 2;
  }

  restore(snap) {
    this.pg.free();
    this.pg = snap.pg.snapshot();
  }

  /** The last snapshot at or before time `t` (the latest of several at the same time). */
  baseFor(t) {
    let lo = 0;
    let hi = this.snapshots.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.snapshots[mid].t <= t) lo = mid;
      else hi = mid - 1;
    }
    return this.snapshots[lo];
  }

  /** Runs forwards to `t`, leaving a snapshot at each interval boundary on new ground. With
   * `maxSteps`, runs in small batches and throws a StepBudget error once the run is past that
   * many steps. */
  advanceTo(t, maxSteps = Infinity) {
    const run = (target) => {
      if (maxSteps === Infinity) {
        this.pg.runUntil(target);
      } else {
        while (!this.pg.runUntilBounded(target, 20000)) {
          this.collect();
          if (this.steps > maxSteps) throw new StepBudget(maxSteps);
        }
      }
      this.collect();
      if (this.steps > maxSteps) throw new StepBudget(maxSteps);
    };
    let boundary = (Math.floor(this.now / this.interval) + 1) * this.interval;
    while (boundary <= t) {
      run(boundary);
      if (this.steps > this.snapshots.at(-1).steps) this.addSnapshot(false);
      boundary = (Math.floor(boundary / this.interval) + 1) * this.interval;
    }
    run(Math.max(t, this.now));
    this.maxReached = Math.max(this.maxReached, this.now);
  }

  /** Shows the state at virtual time `t`, backwards or forwards (`maxSteps`: see advanceTo). */
  seek(t, maxSteps = Infinity) {
    t = Math.max(0, Math.min(t, 3.6e6));
    const base = this.baseFor(t);
    // Restore when going back, and also when a snapshot ahead of us (but not past t) holds a
    // user action that running forwards from here would miss.
    if (t < this.now || this.isAhead(base)) this.restore(base);
    this.advanceTo(t, maxSteps);
  }

  /** Runs the rest of the current instant: after Step the clock can stand at a time with events
   * still due there, and a link or a file can only name the time, not the step within it. */
  settle() {
    if (this.pg.nextMs() === this.now) this.seek(this.now);
  }

  /** Applies exactly one event. On known ground, a user action is replayed from its snapshot. */
  step() {
    const next = this.snapshots.find((s) => s.action && s.steps === this.steps + 1);
    if (next) {
      this.restore(next);
    } else {
      if (!this.pg.step()) return false;
      this.collect();
    }
    this.maxReached = Math.max(this.maxReached, this.now);
    return true;
  }

  /** Drops whatever lies after the current step: acting now starts a new timeline. */
  fork() {
    const cur = this.steps;
    while (this.snapshots.length > 1 && this.isAhead(this.snapshots.at(-1))) this.snapshots.pop().pg.free();
    if (this.events.length && this.events.at(-1).step > cur) {
      let i = this.events.length;
      while (i > 0 && this.events[i - 1].step > cur) i--;
      this.events.length = i;
      this.notes = this.notes.filter((e) => e.step <= cur);
      this.version++;
    }
    this.knownStep = cur;
    this.maxReached = this.now;
  }

  /** Applies a user action (JSON text). Tried on a copy first, so a refused action changes
   * nothing, not even the future it would have discarded. Returns the events it caused. */
  apply(actionJson) {
    return this.act((pg) => pg.apply(actionJson));
  }

  /** Takes a message off the wire: a `drop` action like any other. */
  dropMessage(id) {
    return this.act((pg) => pg.dropMessage(id));
  }

  act(fn) {
    const trial = this.pg.snapshot();
    try {
      fn(trial);
    } catch (e) {
      trial.free();
      throw e;
    }
    // The action as the simulator recorded it ("the leader" resolved to a node), with its time.
    const { at_us: atUs, ...action } = JSON.parse(trial.lastAction());
    this.fork();
    this.pg.free();
    this.pg = trial;
    const batch = this.collect(true);
    this.addSnapshot({ at_us: atUs, action });
    this.maxReached = this.now;
    return batch;
  }

  /** The scenario's latest caption at or before the current step, or null. */
  currentNote() {
    const steps = this.steps;
    return this.notes.findLast((e) => e.step <= steps) ?? null;
  }

  /** Index just past the last kept event at or before `steps`. */
  eventsUpTo(steps) {
    let lo = 0;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.events[mid].step <= steps) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
