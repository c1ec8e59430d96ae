/**
 * The AWS contention study ("Exponential Backoff And Jitter", AWS Architecture
 * Blog), replayed with politely's own {@linkcode retry} and backoff schedules
 * in virtual time.
 *
 * Design notes: `docs/design.md` (contention.ts).
 *
 * @module
 */

import type { BackoffOptions, BackoffStrategy, Jitter } from "../core/backoff.ts";
import type { Clock } from "../core/clock.ts";
import { FakeClock } from "../core/fake_clock.ts";
import { retry } from "../core/retry.ts";
import { createNormal, createRandom, deriveSeed } from "../core/seeded_random.ts";
import { TickClock } from "./tick_clock.ts";

export type { BackoffOptions, BackoffStrategy, Clock, Jitter };

/** How a client waits after a conflict. */
export type ContentionStrategy = "none" | "exponential" | "full" | "equal" | "decorrelated";

/**
 * Every {@linkcode ContentionStrategy}, in the order the study's charts list them.
 *
 * @example Listing the strategies
 * ```ts
 * import { CONTENTION_STRATEGIES } from "./contention.ts";
 *
 * console.log(CONTENTION_STRATEGIES.join(", "));
 * ```
 */
export const CONTENTION_STRATEGIES: readonly ContentionStrategy[] = Object.freeze(
  ["none", "exponential", "full", "equal", "decorrelated"] as const,
);

/**
 * The study's figures at 100 clients (a re-run of the published simulator):
 * mean total calls and mean completion time in milliseconds.
 *
 * @example Comparing with a result
 * ```ts
 * import { AWS_REFERENCE_AT_100 } from "./contention.ts";
 *
 * console.log(AWS_REFERENCE_AT_100.full.calls); // 796
 * ```
 */
export const AWS_REFERENCE_AT_100: Readonly<
  Record<ContentionStrategy, { readonly calls: number; readonly timeMs: number }>
> = Object.freeze({
  none: { calls: 2424, timeMs: 2024 },
  exponential: { calls: 1852, timeMs: 63513 },
  decorrelated: { calls: 999, timeMs: 4698 },
  equal: { calls: 812, timeMs: 6605 },
  full: { calls: 796, timeMs: 4940 },
});

/** Options for {@linkcode simulateContention}. */
export interface ContentionOptions {
  /**
   * The numbers of clients to simulate.
   *
   * @default {[10, 20, …, 190]}
   */
  clientCounts?: readonly number[];
  /**
   * Runs averaged per (strategy, client count) point.
   *
   * @default {20}
   */
  runs?: number;
  /**
   * The strategies to compare.
   *
   * @default {CONTENTION_STRATEGIES}
   */
  strategies?: readonly ContentionStrategy[];
  /**
   * The seed; each run draws from its own stream derived from it.
   *
   * @default {1}
   */
  seed?: number;
  /**
   * The mean one-way network delay in milliseconds.
   *
   * @default {10}
   */
  networkMeanMs?: number;
  /**
   * The standard deviation of the network delay in milliseconds.
   *
   * @default {2}
   */
  networkSdMs?: number;
  /**
   * The study's backoff base in milliseconds.
   *
   * @default {5}
   */
  baseMs?: number;
  /**
   * The longest backoff in milliseconds.
   *
   * @default {2000}
   */
  capMs?: number;
  /**
   * The timer resolution of the simulation in milliseconds (see
   * {@linkcode TickClock}); a power of two keeps sums exact.
   *
   * @default {1}
   */
  tickMs?: number;
  /**
   * Called after each client count is done, with how many of all runs are done.
   *
   * @default {undefined}
   */
  onProgress?: (doneRuns: number, totalRuns: number) => void;
}

/** One point of the study: a strategy at a client count, averaged over runs. */
export interface ContentionPoint {
  /** The backoff strategy. */
  strategy: ContentionStrategy;
  /** How many clients contended. */
  clients: number;
  /** How many runs were averaged. */
  runs: number;
  /** Mean writes received by the server per run (each client's one success included). */
  calls: number;
  /** Mean time in milliseconds until every client had succeeded. */
  timeMs: number;
}

