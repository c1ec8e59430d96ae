import assert from "node:assert/strict";
import { createRandom } from "../lib/core/seeded_random.ts";
import { FakeClock } from "../lib/core/fake_clock.ts";
import { realClock } from "../lib/core/clock.ts";
import { type BackoffOptions, createBackoff } from "../lib/core/backoff.ts";
import { retry, RetryError, type RetryHookContext, type RetryOptions } from "../lib/core/retry.ts";

/** A fixed schedule without jitter: every retry waits `delayMs`. */
function constant(delayMs: number): BackoffOptions {
  return { strategy: "constant", baseMs: delayMs, capMs: delayMs, jitter: "none" };
}

/** Run `retry` on a FakeClock until it settles; return its outcome and the call times. */
async function runVirtual<T>(
  clock: FakeClock,
  fn: (attempt: number) => T | Promise<T>,
  options: RetryOptions<T>,
): Promise<{ value?: T; error?: unknown; calls: number[] }> {
  const calls: number[] = [];
  const settled = retry(({ attempt }) => {
    calls.push(clock.now());
    return fn(attempt);
  }, { clock, ...options }).then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  await clock.runAll();
  return { ...(await settled), calls };
}

Deno.test("retry() returns the first successful result without sleeping", async () => {
  const clock = new FakeClock();
  const seen: Array<RetryHookContext<string>> = [];
  const value = await retry(() => "ok", {
    clock,
    onSuccess: (ctx) => void seen.push(ctx),
    onRetry: () => assert.fail("no retry expected"),
  });
  assert.equal(value, "ok");
  assert.deepEqual(seen, [{ attempt: 1, elapsedMs: 0, delayMs: 0, result: "ok" }]);
  assert.equal(clock.pendingSleepers, 0);
});

Deno.test("retry() retries thrown errors with the backoff schedule until success", async () => {
  const clock = new FakeClock();
  const { value, calls } = await runVirtual(clock, (attempt) => {
    if (attempt < 4) throw new Error(`fail ${attempt}`);
    return attempt;
  }, { backoff: { baseMs: 1_000, jitter: "none" } });
  assert.equal(value, 4);
  // Exponential without jitter: waits 1 s, 2 s, 4 s.
  assert.deepEqual(calls, [0, 1_000, 3_000, 7_000]);
});

Deno.test("retry() stops after maxAttempts calls in total, counting the first", async () => {
  const clock = new FakeClock();
  const errors = [new Error("a"), new Error("b"), new Error("c")];
  const { error, calls } = await runVirtual(clock, (attempt) => {
    throw errors[attempt - 1];
  }, { maxAttempts: 3, backoff: constant(500) });
  assert.deepEqual(calls, [0, 500, 1_000]);
  assert.ok(error instanceof RetryError);
  assert.equal(error.attempts, 3);
  assert.equal(error.reason, "max-attempts");
  assert.equal(error.elapsedMs, 1_000);
  assert.equal(error.cause, errors[2]);
  assert.ok(!("lastResult" in error));
  assert.equal(error.name, "RetryError");
  assert.equal(
    error.message,
    "Retry gave up after 3 attempts in 1000 ms: 'maxAttempts' is 3; last error: Error: c",
  );
  assert.equal(clock.pendingSleepers, 0);

  const once = await runVirtual(new FakeClock(), () => {
    throw new Error("only");
  }, { maxAttempts: 1 });
  assert.equal(once.calls.length, 1);
  assert.ok(once.error instanceof RetryError && once.error.attempts === 1);
});

Deno.test("retry() gives up when the next delay would pass maxElapsedMs, without sleeping to it", async () => {
  const clock = new FakeClock();
  const { error, calls } = await runVirtual(clock, () => {
    throw new Error("down");
  }, { maxElapsedMs: 3_500, backoff: constant(1_000) });
  assert.deepEqual(calls, [0, 1_000, 2_000, 3_000]);
  assert.ok(error instanceof RetryError);
  assert.equal(error.reason, "max-elapsed");
  assert.equal(error.attempts, 4);
  assert.equal(error.elapsedMs, 3_000);
  // Python backoff would sleep 500 ms more and call once more at exactly 3500.
  assert.equal(clock.now(), 3_000);
  assert.match(error.message, /waiting 1000 ms more would pass 'maxElapsedMs' \(3500\)/);

  // A retry that lands exactly on the budget is still allowed.
  const exact = await runVirtual(new FakeClock(), () => {
    throw new Error("down");
  }, { maxElapsedMs: 3_000, backoff: constant(1_000) });
  assert.deepEqual(exact.calls, [0, 1_000, 2_000, 3_000]);
});

