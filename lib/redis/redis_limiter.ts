/**
 * A rate budget shared by every worker that points at the same Redis key: the
 * Generic Cell Rate Algorithm (GCRA), run atomically in Lua.
 *
 * Design notes: `docs/design.md` (redis_limiter.ts).
 *
 * @module
 */

import { type Clock, realClock } from "../core/clock.ts";
import type { Limiter, LimiterOutcome, TakeOptions } from "../core/limiter.ts";
import { LazyRedis, type RedisCommander } from "./connect.ts";
import { LuaScript } from "./lua_script.ts";

// The types this module's API refers to, re-exported so that its
// documentation is complete on its own (lib/redis/mod.ts exports them too).
export type { Clock, Limiter, LimiterOutcome, RedisCommander, TakeOptions };

// Shared by the scripts: Redis' clock in integer microseconds, and the way an
// integer leaves Lua without losing digits.
const LUA_PRELUDE = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local function int(x) return string.format('%d', x) end
local function ttlMs(tat) return int(math.ceil((tat - now) / 1000) + 1000) end
`;

/**
 * KEYS[1] = TAT key. ARGV = cost (n·T), span (burst·T), max wait; all in µs.
 * Returns {granted (1|0), wait µs, new TAT µs}; a refusal changes nothing.
 */
const RESERVE = new LuaScript(`${LUA_PRELUDE}
local cost, span, maxWait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local stored = redis.call('GET', KEYS[1])
local tat = now
if stored then tat = math.max(tonumber(stored), now) end
local newTat = tat + cost
local wait = math.max(0, newTat - span - now)
if wait > maxWait then return {0, int(wait), int(newTat)} end
redis.call('SET', KEYS[1], int(newTat), 'PX', ttlMs(newTat))
return {1, int(wait), int(newTat)}
`);

/**
 * KEYS[1] = TAT key. ARGV = our new TAT, cost, span (µs). Rolls the TAT back by
 * the cost only if nobody reserved after us (the TAT is still ours) and our
 * time has not come yet (then we are assumed to have acted). Returns 1 or 0.
 */
const CANCEL = new LuaScript(`${LUA_PRELUDE}
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local ours = tonumber(ARGV[1])
if ours - tonumber(ARGV[3]) <= now then return 0 end
local back = ours - tonumber(ARGV[2])
if back <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], int(back), 'PX', ttlMs(back))
end
return 1
`);

/**
 * KEYS[1] = TAT key, KEYS[2] = pause marker. ARGV = pause ms, tau µs (span − T).
 * Lifts the TAT to at least now + pause + tau, so the next caller waits exactly
 * the pause and then finds one token, not a burst; extends the marker.
 */
const PAUSE = new LuaScript(`${LUA_PRELUDE}
local pauseMs = tonumber(ARGV[1])
local floor = now + pauseMs * 1000 + tonumber(ARGV[2])
local stored = redis.call('GET', KEYS[1])
if not stored or tonumber(stored) < floor then
  redis.call('SET', KEYS[1], int(floor), 'PX', ttlMs(floor))
end
if redis.call('PTTL', KEYS[2]) < pauseMs then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
end
return 1
`);

/** Options for {@linkcode RedisLimiter}. */
export interface RedisLimiterOptions {
  /**
   * The server: a `redis://` URL (the limiter opens its own connection and
   * {@linkcode RedisLimiter.close} closes it) or a client you own and close.
   */
  redis: string | RedisCommander;
  /** The key holding the budget; every worker sharing a budget uses the same one. */
  key: string;
  /** Tokens added per second, shared by all workers: from 0.000001 to 1,000,000. */
  ratePerSecond: number;
  /**
   * The most tokens the shared bucket holds: how many requests may go at
   * once after a quiet spell. A finite number of at least 1.
   *
   * @default {1}
   */
  burst?: number;
  /**
   * The furthest ahead a reservation may be made. A caller who would have to
   * wait longer reserves nothing, sleeps until its turn would fit, and asks
   * again. This bounds the slots a crashed worker can hold (and waste) to
   * `maxWaitMs · ratePerSecond`.
   *
   * @default {60_000}
   */
  maxWaitMs?: number;
  /**
   * Where this worker sleeps. Only relative waits are used, so it need not
   * agree with Redis' or other machines' clocks.
   *
   * @default {realClock}
   */
  clock?: Clock;
}

