/**
 * Backoff schedules: how long to wait before the next retry.
 *
 * Design notes: `docs/design.md` (backoff.ts).
 *
 * @module
 */

/**
 * How the un-jittered delay grows with each retry.
 *
 * @example Choosing how the delay grows
 * ```ts
 * import { baseDelayMs, type BackoffStrategy } from "./backoff.ts";
 *
 * const strategy: BackoffStrategy = "linear";
 * const delays = [0, 1, 2].map((n) => baseDelayMs(strategy, n, { baseMs: 500 }));
 * console.log(delays); // [500, 1000, 1500]
 * ```
 */
export type BackoffStrategy = "constant" | "linear" | "fibonacci" | "exponential";

/**
 * How a delay is randomised so that clients who failed together spread out.
 *
 * @example Spreading retries with equal jitter
 * ```ts
 * import { createBackoff, type Jitter } from "./backoff.ts";
 *
 * const jitter: Jitter = "equal";
 * const backoff = createBackoff({ baseMs: 1_000, jitter, random: () => 0.5 });
 * console.log(backoff.next()); // 750: half of 1000, plus half of the other half
 * ```
 */
export type Jitter = "none" | "full" | "equal" | "decorrelated";

/**
 * Every {@linkcode BackoffStrategy}, in order of how fast it grows.
 *
 * @example Validating a command-line flag
 * ```ts
 * import { BACKOFF_STRATEGIES, type BackoffStrategy } from "./backoff.ts";
 *
 * const flag: string = "exponential";
 * const ok = (BACKOFF_STRATEGIES as readonly string[]).includes(flag);
 * console.log(ok ? (flag as BackoffStrategy) : "unknown strategy");
 * ```
 */
export const BACKOFF_STRATEGIES: readonly BackoffStrategy[] = Object.freeze(
  [
    "constant",
    "linear",
    "fibonacci",
    "exponential",
  ] as const,
);

/**
 * Every {@linkcode Jitter}.
 *
 * @example Listing the choices in a help text
 * ```ts
 * import { JITTERS } from "./backoff.ts";
 *
 * console.log(`--jitter ${JITTERS.join("|")}`);
 * ```
 */
export const JITTERS: readonly Jitter[] = Object.freeze(
  ["none", "full", "equal", "decorrelated"] as const,
);

/**
 * Options for {@linkcode createBackoff}.
 *
 * @example Capped exponential backoff without jitter
 * ```ts
 * import { type BackoffOptions, createBackoff } from "./backoff.ts";
 *
 * const options: BackoffOptions = { baseMs: 200, capMs: 5_000, jitter: "none" };
 * const backoff = createBackoff(options);
 * console.log([1, 2, 3, 4, 5, 6].map(() => backoff.next())); // [200, 400, 800, 1600, 3200, 5000]
 * ```
 */
export interface BackoffOptions {
  /**
   * How the un-jittered delay grows. Ignored by `jitter: "decorrelated"`,
   * which grows from its own previous delay.
   *
   * @default {"exponential"}
   */
  strategy?: BackoffStrategy;
  /**
   * The unit of the schedule in milliseconds: the constant delay, the linear
   * step, the Fibonacci unit, the first exponential delay, and the lower bound
   * of decorrelated jitter. Zero means "retry at once".
   *
   * @default {1000}
   */
  baseMs?: number;
  /**
   * The growth factor of the exponential strategy (`baseMs · factorⁿ`), at least 1.
   *
   * @default {2}
   */
  factor?: number;
  /**
   * The longest delay in milliseconds, applied before jitter. Must be finite
   * and at least `baseMs`.
   *
   * @default {60_000}
   */
  capMs?: number;
  /**
   * How the delay is randomised.
   *
   * @default {"full"}
   */
  jitter?: Jitter;
  /**
   * The source of randomness, returning numbers in `[0, 1)`. Pass a seeded one
   * for reproducible schedules.
   *
   * @default {Math.random}
   */
  random?: () => number;
}

/**
 * The shape parameters of a strategy, as taken by {@linkcode baseDelayMs}.
 *
 * @example Tripling delays up to a cap
 * ```ts
 * import { baseDelayMs, type BaseDelayOptions } from "./backoff.ts";
 *
 * const shape: BaseDelayOptions = { baseMs: 100, factor: 3, capMs: 1_000 };
 * const delays = [0, 1, 2, 3].map((n) => baseDelayMs("exponential", n, shape));
 * console.log(delays); // [100, 300, 900, 1000]
 * ```
 */
