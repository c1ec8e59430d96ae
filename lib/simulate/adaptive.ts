/**
 * Learning an unknown limit that changes mid-run, in virtual time: politely's learner and the
 * AWS SDK's (`DefaultRateLimiter` of `@smithy/util-retry`, CUBIC) each drive the same send
 * loop against a strict server whose limit moves (by default 20/s, then 8/s, then 30/s).
 *
 * The loop is the `Limiter` contract and nothing more: `concurrency` workers each
 * take a token, send (the request reaches the server half a round trip later, the answer
 * comes back after the other half), and tell the limiter the answer with `observe`; a
 * throttled request is sent again. The server is a {@linkcode TokenBucket} asked with
 * `tryTake()`, as the mock's limit is, with no `Retry-After` and no `RateLimit` hints: the
 * learners have only the 429s to go by. Each learner runs its own code on its own
 * {@linkcode FakeClock}: politely's through its `clock` option, the AWS one through its two
 * time seams (the method it reads the time with, and the timer it waits with).
 *
 * @module
 */

import { type Clock, realClock } from "../core/clock.ts";
import { FakeClock } from "../core/fake_clock.ts";
import type { LimiterOutcome } from "../core/limiter.ts";
import { LearningLimiter, TokenBucket } from "../core/mod.ts";
import { DefaultRateLimiter } from "../deps/smithy_util_retry.ts";

/** Which learner drives the loop. */
export type AdaptiveLearner = "politely" | "aws";

/**
 * Both {@linkcode AdaptiveLearner}s, in chart order.
 *
 * @example Listing the learners
 * ```ts
 * import { ADAPTIVE_LEARNERS } from "./adaptive.ts";
 *
 * console.log(ADAPTIVE_LEARNERS.join(" vs ")); // politely vs aws
 * ```
 */
export const ADAPTIVE_LEARNERS: readonly AdaptiveLearner[] = Object.freeze(
  ["politely", "aws"] as const,
);

/**
 * What a send loop needs of a learner: a token before each request, and each answer after
 * it. Any `Limiter` is one.
 *
 * @example A loop's view of a limiter
 * ```ts
 * import type { Learner } from "./adaptive.ts";
 * import { TokenBucket } from "../core/mod.ts";
 *
 * const learner: Learner = new TokenBucket({ ratePerSecond: 10 });
 * await learner.take();
 * learner.observe?.("accepted");
 * ```
 */
export interface Learner {
  /** Wait for a token before sending. */
  take(): Promise<void>;
  /** Hear how the server answered. */
  observe?(outcome: LimiterOutcome): void;
}

/**
 * politely's learner for a limit nobody told it, as the root module exports it: the one place
 * to change when the learner's name or options change (`simulate adaptive` and
 * `bench/adaptive.ts` both build it here).
 *
 * @example A learner on a virtual clock
 * ```ts
 * import { politelyLearner } from "./adaptive.ts";
 * import { FakeClock } from "../core/fake_clock.ts";
 *
 * const learner = politelyLearner(new FakeClock());
 * await learner.take(); // the first token is there at once
 * ```
 */
export function politelyLearner(clock: Clock = realClock): Learner {
  // As `send --adaptive --rate 1000` makes it: a ceiling far above, a start of 10/s.
  return new LearningLimiter({ ratePerSecond: 1000, startPerSecond: 10, clock });
}

/** The AWS SDK's timer seam: a static on `DefaultRateLimiter`, private in its types. */
type TimerSeam = { setTimeoutFn: (callback: () => void, delayMs: number) => unknown };

/**
 * The AWS SDK's learner on `clock`: its own code, with the method it reads the time with
 * pointed at the clock (the timer seam is set by {@linkcode simulateAdaptive} for the run).
 * `take` is its `getSendToken`; `observe` is `updateClientSendingRate` with a throttling error
 * or with nothing, as its `AdaptiveRetryStrategy` calls it.
 */
