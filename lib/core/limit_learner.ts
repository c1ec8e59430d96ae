/**
 * Learning a server's rate limit from its answers: a 429 is a measurement.
 * See docs/adaptive.md for the model and the measured figures.
 *
 * @module
 */

import { type Clock, realClock } from "./clock.ts";

/**
 * Options for {@linkcode LimitLearner}.
 *
 * @example A limit known to be at most 50/s, found from 10/s up
 * ```ts
 * import { LimitLearner, type LimitLearnerOptions } from "./limit_learner.ts";
 *
 * const options: LimitLearnerOptions = { ceilingPerSecond: 50, startPerSecond: 10 };
 * console.log(new LimitLearner(options).ratePerSecond); // 10
 * ```
 */
export interface LimitLearnerOptions {
  /**
   * The fastest it ever paces, in requests per second (the rate the user
   * gave, or the API's documented limit). A positive finite number.
   */
  ceilingPerSecond: number;
  /**
   * Where to start. Below the ceiling, the rate doubles about every
   * `doublingMs` while answers are accepted (slow start), until the first 429.
   * At the ceiling (the default), the ceiling is trusted until a 429 says otherwise.
   *
   * @default {ceilingPerSecond}
   */
  startPerSecond?: number;
  /**
   * The slowest it ever paces, in requests per second, so that it keeps
   * sending (and so keeps learning). Capped at the ceiling.
   *
   * @default {0.1}
   */
  floorPerSecond?: number;
  /**
   * Slow start's doubling time, in milliseconds of accepted answers.
   *
   * @default {200}
   */
  doublingMs?: number;
  /**
   * Where time comes from.
   *
   * @default {realClock}
   */
  clock?: Clock;
}

/** Learned figures, for displays and tests. */
export interface LimitLearnerState {
  /** The rate to pace at now, requests per second. */
  ratePerSecond: number;
  /** The server's limit as estimated so far (`undefined` before the first 429). */
  estimatePerSecond: number | undefined;
  /** The share below the estimate kept after a 429 (grows when a strict server needs it). */
  margin: number;
  /**
   * What it is doing: `"starting"` (slow start, no 429 yet), `"recovering"`
   * (climbing back after slow start's first 429), `"cruising"` (a margin below
   * the estimate) or `"probing"` (above it, looking for room).
   */
  phase: "starting" | "recovering" | "cruising" | "probing";
}

// The constants below were tuned in virtual time against strict token-bucket
// servers (burst 1 and 2, 5 to 50/s, arrival jitter): see docs/adaptive.md.

/** Slow start doubles the rate every 200 ms of answers, but never in fewer than 4 answers. */
const DOUBLING_MS = 200;
const DOUBLING_ANSWERS = 4;
/** After slow start's first 429: halve, then climb back four times as slowly. */
const START_BACKOFF = 0.5;
const RECOVERY_SLOWER = 4;
/** Accepted answers that the delivery rate after slow start is measured over. */
const DELIVERY_ANSWERS = 8;
/** Accepted answers after a 429 before the rate probes above the estimate. */
const PROBE_AFTER = 40;
/** ... or twice the answers the estimate rests on, if fewer, but at least this many. */
const PROBE_AFTER_SOONEST = 8;
/** Accepted answers of probing after which the rate has doubled (convex: gentle first). */
const PROBE_DOUBLING = 160;
/** A probe this far above the estimate found room: its 429 moves the estimate up. */
const PROBE_ROOM = 0.1;
/** A probe this far above the estimate without a 429: the limit rose, start up again. */
const PROBE_RESTART = 1.1;
/** 429s in a run (and over 30% of it) that show the pace was above the limit. */
const CONVINCING_THROTTLES = 4;
/** The most one 429 lowers the estimate otherwise. */
const MAX_STEP = 0.1;
/** The margin below the estimate: its start, its step (a 429 below the estimate), its bounds. */
const MARGIN_START = 0.01;
const MARGIN_STEP = 0.02;
const MARGIN_MAX = 0.1;
const MARGIN_MIN = 0.005;

