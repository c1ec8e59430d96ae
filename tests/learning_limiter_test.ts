import assert from "node:assert/strict";
import { FakeClock } from "../lib/core/fake_clock.ts";
import { LearningLimiter } from "../lib/core/learning_limiter.ts";
import { LimitLearner } from "../lib/core/limit_learner.ts";
import { TokenBucket } from "../lib/core/token_bucket.ts";
import {
  runAgainstStrictServer,
  type StrictServerResult,
  type StrictServerRun,
} from "./support/strict_server.ts";

// Virtual time throughout: the figures below are properties of the algorithm
// against a simulated strict server, not wall-clock speeds (those are in bench/).

const SEEDS = [1, 2, 3];

function ratio(result: StrictServerResult): number {
  return result.elapsedMs / result.idealMs;
}

async function unknownLimit(serverRate: number, total: number, seed: number) {
  return await runAgainstStrictServer({
    limiter: (clock) => new LearningLimiter({ ratePerSecond: 1000, startPerSecond: 10, clock }),
    serverRate,
    serverBurst: 2,
    total,
    seed,
  });
}

/**
 * A limiter that starts at 40/s, twice a strict server's 20/s (burst 2), comes down to it:
 * 100 messages within 1.30 × ideal, at most 20 × 429, for each seed.
 */
async function assertComesDownTo20(limiter: StrictServerRun["limiter"]): Promise<void> {
  for (const seed of SEEDS) {
    const result = await runAgainstStrictServer({
      limiter,
      serverRate: 20,
      serverBurst: 2,
      total: 100,
      seed,
    });
    assert.ok(ratio(result) <= 1.3, `seed ${seed}: ${ratio(result).toFixed(3)} × ideal`);
    assert.ok(result.throttled <= 20, `seed ${seed}: ${result.throttled} × 429`);
  }
}

for (const [serverRate, total] of [[5, 100], [20, 300], [50, 300]] as const) {
  Deno.test(`LearningLimiter finds an unknown ${serverRate}/s limit (burst 2): within 1.15 × ideal, at most 3% 429s`, async () => {
    for (const seed of SEEDS) {
      const result = await unknownLimit(serverRate, total, seed);
      assert.ok(ratio(result) <= 1.15, `seed ${seed}: ${ratio(result).toFixed(3)} × ideal`);
      assert.ok(result.throttled <= total * 0.03, `seed ${seed}: ${result.throttled} × 429`);
    }
  });
}

Deno.test("LearningLimiter at a known limit (the ceiling, burst 2) sends at it with no 429", async () => {
  const result = await runAgainstStrictServer({
    limiter: (clock) => new LearningLimiter({ ratePerSecond: 20, clock }),
    serverRate: 20,
    serverBurst: 2,
    total: 100,
  });
  assert.equal(result.throttled, 0);
  assert.ok(ratio(result) <= 1.01, `${ratio(result)}`);
});

Deno.test("LearningLimiter with a ceiling twice the limit comes down to it: within 1.30 × ideal, at most 20 × 429 per 100", async () => {
  await assertComesDownTo20((clock) => new LearningLimiter({ ratePerSecond: 40, clock }));
});

Deno.test("LearningLimiter at exactly a strict burst-1 server's rate learns a margin: under 5 × 429 per 100", async () => {
  for (const seed of SEEDS) {
    const result = await runAgainstStrictServer({
      limiter: (clock) => new LearningLimiter({ ratePerSecond: 20, clock }),
      serverRate: 20,
      serverBurst: 1,
      total: 100,
      seed,
    });
    // Pacing at exactly the rate, this server refuses 38–40% (REFERENCE.md).
    assert.ok(result.throttled < 5, `seed ${seed}: ${result.throttled} × 429`);
    assert.ok(ratio(result) <= 1.15, `seed ${seed}: ${ratio(result).toFixed(3)} × ideal`);
  }
});

Deno.test("LearningLimiter follows a limit that drops (20 → 8/s) and comes back (→ 30/s)", async () => {
  const result = await runAgainstStrictServer({
    limiter: (clock) => new LearningLimiter({ ratePerSecond: 1000, startPerSecond: 10, clock }),
    serverRate: [
      { fromMs: 0, ratePerSecond: 20 },
      { fromMs: 10_000, ratePerSecond: 8 },
      { fromMs: 20_000, ratePerSecond: 30 },
    ],
    serverBurst: 2,
    total: 1_000,
  });
  const within = (fromMs: number, toMs: number) =>
    result.arrivals.filter((a) => a.atMs >= fromMs && a.atMs < toMs);
  const refused = (fromMs: number, toMs: number) =>
    within(fromMs, toMs).filter((a) => !a.accepted).length;
  const acceptedPerSecond = (fromMs: number, toMs: number) =>
    within(fromMs, toMs).filter((a) => a.accepted).length / ((toMs - fromMs) / 1000);
  // Down fast: a handful of 429s in the first two seconds, then (almost) none.
  assert.ok(refused(10_000, 12_000) <= 8, `${refused(10_000, 12_000)} × 429 just after the drop`);
  assert.ok(refused(12_000, 20_000) <= 2, `${refused(12_000, 20_000)} × 429 once settled`);
  assert.ok(
    acceptedPerSecond(12_000, 20_000) >= 7.5,
    `${acceptedPerSecond(12_000, 20_000)}/s at 8/s`,
  );
  // Back up: at the new limit within ten seconds of the room coming back.
  const after = acceptedPerSecond(30_000, 33_000);
  assert.ok(after >= 27, `${after}/s accepted at 30/s, 10 s after it rose`);
});

