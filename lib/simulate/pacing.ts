/**
 * Pacing versus retrying: N tasks each need one request accepted by a server
 * that allows R requests per second (a token bucket with a small burst; over
 * the limit it answers 429). Two clients, both built from politely's parts and
 * run in virtual time:
 *
 * - `naive`: fire every task at once and {@linkcode retry} each 429 with
 *   exponential backoff and full jitter (the article's approach);
 * - `paced`: take a token from a client-side {@linkcode TokenBucket} at the
 *   server's rate before every request (still retrying a 429, should one come).
 *
 * The server's limit is itself a `TokenBucket` on the same clock, asked with
 * `tryTake()`. Requests and answers are instantaneous, so the paced client
 * meets the limit exactly; over a real network, arrival jitter makes a burst
 * of 1 unforgiving (see the README's pacing notes).
 *
 * @module
 */

import { FakeClock } from "../core/fake_clock.ts";
import type { Clock } from "../core/clock.ts";
import { retry } from "../core/retry.ts";
import { TokenBucket } from "../core/token_bucket.ts";
import { createRandom, deriveSeed } from "../core/seeded_random.ts";

export type { Clock };

/** How the client meets the server's limit. */
export type PacingApproach = "naive" | "paced";

/**
 * Both {@linkcode PacingApproach}es, in chart order.
 *
 * @example Listing the approaches
 * ```ts
 * import { PACING_APPROACHES } from "./pacing.ts";
 *
 * console.log(PACING_APPROACHES.join(" vs ")); // naive vs paced
 * ```
 */
export const PACING_APPROACHES: readonly PacingApproach[] = Object.freeze(
  ["naive", "paced"] as const,
);

/** Options for {@linkcode runPacingWorld}. */
export interface PacingWorldOptions {
  /**
   * How many tasks (one accepted request each).
   *
   * @default {100}
   */
  tasks?: number;
  /**
   * The client's approach.
   *
   * @default {"paced"}
   */
  approach?: PacingApproach;
  /**
   * The server's limit in requests per second (the client paces at the same rate).
   *
   * @default {10}
   */
  ratePerSecond?: number;
  /**
   * The server's burst (the client's bucket uses the same).
   *
   * @default {1}
   */
  burst?: number;
  /**
   * The first backoff delay in milliseconds (exponential, full jitter).
   *
   * @default {1000}
   */
  baseMs?: number;
  /**
   * The longest backoff delay in milliseconds.
   *
   * @default {60_000}
   */
  capMs?: number;
  /**
   * The source of randomness for jitter, in `[0, 1)`.
   *
   * @default {Math.random}
   */
  random?: () => number;
}

/** The outcome of one simulated run. */
export interface PacingRun {
  /** Requests sent (accepted + throttled). */
  attempts: number;
  /** Requests answered 429. */
  throttled: number;
  /** Milliseconds from the start until the last task was accepted. */
  timeMs: number;
  /** The time of every request in milliseconds, and whether it was accepted. */
  requests: Array<{ atMs: number; accepted: boolean }>;
}

/**
 * Simulate one run on `clock`; resolves when every task is accepted. Drive the
 * clock (e.g. `FakeClock.runAll`) meanwhile.
 *
 * @example Ten paced tasks at 10/s finish in 0.9 s with no 429
 * ```ts
 * import { FakeClock } from "../core/fake_clock.ts";
 * import { runPacingWorld } from "./pacing.ts";
 *
 * const clock = new FakeClock();
 * const run = runPacingWorld(clock, { tasks: 10, approach: "paced" });
 * await clock.runAll();
 * const { attempts, throttled, timeMs } = await run;
 * console.log(attempts, throttled, timeMs); // 10 0 900
 * ```
 */
export async function runPacingWorld(
  clock: Clock,
  options: PacingWorldOptions = {},
): Promise<PacingRun> {
  const {
    tasks = 100,
    approach = "paced",
    ratePerSecond = 10,
    burst = 1,
    baseMs = 1_000,
    capMs = 60_000,
    random = Math.random,
  } = options;
  const server = new TokenBucket({ ratePerSecond, burst, clock });
  const pacer = approach === "paced" ? new TokenBucket({ ratePerSecond, burst, clock }) : undefined;
  const startMs = clock.now();
  const requests: PacingRun["requests"] = [];
  let throttled = 0;
  let lastAcceptedMs = startMs;

  const send = async (): Promise<boolean> => {
    if (pacer) await pacer.take();
    const accepted = server.tryTake(); // false is the server's 429
    requests.push({ atMs: clock.now() - startMs, accepted });
    if (!accepted) throttled++;
    else lastAcceptedMs = Math.max(lastAcceptedMs, clock.now());
    return accepted;
  };
  const backoff = { strategy: "exponential", baseMs, capMs, jitter: "full", random } as const;
  await Promise.all(
    Array.from(
      { length: tasks },
      () => retry(send, { clock, backoff, retryOnResult: (accepted) => !accepted }),
    ),
  );
  return { attempts: requests.length, throttled, timeMs: lastAcceptedMs - startMs, requests };
}

