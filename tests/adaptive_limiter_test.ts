import assert from "node:assert/strict";
import { AdaptiveLimiter, type AdaptiveLimiterOptions } from "../lib/core/adaptive_limiter.ts";
import { FakeClock } from "../lib/core/fake_clock.ts";
import { TokenBucket } from "../lib/core/token_bucket.ts";

const BETA = 0.7;
const C = 0.4;

function assertClose(actual: number, expected: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected)),
    `${what}: expected ${expected}, got ${actual}`,
  );
}

/** Observe `count` accepted answers evenly spread over [fromMs, fromMs + spanMs). */
async function answerSteadily(
  clock: FakeClock,
  limiter: AdaptiveLimiter,
  count: number,
  spanMs: number,
): Promise<void> {
  const startMs = clock.now();
  for (let i = 0; i < count; i++) {
    await clock.advanceTo(startMs + (i * spanMs) / count);
    limiter.observe("accepted");
  }
  await clock.advanceTo(startMs + spanMs);
}

interface RunFigures {
  answers: number;
  throttledAfterFirst100: number;
  /** Accepted requests per second over the second half of the accepted ones. */
  lastHalfPerSecond: number;
  finishedMs: number;
  highestRatePerSecond: number;
}

/**
 * A server on the same virtual clock that admits requests through its own
 * token bucket, and `callers` loops that send `total` requests through the
 * limiter, retrying throttled ones at once (the limiter is the only pacing).
 * Each request takes `latencyMs` there and back; the server decides halfway.
 */
async function sendThroughServer(
  limiterOptions: AdaptiveLimiterOptions,
  { serverRatePerSecond = 20, serverBurst = 2, callers = 8, total = 1_000, latencyMs = 20 } = {},
): Promise<RunFigures> {
  const clock = new FakeClock();
  const server = new TokenBucket({ ratePerSecond: serverRatePerSecond, burst: serverBurst, clock });
  const limiter = new AdaptiveLimiter({ ...limiterOptions, clock });
  const throttled: boolean[] = [];
  const acceptedAtMs: number[] = [];
  let highestRatePerSecond = 0;
  let started = 0;
  const caller = async (): Promise<void> => {
    while (started < total) {
      started++;
      for (;;) {
        await limiter.take();
        await clock.sleep(latencyMs / 2);
        const admitted = server.tryTake();
        throttled.push(!admitted);
        await clock.sleep(latencyMs / 2);
        limiter.observe(admitted ? "accepted" : "throttled");
        if (limiter.ratePerSecond < Infinity) {
          highestRatePerSecond = Math.max(highestRatePerSecond, limiter.ratePerSecond);
        }
        if (admitted) {
          acceptedAtMs.push(clock.now());
          break;
        }
      }
    }
  };
  const done = Promise.all(Array.from({ length: callers }, caller));
  const finishedMs = await clock.runAll();
  await done;
  assert.equal(acceptedAtMs.length, total);
  const lastHalf = acceptedAtMs.slice(total / 2);
  return {
    answers: throttled.length,
    throttledAfterFirst100: throttled.slice(100).filter(Boolean).length,
    lastHalfPerSecond: (lastHalf.length - 1) / ((lastHalf.at(-1)! - lastHalf[0]!) / 1000),
    finishedMs,
    highestRatePerSecond,
  };
}

Deno.test("AdaptiveLimiter does not wait before the first throttle", async () => {
  const clock = new FakeClock();
  const limiter = new AdaptiveLimiter({ clock });
  await Promise.all(Array.from({ length: 100 }, () => limiter.take()));
  assert.equal(clock.now(), 0);
  assert.equal(clock.pendingSleepers, 0);
  assert.equal(limiter.ratePerSecond, Infinity);
  assert.equal(limiter.burst, Infinity);
  // Successes alone never turn the bucket on.
  await answerSteadily(clock, limiter, 100, 2_000);
  assert.equal(limiter.ratePerSecond, Infinity);
});

