/**
 * The article's experiment ("Respect API Rate Limits With a Backoff"), in
 * virtual time: many tasks call an operation that always fails, each retrying
 * with a backoff until a time budget runs out, and we count calls per second.
 *
 * Each task runs politely's own {@linkcode retry} on a {@linkcode FakeClock}.
 * For the last seconds before the deadline we also run the article's library's
 * rule (Python `backoff`: the last sleep is cut short to end exactly at
 * `max_time`, then one more call) with the same schedules, to show the herd
 * that rule makes and that giving up instead avoids.
 *
 * @module
 */

import {
  type Backoff,
  type BackoffOptions,
  type BackoffStrategy,
  createBackoff,
  type Jitter,
} from "../core/backoff.ts";
import type { Clock } from "../core/clock.ts";
import { FakeClock } from "../core/fake_clock.ts";
import { retry, RetryError } from "../core/retry.ts";
import { createRandom, deriveSeed } from "../core/seeded_random.ts";

export type { Backoff, BackoffOptions, BackoffStrategy, Clock, Jitter };

/** The schedules the article compares, plus the two other jitters politely offers. */
export type ArticleStrategy = "constant" | "exponential" | "full" | "equal" | "decorrelated";

/**
 * Every {@linkcode ArticleStrategy}, in chart order.
 *
 * @example Listing the strategies
 * ```ts
 * import { ARTICLE_STRATEGIES } from "./article.ts";
 *
 * console.log(ARTICLE_STRATEGIES.join(", "));
 * ```
 */
export const ARTICLE_STRATEGIES: readonly ArticleStrategy[] = Object.freeze(
  ["constant", "exponential", "full", "equal", "decorrelated"] as const,
);

/** How a task behaves when the next sleep would pass the time budget. */
export type DeadlineRule = "politely" | "python-backoff";

/** Options for {@linkcode simulateArticle}. */
export interface ArticleOptions {
  /**
   * How many tasks run at once (the article queued 500).
   *
   * @default {500}
   */
  tasks?: number;
  /**
   * The time budget of each task in milliseconds (the article's `max_time`).
   *
   * @default {300_000}
   */
  budgetMs?: number;
  /**
   * The schedule unit in milliseconds: the constant delay and the first
   * exponential delay (Python `backoff`'s `expo()` yields 1, 2, 4 … seconds).
   *
   * @default {1000}
   */
  baseMs?: number;
  /**
   * The strategies to run.
   *
   * @default {ARTICLE_STRATEGIES}
   */
  strategies?: readonly ArticleStrategy[];
  /**
   * The seed; each strategy draws from its own stream derived from it.
   *
   * @default {1}
   */
  seed?: number;
  /**
   * How many seconds before the deadline the deadline comparison covers.
   *
   * @default {30}
   */
  deadlineWindowS?: number;
  /**
   * The start of the window, in seconds, over which {@linkcode ArticleSeries.peakToMean}
   * is measured: every strategy makes all its first calls at 0 s, so the first
   * seconds say nothing about bunching.
   *
   * @default {10}
   */
  bunchingFromS?: number;
}

/** One strategy's calls, per second of virtual time. */
export interface ArticleSeries {
  /** The strategy. */
  strategy: ArticleStrategy;
  /** `callsPerSecond[s]` counts calls made in `[s, s + 1)` seconds. */
  callsPerSecond: number[];
  /** All calls made. */
  totalCalls: number;
  /**
   * The busiest second divided by the mean second, from `bunchingFromS` up to
   * the budget: about 1 for an even spread, large when calls bunch.
   */
  peakToMean: number;
  /** When the last call was made, in milliseconds. */
  lastCallMs: number;
}

/** Calls near the deadline under one rule, for one jittered strategy. */
export interface DeadlineSeries {
  /** The strategy (a jittered one). */
  strategy: ArticleStrategy;
  /** Which rule decided the last sleep. */
  rule: DeadlineRule;
  /** The first second shown; `callsPerSecond[i]` counts calls in `[fromS + i, fromS + i + 1)`. */
  fromS: number;
  /** Calls per second from `fromS` up to and including the deadline's second. */
  callsPerSecond: number[];
  /** Calls made exactly at the deadline. */
  callsAtDeadline: number;
}

