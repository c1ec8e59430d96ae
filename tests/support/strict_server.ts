/**
 * A strict rate-limited server and its senders, in virtual time: a token
 * bucket that answers 429 without hints, requests that arrive with jitter, and
 * `concurrency` senders that take from a limiter, tell it every answer, and
 * send a throttled message again at once. Used by the learner's tests and the
 * tuning script; not a test file itself.
 *
 * @module
 */

import { FakeClock } from "../../lib/core/fake_clock.ts";
import type { Limiter } from "../../lib/core/limiter.ts";
import { createRandom } from "../../lib/core/seeded_random.ts";
import { TokenBucket } from "../../lib/core/token_bucket.ts";

/** The server's limit from a time on (ms since the start). */
export interface LimitStep {
  fromMs: number;
  ratePerSecond: number;
}

export interface StrictServerRun {
  /** Makes the limiter under test on the run's clock. */
  limiter: (clock: FakeClock) => Limiter;
  /** The server's rate, or a schedule of rates. */
  serverRate: number | LimitStep[];
  /** The server bucket's size. */
  serverBurst: number;
  /** Messages to get accepted. */
  total: number;
  /** Senders at once. Default 16. */
  concurrency?: number;
  /** One-way latency. Default 2 ms. */
  latencyMs?: number;
  /** Mean of the exponential extra delay on the way in (arrival jitter). Default 0.6 ms. */
  jitterMs?: number;
  /** Seed for the jitter. Default 1. */
  seed?: number;
}

export interface StrictServerResult {
  /** First arrival to last acceptance. */
  elapsedMs: number;
  /** `(total − 1) / rate` for a fixed rate. */
  idealMs: number;
  throttled: number;
  attempts: number;
  /** Arrival times and verdicts, for tests of a changing limit. */
  arrivals: Array<{ atMs: number; accepted: boolean }>;
}

/** Run the senders against the strict server until `total` are accepted. */
export async function runAgainstStrictServer(run: StrictServerRun): Promise<StrictServerResult> {
  const {
    serverRate,
    serverBurst,
    total,
    concurrency = 16,
    latencyMs = 2,
    jitterMs = 0.6,
    seed = 1,
  } = run;
  const clock = new FakeClock();
  const startMs = clock.now();
  const steps = typeof serverRate === "number"
    ? [{ fromMs: 0, ratePerSecond: serverRate }]
    : serverRate;
  const server = new TokenBucket({
    ratePerSecond: steps[0]!.ratePerSecond,
    burst: serverBurst,
    clock,
  });
  let step = 0;
  const limiter = run.limiter(clock);
  const random = createRandom(seed);
  const arrivals: StrictServerResult["arrivals"] = [];
  let firstArrivalMs: number | undefined;
  let lastAcceptedMs = 0;
  let started = 0;
  const sender = async (): Promise<void> => {
    while (started < total) {
      started++;
      for (;;) {
        await limiter.take();
        await clock.sleep(latencyMs - jitterMs * Math.log(1 - random()));
        const atMs = clock.now() - startMs;
        while (step + 1 < steps.length && steps[step + 1]!.fromMs <= atMs) {
          step++;
          server.setRate(steps[step]!.ratePerSecond);
        }
        firstArrivalMs ??= atMs;
        const accepted = server.tryTake();
        arrivals.push({ atMs, accepted });
        if (accepted) lastAcceptedMs = atMs;
        await clock.sleep(latencyMs);
        limiter.observe?.(accepted ? "accepted" : "throttled");
        if (accepted) break;
      }
    }
  };
  const done = Promise.all(Array.from({ length: concurrency }, sender));
  await clock.runAll();
  await done;
  const throttled = arrivals.filter((a) => !a.accepted).length;
  return {
    elapsedMs: lastAcceptedMs - (firstArrivalMs ?? 0),
    idealMs: ((total - 1) / steps[0]!.ratePerSecond) * 1000,
    throttled,
    attempts: arrivals.length,
    arrivals,
  };
}
