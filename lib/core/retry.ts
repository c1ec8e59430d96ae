/**
 * The retry loop: call, decide, back off, call again — within a number of
 * attempts and a time budget.
 *
 * Each attempt either throws (asked of `retryOn`) or returns a result (asked of
 * `retryOnResult`, like Python `backoff`'s `on_predicate`). To retry, the loop
 * takes the next delay from a {@linkcode Backoff} schedule, or the server's own
 * delay from `delayHint` (e.g. Retry-After), and sleeps on the injected
 * {@linkcode Clock}.
 *
 * **No deadline herd.** When the next delay would end past `maxElapsedMs`, the
 * loop gives up at once instead of sleeping until the deadline. Python
 * `backoff` shortens that last sleep to end exactly at `max_time`, so every
 * jittered caller still running makes one last call together at the deadline;
 * here the calls stay as spread out at the end as jitter made them.
 *
 * @module
 */

import { type BackoffOptions, createBackoff } from "./backoff.ts";
import { type Clock, realClock } from "./clock.ts";

/**
 * What `fn` receives on each attempt.
 *
 * @example Using the attempt number and the signal
 * ```ts
 * import { retry, type RetryAttemptContext } from "./retry.ts";
 *
 * async function load({ attempt, signal }: RetryAttemptContext): Promise<string> {
 *   signal.throwIfAborted(); // a real call passes `signal` on to fetch
 *   if (attempt < 2) throw new Error("flaky");
 *   return `loaded on attempt ${attempt}`;
 * }
 * console.log(await retry(load, { backoff: { baseMs: 1, capMs: 1 } })); // loaded on attempt 2
 * ```
 */
export interface RetryAttemptContext {
  /** Which call this is, counting from 1. */
  attempt: number;
  /** The caller's `signal` (or one that never aborts): pass it on to `fetch` and friends. */
  signal: AbortSignal;
}

/**
 * What `retryOn` and `retryOnResult` receive besides the error or result.
 *
 * @example Retrying timeouts only, and only early on
 * ```ts
 * import { retry, type RetryDecisionContext } from "./retry.ts";
 *
 * const retryOn = (error: unknown, { elapsedMs }: RetryDecisionContext): boolean =>
 *   error instanceof DOMException && error.name === "TimeoutError" && elapsedMs < 10_000;
 * console.log(await retry(() => "ok", { retryOn })); // ok
 * ```
 */
export interface RetryDecisionContext {
  /** The attempt that just ended, counting from 1. */
  attempt: number;
  /** Milliseconds since `retry` was called. */
  elapsedMs: number;
}

/**
 * Why a retry loop stopped without success.
 *
 * @example Learning why the loop gave up
 * ```ts
 * import { retry, type RetryGiveUpReason } from "./retry.ts";
 *
 * let why: RetryGiveUpReason | undefined;
 * const failing = (): never => {
 *   throw new RangeError("bad input");
 * };
 * await retry(failing, {
 *   retryOn: (error) => !(error instanceof RangeError),
 *   onGiveUp: ({ reason }) => void (why = reason),
 * }).catch(() => {});
 * console.log(why); // not-retryable
 * ```
 */
export type RetryGiveUpReason = "max-attempts" | "max-elapsed" | "not-retryable";

/**
 * What the `onRetry`, `onGiveUp` and `onSuccess` hooks receive.
 *
 * @example Logging each retry
 * ```ts
 * import { retry, type RetryHookContext } from "./retry.ts";
 *
 * const onRetry = ({ attempt, delayMs, error }: RetryHookContext<string>): void => {
 *   console.log(`attempt ${attempt} failed (${error}); next in ${Math.round(delayMs)} ms`);
 * };
 * let calls = 0;
 * const flaky = (): string => {
 *   if (++calls === 1) throw new Error("flaky");
 *   return "ok";
 * };
 * await retry(flaky, { onRetry, backoff: { baseMs: 1, capMs: 1 } });
 * ```
 */
export interface RetryHookContext<T> {
  /** The attempt that just ended, counting from 1. */
  attempt: number;
  /** Milliseconds since `retry` was called, measured when the attempt ended. */
  elapsedMs: number;
  /**
   * `onRetry`: the sleep about to start. `onGiveUp` with reason `"max-elapsed"`:
   * the delay that would have passed the budget. Otherwise 0.
   */
  delayMs: number;
  /** What the attempt threw, when it threw. */
  error?: unknown;
  /** What the attempt returned, when it returned. */
  result?: T;
  /** Only for `onGiveUp`: why the loop stopped. */
  reason?: RetryGiveUpReason;
}