/**
 * The answer to {@linkcode RedisLimiter.reserve}.
 *
 * @example Reading a reservation
 * ```ts ignore
 * import { RedisLimiter } from "./redis_limiter.ts";
 *
 * const limiter = new RedisLimiter({ redis: "redis://127.0.0.1:6379", key: "budget", ratePerSecond: 2 });
 * const reservation = await limiter.reserve();
 * console.log(reservation.granted, reservation.delayMs); // true 0
 * await limiter.close();
 * ```
 */
export interface RedisReservation {
  /** Whether the tokens were claimed. `false`: the wait would pass `maxWaitMs`, nothing changed. */
  readonly granted: boolean;
  /**
   * Milliseconds to wait before acting (granted), or the wait it would have
   * needed (refused), measured on Redis' clock when the script ran.
   */
  readonly delayMs: number;
  /**
   * Give the tokens back if nobody reserved after us and our time has not come.
   * Resolves `true` if they went back; `false` otherwise (and when refused).
   */
  cancel(): Promise<boolean>;
}

/**
 * A {@linkcode Limiter} whose budget lives in Redis, shared by every worker
 * (process, machine) using the same `key`: together they never exceed
 * `ratePerSecond` with bursts of at most `burst`.
 *
 * @example Two workers sharing 30 requests per second
 * ```ts ignore
 * import { RedisLimiter } from "./redis_limiter.ts";
 *
 * // Run this in every worker: the key is what makes the budget shared.
 * const limiter = new RedisLimiter({
 *   redis: "redis://127.0.0.1:6379",
 *   key: "politely:vonage:budget",
 *   ratePerSecond: 30,
 * });
 * try {
 *   await limiter.take();
 *   // … send one request …
 * } finally {
 *   await limiter.close();
 * }
 * ```
 */
export class RedisLimiter implements Limiter {
  readonly #key: string;
  readonly #pauseKey: string;
  readonly #clock: Clock;
  readonly #ratePerSecond: number;
  readonly #burst: number;
  readonly #maxWaitMs: number;
  /** Microseconds per token, rounded up so that rounding never speeds us up. */
  readonly #intervalUs: number;
  /** `burst · T` in µs: how far the TAT may run ahead of now before callers wait. */
  readonly #spanUs: number;
  readonly #redis: LazyRedis;
  #closed = false;
  /** Our own pauses still on their way to Redis: our next take waits for them. */
  #pausing: Promise<unknown> = Promise.resolve();

  /**
   * Describe the budget; nothing is sent (and no connection opened) until the
   * first call.
   *
   * @throws {RangeError} if `ratePerSecond`, `burst` or `maxWaitMs` is out of range.
   * @throws {TypeError} if `key` is empty.
   */
  constructor(options: RedisLimiterOptions) {
    const { redis, key, ratePerSecond, burst = 1, maxWaitMs = 60_000, clock = realClock } = options;
    const fail = (what: string, value: unknown): never => {
      throw new RangeError(`Cannot create RedisLimiter: ${what}, current value is ${value}`);
    };
    if (typeof key !== "string" || key === "") {
      throw new TypeError(
        `Cannot create RedisLimiter: 'key' must be a non-empty string, current value is ${
          JSON.stringify(key)
        }`,
      );
    }
    // Below 1 µs per token the integer clock cannot tell tokens apart.
    if (!(ratePerSecond >= 1e-6 && ratePerSecond <= 1e6)) {
      fail("'ratePerSecond' must be a number from 0.000001 to 1000000", ratePerSecond);
    }
    if (!(burst >= 1 && burst < Infinity)) {
      fail("'burst' must be a finite number of at least 1", burst);
    }
    if (!(maxWaitMs >= 0 && maxWaitMs < Infinity)) {
      fail("'maxWaitMs' must be a non-negative finite number", maxWaitMs);
    }
    this.#key = key;
    this.#pauseKey = `${key}:pause`;
    this.#clock = clock;
    this.#ratePerSecond = ratePerSecond;
    this.#burst = burst;
    this.#maxWaitMs = maxWaitMs;
    // The tiny subtraction keeps 1e6 / 50 = 20000 from becoming 20001 on a float ulp.
    this.#intervalUs = Math.ceil(1e6 / ratePerSecond - 1e-6);
    this.#spanUs = Math.floor(burst * this.#intervalUs);
    // Redis' clock is ~2^50.7 µs; the sums must stay exact below 2^53.
    if (this.#spanUs > 2 ** 51) {
      fail("'burst' / 'ratePerSecond' must be at most 2^51 µs (71 years)", burst);
    }
    this.#redis = new LazyRedis(redis, `RedisLimiter for key '${key}'`);
  }