Deno.test("retry() counts the time spent inside fn toward maxElapsedMs", async () => {
  const clock = new FakeClock();
  const { error, calls } = await runVirtual(clock, async () => {
    await clock.sleep(2_000);
    throw new Error("slow failure");
  }, { maxElapsedMs: 5_000, backoff: constant(1_000) });
  // Calls start at 0 and 3000; after the second ends at 5000 no delay fits.
  assert.deepEqual(calls, [0, 3_000]);
  assert.ok(error instanceof RetryError);
  assert.equal(error.elapsedMs, 5_000);
});

Deno.test("retry() counts time spent in onRetry toward maxElapsedMs: no attempt starts past it", async () => {
  const clock = new FakeClock();
  const reasons: Array<string | undefined> = [];
  const { error, calls } = await runVirtual(clock, () => {
    throw new Error("down");
  }, {
    maxElapsedMs: 200,
    backoff: constant(0),
    onRetry: () => clock.sleep(300),
    onGiveUp: ({ reason }) => void reasons.push(reason),
  });
  assert.deepEqual(calls, [0], "no second attempt at 300 ms");
  assert.ok(error instanceof RetryError);
  assert.equal(error.reason, "max-elapsed");
  assert.equal(error.elapsedMs, 300);
  assert.match(error.message, /300 ms have passed 'maxElapsedMs' \(200\)/);
  assert.deepEqual(reasons, ["max-elapsed"]);
  assert.equal(clock.pendingSleepers, 0);
});

Deno.test("retry() counts time spent in retryOn and retryOnResult toward maxElapsedMs", async () => {
  const slowRetryOn = new FakeClock();
  const thrown = await runVirtual(slowRetryOn, () => {
    throw new Error("down");
  }, {
    maxElapsedMs: 200,
    backoff: constant(0),
    retryOn: async () => {
      await slowRetryOn.sleep(300);
      return true;
    },
  });
  assert.deepEqual(thrown.calls, [0]);
  assert.ok(thrown.error instanceof RetryError && thrown.error.reason === "max-elapsed");

  // 150 ms in the hook plus a 100 ms delay would end at 250: past the budget.
  const slowPredicate = new FakeClock();
  const returned = await runVirtual(slowPredicate, () => false, {
    maxElapsedMs: 200,
    backoff: constant(100),
    retryOnResult: async (ok) => {
      await slowPredicate.sleep(150);
      return !ok;
    },
  });
  assert.deepEqual(returned.calls, [0]);
  assert.ok(returned.error instanceof RetryError);
  assert.equal(returned.error.elapsedMs, 150);
  assert.match(returned.error.message, /waiting 100 ms more would pass 'maxElapsedMs' \(200\)/);
});

Deno.test("retry() rethrows a non-retryable error as is and reports it to onGiveUp", async () => {
  const clock = new FakeClock();
  const fatal = new TypeError("401 bad credentials");
  const decisions: unknown[] = [];
  const giveUps: Array<RetryHookContext<never>> = [];
  const { error, calls } = await runVirtual<never>(clock, (attempt) => {
    throw attempt < 3 ? new Error("429") : fatal;
  }, {
    backoff: constant(100),
    retryOn: async (e, ctx) => {
      await Promise.resolve();
      decisions.push([(e as Error).message, ctx]);
      return e !== fatal;
    },
    onGiveUp: (ctx) => void giveUps.push(ctx),
  });
  assert.equal(error, fatal);
  assert.deepEqual(calls, [0, 100, 200]);
  assert.deepEqual(decisions, [
    ["429", { attempt: 1, elapsedMs: 0 }],
    ["429", { attempt: 2, elapsedMs: 100 }],
    ["401 bad credentials", { attempt: 3, elapsedMs: 200 }],
  ]);
  assert.deepEqual(giveUps, [{
    attempt: 3,
    elapsedMs: 200,
    delayMs: 0,
    error: fatal,
    reason: "not-retryable",
  }]);
});

