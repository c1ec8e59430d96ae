/**
 * Learning an unknown rate limit from the server's answers, the way the AWS
 * SDKs' "adaptive" retry mode does.
 *
 * The model: every send goes through a {@linkcode TokenBucket}, but the bucket
 * is off (nothing waits) until the server first answers "throttled". Each
 * answer is counted in fixed buckets of `bucketMs` (0.5 s), and when a bucket
 * closes the measured rate becomes `smoothing·(count/Δt) + (1 − smoothing)·measured`.
 *
 * - On a throttle the rate that caused it, `W_max = min(measured, fillRate)`
 *   (just `measured` while the bucket is still off), is remembered with the
 *   time, and the new rate is `β·W_max` (β = 0.7): a multiplicative decrease.
 * - On a success the rate follows TCP CUBIC:
 *   `C·(t − t_throttle − K)³ + W_max` with t in seconds, C = 0.4 and
 *   `K = ∛(W_max·(1 − β)/C)`, so it climbs quickly at first, flattens as it
 *   nears `W_max` (reached exactly K seconds after the throttle), then probes
 *   above it, faster and faster, until the next throttle.
 * - Either way the bucket then gets `fillRate = max(min(newRate, 2·measured), 0.5)`
 *   and a capacity of one second's worth, `max(min(newRate, 2·measured), 1)`:
 *   never more than twice what was actually sent, never stopped altogether.
 *
 * So the rate saw-tooths around the server's limit: a few throttles per cycle
 * are the price of finding it, and of finding out when it rises. When the
 * limit is known, pass it as `maxRatePerSecond`: the bucket is then on from
 * the start at that rate and learning only ever goes below it.
 *
 * @module
 */

import { type Clock, realClock } from "./clock.ts";
import type { Limiter, LimiterOutcome, TakeOptions } from "./limiter.ts";
import { TokenBucket } from "./token_bucket.ts";

/**
 * Options for {@linkcode AdaptiveLimiter}.
 *
 * @example Learning below a documented limit
 * ```ts
 * import { AdaptiveLimiter, type AdaptiveLimiterOptions } from "./adaptive_limiter.ts";
 * import { FakeClock } from "./fake_clock.ts";
 *
 * // The API documents 10 requests/s and bursts of 2: learn below that, never above.
 * const options: AdaptiveLimiterOptions = { maxRatePerSecond: 10, maxBurst: 2 };
 * const limiter = new AdaptiveLimiter({ ...options, clock: new FakeClock() });
 * console.log(limiter.ratePerSecond); // 10
 * ```
 */
export interface AdaptiveLimiterOptions {
  /**
   * Where time comes from; pass a {@linkcode FakeClock} to run in virtual time.
   *
   * @default {realClock}
   */
  clock?: Clock;
  /**
   * The multiplicative decrease on a throttle: the new rate is `beta` times the
   * rate that was throttled. Between 0 and 1, exclusive.
   *
   * @default {0.7}
   */
  beta?: number;
  /**
   * CUBIC's scale constant C (rate per second³): how fast the rate climbs back
   * after a throttle. A positive number.
   *
   * @default {0.4}
   */
  scaleConstant?: number;
  /**
   * The slowest the bucket ever goes, in requests per second, so that the
   * limiter keeps sending (and so keeps learning). When `maxRatePerSecond` is
   * lower, that is the floor instead.
   *
   * @default {0.5}
   */
  minRatePerSecond?: number;
  /**
   * The weight of the newest bucket in the measured rate; the rest stays with
   * the previous value. Above 0, at most 1.
   *
   * @default {0.8}
   */
  smoothing?: number;
  /** How long each measuring bucket is, in milliseconds. A positive number.
   *
   * @default {500}
   */
  bucketMs?: number;
  /**
   * A known upper bound on the rate, in requests per second (for example the
   * limit the API documents). When finite, the bucket is on from the start at
   * this rate, holding one token, and the learned rate never exceeds it. When
   * `Infinity`, nothing waits until the first throttle.
   *
   * @default {Infinity}
   */
  maxRatePerSecond?: number;
  /**
   * A cap on the bucket's capacity (AWS gives it one second's worth of the
   * fill rate). Pass the server's burst when known, so that a quiet spell
   * cannot build up a burst the server would refuse. At least 1.
   *
   * @default {Infinity}
   */
  maxBurst?: number;
}

/** A promise shared by every `take` that needs no wait. */
const GRANTED: Promise<void> = Promise.resolve();