  /**
   * The shared budget's rate, in requests per second: what every worker
   * together is granted. One worker's own departures never go faster.
   */
  get ratePerSecond(): number {
    return this.#ratePerSecond;
  }

  /** The shared budget's burst. */
  get burst(): number {
    return this.#burst;
  }

  /** The key holding the theoretical arrival time, in integer microseconds of Redis' clock. */
  get key(): string {
    return this.#key;
  }

  /**
   * Wait for `n` tokens (default 1) of the shared budget.
   *
   * Reserves a slot in one atomic script and sleeps the wait it answers. If the
   * wait would pass `maxWaitMs`, nothing is reserved: the caller sleeps until
   * its turn would fit and asks again (so `take` never rejects for being
   * queued too long; use `signal` to bound the wait). After a wait, a pause
   * that another worker started meanwhile sends the caller to the back of the
   * queue behind it.
   *
   * If `options.signal` aborts, the reservation is given back when nobody
   * reserved after it, and the promise rejects with `signal.reason`.
   *
   * Rejects with a `RangeError` if `n` is not positive or exceeds `burst`,
   * and with the client's error if Redis cannot be reached.
   *
   * @example Waiting for a slot, at most five seconds
   * ```ts ignore
   * import { RedisLimiter } from "./redis_limiter.ts";
   *
   * await using limiter = new RedisLimiter({
   *   redis: "redis://127.0.0.1:6379",
   *   key: "budget",
   *   ratePerSecond: 10,
   * });
   * await limiter.take(1, { signal: AbortSignal.timeout(5_000) });
   * ```
   */
  async take(n = 1, options?: TakeOptions): Promise<void> {
    this.#checkCount("take tokens", n);
    const signal = options?.signal;
    signal?.throwIfAborted();
    for (;;) {
      await this.#pausing;
      const reservation = await this.reserve(n);
      if (signal?.aborted) {
        await reservation.cancel().catch(() => false);
        throw signal.reason;
      }
      if (!reservation.granted) {
        // Sleep until the wait would be within maxWaitMs, then ask again.
        await this.#clock.sleep(
          Math.max(1, Math.ceil(reservation.delayMs - this.#maxWaitMs)),
          signal,
        );
        continue;
      }
      if (reservation.delayMs <= 0) return;
      try {
        await this.#clock.sleep(Math.ceil(reservation.delayMs), signal);
      } catch (error) {
        if (signal?.aborted) await reservation.cancel().catch(() => false);
        throw error;
      }
      if (!(await this.#pausedNow())) return;
      // Our slot fell inside a pause that began while we slept: queue again behind it.
    }
  }

  /**
   * Claim `n` tokens (default 1) now, or learn that the wait would pass
   * `maxWaitMs` (then nothing is claimed). Never sleeps: the caller waits
   * `delayMs` or calls `cancel()`.
   *
   * @throws {RangeError} (as a rejection) if `n` is not positive or exceeds `burst`.
   *
   * @example Deciding whether a wait is worth it
   * ```ts ignore
   * import { RedisLimiter } from "./redis_limiter.ts";
   *
   * await using limiter = new RedisLimiter({
   *   redis: "redis://127.0.0.1:6379",
   *   key: "budget",
   *   ratePerSecond: 1,
   * });
   * const reservation = await limiter.reserve();
   * if (reservation.delayMs > 500) await reservation.cancel();
   * ```
   */
  async reserve(n = 1): Promise<RedisReservation> {
    this.#checkCount("reserve tokens", n);
    const redis = await this.#redis.get();
    const costUs = Math.ceil(n * this.#intervalUs - 1e-6);
    const reply = await RESERVE.run(redis, [this.#key], [
      String(costUs),
      String(this.#spanUs),
      String(Math.floor(this.#maxWaitMs * 1000)),
    ]);
    const [granted, waitUs, newTat] = parseReserveReply(reply);
    const delayMs = Number(waitUs) / 1000;
    if (!granted) return { granted, delayMs, cancel: () => Promise.resolve(false) };
    let cancelled: Promise<boolean> | undefined;
    return {
      granted,
      delayMs,
      cancel: (): Promise<boolean> => {
        cancelled ??= CANCEL.run(redis, [this.#key], [newTat, String(costUs), String(this.#spanUs)])
          .then((back) => back === 1);
        return cancelled;
      },
    };
  }

  /**
   * A server said "stop": nobody sharing this budget is granted a token before
   * now + `ms` (measured on Redis' clock), and afterwards the budget resumes at
   * the steady rate, not with a burst. Workers already waiting for a slot
   * inside the pause queue again behind it when they wake.
   *
   * Returns when Redis has recorded the pause; this limiter's own next `take`
   * waits for that anyway, so callers may ignore the promise (an error then
   * shows up no further than the next `take`, which needs Redis too).
   *
   * @throws {RangeError} if `ms` is negative or not finite.
   *
   * @example Honouring Retry-After for every worker
   * ```ts ignore
   * import { RedisLimiter } from "./redis_limiter.ts";
   *
   * await using limiter = new RedisLimiter({
   *   redis: "redis://127.0.0.1:6379",
   *   key: "budget",
   *   ratePerSecond: 30,
   * });
   * await limiter.pause(2_000); // every worker waits two seconds
   * ```
   */
  pause(ms: number): Promise<void> {
    if (!(ms >= 0 && ms < Infinity)) {
      throw new RangeError(
        `Cannot pause RedisLimiter: 'ms' must be a non-negative finite number, current value is ${ms}`,
      );
    }
    const pauseMs = Math.ceil(ms);
    if (pauseMs === 0) return Promise.resolve();
    const done = this.#redis.get().then((redis) =>
      PAUSE.run(redis, [this.#key, this.#pauseKey], [
        String(pauseMs),
        String(this.#spanUs - this.#intervalUs),
      ])
    ).then(() => {});
    const previous = this.#pausing;
    this.#pausing = Promise.all([previous, done.catch(() => {})]);
    return done;
  }

  /**
   * Close the connection this limiter opened from a URL (a client passed in
   * stays open: it is yours). Waits for pending pauses first.
   *
   * @example Closing when done
   * ```ts ignore
   * import { RedisLimiter } from "./redis_limiter.ts";
   *
   * const limiter = new RedisLimiter({ redis: "redis://127.0.0.1:6379", key: "b", ratePerSecond: 1 });
   * await limiter.take();
   * await limiter.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pausing;
    await this.#redis.close();
  }

  /** Same as {@linkcode RedisLimiter.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Whether a pause is running now (its marker key still lives). */
  async #pausedNow(): Promise<boolean> {
    const redis = await this.#redis.get();
    const remainingMs = await redis.sendCommand(["PTTL", this.#pauseKey]);
    return typeof remainingMs === "number" && remainingMs > 0;
  }

  #checkCount(action: string, n: number): void {
    if (!(n > 0 && n <= this.#burst)) {
      throw new RangeError(
        `Cannot ${action} from RedisLimiter: 'n' must be positive and at most the burst (${this.#burst}), current value is ${n}`,
      );
    }
  }
}

/** Check the reserve script's reply: `[1|0, "wait µs", "new TAT µs"]`. */
function parseReserveReply(reply: unknown): [boolean, string, string] {
  if (Array.isArray(reply) && reply.length === 3) {
    const [granted, waitUs, newTat] = reply as unknown[];
    if (
      (granted === 0 || granted === 1) && typeof waitUs === "string" &&
      typeof newTat === "string" && /^\d+$/.test(waitUs) && /^\d+$/.test(newTat)
    ) {
      return [granted === 1, waitUs, newTat];
    }
  }
  throw new TypeError(`RedisLimiter got an unexpected reply from Redis: ${JSON.stringify(reply)}`);
}