/**
 * Options for {@linkcode retry}.
 *
 * @example Retrying a 503 a few times within 30 seconds
 * ```ts
 * import { retry, type RetryOptions } from "./retry.ts";
 *
 * const options: RetryOptions<Response> = {
 *   maxAttempts: 5,
 *   maxElapsedMs: 30_000,
 *   backoff: { baseMs: 500, capMs: 8_000 },
 *   retryOnResult: (response) => response.status === 503,
 * };
 * const response = await retry(() => new Response("ok"), options);
 * console.log(await response.text()); // ok
 * ```
 */
export interface RetryOptions<T> {
  /**
   * The most calls of `fn` in total, **counting the first** (so 1 means no
   * retry; libraries disagree here: p-retry counts retries only). A positive
   * integer or `Infinity`.
   *
   * @default {Infinity}
   */
  maxAttempts?: number;
  /**
   * The time budget in milliseconds, counted from the start of the first call.
   * No retry starts a sleep that would end past it: the loop gives up instead.
   * Time spent in the hooks (`retryOn`, `retryOnResult`, `onRetry`) counts:
   * an `onRetry` that runs the budget out ends the loop (then `onGiveUp` runs).
   *
   * @default {Infinity}
   */
  maxElapsedMs?: number;
  /**
   * The delay schedule (see {@linkcode createBackoff}).
   *
   * @default {{ strategy: "exponential", baseMs: 1000, factor: 2, capMs: 60000, jitter: "full" }}
   */
  backoff?: BackoffOptions;
  /**
   * Whether a thrown error is worth another attempt. An abort of the caller's
   * own `signal` always ends the loop, whatever this says.
   *
   * @default {() => true}
   */
  retryOn?: (error: unknown, context: RetryDecisionContext) => boolean | Promise<boolean>;
  /**
   * Whether a returned result means "try again" (Python `backoff`'s
   * `on_predicate`), e.g. `(ok) => ok === false`.
   *
   * @default {() => false}
   */
  retryOnResult?: (result: T, context: RetryDecisionContext) => boolean | Promise<boolean>;
  /**
   * A delay in milliseconds the server asked for (e.g. a parsed Retry-After),
   * given the error or result of the attempt. A finite number >= 0 replaces
   * the computed backoff: it is not jittered and not capped by `capMs`, but a
   * hint that would pass `maxElapsedMs` still ends the loop. Anything else
   * (`undefined`, NaN, negative, Infinity) falls back to the backoff, which
   * advances either way.
   *
   * @default {() => undefined}
   */
  delayHint?: (errorOrResult: unknown) => number | undefined;
  /**
   * Stops the loop: an abort during a sleep rejects at once with
   * `signal.reason`, and no attempt starts once it has aborted.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Where time comes from; pass a `FakeClock` in tests.
   *
   * @default {realClock}
   */
  clock?: Clock;
  /**
   * Called before each sleep. Awaited; if it throws, `retry` rejects with that.
   *
   * @default {undefined}
   */
  onRetry?: (context: RetryHookContext<T>) => void | Promise<void>;
  /**
   * Called once when the loop stops without success (a non-retryable error or
   * an exhausted budget), not on abort. Awaited.
   *
   * @default {undefined}
   */
  onGiveUp?: (context: RetryHookContext<T>) => void | Promise<void>;
  /**
   * Called once with the accepted result. Awaited.
   *
   * @default {undefined}
   */
  onSuccess?: (context: RetryHookContext<T>) => void | Promise<void>;
}

/**
 * The fields of a {@linkcode RetryError}.
 *
 * @example Building a RetryError
 * ```ts
 * import { RetryError, type RetryErrorInit } from "./retry.ts";
 *
 * const init: RetryErrorInit = {
 *   attempts: 3,
 *   elapsedMs: 1_200,
 *   reason: "max-attempts",
 *   cause: new Error("timeout"),
 * };
 * const error = new RetryError("Retry gave up after 3 attempts", init);
 * console.log(error.attempts, error.reason, "lastResult" in error); // 3 max-attempts false
 * ```
 */
