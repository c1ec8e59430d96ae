/**
 * A work queue shared by many workers, on a Redis Stream.
 *
 * Design notes: `docs/design.md` (work_queue.ts).
 *
 * @module
 */

import { LazyRedis, type RedisCommander } from "./connect.ts";
import { LuaScript } from "./lua_script.ts";

// Re-exported so that this module's documentation is complete on its own.
export type { RedisCommander };

/** Longest single `BLOCK` of a claim: how late an abort may be noticed. */
const BLOCK_SLICE_MS = 250;
/** `XADD`s in flight at once while enqueuing (node-redis pipelines them). */
const ENQUEUE_BATCH = 1000;

/**
 * The consumer that holds released entries until a worker claims them. Not a
 * worker: claims under this name are refused.
 */
const RELEASED = "(released)";

/**
 * KEYS = stream, outcomes, started marks, tallies. ARGV = group, id, outcome
 * JSON, tally label ("" for none). 1 if recorded, 0 if not pending.
 */
const COMPLETE = new LuaScript(`
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('HDEL', KEYS[3], ARGV[2])
if ARGV[4] ~= '' then redis.call('HINCRBY', KEYS[4], ARGV[4], 1) end
return 1
`);

// Shared by the scripts below: whether `consumer` holds entry `id` right now.
const LUA_HOLDS = `
local function holds(id, consumer)
  return #redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1, consumer) > 0
end
`;

/** KEYS = stream, started marks. ARGV = group, consumer, id. 1 if marked, 0 if not held. */
const MARK_STARTED = new LuaScript(`${LUA_HOLDS}
if not holds(ARGV[3], ARGV[2]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[2])
return 1
`);

/**
 * KEYS = stream. ARGV = group, consumer, ids…. Claiming an entry for its own
 * holder resets its idle time; entries held by others are left alone.
 */
const TOUCH = new LuaScript(`${LUA_HOLDS}
local touched = 0
for i = 3, #ARGV do
  if holds(ARGV[i], ARGV[2]) then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    touched = touched + 1
  end
end
return touched
`);

/**
 * KEYS = stream, started marks. ARGV = group, consumer, released consumer,
 * ids…. Moves the consumer's entries to the released consumer, unmarked.
 */
const RELEASE = new LuaScript(`${LUA_HOLDS}
local released = 0
for i = 4, #ARGV do
  if holds(ARGV[i], ARGV[2]) then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[i], 'JUSTID')
    redis.call('HDEL', KEYS[2], ARGV[i])
    released = released + 1
  end
end
return released
`);

/**
 * KEYS = stream. ARGV = group, released consumer, consumer, count. Moves up to
 * count released entries to the consumer, atomically (two workers never get
 * the same one); returns them as XCLAIM does.
 */
const TAKE_RELEASED = new LuaScript(`
local held = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', tonumber(ARGV[4]), ARGV[2])
if #held == 0 then return {} end
local ids = {}
for i, entry in ipairs(held) do ids[i] = entry[1] end
return redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, unpack(ids))
`);

/** Options for {@linkcode RedisWorkQueue}. */
export interface RedisWorkQueueOptions {
  /**
   * The server: a `redis://` URL (the queue opens its own connection and
   * {@linkcode RedisWorkQueue.close} closes it) or a client you own. A
   * blocking claim holds its connection for up to 250 ms at a time, so do not
   * share one with a {@linkcode RedisLimiter} if you claim with `blockMs`.
   */
  redis: string | RedisCommander;
  /** The stream's key; outcomes go to `KEY:outcomes`. */
  key: string;
  /**
   * The consumer group every worker of this queue reads through.
   *
   * @default {"politely"}
   */
  group?: string;
  /**
   * How long an entry must sit unacknowledged before another worker takes it
   * over as uncertain. Must be longer than a live worker ever holds one
   * (limiter wait plus every retry), or live work is taken over too.
   *
   * @default {600_000}
   */
  reclaimIdleMs?: number;
}

