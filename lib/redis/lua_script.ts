/**
 * A Lua script run by its SHA-1 (`EVALSHA`), falling back to sending the
 * source (`EVAL`) when the server does not have it cached yet — after a
 * restart, a failover or `SCRIPT FLUSH`. `EVAL` caches it again, so the
 * fallback costs one round trip per server, not per call.
 *
 * @module
 */

import type { RedisCommander } from "./connect.ts";

// Re-exported so that this module's documentation is complete on its own.
export type { RedisCommander };

/**
 * A Lua script for Redis, identified by the SHA-1 of its source.
 *
 * @example Running a script
 * ```ts ignore
 * import { LuaScript } from "./lua_script.ts";
 * import { connectRedis } from "./connect.ts";
 *
 * const double = new LuaScript("return tonumber(ARGV[1]) * 2");
 * await using redis = await connectRedis("redis://127.0.0.1:6379");
 * console.log(await double.run(redis, [], ["21"])); // 42
 * ```
 */
export class LuaScript {
  /** The Lua source, sent as it is. */
  readonly source: string;
  #sha: Promise<string> | undefined;

  /** Wrap `source`; nothing is sent until the first {@linkcode LuaScript.run}. */
  constructor(source: string) {
    this.source = source;
  }

  /** The lowercase hex SHA-1 of the source, as `SCRIPT LOAD` would answer. */
  sha1(): Promise<string> {
    this.#sha ??= crypto.subtle.digest("SHA-1", new TextEncoder().encode(this.source)).then(
      (digest) =>
        Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join(""),
    );
    return this.#sha;
  }

  /** Run with `keys` and `args` and resolve with the script's reply. */
  async run(
    redis: RedisCommander,
    keys: readonly string[],
    args: readonly string[],
  ): Promise<unknown> {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await redis.sendCommand(["EVALSHA", await this.sha1(), ...tail]);
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith("NOSCRIPT"))) throw error;
      return await redis.sendCommand(["EVAL", this.source, ...tail]);
    }
  }
}