function awsLearner(clock: Clock): Learner {
  // Its public methods, plus the time seam that its types keep private.
  type WithTimeSeam = {
    getSendToken(): Promise<void>;
    updateClientSendingRate(errorInfo: { errorType?: "THROTTLING" }): void;
    getCurrentTimeInSeconds(): number;
  };
  const Base = DefaultRateLimiter as unknown as new () => WithTimeSeam;
  const limiter = new (class extends Base {
    override getCurrentTimeInSeconds(): number {
      return clock.now() / 1000;
    }
  })();
  return {
    take: () => limiter.getSendToken(),
    observe: (outcome: LimiterOutcome) =>
      limiter.updateClientSendingRate(outcome === "throttled" ? { errorType: "THROTTLING" } : {}),
  };
}

/** One stretch of the server's limit. */
export interface AdaptivePhase {
  /** The server's rate in requests per second. */
  ratePerSecond: number;
  /** How long this limit holds, in milliseconds. */
  durationMs: number;
}

/** Options for {@linkcode simulateAdaptive}. */
export interface AdaptiveOptions {
  /**
   * The server's limit over time; the run lasts as long as the phases together.
   *
   * @default {[{ ratePerSecond: 20, durationMs: 20_000 }, { ratePerSecond: 8, durationMs: 20_000 }, { ratePerSecond: 30, durationMs: 20_000 }]}
   */
  phases?: readonly AdaptivePhase[];
  /**
   * The server's burst.
   *
   * @default {2}
   */
  burst?: number;
  /**
   * Requests in flight at most (workers in the loop), as `main.ts send`'s default.
   *
   * @default {16}
   */
  concurrency?: number;
  /**
   * The round trip of one request in milliseconds.
   *
   * @default {40}
   */
  roundTripMs?: number;
  /**
   * The width of one point of the timeline in milliseconds.
   *
   * @default {500}
   */
  binMs?: number;
}

/** How one learner did while one limit held. */
export interface AdaptivePhaseSummary {
  /** The server's rate in this phase. */
  ratePerSecond: number;
  /** Requests accepted per second in this phase, averaged over the phase. */
  acceptedPerSecond: number;
  /** Requests answered 429 in this phase. */
  throttled: number;
  /** Requests sent in this phase. */
  sent: number;
}

/** One learner's run. */
export interface AdaptiveTimeline {
  /** The learner. */
  learner: AdaptiveLearner;
  /** Requests sent per bin, by the time they left. */
  sent: number[];
  /** Requests accepted per bin, by the time they reached the server. */
  accepted: number[];
  /** When each 429 reached the server, in milliseconds from the start. */
  throttledAtMs: number[];
  /** Per phase of the limit, in order. */
  phases: AdaptivePhaseSummary[];
}

/** What {@linkcode simulateAdaptive} returns. */
export interface AdaptiveResult {
  /** The settings used, defaults filled in. */
  settings: Required<AdaptiveOptions>;
  /** One per learner, in {@linkcode ADAPTIVE_LEARNERS} order. */
  timelines: AdaptiveTimeline[];
}

const DEFAULT_PHASES: readonly AdaptivePhase[] = Object.freeze([
  { ratePerSecond: 20, durationMs: 20_000 },
  { ratePerSecond: 8, durationMs: 20_000 },
  { ratePerSecond: 30, durationMs: 20_000 },
]);

/**
 * Run both learners against a limit that changes, each on its own virtual clock, and
 * return per-bin sending and accepted counts, the 429s, and a summary per phase.
 *
 * @example A short run with one limit
 * ```ts
 * import { simulateAdaptive } from "./adaptive.ts";
 *
 * const result = await simulateAdaptive({ phases: [{ ratePerSecond: 10, durationMs: 5_000 }] });
 * for (const { learner, phases } of result.timelines) {
 *   console.log(learner, phases[0]!.acceptedPerSecond <= 10 + 2 / 5); // true: never above the limit
 * }
 * ```
 */