/** Options for {@linkcode RedisWorkQueue.claim}. */
export interface ClaimOptions {
  /**
   * When there is nothing to claim, wait up to this long for new items.
   *
   * @default {0}
   */
  blockMs?: number;
  /**
   * Stop waiting when this aborts: checked between reads of at most 250 ms.
   * Entries delivered by the read in flight are returned, not dropped (they
   * are this worker's now); otherwise the claim rejects with `signal.reason`.
   */
  signal?: AbortSignal;
}

/** An item handed to one worker. */
export interface WorkEntry<Item> {
  /** The stream entry id: pass it to {@linkcode RedisWorkQueue.complete}. */
  readonly id: string;
  /** The item as enqueued (through JSON). */
  readonly item: Item;
  /**
   * `true` when taken over from a worker that went quiet, or held by this
   * consumer before a restart: it may already have been processed (sent).
   * See `startedBy` to tell.
   */
  readonly reclaimed: boolean;
  /**
   * For a reclaimed entry: the consumer that marked it started with
   * {@linkcode RedisWorkQueue.markStarted}, if any. Absent: nobody began it,
   * so it is fresh work after all; present: it may have had its effect.
   */
  readonly startedBy?: string;
}

/** Options for {@linkcode RedisWorkQueue.complete}. */
export interface CompleteOptions {
  /**
   * A label counted once per completed entry (e.g. `"accepted"`), read back
   * with {@linkcode RedisWorkQueue.tallies}.
   *
   * @default {undefined}
   */
  tally?: string;
}

/** An entry left unacknowledged, from {@linkcode RedisWorkQueue.findIdle}. */
export interface IdleEntry {
  /** The stream entry id. */
  readonly id: string;
  /** Who holds it. */
  readonly consumer: string;
  /** Milliseconds since it was last delivered or touched. */
  readonly idleMs: number;
}

/** How far a queue has got, from {@linkcode RedisWorkQueue.counts}. */
export interface WorkQueueCounts {
  /** Entries in the stream: everything ever enqueued. */
  enqueued: number;
  /** Delivered to a worker, not completed yet. */
  pending: number;
  /** Completed, with an outcome recorded. */
  completed: number;
}

/**
 * A queue of items on a Redis Stream, drained by any number of workers, each
 * item delivered to one of them; outcomes are recorded in Redis.
 *
 * Items and outcomes travel as JSON; the type parameters are what you promise
 * to put in, not checked on the way out.
 *
 * @example One worker's loop
 * ```ts ignore
 * import { RedisWorkQueue } from "./work_queue.ts";
 *
 * await using queue = new RedisWorkQueue<{ to: string }, { state: string }>({
 *   redis: "redis://127.0.0.1:6379",
 *   key: "politely:run-42",
 * });
 * await queue.enqueue([{ to: "447700900001" }, { to: "447700900002" }]);
 * for (;;) {
 *   const entries = await queue.claim("worker-1", 10, { blockMs: 1_000 });
 *   if (entries.length === 0) break;
 *   for (const entry of entries) {
 *     if (entry.reclaimed) {
 *       await queue.complete(entry.id, { state: "uncertain" }); // may have been sent
 *     } else {
 *       // … send to entry.item.to …
 *       await queue.complete(entry.id, { state: "accepted" });
 *     }
 *   }
 * }
 * ```
 */
export class RedisWorkQueue<Item = unknown, Outcome = unknown> {
  readonly #key: string;
  readonly #outcomesKey: string;
  readonly #startedKey: string;
  readonly #tallyKey: string;
  readonly #group: string;
  readonly #reclaimIdleMs: number;
  readonly #redis: LazyRedis;
  #ready: Promise<RedisCommander> | undefined;
  #closed = false;
  /** Per consumer: how far its history (entries held before a restart) has been read. */
  readonly #history = new Map<string, string | "done">();

