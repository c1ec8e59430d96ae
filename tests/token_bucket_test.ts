import assert from "node:assert/strict";
import { TokenBucket } from "../lib/core/token_bucket.ts";
import { FakeClock } from "../lib/core/fake_clock.ts";
import { type Clock, realClock } from "../lib/core/clock.ts";
import { busiestSecond } from "./support/windows.ts";

/** A FakeClock that counts how often it is asked to sleep. */
class CountingClock extends FakeClock {
  sleeps = 0;
  override sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps++;
    return super.sleep(ms, signal);
  }
}

interface Grant {
  id: number;
  atMs: number;
  n: number;
}

/** Start a take and record when (in virtual time) it was granted. */
function track(
  bucket: TokenBucket,
  clock: Clock,
  grants: Grant[],
  id: number,
  n = 1,
  signal?: AbortSignal,
): Promise<void> {
  const options = signal ? { signal } : undefined;
  return bucket.take(n, options).then(() => {
    grants.push({ id, atMs: clock.now(), n });
  });
}

/**
 * Replay grants through an ideal token bucket (full before the first grant)
 * and return the lowest balance seen: negative means some window saw too many.
 */
function lowestBalance(grants: Grant[], ratePerSecond: number, burst: number): number {
  const sorted = [...grants].sort((a, b) => a.atMs - b.atMs);
  let balance = burst;
  let lowest = burst;
  let lastMs = sorted[0]?.atMs ?? 0;
  for (const grant of sorted) {
    balance = Math.min(burst, balance + (grant.atMs - lastMs) * ratePerSecond / 1000) - grant.n;
    lastMs = grant.atMs;
    lowest = Math.min(lowest, balance);
  }
  return lowest;
}