/** What {@linkcode simulateArticle} returns. */
export interface ArticleResult {
  /** The settings used (defaults filled in). */
  settings: {
    tasks: number;
    budgetMs: number;
    baseMs: number;
    strategies: ArticleStrategy[];
    seed: number;
    deadlineWindowS: number;
    bunchingFromS: number;
  };
  /** One series per strategy, with politely's rule (give up instead of sleeping to the deadline). */
  series: ArticleSeries[];
  /** For each jittered strategy, both deadline rules. */
  deadline: DeadlineSeries[];
}

/**
 * The {@linkcode BackoffOptions} for an article strategy. The cap is the
 * budget itself: Python `backoff`'s `expo()` has no cap, and no sleep longer
 * than the budget can happen anyway.
 *
 * @example The exponential schedule without jitter
 * ```ts
 * import { createBackoff } from "../core/backoff.ts";
 * import { articleBackoff } from "./article.ts";
 *
 * const backoff = createBackoff(articleBackoff("exponential", 1_000, 300_000, Math.random));
 * console.log(backoff.next(), backoff.next(), backoff.next()); // 1000 2000 4000
 * ```
 */
export function articleBackoff(
  strategy: ArticleStrategy,
  baseMs: number,
  budgetMs: number,
  random: () => number,
): BackoffOptions {
  const capMs = Math.max(baseMs, budgetMs);
  switch (strategy) {
    case "constant":
      return { strategy: "constant", baseMs, capMs, jitter: "none", random };
    case "exponential":
      return { strategy: "exponential", baseMs, capMs, jitter: "none", random };
    case "full":
    case "equal":
      return { strategy: "exponential", baseMs, capMs, jitter: strategy, random };
    case "decorrelated":
      return { baseMs, capMs, jitter: "decorrelated", random };
  }
}

/**
 * Python `backoff`'s `on_predicate` loop with `max_time`, as a comparison
 * model: the elapsed time is read before each call; after a failed call the
 * loop gives up if that reading had reached `maxTimeMs`, and otherwise sleeps
 * the next delay cut short to end at `maxTimeMs`. So a task whose schedule
 * would overshoot calls once more exactly at the deadline.
 *
 * @example Two calls, the second at the deadline
 * ```ts
 * import { createBackoff } from "../core/backoff.ts";
 * import { FakeClock } from "../core/fake_clock.ts";
 * import { retryLikePythonBackoff } from "./article.ts";
 *
 * const clock = new FakeClock();
 * const times: number[] = [];
 * const backoff = createBackoff({ strategy: "constant", baseMs: 5_000, jitter: "none" });
 * const task = retryLikePythonBackoff(() => {
 *   times.push(clock.now());
 *   return false;
 * }, { clock, backoff, maxTimeMs: 3_000 });
 * await clock.runAll();
 * await task;
 * console.log(times); // [0, 3000]
 * ```
 */
export async function retryLikePythonBackoff(
  fn: () => boolean | Promise<boolean>,
  options: { clock: Clock; backoff: Backoff; maxTimeMs: number },
): Promise<boolean> {
  const { clock, backoff, maxTimeMs } = options;
  const startMs = clock.now();
  for (;;) {
    const elapsedMs = clock.now() - startMs;
    if (await fn()) return true;
    if (elapsedMs >= maxTimeMs) return false;
    await clock.sleep(Math.min(backoff.next(), maxTimeMs - elapsedMs));
  }
}

function checkPositive(name: string, value: number, integer: boolean): void {
  if (!(value > 0 && Number.isFinite(value) && (!integer || Number.isInteger(value)))) {
    throw new RangeError(
      `Cannot simulate the article: '${name}' must be a positive ${
        integer ? "integer" : "number"
      }, current value is ${value}`,
    );
  }
}

