/**
 * The one thing politely needs from a Redis client: send a command, get the
 * reply. Everything in `lib/redis/` speaks raw commands through
 * {@linkcode RedisCommander}, so any client can be plugged in, and
 * {@linkcode connectRedis} opens a node-redis connection for you.
 *
 * @module
 */

// A full specifier: this entry point must also work when imported by URL.
import { createClient } from "../deps/redis_client.ts";

/**
 * Anything that sends one Redis command and resolves with its reply as plain
 * values (strings, integers, arrays, `null`; a RESP3 map as an object or a
 * `Map`). A node-redis client fits as it is.
 *
 * @example Wrapping a client that names the method differently
 * ```ts
 * import type { RedisCommander } from "./connect.ts";
 *
 * const calls: string[][] = [];
 * const recording: RedisCommander = {
 *   sendCommand(args: string[]): Promise<unknown> {
 *     calls.push(args);
 *     return Promise.resolve("PONG");
 *   },
 * };
 * console.log(await recording.sendCommand(["PING"])); // "PONG"
 * ```
 */
export interface RedisCommander {
  /** Send `args` (command name first) and resolve with the reply; reject on an error reply. */
  sendCommand(args: string[]): Promise<unknown>;
}

/**
 * A connection opened by {@linkcode connectRedis}: send commands, then close it.
 *
 * @example Closing with `await using`
 * ```ts ignore
 * import { connectRedis } from "./connect.ts";
 *
 * await using redis = await connectRedis("redis://127.0.0.1:6379");
 * console.log(await redis.sendCommand(["PING"])); // "PONG"
 * ```
 */
export interface RedisConnection extends RedisCommander, AsyncDisposable {
  /** Wait for replies already asked for, then close the socket. Safe to call twice. */
  close(): Promise<void>;
}

/** Options for {@linkcode connectRedis}. */
export interface ConnectRedisOptions {
  /**
   * Give up connecting after this long, in milliseconds.
   *
   * @default {5000}
   */
  connectTimeoutMs?: number;
  /**
   * After the connection drops, how many times to try again (waiting 100 ms,
   * 200 ms, … up to 2 s between tries) before failing every queued command.
   *
   * @default {10}
   */
  maxReconnects?: number;
  /**
   * Hold commands sent while the connection is down until it is back (`true`), or
   * reject them at once (`false`: for a caller that retries on its own, with its own
   * limit on how long an outage may last, such as `rideThrough`).
   *
   * @default {true}
   */
  queueWhileDisconnected?: boolean;
  /**
   * Told about socket errors (a dropped connection, a failed reconnect). The
   * commands that cannot be answered reject on their own, so the default
   * ignores these.
   *
   * @default {() => {}}
   */
  onError?: (error: unknown) => void;
}

/**
 * Open a connection to the Redis server at `url` (`redis://host:port/db`,
 * `rediss://` for TLS) with node-redis.
 *
 * A first connection that fails rejects at once (no endless retrying against a
 * wrong URL). Once connected, a dropped connection is retried `maxReconnects`
 * times; commands sent meanwhile wait for it.
 *
 * @example Talking to a local server
 * ```ts ignore
 * import { connectRedis } from "./connect.ts";
 *
 * const redis = await connectRedis("redis://127.0.0.1:6379");
 * try {
 *   console.log(await redis.sendCommand(["TIME"])); // ["1796033791", "188179"]
 * } finally {
 *   await redis.close();
 * }
 * ```
 */
export async function connectRedis(
  url: string,
  options: ConnectRedisOptions = {},
): Promise<RedisConnection> {
  const {
    connectTimeoutMs = 5000,
    maxReconnects = 10,
    queueWhileDisconnected = true,
    onError = () => {},
  } = options;
  let connected = false;
  const client = createClient({
    url,
    // RESP2 answers stream reads as plain arrays; node-redis 6 would speak RESP3.
    RESP: 2,
    disableOfflineQueue: !queueWhileDisconnected,
    socket: {
      connectTimeout: connectTimeoutMs,
      // A wrong URL should fail the first connect, not be retried forever.
      reconnectStrategy: (retries: number, cause: Error): number | Error =>
        connected && retries < maxReconnects ? Math.min(100 * 2 ** retries, 2000) : cause,
    },
  });
  // node-redis emits "error" events; an EventEmitter with no listener would throw them.
  client.on("error", onError);
  try {
    await client.connect();
  } catch (error) {
    client.destroy();
    throw new Error(`Cannot connect to Redis at ${redactUrl(url)}: ${messageOf(error)}`, {
      cause: error,
    });
  }
  connected = true;
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    // A client still trying to reconnect has nothing to wait for: drop it at once.
    closed ??= client.isReady
      ? client.close()
      : client.isOpen
      ? Promise.resolve(client.destroy())
      : Promise.resolve();
    return closed;
  };
  return {
    sendCommand: (args: string[]): Promise<unknown> => client.sendCommand(args),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** The URL without its password, for error messages. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.href;
  } catch {
    return JSON.stringify(url);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A Redis client that is either the caller's (used as is, never closed here)
 * or opened from a URL on first use (then closed by {@linkcode LazyRedis.close}).
 * The limiter and the queue each hold one, so passing a URL gives each its own
 * connection.
 *
 * @example Connecting on first use
 * ```ts ignore
 * import { LazyRedis } from "./connect.ts";
 *
 * const redis = new LazyRedis("redis://127.0.0.1:6379", "my budget");
 * await (await redis.get()).sendCommand(["PING"]);
 * await redis.close();
 * ```
 */
export class LazyRedis {
  readonly #url: string | undefined;
  readonly #what: string;
  #redis: Promise<RedisCommander> | undefined;
  #owned: Promise<RedisConnection> | undefined;
  #closed = false;

  /** Use `redis` (a URL to connect to, or a client); `what` names the user in errors. */
  constructor(redis: string | RedisCommander, what: string) {
    this.#what = what;
    if (typeof redis === "string") {
      this.#url = redis;
    } else {
      this.#url = undefined;
      this.#redis = Promise.resolve(redis);
    }
  }

  /** The client, connecting first if this holds a URL. Rejects once closed. */
  get(): Promise<RedisCommander> {
    if (this.#closed) return Promise.reject(new Error(`${this.#what} is closed`));
    if (this.#redis === undefined) {
      this.#owned = connectRedis(this.#url!);
      this.#redis = this.#owned;
    }
    return this.#redis;
  }

  /** Close the connection if this opened it; a caller's client stays open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const connection = await this.#owned?.catch(() => undefined);
    await connection?.close();
  }
}
