/**
 * A {@linkcode RedisCommander} that rides through a short outage: a command
 * whose connection dropped (or that a restarting server answered `LOADING`) is
 * sent again after a jittered pause, until it is answered or the outage has
 * lasted `outageMs`. Error replies about the command itself are passed on.
 *
 * @module
 */

import { ErrorReply } from "../deps/redis_client.ts";
import { type Backoff, type BackoffOptions, createBackoff } from "../core/backoff.ts";
import { type Clock, realClock } from "../core/clock.ts";
import type { RedisCommander } from "./connect.ts";

// Re-exported so that this module's documentation is complete on its own.
export type { Clock, RedisCommander };

/** Options for {@linkcode rideThrough}. */
export interface RideThroughOptions {
  /**
   * Give up (and reject with the last error) once an outage has lasted this long.
   *
   * @default {30000}
   */
  outageMs?: number;
  /**
   * The longest pause between two tries; each pause is drawn in [0.5, 1] of a
   * doubling step (50 ms, 100 ms, …) up to this, so that workers cut off together
   * do not all come back together.
   *
   * @default {1000}
   */
  maxPauseMs?: number;
  /**
   * Told once per outage when it begins (e.g. to say so on the progress line).
   *
   * @default {() => {}}
   */
  onOutage?: (error: unknown) => void;
  /**
   * Where pauses are measured.
   *
   * @default {realClock}
   */
  clock?: Clock;
  /**
   * Once this aborts, a failed command is not sent again (e.g. while closing).
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Randomness for the jitter, in [0, 1).
   *
   * @default {Math.random}
   */
  random?: () => number;
}

/**
 * Whether `error` says the command may not have reached a working server (a
 * dropped or refused connection, a server still loading its data) rather than
 * an answer to the command.
 *
 * @example Telling an outage from a wrong command
 * ```ts
 * import { isOutage } from "./ride_through.ts";
 *
 * console.log(isOutage(new Error("read ECONNRESET"))); // true
 * ```
 */
export function isOutage(error: unknown): boolean {
  if (error instanceof ErrorReply) {
    return /^(LOADING|BUSY |TRYAGAIN|MASTERDOWN)/.test(error.message);
  }
  if (!(error instanceof Error)) return false;
  // node-redis' own socket errors, and the system's (its `code` or in its message).
  if (SOCKET_ERRORS.has(error.constructor.name)) return true;
  const code = (error as { code?: unknown }).code;
  return SYSTEM_CODES.test(typeof code === "string" ? code : error.message);
}

const SOCKET_ERRORS = new Set([
  "SocketClosedUnexpectedlyError",
  "ConnectionTimeoutError",
  "SocketTimeoutError",
  "ClientOfflineError",
  "DisconnectsClientError",
]);
const SYSTEM_CODES =
  /\b(ECONNRESET|ECONNREFUSED|ECONNABORTED|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH)\b/;

/**
 * Wrap `redis` so that its commands ride through a short outage. Every command
 * sent through the wrapper must be safe to send twice (its first try may have
 * been carried out before the connection dropped).
 *
 * @example A connection that survives a restart of the server
 * ```ts ignore
 * import { connectRedis } from "./connect.ts";
 * import { rideThrough } from "./ride_through.ts";
 *
 * const connection = await connectRedis("redis://127.0.0.1:6379", { maxReconnects: 100 });
 * const redis = rideThrough(connection, { outageMs: 10_000 });
 * console.log(await redis.sendCommand(["PING"])); // "PONG", even across a restart
 * ```
 */
export function rideThrough(
  redis: RedisCommander,
  options: RideThroughOptions = {},
): RedisCommander {
  const {
    outageMs = 30_000,
    maxPauseMs = 1000,
    onOutage = () => {},
    clock = realClock,
    random = Math.random,
    signal,
  } = options;
  // Each pause is drawn in [0.5, 1] of a doubling step: the project's equal-jitter schedule.
  const schedule: BackoffOptions = {
    strategy: "exponential",
    jitter: "equal",
    baseMs: Math.min(50, maxPauseMs),
    capMs: maxPauseMs,
    random,
  };
  createBackoff(schedule); // a bad maxPauseMs fails here, not in the middle of an outage
  let outageSince: number | undefined;
  return {
    async sendCommand(args: string[]): Promise<unknown> {
      let backoff: Backoff | undefined;
      for (;;) {
        try {
          const reply = await redis.sendCommand(args);
          outageSince = undefined;
          return reply;
        } catch (error) {
          if (!isOutage(error) || signal?.aborted) throw error;
          const now = clock.now();
          if (outageSince === undefined) {
            outageSince = now;
            onOutage(error);
          }
          if (now - outageSince >= outageMs) throw error;
          backoff ??= createBackoff(schedule);
          await clock.sleep(backoff.next());
        }
      }
    },
  };
}