/** What {@linkcode simulateContention} returns. */
export interface ContentionResult {
  /** The settings used (defaults filled in). */
  settings: {
    clientCounts: number[];
    runs: number;
    strategies: ContentionStrategy[];
    seed: number;
    networkMeanMs: number;
    networkSdMs: number;
    baseMs: number;
    capMs: number;
    tickMs: number;
  };
  /** One point per strategy and client count, by client count then strategy. */
  points: ContentionPoint[];
}

/** The outcome of one simulated world. */
export interface ContentionRun {
  /** Writes the server received. */
  calls: number;
  /** Milliseconds from the start until the last client succeeded. */
  timeMs: number;
}

/** Options for {@linkcode runContentionWorld}. */
export interface ContentionWorldOptions {
  /**
   * How many clients contend for the row.
   *
   * @default {100}
   */
  clients?: number;
  /**
   * The backoff strategy every client uses.
   *
   * @default {"full"}
   */
  strategy?: ContentionStrategy;
  /**
   * The source of randomness for network delays and jitter, in `[0, 1)`.
   *
   * @default {Math.random}
   */
  random?: () => number;
  /**
   * The mean one-way network delay in milliseconds.
   *
   * @default {10}
   */
  networkMeanMs?: number;
  /**
   * The standard deviation of the network delay in milliseconds.
   *
   * @default {2}
   */
  networkSdMs?: number;
  /**
   * The study's backoff base in milliseconds.
   *
   * @default {5}
   */
  baseMs?: number;
  /**
   * The longest backoff in milliseconds.
   *
   * @default {2000}
   */
  capMs?: number;
}

/**
 * The {@linkcode BackoffOptions} that reproduce the study's schedule for
 * `strategy` with the study's `baseMs` and `capMs` (see the module docs for
 * why exponential schedules start at 2 · base).
 *
 * @example The study's exponential schedule
 * ```ts
 * import { createBackoff } from "../core/backoff.ts";
 * import { contentionBackoff } from "./contention.ts";
 *
 * const backoff = createBackoff(contentionBackoff("exponential", 5, 2_000, Math.random));
 * console.log(backoff.next(), backoff.next(), backoff.next()); // 10 20 40
 * ```
 */
export function contentionBackoff(
  strategy: ContentionStrategy,
  baseMs: number,
  capMs: number,
  random: () => number,
): BackoffOptions {
  switch (strategy) {
    case "none":
      return { strategy: "constant", baseMs: 0, capMs, jitter: "none", random };
    case "exponential":
      return { strategy: "exponential", baseMs: 2 * baseMs, capMs, jitter: "none", random };
    case "full":
    case "equal":
      return { strategy: "exponential", baseMs: 2 * baseMs, capMs, jitter: strategy, random };
    case "decorrelated":
      return { baseMs, capMs, jitter: "decorrelated", random };
  }
}

/**
 * Simulate one world of the study on `clock`: all clients start now and each
 * writes the shared row once through {@linkcode retry}. Resolves when the last
 * client succeeds; drive `clock` (e.g. `FakeClock.runAll`) meanwhile.
 *
 * @example One world in virtual time
 * ```ts
 * import { FakeClock } from "../core/fake_clock.ts";
 * import { runContentionWorld } from "./contention.ts";
 * import { createRandom } from "../core/seeded_random.ts";
 *
 * const clock = new FakeClock();
 * const world = runContentionWorld(clock, { clients: 10, random: createRandom(1) });
 * await clock.runAll();
 * const { calls, timeMs } = await world;
 * console.log(calls >= 10, timeMs > 0); // true true
 * ```
 */