/** A small seeded generator (mulberry32), so the randomized test is reproducible. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("TokenBucket.take() grants 10,000 callers at 50/s, the last at exactly (10,000 − 1)/50 s", async () => {
  const clock = new CountingClock();
  const bucket = new TokenBucket({ ratePerSecond: 50, clock });
  const grants: Grant[] = [];
  const all = Promise.all(
    Array.from({ length: 10_000 }, (_, id) => track(bucket, clock, grants, id)),
  );
  await clock.runAll();
  await all;
  assert.equal(grants.length, 10_000);
  assert.ok(Math.abs(grants.at(-1)!.atMs - 9_999 * 20) <= 1, `last at ${grants.at(-1)!.atMs}`);
  assert.deepEqual(grants.map((g) => g.id), grants.map((_, i) => i), "granted in call order");
  grants.forEach((g, i) => assert.ok(Math.abs(g.atMs - i * 20) < 1e-6, `grant ${i} at ${g.atMs}`));
  assert.ok(busiestSecond(grants.map((g) => g.atMs)) <= 50 + 1);
  assert.equal(clock.sleeps, 9_999, "one sleep per waiter, none for the first");
});

Deno.test("TokenBucket.take() lets a burst through at once, then paces at the rate", async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 10, burst: 5, clock });
  const grants: Grant[] = [];
  const all = Promise.all(Array.from({ length: 30 }, (_, id) => track(bucket, clock, grants, id)));
  await clock.runAll();
  await all;
  const expected = Array.from({ length: 30 }, (_, i) => (i < 5 ? 0 : (i - 4) * 100));
  assert.deepEqual(grants.map((g) => Math.round(g.atMs * 1e6) / 1e6), expected);
  assert.ok(busiestSecond(grants.map((g) => g.atMs)) <= 10 + 5);
});

Deno.test("TokenBucket.take() resolves with no timer when a token is free", async () => {
  const clock = new CountingClock();
  const bucket = new TokenBucket({ ratePerSecond: 1, burst: 3, clock });
  let settled = 0;
  const takes = [bucket.take(), bucket.take(2)].map((p) => p.then(() => settled++));
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(settled, 2);
  await Promise.all(takes);
  assert.equal(clock.sleeps, 0);
  assert.equal(clock.pendingSleepers, 0);
  assert.equal(bucket.tokens(), 0);
});

Deno.test("TokenBucket.take() serves mixed sizes first come, first served", async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 1, burst: 3, clock });
  assert.equal(bucket.tryTake(3), true);
  const grants: Grant[] = [];
  const big = track(bucket, clock, grants, 1, 3);
  const small = track(bucket, clock, grants, 2, 1);
  await clock.advanceTo(1_500);
  // One token is there, but the queued take(3) is ahead: no overtaking.
  assert.equal(bucket.tryTake(), false);
  assert.deepEqual(grants, []);
  await clock.runAll();
  await Promise.all([big, small]);
  assert.deepEqual(grants, [{ id: 1, atMs: 3_000, n: 3 }, { id: 2, atMs: 4_000, n: 1 }]);
  assert.equal(bucket.tryTake(), false);
  await clock.advanceTo(5_000);
  assert.equal(bucket.tryTake(), true);
});

Deno.test("TokenBucket.tryTake() never waits and succeeds only when tokens are there now", async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 4, burst: 2, clock });
  assert.equal(bucket.tryTake(), true);
  assert.equal(bucket.tryTake(), true);
  assert.equal(bucket.tryTake(), false);
  await clock.advance(249);
  assert.equal(bucket.tryTake(), false);
  await clock.advance(1);
  assert.equal(bucket.tryTake(), true);
  await clock.advance(10_000);
  assert.equal(bucket.tokens(), 2, "the balance never exceeds the burst");
  assert.equal(bucket.tryTake(2), true);
  assert.equal(clock.pendingSleepers, 0);
});

Deno.test("TokenBucket rejects invalid counts, rates, bursts and pauses with RangeErrors", async () => {
  assert.throws(
    () => new TokenBucket({ ratePerSecond: -1 }),
    new RangeError(
      "Cannot create TokenBucket: 'ratePerSecond' must be a positive finite number, current value is -1",
    ),
  );
  assert.throws(() => new TokenBucket({ ratePerSecond: 0 }), RangeError);
  assert.throws(() => new TokenBucket({ ratePerSecond: NaN }), RangeError);
  assert.throws(() => new TokenBucket({ ratePerSecond: Infinity }), RangeError);
  assert.throws(
    () => new TokenBucket({ ratePerSecond: 1, burst: 0.5 }),
    new RangeError(
      "Cannot create TokenBucket: 'burst' must be a finite number of at least 1, current value is 0.5",
    ),
  );
  const bucket = new TokenBucket({ ratePerSecond: 1, burst: 2, clock: new FakeClock() });
  await assert.rejects(
    bucket.take(3),
    new RangeError("Cannot take tokens: 'n' must not exceed the burst (2), current value is 3"),
  );
  await assert.rejects(
    bucket.take(0),
    new RangeError("Cannot take tokens: 'n' must be a positive number, current value is 0"),
  );
  await assert.rejects(bucket.take(NaN), RangeError);
  assert.throws(() => bucket.tryTake(-1), RangeError);
  assert.throws(() => bucket.tryTake(3), RangeError);
  assert.throws(() => bucket.reserve(2.5), RangeError);
  assert.throws(
    () => bucket.setRate(0),
    new RangeError(
      "Cannot set TokenBucket rate: 'ratePerSecond' must be a positive finite number, current value is 0",
    ),
  );
  assert.throws(() => bucket.setRate(1, 0), RangeError);
  assert.throws(
    () => bucket.pause(-5),
    new RangeError(
      "Cannot pause TokenBucket: 'ms' must be a non-negative finite number, current value is -5",
    ),
  );
  assert.throws(() => bucket.pause(Infinity), RangeError);
  assert.equal(bucket.tokens(), 2, "nothing was claimed by the failed calls");
});

Deno.test("TokenBucket.reserve() says the delay up front and cancel() of the last one gives it all back", () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 2, clock });
  assert.equal(bucket.reserve().delayMs, 0);
  const second = bucket.reserve();
  assert.equal(second.delayMs, 500);
  const third = bucket.reserve();
  assert.equal(third.delayMs, 1_000);
  third.cancel();
  third.cancel(); // a second cancel gives nothing more back
  assert.equal(bucket.reserve().delayMs, 1_000, "the freed slot is reused");
  assert.equal(clock.pendingSleepers, 0, "reservations start no timers");
});

Deno.test("TokenBucket.reserve() cancel() gives back only what no later reservation claimed", () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 1, clock });
  bucket.reserve(); // at 0
  const middle = bucket.reserve(); // at 1000
  const last = bucket.reserve(); // at 2000
  middle.cancel();
  // `last` will act at 2000 whatever happens. Had the middle token gone back, the
  // next caller would be told 2000 too: two grants at once on a burst of 1.
  assert.equal(bucket.reserve().delayMs, 3_000);
  assert.equal(last.delayMs, 2_000);
});

Deno.test("TokenBucket.reserve() cancel() of a big reservation returns the part nobody behind it counted on", () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 1, burst: 3, clock });
  assert.equal(bucket.tryTake(3), true);
  const big = bucket.reserve(3); // at 3000
  const small = bucket.reserve(1); // at 4000, counting on one token after `big`
  assert.equal(big.delayMs, 3_000);
  assert.equal(small.delayMs, 4_000);
  assert.equal(bucket.tokens(), -4);
  big.cancel();
  assert.equal(bucket.tokens(), -2, "3 claimed, 1 counted on by `small`: 2 come back");
  // A newcomer may use the freed tokens, before `small`, without moving it.
  assert.equal(bucket.reserve(1).delayMs, 3_000);
  assert.equal(bucket.reserve(2).delayMs, 5_000);
});

Deno.test("TokenBucket.reserve() cancel() after the reservation's time does nothing", async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 1, clock });
  bucket.reserve();
  const next = bucket.reserve();
  await clock.advance(1_500);
  const before = bucket.tokens();
  next.cancel(); // its holder is assumed to have acted at 1000
  assert.equal(bucket.tokens(), before);
});

Deno.test("TokenBucket.take() aborted while queued rejects with the reason and gives its slot back if nobody is behind", async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 1, clock });
  const grants: Grant[] = [];
  await bucket.take();
  const first = track(bucket, clock, grants, 1); // 1000
  const controller = new AbortController();
  const aborted = bucket.take(1, { signal: controller.signal }); // 2000
  assert.equal(clock.pendingSleepers, 2);
  await clock.advance(300);
  const reason = new Error("no longer needed");
  controller.abort(reason);
  await assert.rejects(aborted, (e) => e === reason);
  assert.equal(clock.pendingSleepers, 1, "its timer is gone");
  const next = track(bucket, clock, grants, 2); // takes the freed 2000 slot
  await clock.runAll();
  await Promise.all([first, next]);
  assert.deepEqual(grants.map((g) => [g.id, g.atMs]), [[1, 1_000], [2, 2_000]]);
});

Deno.test("TokenBucket.take() aborted in the middle of the queue does not let later callers closer together", async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 1, clock });
  const grants: Grant[] = [];
  await bucket.take();
  const controller = new AbortController();
  const aborted = bucket.take(1, { signal: controller.signal }); // 1000
  const behind = track(bucket, clock, grants, 1); // 2000
  await clock.advance(500);
  controller.abort(new Error("stop"));
  await assert.rejects(aborted, /stop/);
  const newcomer = track(bucket, clock, grants, 2);
  await clock.runAll();
  await Promise.all([behind, newcomer]);
  // Go's semantics: the aborted token was already counted on by `behind`.
  assert.deepEqual(grants.map((g) => [g.id, g.atMs]), [[1, 2_000], [2, 3_000]]);
});

Deno.test("TokenBucket.take() with an already aborted signal rejects at once and claims nothing", async () => {
  const clock = new CountingClock();
  const bucket = new TokenBucket({ ratePerSecond: 1, clock });
  const reason = new DOMException("gone", "AbortError");
  await assert.rejects(bucket.take(1, { signal: AbortSignal.abort(reason) }), (e) => e === reason);
  assert.equal(bucket.tokens(), 1);
  assert.equal(clock.sleeps, 0);
});

Deno.test("TokenBucket.take() aborted with the real clock rejects at once and leaves no timer", async () => {
  const bucket = new TokenBucket({ ratePerSecond: 0.1, clock: realClock });
  await bucket.take();
  const controller = new AbortController();
  const started = performance.now();
  const waiting = bucket.take(1, { signal: controller.signal }); // 10 s away
  setTimeout(() => controller.abort(new Error("user cancelled")), 5);
  await assert.rejects(waiting, /user cancelled/);
  // Far from the 10 s wait; seconds of room for a stalled machine.
  assert.ok(performance.now() - started < 5_000);
  assert.ok(bucket.tokens() > -0.01, `the token went back: ${bucket.tokens()}`);
});

Deno.test("TokenBucket.setRate() to a lower rate slows down callers already queued", async () => {
  const clock = new CountingClock();
  const bucket = new TokenBucket({ ratePerSecond: 10, clock });
  const grants: Grant[] = [];
  const all = Promise.all(Array.from({ length: 20 }, (_, id) => track(bucket, clock, grants, id)));
  await clock.advanceTo(450); // granted at 0, 100, 200, 300, 400
  bucket.setRate(5);
  assert.equal(bucket.ratePerSecond, 5);
  await clock.runAll();
  await all;
  const times = grants.map((g) => Math.round(g.atMs * 1e6) / 1e6);
  // The next caller was 50 ms away at the old rate: 100 ms at the new one.
  const expected = [0, 100, 200, 300, 400, ...Array.from({ length: 15 }, (_, i) => 550 + i * 200)];
  assert.deepEqual(times, expected);
  assert.deepEqual(grants.map((g) => g.id), grants.map((_, i) => i));
  assert.equal(clock.sleeps, 19 + 15, "each slowed waiter sleeps once more");
});

Deno.test("TokenBucket.setRate() to a higher rate keeps queued callers' times and paces newcomers behind them", async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 5, clock });
  const grants: Grant[] = [];
  const queued = Array.from({ length: 10 }, (_, id) => track(bucket, clock, grants, id));
  await clock.advanceTo(100);
  bucket.setRate(10);
  const newcomers = Array.from({ length: 5 }, (_, i) => track(bucket, clock, grants, 10 + i));
  await clock.runAll();
  await Promise.all([...queued, ...newcomers]);
  const times = grants.map((g) => Math.round(g.atMs * 1e6) / 1e6);
  assert.deepEqual(times, [
    ...Array.from({ length: 10 }, (_, i) => i * 200),
    ...Array.from({ length: 5 }, (_, i) => 1_900 + i * 100),
  ]);
});

// Go's x/time/rate: Reserve(2) twice at 0 at 5/s burst 2, SetLimit(10) at 200,
// Cancel the second: the limiter holds 1 token, so Reserve(2) acts at 300.
Deno.test("TokenBucket.reserve() cancel() after a higher setRate() gives back the queue's hold too (Go's Reservation.Cancel)", async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 5, burst: 2, clock });
  assert.equal(bucket.reserve(2).delayMs, 0);
  const second = bucket.reserve(2);
  assert.equal(second.delayMs, 400);
  await clock.advanceTo(200);
  bucket.setRate(10);
  second.cancel();
  // Nobody is queued any more: what is left is Go's balance, -1 + 2 = 1 token.
  assert.ok(Math.abs(bucket.tokens() - 1) < 1e-9, `1 token left, not ${bucket.tokens()}`);
  assert.equal(Math.round(bucket.reserve(2).delayMs * 1e6) / 1e6, 100, "acts at 300, not 400");
});

Deno.test("TokenBucket.take() aborted after a higher setRate() gives back the queue's hold too", async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 5, burst: 2, clock });
  await bucket.take(2);
  const controller = new AbortController();
  const aborted = bucket.take(2, { signal: controller.signal }); // due at 400
  await clock.advanceTo(200);
  bucket.setRate(10);
  controller.abort(new Error("not needed"));
  await assert.rejects(aborted, /not needed/);
  assert.ok(Math.abs(bucket.tokens() - 1) < 1e-9, `1 token left, not ${bucket.tokens()}`);
  const grants: Grant[] = [];
  const next = track(bucket, clock, grants, 1, 2);
  await clock.runAll();
  await next;
  assert.deepEqual(grants.map((g) => Math.round(g.atMs * 1e6) / 1e6), [300]);
});

Deno.test("TokenBucket.reserve() cancel() after a higher setRate() keeps only the hold an earlier queued caller needs", async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 5, clock });
  const grants: Grant[] = [];
  await bucket.take(); // 0
  const waiting = track(bucket, clock, grants, 1); // 200
  const last = bucket.reserve(); // 400
  await clock.advanceTo(100);
  bucket.setRate(10);
  last.cancel();
  // The caller at 200 still sleeps until 200, so a newcomer goes after it.
  const newcomer = track(bucket, clock, grants, 2);
  await clock.runAll();
  await Promise.all([waiting, newcomer]);
  assert.deepEqual(grants.map((g) => [g.id, Math.round(g.atMs * 1e6) / 1e6]), [[1, 200], [2, 300]]);
});

Deno.test("TokenBucket.setRate() keeps the balance and caps it at the new burst", async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 1, burst: 4, clock });
  bucket.tryTake(3);
  bucket.setRate(2, 10);
  assert.equal(bucket.tokens(), 1);
  assert.equal(bucket.burst, 10);
  await clock.advance(2_000);
  assert.equal(bucket.tokens(), 5, "refilled at the new rate");
  bucket.setRate(2, 2);
  assert.equal(bucket.tokens(), 2);
  assert.throws(() => bucket.tryTake(3), RangeError);
});

Deno.test("TokenBucket.pause() grants nobody a token before now + ms, then the queue resumes in order at the rate", async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 10, clock });
  const grants: Grant[] = [];
  const queued = Array.from({ length: 10 }, (_, id) => track(bucket, clock, grants, id));
  await clock.advanceTo(250); // granted at 0, 100, 200
  bucket.pause(1_000);
  assert.equal(bucket.tryTake(), false);
  const late = track(bucket, clock, grants, 10);
  await clock.advanceTo(1_249);
  assert.equal(grants.length, 3, "nobody granted during the pause");
  await clock.runAll();
  await Promise.all([...queued, late]);
  const times = grants.map((g) => Math.round(g.atMs * 1e6) / 1e6);
  // Time stood still for the queue: the next caller, 50 ms away, goes at 1250 + 50.
  assert.deepEqual(times, [0, 100, 200, ...Array.from({ length: 8 }, (_, i) => 1_300 + i * 100)]);
  assert.deepEqual(grants.map((g) => g.id), grants.map((_, i) => i));
});

Deno.test("TokenBucket.pause() leaves at most one token at its end, so no burst follows", async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 10, burst: 5, clock });
  bucket.pause(1_000);
  await clock.advance(999);
  assert.equal(bucket.tryTake(), false);
  await clock.advance(1);
  assert.equal(bucket.tryTake(), true);
  assert.equal(bucket.tryTake(), false);
  await clock.advance(100);
  assert.equal(bucket.tryTake(), true);
});

Deno.test("TokenBucket.pause() inside a pause changes nothing unless it ends later", async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 10, clock });
  const grants: Grant[] = [];
  await bucket.take();
  const waiter = track(bucket, clock, grants, 1); // 100
  bucket.pause(1_000); // waiter moves to 1100
  await clock.advance(200);
  bucket.pause(500); // ends at 700: inside the first
  await clock.advance(100);
  bucket.pause(1_200); // ends at 1500: extends by 500, waiter to 1600
  await clock.runAll();
  await waiter;
  assert.deepEqual(grants.map((g) => g.atMs), [1_600]);
});

Deno.test("TokenBucket.pause() keeps a reservation's time and the callers queued ahead of it", async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 10, clock });
  const grants: Grant[] = [];
  await bucket.take();
  const ahead = track(bucket, clock, grants, 1); // 100
  const reservation = bucket.reserve(); // 200: its holder will act then, come what may
  const behind = track(bucket, clock, grants, 2); // 300
  await clock.advance(50);
  bucket.pause(1_000);
  const newcomer = track(bucket, clock, grants, 3);
  await clock.runAll();
  await Promise.all([ahead, behind, newcomer]);
  assert.equal(reservation.delayMs, 200);
  // Moving `ahead` past 200 would have put it right next to the reservation.
  assert.deepEqual(grants.map((g) => [g.id, g.atMs]), [[1, 100], [2, 1_300], [3, 1_400]]);
});

Deno.test("TokenBucket.setRate() during a pause keeps the pause", async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ ratePerSecond: 10, clock });
  const grants: Grant[] = [];
  await bucket.take();
  const waiters = [track(bucket, clock, grants, 1), track(bucket, clock, grants, 2)];
  bucket.pause(1_000);
  bucket.setRate(1);
  bucket.setRate(100);
  await clock.runAll();
  await Promise.all(waiters);
  assert.deepEqual(grants.map((g) => g.id), [1, 2]);
  for (const grant of grants) assert.ok(grant.atMs >= 1_000, `granted at ${grant.atMs}`);
  assert.ok(lowestBalance(grants, 100, 1) >= -1e-9);
});

/**
 * Drive a bucket with a seeded random mix of takes (some aborted), tryTakes,
 * reservations (some cancelled), pauses and rate changes, then check every
 * grant against an ideal token bucket at the highest rate used, and against
 * the pauses.
 */
