/**
 * Pacing with a token bucket, modelled on Go's `golang.org/x/time/rate`.
 *
 * Design notes: `docs/design.md` (token_bucket.ts).
 *
 * @module
 */

import { type Clock, realClock } from "./clock.ts";
import { LimitLearner } from "./limit_learner.ts";
import type { Limiter, LimiterOutcome, ObserveDetail, TakeOptions } from "./limiter.ts";

/**
 * Options for {@linkcode TokenBucket}.
 *
 * @example 30 requests a second, in bursts of up to 5
 * ```ts
 * import { TokenBucket, type TokenBucketOptions } from "./token_bucket.ts";
 * import { FakeClock } from "./fake_clock.ts";
 *
 * const options: TokenBucketOptions = { ratePerSecond: 30, burst: 5, clock: new FakeClock() };
 * const bucket = new TokenBucket(options);
 * console.log(bucket.tryTake(5), bucket.tryTake()); // true false: the burst is spent
 * ```
 */
export interface TokenBucketOptions {
  /** Tokens added to the bucket per second; a positive finite number. */
  ratePerSecond: number;
  /**
   * The most tokens the bucket holds: how many requests may go at once after a
   * quiet spell. A finite number of at least 1.
   *
   * @default {1}
   */
  burst?: number;
  /**
   * Where time comes from; pass a {@linkcode FakeClock} to run in virtual time.
   *
   * @default {realClock}
   */
  clock?: Clock;
}

/**
 * Tokens claimed by {@linkcode TokenBucket.reserve}: wait `delayMs`, then act,
 * or call `cancel()` if you will not act.
 *
 * @example Acting on a reservation, or giving it back
 * ```ts
 * import { TokenBucket } from "./token_bucket.ts";
 *
 * const bucket = new TokenBucket({ ratePerSecond: 10 });
 * const reservation = bucket.reserve();
 * if (reservation.delayMs > 1_000) {
 *   reservation.cancel(); // too long: give the tokens back
 * } else {
 *   await new Promise((resolve) => setTimeout(resolve, reservation.delayMs));
 * }
 * ```
 */
export interface Reservation {
  /**
   * How long to wait before acting, in milliseconds, fixed when the
   * reservation was made (a later {@linkcode TokenBucket.pause} or
   * {@linkcode TokenBucket.setRate} does not change it).
   */
  readonly delayMs: number;
  /**
   * The holder will not act: give back the tokens that no later reservation has
   * claimed since. Does nothing once the reservation's time has passed, or when
   * called a second time.
   */
  cancel(): void;
}

/** A promise shared by every `take` that needs no wait: no allocation, no timer. */
const GRANTED: Promise<void> = Promise.resolve();

/**
 * Times within a nanosecond count as equal: float sums of token intervals may be
 * off by a few ulps, which must not cost an extra sleep.
 */
const EPSILON_MS = 1e-6;

/**
 * A token bucket: `take()` waits until it may go, in arrival order, so that no
 * one-second window sees more than `ratePerSecond + burst` grants.
 *
 * @example Pacing requests at 5 per second
 * ```ts
 * import { TokenBucket } from "./token_bucket.ts";
 *
 * const bucket = new TokenBucket({ ratePerSecond: 5, burst: 2 });
 * for (let i = 0; i < 3; i++) {
 *   await bucket.take(); // the first two go at once, the third 200 ms later
 * }
 * ```
 *
 * @example Testing in virtual time
 * ```ts
 * import { TokenBucket } from "./token_bucket.ts";
 * import { FakeClock } from "./fake_clock.ts";
 *
 * const clock = new FakeClock();
 * const bucket = new TokenBucket({ ratePerSecond: 50, clock });
 * const done = Promise.all(Array.from({ length: 100 }, () => bucket.take()));
 * await clock.runAll();
 * await done;
 * console.log(clock.now()); // 1980: (100 − 1) / 50 s
 * ```
 */