/**
 * Learns a server's rate limit from its answers and says what rate to pace at.
 *
 * It is a measuring device, not a reflex. Between two 429s the server's token
 * bucket went from empty to empty, so the requests it accepted in between,
 * divided by the time between, is its rate (within one request) — provided the
 * sender kept it busy all along. The learner paces a little below that
 * estimate, probes above it gently once enough answers have been accepted, and
 * widens its margin when 429s come even below the estimate (a strict server
 * turning arrival jitter into refusals). Before the first 429 it doubles from
 * `startPerSecond` (slow start); it never goes above the ceiling.
 *
 * It keeps no timers: feed it each answer with {@linkcode LimitLearner.accepted}
 * and {@linkcode LimitLearner.throttled}, and read {@linkcode LimitLearner.ratePerSecond}.
 *
 * @example Learning a 20/s limit from a ceiling of 40/s
 * ```ts
 * import { LimitLearner } from "./limit_learner.ts";
 * import { FakeClock } from "./fake_clock.ts";
 *
 * const clock = new FakeClock();
 * const learner = new LimitLearner({ ceilingPerSecond: 40, clock });
 * // The server accepts 20 a second and refuses the rest.
 * for (let i = 1; i <= 80; i++) {
 *   await clock.advance(25);
 *   if (i % 2 === 0) learner.accepted();
 *   else learner.throttled();
 * }
 * console.log(Math.round(learner.state().estimatePerSecond ?? 0)); // 20
 * ```
 */
export class LimitLearner {
  readonly #clock: Clock;
  readonly #originMs: number;
  readonly #doublingMs: number;
  #ceiling: number;
  #floor: number;
  #rate: number;
  #startingUp: boolean;
  /** After slow start's first 429: climbing back slowly until the next one. */
  #recovering = false;
  #recoveredFrom = 0;
  /** A pace known to be accepted when slow start began again (0 at the very start). */
  #startFloor = 0;
  #lastGrowthMs: number;
  #estimate: number | undefined;
  #margin = MARGIN_START;
  /** Ring buffer of accepted answer times. */
  readonly #accepted: number[] = [];
  #acceptedTotal = 0;
  /** The last 429 and the answers accepted since. */
  #lastThrottleMs: number | undefined;
  #acceptedSinceThrottle = 0;
  /** A saturated run: consecutive 429s with the server kept busy in between. */
  #runStartMs: number | undefined;
  #runAccepted = 0;
  #runThrottles = 0;
  /** The margin when the run began. */
  #runMargin = MARGIN_START;
  /** How many accepted answers the estimate rests on (a stated or given limit: many). */
  #estimateAnswers = Infinity;

  /**
   * Make a learner that knows only its ceiling.
   *
   * @throws {RangeError} if an option is out of range.
   */
  constructor(options: LimitLearnerOptions) {
    const {
      ceilingPerSecond,
      startPerSecond = ceilingPerSecond,
      floorPerSecond = 0.1,
      doublingMs = DOUBLING_MS,
      clock = realClock,
    } = options;
    checkPositive("ceilingPerSecond", ceilingPerSecond);
    checkPositive("startPerSecond", startPerSecond);
    checkPositive("floorPerSecond", floorPerSecond);
    checkPositive("doublingMs", doublingMs);
    this.#clock = clock;
    this.#originMs = clock.now();
    this.#doublingMs = doublingMs;
    this.#ceiling = ceilingPerSecond;
    this.#floor = Math.min(floorPerSecond, ceilingPerSecond);
    this.#rate = Math.min(startPerSecond, ceilingPerSecond);
    this.#startingUp = this.#rate < this.#ceiling;
    this.#lastGrowthMs = 0;
  }

  /** The rate to pace at now, in requests per second. */
  get ratePerSecond(): number {
    return this.#rate;
  }

  /** The ceiling: the fastest it ever paces. */
  get ceilingPerSecond(): number {
    return this.#ceiling;
  }

  /**
   * What it has learned so far.
   *
   * @example Reading the estimate
   * ```ts
   * import { LimitLearner } from "./limit_learner.ts";
   *
   * const learner = new LimitLearner({ ceilingPerSecond: 10 });
   * console.log(learner.state().estimatePerSecond); // undefined: no 429 yet
   * ```
   */
  state(): LimitLearnerState {
    return {
      ratePerSecond: this.#rate,
      estimatePerSecond: this.#estimate,
      margin: this.#margin,
      phase: this.#startingUp
        ? "starting"
        : this.#recovering
        ? "recovering"
        : this.#estimate !== undefined && this.#rate > this.#estimate
        ? "probing"
        : "cruising",
    };
  }