async function randomRun(seed: number, withReservations: boolean, withRateChanges: boolean) {
  const random = seededRandom(seed);
  const clock = new FakeClock();
  const maxRatePerSecond = 20;
  const burst = 3;
  const bucket = new TokenBucket({ ratePerSecond: maxRatePerSecond, burst, clock });
  const grants: Grant[] = [];
  // Takes and tryTakes obey every pause, except a take queued ahead of a
  // reservation that was still to come when the pause began (the holder will
  // act then, so the queue up to it stays put). A reservation obeys the pauses
  // that began before it was made.
  const madeAtStep = new Map<number, number>();
  const pauses: Array<{ fromMs: number; untilMs: number; step: number; reservedUntilMs: number }> =
    [];
  let reservedUntilMs = -Infinity;
  const pending: Promise<unknown>[] = [];
  let id = 0;
  for (let step = 0; step < 2_000; step++) {
    const roll = random();
    const n = 1 + Math.floor(random() * burst);
    if (roll < 0.25) {
      const controller = new AbortController();
      madeAtStep.set(id, Infinity);
      pending.push(track(bucket, clock, grants, id++, n, controller.signal).catch(() => {}));
      if (random() < 0.2) {
        const abortAfterMs = random() * 500;
        pending.push(clock.sleep(abortAfterMs).then(() => controller.abort(new Error("x"))));
      }
    } else if (roll < 0.37) {
      if (!withReservations) continue;
      const reservation = bucket.reserve(n);
      reservedUntilMs = Math.max(reservedUntilMs, clock.now() + reservation.delayMs);
      if (random() < 0.3) {
        reservation.cancel();
      } else {
        madeAtStep.set(id, step);
        grants.push({ id: id++, atMs: clock.now() + reservation.delayMs, n });
      }
    } else if (roll < 0.47) {
      if (bucket.tryTake(n)) {
        madeAtStep.set(id, Infinity);
        grants.push({ id: id++, atMs: clock.now(), n });
      }
    } else if (roll < 0.49) {
      const ms = random() * 800;
      pauses.push({ fromMs: clock.now(), untilMs: clock.now() + ms, step, reservedUntilMs });
      bucket.pause(ms);
    } else if (roll < 0.51) {
      if (withRateChanges) bucket.setRate(5 + random() * (maxRatePerSecond - 5));
    } else {
      await clock.advance(random() * 200);
    }
  }
  await clock.runAll();
  await Promise.all(pending);
  assert.ok(grants.length > 500, `only ${grants.length} grants`);
  assert.ok(pauses.length > 20);
  assert.ok(lowestBalance(grants, maxRatePerSecond, burst) >= -1e-9);
  const tokenTimes = grants.flatMap((g) => Array.from({ length: g.n }, () => g.atMs));
  assert.ok(busiestSecond(tokenTimes) <= maxRatePerSecond + burst);
  for (const grant of grants) {
    for (const pause of pauses) {
      if (pause.step > madeAtStep.get(grant.id)!) continue;
      if (grant.atMs <= pause.reservedUntilMs + 1e-9) continue;
      const inside = grant.atMs > pause.fromMs + 1e-9 && grant.atMs < pause.untilMs - 1e-9;
      assert.ok(!inside, `grant ${grant.id} at ${grant.atMs} inside a pause (seed ${seed})`);
    }
  }
}