export interface BaseDelayOptions {
  /**
   * The unit of the schedule in milliseconds.
   *
   * @default {1000}
   */
  baseMs?: number;
  /**
   * The exponential growth factor.
   *
   * @default {2}
   */
  factor?: number;
  /**
   * The longest delay in milliseconds.
   *
   * @default {60_000}
   */
  capMs?: number;
}

/**
 * The bounds of decorrelated jitter, as taken by {@linkcode decorrelatedDelayMs}.
 *
 * @example Keeping decorrelated delays within bounds
 * ```ts
 * import { decorrelatedDelayMs, type DecorrelatedOptions } from "./backoff.ts";
 *
 * const bounds: DecorrelatedOptions = { baseMs: 100, capMs: 250 };
 * const delayMs = decorrelatedDelayMs(1_000, bounds, () => 0.99);
 * console.log(delayMs >= 100 && delayMs < 250); // true: drawn below the cap, not piled on it
 * ```
 */
export interface DecorrelatedOptions {
  /**
   * The shortest delay in milliseconds.
   *
   * @default {1000}
   */
  baseMs?: number;
  /**
   * The longest delay in milliseconds.
   *
   * @default {60_000}
   */
  capMs?: number;
}

/**
 * A running schedule: each {@linkcode Backoff.next} call gives the delay
 * before the next retry.
 *
 * @example Driving a schedule by hand
 * ```ts
 * import { type Backoff, createBackoff } from "./backoff.ts";
 *
 * const backoff: Backoff = createBackoff({ strategy: "constant", baseMs: 50, jitter: "none" });
 * console.log(backoff.next(), backoff.next(), backoff.attempt); // 50 50 2
 * backoff.reset(); // a call succeeded: the next failure starts the schedule over
 * console.log(backoff.attempt); // 0
 * ```
 */
export interface Backoff {
  /** The delay in milliseconds before the next retry; advances the schedule. */
  next(): number;
  /** Start over, as if no delay had been handed out (after a success, say). */
  reset(): void;
  /** How many delays {@linkcode Backoff.next} has handed out since the start or the last reset. */
  readonly attempt: number;
}

const DEFAULT_BASE_MS = 1_000;
const DEFAULT_FACTOR = 2;
const DEFAULT_CAP_MS = 60_000;

function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "function") return "a function";
  try {
    return String(value);
  } catch {
    return typeof value;
  }
}

function checkChoice<C extends string>(
  what: string,
  name: string,
  value: unknown,
  choices: readonly C[],
): asserts value is C {
  if (!(choices as readonly unknown[]).includes(value)) {
    throw new TypeError(
      `Cannot ${what}: '${name}' must be one of ${
        choices.map((c) => JSON.stringify(c)).join(", ")
      }, current value is ${show(value)}`,
    );
  }
}

