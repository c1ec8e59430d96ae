/**
 * Time as a dependency. Everything in politely that waits takes a {@linkcode Clock},
 * so the same code runs against the wall clock in production and against a
 * {@linkcode FakeClock} in tests and simulations.
 *
 * @module
 */

/**
 * A source of time: a monotonic-enough millisecond reading and a way to wait.
 *
 * @example Writing code that takes a clock
 * ```ts
 * import { type Clock, realClock } from "./clock.ts";
 *
 * async function waitTwice(clock: Clock = realClock): Promise<number> {
 *   const start = clock.now();
 *   await clock.sleep(1);
 *   await clock.sleep(1);
 *   return clock.now() - start;
 * }
 * await waitTwice();
 * ```
 */
export interface Clock {
  /** The current time in milliseconds. Only differences between readings matter. */
  now(): number;
  /**
   * Resolve after `ms` milliseconds. If `signal` aborts first (or is already
   * aborted), reject with `signal.reason` at once and leave no timer behind.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * The wall clock: `Date.now()` and `setTimeout`.
 *
 * @example Sleeping for 10 ms
 * ```ts
 * import { realClock } from "./clock.ts";
 *
 * const start = realClock.now();
 * await realClock.sleep(10);
 * console.log(realClock.now() - start >= 9);
 * ```
 */
export const realClock: Clock = {
  now(): number {
    return Date.now();
  },
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (!(ms > 0)) return Promise.resolve();
    // Without a signal there is nothing to clean up: one timer and its promise
    // (100,000 waiters on a TokenBucket each hold one).
    if (!signal) return new Promise<void>((resolve) => setTimeout(resolve, ms));
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal.reason);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  },
};