export class TokenBucket implements Limiter {
  readonly #clock: Clock;
  /** Every stored time is relative to this reading, so the numbers stay small. */
  readonly #originMs: number;
  #ratePerSecond: number;
  /** Learns the server's limit below the set rate, once told about answers. */
  #learner: LimitLearner | undefined;
  #burst: number;
  /** Milliseconds to earn one token. */
  #intervalMs: number;
  /** `#burst * #intervalMs`, kept because every call needs it. */
  #burstMs: number;
  /**
   * When the balance would be back at `burst` if nobody took more. The balance
   * at time t is `burst − max(0, fullAt − t) / interval`; a reservation of n
   * moves it to `max(fullAt, t) + n·interval` and may act at `fullAt − burst·interval`.
   */
  #fullAtMs: number;
  /**
   * The part of `fullAt` that is not token debt but the queue's hold: a higher
   * rate lets newcomers queue behind callers still sleeping until their older,
   * later times (see `setRate`). Go's token count is `fullAt − hold`; a cancel
   * by the last of those callers releases the hold (see `#giveBack`).
   */
  #holdMs = 0;
  /** Nobody is granted a token before this time (set by `pause`). */
  #pausedUntilMs = -Infinity;
  /**
   * The latest time anyone was told to go, and the latest but one. Usually
   * the last is `fullAt − burst·interval`, but a cancel lowers that (freed
   * tokens are usable at the current spacing) while the callers behind it
   * keep their times.
   */
  #lastDueMs = -Infinity;
  #previousDueMs = -Infinity;
  /**
   * The latest time a {@linkcode Reservation} was told to act at. Its holder
   * will act then whatever happens, so a pause or a slower rate must not move
   * anyone ahead of it onto it: the queue up to it stays where it is.
   */
  #reservedUntilMs = -Infinity;
  /**
   * The current era. A pause or a slower rate moves the whole queue later; the
   * era ends with that move recorded, and sleeping waiters apply the moves of the
   * eras they slept through when they wake. Eras nobody sleeps in any more are
   * garbage: only waiters hold on to old ones.
   */
  #era: Era = {};

  /**
   * Make a full bucket.
   *
   * @throws {RangeError} if `ratePerSecond` is not a positive finite number or
   * `burst` is not a finite number of at least 1.
   */
  constructor(options: TokenBucketOptions) {
    const { ratePerSecond, burst = 1, clock = realClock } = options;
    checkRate("Cannot create TokenBucket", ratePerSecond, burst);
    this.#clock = clock;
    this.#originMs = clock.now();
    this.#ratePerSecond = ratePerSecond;
    this.#burst = burst;
    this.#intervalMs = 1000 / ratePerSecond;
    this.#burstMs = burst * this.#intervalMs;
    this.#fullAtMs = 0;
  }

  /** Tokens added per second. */
  get ratePerSecond(): number {
    return this.#ratePerSecond;
  }

  /** The most tokens the bucket holds. */
  get burst(): number {
    return this.#burst;
  }

  /**
   * The balance now: at most `burst`, negative while callers are queued (then
   * it is minus the tokens they still wait for). During a pause the pause
   * counts as debt too.
   *
   * @example Reading the balance
   * ```ts
   * import { TokenBucket } from "./token_bucket.ts";
   * import { FakeClock } from "./fake_clock.ts";
   *
   * const bucket = new TokenBucket({ ratePerSecond: 1, burst: 3, clock: new FakeClock() });
   * bucket.tryTake(2);
   * console.log(bucket.tokens()); // 1
   * ```
   */
  tokens(): number {
    return this.#burst - Math.max(0, this.#fullAtMs - this.#now()) / this.#intervalMs;
  }

