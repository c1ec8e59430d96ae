/**
 * The one shape every rate limiter in politely has, so a sender never needs to
 * know whether it paces with a local {@linkcode TokenBucket}, an adaptive
 * limiter or a budget shared through Redis.
 *
 * @module
 */

/**
 * Options for {@linkcode Limiter.take}.
 *
 * @example Waiting for a token at most one second
 * ```ts
 * import type { Limiter, TakeOptions } from "./limiter.ts";
 *
 * async function takeWithin(limiter: Limiter, ms: number): Promise<void> {
 *   const options: TakeOptions = { signal: AbortSignal.timeout(ms) };
 *   await limiter.take(1, options); // rejects with a TimeoutError if no token comes in time
 * }
 * await takeWithin({ ratePerSecond: Infinity, burst: Infinity, take: () => Promise.resolve() }, 1_000);
 * ```
 */
export interface TakeOptions {
  /**
   * Stop waiting when this aborts: the tokens go back and `take` rejects with its reason.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/**
 * What happened to a request that a limiter let through.
 *
 * @example Telling a limiter how a request went
 * ```ts
 * import type { Limiter, LimiterOutcome } from "./limiter.ts";
 *
 * function report(limiter: Limiter, status: number): void {
 *   const outcome: LimiterOutcome = status === 429 ? "throttled" : "accepted";
 *   limiter.observe?.(outcome); // only limiters that learn implement it
 * }
 * report({ ratePerSecond: Infinity, burst: Infinity, take: () => Promise.resolve() }, 429);
 * ```
 */
export type LimiterOutcome = "accepted" | "throttled";

/**
 * What a throttling answer said besides "no", for {@linkcode Limiter.observe}.
 *
 * @example Passing on a limit the server stated
 * ```ts
 * import type { ObserveDetail } from "./limiter.ts";
 *
 * // RateLimit-Policy: "default";q=100;w=10 is 10 requests a second.
 * const detail: ObserveDetail = { limitPerSecond: 100 / 10 };
 * console.log(detail.limitPerSecond); // 10
 * ```
 */
export interface ObserveDetail {
  /** The server's request limit per second, when it stated one (e.g. `RateLimit-Policy`). */
  limitPerSecond?: number;
  /**
   * How long the server asked to wait (`Retry-After`), when it did. The
   * sender pauses the limiter for it; a learning limiter then takes no rate
   * lesson from the 429, since the server said exactly when to come back.
   */
  retryAfterMs?: number;
}

/**
 * Anything that can pace requests: wait for `n` tokens before each request.
 *
 * @example Pacing a loop with any limiter
 * ```ts
 * import type { Limiter } from "./limiter.ts";
 *
 * async function sendAll(limiter: Limiter, jobs: Array<() => Promise<void>>): Promise<void> {
 *   for (const job of jobs) {
 *     await limiter.take();
 *     await job();
 *   }
 * }
 * const unpaced: Limiter = { ratePerSecond: Infinity, burst: Infinity, take: () => Promise.resolve() };
 * await sendAll(unpaced, [async () => {}]);
 * ```
 */
export interface Limiter {
  /**
   * The pace it grants at now, in requests per second (`Infinity` when it does
   * not pace). A sender reads it to space its departures and size its
   * backoff: the rate has one source of truth, the limiter.
   */
  readonly ratePerSecond: number;
  /** How many requests it lets go at once after a quiet spell (`Infinity` when it does not pace). */
  readonly burst: number;
  /** Wait until `n` tokens (default 1) are granted. */
  take(n?: number, options?: TakeOptions): Promise<void>;
  /**
   * A server said how long to wait: grant nobody a token before now + `ms`.
   * A limiter shared through a server may return a promise that settles when
   * the pause is recorded there.
   */
  pause?(ms: number): void | Promise<void>;
  /**
   * Feedback after every answer that reached the server. A limiter that
   * implements it learns from throttles itself (it slows its own pace), so a
   * sender does not also pause it for a throttle without a server-given delay.
   */
  observe?(outcome: LimiterOutcome, detail?: ObserveDetail): void;
}

/**
 * Whether `limiter` learns from throttles (it implements `observe`): it slows its
 * own pace after a 429, so a sender must not also pause it for one without a
 * server-given delay.
 *
 * @example A plain object that only paces does not learn
 * ```ts
 * import { learnsFromThrottles } from "./limiter.ts";
 *
 * const pacer = { ratePerSecond: 1, burst: 1, take: async () => {} };
 * console.log(learnsFromThrottles(pacer)); // false
 * ```
 */
export function learnsFromThrottles(limiter: Limiter | undefined): boolean {
  return typeof limiter?.observe === "function";
}

/**
 * Pause `limiter` for `ms`, if it can pause. A limiter shared through a server may
 * answer with a promise; its failure is left to show up in the next `take`.
 *
 * @example Pausing a bucket for a server's Retry-After
 * ```ts
 * import { pauseLimiter } from "./limiter.ts";
 * import { TokenBucket } from "./token_bucket.ts";
 *
 * pauseLimiter(new TokenBucket({ ratePerSecond: 5 }), 2000);
 * ```
 */
export function pauseLimiter(limiter: Limiter | undefined, ms: number): void {
  const paused = limiter?.pause?.(ms);
  if (paused instanceof Promise) paused.catch(() => {});
}