export async function simulateAdaptive(options: AdaptiveOptions = {}): Promise<AdaptiveResult> {
  const settings: Required<AdaptiveOptions> = {
    phases: options.phases ?? DEFAULT_PHASES,
    burst: options.burst ?? 2,
    concurrency: options.concurrency ?? 16,
    roundTripMs: options.roundTripMs ?? 40,
    binMs: options.binMs ?? 500,
  };
  const { phases, concurrency, roundTripMs, binMs } = settings;
  if (phases.length === 0 || phases.some((p) => !(p.ratePerSecond > 0 && p.durationMs > 0))) {
    throw new RangeError(
      "Cannot simulate: 'phases' must hold at least one phase, each with a positive rate and duration",
    );
  }
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) {
    throw new RangeError(
      `Cannot simulate: 'concurrency' must be a positive integer, current value is ${concurrency}`,
    );
  }
  if (!(roundTripMs >= 0) || !(binMs > 0)) {
    throw new RangeError(
      `Cannot simulate: 'roundTripMs' must be >= 0 and 'binMs' > 0, current values are ${roundTripMs} and ${binMs}`,
    );
  }

  const timelines: AdaptiveTimeline[] = [];
  const seam = DefaultRateLimiter as unknown as TimerSeam;
  const realTimer = seam.setTimeoutFn;
  try {
    for (const learner of ADAPTIVE_LEARNERS) {
      const clock = new FakeClock();
      // As Node's timers do: whole milliseconds, at least 1 (the AWS learner polls with
      // sub-millisecond delays that a virtual clock would otherwise repeat forever).
      seam.setTimeoutFn = (callback, delayMs) =>
        void clock.sleep(Math.max(1, Math.trunc(delayMs))).then(callback);
      const limiter = learner === "politely" ? politelyLearner(clock) : awsLearner(clock);
      const run = runLoop(clock, limiter, settings);
      await clock.runAll();
      timelines.push({ learner, ...(await run) });
    }
  } finally {
    seam.setTimeoutFn = realTimer;
  }
  return { settings, timelines };
}

/** The send loop against the changing server, until the last phase ends. */
async function runLoop(
  clock: Clock,
  limiter: Learner,
  settings: Required<AdaptiveOptions>,
): Promise<Omit<AdaptiveTimeline, "learner">> {
  const { phases, burst, concurrency, roundTripMs, binMs } = settings;
  const startMs = clock.now();
  const endMs = phases.reduce((sum, p) => sum + p.durationMs, 0);
  const bins = Math.ceil(endMs / binMs);
  const sent = new Array<number>(bins).fill(0);
  const accepted = new Array<number>(bins).fill(0);
  const throttledAtMs: number[] = [];
  const summaries: AdaptivePhaseSummary[] = phases.map((p) => ({
    ratePerSecond: p.ratePerSecond,
    acceptedPerSecond: 0,
    throttled: 0,
    sent: 0,
  }));
  const server = new TokenBucket({ ratePerSecond: phases[0]!.ratePerSecond, burst, clock });
  const ends = phases.map((_, i) => phases.slice(0, i + 1).reduce((s, p) => s + p.durationMs, 0));
  const phaseAt = (ms: number): number => ends.findIndex((end) => ms < end);
  // The limit moves when its phase begins, whoever is waiting then.
  const limitChanges = (async () => {
    for (const [i, next] of phases.entries()) {
      if (i === 0) continue;
      await clock.sleep(startMs + ends[i - 1]! - clock.now());
      server.setRate(next.ratePerSecond);
    }
  })();

  const worker = async (): Promise<void> => {
    for (;;) {
      await limiter.take();
      const leftMs = clock.now() - startMs;
      if (leftMs >= endMs) return;
      sent[Math.floor(leftMs / binMs)]!++;
      summaries[phaseAt(leftMs)]!.sent++;
      await clock.sleep(roundTripMs / 2);
      const arrivedMs = clock.now() - startMs;
      const ok = server.tryTake();
      // A request that left before the end but arrives after it still counts as sent.
      const now = phaseAt(arrivedMs);
      if (now >= 0) {
        if (ok) {
          accepted[Math.floor(arrivedMs / binMs)]!++;
          summaries[now]!.acceptedPerSecond++;
        } else {
          throttledAtMs.push(arrivedMs);
          summaries[now]!.throttled++;
        }
      }
      await clock.sleep(roundTripMs / 2);
      limiter.observe?.(ok ? "accepted" : "throttled");
    }
  };
  await Promise.all([limitChanges, ...Array.from({ length: concurrency }, worker)]);
  for (const [i, summary] of summaries.entries()) {
    summary.acceptedPerSecond /= phases[i]!.durationMs / 1000;
  }
  return { sent, accepted, throttledAtMs, phases: summaries };
}