Deno.test("retry() retries on a result when retryOnResult says so, and keeps the last result", async () => {
  const clock = new FakeClock();
  const ok = await runVirtual(clock, (attempt) => attempt >= 3, {
    retryOnResult: (r) => r === false,
    backoff: constant(10),
  });
  assert.equal(ok.value, true);
  assert.equal(ok.calls.length, 3);

  const statuses = [429, 429, 503];
  const failed = await runVirtual(new FakeClock(), (attempt) => statuses[attempt - 1], {
    maxAttempts: 3,
    retryOnResult: async (status) => {
      await Promise.resolve();
      return status !== 202;
    },
    backoff: constant(10),
  });
  assert.ok(failed.error instanceof RetryError);
  assert.equal(failed.error.lastResult, 503);
  assert.equal(failed.error.cause, undefined);
  assert.ok(!("cause" in failed.error));
  assert.match(failed.error.message, /last result: 503$/);

  // Without retryOnResult, any returned value is a success, even false.
  const plain = await runVirtual(new FakeClock(), () => false, {});
  assert.equal(plain.value, false);
  assert.equal(plain.calls.length, 1);
});

Deno.test("retry() lets delayHint replace the backoff: not jittered, not capped, still bounded by the budget", async () => {
  const clock = new FakeClock();
  const hints = [2_500, undefined, 90_000, -5, NaN];
  const delays: number[] = [];
  const { value, calls } = await runVirtual(clock, (attempt) => {
    if (attempt <= hints.length) {
      throw Object.assign(new Error("429"), { hint: hints[attempt - 1] });
    }
    return "sent";
  }, {
    // Full jitter with random 0.5 halves every computed delay, which tells them apart from hints.
    backoff: { baseMs: 1_000, capMs: 60_000, jitter: "full", random: () => 0.5 },
    delayHint: (e) => (e as { hint?: number }).hint,
    onRetry: ({ delayMs }) => void delays.push(delayMs),
  });
  assert.equal(value, "sent");
  // Hint 2500 as is; then backoff attempt 1 (2000·0.5); hint 90 s over the 60 s cap;
  // invalid hints fall back to the schedule, which advanced meanwhile (8 s·0.5, 16 s·0.5).
  assert.deepEqual(delays, [2_500, 1_000, 90_000, 4_000, 8_000]);
  assert.deepEqual(calls, [0, 2_500, 3_500, 93_500, 97_500, 105_500]);

  const giveUps: Array<RetryHookContext<unknown>> = [];
  const bounded = await runVirtual(new FakeClock(), () => {
    throw new Error("429");
  }, {
    maxElapsedMs: 60_000,
    delayHint: () => 120_000,
    onGiveUp: (ctx) => void giveUps.push(ctx),
  });
  assert.equal(bounded.calls.length, 1);
  assert.ok(bounded.error instanceof RetryError);
  assert.equal(bounded.error.reason, "max-elapsed");
  assert.equal(giveUps[0]?.delayMs, 120_000);
  assert.equal(giveUps[0]?.reason, "max-elapsed");
});

Deno.test("retry() hooks get their contexts in order, and async hooks are awaited", async () => {
  const clock = new FakeClock();
  const log: string[] = [];
  const slowHook = (name: string) => async (ctx: RetryHookContext<string>) => {
    log.push(`${name} start @${clock.now()} ${JSON.stringify(ctx)}`);
    await clock.sleep(50);
    log.push(`${name} end @${clock.now()}`);
  };
  const { value } = await runVirtual(clock, (attempt) => {
    log.push(`call ${attempt} @${clock.now()}`);
    if (attempt === 1) throw new Error("boom");
    return attempt === 2 ? "again" : "done";
  }, {
    backoff: constant(1_000),
    retryOnResult: (r) => r === "again",
    onRetry: slowHook("onRetry"),
    onSuccess: slowHook("onSuccess"),
    onGiveUp: () => void log.push("onGiveUp"),
  });
  assert.equal(value, "done");
  // error is an Error, which JSON shows as {}.
  assert.deepEqual(log, [
    "call 1 @0",
    `onRetry start @0 {"attempt":1,"elapsedMs":0,"delayMs":1000,"error":{}}`,
    "onRetry end @50",
    "call 2 @1050",
    `onRetry start @1050 {"attempt":2,"elapsedMs":1050,"delayMs":1000,"result":"again"}`,
    "onRetry end @1100",
    "call 3 @2100",
    `onSuccess start @2100 {"attempt":3,"elapsedMs":2100,"delayMs":0,"result":"done"}`,
    "onSuccess end @2150",
  ]);

  // onGiveUp is awaited before the RetryError is thrown.
  const order: string[] = [];
  const giveUpClock = new FakeClock();
  const run = retry(() => Promise.reject(new Error("x")), {
    clock: giveUpClock,
    maxAttempts: 2,
    backoff: constant(10),
    onGiveUp: async (ctx) => {
      await giveUpClock.sleep(5);
      order.push(`onGiveUp ${ctx.reason} attempt ${ctx.attempt}`);
    },
  }).catch((e: unknown) => order.push(`rejected ${(e as RetryError).reason}`));
  await giveUpClock.runAll();
  await run;
  assert.deepEqual(order, ["onGiveUp max-attempts attempt 2", "rejected max-attempts"]);
});