  /**
   * Describe the queue; nothing is sent until the first call, which creates
   * the stream and the consumer group if they do not exist.
   *
   * @throws {TypeError} if `key` or `group` is empty.
   * @throws {RangeError} if `reclaimIdleMs` is not a non-negative finite number.
   */
  constructor(options: RedisWorkQueueOptions) {
    const { redis, key, group = "politely", reclaimIdleMs = 600_000 } = options;
    for (const [name, value] of [["key", key], ["group", group]] as const) {
      if (typeof value !== "string" || value === "") {
        throw new TypeError(
          `Cannot create RedisWorkQueue: '${name}' must be a non-empty string, current value is ${
            JSON.stringify(value)
          }`,
        );
      }
    }
    if (!(reclaimIdleMs >= 0 && reclaimIdleMs < Infinity)) {
      throw new RangeError(
        `Cannot create RedisWorkQueue: 'reclaimIdleMs' must be a non-negative finite number, current value is ${reclaimIdleMs}`,
      );
    }
    this.#key = key;
    this.#outcomesKey = `${key}:outcomes`;
    this.#startedKey = `${key}:started`;
    this.#tallyKey = `${key}:tally`;
    this.#group = group;
    this.#reclaimIdleMs = Math.ceil(reclaimIdleMs);
    this.#redis = new LazyRedis(redis, `RedisWorkQueue for key '${key}'`);
  }