export interface RetryErrorInit {
  /** How many times `fn` was called. */
  attempts: number;
  /** Milliseconds from the start to giving up. */
  elapsedMs: number;
  /** Which limit ran out. */
  reason: "max-attempts" | "max-elapsed";
  /** The last attempt's error, if it threw. */
  cause?: unknown;
  /** The last attempt's result, if it returned one that `retryOnResult` rejected. */
  lastResult?: unknown;
}

/**
 * Thrown by {@linkcode retry} when it runs out of attempts or time. `cause`
 * holds the last error (when the last attempt threw), `lastResult` the last
 * result (when it returned).
 *
 * @example Telling exhaustion apart from other failures
 * ```ts
 * import { retry, RetryError } from "./retry.ts";
 *
 * try {
 *   await retry(() => false, {
 *     maxAttempts: 2,
 *     retryOnResult: (ok) => !ok,
 *     backoff: { baseMs: 1, capMs: 1 },
 *   });
 * } catch (error) {
 *   if (error instanceof RetryError) console.log(error.reason, error.attempts); // max-attempts 2
 * }
 * ```
 */
export class RetryError extends Error {
  /** How many times `fn` was called. */
  readonly attempts: number;
  /** Milliseconds from the start to giving up. */
  readonly elapsedMs: number;
  /** Which limit ran out. */
  readonly reason: "max-attempts" | "max-elapsed";
  /** The last attempt's result, present only when the last attempt returned. */
  declare readonly lastResult?: unknown;

  /** Build the error; `message` should say which limit ran out. */
  constructor(message: string, init: RetryErrorInit) {
    super(message, "cause" in init ? { cause: init.cause } : undefined);
    this.name = "RetryError";
    this.attempts = init.attempts;
    this.elapsedMs = init.elapsedMs;
    this.reason = init.reason;
    // Set only when there was a result, so `"lastResult" in error` tells which ended the loop.
    if ("lastResult" in init) this.lastResult = init.lastResult;
  }
}