Deno.test("LimitLearner takes a limit the server states as exact, below its ceiling only", () => {
  const learner = new LimitLearner({ ceilingPerSecond: 20, clock: new FakeClock() });
  learner.throttled(12.5);
  assert.equal(learner.ratePerSecond, 12.5);
  assert.equal(learner.state().estimatePerSecond, 12.5);
  learner.throttled(50);
  assert.equal(learner.ratePerSecond, 20);
});

Deno.test("LimitLearner slow start doubles every four answers at a low rate and stops at the ceiling", async () => {
  const clock = new FakeClock();
  const learner = new LimitLearner({ ceilingPerSecond: 100, startPerSecond: 10, clock });
  assert.equal(learner.state().phase, "starting");
  for (let elapsedMs = 0; elapsedMs < 300;) {
    const stepMs = 1000 / learner.ratePerSecond;
    await clock.advance(stepMs);
    elapsedMs += stepMs;
    learner.accepted();
  }
  // At 10–20/s four answers make a doubling (they take longer than the 200 ms doubling time).
  assert.ok(learner.ratePerSecond > 14 && learner.ratePerSecond < 22, `${learner.ratePerSecond}`);
  for (let i = 0; i < 200; i++) {
    await clock.advance(1000 / learner.ratePerSecond);
    learner.accepted();
  }
  assert.equal(learner.ratePerSecond, 100);
  assert.equal(learner.state().phase, "cruising");
});

Deno.test("LimitLearner never paces below its floor, even when a server states less", () => {
  const learner = new LimitLearner({
    ceilingPerSecond: 10,
    floorPerSecond: 2,
    clock: new FakeClock(),
  });
  learner.throttled(0.5);
  assert.equal(learner.ratePerSecond, 2);
});

Deno.test("LimitLearner rejects a ceiling that is not a positive finite number", () => {
  assert.throws(
    () => new LimitLearner({ ceilingPerSecond: 0 }),
    /'ceilingPerSecond' must be a positive finite number, current value is 0/,
  );
  assert.throws(() => new LimitLearner({ ceilingPerSecond: Infinity }), RangeError);
});

Deno.test("LearningLimiter applies a new rate to callers already waiting, up or down", async () => {
  const clock = new FakeClock();
  const limiter = new LearningLimiter({ ratePerSecond: 10, clock });
  const grantedAt: number[] = [];
  const waits = Array.from(
    { length: 3 },
    () => limiter.take().then(() => grantedAt.push(clock.now())),
  );
  await clock.advance(0);
  assert.deepEqual(grantedAt, [0]);
  limiter.setRate(2); // the next one is now 500 ms after the first, not 100 ms
  await clock.advance(400);
  assert.deepEqual(grantedAt, [0]);
  // Faster again: 400 ms at 2/s earned 0.8 of a token; the rest takes 20 ms at 10/s.
  limiter.setRate(10);
  await clock.runAll();
  await Promise.all(waits);
  assert.deepEqual(grantedAt, [0, 420, 520]);
});

Deno.test("LearningLimiter: a waiter whose signal aborts leaves the queue and the next one moves up", async () => {
  const clock = new FakeClock();
  const limiter = new LearningLimiter({ ratePerSecond: 10, clock });
  await limiter.take();
  const stop = new AbortController();
  const first = limiter.take(1, { signal: stop.signal });
  const second = limiter.take();
  stop.abort(new Error("gave up"));
  await assert.rejects(first, /gave up/);
  await clock.advance(100);
  await second;
  assert.equal(clock.now(), 100);
});

Deno.test("LearningLimiter: a 429 holds the next request back one interval and lowers the pace", async () => {
  const clock = new FakeClock();
  const limiter = new LearningLimiter({ ratePerSecond: 10, clock });
  await limiter.take();
  limiter.observe("throttled");
  assert.ok(limiter.ratePerSecond < 10);
  const next = limiter.take().then(() => clock.now());
  await clock.runAll();
  assert.ok((await next) >= 100, "one interval at least");
});

Deno.test("LearningLimiter rejects a take of more than its burst", async () => {
  const limiter = new LearningLimiter({ ratePerSecond: 10, burst: 2 });
  await assert.rejects(limiter.take(3), /at most the burst \(2\), current value is 3/);
});

Deno.test("TokenBucket told each answer learns a 20/s limit below its rate of 40/s", async () => {
  await assertComesDownTo20((clock) => new TokenBucket({ ratePerSecond: 40, clock }));
});

Deno.test("TokenBucket takes no rate lesson from a 429 with Retry-After (the pause is the answer)", () => {
  const bucket = new TokenBucket({ ratePerSecond: 20, clock: new FakeClock() });
  bucket.observe("throttled", { retryAfterMs: 1_000 });
  assert.equal(bucket.ratePerSecond, 20);
  bucket.observe("throttled");
  assert.ok(bucket.ratePerSecond < 20);
});

Deno.test("TokenBucket never told about answers keeps its rate exactly", async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 50, clock });
  const done = Promise.all(Array.from({ length: 101 }, () => bucket.take()));
  await clock.runAll();
  await done;
  assert.equal(clock.now(), 2_000);
  assert.equal(bucket.ratePerSecond, 50);
});

Deno.test("LearningLimiter never paces above its ceiling, however long the answers are good", async () => {
  const clock = new FakeClock();
  const limiter = new LearningLimiter({ ratePerSecond: 10, clock });
  await clock.advance(10);
  limiter.observe("throttled");
  for (let i = 0; i < 2_000; i++) {
    await clock.advance(100);
    limiter.observe("accepted");
    assert.ok(limiter.ratePerSecond <= 10, `${limiter.ratePerSecond} after ${i} answers`);
  }
  assert.ok(limiter.ratePerSecond > 9.5, "and it climbs back to it");
});