Deno.test("retry() rejects with signal.reason at once when aborted mid-sleep, leaving no sleeper", async () => {
  const clock = new FakeClock();
  const controller = new AbortController();
  const reason = new Error("user cancelled");
  let calls = 0;
  const hooks: string[] = [];
  const run = retry(() => {
    calls++;
    throw new Error("503");
  }, {
    clock,
    signal: controller.signal,
    backoff: constant(60_000),
    onGiveUp: () => void hooks.push("onGiveUp"),
  });
  await clock.advance(0);
  assert.equal(clock.pendingSleepers, 1);
  controller.abort(reason);
  await assert.rejects(run, (e) => e === reason);
  assert.equal(clock.now(), 0);
  assert.equal(clock.pendingSleepers, 0);
  assert.equal(calls, 1);
  assert.deepEqual(hooks, []);
});

Deno.test("retry() with realClock: aborting a 60 s sleep ends at once with no timer left", async () => {
  const controller = new AbortController();
  const started = performance.now();
  const run = retry(() => {
    throw new Error("503");
  }, { clock: realClock, signal: controller.signal, backoff: constant(60_000) });
  // Let the first attempt fail and the sleep start, then abort.
  await new Promise((resolve) => setTimeout(resolve, 5));
  controller.abort(new Error("shutting down"));
  await assert.rejects(run, /shutting down/);
  // Far from the 60 s sleep; seconds of room for a stalled machine.
  assert.ok(performance.now() - started < 5_000);
  // The sanitizers fail this test if the 60 s timer were still pending.
});

Deno.test("retry() checks the signal before each attempt and hands fn the caller's signal", async () => {
  const aborted = new AbortController();
  aborted.abort(new Error("already"));
  let called = false;
  await assert.rejects(
    retry(() => {
      called = true;
    }, { signal: aborted.signal }),
    /already/,
  );
  assert.equal(called, false);

  const controller = new AbortController();
  const seen: AbortSignal[] = [];
  await retry(({ signal }) => void seen.push(signal), { signal: controller.signal });
  assert.equal(seen[0], controller.signal);

  await retry(({ signal }) => void seen.push(signal));
  assert.ok(seen[1] instanceof AbortSignal);
  assert.equal(seen[1]!.aborted, false);
});

Deno.test("retry() stops on an abort during fn without asking retryOn or calling hooks", async () => {
  const clock = new FakeClock();
  const controller = new AbortController();
  const reason = new DOMException("stop", "AbortError");
  const asked: unknown[] = [];
  const run = retry(({ signal }) => {
    controller.abort(reason);
    // A fetch would reject with the signal's reason; this fn reports something else.
    throw new Error(`request failed, aborted=${signal.aborted}`);
  }, {
    clock,
    signal: controller.signal,
    retryOn: (e) => {
      asked.push(e);
      return true;
    },
    onRetry: () => void asked.push("onRetry"),
  });
  await assert.rejects(run, (e) => e === reason);
  assert.deepEqual(asked, []);
  assert.equal(clock.pendingSleepers, 0);

  // An abort from fn's own timeout (not the caller's signal) is retried by default.
  const own = await runVirtual(new FakeClock(), (attempt) => {
    if (attempt === 1) throw new DOMException("timed out", "TimeoutError");
    return "second time lucky";
  }, { backoff: constant(10) });
  assert.equal(own.value, "second time lucky");
});