/**
 * A {@linkcode Limiter} that finds an unknown rate limit by itself: it sends
 * freely until the first "throttled", then paces with a token bucket whose
 * rate it lowers on every throttle and raises (CUBIC) on every success. Tell
 * it each answer with {@linkcode AdaptiveLimiter.observe}.
 *
 * @example Learning the limit while sending
 * ```ts
 * import { AdaptiveLimiter } from "./adaptive_limiter.ts";
 *
 * const limiter = new AdaptiveLimiter();
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
 *
 * @example Starting from a known upper bound, in virtual time
 * ```ts
 * import { AdaptiveLimiter } from "./adaptive_limiter.ts";
 * import { FakeClock } from "./fake_clock.ts";
 *
 * const clock = new FakeClock();
 * const limiter = new AdaptiveLimiter({ maxRatePerSecond: 10, clock });
 * limiter.observe("throttled"); // nothing measured yet: down to the floor
 * console.log(limiter.ratePerSecond); // 0.5
 * ```
 */
export class AdaptiveLimiter implements Limiter {
  readonly #clock: Clock;
  /** Every stored time is relative to this reading. */
  readonly #originMs: number;
  readonly #beta: number;
  readonly #scaleConstant: number;
  readonly #floorRatePerSecond: number;
  readonly #smoothing: number;
  readonly #bucketMs: number;
  readonly #maxRatePerSecond: number;
  readonly #maxBurst: number;

  /** The pacing bucket; `undefined` while it is off (before the first throttle). */
  #bucket: TokenBucket | undefined;
  /** Until the first throttle there is no rate to recover towards. */
  #learning = false;
  #measuredRatePerSecond = 0;
  /** Where the open measuring bucket starts, and the answers counted in it so far. */
  #measureStartMs = 0;
  #measureCount = 0;
  /** CUBIC state: the throttled rate, when it happened, and the time to climb back to it. */
  #maxWindowRatePerSecond = 0;
  #lastThrottleMs = 0;
  #recoverySeconds = 0;
  /** Whether a caller is waiting inside the bucket, and who waits for their turn behind it. */
  #headWaiting = false;
  readonly #turns: Array<() => void> = [];
  /** A pause that came while the bucket was off; handed to the bucket when it starts. */
  #pausedUntilMs = -Infinity;