export async function runContentionWorld(
  clock: Clock,
  options: ContentionWorldOptions = {},
): Promise<ContentionRun> {
  const {
    clients = 100,
    strategy = "full",
    random = Math.random,
    networkMeanMs = 10,
    networkSdMs = 2,
    baseMs = 5,
    capMs = 2_000,
  } = options;
  const normal = createNormal(random, networkMeanMs, networkSdMs);
  const legMs = (): number => Math.abs(normal());
  const backoff = contentionBackoff(strategy, baseMs, capMs, random);
  const startMs = clock.now();
  // The server: one row, one version number, and a count of writes received.
  let version = 0;
  let calls = 0;
  let lastDoneMs = startMs;

  const writeOnce = async (): Promise<void> => {
    // A conflict's answer travels back while the client already backs off:
    // the order of those two waits does not change when the next read reaches
    // the server, and folding the answer's leg into the next attempt's first
    // sleep saves a quarter of all wake-ups.
    let answerInFlightMs = 0;
    await retry(async () => {
      await clock.sleep(answerInFlightMs + legMs()); // the read request travels
      const seenVersion = version; // the server reads the row
      await clock.sleep(legMs() + legMs()); // the reply travels, then the write request
      calls++;
      if (seenVersion !== version) { // the conditional write fails: a conflict
        answerInFlightMs = legMs();
        return false;
      }
      version++;
      await clock.sleep(legMs()); // the success travels back
      return true;
    }, { clock, backoff, retryOnResult: (written) => !written });
    lastDoneMs = Math.max(lastDoneMs, clock.now());
  };

  await Promise.all(Array.from({ length: clients }, writeOnce));
  return { calls, timeMs: lastDoneMs - startMs };
}

function checkPositiveInteger(name: string, value: number): void {
  if (!(Number.isInteger(value) && value >= 1)) {
    throw new RangeError(
      `Cannot simulate contention: '${name}' must be a positive integer, current value is ${value}`,
    );
  }
}

/**
 * Run the study: for each client count, every strategy `runs` times, each run
 * with its own seeded stream (so a run's numbers never depend on which other
 * runs were made) on its own `FakeClock`, seen through a {@linkcode TickClock}
 * of `tickMs` resolution so that clients waking in the same tick cost one step.
 *
 * @example A quick, small study
 * ```ts
 * import { simulateContention } from "./contention.ts";
 *
 * const { points } = await simulateContention({ clientCounts: [20], runs: 2 });
 * for (const p of points) console.log(p.strategy, p.calls, Math.round(p.timeMs));
 * ```
 */
export async function simulateContention(
  options: ContentionOptions = {},
): Promise<ContentionResult> {
  const {
    clientCounts = Array.from({ length: 19 }, (_, i) => 10 * (i + 1)),
    runs = 20,
    strategies = CONTENTION_STRATEGIES,
    seed = 1,
    networkMeanMs = 10,
    networkSdMs = 2,
    baseMs = 5,
    capMs = 2_000,
    tickMs = 1,
    onProgress,
  } = options;
  checkPositiveInteger("runs", runs);
  for (const clients of clientCounts) checkPositiveInteger("clientCounts", clients);

  const points: ContentionPoint[] = [];
  const totalRuns = clientCounts.length * strategies.length * runs;
  let doneRuns = 0;
  for (const clients of clientCounts) {
    for (const strategy of strategies) {
      let calls = 0;
      let timeMs = 0;
      for (let run = 0; run < runs; run++) {
        // One world per clock: a small heap of sleepers is faster than sharing
        // wake-ups between worlds, and each world's numbers stay independent.
        const fake = new FakeClock();
        const world = runContentionWorld(new TickClock(fake, tickMs), {
          clients,
          strategy,
          random: createRandom(deriveSeed(seed, "contention", strategy, clients, run)),
          networkMeanMs,
          networkSdMs,
          baseMs,
          capMs,
        });
        await fake.runAll(Number.MAX_SAFE_INTEGER);
        const outcome = await world;
        calls += outcome.calls;
        timeMs += outcome.timeMs;
      }
      points.push({ strategy, clients, runs, calls: calls / runs, timeMs: timeMs / runs });
      doneRuns += runs;
    }
    onProgress?.(doneRuns, totalRuns);
  }
  return {
    settings: {
      clientCounts: [...clientCounts],
      runs,
      strategies: [...strategies],
      seed,
      networkMeanMs,
      networkSdMs,
      baseMs,
      capMs,
      tickMs,
    },
    points,
  };
}