function checkNumber(what: string, name: string, value: unknown): asserts value is number {
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot ${what}: '${name}' must be a number, current value is ${show(value)}`,
    );
  }
}

interface Shape {
  baseMs: number;
  factor: number;
  capMs: number;
}

function checkShape(what: string, baseMs: unknown, factor: unknown, capMs: unknown): Shape {
  checkNumber(what, "baseMs", baseMs);
  if (!(baseMs >= 0 && Number.isFinite(baseMs))) {
    throw new RangeError(
      `Cannot ${what}: 'baseMs' must be a finite number >= 0, current value is ${baseMs}`,
    );
  }
  checkNumber(what, "factor", factor);
  if (!(factor >= 1 && Number.isFinite(factor))) {
    throw new RangeError(
      `Cannot ${what}: 'factor' must be a finite number >= 1, current value is ${factor}`,
    );
  }
  checkNumber(what, "capMs", capMs);
  if (!(capMs >= baseMs && Number.isFinite(capMs))) {
    throw new RangeError(
      `Cannot ${what}: 'capMs' must be a finite number >= 'baseMs' (${baseMs}), current value is ${capMs}`,
    );
  }
  return { baseMs, factor, capMs };
}

function checkAttempt(what: string, attempt: unknown): asserts attempt is number {
  checkNumber(what, "attempt", attempt);
  if (!(Number.isInteger(attempt) && attempt >= 0)) {
    throw new RangeError(
      `Cannot ${what}: 'attempt' must be an integer >= 0, current value is ${attempt}`,
    );
  }
}

function checkRandom(what: string, random: unknown): asserts random is () => number {
  if (typeof random !== "function") {
    throw new TypeError(
      `Cannot ${what}: 'random' must be a function returning a number in [0, 1), current value is ${
        show(random)
      }`,
    );
  }
}

/** Draw from `random`, refusing anything outside [0, 1) so no delay can leave its range. */
function draw(random: () => number): number {
  const r = random();
  if (!(r >= 0 && r < 1)) {
    throw new RangeError(
      `Cannot compute backoff delay: 'random()' must return a number in [0, 1), current value is ${
        show(r)
      }`,
    );
  }
  return r;
}

// `x < capMs ? x : capMs` rather than Math.min: it also turns an overflowed
// Infinity (or any NaN) into the cap, so no schedule can ever leave [0, capMs].
function unjittered(strategy: BackoffStrategy, attempt: number, shape: Shape): number {
  const { baseMs, factor, capMs } = shape;
  if (baseMs === 0) return 0;
  switch (strategy) {
    case "constant":
      return baseMs;
    case "linear": {
      const d = baseMs * (attempt + 1);
      return d < capMs ? d : capMs;
    }
    case "fibonacci": {
      // Fibonacci numbers pass any cap within ~1,500 steps even for the
      // smallest base, so the loop stops long before the attempt number does.
      let current = 1;
      let following = 1;
      for (let i = 0; i < attempt; i++) {
        if (baseMs * current >= capMs) return capMs;
        [current, following] = [following, current + following];
      }
      const d = baseMs * current;
      return d < capMs ? d : capMs;
    }
    case "exponential": {
      if (factor === 1) return baseMs;
      // factorⁿ overflows to Infinity near n = 1024 for factor 2; beyond the
      // exponent that reaches the cap, a larger one changes nothing.
      const capExponent = Math.ceil(Math.log(capMs / baseMs) / Math.log(factor));
      const d = baseMs * factor ** Math.min(attempt, capExponent);
      return d < capMs ? d : capMs;
    }
  }
}

function jittered(
  jitter: "none" | "full" | "equal",
  delayMs: number,
  random: () => number,
): number {
  switch (jitter) {
    case "none":
      return delayMs;
    case "full":
      return delayMs * draw(random);
    case "equal":
      return delayMs / 2 + (delayMs / 2) * draw(random);
  }
}

function decorrelated(prevMs: number, baseMs: number, capMs: number, random: () => number): number {
  // Clamp the range, then draw: the result is spread over [base, high) rather
  // than piled on the cap.
  const high = Math.max(baseMs, Math.min(capMs, 3 * prevMs));
  return baseMs + (high - baseMs) * draw(random);
}

/**
 * The un-jittered delay in milliseconds before retry number `attempt`
 * (0-based) under `strategy`, at most `capMs`. Always finite and non-negative.
 *
 * @example The first delays of each strategy
 * ```ts
 * import { baseDelayMs } from "./backoff.ts";
 *
 * const opts = { baseMs: 1_000, capMs: 10_000 };
 * const first = (s: "constant" | "linear" | "fibonacci" | "exponential") =>
 *   [0, 1, 2, 3, 4, 5].map((n) => baseDelayMs(s, n, opts));
 * console.log(first("constant"));    // [1000, 1000, 1000, 1000, 1000, 1000]
 * console.log(first("linear"));      // [1000, 2000, 3000, 4000, 5000, 6000]
 * console.log(first("fibonacci"));   // [1000, 1000, 2000, 3000, 5000, 8000]
 * console.log(first("exponential")); // [1000, 2000, 4000, 8000, 10000, 10000]
 * ```
 */
export function baseDelayMs(
  strategy: BackoffStrategy,
  attempt: number,
  options: BaseDelayOptions = {},
): number {
  const what = "compute backoff delay";
  const { baseMs = DEFAULT_BASE_MS, factor = DEFAULT_FACTOR, capMs = DEFAULT_CAP_MS } = options;
  checkChoice(what, "strategy", strategy, BACKOFF_STRATEGIES);
  checkAttempt(what, attempt);
  return unjittered(strategy, attempt, checkShape(what, baseMs, factor, capMs));
}

/**
 * Randomise an un-jittered delay `delayMs` with a stateless jitter: `none`
 * returns it, `full` draws from `U(0, d)`, `equal` from `d/2 + U(0, d/2)`.
 * Decorrelated jitter depends on the previous delay; use
 * {@linkcode decorrelatedDelayMs} for it.
 *
 * @example Full jitter with a scripted random
 * ```ts
 * import { applyJitter } from "./backoff.ts";
 *
 * console.log(applyJitter("full", 8_000, () => 0.25));  // 2000
 * console.log(applyJitter("equal", 8_000, () => 0.25)); // 5000
 * ```
 */
export function applyJitter(
  jitter: "none" | "full" | "equal",
  delayMs: number,
  random: () => number = Math.random,
): number {
  const what = "apply jitter";
  checkChoice(what, "jitter", jitter, ["none", "full", "equal"] as const);
  checkNumber(what, "delayMs", delayMs);
  if (!(delayMs >= 0 && Number.isFinite(delayMs))) {
    throw new RangeError(
      `Cannot ${what}: 'delayMs' must be a finite number >= 0, current value is ${delayMs}`,
    );
  }
  checkRandom(what, random);
  return jittered(jitter, delayMs, random);
}

/**
 * One step of decorrelated jitter: a delay drawn from
 * `U(baseMs, min(capMs, 3 · prevMs))`. Feed each result back in as the next
 * `prevMs`, starting from `baseMs`.
 *
 * @example Three decorrelated delays
 * ```ts
 * import { decorrelatedDelayMs } from "./backoff.ts";
 *
 * const opts = { baseMs: 100, capMs: 1_000 };
 * let prev = opts.baseMs;
 * for (let i = 0; i < 3; i++) {
 *   prev = decorrelatedDelayMs(prev, opts, () => 0.5);
 *   console.log(prev); // 200, then 350, then 550
 * }
 * ```
 */
export function decorrelatedDelayMs(
  prevMs: number,
  options: DecorrelatedOptions = {},
  random: () => number = Math.random,
): number {
  const what = "compute decorrelated delay";
  const { baseMs = DEFAULT_BASE_MS, capMs = DEFAULT_CAP_MS } = options;
  const shape = checkShape(what, baseMs, DEFAULT_FACTOR, capMs);
  checkNumber(what, "prevMs", prevMs);
  if (!(prevMs >= 0 && Number.isFinite(prevMs))) {
    throw new RangeError(
      `Cannot ${what}: 'prevMs' must be a finite number >= 0, current value is ${prevMs}`,
    );
  }
  checkRandom(what, random);
  return decorrelated(prevMs, shape.baseMs, shape.capMs, random);
}

/**
 * Start a backoff schedule. Each {@linkcode Backoff.next} gives the next
 * delay in milliseconds, always finite and within `[0, capMs]`.
 * With `jitter: "decorrelated"`, `strategy` and `factor` are ignored: the
 * delay grows from the previous one (see the module docs).
 *
 * Throws a `TypeError` for an unknown strategy or jitter or a non-function
 * `random`, and a `RangeError` for out-of-range numbers.
 *
 * @example Exponential backoff with full jitter
 * ```ts
 * import { createBackoff } from "./backoff.ts";
 *
 * const backoff = createBackoff({ baseMs: 500, capMs: 30_000 });
 * const first = backoff.next();  // somewhere in [0, 500)
 * const second = backoff.next(); // somewhere in [0, 1000)
 * console.log(first < 500, second < 1_000, backoff.attempt); // true true 2
 * backoff.reset();
 * ```
 *
 * @example A reproducible schedule without jitter
 * ```ts
 * import { createBackoff } from "./backoff.ts";
 *
 * const backoff = createBackoff({ strategy: "fibonacci", baseMs: 1_000, jitter: "none" });
 * console.log([1, 2, 3, 4, 5].map(() => backoff.next())); // [1000, 1000, 2000, 3000, 5000]
 * ```
 */
export function createBackoff(options: BackoffOptions = {}): Backoff {
  const what = "create backoff";
  const {
    strategy = "exponential",
    baseMs = DEFAULT_BASE_MS,
    factor = DEFAULT_FACTOR,
    capMs = DEFAULT_CAP_MS,
    jitter = "full",
    random = Math.random,
  } = options;
  checkChoice(what, "strategy", strategy, BACKOFF_STRATEGIES);
  checkChoice(what, "jitter", jitter, JITTERS);
  const shape = checkShape(what, baseMs, factor, capMs);
  checkRandom(what, random);

  let attempt = 0;
  let prevMs = shape.baseMs;
  return {
    get attempt(): number {
      return attempt;
    },
    next(): number {
      let delayMs: number;
      if (jitter === "decorrelated") {
        delayMs = decorrelated(prevMs, shape.baseMs, shape.capMs, random);
        prevMs = delayMs;
      } else {
        delayMs = jittered(jitter, unjittered(strategy, attempt, shape), random);
      }
      attempt++;
      return delayMs;
    },
    reset(): void {
      attempt = 0;
      prevMs = shape.baseMs;
    },
  };
}