Deno.test("AdaptiveLimiter.observe() measures answers in 0.5 s buckets smoothed by 0.8", async () => {
  const clock = new FakeClock();
  const limiter = new AdaptiveLimiter({ clock });
  await answerSteadily(clock, limiter, 10, 500); // 20/s in [0, 500)
  assert.equal(limiter.measuredRatePerSecond, 0); // the bucket has not closed yet
  await answerSteadily(clock, limiter, 5, 500); // closes [0, 500) at 500; 10/s in [500, 1000)
  assertClose(limiter.measuredRatePerSecond, 0.8 * 20, "after one bucket");
  await clock.advanceTo(2_000);
  limiter.observe("accepted"); // closes [500, 2000): 5 answers in 1.5 s
  assertClose(limiter.measuredRatePerSecond, 0.8 * (5 / 1.5) + 0.2 * 16, "after a gap");
});

Deno.test("AdaptiveLimiter.observe('throttled') sets the fill rate to beta times the throttled rate", async () => {
  const clock = new FakeClock();
  const limiter = new AdaptiveLimiter({ clock });
  await answerSteadily(clock, limiter, 10, 500);
  await answerSteadily(clock, limiter, 10, 500);
  limiter.observe("throttled"); // at 1000, closing [500, 1000)
  const measured = 0.8 * 20 + 0.2 * 16;
  assertClose(limiter.measuredRatePerSecond, measured, "measured");
  // The bucket was off: the throttled rate is the measured one.
  assertClose(limiter.ratePerSecond, BETA * measured, "first throttle");
  assertClose(limiter.burst, BETA * measured, "capacity: one second's worth");
  // The bucket is on: the throttled rate is the lower of measured and fill.
  limiter.observe("throttled");
  assertClose(limiter.ratePerSecond, BETA * BETA * measured, "second throttle");
});

Deno.test("AdaptiveLimiter recovers along CUBIC and reaches the throttled rate K seconds later", async () => {
  const clock = new FakeClock();
  const limiter = new AdaptiveLimiter({ clock });
  await answerSteadily(clock, limiter, 10, 500);
  await answerSteadily(clock, limiter, 10, 500);
  const throttleMs = clock.now();
  limiter.observe("throttled");
  const maxWindow = limiter.measuredRatePerSecond; // 19.2
  const kSeconds = Math.cbrt((maxWindow * (1 - BETA)) / C);
  assertClose(kSeconds, Math.cbrt(14.4), "K");
  const cubic = (ms: number): number => C * ((ms - throttleMs) / 1000 - kSeconds) ** 3 + maxWindow;

  // A success at the throttle's instant lands on the same β·W_max as the throttle.
  limiter.observe("accepted");
  assertClose(limiter.ratePerSecond, BETA * maxWindow, "at t = 0");

  // Keep answering at 20/s so that 2·measured stays out of the way, and check every step.
  const reachedMs = throttleMs + kSeconds * 1000;
  for (let atMs = throttleMs + 50; atMs < reachedMs; atMs += 50) {
    await clock.advanceTo(atMs);
    limiter.observe("accepted");
    const expected = Math.max(Math.min(cubic(atMs), 2 * limiter.measuredRatePerSecond), 0.5);
    assertClose(limiter.ratePerSecond, expected, `at ${atMs} ms`);
    assert.ok(limiter.ratePerSecond < maxWindow);
  }
  await clock.advanceTo(reachedMs);
  limiter.observe("accepted");
  assert.ok(2 * limiter.measuredRatePerSecond > maxWindow);
  assertClose(limiter.ratePerSecond, maxWindow, "at t = K");
  assertClose(limiter.burst, maxWindow, "capacity at t = K");

  // Past K it probes above the old limit.
  await clock.advanceTo(reachedMs + 1_000);
  limiter.observe("accepted");
  assertClose(limiter.ratePerSecond, maxWindow + C, "at t = K + 1 s");
});

Deno.test("AdaptiveLimiter falls to minRatePerSecond when nothing was measured, with a capacity of 1", () => {
  const clock = new FakeClock();
  const limiter = new AdaptiveLimiter({ clock, minRatePerSecond: 0.25 });
  limiter.observe("throttled");
  assert.equal(limiter.measuredRatePerSecond, 0);
  assert.equal(limiter.ratePerSecond, 0.25);
  assert.equal(limiter.burst, 1);
});

