/**
 * Test helper: a `redis-server` on a fixed loopback port that a test can kill
 * (`SIGKILL`, as a crash) and start again on the same port and folder: empty
 * without persistence, or replaying its append-only file with `aof`.
 *
 * @module
 */

import { freePort } from "./free_port.ts";
import { answersPing, REDIS_SERVER } from "./redis_server.ts";

/** Options for {@linkcode startRestartableRedis}. */
export interface RestartableRedisOptions {
  /** The server's working folder (its append-only file lives there). */
  dir: string;
  /** `appendonly yes` (see `fsync`); else no persistence at all. */
  aof: boolean;
  /**
   * With `aof`: how often the file is fsynced.
   *
   * @default {"always"}
   */
  fsync?: "always" | "everysec";
}

/** A server that can crash and come back; `await using` stops it. */
export interface RestartableRedis extends AsyncDisposable {
  readonly url: string;
  /** Kill the server with SIGKILL and wait for it to exit. */
  crash(): Promise<void>;
  /** Start it again (same port, folder and settings) and wait until it answers. */
  restart(): Promise<void>;
}

/** Start the server; see {@linkcode RestartableRedis}. */
export async function startRestartableRedis(
  options: RestartableRedisOptions,
): Promise<RestartableRedis> {
  const port = freePort();
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--dir",
    options.dir,
    "--save",
    "",
    "--loglevel",
    "warning",
    ...(options.aof
      ? ["--appendonly", "yes", "--appendfsync", options.fsync ?? "always"]
      : ["--appendonly", "no"]),
  ];
  let child: Deno.ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = new Deno.Command(REDIS_SERVER, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const deadline = Date.now() + 5000;
    while (!(await answersPing(port))) {
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on ${port}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  const crash = async (): Promise<void> => {
    if (child === undefined) return;
    const running = child;
    child = undefined;
    try {
      running.kill("SIGKILL");
    } catch { /* exited already */ }
    await running.status;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    crash,
    restart: start,
    [Symbol.asyncDispose]: crash,
  };
}
