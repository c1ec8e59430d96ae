import assert from "node:assert/strict";
import { createRandom } from "../lib/core/seeded_random.ts";
import {
  applyJitter,
  BACKOFF_STRATEGIES,
  type BackoffOptions,
  type BackoffStrategy,
  baseDelayMs,
  createBackoff,
  decorrelatedDelayMs,
  JITTERS,
} from "../lib/core/backoff.ts";

/** A `random` that plays back the given values, then fails loudly. */
function scripted(values: number[]): () => number {
  let i = 0;
  return () => {
    const value = values[i++];
    if (value === undefined) throw new Error("scripted random ran out of values");
    return value;
  };
}

/** Every attempt up to 2,000, then a stride of 997, then 1,000,000 itself. */
function sampledAttempts(): number[] {
  const attempts: number[] = [];
  for (let n = 0; n <= 2_000; n++) attempts.push(n);
  for (let n = 2_001; n < 1_000_000; n += 997) attempts.push(n);
  attempts.push(1_000_000);
  return attempts;
}

const RANDOMS = [0, 0.5, 0.999999];

const SHAPES = [
  { baseMs: 1_000, factor: 2, capMs: 60_000 },
  { baseMs: 5, factor: 2, capMs: 2_000 },
  { baseMs: 0.001, factor: 1.5, capMs: Number.MAX_SAFE_INTEGER },
  { baseMs: 1e-300, factor: 10, capMs: 1e300 },
  { baseMs: 250, factor: 3, capMs: 250 },
  { baseMs: 0, factor: 2, capMs: 1_000 },
];

Deno.test("baseDelayMs() follows each strategy's formula up to the cap", () => {
  const opts = { baseMs: 1_000, capMs: 10_000 };
  const first = (s: BackoffStrategy) => [0, 1, 2, 3, 4, 5, 6].map((n) => baseDelayMs(s, n, opts));
  assert.deepEqual(first("constant"), [1_000, 1_000, 1_000, 1_000, 1_000, 1_000, 1_000]);
  assert.deepEqual(first("linear"), [1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000]);
  assert.deepEqual(first("fibonacci"), [1_000, 1_000, 2_000, 3_000, 5_000, 8_000, 10_000]);
  assert.deepEqual(first("exponential"), [1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000]);
  assert.deepEqual(
    [0, 1, 2, 3].map((n) => baseDelayMs("exponential", n, { baseMs: 100, factor: 3 })),
    [100, 300, 900, 2_700],
  );
  // The defaults: base 1 s, factor 2, cap 60 s.
  assert.equal(baseDelayMs("exponential", 5), 32_000);
  assert.equal(baseDelayMs("exponential", 6), 60_000);
  assert.equal(baseDelayMs("fibonacci", 30), 60_000);
  assert.equal(baseDelayMs("linear", 1_000_000), 60_000);
});

Deno.test("baseDelayMs() stays finite and within [0, capMs] for every attempt up to 10^6", () => {
  const attempts = sampledAttempts();
  for (const shape of SHAPES) {
    for (const strategy of BACKOFF_STRATEGIES) {
      let previous = 0;
      for (const n of attempts) {
        const d = baseDelayMs(strategy, n, shape);
        assert.ok(
          Number.isFinite(d) && d >= 0 && d <= shape.capMs,
          `${strategy} ${JSON.stringify(shape)} attempt ${n}: ${d}`,
        );
        // No schedule shrinks as attempts grow (overflow would show up here as a drop).
        assert.ok(d >= previous, `${strategy} attempt ${n} shrank from ${previous} to ${d}`);
        previous = d;
      }
      if (shape.baseMs > 0) {
        const expected = {
          constant: shape.baseMs,
          linear: Math.min(shape.capMs, shape.baseMs * 1_000_001),
          fibonacci: shape.capMs,
          exponential: shape.capMs,
        }[strategy];
        assert.equal(baseDelayMs(strategy, 1_000_000, shape), expected, strategy);
      }
    }
  }
});

