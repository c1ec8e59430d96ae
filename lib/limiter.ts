/**
 * The one shape every rate limiter in politely has, so a sender never needs to
 * know whether it paces with a local {@linkcode TokenBucket}, an adaptive
 * limiter or a budget shared through Redis.
 *
 * @module
 */

/** Options for {@linkcode Limiter.take}. */
export interface TakeOptions {
  /** Stop waiting when this aborts: the tokens go back and `take` rejects with its reason. */
  signal?: AbortSignal;
}

/** What happened to a request that a limiter let through. */
export type LimiterOutcome = "accepted" | "throttled";

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
 * await sendAll({ take: () => Promise.resolve() }, [async () => {}]);
 * ```
 */
export interface Limiter {
  /** Wait until `n` tokens (default 1) are granted. */
  take(n?: number, options?: TakeOptions): Promise<void>;
  /** A server said "stop": grant nobody a token before now + `ms`. */
  pause?(ms: number): void;
  /** Feedback after a request: lets an adaptive limiter learn the real limit. */
  observe?(outcome: LimiterOutcome): void;
}
