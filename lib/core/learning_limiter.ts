/**
 * A limiter that paces at a rate it learns from the server's answers, never
 * above a ceiling: {@linkcode LimitLearner} decides the rate, a queue of
 * waiters follows it at once, up or down.
 *
 * @module
 */

import { type Clock, realClock } from "./clock.ts";
import { LimitLearner, type LimitLearnerState } from "./limit_learner.ts";
import type { Limiter, LimiterOutcome, ObserveDetail, TakeOptions } from "./limiter.ts";

/**
 * Options for {@linkcode LearningLimiter}.
 *
 * @example An unknown limit, at most 100/s, found from 10/s up
 * ```ts
 * import { LearningLimiter, type LearningLimiterOptions } from "./learning_limiter.ts";
 *
 * const options: LearningLimiterOptions = { ratePerSecond: 100, startPerSecond: 10 };
 * console.log(new LearningLimiter(options).ratePerSecond); // 10
 * ```
 */
export interface LearningLimiterOptions {
  /** The ceiling in requests per second: it never paces faster. A positive finite number. */
  ratePerSecond: number;
  /**
   * How many requests may go at once after a quiet spell. A finite number of at least 1.
   *
   * @default {1}
   */
  burst?: number;
  /**
   * Where to start: below `ratePerSecond` the rate doubles about every 200 ms
   * of accepted answers until the first 429 (slow start); at it, the ceiling
   * is trusted until a 429 says otherwise.
   *
   * @default {ratePerSecond}
   */
  startPerSecond?: number;
  /**
   * Where time comes from.
   *
   * @default {realClock}
   */
  clock?: Clock;
}

interface Waiter {
  n: number;
  resolve: () => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

const EPSILON_MS = 1e-6;

/**
 * A {@linkcode Limiter} that learns the server's limit below a ceiling. Tell
 * it every answer with {@linkcode LearningLimiter.observe}; a 429 without a
 * hint lowers the shared pace in proportion to what the server accepted (see
 * {@linkcode LimitLearner}), and only the first caller in line sleeps, so a new
 * rate applies to everyone waiting at once.
 *
 * @example Pacing requests to an API whose limit is unknown but at most 50/s
 * ```ts
 * import { LearningLimiter } from "./learning_limiter.ts";
 *
 * const limiter = new LearningLimiter({ ratePerSecond: 50, startPerSecond: 5 });
 * async function send(): Promise<Response> {
 *   for (;;) {
 *     await limiter.take();
 *     const response = await fetch("https://api.example.com/v1/things", { method: "POST" });
 *     limiter.observe(response.status === 429 ? "throttled" : "accepted");
 *     if (response.status !== 429) return response;
 *     await response.body?.cancel();
 *   }
 * }
 * ```
 */
export class LearningLimiter implements Limiter {
  readonly #clock: Clock;
  readonly #originMs: number;
  readonly #learner: LimitLearner;
  #burst: number;
  #rate: number;
  #intervalMs: number;
  /** GCRA: when the bucket would be full again. */
  #fullAtMs = 0;
  #pausedUntilMs = -Infinity;
  readonly #queue: Waiter[] = [];
  #pumping = false;
  /** Aborted to make the sleeping head re-plan (a new rate, a pause, a head that left). */
  #replan: AbortController | undefined;