Deno.test("applyJitter() keeps none, full and equal inside their ranges for attempts up to 10^6", () => {
  const attempts = sampledAttempts();
  let checked = 0;
  for (const shape of SHAPES) {
    for (const strategy of BACKOFF_STRATEGIES) {
      for (const n of attempts) {
        const d = baseDelayMs(strategy, n, shape);
        for (const r of RANDOMS) {
          const random = () => r;
          const none = applyJitter("none", d, random);
          const full = applyJitter("full", d, random);
          const equal = applyJitter("equal", d, random);
          assert.equal(none, d);
          assert.ok(Number.isFinite(full) && full >= 0 && full <= d, `full ${d} ${r}: ${full}`);
          assert.ok(d === 0 || full < d, `full ${d} ${r}: ${full} reached d`);
          assert.ok(
            Number.isFinite(equal) && equal >= d / 2 && equal <= d,
            `equal ${d} ${r}: ${equal}`,
          );
          checked += 3;
        }
      }
    }
  }
  assert.ok(checked > 200_000);
});

Deno.test("createBackoff() keeps every jitter inside its range over 10^6 consecutive retries", () => {
  const { baseMs, capMs } = { baseMs: 1_000, capMs: 60_000 };
  for (const jitter of JITTERS) {
    // The stateless jitters were sampled per attempt above; walk them once at the top of the range.
    for (const r of jitter === "decorrelated" ? RANDOMS : [0.999999]) {
      const backoff = createBackoff({ baseMs, capMs, jitter, random: () => r });
      let min = Infinity;
      let max = -Infinity;
      for (let n = 0; n <= 1_000_000; n++) {
        const delay = backoff.next();
        // One branch-free check per step keeps a million steps fast; details below.
        if (!(delay >= 0 && delay <= capMs)) assert.fail(`${jitter} r=${r} attempt ${n}: ${delay}`);
        if (delay < min) min = delay;
        if (delay > max) max = delay;
      }
      assert.equal(backoff.attempt, 1_000_001);
      if (jitter === "decorrelated") {
        assert.ok(min >= baseMs, `decorrelated r=${r} went below base: ${min}`);
        assert.ok(max < capMs, `decorrelated r=${r} reached the cap: ${max}`);
      }
      if (jitter === "none") assert.equal(max, capMs);
    }
  }
});

Deno.test("createBackoff() with a scripted random matches the formulas exactly", () => {
  const base = { baseMs: 100, capMs: 1_000 };
  const r = [0.5, 0.25, 0.75, 0.1, 0.9, 0.5];
  const take = (options: BackoffOptions, count: number) => {
    const backoff = createBackoff(options);
    return Array.from({ length: count }, () => backoff.next());
  };
  // Exponential d = 100, 200, 400, 800, 1000, 1000.
  assert.deepEqual(take({ ...base, jitter: "none" }, 6), [100, 200, 400, 800, 1_000, 1_000]);
  assert.deepEqual(
    take({ ...base, jitter: "full", random: scripted(r) }, 6),
    [100 * 0.5, 200 * 0.25, 400 * 0.75, 800 * 0.1, 1_000 * 0.9, 1_000 * 0.5],
  );
  assert.deepEqual(
    take({ ...base, jitter: "equal", random: scripted(r) }, 6),
    [50 + 50 * 0.5, 100 + 100 * 0.25, 200 + 200 * 0.75, 400 + 400 * 0.1, 500 + 500 * 0.9, 750],
  );
  // Decorrelated: U(base, min(cap, 3·prev)), prev starting at base.
  const expected: number[] = [];
  let prev = 100;
  for (const x of r) {
    const high = Math.min(1_000, 3 * prev);
    prev = 100 + (high - 100) * x;
    expected.push(prev);
  }
  assert.deepEqual(expected.slice(0, 3), [200, 225, 531.25]);
  assert.deepEqual(take({ ...base, jitter: "decorrelated", random: scripted(r) }, 6), expected);
  // Decorrelated ignores strategy and factor.
  assert.deepEqual(
    take(
      { ...base, strategy: "constant", factor: 7, jitter: "decorrelated", random: scripted(r) },
      6,
    ),
    expected,
  );
  const times = (ds: number[]) => ds.map((d, i) => d * r[i]!);
  assert.deepEqual(
    take({ ...base, strategy: "fibonacci", jitter: "full", random: scripted(r) }, 6),
    times([100, 100, 200, 300, 500, 800]),
  );
  assert.deepEqual(
    take({ ...base, strategy: "linear", jitter: "full", random: scripted(r) }, 6),
    times([100, 200, 300, 400, 500, 600]),
  );
  assert.deepEqual(
    take({ ...base, strategy: "constant", jitter: "full", random: scripted(r) }, 6),
    times([100, 100, 100, 100, 100, 100]),
  );
});