Deno.test("AdaptiveLimiter turns the bucket on empty at the first throttle", async () => {
  const clock = new FakeClock();
  const limiter = new AdaptiveLimiter({ clock });
  limiter.observe("throttled"); // 0.5/s
  const grantedAtMs: number[] = [];
  const done = Promise.all(
    [0, 1, 2].map(() => limiter.take().then(() => grantedAtMs.push(clock.now()))),
  );
  await clock.runAll();
  await done;
  assert.deepEqual(grantedAtMs, [2_000, 4_000, 6_000]);
});

Deno.test("AdaptiveLimiter speeds up callers already queued when the rate goes up", async () => {
  const clock = new FakeClock();
  const limiter = new AdaptiveLimiter({ clock });
  limiter.observe("throttled"); // 0.5/s: the first caller is due at 2000
  const grantedAtMs: number[] = [];
  const done = Promise.all(
    [0, 1, 2].map(() => limiter.take().then(() => grantedAtMs.push(clock.now()))),
  );
  // Answers from elsewhere raise the rate while the three wait.
  await answerSteadily(clock, limiter, 38, 1_900);
  const ratePerSecond = limiter.ratePerSecond;
  assert.ok(ratePerSecond > 2, `rate ${ratePerSecond}`);
  await clock.runAll();
  await done;
  // The head's time was fixed when it started waiting; those behind it get the new rate.
  assert.equal(grantedAtMs[0], 2_000);
  assertClose(grantedAtMs[1]! - grantedAtMs[0]!, 1000 / ratePerSecond, "second gap");
  assertClose(grantedAtMs[2]! - grantedAtMs[1]!, 1000 / ratePerSecond, "third gap");
});

Deno.test("AdaptiveLimiter learns an unknown 20/s limit from 1,000 requests by 8 callers", async () => {
  const figures = await sendThroughServer({});
  // Measured: 1,022 answers, 13 of the 922 after the first 100 throttled (1.4%),
  // 19.1/s over the last half, done at 58.8 s (ideal (1000 − 2)/20 = 49.9 s).
  assert.ok(figures.answers - 1_000 < 40, `answers ${figures.answers}`);
  const share = figures.throttledAfterFirst100 / (figures.answers - 100);
  assert.ok(share < 0.04, `throttled share after the first 100: ${share}`);
  assert.ok(figures.lastHalfPerSecond >= 0.85 * 20, `last half ${figures.lastHalfPerSecond}/s`);
  assert.ok(figures.lastHalfPerSecond <= 20 * 1.01, `last half ${figures.lastHalfPerSecond}/s`);
  assert.ok(figures.finishedMs < 65_000, `finished at ${figures.finishedMs} ms`);
});

Deno.test("AdaptiveLimiter with maxRatePerSecond below the limit is never throttled", async () => {
  const figures = await sendThroughServer({ maxRatePerSecond: 15 });
  assert.equal(figures.answers, 1_000);
  assert.equal(figures.highestRatePerSecond, 15);
  // One token at the start, then exactly 15/s: the last answer arrives (1000 − 1)/15 s + 20 ms in.
  assertClose(figures.finishedMs, (999 / 15) * 1000 + 20, "finish");
});

Deno.test("AdaptiveLimiter never learns a rate above maxRatePerSecond", async () => {
  const figures = await sendThroughServer({ maxRatePerSecond: 25 });
  assert.ok(figures.highestRatePerSecond <= 25, `highest ${figures.highestRatePerSecond}/s`);
  assert.ok(figures.lastHalfPerSecond >= 0.85 * 20, `last half ${figures.lastHalfPerSecond}/s`);
});

Deno.test("AdaptiveLimiter.take() gives up a wait in the bucket when its signal aborts", async () => {
  const clock = new FakeClock();
  const limiter = new AdaptiveLimiter({ clock, maxRatePerSecond: 1 });
  await limiter.take(); // the one token it starts with
  const controller = new AbortController();
  const waiting = limiter.take(1, { signal: controller.signal });
  await clock.advance(500);
  assert.equal(clock.pendingSleepers, 1);
  const reason = new Error("stop");
  controller.abort(reason);
  await assert.rejects(waiting, (error) => error === reason);
  assert.equal(clock.pendingSleepers, 0);
  // The token went back: the next caller is due when the aborted one would have been.
  const next = limiter.take().then(() => clock.now());
  await clock.runAll();
  assert.equal(await next, 1_000);
});