/** Options for {@linkcode simulatePacing}. */
export interface PacingOptions {
  /**
   * The task counts to compare.
   *
   * @default {[25, 50, …, 300]}
   */
  taskCounts?: readonly number[];
  /**
   * The server's limit in requests per second.
   *
   * @default {10}
   */
  ratePerSecond?: number;
  /**
   * The server's burst.
   *
   * @default {1}
   */
  burst?: number;
  /**
   * Runs averaged per point (the paced client is deterministic; the naive one
   * depends on its jitter).
   *
   * @default {10}
   */
  runs?: number;
  /**
   * The seed; each run draws from its own stream derived from it.
   *
   * @default {1}
   */
  seed?: number;
  /**
   * The task count whose per-second timeline is kept for the chart.
   *
   * @default {200}
   */
  timelineTasks?: number;
}

/** One approach at one task count, averaged over runs. */
export interface PacingPoint {
  /** The approach. */
  approach: PacingApproach;
  /** How many tasks. */
  tasks: number;
  /** Mean requests sent per run. */
  attempts: number;
  /** Mean 429 answers per run. */
  throttled: number;
  /** Mean milliseconds until every task was accepted. */
  timeMs: number;
  /** The least possible time, `(tasks − burst) / rate`, in milliseconds. */
  idealMs: number;
}

/** Requests per second over one run, for the timeline chart. */
export interface PacingTimeline {
  /** The approach. */
  approach: PacingApproach;
  /** How many tasks. */
  tasks: number;
  /** `accepted[s]`: requests accepted in `[s, s + 1)` seconds. */
  accepted: number[];
  /** `throttled[s]`: requests answered 429 in `[s, s + 1)` seconds. */
  throttled: number[];
}

/** What {@linkcode simulatePacing} returns. */
export interface PacingResult {
  /** The settings used (defaults filled in). */
  settings: {
    taskCounts: number[];
    ratePerSecond: number;
    burst: number;
    runs: number;
    seed: number;
    timelineTasks: number;
  };
  /** One point per approach and task count, by task count then approach. */
  points: PacingPoint[];
  /** The first run at `timelineTasks`, per approach. */
  timelines: PacingTimeline[];
}

/**
 * Compare the naive and the paced client over several task counts.
 *
 * @example Fifty tasks at 10/s
 * ```ts
 * import { simulatePacing } from "./pacing.ts";
 *
 * const { points } = await simulatePacing({ taskCounts: [50], runs: 2, timelineTasks: 50 });
 * for (const p of points) console.log(p.approach, p.attempts, p.timeMs);
 * ```
 */
export async function simulatePacing(options: PacingOptions = {}): Promise<PacingResult> {
  const {
    taskCounts = Array.from({ length: 12 }, (_, i) => 25 * (i + 1)),
    ratePerSecond = 10,
    burst = 1,
    runs = 10,
    seed = 1,
    timelineTasks = 200,
  } = options;
  if (!(Number.isInteger(runs) && runs >= 1)) {
    throw new RangeError(
      `Cannot simulate pacing: 'runs' must be a positive integer, current value is ${runs}`,
    );
  }
  const counts = taskCounts.includes(timelineTasks) ? taskCounts : [...taskCounts, timelineTasks];
  const points: PacingPoint[] = [];
  const timelines: PacingTimeline[] = [];
  for (const tasks of counts) {
    for (const approach of PACING_APPROACHES) {
      let attempts = 0;
      let throttled = 0;
      let timeMs = 0;
      for (let run = 0; run < runs; run++) {
        const clock = new FakeClock();
        const world = runPacingWorld(clock, {
          tasks,
          approach,
          ratePerSecond,
          burst,
          random: createRandom(deriveSeed(seed, "pacing", approach, tasks, run)),
        });
        await clock.runAll();
        const outcome = await world;
        attempts += outcome.attempts;
        throttled += outcome.throttled;
        timeMs += outcome.timeMs;
        if (tasks === timelineTasks && run === 0) {
          timelines.push({ approach, tasks, ...perSecond(outcome.requests) });
        }
      }
      if (taskCounts.includes(tasks)) {
        points.push({
          approach,
          tasks,
          attempts: attempts / runs,
          throttled: throttled / runs,
          timeMs: timeMs / runs,
          idealMs: Math.max(0, (tasks - burst) / ratePerSecond) * 1_000,
        });
      }
    }
  }
  return {
    settings: { taskCounts: [...taskCounts], ratePerSecond, burst, runs, seed, timelineTasks },
    points,
    timelines,
  };
}

function perSecond(
  requests: PacingRun["requests"],
): { accepted: number[]; throttled: number[] } {
  const seconds = 1 + Math.floor(Math.max(0, ...requests.map((r) => r.atMs)) / 1_000);
  const accepted = new Array<number>(seconds).fill(0);
  const throttled = new Array<number>(seconds).fill(0);
  for (const { atMs, accepted: ok } of requests) {
    (ok ? accepted : throttled)[Math.floor(atMs / 1_000)]!++;
  }
  return { accepted, throttled };
}