Deno.test("retry() rejects bad options before calling fn", async () => {
  let calls = 0;
  const fn = () => void calls++;
  await assert.rejects(
    retry(fn, { maxAttempts: 0 }),
    new RangeError(
      "Cannot retry: 'maxAttempts' must be a positive integer or Infinity, current value is 0",
    ),
  );
  await assert.rejects(retry(fn, { maxAttempts: 2.5 }), RangeError);
  await assert.rejects(retry(fn, { maxAttempts: NaN }), RangeError);
  await assert.rejects(
    retry(fn, { maxElapsedMs: -1 }),
    new RangeError(
      "Cannot retry: 'maxElapsedMs' must be a number >= 0 or Infinity, current value is -1",
    ),
  );
  await assert.rejects(retry(fn, { backoff: { baseMs: -5 } }), RangeError);
  await assert.rejects(
    retry(42 as unknown as () => void),
    new TypeError("Cannot retry: 'fn' must be a function, current value is 42"),
  );
  assert.equal(calls, 0);
});

// The article's experiment: 500 callers whose call always fails, exponential backoff
// with full jitter from 1 s, a 300 s budget. What happens in the last second?
async function articleExperiment(capMs: number, seed: number) {
  const callers = 500;
  const maxElapsedMs = 300_000;
  const backoff = { strategy: "exponential", baseMs: 1_000, capMs, jitter: "full" } as const;

  // Ours, on a FakeClock, through the real retry().
  const clock = new FakeClock();
  const random = createRandom(seed);
  const ours: number[] = [];
  const loops = Array.from({ length: callers }, () =>
    retry(() => {
      ours.push(clock.now());
      return false;
    }, {
      clock,
      maxElapsedMs,
      retryOnResult: (ok) => ok === false,
      backoff: { ...backoff, random },
    }).then(
      () => assert.fail("an always-failing call cannot succeed"),
      (e: unknown) => e,
    ));
  await clock.runAll();
  const outcomes = await Promise.all(loops);
  assert.ok(outcomes.every((e) => e instanceof RetryError && e.reason === "max-elapsed"));
  assert.ok(ours.every((t) => t <= maxElapsedMs));

  // Python backoff's on_predicate(expo, max_time=300) on the same schedule and seeded
  // generator: after each call, give up if elapsed >= max_time, else sleep
  // min(jittered delay, max_time - elapsed), so the last sleep ends exactly at 300 s.
  const python: number[] = [];
  const pyRandom = createRandom(seed);
  for (let c = 0; c < callers; c++) {
    const schedule = createBackoff({ ...backoff, random: pyRandom });
    for (let t = 0;;) {
      python.push(t);
      if (t >= maxElapsedMs) break;
      t = Math.min(t + schedule.next(), maxElapsedMs);
    }
  }

  const inWindow = (calls: number[], fromMs: number, toMs: number) =>
    calls.filter((t) => t > fromMs && t <= toMs).length;
  const measure = (calls: number[]) => ({
    total: calls.length,
    lastSecond: inWindow(calls, maxElapsedMs - 1_000, maxElapsedMs),
    atDeadline: calls.filter((t) => t === maxElapsedMs).length,
    // The usual load per second over the minute before the last second.
    perSecondBefore: inWindow(calls, maxElapsedMs - 61_000, maxElapsedMs - 1_000) / 60,
  });
  return { callers, ours: measure(ours), python: measure(python) };
}

Deno.test("retry() spreads 500 jittered callers to the deadline instead of a spike (vs Python backoff)", async () => {
  // Cap 60 s (our default); measured with seed 2020: ours 12 calls in the last second
  // (~17/s before), Python 521 (500 of them at exactly t = 300 s).
  // Cap 1 h (close to the article's uncapped expo): ours 2 (~2.7/s before), Python 509.
  for (const capMs of [60_000, 3_600_000]) {
    const { callers, ours, python } = await articleExperiment(capMs, 2020);
    const summary = JSON.stringify({ capMs, ours, python });
    // Ours: the last second looks like any other second.
    assert.ok(ours.lastSecond <= 40, summary);
    assert.ok(ours.lastSecond <= 2 * ours.perSecondBefore + 10, summary);
    assert.equal(ours.atDeadline, 0, summary);
    // Python: every one of the 500 callers calls at exactly t = 300 s.
    assert.equal(python.atDeadline, callers, summary);
    assert.ok(python.lastSecond >= callers, summary);
    assert.ok(python.lastSecond >= 20 * python.perSecondBefore + 100, summary);
    // Otherwise the same schedule: similar load in the minute before, and ours saves
    // the deadline herd (at least 400 of Python's calls).
    const gap = Math.abs(ours.perSecondBefore - python.perSecondBefore);
    assert.ok(gap <= 0.5 * python.perSecondBefore, summary);
    assert.ok(python.total - ours.total >= 400, summary);
  }
});