  /**
   * Make a limiter that knows only its ceiling.
   *
   * @throws {RangeError} if an option is out of range.
   */
  constructor(options: LearningLimiterOptions) {
    const { ratePerSecond, burst = 1, startPerSecond, clock = realClock } = options;
    if (!(burst >= 1 && burst < Infinity)) {
      throw new RangeError(
        `Cannot create LearningLimiter: 'burst' must be a finite number of at least 1, current value is ${burst}`,
      );
    }
    this.#learner = new LimitLearner({
      ceilingPerSecond: ratePerSecond,
      ...(startPerSecond === undefined ? {} : { startPerSecond }),
      clock,
    });
    this.#clock = clock;
    this.#originMs = clock.now();
    this.#burst = burst;
    this.#rate = this.#learner.ratePerSecond;
    this.#intervalMs = 1000 / this.#rate;
  }

  /** The pace now, in requests per second. */
  get ratePerSecond(): number {
    return this.#rate;
  }

  /** The most requests that may go at once. */
  get burst(): number {
    return this.#burst;
  }

  /**
   * What the learner knows (the estimate, the margin, whether it is still
   * starting up).
   *
   * @example Reading what was learned
   * ```ts
   * import { LearningLimiter } from "./learning_limiter.ts";
   *
   * const limiter = new LearningLimiter({ ratePerSecond: 10 });
   * console.log(limiter.learned().estimatePerSecond); // undefined: no 429 yet
   * ```
   */
  learned(): LimitLearnerState {
    return this.#learner.state();
  }

  /**
   * Wait for `n` tokens (default 1), behind everyone who asked earlier. If
   * `options.signal` aborts while waiting, the caller leaves the queue and the
   * promise rejects with `signal.reason`.
   *
   * Rejects with a `RangeError` if `n` is not positive or exceeds `burst`.
   *
   * @example Waiting with a time limit
   * ```ts
   * import { LearningLimiter } from "./learning_limiter.ts";
   *
   * const limiter = new LearningLimiter({ ratePerSecond: 100 });
   * await limiter.take(1, { signal: AbortSignal.timeout(5_000) });
   * ```
   */
  take(n = 1, options?: TakeOptions): Promise<void> {
    if (!(n > 0 && n <= this.#burst)) {
      return Promise.reject(
        new RangeError(
          `Cannot take from LearningLimiter: 'n' must be positive and at most the burst (${this.#burst}), current value is ${n}`,
        ),
      );
    }
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#queue.length === 0 && this.#waitMs(n) <= EPSILON_MS) {
      this.#grant(n);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { n, resolve, reject, signal, onAbort: () => {} };
      waiter.onAbort = () => {
        const index = this.#queue.indexOf(waiter);
        if (index < 0) return;
        this.#queue.splice(index, 1);
        if (index === 0) this.#replan?.abort();
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.#queue.push(waiter);
      void this.#pump();
    });
  }

  /**
   * Grant nobody a token before now + `ms` (a server said how long to wait).
   * When it ends, one token is there, not a burst.
   *
   * @throws {RangeError} if `ms` is negative or not finite.
   *
   * @example Honouring Retry-After
   * ```ts
   * import { LearningLimiter } from "./learning_limiter.ts";
   *
   * const limiter = new LearningLimiter({ ratePerSecond: 10 });
   * limiter.pause(2_000);
   * ```
   */
  pause(ms: number): void {
    if (!(ms >= 0 && ms < Infinity)) {
      throw new RangeError(
        `Cannot pause LearningLimiter: 'ms' must be a non-negative finite number, current value is ${ms}`,
      );
    }
    const untilMs = this.#now() + ms;
    if (untilMs <= this.#pausedUntilMs) return;
    this.#pausedUntilMs = untilMs;
    this.#fullAtMs = Math.max(this.#fullAtMs, untilMs + (this.#burst - 1) * this.#intervalMs);
    this.#replan?.abort();
  }

  /**
   * Learn from one answer. `"throttled"` without a limit in `detail` lowers
   * the pace to what the server accepted, less a margin; a `limitPerSecond`
   * is taken as the limit. `"accepted"` lets the rate grow (slow start, or a
   * gentle probe above the estimate).
   *
   * @example Reporting each answer
   * ```ts
   * import { LearningLimiter } from "./learning_limiter.ts";
   *
   * const limiter = new LearningLimiter({ ratePerSecond: 20 });
   * await limiter.take();
   * limiter.observe("throttled");
   * console.log(limiter.ratePerSecond < 20); // true
   * ```
   */
  observe(outcome: LimiterOutcome, detail?: ObserveDetail): void {
    if (outcome === "throttled") {
      // A server that said when to come back is paused for, not learned from.
      if (detail?.limitPerSecond === undefined && detail?.retryAfterMs !== undefined) return;
      this.#learner.throttled(detail?.limitPerSecond);
      this.#applyRate();
    } else {
      this.#learner.accepted();
      this.#applyRate();
    }
  }

  /**
   * Change the ceiling (and optionally the burst).
   *
   * @throws {RangeError} if `ratePerSecond` is not a positive finite number or
   * `burst` is not a finite number of at least 1.
   *
   * @example Lowering the ceiling
   * ```ts
   * import { LearningLimiter } from "./learning_limiter.ts";
   *
   * const limiter = new LearningLimiter({ ratePerSecond: 20 });
   * limiter.setRate(10);
   * console.log(limiter.ratePerSecond); // 10
   * ```
   */
  setRate(ratePerSecond: number, burst: number = this.#burst): void {
    if (!(burst >= 1 && burst < Infinity)) {
      throw new RangeError(
        `Cannot set LearningLimiter rate: 'burst' must be a finite number of at least 1, current value is ${burst}`,
      );
    }
    this.#learner.setCeiling(ratePerSecond);
    this.#burst = burst;
    this.#applyRate();
  }

  #applyRate(): void {
    const rate = this.#learner.ratePerSecond;
    if (rate === this.#rate) return;
    // Settle what is owed at the old rate, pay it at the new one.
    const atMs = Math.max(this.#now(), this.#pausedUntilMs);
    const owedTokens = Math.max(0, this.#fullAtMs - atMs) / this.#intervalMs;
    this.#rate = rate;
    this.#intervalMs = 1000 / rate;
    this.#fullAtMs = atMs + owedTokens * this.#intervalMs;
    this.#replan?.abort();
  }

  /** How long `n` tokens are away now (0 when they are there). */
  #waitMs(n: number): number {
    const nowMs = this.#now();
    const dueMs = Math.max(
      this.#pausedUntilMs,
      Math.max(this.#fullAtMs, nowMs) + (n - this.#burst) * this.#intervalMs,
    );
    return Math.max(0, dueMs - nowMs);
  }

  #grant(n: number): void {
    // A timer fires a little late; counting from when it fired would let the
    // lateness add up over a queue. Up to half an interval late is forgiven
    // (the schedule holds); later than that is not made up with a burst.
    const fromMs = Math.max(this.#fullAtMs, this.#now() - this.#intervalMs / 2);
    this.#fullAtMs = fromMs + n * this.#intervalMs;
  }

  /** Serve the queue in order: only the head sleeps, and re-plans when the rate changes. */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#queue.length > 0) {
        const head = this.#queue[0]!;
        const waitMs = this.#waitMs(head.n);
        if (waitMs <= EPSILON_MS) {
          this.#queue.shift();
          head.signal?.removeEventListener("abort", head.onAbort);
          this.#grant(head.n);
          head.resolve();
          continue;
        }
        const replan = new AbortController();
        this.#replan = replan;
        await this.#clock.sleep(waitMs, replan.signal).catch(() => {});
        this.#replan = undefined;
      }
    } finally {
      this.#pumping = false;
    }
  }

  #now(): number {
    return this.#clock.now() - this.#originMs;
  }
}