  /**
   * Make a limiter that knows nothing yet (or only `maxRatePerSecond`).
   *
   * @throws {RangeError} if an option is out of its range.
   */
  constructor(options: AdaptiveLimiterOptions = {}) {
    const {
      clock = realClock,
      beta = 0.7,
      scaleConstant = 0.4,
      minRatePerSecond = 0.5,
      smoothing = 0.8,
      bucketMs = 500,
      maxRatePerSecond = Infinity,
      maxBurst = Infinity,
    } = options;
    const context = "Cannot create AdaptiveLimiter";
    check(context, "beta", beta, beta > 0 && beta < 1, "a number between 0 and 1, exclusive");
    check(context, "scaleConstant", scaleConstant, isPositiveFinite(scaleConstant));
    check(context, "minRatePerSecond", minRatePerSecond, isPositiveFinite(minRatePerSecond));
    check(
      context,
      "smoothing",
      smoothing,
      smoothing > 0 && smoothing <= 1,
      "above 0 and at most 1",
    );
    check(context, "bucketMs", bucketMs, isPositiveFinite(bucketMs));
    check(context, "maxRatePerSecond", maxRatePerSecond, maxRatePerSecond > 0, "a positive number");
    check(context, "maxBurst", maxBurst, maxBurst >= 1, "a number of at least 1");
    this.#clock = clock;
    this.#originMs = clock.now();
    this.#beta = beta;
    this.#scaleConstant = scaleConstant;
    this.#floorRatePerSecond = Math.min(minRatePerSecond, maxRatePerSecond);
    this.#smoothing = smoothing;
    this.#bucketMs = bucketMs;
    this.#maxRatePerSecond = maxRatePerSecond;
    this.#maxBurst = maxBurst;
    if (maxRatePerSecond < Infinity) {
      // Like a TokenBucket of burst 1: the first request goes at once, the rest
      // at the known rate; a full one-second burst could already be refused.
      this.#bucket = new TokenBucket({
        ratePerSecond: maxRatePerSecond,
        burst: this.#capacityFor(maxRatePerSecond),
        clock,
      });
      if (this.#bucket.burst > 1) this.#bucket.tryTake(this.#bucket.burst - 1);
    }
  }

  /**
   * The current fill rate in requests per second, or `Infinity` while the
   * bucket is off (no throttle yet and no `maxRatePerSecond`).
   */
  get ratePerSecond(): number {
    return this.#bucket?.ratePerSecond ?? Infinity;
  }

  /** The bucket's current capacity, or `Infinity` while the bucket is off. */
  get burst(): number {
    return this.#bucket?.burst ?? Infinity;
  }

  /**
   * The smoothed rate of answers (requests per second) as of the last closed
   * measuring bucket; 0 until one has closed.
   */
  get measuredRatePerSecond(): number {
    return this.#measuredRatePerSecond;
  }

  /**
   * Wait for `n` tokens (default 1). Resolves at once while the bucket is off
   * (unless a pause is running); afterwards waits in arrival order as
   * {@linkcode TokenBucket.take} does, with the same abort behaviour: if
   * `options.signal` aborts, the tokens go back, no timer is left behind, and
   * the promise rejects with `signal.reason`. Only the first caller in line
   * waits inside the bucket; the others wait their turn without a timer, so a
   * rate raised meanwhile applies to them.
   *
   * Rejects with a `RangeError` if `n` is not a positive finite number, or,
   * once the bucket is on, exceeds its capacity ({@linkcode AdaptiveLimiter.burst},
   * which can be as low as 1).
   *
   * @example Waiting with a time limit
   * ```ts
   * import { AdaptiveLimiter } from "./adaptive_limiter.ts";
   *
   * const limiter = new AdaptiveLimiter();
   * await limiter.take(1, { signal: AbortSignal.timeout(5_000) });
   * ```
   */
  take(n = 1, options?: TakeOptions): Promise<void> {
    if (!isPositiveFinite(n)) {
      return Promise.reject(
        new RangeError(
          `Cannot take from AdaptiveLimiter: 'n' must be a positive finite number, current value is ${n}`,
        ),
      );
    }
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#bucket) return this.#takeInTurn(this.#bucket, n, options);
    if (this.#now() < this.#pausedUntilMs) return this.#waitOutPause(n, options);
    return GRANTED;
  }

  /**
   * Grant nobody a token before now + `ms` (a server said how long to wait).
   * Works the same whether or not the bucket is on yet; a pause never moves
   * the rate, only {@linkcode AdaptiveLimiter.observe} does. A bucket that a
   * throttle turned on starts empty and stands still during the pause, so the
   * first caller goes one interval after the pause ends, whichever of `pause`
   * and `observe("throttled")` came first.
   *
   * @throws {RangeError} if `ms` is negative or not finite.
   *
   * @example Honouring Retry-After
   * ```ts
   * import { AdaptiveLimiter } from "./adaptive_limiter.ts";
   *
   * const limiter = new AdaptiveLimiter();
   * limiter.observe("throttled");
   * limiter.pause(2_000); // Retry-After: 2
   * ```
   */
  pause(ms: number): void {
    if (!(ms >= 0 && ms < Infinity)) {
      throw new RangeError(
        `Cannot pause AdaptiveLimiter: 'ms' must be a non-negative finite number, current value is ${ms}`,
      );
    }
    if (this.#bucket) {
      this.#bucket.pause(ms);
    } else {
      this.#pausedUntilMs = Math.max(this.#pausedUntilMs, this.#now() + ms);
    }
  }

  /**
   * Learn from one answer: `"throttled"` (the server refused for rate) lowers
   * the rate to β times the rate that was refused and turns the bucket on;
   * `"accepted"` (any answer that was not a throttle) moves it along the CUBIC
   * curve. Call it once per request that reached the server.
   *
   * @example Reporting each answer
   * ```ts
   * import { AdaptiveLimiter } from "./adaptive_limiter.ts";
   *
   * const limiter = new AdaptiveLimiter();
   * await limiter.take();
   * const status: number = 429; // what the server answered
   * limiter.observe(status === 429 ? "throttled" : "accepted");
   * console.log(limiter.ratePerSecond); // 0.5: nothing was measured yet
   * ```
   */
  observe(outcome: LimiterOutcome): void {
    const nowMs = this.#now();
    this.#measure(nowMs);
    let newRate: number;
    if (outcome === "throttled") {
      // What the server saw, but never more than we were allowed to send.
      const rate = Math.min(this.#measuredRatePerSecond, this.ratePerSecond);
      this.#maxWindowRatePerSecond = rate;
      this.#recoverySeconds = Math.cbrt((rate * (1 - this.#beta)) / this.#scaleConstant);
      this.#lastThrottleMs = nowMs;
      this.#learning = true;
      newRate = this.#beta * rate;
    } else {
      // Before the first throttle there is nothing to recover towards: keep
      // sending freely, or at the known upper bound.
      if (!this.#learning) return;
      const t = (nowMs - this.#lastThrottleMs) / 1000 - this.#recoverySeconds;
      newRate = this.#scaleConstant * t * t * t + this.#maxWindowRatePerSecond;
    }
    this.#setRate(newRate);
  }

  /** Close the measuring buckets that ended by `nowMs`, then count this answer. */
  #measure(nowMs: number): void {
    const startMs = Math.floor(nowMs / this.#bucketMs) * this.#bucketMs;
    if (startMs > this.#measureStartMs) {
      const sampled = this.#measureCount / ((startMs - this.#measureStartMs) / 1000);
      this.#measuredRatePerSecond = this.#smoothing * sampled +
        (1 - this.#smoothing) * this.#measuredRatePerSecond;
      this.#measureStartMs = startMs;
      this.#measureCount = 0;
    }
    this.#measureCount++;
  }

  /** Apply a CUBIC rate: no more than twice what was measured, no less than the floor. */
  #setRate(newRate: number): void {
    const paced = Math.min(newRate, 2 * this.#measuredRatePerSecond, this.#maxRatePerSecond);
    const fillRate = Math.max(paced, this.#floorRatePerSecond);
    const burst = this.#capacityFor(paced);
    if (this.#bucket) {
      this.#bucket.setRate(fillRate, burst);
      return;
    }
    // The first throttle turns the bucket on, empty (as the SDKs do): the next
    // request waits one interval instead of bursting into a server that just said no.
    const bucket = new TokenBucket({ ratePerSecond: fillRate, burst, clock: this.#clock });
    bucket.tryTake(bucket.burst);
    const pausedMs = this.#pausedUntilMs - this.#now();
    if (pausedMs > 0) bucket.pause(pausedMs);
    this.#bucket = bucket;
  }

  /** One second's worth of tokens, at least 1, at most `maxBurst`. */
  #capacityFor(ratePerSecond: number): number {
    return Math.min(Math.max(ratePerSecond, 1), this.#maxBurst);
  }

  /**
   * Let one caller at a time wait in the bucket; the rest wait their turn here,
   * without timers. A bucket sleeper keeps the time it was given when the rate
   * goes up (it cannot be woken early), so if every caller queued in the bucket
   * at once, a throttle's low rate would hold them all for seconds after the
   * rate had recovered; the measured rate would sink meanwhile, and with it
   * the `2·measured` ceiling. Here only the head's time is fixed in advance.
   */
  #takeInTurn(bucket: TokenBucket, n: number, options: TakeOptions | undefined): Promise<void> {
    if (!this.#headWaiting && this.#turns.length === 0) {
      try {
        if (bucket.tryTake(n)) return GRANTED;
      } catch (error: unknown) {
        return Promise.reject(error);
      }
      return this.#waitAsHead(bucket, n, options);
    }
    const signal = options?.signal;
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.#turns.indexOf(turn);
        if (index >= 0) this.#turns.splice(index, 1);
        reject(signal?.reason);
      };
      const turn = (): void => {
        signal?.removeEventListener("abort", onAbort);
        this.#waitAsHead(bucket, n, options).then(resolve, reject);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#turns.push(turn);
    });
  }

  #waitAsHead(bucket: TokenBucket, n: number, options: TakeOptions | undefined): Promise<void> {
    this.#headWaiting = true;
    const granted = bucket.take(n, options);
    const next = (): void => {
      this.#headWaiting = false;
      this.#turns.shift()?.();
    };
    granted.then(next, next);
    return granted;
  }

  /** Sleep out a pause set while the bucket was off; by then the bucket may be on. */
  async #waitOutPause(n: number, options: TakeOptions | undefined): Promise<void> {
    while (!this.#bucket) {
      const remainingMs = this.#pausedUntilMs - this.#now();
      if (!(remainingMs > 0)) return;
      await this.#clock.sleep(remainingMs, options?.signal);
    }
    await this.#takeInTurn(this.#bucket, n, options);
  }

  #now(): number {
    return this.#clock.now() - this.#originMs;
  }
}

function isPositiveFinite(value: number): boolean {
  return value > 0 && value < Infinity;
}

function check(
  context: string,
  name: string,
  value: number,
  ok: boolean,
  expected = "a positive finite number",
): void {
  if (!ok) {
    throw new RangeError(`${context}: '${name}' must be ${expected}, current value is ${value}`);
  }
}