function show(value: unknown): string {
  if (typeof value === "function") return "a function";
  try {
    return typeof value === "string" ? JSON.stringify(value) : String(value);
  } catch {
    return typeof value;
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return show(error);
}

type Outcome<T> = { threw: true; error: unknown } | { threw: false; result: T };

/**
 * Call `fn` until it succeeds, backing off between attempts.
 *
 * An attempt fails when `fn` throws an error that `retryOn` accepts (every
 * error, by default) or returns a result that `retryOnResult` flags. A
 * non-retryable error is rethrown as is. Running out of `maxAttempts` or
 * `maxElapsedMs` rejects with a {@linkcode RetryError}; an abort of `signal`
 * rejects with `signal.reason` at once, leaving no timer behind.
 *
 * @example Retrying a flaky call
 * ```ts
 * import { retry } from "./retry.ts";
 *
 * let calls = 0;
 * const value = await retry(() => {
 *   if (++calls < 3) throw new Error("flaky");
 *   return "done";
 * }, { backoff: { baseMs: 1, capMs: 10 } });
 * console.log(value, calls); // done 3
 * ```
 *
 * @example Python backoff's on_predicate, within five minutes
 * ```ts
 * import { retry } from "./retry.ts";
 *
 * const send = (_attempt: number): Promise<boolean> => Promise.resolve(true);
 * await retry(({ attempt }) => send(attempt), {
 *   retryOnResult: (ok) => ok === false,
 *   maxElapsedMs: 300_000,
 * });
 * ```
 */
export async function retry<T>(
  fn: (context: RetryAttemptContext) => T | Promise<T>,
  options: RetryOptions<T> = {},
): Promise<T> {
  const {
    maxAttempts = Infinity,
    maxElapsedMs = Infinity,
    backoff: backoffOptions = {},
    retryOn,
    retryOnResult,
    delayHint,
    signal: callerSignal,
    clock = realClock,
    onRetry,
    onGiveUp,
    onSuccess,
  } = options;
  if (typeof fn !== "function") {
    throw new TypeError(`Cannot retry: 'fn' must be a function, current value is ${show(fn)}`);
  }
  if (
    typeof maxAttempts !== "number" ||
    !(maxAttempts === Infinity || (Number.isInteger(maxAttempts) && maxAttempts >= 1))
  ) {
    throw new RangeError(
      `Cannot retry: 'maxAttempts' must be a positive integer or Infinity, current value is ${
        show(maxAttempts)
      }`,
    );
  }
  if (typeof maxElapsedMs !== "number" || !(maxElapsedMs >= 0)) {
    throw new RangeError(
      `Cannot retry: 'maxElapsedMs' must be a number >= 0 or Infinity, current value is ${
        show(maxElapsedMs)
      }`,
    );
  }
  // Built before the first call, so a bad schedule fails fast, not on the first retry.
  const backoff = createBackoff(backoffOptions);
  const signal = callerSignal ?? new AbortController().signal;
  const startMs = clock.now();

  for (let attempt = 1;; attempt++) {
    signal.throwIfAborted();
    let outcome: Outcome<T>;
    try {
      outcome = { threw: false, result: await fn({ attempt, signal }) };
    } catch (error) {
      outcome = { threw: true, error };
    }
    const elapsedMs = clock.now() - startMs;
    const decision: RetryDecisionContext = { attempt, elapsedMs };
    const report = (delayMs: number, reason?: RetryGiveUpReason): RetryHookContext<T> => {
      const context: RetryHookContext<T> = outcome.threw
        ? { attempt, elapsedMs, delayMs, error: outcome.error }
        : { attempt, elapsedMs, delayMs, result: outcome.result };
      if (reason !== undefined) context.reason = reason;
      return context;
    };

    if (outcome.threw) {
      // The caller cancelled: that is not a failure to retry or to report.
      if (callerSignal?.aborted) throw callerSignal.reason;
      if (retryOn && !(await retryOn(outcome.error, decision))) {
        await onGiveUp?.(report(0, "not-retryable"));
        throw outcome.error;
      }
    } else if (!retryOnResult || !(await retryOnResult(outcome.result, decision))) {
      await onSuccess?.(report(0));
      return outcome.result;
    }
    if (callerSignal?.aborted) throw callerSignal.reason;

    const giveUp = async (
      reason: "max-attempts" | "max-elapsed",
      delayMs: number,
      why: string,
    ): Promise<never> => {
      // Read before onGiveUp: the error says how long the loop ran, hooks included.
      const spentMs = clock.now() - startMs;
      await onGiveUp?.(report(delayMs, reason));
      const init: RetryErrorInit = { attempts: attempt, elapsedMs: spentMs, reason };
      let last: string;
      if (outcome.threw) {
        init.cause = outcome.error;
        last = `last error: ${describe(outcome.error)}`;
      } else {
        init.lastResult = outcome.result;
        last = `last result: ${show(outcome.result)}`;
      }
      throw new RetryError(
        `Retry gave up after ${attempt} attempt${attempt === 1 ? "" : "s"} in ${
          Math.round(spentMs)
        } ms: ${why}; ${last}`,
        init,
      );
    };

    if (attempt >= maxAttempts) {
      return await giveUp("max-attempts", 0, `'maxAttempts' is ${maxAttempts}`);
    }
    // The schedule advances even when a hint wins, so a later un-hinted
    // failure backs off as far as the number of failures says.
    const computedMs = backoff.next();
    const hintMs = delayHint?.(outcome.threw ? outcome.error : outcome.result);
    const delayMs = typeof hintMs === "number" && hintMs >= 0 && Number.isFinite(hintMs)
      ? hintMs
      : computedMs;
    // The budget is checked on the clock, not on `elapsedMs`: time spent in
    // retryOn, retryOnResult and onRetry counts too, so a slow hook cannot
    // start an attempt past the budget.
    const overBudget = (): Promise<never> | undefined => {
      const spentMs = clock.now() - startMs;
      if (spentMs + delayMs <= maxElapsedMs) return undefined;
      return giveUp(
        "max-elapsed",
        delayMs,
        spentMs > maxElapsedMs
          ? `${Math.round(spentMs)} ms have passed 'maxElapsedMs' (${maxElapsedMs})`
          : `waiting ${Math.round(delayMs)} ms more would pass 'maxElapsedMs' (${maxElapsedMs})`,
      );
    };
    const before = overBudget();
    if (before) return await before;
    await onRetry?.(report(delayMs));
    const after = overBudget();
    if (after) return await after;
    await clock.sleep(delayMs, signal);
  }
}