  /**
   * Change the ceiling (the user's rate changed). The learned estimate stays;
   * the rate is clamped to the new ceiling.
   *
   * @throws {RangeError} if `ceilingPerSecond` is not a positive finite number.
   *
   * @example Lowering the ceiling
   * ```ts
   * import { LimitLearner } from "./limit_learner.ts";
   *
   * const learner = new LimitLearner({ ceilingPerSecond: 10 });
   * learner.setCeiling(4);
   * console.log(learner.ratePerSecond); // 4
   * ```
   */
  setCeiling(ceilingPerSecond: number): void {
    checkPositive("ceilingPerSecond", ceilingPerSecond);
    const trusting = this.#rate >= this.#ceiling && this.#estimate === undefined;
    this.#ceiling = ceilingPerSecond;
    this.#floor = Math.min(this.#floor, ceilingPerSecond);
    this.#setRate(trusting ? ceilingPerSecond : this.#rate);
  }

  /**
   * A request was accepted (any answer that was not a throttle). Grows the
   * rate in slow start, and probes above the estimate once enough answers
   * have come back since the last 429.
   *
   * @example Slow start
   * ```ts
   * import { LimitLearner } from "./limit_learner.ts";
   * import { FakeClock } from "./fake_clock.ts";
   *
   * const clock = new FakeClock();
   * const learner = new LimitLearner({ ceilingPerSecond: 100, startPerSecond: 10, clock });
   * for (let i = 0; i < 3; i++) {
   *   await clock.advance(100);
   *   learner.accepted();
   * }
   * console.log(learner.ratePerSecond > 10); // true
   * ```
   */
  accepted(): void {
    const nowMs = this.#now();
    this.#record(nowMs);
    this.#acceptedSinceThrottle++;
    this.#runAccepted++;
    if (this.#startingUp) {
      // Grow with the time this answer stands for, at most two requests' worth,
      // so that an idle spell is not counted as room the server gave.
      const spanMs = Math.min(nowMs - this.#lastGrowthMs, 2000 / this.#rate);
      this.#lastGrowthMs = nowMs;
      this.#setRate(this.#rate * 2 ** (spanMs / this.#doublingTime(1)));
      if (this.#rate >= this.#ceiling) this.#startingUp = false;
      return;
    }
    this.#margin = Math.max(MARGIN_MIN, this.#margin * (1 - 1 / 1024));
    if (this.#estimate === undefined) return;
    if (this.#recovering) {
      // After slow start: climb back towards the overshoot four times as slowly.
      const spanMs = Math.min(nowMs - this.#lastGrowthMs, 2000 / this.#rate);
      this.#lastGrowthMs = nowMs;
      this.#estimate *= 2 ** (spanMs / this.#doublingTime(RECOVERY_SLOWER));
      this.#setRate(this.#estimate);
      return;
    }
    const gain = this.#gain();
    if (gain >= PROBE_RESTART && this.#rate < this.#ceiling) {
      // The probe went well past the estimate without a 429: the limit rose.
      // Climb exponentially (as after slow start) from this pace, which the
      // server took, until the next 429 says where the limit is now.
      this.#estimate *= gain;
      this.#recovering = true;
      this.#recoveredFrom = this.#estimate;
      this.#startFloor = this.#estimate;
      this.#lastGrowthMs = nowMs;
      this.#startRun(nowMs);
      this.#setRate(this.#estimate);
      return;
    }
    this.#setRate(this.#estimate * gain);
  }

  /**
   * A request was throttled (429). Updates the estimate from the answers
   * accepted since the last 429 and paces a margin below it. A limit the
   * server stated (`limitPerSecond`, from `RateLimit-Policy` or similar) is
   * taken as it is.
   *
   * @throws {RangeError} if `limitPerSecond` is given and not a positive finite number.
   *
   * @example A server that said its limit
   * ```ts
   * import { LimitLearner } from "./limit_learner.ts";
   *
   * const learner = new LimitLearner({ ceilingPerSecond: 100 });
   * learner.throttled(25);
   * console.log(learner.ratePerSecond); // 25
   * ```
   */
  throttled(limitPerSecond?: number): void {
    const nowMs = this.#now();
    if (limitPerSecond !== undefined) {
      checkPositive("limitPerSecond", limitPerSecond);
      this.#estimate = limitPerSecond;
      this.#startingUp = false;
      this.#recovering = false;
      this.#restartSpan(nowMs);
      this.#startRun(nowMs);
      this.#setRate(limitPerSecond);
      return;
    }
    const pacedAt = this.#rate;
    const spanAccepted = this.#acceptedSinceThrottle;
    if (this.#estimate === undefined && !this.#startingUp) {
      // The first 429 at a trusted ceiling: the limit is at most here. Measure
      // from this 429 on.
      this.#estimate = pacedAt;
      this.#startRun(nowMs);
      this.#restartSpan(nowMs);
      this.#setRate(this.#estimate * (1 - this.#margin));
      return;
    }
    if (this.#startingUp || this.#estimate === undefined) {
      // Slow start overshot: the limit lies between the last two doublings.
      // Halve (as TCP does), then climb back more slowly until the next 429.
      this.#estimate = Math.min(
        pacedAt,
        Math.max(pacedAt * START_BACKOFF, this.#deliveredPerSecond(nowMs), this.#startFloor),
      );
      this.#startingUp = false;
      this.#recovering = true;
      this.#recoveredFrom = this.#estimate;
      this.#lastGrowthMs = nowMs;
      this.#startRun(nowMs);
      this.#restartSpan(nowMs);
      this.#setRate(this.#estimate);
      return;
    }
    if (spanAccepted === 0 && this.#lastThrottleMs !== undefined) {
      // Answers to requests that left before the last 429 was known: no news.
      return;
    }
    if (this.#recovering) {
      // Climbing back after slow start met the limit again. Since the first
      // 429 the server was kept busy at or above its rate: what it accepted
      // since, over that time, is its rate; the lower end of it is safe.
      const runSeconds = Math.max(1e-3, (nowMs - (this.#runStartMs ?? nowMs)) / 1000);
      const measured = (this.#runAccepted - 0.5) / runSeconds;
      // A few answers make a rough estimate: probe above it sooner.
      this.#estimateAnswers = this.#runAccepted;
      // The answers just before this 429, near the top of the climb, say the
      // most; the whole climb since the last 429 is a floor.
      this.#estimate = Math.max(
        this.#recoveredFrom * START_BACKOFF,
        this.#startFloor,
        Math.min(pacedAt, Math.max(measured, this.#deliveredPerSecond(nowMs))),
      );
      this.#startFloor = 0;
      this.#recovering = false;
      this.#startRun(nowMs);
      this.#restartSpan(nowMs);
      this.#setRate(this.#estimate * (1 - this.#margin));
      return;
    }
    // Probing means pacing above the estimate; a 429 on the way up to it is a
    // cruising one.
    if (pacedAt > this.#estimate) {
      // The limit lies between the cruise before the probe and the pace that met
      // the 429. A short probe found no more room: keep the estimate. A long
      // one found room: the limit is near where the 429 came.
      const before = this.#estimate;
      // What the server took since the last 429 bounds it too (when the pace
      // was above its rate all along, the bound is tight).
      const spanSeconds = Math.max(1e-3, (nowMs - (this.#lastThrottleMs ?? nowMs)) / 1000);
      const spanBound = (spanAccepted + 1) / spanSeconds;
      this.#estimate = pacedAt <= before * (1 + PROBE_ROOM)
        ? Math.min(before, Math.max(spanBound, before * (1 - PROBE_ROOM)))
        : pacedAt / (1 + PROBE_ROOM / 2);
      this.#recovering = false;
      this.#startRun(nowMs);
    } else {
      // A 429 while cruising below the estimate. Since the run began (at a
      // 429) the server went from empty to empty: if the pace kept it busy, it
      // accepted its rate times the time, to within a request either way.
      const before = this.#estimate;
      this.#runThrottles++;
      const spanSeconds = Math.max(1e-3, (nowMs - (this.#lastThrottleMs ?? nowMs)) / 1000);
      let runSeconds = Math.max(1e-3, (nowMs - (this.#runStartMs ?? nowMs)) / 1000);
      const spanBound = (spanAccepted + 1) / spanSeconds;
      const runBound = (this.#runAccepted + 1) / runSeconds;
      if (spanAccepted >= 1 && spanBound < runBound * 0.9) {
        // This span alone says much less than the run: the limit fell.
        // Measure from the last 429 only.
        this.#runStartMs = this.#lastThrottleMs;
        this.#runAccepted = spanAccepted;
        this.#runThrottles = 1;
        runSeconds = spanSeconds;
      }
      const refused = this.#runThrottles;
      const accepted = this.#runAccepted;
      if (refused >= CONVINCING_THROTTLES && refused > accepted * 0.3) {
        // Many refused: the pace was well above the limit. Take the middle of
        // what the two ends allow; the margin widened for nothing, undo that.
        this.#estimate = Math.min(before, (accepted + 0.5) / runSeconds);
        this.#estimateAnswers = accepted;
        this.#margin = this.#runMargin;
      } else if (this.#margin < MARGIN_MAX) {
        // A few: arrival jitter at a strict server (a request that comes late
        // lets the next one come early), or a limit a little lower. Early in a
        // run the two look alike: keep further below the estimate.
        this.#margin = Math.min(MARGIN_MAX, this.#margin + MARGIN_STEP);
      } else {
        // Still refused at the widest margin: the limit is lower. Each 429 at
        // a strict server also cost it a token it could not hold: count half
        // of them back. One step at a time.
        const measured = (accepted + refused / 2) / runSeconds;
        this.#estimate = Math.min(before, Math.max(measured, before * (1 - MAX_STEP)));
      }
    }
    // A span that ended near the estimate confirms it a little more (probes
    // then start later); one far below it says nothing about it.
    if (this.#estimate !== undefined && this.#estimate <= pacedAt * 1.2) {
      this.#estimateAnswers += spanAccepted;
    }
    this.#restartSpan(nowMs);
    this.#setRate(this.#estimate * (1 - this.#margin));
  }

  /**
   * How long doubling takes: `doublingMs` (times `factor`), but at least
   * `DOUBLING_ANSWERS` answers, so that a low rate is not doubled in one or two requests.
   */
  #doublingTime(factor: number): number {
    return factor * Math.max(this.#doublingMs, DOUBLING_ANSWERS * 1000 / this.#rate);
  }

  #startRun(nowMs: number): void {
    this.#runStartMs = nowMs;
    this.#runAccepted = 0;
    this.#runThrottles = 0;
    this.#runMargin = this.#margin;
  }

  /** The multiplier on the estimate: a margin below it, then a convex probe above. */
  #gain(): number {
    const probeAfter = Math.min(
      PROBE_AFTER,
      Math.max(PROBE_AFTER_SOONEST, 2 * this.#estimateAnswers),
    );
    const probing = Math.max(0, this.#acceptedSinceThrottle - probeAfter) / PROBE_DOUBLING;
    return (1 - this.#margin) * 2 ** (probing * probing);
  }

  #restartSpan(nowMs: number): void {
    this.#lastThrottleMs = nowMs;
    this.#acceptedSinceThrottle = 0;
  }

  /**
   * What the server took lately: the last `DELIVERY_ANSWERS` accepted answers, less a
   * burst of two, over the time they spanned; 0 when there are fewer.
   */
  #deliveredPerSecond(nowMs: number): number {
    const count = DELIVERY_ANSWERS;
    if (this.#acceptedTotal < count) return 0;
    const oldestMs = this.#accepted[(this.#acceptedTotal - count) % DELIVERY_ANSWERS]!;
    if (!(nowMs > oldestMs)) return 0;
    return (count - 2) / ((nowMs - oldestMs) / 1000);
  }

  #record(nowMs: number): void {
    this.#accepted[this.#acceptedTotal % DELIVERY_ANSWERS] = nowMs;
    this.#acceptedTotal++;
  }

  #setRate(ratePerSecond: number): void {
    this.#rate = Math.max(this.#floor, Math.min(this.#ceiling, ratePerSecond));
  }

  #now(): number {
    return this.#clock.now() - this.#originMs;
  }
}

function checkPositive(name: string, value: number): void {
  if (!(value > 0 && value < Infinity)) {
    throw new RangeError(
      `Cannot use LimitLearner: '${name}' must be a positive finite number, current value is ${value}`,
    );
  }
}