Deno.test("createBackoff() defaults to exponential, full jitter, base 1 s, cap 60 s", () => {
  const backoff = createBackoff({ random: () => 0.5 });
  const delays = Array.from({ length: 9 }, () => backoff.next());
  assert.deepEqual(delays, [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
});

Deno.test("Backoff.reset() starts the schedule over, decorrelated included", () => {
  for (const jitter of JITTERS) {
    const backoff = createBackoff({ jitter, random: () => 0.5 });
    const first = [backoff.next(), backoff.next(), backoff.next()];
    assert.equal(backoff.attempt, 3);
    backoff.reset();
    assert.equal(backoff.attempt, 0);
    assert.deepEqual([backoff.next(), backoff.next(), backoff.next()], first, jitter);
    assert.ok(first[0]! < first[2]!, `${jitter} grows: ${first}`);
  }
});

Deno.test("createBackoff() with the same seeded random gives the same schedule", () => {
  for (const jitter of JITTERS) {
    const a = createBackoff({ jitter, random: createRandom(7) });
    const b = createBackoff({ jitter, random: createRandom(7) });
    const left = Array.from({ length: 20 }, () => a.next());
    assert.deepEqual(Array.from({ length: 20 }, () => b.next()), left);
  }
});

Deno.test("decorrelated jitter puts no late retry on the cap, unlike clamping after the draw", () => {
  // The AWS study's parameters: base 5 ms, cap 2 s; "late" = retries 20 to 59.
  const baseMs = 5;
  const capMs = 2_000;
  const clients = 2_000;
  let late = 0;
  let oursAtCap = 0;
  let oursTopTenth = 0;
  let naiveAtCap = 0;
  const random = createRandom(42);
  const naiveRandom = createRandom(42);
  for (let c = 0; c < clients; c++) {
    const backoff = createBackoff({ baseMs, capMs, jitter: "decorrelated", random });
    let naivePrev = baseMs;
    for (let n = 0; n < 60; n++) {
      const ours = backoff.next();
      // The textbook form: sleep = min(cap, U(base, 3·prev)) — draw, then clamp.
      const naive = Math.min(capMs, baseMs + naiveRandom() * (3 * naivePrev - baseMs));
      naivePrev = naive;
      if (n < 20) continue;
      late++;
      if (ours === capMs) oursAtCap++;
      if (ours >= capMs * 0.9) oursTopTenth++;
      if (naive === capMs) naiveAtCap++;
    }
  }
  const oursShare = oursAtCap / late;
  const naiveShare = naiveAtCap / late;
  assert.ok(oursShare <= 0.01, `ours: ${oursShare}`);
  assert.equal(oursAtCap, 0);
  assert.ok(naiveShare >= 0.15 && naiveShare <= 0.44, `naive: ${naiveShare}`);
  // Ours still reaches up near the cap: the spike is spread, not removed by shrinking delays.
  assert.ok(oursTopTenth / late > 0.03, `ours in the top tenth: ${oursTopTenth / late}`);
});

Deno.test("decorrelatedDelayMs() draws from U(base, min(cap, 3·prev))", () => {
  const opts = { baseMs: 100, capMs: 1_000 };
  assert.equal(decorrelatedDelayMs(100, opts, () => 0), 100);
  assert.equal(decorrelatedDelayMs(100, opts, () => 0.5), 200);
  assert.equal(decorrelatedDelayMs(1_000, opts, () => 0.5), 550);
  // A previous delay below base/3 still draws within [base, …).
  assert.equal(decorrelatedDelayMs(0, opts, () => 0.5), 100);
  assert.throws(() => decorrelatedDelayMs(-1, opts), RangeError);
});

Deno.test("createBackoff() rejects bad options with messages that name the field and value", () => {
  const cases: Array<[BackoffOptions, ErrorConstructor, string]> = [
    [
      { strategy: "polynomial" as BackoffStrategy },
      TypeError,
      `Cannot create backoff: 'strategy' must be one of "constant", "linear", "fibonacci", "exponential", current value is "polynomial"`,
    ],
    [
      { jitter: "half" as "full" },
      TypeError,
      `Cannot create backoff: 'jitter' must be one of "none", "full", "equal", "decorrelated", current value is "half"`,
    ],
    [
      { baseMs: -1 },
      RangeError,
      "Cannot create backoff: 'baseMs' must be a finite number >= 0, current value is -1",
    ],
    [
      { baseMs: NaN },
      RangeError,
      "Cannot create backoff: 'baseMs' must be a finite number >= 0, current value is NaN",
    ],
    [
      { baseMs: "5" as unknown as number },
      TypeError,
      `Cannot create backoff: 'baseMs' must be a number, current value is "5"`,
    ],
    [
      { factor: 0.5 },
      RangeError,
      "Cannot create backoff: 'factor' must be a finite number >= 1, current value is 0.5",
    ],
    [
      { capMs: Infinity },
      RangeError,
      "Cannot create backoff: 'capMs' must be a finite number >= 'baseMs' (1000), current value is Infinity",
    ],
    [
      { baseMs: 120_000 },
      RangeError,
      "Cannot create backoff: 'capMs' must be a finite number >= 'baseMs' (120000), current value is 60000",
    ],
    [
      { random: 0.5 as unknown as () => number },
      TypeError,
      "Cannot create backoff: 'random' must be a function returning a number in [0, 1), current value is 0.5",
    ],
  ];
  for (const [options, type, message] of cases) {
    assert.throws(() => createBackoff(options), (e: unknown) => {
      assert.ok(e instanceof type, `${JSON.stringify(options)} threw ${e}`);
      assert.equal(e.message, message);
      return true;
    });
  }
});

Deno.test("baseDelayMs() and applyJitter() reject bad arguments", () => {
  assert.throws(
    () => baseDelayMs("exponential", -1),
    new RangeError(
      "Cannot compute backoff delay: 'attempt' must be an integer >= 0, current value is -1",
    ),
  );
  assert.throws(() => baseDelayMs("exponential", 1.5), RangeError);
  assert.throws(() => baseDelayMs("exponential", Infinity), RangeError);
  assert.throws(() => baseDelayMs("cubic" as BackoffStrategy, 1), TypeError);
  assert.throws(() => applyJitter("full", Infinity), RangeError);
  assert.throws(() => applyJitter("decorrelated" as "full", 1), TypeError);
});

Deno.test("a random() outside [0, 1) is refused instead of producing an out-of-range delay", () => {
  for (const bad of [1, -0.1, NaN, 2]) {
    const backoff = createBackoff({ random: () => bad });
    assert.throws(
      () => backoff.next(),
      new RangeError(
        `Cannot compute backoff delay: 'random()' must return a number in [0, 1), current value is ${bad}`,
      ),
    );
  }
});