Deno.test("TokenBucket stays within rate + burst per second under random takes, aborts, tryTakes and pauses", async () => {
  for (const seed of [1, 2, 3]) await randomRun(seed, false, false);
});

Deno.test("TokenBucket stays within rate + burst per second when reservations and cancels join in", async () => {
  for (const seed of [4, 5, 6]) await randomRun(seed, true, false);
});

Deno.test("TokenBucket stays within the highest rate used when the rate changes at random", async () => {
  for (const seed of [7, 8, 9]) await randomRun(seed, true, true);
});

Deno.test("TokenBucket.take() handles 100,000 waiters in order and on time", async () => {
  const clock = new CountingClock();
  const bucket = new TokenBucket({ ratePerSecond: 1_000, clock });
  const order: number[] = [];
  let late = 0;
  const all = Promise.all(
    Array.from({ length: 100_000 }, (_, i) =>
      bucket.take().then(() => {
        order.push(i);
        if (Math.abs(clock.now() - i) > 1e-6) late++;
      })),
  );
  assert.equal(bucket.tokens(), -99_999);
  assert.equal(await clock.runAll(), 99_999);
  await all;
  assert.equal(late, 0);
  assert.equal(order.length, 100_000);
  assert.ok(order.every((v, i) => v === i), "granted in call order");
  assert.equal(clock.sleeps, 99_999);
});