Deno.test("AdaptiveLimiter.take() gives up a wait behind another caller when its signal aborts", async () => {
  const clock = new FakeClock();
  const limiter = new AdaptiveLimiter({ clock, maxRatePerSecond: 1 });
  await limiter.take();
  const head = limiter.take().then(() => clock.now());
  const controller = new AbortController();
  const behind = limiter.take(1, { signal: controller.signal });
  const last = limiter.take().then(() => clock.now());
  controller.abort();
  await assert.rejects(behind, (error) => error instanceof DOMException);
  await clock.runAll();
  assert.equal(await head, 1_000);
  assert.equal(await last, 2_000);
  await assert.rejects(limiter.take(1, { signal: controller.signal }));
});

Deno.test("AdaptiveLimiter.pause() holds callers before the first throttle and hands over to the bucket", async () => {
  const clock = new FakeClock();
  const limiter = new AdaptiveLimiter({ clock });
  limiter.pause(3_000);
  const grantedAtMs: number[] = [];
  const done = Promise.all(
    [0, 1].map(() => limiter.take().then(() => grantedAtMs.push(clock.now()))),
  );
  const controller = new AbortController();
  const aborted = limiter.take(1, { signal: controller.signal });
  await clock.advance(1_000);
  controller.abort();
  await assert.rejects(aborted);
  limiter.observe("throttled"); // 0.5/s, bucket on, still paused until 3000
  await clock.runAll();
  await done;
  // The bucket starts empty and stands still during the pause, so the first
  // caller goes one interval (2 s at 0.5/s) after the pause, the second one more.
  assert.deepEqual(grantedAtMs, [5_000, 7_000]);
  assert.equal(clock.pendingSleepers, 0);
});

Deno.test("AdaptiveLimiter.pause() delays the bucket once it is on", async () => {
  const clock = new FakeClock();
  const limiter = new AdaptiveLimiter({ clock, maxRatePerSecond: 10 });
  limiter.pause(1_500);
  const granted = limiter.take().then(() => clock.now());
  await clock.runAll();
  assert.equal(await granted, 1_500);
  assert.equal(limiter.ratePerSecond, 10); // a pause does not change the rate
});

Deno.test("AdaptiveLimiter rejects options, counts and pauses out of range", async () => {
  assert.throws(
    () => new AdaptiveLimiter({ beta: 1 }),
    new RangeError(
      "Cannot create AdaptiveLimiter: 'beta' must be a number between 0 and 1, exclusive, current value is 1",
    ),
  );
  assert.throws(() => new AdaptiveLimiter({ scaleConstant: 0 }), RangeError);
  assert.throws(() => new AdaptiveLimiter({ minRatePerSecond: Infinity }), RangeError);
  assert.throws(() => new AdaptiveLimiter({ smoothing: 0 }), RangeError);
  assert.throws(() => new AdaptiveLimiter({ bucketMs: -1 }), RangeError);
  assert.throws(() => new AdaptiveLimiter({ maxRatePerSecond: 0 }), RangeError);
  assert.throws(() => new AdaptiveLimiter({ maxBurst: 0.5 }), RangeError);
  const limiter = new AdaptiveLimiter({ clock: new FakeClock() });
  await assert.rejects(
    limiter.take(0),
    new RangeError(
      "Cannot take from AdaptiveLimiter: 'n' must be a positive finite number, current value is 0",
    ),
  );
  assert.throws(() => limiter.pause(-1), RangeError);
  limiter.observe("throttled");
  await assert.rejects(limiter.take(2), RangeError); // more than the capacity of 1
});

Deno.test("AdaptiveLimiter caps the capacity at maxBurst and floors at maxRatePerSecond when lower", () => {
  const clock = new FakeClock();
  const capped = new AdaptiveLimiter({ clock, maxRatePerSecond: 30, maxBurst: 2 });
  assert.equal(capped.ratePerSecond, 30);
  assert.equal(capped.burst, 2);
  const slow = new AdaptiveLimiter({ clock, maxRatePerSecond: 0.2 });
  slow.observe("throttled");
  assert.equal(slow.ratePerSecond, 0.2);
});