/** Run `tasks` always-failing tasks under `rule`; return every call's time in ms. */
async function runTasks(
  strategy: ArticleStrategy,
  rule: DeadlineRule,
  settings: { tasks: number; budgetMs: number; baseMs: number; seed: number },
): Promise<number[]> {
  const { tasks, budgetMs, baseMs, seed } = settings;
  const clock = new FakeClock();
  // Both rules draw from the same stream, so their calls coincide until the
  // deadline rule makes them differ.
  const random = createRandom(deriveSeed(seed, "article", strategy));
  const callTimes: number[] = [];
  // The article's slow_operation: record the time, report failure.
  const operation = (): boolean => {
    callTimes.push(clock.now());
    return false;
  };
  const backoff = articleBackoff(strategy, baseMs, budgetMs, random);
  const task = rule === "politely"
    ? () =>
      retry(operation, {
        clock,
        backoff,
        maxElapsedMs: budgetMs,
        retryOnResult: (ok) => !ok,
      }).catch((error: unknown) => {
        if (!(error instanceof RetryError)) throw error;
        return false;
      })
    : () =>
      retryLikePythonBackoff(operation, {
        clock,
        backoff: createBackoff(backoff),
        maxTimeMs: budgetMs,
      });
  const all = Promise.all(Array.from({ length: tasks }, task));
  await clock.runAll();
  await all;
  return callTimes;
}

function perSecond(callTimes: readonly number[], fromS: number, toS: number): number[] {
  const counts = new Array<number>(toS - fromS + 1).fill(0);
  for (const timeMs of callTimes) {
    const second = Math.floor(timeMs / 1_000);
    if (second >= fromS && second <= toS) counts[second - fromS]!++;
  }
  return counts;
}

/**
 * Run the article's experiment for each strategy, and the deadline comparison
 * for each jittered one. Deterministic for a given seed.
 *
 * @example Constant backoff: every task calls once a second
 * ```ts
 * import { simulateArticle } from "./article.ts";
 *
 * const { series } = await simulateArticle({ tasks: 10, budgetMs: 5_000, strategies: ["constant"] });
 * console.log(series[0]!.callsPerSecond); // [10, 10, 10, 10, 10, 10]
 * ```
 */
export async function simulateArticle(options: ArticleOptions = {}): Promise<ArticleResult> {
  const {
    tasks = 500,
    budgetMs = 300_000,
    baseMs = 1_000,
    strategies = ARTICLE_STRATEGIES,
    seed = 1,
    deadlineWindowS = 30,
    bunchingFromS = 10,
  } = options;
  checkPositive("tasks", tasks, true);
  checkPositive("budgetMs", budgetMs, false);
  checkPositive("baseMs", baseMs, false);
  checkPositive("deadlineWindowS", deadlineWindowS, false);
  const lastSecond = Math.floor(budgetMs / 1_000);
  const settings = { tasks, budgetMs, baseMs, seed };

  const series: ArticleSeries[] = [];
  const deadline: DeadlineSeries[] = [];
  const windowFromS = Math.max(0, Math.ceil(lastSecond - deadlineWindowS));
  for (const strategy of strategies) {
    const callTimes = await runTasks(strategy, "politely", settings);
    const callsPerSecond = perSecond(callTimes, 0, lastSecond);
    const window = callsPerSecond.slice(bunchingFromS, lastSecond);
    const mean = window.reduce((a, b) => a + b, 0) / Math.max(1, window.length);
    series.push({
      strategy,
      callsPerSecond,
      totalCalls: callTimes.length,
      peakToMean: mean > 0 ? Math.max(...window) / mean : 0,
      lastCallMs: callTimes.reduce((a, b) => Math.max(a, b), 0),
    });
    if (strategy === "full" || strategy === "equal" || strategy === "decorrelated") {
      const pythonTimes = await runTasks(strategy, "python-backoff", settings);
      for (
        const [rule, times] of [["python-backoff", pythonTimes], ["politely", callTimes]] as const
      ) {
        deadline.push({
          strategy,
          rule,
          fromS: windowFromS,
          callsPerSecond: perSecond(times, windowFromS, lastSecond),
          callsAtDeadline: times.filter((t) => t === budgetMs).length,
        });
      }
    }
  }
  return {
    settings: { ...settings, strategies: [...strategies], deadlineWindowS, bunchingFromS },
    series,
    deadline,
  };
}