  /**
   * Wait for `n` tokens (default 1), behind everyone who asked earlier.
   *
   * Resolves at once, with no timer, when the tokens are there. If
   * `options.signal` aborts while waiting, the tokens that no later caller has
   * claimed go back, the timer is cleared, and the promise rejects with
   * `signal.reason`. A signal that is already aborted rejects at once and
   * claims nothing.
   *
   * Rejects with a `RangeError` if `n` is not positive or exceeds `burst`
   * (such a request could never be granted).
   *
   * @example Waiting with a time limit
   * ```ts
   * import { TokenBucket } from "./token_bucket.ts";
   *
   * const bucket = new TokenBucket({ ratePerSecond: 100 });
   * await bucket.take(1, { signal: AbortSignal.timeout(5_000) });
   * ```
   */
  take(n = 1, options?: TakeOptions): Promise<void> {
    if (!(n > 0 && n <= this.#burst)) {
      return Promise.reject(this.#invalidCount("take tokens", n));
    }
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const nowMs = this.#now();
    const dueMs = this.#claim(n, nowMs);
    if (dueMs - nowMs <= EPSILON_MS) return GRANTED;
    this.#noteDue(dueMs);
    return this.#wait(n, dueMs, signal);
  }

  /**
   * Take `n` tokens (default 1) only if that needs no wait: the tokens are
   * there now and nobody is queued for them (no overtaking). Never waits.
   *
   * @throws {RangeError} if `n` is not positive or exceeds `burst`.
   *
   * @example Dropping work instead of waiting
   * ```ts
   * import { TokenBucket } from "./token_bucket.ts";
   *
   * const bucket = new TokenBucket({ ratePerSecond: 1 });
   * console.log(bucket.tryTake()); // true: the bucket starts full
   * console.log(bucket.tryTake()); // false: the next token is a second away
   * ```
   */
  tryTake(n = 1): boolean {
    if (!(n > 0 && n <= this.#burst)) throw this.#invalidCount("try to take tokens", n);
    const nowMs = this.#now();
    if (nowMs < this.#pausedUntilMs) return false;
    const fullAtMs = Math.max(this.#fullAtMs, nowMs) + n * this.#intervalMs;
    if (fullAtMs - this.#burstMs - nowMs > EPSILON_MS) return false;
    this.#settleHold(nowMs);
    this.#fullAtMs = fullAtMs;
    return true;
  }

  /**
   * Claim `n` tokens (default 1) now, in the queue like `take`, and say up front
   * how long to wait before acting. The caller does the waiting, or cancels.
   *
   * Cancelling gives back only what no later caller has claimed, as in Go's
   * `Reservation.Cancel`: later callers keep the times they were given (they
   * are never moved earlier), and a new caller can only use the part of the
   * freed tokens that nobody behind the cancelled one has counted on.
   *
   * The time is a promise to the holder: a later {@linkcode TokenBucket.pause}
   * or slower {@linkcode TokenBucket.setRate} moves `take` waiters but cannot
   * move a reservation already handed out (as in Go, where `SetLimit` leaves
   * existing reservations alone). Prefer `take` where pauses matter.
   *
   * @throws {RangeError} if `n` is not positive or exceeds `burst`.
   *
   * @example Deciding whether a wait is worth it
   * ```ts
   * import { TokenBucket } from "./token_bucket.ts";
   *
   * const bucket = new TokenBucket({ ratePerSecond: 2 });
   * bucket.reserve();
   * const next = bucket.reserve();
   * console.log(next.delayMs); // 500
   * next.cancel();
   * ```
   */
  reserve(n = 1): Reservation {
    if (!(n > 0 && n <= this.#burst)) throw this.#invalidCount("reserve tokens", n);
    const nowMs = this.#now();
    const dueMs = this.#claim(n, nowMs);
    this.#noteDue(dueMs);
    const delayMs = dueMs - nowMs <= EPSILON_MS ? 0 : dueMs - nowMs;
    if (dueMs > this.#reservedUntilMs) this.#reservedUntilMs = dueMs;
    let open = true;
    return {
      delayMs,
      cancel: (): void => {
        if (!open) return;
        open = false;
        // Go's rule: once its time has passed the holder is assumed to have acted.
        if (this.#now() - dueMs > EPSILON_MS) return;
        this.#giveBack(dueMs, n);
      },
    };
  }

  /**
   * Change the rate (and optionally the burst) from now on. The balance is
   * first settled at the old rate; whatever is still owed is then paid at the
   * new one.
   *
   * Callers already waiting in `take` are slowed down to a lower rate at once:
   * what is left of each wait is stretched by old rate / new rate. A higher
   * rate cannot wake sleepers early, so they keep their times, and the new rate
   * applies to everyone after them; if the last of them cancels or aborts,
   * that hold goes too (newcomers then queue behind the new last, or use the
   * tokens at once, as in Go).
   *
   * @throws {RangeError} if `ratePerSecond` is not a positive finite number or
   * `burst` is not a finite number of at least 1.
   *
   * @example Slowing down after the server complained
   * ```ts
   * import { TokenBucket } from "./token_bucket.ts";
   *
   * const bucket = new TokenBucket({ ratePerSecond: 30, burst: 5 });
   * bucket.setRate(bucket.ratePerSecond * 0.7);
   * console.log(bucket.ratePerSecond); // 21
   * ```
   */
  setRate(ratePerSecond: number, burst: number = this.#burst): void {
    checkRate("Cannot set TokenBucket rate", ratePerSecond, burst);
    this.#learner?.setCeiling(ratePerSecond);
    this.#changeRate(this.#learner?.ratePerSecond ?? ratePerSecond, burst);
  }

  /**
   * Learn from one answer, below the rate the bucket was given (its ceiling):
   * `"throttled"` without a stated limit lowers the pace in proportion to what
   * the server accepted since its last 429 (see {@linkcode LimitLearner}); a `limitPerSecond` in `detail` is taken
   * as the limit; `"accepted"` lets a lowered pace climb back gently. A bucket
   * that is never told anything keeps its rate exactly.
   *
   * @example Telling the bucket each answer
   * ```ts
   * import { TokenBucket } from "./token_bucket.ts";
   *
   * const bucket = new TokenBucket({ ratePerSecond: 20 });
   * await bucket.take();
   * bucket.observe("throttled"); // a strict server said 429 without a hint
   * console.log(bucket.ratePerSecond < 20); // true: a margin below the rate
   * ```
   */
  observe(outcome: LimiterOutcome, detail?: ObserveDetail): void {
    this.#learner ??= new LimitLearner({
      ceilingPerSecond: this.#ratePerSecond,
      clock: this.#clock,
    });
    if (outcome === "throttled") {
      // A server that said when to come back is paused for, not learned from.
      if (detail?.limitPerSecond === undefined && detail?.retryAfterMs !== undefined) return;
      this.#learner.throttled(detail?.limitPerSecond);
    } else {
      this.#learner.accepted();
    }
    const learned = this.#learner.ratePerSecond;
    if (learned !== this.#ratePerSecond) this.#changeRate(learned, this.#burst);
  }

  #changeRate(ratePerSecond: number, burst: number): void {
    // During a pause the bucket stands still, so settle at the pause's end.
    const atMs = Math.max(this.#now(), this.#pausedUntilMs);
    const oldIntervalMs = this.#intervalMs;
    const lastDueMs = this.#lastDueMs;
    const intervalMs = 1000 / ratePerSecond;
    // Pay what is owed at the new rate. With callers queued this puts the last
    // of them at `atMs + (lastDue − atMs) · new/old interval`: the stretch below.
    const repaidAt = (oldFullAtMs: number): number =>
      atMs + (burst - this.#burst + Math.max(0, oldFullAtMs - atMs) / oldIntervalMs) * intervalMs;
    const tokensFullAtMs = repaidAt(this.#fullAtMs - this.#holdMs);
    let fullAtMs = repaidAt(this.#fullAtMs);
    if (intervalMs > oldIntervalMs) {
      this.#moveQueue(atMs, intervalMs / oldIntervalMs, 0);
    } else if (lastDueMs > atMs) {
      // Faster, with callers queued: they sleep until their old times and
      // cannot be woken early, so newcomers queue behind the last of them.
      fullAtMs = Math.max(fullAtMs, lastDueMs + burst * intervalMs);
    }
    this.#ratePerSecond = ratePerSecond;
    this.#burst = burst;
    this.#intervalMs = intervalMs;
    this.#burstMs = burst * intervalMs;
    this.#fullAtMs = fullAtMs;
    this.#holdMs = Math.max(0, fullAtMs - Math.max(atMs, tokensFullAtMs));
  }

  /**
   * Grant nobody a token before now + `ms` (a server said "429, slow down").
   *
   * The bucket's time stands still for `ms`: callers waiting in `take` keep
   * their order and spacing, shifted by the pause, and the balance at the end
   * of the pause is at most one token, so the queue resumes at the steady rate
   * instead of with a burst. A pause that ends before the current one ends
   * changes nothing; one that ends later extends it. Reservations already
   * handed out keep their times (see {@linkcode TokenBucket.reserve}), and so
   * do callers queued ahead of them, and callers whose time had already come.
   *
   * @throws {RangeError} if `ms` is negative or not finite.
   *
   * @example Honouring Retry-After
   * ```ts
   * import { TokenBucket } from "./token_bucket.ts";
   *
   * const bucket = new TokenBucket({ ratePerSecond: 10 });
   * bucket.pause(2_000);
   * console.log(bucket.tryTake()); // false for the next two seconds
   * ```
   */
  pause(ms: number): void {
    if (!(ms >= 0 && ms < Infinity)) {
      throw new RangeError(
        `Cannot pause TokenBucket: 'ms' must be a non-negative finite number, current value is ${ms}`,
      );
    }
    const nowMs = this.#now();
    const untilMs = nowMs + ms;
    if (untilMs <= this.#pausedUntilMs) return;
    const shiftMs = untilMs - Math.max(nowMs, this.#pausedUntilMs);
    const floorMs = untilMs + this.#burstMs - this.#intervalMs;
    const tokensFullAtMs = Math.max(this.#fullAtMs - this.#holdMs, nowMs) + shiftMs;
    this.#fullAtMs = Math.max(Math.max(this.#fullAtMs, nowMs) + shiftMs, floorMs);
    this.#holdMs = this.#fullAtMs - Math.max(tokensFullAtMs, floorMs);
    this.#pausedUntilMs = untilMs;
    this.#moveQueue(nowMs, 1, shiftMs);
  }

  #now(): number {
    return this.#clock.now() - this.#originMs;
  }

  /** Take `n` tokens at `nowMs` (possibly into debt); return when they may be used. */
  #claim(n: number, nowMs: number): number {
    this.#settleHold(nowMs);
    const fullAtMs = Math.max(this.#fullAtMs, nowMs) + n * this.#intervalMs;
    this.#fullAtMs = fullAtMs;
    return Math.max(fullAtMs - this.#burstMs, this.#pausedUntilMs);
  }

  /**
   * Before a claim from `nowMs`: once time has caught up with part of the hold,
   * that part is spent (a claim starts from now, not from the past).
   */
  #settleHold(nowMs: number): void {
    if (this.#holdMs === 0) return;
    this.#holdMs = Math.max(this.#fullAtMs, nowMs) -
      Math.max(this.#fullAtMs - this.#holdMs, nowMs);
  }

  /**
   * Remember a due time that is still to come. Grants due now need not be
   * noted: the due times only matter while someone may still be waiting.
   */
  #noteDue(dueMs: number): void {
    if (dueMs >= this.#lastDueMs) {
      this.#previousDueMs = this.#lastDueMs;
      this.#lastDueMs = dueMs;
    } else if (dueMs > this.#previousDueMs) {
      this.#previousDueMs = dueMs;
    }
  }

  /**
   * Close the current era with a move: every waiter due after `anchorMs` (and
   * after the last reservation) is now due at `anchor + (due − anchor) · factor + shift`.
   */
  #moveQueue(anchorMs: number, factor: number, shiftMs: number): void {
    const move: Move = {
      anchorMs,
      factor,
      shiftMs,
      fixedUntilMs: Math.max(anchorMs, this.#reservedUntilMs),
    };
    this.#lastDueMs = moved(this.#lastDueMs, move);
    this.#previousDueMs = moved(this.#previousDueMs, move);
    const next: Era = {};
    this.#era.move = move;
    this.#era.next = next;
    this.#era = next;
  }

  /**
   * Give back what no later caller has claimed of `n` tokens due at `dueMs`
   * (Go's `Reservation.Cancel`): the callers behind it were told times that
   * count on the tokens between it and the last of them, so only the rest can
   * go back. Everyone keeps their time; only newcomers may come sooner.
   */
  #giveBack(dueMs: number, n: number): void {
    const behind = Math.max(0, this.#lastDueMs - dueMs) / this.#intervalMs;
    // Never refill past what a pause left: at most one token when it ends.
    const floorMs = this.#pausedUntilMs + this.#burstMs - this.#intervalMs;
    const restore = Math.min(n - behind, (this.#fullAtMs - floorMs) / this.#intervalMs);
    if (!(restore > 0)) return;
    this.#fullAtMs -= restore * this.#intervalMs;
    if (behind * this.#intervalMs <= EPSILON_MS) {
      // It was the last one. Which one came before the one before is not
      // known, so that one stays counted as the last if it goes too.
      this.#lastDueMs = this.#previousDueMs;
      this.#releaseHold(floorMs);
    }
  }

  /**
   * The last queued caller is gone: keep only the hold the new last one still
   * needs (newcomers queue behind it, as `setRate` decided), never below what a
   * pause left.
   */
  #releaseHold(floorMs: number): void {
    if (this.#holdMs === 0) return;
    const nowMs = this.#now();
    const tokensFullAtMs = this.#fullAtMs - this.#holdMs;
    const needed = this.#lastDueMs > nowMs
      ? Math.max(0, this.#lastDueMs + this.#burstMs - tokensFullAtMs)
      : 0;
    const fullAtMs = Math.max(tokensFullAtMs + Math.min(needed, this.#holdMs), floorMs);
    this.#holdMs = Math.max(0, fullAtMs - tokensFullAtMs);
    this.#fullAtMs = fullAtMs;
  }

  /**
   * Sleep until `dueMs`. Plain `then` callbacks rather than an async function:
   * with 100,000 waiters every closure counts, and most waiters wake exactly
   * once, in the era they fell asleep in.
   */
  #wait(n: number, dueMs: number, signal: AbortSignal | undefined): Promise<void> {
    const era = this.#era;
    return this.#clock.sleep(dueMs - this.#now(), signal).then(
      () => {
        if (era === this.#era) return;
        // The queue was moved while this waiter slept: its turn may be later.
        const movedDueMs = catchUp(dueMs, era);
        if (movedDueMs - this.#now() <= EPSILON_MS) return;
        return this.#wait(n, movedDueMs, signal);
      },
      signal === undefined ? undefined : (error: unknown): never => {
        this.#giveBack(catchUp(dueMs, era), n);
        throw error;
      },
    );
  }

  #invalidCount(action: string, n: number): RangeError {
    return n > this.#burst
      ? new RangeError(
        `Cannot ${action}: 'n' must not exceed the burst (${this.#burst}), current value is ${n}`,
      )
      : new RangeError(`Cannot ${action}: 'n' must be a positive number, current value is ${n}`);
  }
}

/**
 * How a pause or a slower rate moves the queue: a due time x after
 * `fixedUntil` becomes `anchor + (x − anchor) · factor + shift` (never earlier,
 * since factor ≥ 1, shift ≥ 0 and fixedUntil ≥ anchor); earlier ones stay.
 */
interface Move {
  anchorMs: number;
  factor: number;
  shiftMs: number;
  fixedUntilMs: number;
}

function moved(dueMs: number, move: Move): number {
  if (dueMs <= move.fixedUntilMs) return dueMs;
  return move.anchorMs + (dueMs - move.anchorMs) * move.factor + move.shiftMs;
}

/** A stretch of time without moves; `move` and `next` are set when it ends. */
interface Era {
  move?: Move;
  next?: Era;
}

/** Where a due time from `era` is now, after the moves since. */
function catchUp(dueMs: number, era: Era): number {
  for (let e = era; e.move !== undefined && e.next !== undefined; e = e.next) {
    dueMs = moved(dueMs, e.move);
  }
  return dueMs;
}

function checkRate(context: string, ratePerSecond: number, burst: number): void {
  if (!(ratePerSecond > 0 && ratePerSecond < Infinity)) {
    throw new RangeError(
      `${context}: 'ratePerSecond' must be a positive finite number, current value is ${ratePerSecond}`,
    );
  }
  if (!(burst >= 1 && burst < Infinity)) {
    throw new RangeError(
      `${context}: 'burst' must be a finite number of at least 1, current value is ${burst}`,
    );
  }
}