  /**
   * Append items (any iterable, also async: a streamed file) and resolve with
   * their entry ids, in order.
   *
   * @example Enqueuing recipients
   * ```ts ignore
   * import { RedisWorkQueue } from "./work_queue.ts";
   *
   * await using queue = new RedisWorkQueue({ redis: "redis://127.0.0.1:6379", key: "run-42" });
   * const ids = await queue.enqueue([{ to: "447700900001" }]);
   * console.log(ids.length); // 1
   * ```
   */
  async enqueue(items: Iterable<Item> | AsyncIterable<Item>): Promise<string[]> {
    const redis = await this.#redis.get();
    const ids: string[] = [];
    let batch: Promise<unknown>[] = [];
    const flush = async () => {
      for (const id of await Promise.all(batch)) ids.push(expectString(id, "XADD"));
      batch = [];
    };
    for await (const item of items) {
      batch.push(redis.sendCommand(["XADD", this.#key, "*", "item", toJson(item, "item")]));
      if (batch.length >= ENQUEUE_BATCH) await flush();
    }
    await flush();
    return ids;
  }

  /**
   * Put a whole input in the queue so that running this again — from every
   * worker at once, or after a crash half-way — adds each item exactly once.
   *
   * The n-th item gets the entry id `n-0`, and Redis only accepts ids above the
   * stream's last one: an item whose id is already there (or below) is
   * skipped. So every worker of a run can start with the same command and
   * file; the input must come in the same order each time (key the queue by
   * a hash of the file). Do not mix with {@linkcode RedisWorkQueue.enqueue}
   * on one key: its time-based ids are far above any position.
   *
   * Resolves with how many items this call added.
   *
   * @example Every worker loads, then drains
   * ```ts ignore
   * import { RedisWorkQueue } from "./work_queue.ts";
   *
   * await using queue = new RedisWorkQueue({ redis: "redis://127.0.0.1:6379", key: "run-42" });
   * const added = await queue.load([{ to: "447700900001" }, { to: "447700900002" }]);
   * console.log(added); // 2 for the first worker, 0 for the others
   * ```
   */
  async load(items: Iterable<Item> | AsyncIterable<Item>): Promise<number> {
    const redis = await this.#redis.get();
    const top = await redis.sendCommand(["XREVRANGE", this.#key, "+", "-", "COUNT", "1"]);
    const topId = Array.isArray(top) && Array.isArray(top[0]) ? String(top[0][0]) : "0-0";
    const present = Number(topId.split("-")[0]);
    let added = 0;
    let batch: Promise<unknown>[] = [];
    const flush = async () => {
      await Promise.all(batch);
      batch = [];
    };
    let position = 0;
    for await (const item of items) {
      position++;
      if (position <= present) continue;
      const json = toJson(item, "item");
      batch.push(
        redis.sendCommand(["XADD", this.#key, `${position}-0`, "item", json]).then(
          () => added++,
          (error: unknown) => {
            // Another loader got there first: the item is in, once.
            if (!(error instanceof Error && /equal or smaller/.test(error.message))) throw error;
          },
        ),
      );
      if (batch.length >= ENQUEUE_BATCH) await flush();
    }
    await flush();
    return added;
  }

  /**
   * Take up to `count` entries (default 1) for `consumer`, a name unique to
   * this worker among the live ones (e.g. host and pid, or host and a file
   * only this worker uses, to get its entries back after a restart), in this
   * order:
   *
   * 1. entries this consumer held before and never completed (after a
   *    restart under the same name), flagged `reclaimed: true`, until none is
   *    left;
   * 2. entries another worker handed back with {@linkcode RedisWorkQueue.release};
   * 3. entries a quiet worker left idle for `reclaimIdleMs`, flagged `reclaimed: true`;
   * 4. new ones.
   *
   * Reclaimed entries carry `startedBy` when their holder had marked them
   * started. When there are none of these, waits up to `blockMs` for new
   * entries; resolves with `[]` if none came.
   *
   * @throws {TypeError} (as a rejection) if `consumer` is empty or `"(released)"`.
   * @throws {RangeError} (as a rejection) if `count` is not a positive integer or `blockMs` is negative.
   *
   * @example Claiming with a wait
   * ```ts ignore
   * import { RedisWorkQueue } from "./work_queue.ts";
   *
   * await using queue = new RedisWorkQueue({ redis: "redis://127.0.0.1:6379", key: "run-42" });
   * const entries = await queue.claim(`worker-${Deno.pid}`, 16, { blockMs: 2_000 });
   * console.log(entries.filter((entry) => entry.reclaimed).length);
   * ```
   */
  async claim(consumer: string, count = 1, options: ClaimOptions = {}): Promise<WorkEntry<Item>[]> {
    const { blockMs = 0, signal } = options;
    checkConsumer("claim from", consumer);
    if (!(Number.isInteger(count) && count > 0)) {
      throw new RangeError(
        `Cannot claim from RedisWorkQueue: 'count' must be a positive integer, current value is ${count}`,
      );
    }
    if (!(blockMs >= 0 && blockMs < Infinity)) {
      throw new RangeError(
        `Cannot claim from RedisWorkQueue: 'blockMs' must be a non-negative finite number, current value is ${blockMs}`,
      );
    }
    signal?.throwIfAborted();
    const redis = await this.#ensureGroup();
    const entries = await this.#readHistory(redis, consumer, count);
    if (entries.length < count) {
      const reply = await TAKE_RELEASED.run(redis, [this.#key], [
        this.#group,
        RELEASED,
        consumer,
        String(count - entries.length),
      ]);
      entries.push(...this.#parseEntries(reply, false));
    }
    if (entries.length < count) {
      entries.push(...await this.#reclaim(redis, consumer, count - entries.length));
    }
    if (entries.length > 0) {
      // Taken-over work needs an answer now: top up with new entries, without waiting.
      if (entries.length < count) {
        entries.push(...await this.#read(redis, consumer, count - entries.length, 0));
      }
      return await this.#withStartedBy(redis, entries);
    }
    let remainingMs = Math.ceil(blockMs);
    for (;;) {
      const sliceMs = Math.min(remainingMs, BLOCK_SLICE_MS);
      const fresh = await this.#read(redis, consumer, count, sliceMs);
      remainingMs -= sliceMs;
      if (fresh.length > 0 || remainingMs <= 0) return fresh;
      signal?.throwIfAborted();
    }
  }

  /**
   * Note that `consumer` begins work on entry `id` that may have an effect
   * (sends a message): if the worker dies, whoever reclaims the entry sees
   * `startedBy` and treats it as possibly done. Call it before the effect and
   * await it. Resolves `false`, marking nothing, when `consumer` does not hold
   * the entry any more (another worker took it over): then do not begin.
   *
   * @example Marking before sending
   * ```ts ignore
   * import { RedisWorkQueue } from "./work_queue.ts";
   *
   * await using queue = new RedisWorkQueue({ redis: "redis://127.0.0.1:6379", key: "run-42" });
   * const [entry] = await queue.claim("worker-1");
   * if (entry && await queue.markStarted("worker-1", entry.id)) {
   *   // … send …
   * }
   * ```
   */
  async markStarted(consumer: string, id: string): Promise<boolean> {
    checkConsumer("mark an entry of", consumer);
    const redis = await this.#ensureGroup();
    const marked = await MARK_STARTED.run(redis, [this.#key, this.#startedKey], [
      this.#group,
      consumer,
      id,
    ]);
    return marked === 1;
  }

  /**
   * Reset the idle time of the entries `consumer` still holds among `ids`, so
   * that no other worker takes them over while this one lives. Call it
   * regularly, well within `reclaimIdleMs`. Resolves with how many it held.
   *
   * @example A heartbeat for the entries in hand
   * ```ts ignore
   * import { RedisWorkQueue } from "./work_queue.ts";
   *
   * await using queue = new RedisWorkQueue({ redis: "redis://127.0.0.1:6379", key: "run-42" });
   * const held = new Set((await queue.claim("worker-1", 10)).map((entry) => entry.id));
   * const touched = await queue.touch("worker-1", [...held]);
   * console.log(touched === held.size); // true
   * ```
   */
  async touch(consumer: string, ids: Iterable<string>): Promise<number> {
    checkConsumer("touch entries of", consumer);
    const list = [...ids];
    if (list.length === 0) return 0;
    const redis = await this.#ensureGroup();
    return expectInteger(
      await TOUCH.run(redis, [this.#key], [this.#group, consumer, ...list]),
      "touch",
    );
  }

  /**
   * Hand back entries `consumer` holds but never began (it is stopping): their
   * started marks are cleared and the next {@linkcode RedisWorkQueue.claim}
   * by any worker gets them as fresh work. Entries it no longer holds are left
   * alone. Resolves with how many went back.
   *
   * @example Giving back what a stopped worker did not send
   * ```ts ignore
   * import { RedisWorkQueue } from "./work_queue.ts";
   *
   * await using queue = new RedisWorkQueue({ redis: "redis://127.0.0.1:6379", key: "run-42" });
   * const entries = await queue.claim("worker-1", 10);
   * console.log(await queue.release("worker-1", entries.map((entry) => entry.id))); // 10
   * ```
   */
  async release(consumer: string, ids: Iterable<string>): Promise<number> {
    checkConsumer("release entries of", consumer);
    const list = [...ids];
    if (list.length === 0) return 0;
    const redis = await this.#ensureGroup();
    const released = await RELEASE.run(redis, [this.#key, this.#startedKey], [
      this.#group,
      consumer,
      RELEASED,
      ...list,
    ]);
    return expectInteger(released, "release");
  }

  /**
   * One entry (not necessarily the oldest) left unacknowledged for at least
   * `minIdleMs`, or `undefined` if there is none: a worker with nothing left to
   * claim asks this to tell work held by live workers (which touch it) from
   * work a dead one left, worth waiting for.
   *
   * @example Is anything stuck?
   * ```ts ignore
   * import { RedisWorkQueue } from "./work_queue.ts";
   *
   * await using queue = new RedisWorkQueue({ redis: "redis://127.0.0.1:6379", key: "run-42" });
   * const stuck = await queue.findIdle(30_000);
   * if (stuck) console.log(`${stuck.consumer} has been quiet for ${stuck.idleMs} ms`);
   * ```
   */
  async findIdle(minIdleMs: number): Promise<IdleEntry | undefined> {
    const redis = await this.#ensureGroup();
    const reply = await redis.sendCommand([
      "XPENDING",
      this.#key,
      this.#group,
      "IDLE",
      String(Math.max(0, Math.floor(minIdleMs))),
      "-",
      "+",
      "1",
    ]);
    if (!Array.isArray(reply)) throw unexpected("XPENDING", reply);
    const first = reply[0];
    if (first === undefined) return undefined;
    if (!Array.isArray(first) || first.length < 3) throw unexpected("XPENDING", reply);
    return {
      id: expectString(first[0], "XPENDING"),
      consumer: expectString(first[1], "XPENDING"),
      idleMs: expectInteger(first[2], "XPENDING"),
    };
  }

  /**
   * Record `outcome` for entry `id` and acknowledge it, atomically (and count
   * `options.tally`). Resolves `true`, or `false` when the entry was not
   * pending any more (another worker took it over and completed it first):
   * then nothing was recorded.
   *
   * @example Recording a result
   * ```ts ignore
   * import { RedisWorkQueue } from "./work_queue.ts";
   *
   * await using queue = new RedisWorkQueue({ redis: "redis://127.0.0.1:6379", key: "run-42" });
   * const [entry] = await queue.claim("worker-1");
   * if (entry) {
   *   await queue.complete(entry.id, { state: "accepted", messageUuid: "…" }, { tally: "accepted" });
   * }
   * ```
   */
  async complete(id: string, outcome: Outcome, options: CompleteOptions = {}): Promise<boolean> {
    const redis = await this.#ensureGroup();
    const recorded = await COMPLETE.run(
      redis,
      [this.#key, this.#outcomesKey, this.#startedKey, this.#tallyKey],
      [this.#group, id, toJson(outcome, "outcome"), options.tally ?? ""],
    );
    return recorded === 1;
  }

  /**
   * How many completed entries had each `tally` label.
   *
   * @example Outcomes of a run
   * ```ts ignore
   * import { RedisWorkQueue } from "./work_queue.ts";
   *
   * await using queue = new RedisWorkQueue({ redis: "redis://127.0.0.1:6379", key: "run-42" });
   * console.log(await queue.tallies()); // { accepted: 58, uncertain: 2 }
   * ```
   */
  async tallies(): Promise<Record<string, number>> {
    const redis = await this.#redis.get();
    const reply = await redis.sendCommand(["HGETALL", this.#tallyKey]);
    const tallies: Record<string, number> = {};
    const pairs: Array<[unknown, unknown]> = Array.isArray(reply)
      ? Array.from(
        { length: Math.floor(reply.length / 2) },
        (_, i) => [reply[2 * i], reply[2 * i + 1]],
      )
      : reply instanceof Map
      ? [...reply.entries()]
      : typeof reply === "object" && reply !== null
      ? Object.entries(reply)
      : [];
    for (const [label, value] of pairs) tallies[String(label)] = Number(value);
    return tallies;
  }

  /**
   * The outcome recorded for entry `id`, or `undefined` if it has none yet.
   *
   * @example Looking up a result
   * ```ts ignore
   * import { RedisWorkQueue } from "./work_queue.ts";
   *
   * await using queue = new RedisWorkQueue({ redis: "redis://127.0.0.1:6379", key: "run-42" });
   * console.log(await queue.outcome("1700000000000-0"));
   * ```
   */
  async outcome(id: string): Promise<Outcome | undefined> {
    const redis = await this.#redis.get();
    const json = await redis.sendCommand(["HGET", this.#outcomesKey, id]);
    return json === null ? undefined : JSON.parse(expectString(json, "HGET")) as Outcome;
  }

  /**
   * How many entries were enqueued, are pending with a worker, and are completed.
   * The queue is drained when `completed === enqueued`.
   *
   * @example Waiting for the end of a run
   * ```ts ignore
   * import { RedisWorkQueue } from "./work_queue.ts";
   *
   * await using queue = new RedisWorkQueue({ redis: "redis://127.0.0.1:6379", key: "run-42" });
   * const { enqueued, completed } = await queue.counts();
   * console.log(`${completed}/${enqueued}`);
   * ```
   */
  async counts(): Promise<WorkQueueCounts> {
    const redis = await this.#ensureGroup();
    const [enqueued, pending, completed] = await Promise.all([
      redis.sendCommand(["XLEN", this.#key]),
      redis.sendCommand(["XPENDING", this.#key, this.#group]),
      redis.sendCommand(["HLEN", this.#outcomesKey]),
    ]);
    return {
      enqueued: expectInteger(enqueued, "XLEN"),
      pending: expectInteger(Array.isArray(pending) ? pending[0] : pending, "XPENDING"),
      completed: expectInteger(completed, "HLEN"),
    };
  }

  /**
   * Close the connection this queue opened from a URL (a client passed in
   * stays open). Replies already asked for arrive first.
   *
   * @example Closing when done
   * ```ts ignore
   * import { RedisWorkQueue } from "./work_queue.ts";
   *
   * const queue = new RedisWorkQueue({ redis: "redis://127.0.0.1:6379", key: "run-42" });
   * await queue.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#redis.close();
  }

  /** Same as {@linkcode RedisWorkQueue.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Create the stream and group once; an existing group (BUSYGROUP) is fine. */
  #ensureGroup(): Promise<RedisCommander> {
    this.#ready ??= this.#redis.get().then(async (redis) => {
      try {
        // Start at 0: items enqueued before any worker came are delivered too.
        await redis.sendCommand(["XGROUP", "CREATE", this.#key, this.#group, "0", "MKSTREAM"]);
      } catch (error) {
        if (!(error instanceof Error && error.message.startsWith("BUSYGROUP"))) throw error;
      }
      return redis;
    });
    this.#ready.catch(() => {
      this.#ready = undefined; // let the next call try again
    });
    return this.#ready;
  }

  /** This consumer's entries from before a restart, read once per queue object. */
  async #readHistory(
    redis: RedisCommander,
    consumer: string,
    count: number,
  ): Promise<WorkEntry<Item>[]> {
    const after = this.#history.get(consumer) ?? "0-0";
    if (after === "done") return [];
    const reply = await redis.sendCommand([
      "XREADGROUP",
      "GROUP",
      this.#group,
      consumer,
      "COUNT",
      String(count),
      "STREAMS",
      this.#key,
      after,
    ]);
    const raw = this.#streamEntries(reply);
    if (!Array.isArray(raw) || raw.length === 0) {
      this.#history.set(consumer, "done");
      return [];
    }
    const last = raw.at(-1);
    this.#history.set(consumer, Array.isArray(last) ? String(last[0]) : "done");
    return this.#parseEntries(raw, true);
  }

  /** Add `startedBy` to reclaimed entries from the started marks. */
  async #withStartedBy(
    redis: RedisCommander,
    entries: WorkEntry<Item>[],
  ): Promise<WorkEntry<Item>[]> {
    const reclaimed = entries.filter((entry) => entry.reclaimed);
    if (reclaimed.length === 0) return entries;
    const reply = await redis.sendCommand([
      "HMGET",
      this.#startedKey,
      ...reclaimed.map((entry) => entry.id),
    ]);
    if (!Array.isArray(reply)) throw unexpected("HMGET", reply);
    const marks = new Map<string, string>();
    reclaimed.forEach((entry, i) => {
      const by = reply[i];
      if (typeof by === "string") marks.set(entry.id, by);
    });
    return entries.map((entry) => {
      const by = marks.get(entry.id);
      return by === undefined ? entry : { ...entry, startedBy: by };
    });
  }

  /** Take over entries idle for reclaimIdleMs, scanning the whole pending list once. */
  async #reclaim(
    redis: RedisCommander,
    consumer: string,
    count: number,
  ): Promise<WorkEntry<Item>[]> {
    const entries: WorkEntry<Item>[] = [];
    let cursor = "0-0";
    do {
      const reply = await redis.sendCommand([
        "XAUTOCLAIM",
        this.#key,
        this.#group,
        consumer,
        String(this.#reclaimIdleMs),
        cursor,
        "COUNT",
        String(count - entries.length),
      ]);
      if (!Array.isArray(reply) || reply.length < 2) throw unexpected("XAUTOCLAIM", reply);
      cursor = expectString(reply[0], "XAUTOCLAIM");
      entries.push(...this.#parseEntries(reply[1], true));
    } while (cursor !== "0-0" && entries.length < count);
    return entries;
  }

  async #read(
    redis: RedisCommander,
    consumer: string,
    count: number,
    blockMs: number,
  ): Promise<WorkEntry<Item>[]> {
    // BLOCK 0 would mean "forever": leave it out for a plain, non-blocking read.
    const block = blockMs > 0 ? ["BLOCK", String(blockMs)] : [];
    const reply = await redis.sendCommand([
      "XREADGROUP",
      "GROUP",
      this.#group,
      consumer,
      "COUNT",
      String(count),
      ...block,
      "STREAMS",
      this.#key,
      ">",
    ]);
    return this.#parseEntries(this.#streamEntries(reply), false);
  }

  /** The entries of an XREADGROUP reply for our one stream (`[]` for none). */
  #streamEntries(reply: unknown): unknown {
    if (reply === null) return [];
    // RESP2: [[key, entries]]; RESP3 (a client passed in may speak it): { key: entries }.
    let entries: unknown;
    if (Array.isArray(reply) && Array.isArray(reply[0])) entries = reply[0][1];
    else if (reply instanceof Map) entries = reply.get(this.#key);
    else if (typeof reply === "object") entries = (reply as Record<string, unknown>)[this.#key];
    return entries ?? reply;
  }

  /** `[[id, [field, value, …]], …]` → entries; deleted entries (null fields) are skipped. */
  #parseEntries(raw: unknown, reclaimed: boolean): WorkEntry<Item>[] {
    if (!Array.isArray(raw)) throw unexpected("stream entries", raw);
    const entries: WorkEntry<Item>[] = [];
    for (const entry of raw) {
      if (!Array.isArray(entry)) throw unexpected("stream entry", entry);
      const [id, fields] = entry as unknown[];
      if (!Array.isArray(fields)) continue;
      const at = fields.indexOf("item");
      const json = at >= 0 && at % 2 === 0 ? fields[at + 1] : undefined;
      entries.push({
        id: expectString(id, "stream entry id"),
        item: JSON.parse(expectString(json, "stream entry item")) as Item,
        reclaimed,
      });
    }
    return entries;
  }
}

function checkConsumer(action: string, consumer: string): void {
  if (typeof consumer !== "string" || consumer === "" || consumer === RELEASED) {
    throw new TypeError(
      `Cannot ${action} RedisWorkQueue: 'consumer' must be a non-empty string other than "${RELEASED}", current value is ${
        JSON.stringify(consumer)
      }`,
    );
  }
}

function toJson(value: unknown, what: string): string {
  const json = JSON.stringify(value);
  if (json === undefined) {
    throw new TypeError(
      `RedisWorkQueue: the ${what} must be JSON-serializable, current value is ${value}`,
    );
  }
  return json;
}

function unexpected(what: string, reply: unknown): TypeError {
  return new TypeError(`RedisWorkQueue got an unexpected ${what} reply: ${JSON.stringify(reply)}`);
}

function expectString(value: unknown, what: string): string {
  if (typeof value !== "string") throw unexpected(what, value);
  return value;
}

function expectInteger(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isInteger(value)) throw unexpected(what, value);
  return value;
}
